// The LSP edge of completion: positions in the negotiated encoding, cancellation reaching
// the engine, latest-wins and ContentModified, parameter errors. The engine is a scripted
// double so each test controls timing and results exactly.
#include "server/completion/lsp_completion.h"

#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <thread>

#include <boost/asio/thread_pool.hpp>

#include "tests/support/fake_transport.h"

namespace mnemo::server {
namespace {

using lsp::json;
using testing::FakeTransport;

/// Answers with one candidate replacing the identifier before the cursor; when `hold` is
/// set, waits until its token is cancelled first (like a long decode loop).
class ScriptedEngine : public CompletionEngine {
 public:
  std::atomic<bool> hold{false};
  std::atomic<int> started{0};
  std::atomic<int> cancellations_seen{0};
  std::atomic<int> last_cancel_reason{0};
  std::optional<InlineCompletionQuery> last_inline;

  void document_updated(const DocumentView&) override {}
  void document_closed(const std::string&) override {}
  void index_workspace(const std::vector<std::filesystem::path>&, ProgressSink&,
                       const lsp::CancellationToken&) override {}

  EngineResult<CompletionList> complete(const CompletionQuery& query,
                                        const lsp::CancellationToken& token) override {
    if (!wait(token)) return EngineError{EngineError::Kind::kCancelled, "cancelled"};
    const std::string& text = query.document.document->text();
    std::size_t begin = query.cursor;
    while (begin > 0 &&
           (std::isalnum(static_cast<unsigned char>(text[begin - 1])) || text[begin - 1] == '_'))
      --begin;
    CompletionList list;
    list.items.push_back({"counter", "counter", begin, query.cursor, "int counter", "",
                          CompletionItemKind::kIdentifier, 2});
    list.items.push_back(
        {"count", "count", begin, query.cursor, "", "", CompletionItemKind::kIdentifier, 1});
    return list;
  }

  EngineResult<std::vector<InlineSuggestion>> complete_inline(
      const InlineCompletionQuery& query, const lsp::CancellationToken& token) override {
    if (!wait(token)) return EngineError{EngineError::Kind::kCancelled, "cancelled"};
    last_inline = query;
    return std::vector<InlineSuggestion>{{"counter", query.cursor - 2, query.cursor, 1}};
  }

 private:
  bool wait(const lsp::CancellationToken& token) {
    ++started;
    const auto guard = std::chrono::steady_clock::now() + std::chrono::seconds(20);
    while (hold && std::chrono::steady_clock::now() < guard) {
      if (token.cancelled()) {
        ++cancellations_seen;
        last_cancel_reason = static_cast<int>(token.reason());
        return false;
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(1));
    }
    return true;
  }
};

class LspCompletionTest : public ::testing::Test {
 protected:
  void start(const json& encodings = json::array()) {
    transport_ = std::make_shared<FakeTransport>();
    server_ = std::make_unique<lsp::LanguageServer>(lsp::Endpoint::create(transport_),
                                                    lsp::LanguageServer::Options{"mnemo", "test"});
    engine_ = std::make_shared<ScriptedEngine>();
    completion_ = std::make_unique<LspCompletion>(*server_, engine_, pool_);
    server_->start();
    json capabilities = json::object();
    if (!encodings.empty()) capabilities["general"]["positionEncodings"] = encodings;
    send_request("initialize", {{"capabilities", capabilities}});
    transport_->response(id_);
    notify("initialized", json::object());
  }
  void TearDown() override {
    if (engine_) engine_->hold = false;
    pool_.join();
  }

