// A repository's long-term memory on disk (indexer/memory_indexer.h): every walked file
// becomes a segment the exact tier loads; a second run encodes only what changed and
// deletes what is gone; a memory of another model is started over.
#include <gtest/gtest.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <mutex>
#include <string>

#include "indexer/memory_indexer.h"
#include "indexer/repository_walk.h"
#include "model/memory/exact/exact_tier_store.h"
#include "tests/support/temp_dir.h"

namespace mnemo::indexer {
namespace {

namespace fs = std::filesystem;
using testing::TempDir;
const fs::path kModel = fs::path(MNEMO_FIXTURES_DIR) / "tiny-models" / "tiny-llama-256.F32.gguf";

class MemoryIndexerTest : public ::testing::Test {
 protected:
  void SetUp() override {
    repo_.write("include/geo.h", "#pragma once\nstruct Point { double x, y; };\n");
    repo_.write("src/geo.cpp", "#include \"geo.h\"\ndouble norm(Point p) { return p.x; }\n");
    repo_.write("README.md", "# A repository: its code and documentation go into the memory.\n");
    repo_.write("empty.md", "");
    repo_.write("tests/pages/index.html", "<p style=\"font-weight: 700\">data</p>\n");
    auto loaded = model::load_model(kModel.string());
    ASSERT_TRUE(loaded) << loaded.error().message;
    model_ = loaded.value();
    options_.store_dir = store_.path() / "memory";
    options_.durable = false;
    options_.layers = {0, 1};
    options_.block_size = 8;
  }

  MemoryIndexReport update(const std::string& model_id = "tiny") {
    auto walked = walk_repository(repo_.path());
    EXPECT_TRUE(walked);
    auto indexer = MemoryIndexer::open(model_, model_id, options_);
    EXPECT_TRUE(indexer) << indexer.error().message;
    if (!indexer) return {};
    auto report = indexer.value()->update(repo_.path(), walked.value().files);
    EXPECT_TRUE(report) << report.error().message;
    config_ = indexer.value()->tier_config();
    return report ? report.value() : MemoryIndexReport{};
  }

  /// The store's header fields for the model "tiny".
  model::memory::store::StringMap fields() const {
    return model::memory::store_fields(config_, {{"memory.model", "tiny"},
                                                 {"memory.layers", "0,1"},
                                                 {"memory.window", std::to_string(options_.window)},
                                                 {"memory.content", kContentRulesVersion}});
  }

  /// The memory as the server would load it: files and their token counts.
  std::map<std::string, std::int64_t> loaded_files() {
    auto store = model::memory::store::MemoryStore::open(options_.store_dir, fields());
    EXPECT_TRUE(store) << store.error().message;
    if (!store) return {};
    auto tier = model::memory::load_tier(*store.value(), config_);
    EXPECT_TRUE(tier);
    EXPECT_TRUE(tier.value().to_reindex.empty());
    std::map<std::string, std::int64_t> out;
    for (const std::string& id : tier.value().tier->file_ids()) {
      const auto tensors = tier.value().tier->file_tensors(id);
      for (const auto& [name, t] : tensors) {
        if (name == "n_tokens") out[id] = t.item<std::int64_t>();
      }
    }
    return out;
  }

