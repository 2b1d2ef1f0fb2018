// libclang in a worker process (indexer/parse_worker.h): the same symbols as in-process, a
// crash or a hang costs only that file (with the reason), and the next file gets a fresh
// worker. The worker is tests/support/parse_worker_main.cpp, which crashes or hangs on
// files named so.
#include <gtest/gtest.h>

#include <chrono>
#include <string>
#include <utility>
#include <vector>

#include "indexer/clang_symbols.h"
#include "indexer/compile_flags.h"
#include "indexer/content_hash.h"
#include "indexer/parse_worker.h"
#include "indexer/repository_indexer.h"
#include "tests/support/file_symbols_text.h"
#include "tests/support/temp_dir.h"

namespace mnemo::indexer {
namespace {

using testing::describe;
using testing::TempDir;
using namespace std::chrono_literals;

const std::string kHeader =
    "#pragma once\nnamespace geo {\nstruct Point {\n  double x;\n  double norm() const;\n};\n}\n";
// Not UTF-8 (a Latin-1 comment) and a NUL byte: the contents must arrive byte for byte.
const std::string kSource = std::string("#include \"geo.h\"\n// caf\xe9\n") + '\0' +
                            "\ndouble geo::Point::norm() const { return x; }\n";

class ParseWorkerTest : public ::testing::Test {
 protected:
  void SetUp() override {
    repo_.write("geo.h", kHeader);
    repo_.write("geo.cpp", kSource);
    flags_ = CompileFlags::for_repository(repo_.path());
  }

  ParseRequest request(const std::string& path, const std::string& contents,
                       std::vector<std::string> record_also = {}) const {
    return {repo_.path().string(), path, contents, flags_->command_for(path),
            std::move(record_also)};
  }

  TempDir repo_;
  std::unique_ptr<CompileFlags> flags_;
};

TEST_F(ParseWorkerTest, AWorkerReportsWhatTheInProcessIndexerDoes) {
  ParseWorker worker({MNEMO_TEST_PARSE_WORKER}, 60s);
  ClangIndexer local;
  for (const auto& [path, contents] :
       {std::pair{"geo.h", kHeader}, std::pair{"geo.cpp", kSource}}) {
    auto remote = worker.index(request(path, contents, {"geo.h"}));
    ASSERT_TRUE(remote) << remote.error().message;
    auto here = local.index(repo_.path(), path, contents, flags_->command_for(path), {"geo.h"});
    ASSERT_TRUE(here);
    EXPECT_EQ(describe(remote.value().main), describe(here.value().main));
    EXPECT_EQ(remote.value().main.content_hash, git_blob_id(contents));
    EXPECT_FALSE(remote.value().main.symbols.empty());
    ASSERT_EQ(remote.value().included.size(), here.value().included.size());
    for (std::size_t i = 0; i < here.value().included.size(); ++i)
      EXPECT_EQ(describe(remote.value().included[i]), describe(here.value().included[i]));
  }
  // geo.cpp's parse recorded the header it includes.
  auto source = worker.index(request("geo.cpp", kSource, {"geo.h"}));
  ASSERT_TRUE(source);
  ASSERT_EQ(source.value().included.size(), 1u);
  EXPECT_EQ(source.value().included[0].path, "geo.h");
  EXPECT_EQ(worker.starts(), 1);  // one worker for every file
}

TEST_F(ParseWorkerTest, ACrashCostsOnlyThatFileAndTheNextFileGetsAFreshWorker) {
  ParseWorker worker({MNEMO_TEST_PARSE_WORKER}, 60s);
  ASSERT_TRUE(worker.index(request("geo.h", kHeader)));
  auto crashed = worker.index(request("crash.cpp", "int x;\n"));
  ASSERT_FALSE(crashed);
  EXPECT_NE(crashed.error().message.find("crash.cpp: libclang crashed its worker (signal 6"),
            std::string::npos)
      << crashed.error().message;
  auto after = worker.index(request("geo.cpp", kSource));
  ASSERT_TRUE(after) << after.error().message;
  EXPECT_EQ(worker.starts(), 2);
}

TEST_F(ParseWorkerTest, AHangIsKilledAtTheTimeout) {
  ParseWorker worker({MNEMO_TEST_PARSE_WORKER}, 400ms);
  const auto start = std::chrono::steady_clock::now();
  auto hung = worker.index(request("hang.cpp", "int x;\n"));
  const auto waited = std::chrono::steady_clock::now() - start;
  ASSERT_FALSE(hung);
  EXPECT_NE(hung.error().message.find("hang.cpp: libclang ran past the 400 ms timeout"),
            std::string::npos)
      << hung.error().message;
  EXPECT_LT(waited, 10s);
  EXPECT_TRUE(worker.index(request("geo.h", kHeader)));
}

TEST_F(ParseWorkerTest, AWorkerThatCannotStartIsAnErrorNotACrash) {
  ParseWorker worker({"/nonexistent/mnemo-worker"}, 1s);
  auto failed = worker.index(request("geo.h", kHeader));
  ASSERT_FALSE(failed);
  EXPECT_NE(failed.error().message.find("geo.h"), std::string::npos) << failed.error().message;
}

TEST_F(ParseWorkerTest, AnIndexRunReportsTheFilesItsWorkerCouldNotParseAndStoresTheRest) {
  repo_.write("geo.cpp", "#include \"geo.h\"\ndouble geo::Point::norm() const { return x; }\n");
  repo_.write("crash_me.cpp", "int boom();\n");
  repo_.write("hang_me.cpp", "int wait();\n");
  IndexOptions options;
  options.root = repo_.path();
  options.parse_worker = {MNEMO_TEST_PARSE_WORKER};
  options.parse_timeout = 400ms;
  auto report = index_repository(options);
  ASSERT_TRUE(report) << report.error().message;
  EXPECT_EQ(report.value().files_indexed, 2u);
  ASSERT_EQ(report.value().failed.size(), 2u);
  EXPECT_EQ(report.value().failed[0].path, "crash_me.cpp");
  EXPECT_NE(report.value().failed[0].reason.find("crashed"), std::string::npos);
  EXPECT_EQ(report.value().failed[1].path, "hang_me.cpp");
  EXPECT_NE(report.value().failed[1].reason.find("timeout"), std::string::npos);
}

}  // namespace
}  // namespace mnemo::indexer
