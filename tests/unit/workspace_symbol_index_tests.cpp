// `mnemo serve`'s symbol index upkeep: one run after initialized, changes inside the root
// coalesced into one more run (never two at once), changes outside it ignored, the
// progress bar's summary, cancel button and lock message, file watchers registered only
// when the client allows it. The indexer is a scripted double; the real one is exercised by
// tests/integration/serve_index_test.py.
#include "server/workspace/workspace_symbol_index.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <chrono>
#include <condition_variable>
#include <mutex>
#include <optional>
#include <thread>

#include "lsp/uri.h"
#include "tests/support/fake_transport.h"

namespace mnemo::server {
namespace {

namespace fs = std::filesystem;
using lsp::json;
using testing::FakeTransport;
using namespace std::chrono_literals;

/// Counts runs and how many overlap; while `hold` is set a run reports progress until it is
/// cancelled or released, like an indexer in the middle of a large repository.
class ScriptedIndexer {
 public:
  std::mutex mutex;
  std::condition_variable changed;
  bool hold = false;                            // guarded by mutex
  int running = 0, most_running = 0, runs = 0;  // guarded by mutex
  int cancelled_runs = 0;                       // guarded by mutex
  std::vector<fs::path> roots;                  // guarded by mutex
  std::optional<SymbolIndexFailure> failure;    // guarded by mutex

  SymbolIndexRun run() {
    return [this](const fs::path& root, const SymbolIndexProgress& progress,
                  const std::atomic<bool>& cancel)
               -> model::Result<indexer::IndexReport, SymbolIndexFailure> {
      std::unique_lock<std::mutex> lock(mutex);
      ++running;
      most_running = std::max(most_running, running);
      roots.push_back(root);
      changed.notify_all();
      const auto guard = std::chrono::steady_clock::now() + 20s;
      while (hold && !cancel.load() && std::chrono::steady_clock::now() < guard) {
        lock.unlock();
        indexer::IndexProgress p;
        p.files_total = 4;
        p.files_done = 1;
        p.current = "src/a.cpp";
        progress(p);
        std::this_thread::sleep_for(1ms);
        lock.lock();
      }
      --running;
      ++runs;
      const bool was_cancelled = cancel.load();
      if (was_cancelled) ++cancelled_runs;
      changed.notify_all();
      if (failure) return *failure;
      indexer::IndexReport report;
      report.files_total = 3;
      report.files_indexed = 2;
      report.files_unchanged = 1;
      report.cancelled = was_cancelled;
      return report;
    };
  }

  void set_hold(bool value) {
    std::lock_guard<std::mutex> lock(mutex);
    hold = value;
  }
  /// Waits until a run is in progress (a deadlock guard, not a timing assertion).
  bool wait_running() {
    std::unique_lock<std::mutex> lock(mutex);
    return changed.wait_for(lock, 20s, [this] { return running > 0; });
  }
  int run_count() {
    std::lock_guard<std::mutex> lock(mutex);
    return runs;
  }
};

class WorkspaceSymbolIndexTest : public ::testing::Test {
 protected:
  const fs::path root_ = "/work/repo";
  /// What initialize names as the root (rootUri); empty: no root.
  std::string root_uri_ = lsp::path_to_file_uri(root_);

  void start(json capabilities = {{"window", {{"workDoneProgress", true}}}}) {
    transport_ = std::make_shared<FakeTransport>();
    server_ = std::make_unique<lsp::LanguageServer>(lsp::Endpoint::create(transport_),
                                                    lsp::LanguageServer::Options{"mnemo", "test"});
    index_ = std::make_unique<WorkspaceSymbolIndex>(
        *server_, WorkspaceSymbolIndexOptions{run_ ? run_ : indexer_.run(), {}, {}});
    server_->start();
    json params = {{"capabilities", capabilities}};
    if (!root_uri_.empty()) params["rootUri"] = root_uri_;
    transport_->receive(
        {{"jsonrpc", "2.0"}, {"id", 1}, {"method", "initialize"}, {"params", params}});
    transport_->response(1);
    notify("initialized", json::object());
  }
  void TearDown() override {
    indexer_.set_hold(false);
    if (index_) index_->stop();
  }