  TempDir repo_, store_;
  model::LoadedModel model_;
  MemoryIndexOptions options_;
  model::memory::ExactTierConfig config_;
};

TEST_F(MemoryIndexerTest, EveryCodeOrDocumentationFileBecomesASegmentTheTierLoads) {
  const MemoryIndexReport r = update();
  EXPECT_EQ(r.files_total, 5u);
  EXPECT_EQ(r.files_encoded, 4u);
  // The data is left out, and the report says why.
  EXPECT_EQ(r.left_out, (std::map<std::string, std::size_t>{{"data (.html)", 1}}));
  EXPECT_TRUE(r.failed.empty());
  const auto files = loaded_files();
  ASSERT_EQ(files.size(), 3u);  // the empty file has nothing to remember
  const auto tokens = [&](const std::string& text) {
    return static_cast<std::int64_t>(model_.tokenizer->encode(text, false, false).size());
  };
  EXPECT_EQ(files.at("include/geo.h"), tokens("#pragma once\nstruct Point { double x, y; };\n"));
  EXPECT_EQ(r.tokens_encoded,
            files.at("include/geo.h") + files.at("src/geo.cpp") + files.at("README.md"));
}

TEST_F(MemoryIndexerTest, ASecondRunEncodesOnlyWhatChangedAndDeletesWhatIsGone) {
  update();
  repo_.write("src/geo.cpp", "#include \"geo.h\"\ndouble norm(Point p) { return p.y; }\n");
  fs::remove(repo_.path() / "README.md");
  const MemoryIndexReport r = update();
  EXPECT_EQ(r.files_encoded, 2u);    // geo.cpp changed; the empty file is never stored
  EXPECT_EQ(r.files_unchanged, 1u);  // geo.h
  EXPECT_EQ(r.files_removed, 1u);
  const auto files = loaded_files();
  EXPECT_EQ(files.size(), 2u);
  EXPECT_EQ(files.count("README.md"), 0u);
}

TEST_F(MemoryIndexerTest, AFileWhoseStoredTokenBlocksFailTheirCheckIsEncodedAgainOnceReported) {
  update();
  {  // One byte of geo.cpp's largest tensor (a token block) flipped on disk.
    auto store = model::memory::store::MemoryStore::open(options_.store_dir, fields());
    ASSERT_TRUE(store) << store.error().message;
    auto loaded = store.value()->load();
    ASSERT_TRUE(loaded);
    for (const auto& segment : loaded.value().segments) {
      if (segment->key() != "src/geo.cpp") continue;
      const auto& tensors = segment->tensors();
      const auto largest =
          std::max_element(tensors.begin(), tensors.end(),
                           [](const auto& a, const auto& b) { return a.n_bytes < b.n_bytes; });
      std::fstream file(options_.store_dir / "segments" / segment->file_name(),
                        std::ios::in | std::ios::out | std::ios::binary);
      file.seekg(static_cast<std::streamoff>(largest->offset));
      const char byte = static_cast<char>(file.get() ^ 0x55);
      file.seekp(static_cast<std::streamoff>(largest->offset));
      file.put(byte);
    }
  }
  auto indexer = MemoryIndexer::open(model_, "tiny", options_);
  ASSERT_TRUE(indexer) << indexer.error().message;
  auto tier = indexer.value()->load_tier();
  ASSERT_TRUE(tier) << tier.error().message;
  EXPECT_EQ(tier.value().pending.size(), 3u);  // the small tensors all pass
  std::mutex lock;
  const auto problems =
      model::memory::admit_pending(*tier.value().tier, lock, tier.value().pending);
  ASSERT_EQ(problems.size(), 1u);
  EXPECT_EQ(problems[0].file_key, "src/geo.cpp");
  EXPECT_FALSE(tier.value().tier->contains("src/geo.cpp"));
  ASSERT_FALSE(indexer.value()->reindex(problems));
  auto walked = walk_repository(repo_.path());
  ASSERT_TRUE(walked);
  auto report = indexer.value()->update(repo_.path(), walked.value().files);
  ASSERT_TRUE(report) << report.error().message;
  EXPECT_EQ(report.value().files_unchanged, 2u);  // geo.h, README.md
  indexer.value().reset();
  EXPECT_EQ(loaded_files().count("src/geo.cpp"), 1u);  // every segment passes again
}

TEST_F(MemoryIndexerTest, AMemoryOfAnotherModelIsStartedOver) {
  update("tiny");
  const MemoryIndexReport other = update("another-model");
  EXPECT_TRUE(other.recreated);
  EXPECT_EQ(other.files_encoded, 4u);
  EXPECT_EQ(other.files_unchanged, 0u);
}

TEST_F(MemoryIndexerTest, AnEditorsUnsavedTextReplacesThatFilesSegmentOnly) {
  update();
  auto indexer = MemoryIndexer::open(model_, "tiny", options_);
  ASSERT_TRUE(indexer) << indexer.error().message;
  const std::string edited =
      "#include \"geo.h\"\ndouble norm(Point p) { return p.x * p.x + p.y * p.y; }\n";
  auto first = indexer.value()->update_file("src/geo.cpp", edited);
  ASSERT_TRUE(first) << first.error().message;
  EXPECT_TRUE(first.value().encoded);
  const auto tokens =
      static_cast<std::int64_t>(model_.tokenizer->encode(edited, false, false).size());
  EXPECT_EQ(first.value().tokens, tokens);
  // The same text again (the user paused twice without typing): nothing to encode.
  auto again = indexer.value()->update_file("src/geo.cpp", edited);
  ASSERT_TRUE(again);
  EXPECT_FALSE(again.value().encoded);
  indexer.value().reset();  // the store's lock: one writer at a time
  auto files = loaded_files();
  EXPECT_EQ(files.at("src/geo.cpp"), tokens);
  EXPECT_EQ(files.size(), 3u);
  // A full run afterwards sees the file on disk differ from the stored text and re-encodes
  // it alone.
  const MemoryIndexReport r = update();
  EXPECT_EQ(r.files_encoded, 2u);  // geo.cpp, and the empty file (never stored)
  EXPECT_EQ(r.files_unchanged, 2u);
}

TEST_F(MemoryIndexerTest, TheContinuousTierFoldsInEveryEncodedFileAndSurvivesAReopen) {
  options_.continuous_dir = store_.path() / "continuous";
  const MemoryIndexReport first = update();
  auto indexer = MemoryIndexer::open(model_, "tiny", options_);
  ASSERT_TRUE(indexer) << indexer.error().message;
  const auto& signals = indexer.value()->continuous_signals();
  ASSERT_EQ(signals.size(), 2u);  // one per memory layer
  std::vector<at::Tensor> saved;
  for (const auto& signal : signals) {
    EXPECT_EQ(signal.tokens(), first.tokens_encoded);  // every encoded file, reopened
    EXPECT_EQ(signal.coefficients().size(1),
              static_cast<std::int64_t>(model_.transformer->config().n_embd));
    EXPECT_GT(signal.coefficients().abs().max().item<double>(), 0.0);
    saved.push_back(signal.coefficients().clone());
  }
  indexer.value().reset();

  // Nothing changed: nothing is folded in again.
  update();
  indexer = MemoryIndexer::open(model_, "tiny", options_);
  ASSERT_TRUE(indexer);
  for (std::size_t i = 0; i < 2; ++i) {
    EXPECT_EQ(indexer.value()->continuous_signals()[i].tokens(), first.tokens_encoded);
    EXPECT_TRUE(at::equal(indexer.value()->continuous_signals()[i].coefficients(), saved[i]));
  }
  // Unsaved text goes to the file's segment but not into the stream.
  ASSERT_TRUE(indexer.value()->update_file("src/geo.cpp", "double draft;\n"));
  EXPECT_EQ(indexer.value()->continuous_signals()[0].tokens(), first.tokens_encoded);
  indexer.value().reset();

  // A changed file is folded in again: the stream grows by its tokens.
  const std::string changed = "#include \"geo.h\"\ndouble norm(Point p) { return p.y; }\n";
  repo_.write("src/geo.cpp", changed);
  update();
  indexer = MemoryIndexer::open(model_, "tiny", options_);
  ASSERT_TRUE(indexer);
  const auto added =
      static_cast<std::int64_t>(model_.tokenizer->encode(changed, false, false).size());
  EXPECT_EQ(indexer.value()->continuous_signals()[1].tokens(), first.tokens_encoded + added);
  EXPECT_FALSE(at::equal(indexer.value()->continuous_signals()[1].coefficients(), saved[1]));
}

TEST_F(MemoryIndexerTest, WithoutAContinuousFolderNoSignalIsKept) {
  update();
  auto indexer = MemoryIndexer::open(model_, "tiny", options_);
  ASSERT_TRUE(indexer);
  EXPECT_TRUE(indexer.value()->continuous_signals().empty());
}

TEST_F(MemoryIndexerTest, TypingInOneFileRereadsOnlyTheWindowsFromTheEditOn) {
  options_.window = 16;
  auto indexer = MemoryIndexer::open(model_, "tiny", options_);
  ASSERT_TRUE(indexer) << indexer.error().message;
  std::string text;
  for (int i = 0; i < 12; ++i)
    text += "double field_" + std::to_string(i) + " = " + std::to_string(i) + ";\n";
  auto first = indexer.value()->update_file("src/fields.cpp", text);
  ASSERT_TRUE(first) << first.error().message;
  EXPECT_EQ(first.value().tokens_read, first.value().tokens);  // nothing to start from
  ASSERT_GT(first.value().tokens, 64);
  text += "double field_12 = 12;\n";  // typing at the end
  auto second = indexer.value()->update_file("src/fields.cpp", text);
  ASSERT_TRUE(second) << second.error().message;
  EXPECT_LE(second.value().tokens_read, 16 + (second.value().tokens - first.value().tokens));
  EXPECT_GT(second.value().tokens_read, 0);
  config_ = indexer.value()->tier_config();
  indexer.value().reset();
  // What is stored is what a fresh encoding of the final text gives.
  EXPECT_EQ(loaded_files().at("src/fields.cpp"),
            static_cast<std::int64_t>(model_.tokenizer->encode(text, false, false).size()));
}

TEST_F(MemoryIndexerTest, EmptyUnsavedTextRemovesTheFilesSegment) {
  update();
  auto indexer = MemoryIndexer::open(model_, "tiny", options_);
  ASSERT_TRUE(indexer) << indexer.error().message;
  auto emptied = indexer.value()->update_file("README.md", "");
  ASSERT_TRUE(emptied) << emptied.error().message;
  EXPECT_TRUE(emptied.value().encoded);
  EXPECT_EQ(emptied.value().tokens, 0);
  indexer.value().reset();
  EXPECT_EQ(loaded_files().count("README.md"), 0u);
}

}  // namespace
}  // namespace mnemo::indexer
