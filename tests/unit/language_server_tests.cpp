#include "lsp/language_server.h"

#include <gtest/gtest.h>

#include "tests/support/fake_transport.h"

namespace mnemo::lsp {
namespace {

using testing::FakeTransport;

class LanguageServerTest : public ::testing::Test {
 protected:
  void SetUp() override {
    transport_ = std::make_shared<FakeTransport>();
    server_ = std::make_unique<LanguageServer>(Endpoint::create(transport_),
                                               LanguageServer::Options{"mnemo", "test"});
    server_->on_exit([this](int code) { exit_code_ = code; });
    server_->start();
  }

  json request(const std::string& method, const json& params = json::object()) {
    const int id = next_id_++;
    transport_->receive({{"jsonrpc", "2.0"}, {"id", id}, {"method", method}, {"params", params}});
    return transport_->response(id);
  }
  void notify(const std::string& method, const json& params = json::object()) {
    transport_->receive({{"jsonrpc", "2.0"}, {"method", method}, {"params", params}});
  }
  json initialize(const json& capabilities = json::object()) {
    json result = request("initialize", {{"processId", nullptr},
                                         {"rootUri", "file:///work/My%20Repo"},
                                         {"capabilities", capabilities}});
    notify("initialized");
    return result;
  }
  std::string text(const std::string& uri) {
    return server_->documents().get(uri)->document->text();
  }