  void notify(const std::string& method, const json& params) {
    transport_->receive({{"jsonrpc", "2.0"}, {"method", method}, {"params", params}});
  }
  void save(const fs::path& path) {
    notify("textDocument/didSave", {{"textDocument", {{"uri", lsp::path_to_file_uri(path)}}}});
  }
  /// Answers the next window/workDoneProgress/create, so that the bar's values are sent.
  void accept_progress() {
    const json create = transport_->message("window/workDoneProgress/create");
    ASSERT_FALSE(create.is_null());
    transport_->receive({{"jsonrpc", "2.0"}, {"id", create["id"]}, {"result", nullptr}});
  }
  /// The $/progress values sent so far, in order.
  std::vector<json> progress_values() {
    std::vector<json> values;
    for (const json& message : transport_->take())
      if (message.value("method", "") == "$/progress") values.push_back(message["params"]["value"]);
    return values;
  }

  ScriptedIndexer indexer_;
  SymbolIndexRun run_;  ///< replaces indexer_ when set
  std::shared_ptr<FakeTransport> transport_;
  std::unique_ptr<lsp::LanguageServer> server_;
  std::unique_ptr<WorkspaceSymbolIndex> index_;
};

TEST_F(WorkspaceSymbolIndexTest, IndexesTheRootOnceAfterInitializedAndEndsWithASummary) {
  start();
  accept_progress();
  ASSERT_TRUE(index_->wait_idle(20s));
  EXPECT_EQ(indexer_.run_count(), 1);
  EXPECT_EQ(indexer_.roots, std::vector<fs::path>{root_});
  const auto values = progress_values();
  ASSERT_GE(values.size(), 2u);
  EXPECT_EQ(values.front()["kind"], "begin");
  EXPECT_EQ(values.front()["title"], "mnemo: indexing");
  EXPECT_EQ(values.front()["cancellable"], true);
  EXPECT_EQ(values.back(),
            (json{{"kind", "end"}, {"message", "2 files indexed, 1 unchanged, 0 failed"}}));
}

TEST_F(WorkspaceSymbolIndexTest, TheMemoryStageReportsTokensPerSecondOnItsOwnClock) {
  run_ = [](const fs::path&, const SymbolIndexProgress& progress,
            const std::atomic<bool>&) -> model::Result<indexer::IndexReport, SymbolIndexFailure> {
    indexer::IndexProgress p;
    p.stage = "memory";
    p.files_total = 4;
    p.files_done = 1;
    p.tokens_done = 1000;
    p.seconds = 2;
    p.current = "src/a.cpp";
    progress(p);
    return indexer::IndexReport{};
  };
  start();
  accept_progress();
  ASSERT_TRUE(index_->wait_idle(20s));
  const auto values = progress_values();
  ASSERT_GE(values.size(), 3u);
  EXPECT_EQ(values[1]["kind"], "report");
  EXPECT_EQ(values[1]["message"], "memory: 1/4 files, 500 tokens/s: src/a.cpp");
}

TEST_F(WorkspaceSymbolIndexTest, ARootUriWithATrailingSlashNamesTheSameFolder) {
  root_uri_ += "/";
  start();
  ASSERT_TRUE(index_->wait_idle(20s));
  EXPECT_EQ(indexer_.roots, std::vector<fs::path>{root_});
  save(root_ / "src/a.cpp");
  ASSERT_TRUE(index_->wait_idle(20s));
  EXPECT_EQ(indexer_.run_count(), 2);
}

TEST_F(WorkspaceSymbolIndexTest, ChangesDuringARunGiveExactlyOneMoreRunNeverTwoAtOnce) {
  indexer_.set_hold(true);
  start();
  ASSERT_TRUE(indexer_.wait_running());
  save(root_ / "src/a.cpp");
  save(root_ / "src/b.cpp");
  notify("workspace/didChangeWatchedFiles",
         {{"changes", {{{"uri", lsp::path_to_file_uri(root_ / "src/c.h")}, {"type", 2}}}}});
  indexer_.set_hold(false);
  ASSERT_TRUE(index_->wait_idle(20s));
  EXPECT_EQ(indexer_.run_count(), 2);
  EXPECT_EQ(indexer_.most_running, 1);
}

TEST_F(WorkspaceSymbolIndexTest, ChangesOutsideTheRootOrInsideTheIndexFolderStartNoRun) {
  start();
  ASSERT_TRUE(index_->wait_idle(20s));
  save("/elsewhere/a.cpp");
  save("/work/repository-next-door/a.cpp");
  save(root_ / ".mnemo/symbols.sqlite");
  notify("workspace/didChangeWatchedFiles",
         {{"changes", {{{"uri", lsp::path_to_file_uri("/elsewhere/b.cpp")}, {"type", 3}}}}});
  ASSERT_TRUE(index_->wait_idle(20s));
  EXPECT_EQ(indexer_.run_count(), 1);
  save(root_ / "include/a.h");
  ASSERT_TRUE(index_->wait_idle(20s));
  EXPECT_EQ(indexer_.run_count(), 2);
}

TEST_F(WorkspaceSymbolIndexTest, AnIndexLockedByAnotherProcessEndsTheBarWithThatAndServesOn) {
  indexer_.failure = SymbolIndexFailure{SymbolIndexFailure::Kind::kLockedByAnotherProcess,
                                        "another process is indexing into /work/repo/.mnemo"};
  start();
  accept_progress();
  ASSERT_TRUE(index_->wait_idle(20s));
  const auto values = progress_values();
  ASSERT_FALSE(values.empty());
  EXPECT_EQ(values.back()["kind"], "end");
  EXPECT_NE(values.back()["message"].get<std::string>().find("being written by another process"),
            std::string::npos)
      << values.back();
  // No retry on its own: only the next change tries again.
  EXPECT_EQ(indexer_.run_count(), 1);
}

TEST_F(WorkspaceSymbolIndexTest, TheCancelButtonStopsTheRunAndTheNextChangeIndexesAgain) {
  indexer_.set_hold(true);
  start();
  const json create = transport_->message("window/workDoneProgress/create");
  ASSERT_FALSE(create.is_null());
  ASSERT_TRUE(indexer_.wait_running());
  notify("window/workDoneProgress/cancel", {{"token", create["params"]["token"]}});
  ASSERT_TRUE(index_->wait_idle(20s));
  EXPECT_EQ(indexer_.cancelled_runs, 1);
  indexer_.set_hold(false);
  save(root_ / "src/a.cpp");
  ASSERT_TRUE(index_->wait_idle(20s));
  EXPECT_EQ(indexer_.run_count(), 2);
  EXPECT_EQ(indexer_.cancelled_runs, 1);
}

TEST_F(WorkspaceSymbolIndexTest, StopCancelsTheRunInProgressAndJoins) {
  indexer_.set_hold(true);
  start();
  ASSERT_TRUE(indexer_.wait_running());
  index_->stop();
  EXPECT_EQ(indexer_.run_count(), 1);
  EXPECT_EQ(indexer_.cancelled_runs, 1);
  save(root_ / "src/a.cpp");  // after stop: ignored
  EXPECT_EQ(indexer_.run_count(), 1);
}

TEST_F(WorkspaceSymbolIndexTest, RegistersFileWatchersWhenTheClientAllowsDynamicRegistration) {
  start({{"workspace", {{"didChangeWatchedFiles", {{"dynamicRegistration", true}}}}}});
  const json request = transport_->message("client/registerCapability");
  ASSERT_FALSE(request.is_null());
  const json& registration = request["params"]["registrations"][0];
  EXPECT_EQ(registration["method"], "workspace/didChangeWatchedFiles");
  EXPECT_NE(
      registration["registerOptions"]["watchers"][0]["globPattern"].get<std::string>().find("cpp"),
      std::string::npos);
  ASSERT_TRUE(index_->wait_idle(20s));
}

TEST_F(WorkspaceSymbolIndexTest, RegistersNoFileWatchersWithoutDynamicRegistration) {
  start();
  ASSERT_TRUE(index_->wait_idle(20s));
  EXPECT_TRUE(transport_->message("client/registerCapability", 0s).is_null());
}

TEST_F(WorkspaceSymbolIndexTest, WithoutAWorkspaceRootNothingIsIndexed) {
  root_uri_.clear();
  start();
  save("/work/repo/src/a.cpp");
  ASSERT_TRUE(index_->wait_idle(20s));
  EXPECT_EQ(indexer_.run_count(), 0);
}

}  // namespace
}  // namespace mnemo::server
