#include "lsp/json_rpc.h"

#include <gtest/gtest.h>

#include <thread>

#include "tests/support/fake_transport.h"

namespace mnemo::lsp {
namespace {

using testing::FakeTransport;

class JsonRpcTest : public ::testing::Test {
 protected:
  void SetUp() override {
    transport_ = std::make_shared<FakeTransport>();
    endpoint_ = Endpoint::create(transport_);
    endpoint_->on_request(
        "echo", [](const json& params, RequestContext context) { context.reply(params); });
    endpoint_->on_request("throws", [](const json& params, RequestContext) {
      (void)params.at("missing").get<int>();
    });
    endpoint_->on_request(
        "fails", [](const json&, RequestContext) -> void { throw std::runtime_error("boom"); });
    endpoint_->start();
  }

  json request(const json& id, const std::string& method, const json& params = json::object()) {
    transport_->receive({{"jsonrpc", "2.0"}, {"id", id}, {"method", method}, {"params", params}});
    return transport_->response(id);
  }

  static int code(const json& response) { return response["error"]["code"].get<int>(); }

  std::shared_ptr<FakeTransport> transport_;
  std::shared_ptr<Endpoint> endpoint_;
};

TEST_F(JsonRpcTest, RequestGetsItsResultWithTheSameId) {
  const json response = request("abc", "echo", {{"x", 1}});
  EXPECT_EQ(response["result"], json({{"x", 1}}));
  EXPECT_EQ(response["jsonrpc"], "2.0");
}

TEST_F(JsonRpcTest, InvalidJsonIsAParseErrorWithNullId) {
  transport_->receive_raw(R"({"jsonrpc":"2.0","id":1,"method":)");
  const json response = transport_->response(nullptr);
  EXPECT_EQ(code(response), -32700);
}

TEST_F(JsonRpcTest, NonObjectsAndWrongVersionsAreInvalidRequests) {
  transport_->receive_raw("[1,2]");
  EXPECT_EQ(code(transport_->response(nullptr)), -32600);
  transport_->receive_raw("42");
  EXPECT_EQ(code(transport_->response(nullptr)), -32600);
  transport_->receive({{"jsonrpc", "1.0"}, {"id", 5}, {"method", "echo"}});
  EXPECT_EQ(code(transport_->response(5)), -32600);
  transport_->receive({{"jsonrpc", "2.0"}, {"id", 6}, {"method", 12}});
  EXPECT_EQ(code(transport_->response(6)), -32600);
  transport_->receive({{"jsonrpc", "2.0"}, {"id", 7}, {"method", "echo"}, {"params", "str"}});
  EXPECT_EQ(code(transport_->response(7)), -32600);
  transport_->receive({{"jsonrpc", "2.0"}, {"id", {{"obj", 1}}}, {"method", "echo"}});
  EXPECT_EQ(code(transport_->response(nullptr)), -32600);
}

TEST_F(JsonRpcTest, UnknownMethodIsMethodNotFound) {
  EXPECT_EQ(code(request(1, "no/such/method")), -32601);
}

TEST_F(JsonRpcTest, UnknownNotificationIsIgnoredWithoutAReply) {
  transport_->receive({{"jsonrpc", "2.0"}, {"method", "no/such/notification"}});
  transport_->receive({{"jsonrpc", "2.0"}, {"method", "$/optional"}});
  EXPECT_TRUE(transport_->take().empty());
}

TEST_F(JsonRpcTest, HandlerExceptionsBecomeInvalidParamsOrInternalError) {
  EXPECT_EQ(code(request(1, "throws")), -32602);
  const json failed = request(2, "fails");
  EXPECT_EQ(code(failed), -32603);
  EXPECT_NE(failed["error"]["message"].get<std::string>().find("boom"), std::string::npos);
}

TEST_F(JsonRpcTest, InvalidUtf8IsRepairedAndTheRequestServed) {
  transport_->receive_raw(
      "{\"jsonrpc\":\"2.0\",\"id\":3,\"method\":\"echo\",\"params\":{\"s\":\"a\xFF"
      "b\"}}");
  const json response = transport_->response(3);
  EXPECT_EQ(response["result"]["s"],
            "a\xEF\xBF\xBD"
            "b");
}

TEST_F(JsonRpcTest, DuplicateInFlightIdIsRejected) {
  std::vector<RequestContext> held;
  endpoint_->on_request("hold",
                        [&](const json&, RequestContext context) { held.push_back(context); });
  transport_->receive({{"jsonrpc", "2.0"}, {"id", 9}, {"method", "hold"}});
  transport_->receive({{"jsonrpc", "2.0"}, {"id", 9}, {"method", "hold"}});
  EXPECT_EQ(code(transport_->response(9)), -32600);
  held.front().reply(json("done"));
  EXPECT_EQ(transport_->response(9)["result"], "done");
}

TEST_F(JsonRpcTest, CancelRequestAnswersAtOnceAndSignalsTheRunningWork) {
  std::vector<RequestContext> held;
  endpoint_->on_request("slow",
                        [&](const json&, RequestContext context) { held.push_back(context); });
  transport_->receive({{"jsonrpc", "2.0"}, {"id", 1}, {"method", "slow"}});
  ASSERT_EQ(held.size(), 1u);
  EXPECT_FALSE(held[0].token().cancelled());
  transport_->receive({{"jsonrpc", "2.0"}, {"method", "$/cancelRequest"}, {"params", {{"id", 1}}}});
  EXPECT_TRUE(held[0].token().cancelled());
  EXPECT_EQ(held[0].token().reason(), CancelReason::kCancelRequest);
  EXPECT_EQ(code(transport_->response(1)), -32800);
  // The handler's late answer is dropped: exactly one response per request.
  held[0].reply(json("late"));
  EXPECT_TRUE(transport_->take().empty());
  EXPECT_EQ(endpoint_->in_flight(), 0u);
}

TEST_F(JsonRpcTest, CancellingAFinishedOrUnknownRequestIsHarmless) {
  request(1, "echo");
  transport_->receive({{"jsonrpc", "2.0"}, {"method", "$/cancelRequest"}, {"params", {{"id", 1}}}});
  transport_->receive(
      {{"jsonrpc", "2.0"}, {"method", "$/cancelRequest"}, {"params", {{"id", "zz"}}}});
  EXPECT_TRUE(transport_->take().empty());
}

TEST_F(JsonRpcTest, NewerRequestForTheSameDocumentSupersedesTheOlder) {
  std::vector<RequestContext> held;
  endpoint_->on_request("complete", [&](const json& params, RequestContext context) {
    endpoint_->bind_to_document(context, params["uri"], "completion");
    held.push_back(context);
  });
  for (int id = 1; id <= 3; ++id)
    transport_->receive({{"jsonrpc", "2.0"},
                         {"id", id},
                         {"method", "complete"},
                         {"params", {{"uri", id == 3 ? "file:///other" : "file:///a"}}}});
  EXPECT_EQ(code(transport_->response(1)), -32800);
  EXPECT_EQ(held[0].token().reason(), CancelReason::kSuperseded);
  EXPECT_FALSE(held[1].token().cancelled()) << "latest for file:///a";
  EXPECT_FALSE(held[2].token().cancelled()) << "a different document is independent";
  endpoint_->invalidate_document("file:///a");
  EXPECT_EQ(code(transport_->response(2)), -32801);
  held[2].reply(json(3));
  EXPECT_EQ(transport_->response(3)["result"], 3);
}

TEST_F(JsonRpcTest, RepliesFromWorkerThreadsAreDelivered) {
  std::vector<std::thread> threads;
  endpoint_->on_request("async", [&](const json& params, RequestContext context) {
    threads.emplace_back([context, params] { context.reply(params); });
  });
  for (int id = 0; id < 20; ++id)
    transport_->receive({{"jsonrpc", "2.0"}, {"id", id}, {"method", "async"}, {"params", {id}}});
  for (int id = 0; id < 20; ++id) EXPECT_EQ(transport_->response(id)["result"], json({id}));
  for (auto& t : threads) t.join();
}

TEST_F(JsonRpcTest, ServerInitiatedRequestsMatchTheirResponses) {
  RpcResult<json> first = ResponseError{}, second = json();
  endpoint_->call("window/workDoneProgress/create", {{"token", "t"}},
                  [&](RpcResult<json> r) { first = std::move(r); });
  endpoint_->call("client/other", json::object(),
                  [&](RpcResult<json> r) { second = std::move(r); });
  const auto sent = transport_->take();
  ASSERT_EQ(sent.size(), 2u);
  transport_->receive({{"jsonrpc", "2.0"},
                       {"id", sent[1]["id"]},
                       {"error", {{"code", -32601}, {"message", "nope"}}}});
  transport_->receive({{"jsonrpc", "2.0"}, {"id", sent[0]["id"]}, {"result", nullptr}});
  EXPECT_TRUE(first.has_value());
  ASSERT_FALSE(second.has_value());
  EXPECT_EQ(second.error().code, ErrorCode::kMethodNotFound);
  // A response nobody asked for is logged and ignored.
  transport_->receive({{"jsonrpc", "2.0"}, {"id", 999}, {"result", 1}});
  EXPECT_TRUE(transport_->take().empty());
}

TEST_F(JsonRpcTest, AdmissionRefusesRequestsAndDropsNotifications) {
  bool notified = false;
  endpoint_->on_notification("note", [&](const json&) { notified = true; });
  endpoint_->set_admission([](const std::string& method, bool) -> std::optional<ResponseError> {
    if (method == "echo") return std::nullopt;
    return ResponseError{ErrorCode::kServerNotInitialized, "not yet"};
  });
  EXPECT_EQ(code(request(1, "anything")), -32002);
  EXPECT_EQ(request(2, "echo")["result"], json::object());
  transport_->receive({{"jsonrpc", "2.0"}, {"method", "note"}});
  EXPECT_FALSE(notified);
}

}  // namespace
}  // namespace mnemo::lsp