  int send_request(const std::string& method, const json& params) {
    transport_->receive(
        {{"jsonrpc", "2.0"}, {"id", ++id_}, {"method", method}, {"params", params}});
    return id_;
  }
  void notify(const std::string& method, const json& params) {
    transport_->receive({{"jsonrpc", "2.0"}, {"method", method}, {"params", params}});
  }
  void open(const std::string& text) {
    notify(
        "textDocument/didOpen",
        {{"textDocument", {{"uri", kUri}, {"languageId", "cpp"}, {"version", 1}, {"text", text}}}});
  }
  json complete_at(std::uint32_t line, std::uint32_t character) {
    return transport_->response(send_request("textDocument/completion", position(line, character)));
  }
  static json position(std::uint32_t line, std::uint32_t character) {
    return {{"textDocument", {{"uri", kUri}}},
            {"position", {{"line", line}, {"character", character}}}};
  }
  static json range(int l0, int c0, int l1, int c1) {
    return {{"start", {{"line", l0}, {"character", c0}}},
            {"end", {{"line", l1}, {"character", c1}}}};
  }

  static constexpr const char* kUri = "file:///repo/a.cc";
  boost::asio::thread_pool pool_{2};
  std::shared_ptr<FakeTransport> transport_;
  std::unique_ptr<lsp::LanguageServer> server_;
  std::shared_ptr<ScriptedEngine> engine_;
  std::unique_ptr<LspCompletion> completion_;
  int id_ = 0;
};

// "😀" is 2 UTF-16 units and 4 UTF-8 bytes; "漢" is 1 unit and 3 bytes.
constexpr const char* kEmojiLine = "s = \"😀漢\"; cou";

TEST_F(LspCompletionTest, ItemsCarryRangesInUtf16ByDefault) {
  start();
  open(kEmojiLine);
  const json result = complete_at(0, 14)["result"];  // after "cou": 4 + 1 + 2 + 1 + 1 + 2 + 3
  ASSERT_EQ(result["items"].size(), 2u);
  const json& first = result["items"][0];
  EXPECT_EQ(first["label"], "counter");
  EXPECT_EQ(first["textEdit"]["range"], range(0, 11, 0, 14));
  EXPECT_EQ(first["textEdit"]["newText"], "counter");
  EXPECT_EQ(first["detail"], "int counter");
  EXPECT_LT(first["sortText"].get<std::string>(),
            result["items"][1]["sortText"].get<std::string>());
  EXPECT_EQ(result["isIncomplete"], false);
}

TEST_F(LspCompletionTest, ItemsCarryRangesInUtf8WhenNegotiated) {
  start({"utf-8"});
  open(kEmojiLine);
  const json result = complete_at(0, 18)["result"];  // bytes: 4 + 1 + 4 + 3 + 1 + 2 + 3
  EXPECT_EQ(result["items"][0]["textEdit"]["range"], range(0, 15, 0, 18));
}

TEST_F(LspCompletionTest, ItemsCarryRangesInUtf32WhenNegotiated) {
  start({"utf-32", "utf-16"});
  open(kEmojiLine);
  const json result = complete_at(0, 13)["result"];
  EXPECT_EQ(result["items"][0]["textEdit"]["range"], range(0, 10, 0, 13));
}

TEST_F(LspCompletionTest, CompletionInAnUnopenedDocumentIsInvalidParams) {
  start();
  EXPECT_EQ(complete_at(0, 0)["error"]["code"], -32602);
}

/// Polls `condition` with a deadlock guard (not a timing assertion).
template <class F>
bool eventually(F condition) {
  for (int i = 0; i < 4000 && !condition(); ++i)
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  return condition();
}

TEST_F(LspCompletionTest, CancelRequestBeforeTheWorkStartsSkipsTheEngine) {
  start();
  open("int cou");
  engine_->hold = true;
  // Occupy both workers so the request stays queued.
  const int a = send_request("textDocument/inlineCompletion", [] {
    json p = position(0, 7);
    p["context"] = {{"triggerKind", 1}};
    return p;
  }());
  notify("textDocument/didOpen",
         {{"textDocument",
           {{"uri", "file:///b"}, {"languageId", "c"}, {"version", 1}, {"text", "x"}}}});
  const int b = send_request(
      "textDocument/completion",
      {{"textDocument", {{"uri", "file:///b"}}}, {"position", {{"line", 0}, {"character", 1}}}});
  ASSERT_TRUE(eventually([&] { return engine_->started == 2; }));
  const int queued = send_request("textDocument/completion", position(0, 7));
  notify("$/cancelRequest", {{"id", queued}});
  EXPECT_EQ(transport_->response(queued)["error"]["code"], -32800);
  engine_->hold = false;
  EXPECT_TRUE(transport_->response(a).contains("result"));
  EXPECT_TRUE(transport_->response(b).contains("result"));
  pool_.join();
  EXPECT_EQ(engine_->started, 2) << "a request cancelled while queued never reaches the engine";
}

TEST_F(LspCompletionTest, CancelRequestReachesTheRunningEngine) {
  start();
  open("int cou");
  engine_->hold = true;
  const int slow = send_request("textDocument/completion", position(0, 7));
  ASSERT_TRUE(eventually([&] { return engine_->started == 1; }));
  notify("$/cancelRequest", {{"id", slow}});
  EXPECT_EQ(transport_->response(slow)["error"]["code"], -32800);
  EXPECT_TRUE(eventually([&] { return engine_->cancellations_seen == 1; }))
      << "the engine must observe the cancellation";
  EXPECT_EQ(engine_->last_cancel_reason, static_cast<int>(lsp::CancelReason::kCancelRequest));
  engine_->hold = false;
  EXPECT_TRUE(complete_at(0, 7).contains("result")) << "the server keeps serving";
}

TEST_F(LspCompletionTest, NewerCompletionSupersedesTheOlderOne) {
  start();
  open("int cou");
  engine_->hold = true;
  const int first = send_request("textDocument/completion", position(0, 7));
  const int second = send_request("textDocument/completion", position(0, 7));
  const json superseded = transport_->response(first);
  EXPECT_EQ(superseded["error"]["code"], -32800);
  engine_->hold = false;
  EXPECT_TRUE(transport_->response(second).contains("result"));
}

TEST_F(LspCompletionTest, EditingTheDocumentCancelsWithContentModified) {
  start();
  open("int cou");
  engine_->hold = true;
  const int pending = send_request("textDocument/completion", position(0, 7));
  notify("textDocument/didChange",
         {{"textDocument", {{"uri", kUri}, {"version", 2}}},
          {"contentChanges", {{{"range", range(0, 7, 0, 7)}, {"text", "n"}}}}});
  EXPECT_EQ(transport_->response(pending)["error"]["code"], -32801);
  engine_->hold = false;
}

TEST_F(LspCompletionTest, InlineCompletionPassesTriggerAndSelectedItem) {
  start();
  open("int x = cou;");
  json params = position(0, 11);
  params["context"] = {
      {"triggerKind", 1},
      {"selectedCompletionInfo", {{"range", range(0, 8, 0, 11)}, {"text", "count"}}}};
  const json result =
      transport_->response(send_request("textDocument/inlineCompletion", params))["result"];
  ASSERT_EQ(result["items"].size(), 1u);
  EXPECT_EQ(result["items"][0]["insertText"], "counter");
  EXPECT_EQ(result["items"][0]["range"], range(0, 9, 0, 11));
  ASSERT_TRUE(engine_->last_inline);
  EXPECT_EQ(engine_->last_inline->trigger, InlineTrigger::kInvoked);
  ASSERT_TRUE(engine_->last_inline->selected);
  EXPECT_EQ(engine_->last_inline->selected->replace_begin, 8u);
  EXPECT_EQ(engine_->last_inline->selected->replace_end, 11u);
  EXPECT_EQ(engine_->last_inline->selected->text, "count");
}

TEST_F(LspCompletionTest, InlineCompletionRejectsAnUnknownTriggerKind) {
  start();
  open("int x = cou;");
  json params = position(0, 11);
  params["context"] = {{"triggerKind", 7}};
  EXPECT_EQ(
      transport_->response(send_request("textDocument/inlineCompletion", params))["error"]["code"],
      -32602);
}

}  // namespace
}  // namespace mnemo::server