  std::shared_ptr<FakeTransport> transport_;
  std::unique_ptr<LanguageServer> server_;
  int next_id_ = 1;
  int exit_code_ = -1;
};

TEST_F(LanguageServerTest, RequestBeforeInitializeIsServerNotInitialized) {
  EXPECT_EQ(request("textDocument/completion")["error"]["code"], -32002);
  EXPECT_EQ(request("shutdown")["error"]["code"], -32002);
}

TEST_F(LanguageServerTest, NotificationsBeforeInitializeAreDroppedButExitIsHonoured) {
  notify("textDocument/didOpen",
         {{"textDocument",
           {{"uri", "file:///a"}, {"languageId", "c"}, {"version", 1}, {"text", "x"}}}});
  EXPECT_FALSE(server_->documents().get("file:///a"));
  notify("exit");
  EXPECT_EQ(exit_code_, 1);
}

TEST_F(LanguageServerTest, InitializeAnnouncesCapabilitiesAndServerInfo) {
  const json result = initialize()["result"];
  EXPECT_EQ(result["serverInfo"]["name"], "mnemo");
  EXPECT_EQ(result["capabilities"]["positionEncoding"], "utf-16");
  EXPECT_EQ(result["capabilities"]["textDocumentSync"]["change"], 2);
  EXPECT_EQ(server_->client().workspace_roots.at(0), "/work/My Repo");
}

TEST_F(LanguageServerTest, InitializationOptionsReachTheHooksAsSent) {
  json seen;
  server_->on_initialized([&](const ClientInfo& client) { seen = client.initialization_options; });
  request("initialize", {{"processId", nullptr},
                         {"capabilities", json::object()},
                         {"initializationOptions", {{"inline", {{"debounceMs", 5}}}}}});
  notify("initialized");
  EXPECT_EQ(seen, (json{{"inline", {{"debounceMs", 5}}}}));
}

TEST_F(LanguageServerTest, PositionEncodingFollowsTheClientsPreference) {
  const json result = initialize({{"general", {{"positionEncodings", {"utf-32", "utf-16"}}}}});
  EXPECT_EQ(result["result"]["capabilities"]["positionEncoding"], "utf-32");
  EXPECT_EQ(server_->encoding(), PositionEncoding::kUtf32);
}

TEST_F(LanguageServerTest, UnknownEncodingsFallBackToUtf16) {
  const json result = initialize({{"general", {{"positionEncodings", {"utf-7"}}}}});
  EXPECT_EQ(result["result"]["capabilities"]["positionEncoding"], "utf-16");
}

TEST_F(LanguageServerTest, SecondInitializeIsInvalidRequest) {
  initialize();
  EXPECT_EQ(request("initialize", {{"capabilities", json::object()}})["error"]["code"], -32600);
}

TEST_F(LanguageServerTest, ShutdownThenExitEndsWithZero) {
  initialize();
  EXPECT_TRUE(request("shutdown").contains("result"));
  EXPECT_EQ(request("textDocument/completion")["error"]["code"], -32600);
  notify("exit");
  EXPECT_EQ(exit_code_, 0);
  EXPECT_TRUE(transport_->closed());
}

TEST_F(LanguageServerTest, ExitWithoutShutdownEndsWithOne) {
  initialize();
  notify("exit");
  EXPECT_EQ(exit_code_, 1);
}

TEST_F(LanguageServerTest, ClosedInputEndsTheSession) {
  initialize();
  transport_->end_of_input();
  EXPECT_EQ(exit_code_, 1);
}

TEST_F(LanguageServerTest, TextSyncKeepsTheDocumentInStep) {
  initialize();
  std::vector<std::int64_t> versions;
  server_->on_document_updated([&](const DocumentSnapshot& s) { versions.push_back(s.version); });
  notify("textDocument/didOpen", {{"textDocument",
                                   {{"uri", "file:///a.cc"},
                                    {"languageId", "cpp"},
                                    {"version", 1},
                                    {"text", "int main() {\r\n  return 0;\r\n}\r\n"}}}});
  // Incremental: replace "0" on line 1 (utf-16 columns), then a full replacement.
  notify(
      "textDocument/didChange",
      {{"textDocument", {{"uri", "file:///a.cc"}, {"version", 2}}},
       {"contentChanges",
        {{{"range",
           {{"start", {{"line", 1}, {"character", 9}}}, {"end", {{"line", 1}, {"character", 10}}}}},
          {"text", "42"}}}}});
  EXPECT_EQ(text("file:///a.cc"), "int main() {\r\n  return 42;\r\n}\r\n");
  notify("textDocument/didChange", {{"textDocument", {{"uri", "file:///a.cc"}, {"version", 3}}},
                                    {"contentChanges", {{{"text", "fresh"}}}}});
  EXPECT_EQ(text("file:///a.cc"), "fresh");
  EXPECT_EQ(versions, (std::vector<std::int64_t>{1, 2, 3}));
  notify("textDocument/didClose", {{"textDocument", {{"uri", "file:///a.cc"}}}});
  EXPECT_FALSE(server_->documents().get("file:///a.cc"));
}

TEST_F(LanguageServerTest, DidChangeForAnUnopenedDocumentIsLoggedAndHarmless) {
  initialize();
  notify("textDocument/didChange", {{"textDocument", {{"uri", "file:///never"}, {"version", 2}}},
                                    {"contentChanges", {{{"text", "x"}}}}});
  EXPECT_FALSE(server_->documents().get("file:///never"));
  EXPECT_TRUE(transport_->take().empty()) << "notifications are never answered";
  EXPECT_TRUE(request("shutdown").contains("result")) << "still serving";
}

TEST_F(LanguageServerTest, MalformedNotificationParamsAreLoggedNotAnswered) {
  initialize();
  notify("textDocument/didOpen", {{"textDocument", {{"uri", 5}}}});
  EXPECT_TRUE(transport_->take().empty());
}

TEST_F(LanguageServerTest, ProgressWaitsForTheClientToAcceptItsToken) {
  initialize({{"window", {{"workDoneProgress", true}}}});
  transport_->take();
  CancellationSource cancel;
  auto progress = server_->create_progress(cancel);
  const json create = transport_->message("window/workDoneProgress/create");
  ASSERT_FALSE(create.is_null());
  progress->begin("Indexing", "0 files", 0);
  progress->report("5 files", 50);
  progress->end("done");
  EXPECT_TRUE(transport_->take().empty()) << "nothing may use the token before it is created";
  transport_->receive({{"jsonrpc", "2.0"}, {"id", create["id"]}, {"result", nullptr}});
  const auto sent = transport_->take();
  ASSERT_EQ(sent.size(), 3u);
  EXPECT_EQ(sent[0]["params"]["value"]["kind"], "begin");
  EXPECT_EQ(sent[0]["params"]["value"]["cancellable"], true);
  EXPECT_EQ(sent[1]["params"]["value"]["percentage"], 50);
  EXPECT_EQ(sent[2]["params"]["value"]["kind"], "end");
  EXPECT_EQ(sent[2]["params"]["token"], create["params"]["token"]);
  progress->report("after end", 90);
  EXPECT_TRUE(transport_->take().empty());
}

TEST_F(LanguageServerTest, ProgressOfWorkThatEndedBeforeTheClientAnsweredIsStillSent) {
  initialize({{"window", {{"workDoneProgress", true}}}});
  transport_->take();
  {
    auto progress = server_->create_progress();
    progress->begin("Indexing", "");
    progress->end("Indexed 2 files");
  }  // the work is over and dropped its handle
  const json create = transport_->message("window/workDoneProgress/create");
  transport_->receive({{"jsonrpc", "2.0"}, {"id", create["id"]}, {"result", nullptr}});
  const auto sent = transport_->take();
  ASSERT_EQ(sent.size(), 2u);
  EXPECT_EQ(sent[0]["params"]["value"]["kind"], "begin");
  EXPECT_EQ(sent[1]["params"]["value"]["message"], "Indexed 2 files");
}

TEST_F(LanguageServerTest, ProgressCancelFromTheClientCancelsTheWork) {
  initialize({{"window", {{"workDoneProgress", true}}}});
  CancellationSource cancel;
  auto progress = server_->create_progress(cancel);
  const json create = transport_->message("window/workDoneProgress/create");
  transport_->receive({{"jsonrpc", "2.0"}, {"id", create["id"]}, {"result", nullptr}});
  notify("window/workDoneProgress/cancel", {{"token", create["params"]["token"]}});
  EXPECT_TRUE(cancel.token().cancelled());
}

TEST_F(LanguageServerTest, ProgressIsSilentForClientsWithoutSupport) {
  initialize();
  transport_->take();
  auto progress = server_->create_progress();
  progress->begin("Indexing", "");
  progress->end("");
  EXPECT_TRUE(transport_->take().empty());
}

}  // namespace
}  // namespace mnemo::lsp
