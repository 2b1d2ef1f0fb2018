// Open documents' unsaved text into the memory (server/workspace/unsaved_edit_memory.h): a burst of
// edits is encoded once, with its last text, after the pause; documents outside the root are
// left alone; closing without saving puts the file on disk back; stop() drops what waits.
// The encoder is a recording double; the real one is exercised by serve_index_test.py.
#include "server/workspace/unsaved_edit_memory.h"

#include <gtest/gtest.h>

#include <chrono>
#include <fstream>
#include <mutex>
#include <string>
#include <vector>

#include "lsp/uri.h"
#include "tests/support/fake_transport.h"
#include "tests/support/temp_dir.h"

namespace mnemo::server {
namespace {

namespace fs = std::filesystem;
using lsp::json;
using testing::FakeTransport;
using namespace std::chrono_literals;

struct Encoded {
  fs::path root;
  std::string path, text;
  bool operator==(const Encoded& o) const {
    return root == o.root && path == o.path && text == o.text;
  }
};

class UnsavedEditMemoryTest : public ::testing::Test {
 protected:
  void start(std::chrono::milliseconds debounce = 50ms) {
    transport_ = std::make_shared<FakeTransport>();
    server_ = std::make_unique<lsp::LanguageServer>(lsp::Endpoint::create(transport_),
                                                    lsp::LanguageServer::Options{"mnemo", "test"});
    UnsavedEditMemoryOptions options;
    options.debounce = debounce;
    options.encode = [this](const fs::path& root, const std::string& path,
                            const std::string& text) -> std::optional<std::string> {
      std::lock_guard<std::mutex> lock(mutex_);
      encoded_.push_back({root, path, text});
      return std::nullopt;
    };
    memory_ = std::make_unique<UnsavedEditMemory>(*server_, options);
    server_->start();
    transport_->receive(
        {{"jsonrpc", "2.0"},
         {"id", 1},
         {"method", "initialize"},
         {"params",
          {{"capabilities", json::object()}, {"rootUri", lsp::path_to_file_uri(root_.path())}}}});
    transport_->response(1);
    notify("initialized", json::object());
  }
  void TearDown() override {
    if (memory_) memory_->stop();
  }
  void notify(const std::string& method, const json& params) {
    transport_->receive({{"jsonrpc", "2.0"}, {"method", method}, {"params", params}});
  }
  void open(const fs::path& path, const std::string& text) {
    notify("textDocument/didOpen", {{"textDocument",
                                     {{"uri", lsp::path_to_file_uri(path)},
                                      {"languageId", "cpp"},
                                      {"version", 1},
                                      {"text", text}}}});
  }
  void change(const fs::path& path, int version, const std::string& text) {
    notify("textDocument/didChange",
           {{"textDocument", {{"uri", lsp::path_to_file_uri(path)}, {"version", version}}},
            {"contentChanges", {{{"text", text}}}}});
  }
  std::vector<Encoded> encoded() {
    std::lock_guard<std::mutex> lock(mutex_);
    return encoded_;
  }

  testing::TempDir root_;
  std::shared_ptr<FakeTransport> transport_;
  std::unique_ptr<lsp::LanguageServer> server_;
  std::unique_ptr<UnsavedEditMemory> memory_;
  std::mutex mutex_;
  std::vector<Encoded> encoded_;  // guarded by mutex_
};

TEST_F(UnsavedEditMemoryTest, ABurstOfEditsIsEncodedOnceWithItsLastTextAfterThePause) {
  start(200ms);
  const fs::path file = root_.path() / "src" / "a.cpp";
  open(file, "int a;\n");
  for (int v = 2; v <= 6; ++v) change(file, v, "int a = " + std::to_string(v) + ";\n");
  ASSERT_TRUE(memory_->wait_idle(20s));
  EXPECT_EQ(encoded(), (std::vector<Encoded>{{root_.path(), "src/a.cpp", "int a = 6;\n"}}));
}

TEST_F(UnsavedEditMemoryTest, EachPausedDocumentIsEncodedAndDocumentsOutsideTheRootAreNot) {
  start();
  open(root_.path() / "a.h", "struct A;\n");
  open(root_.path() / "b.h", "struct B;\n");
  open(root_.path().parent_path() / "elsewhere.h", "struct C;\n");
  ASSERT_TRUE(memory_->wait_idle(20s));
  auto got = encoded();
  std::sort(got.begin(), got.end(),
            [](const Encoded& x, const Encoded& y) { return x.path < y.path; });
  EXPECT_EQ(got, (std::vector<Encoded>{{root_.path(), "a.h", "struct A;\n"},
                                       {root_.path(), "b.h", "struct B;\n"}}));
}

TEST_F(UnsavedEditMemoryTest, ClosingWithoutSavingPutsTheFileOnDiskBack) {
  root_.write("a.cpp", "int on_disk;\n");
  start(10s);  // the edit is still waiting when the document closes
  const fs::path file = root_.path() / "a.cpp";
  open(file, "int on_disk;\n");
  change(file, 2, "int never_saved;\n");
  notify("textDocument/didClose", {{"textDocument", {{"uri", lsp::path_to_file_uri(file)}}}});
  ASSERT_TRUE(memory_->wait_idle(20s));
  EXPECT_EQ(encoded(), (std::vector<Encoded>{{root_.path(), "a.cpp", "int on_disk;\n"}}));
}

TEST_F(UnsavedEditMemoryTest, StopDropsWhatIsWaiting) {
  start(10s);
  open(root_.path() / "a.cpp", "int a;\n");
  memory_->stop();
  EXPECT_TRUE(memory_->wait_idle(1s));
  EXPECT_TRUE(encoded().empty());
}

}  // namespace
}  // namespace mnemo::server
