// The exact tier through the memory store (model/memory/exact/exact_tier_store.h): a round
// trip answers as the original tier, a corrupted token byte excludes that file and reports it
// for re-indexing in both verification modes, a memory of another configuration is refused,
// and one file's segment is replaced after a reload.
#include "model/memory/exact/exact_tier_store.h"

#include <ATen/ATen.h>
#include <gtest/gtest.h>

#include <cmath>
#include <filesystem>
#include <fstream>
#include <map>
#include <memory>
#include <shared_mutex>
#include <string>
#include <vector>

#include "tests/support/temp_dir.h"

namespace mnemo::model::memory {
namespace {

namespace fs = std::filesystem;
using store::MemoryStore;
using store::StoreError;
using store::StringMap;

struct FileData {
  at::Tensor keys, values;  // [L, Hkv, n, D] float
};

ExactTierConfig small_config(ExactStorage storage) {
  ExactTierConfig c;
  c.n_layers = 2;
  c.n_head = 4;
  c.n_head_kv = 2;
  c.head_dim = 16;
  c.block_size = 8;
  c.top_k = 5;  // fewer than the blocks: selection matters too
  c.storage = storage;
  return c;
}

FileData random_file(const ExactTierConfig& c, std::int64_t n) {
  const auto l = static_cast<std::int64_t>(c.n_layers);
  return {at::randn({l, c.n_head_kv, n, c.head_dim}), at::randn({l, c.n_head_kv, n, c.head_dim})};
}

std::map<std::string, FileData> three_files(const ExactTierConfig& c) {
  at::manual_seed(7);
  // Partial last blocks, and a file smaller than one block.
  return {{"src/a.cpp", random_file(c, 45)},
          {"src/b.cpp", random_file(c, 64)},
          {"src/c.cpp", random_file(c, 5)}};
}

std::unique_ptr<ExactTier> build(const ExactTierConfig& c,
                                 const std::map<std::string, FileData>& files) {
  auto tier = std::make_unique<ExactTier>(c);
  for (const auto& [id, f] : files) tier->add_file(id, f.keys, f.values);
  return tier;
}

std::vector<MemoryQuery> queries(const ExactTierConfig& c) {
  at::manual_seed(11);
  std::vector<MemoryQuery> out;
  for (int round = 0; round < 3; ++round) {
    for (std::size_t layer = 0; layer < c.n_layers; ++layer) {
      MemoryQuery q;
      q.layer = layer;
      q.q_raw = at::randn({c.n_head, c.head_dim});
      q.q_rot = at::randn({c.n_head, c.head_dim});
      q.window_start = 1000;
      q.scale = 1.0 / std::sqrt(static_cast<double>(c.head_dim));
      out.push_back(q);
    }
  }
  return out;
}

/// The largest difference between the answers of two tiers over `qs`.
double max_difference(const ExactTier& a, const ExactTier& b, const std::vector<MemoryQuery>& qs) {
  double worst = 0;
  for (const MemoryQuery& q : qs) {
    const AttentionOutput x = a.attend(q), y = b.attend(q);
    worst = std::max(worst, (x.o - y.o).abs().max().item<double>());
    worst = std::max(worst, (x.lse - y.lse).abs().max().item<double>());
  }
  return worst;
}

std::unique_ptr<MemoryStore> create_store(const fs::path& dir, const ExactTierConfig& c) {
  auto created = MemoryStore::create(dir, store_fields(c), store::StoreOptions{false});
  EXPECT_TRUE(created) << created.error().message;
  return std::move(created).value();
}

void save_all(MemoryStore& memory_store, const ExactTier& tier) {
  for (const std::string& id : tier.file_ids()) {
    auto saved = save_file(memory_store, tier, id, {{"source", id}});
    ASSERT_TRUE(saved) << saved.error().message;
  }
}

LoadedTier load(const MemoryStore& memory_store, const ExactTierConfig& c,
                LoadTierOptions::TokenCheck check) {
  LoadTierOptions options;
  options.token_check = check;
  auto loaded = load_tier(memory_store, c, options);
  EXPECT_TRUE(loaded) << loaded.error().message;
  LoadedTier out = std::move(loaded).value();
  if (check == LoadTierOptions::TokenCheck::kDeferred) {
    EXPECT_EQ(out.tier->file_ids().size(), 0u) << "nothing enters before its bytes are verified";
    std::shared_mutex lock;
    auto problems = admit_pending(*out.tier, lock, out.pending, 2);
    out.to_reindex.insert(out.to_reindex.end(), problems.begin(), problems.end());
    out.pending.clear();
  }
  return out;
}

/// Flips one byte of `tensor_name` in `file_id`'s segment, in place.
void corrupt_tensor(const MemoryStore& memory_store, const std::string& file_id,
                    const std::string& tensor_name, std::uint64_t within) {
  std::uint64_t offset = 0;
  {
    auto loaded = memory_store.load();
    ASSERT_TRUE(loaded);
    bool found = false;
    for (const auto& segment : loaded.value().segments) {
      if (segment->key() != file_id) continue;
      for (const auto& t : segment->tensors()) {
        if (t.name == tensor_name) {
          ASSERT_LT(within, t.n_bytes);
          offset = t.offset + within;
          found = true;
        }
      }
    }
    ASSERT_TRUE(found);
  }
  const fs::path path = memory_store.dir() / "segments" / MemoryStore::segment_file_name(file_id);
  std::fstream file(path, std::ios::in | std::ios::out | std::ios::binary);
  ASSERT_TRUE(file);
  file.seekg(static_cast<std::streamoff>(offset));
  char byte = 0;
  file.read(&byte, 1);
  byte = static_cast<char>(byte ^ 0x01);
  file.seekp(static_cast<std::streamoff>(offset));
  file.write(&byte, 1);
}

class ExactTierStoreTest : public ::testing::TestWithParam<ExactStorage> {};

TEST_P(ExactTierStoreTest, ARoundTripAnswersAsTheOriginalTier) {
  for (const auto representative : {BlockRepresentative::kMean, BlockRepresentative::kMinMax}) {
    ExactTierConfig c = small_config(GetParam());
    c.representative = representative;
    const auto files = three_files(c);
    const auto original = build(c, files);
    testing::TempDir dir;
    auto memory_store = create_store(dir.path(), c);
    save_all(*memory_store, *original);
    for (const auto check :
         {LoadTierOptions::TokenCheck::kAtLoad, LoadTierOptions::TokenCheck::kDeferred}) {
      LoadedTier loaded = load(*memory_store, c, check);
      EXPECT_TRUE(loaded.to_reindex.empty());
      EXPECT_EQ(loaded.stats.segments, 3u);
      EXPECT_EQ(loaded.stats.tokens, 45 + 64 + 5);
      EXPECT_EQ(loaded.tier->file_ids(), original->file_ids());
      const ExactTierStats s = loaded.tier->stats(), o = original->stats();
      EXPECT_EQ(s.tokens, o.tokens);
      EXPECT_EQ(s.blocks, o.blocks);
      EXPECT_EQ(s.token_bytes, o.token_bytes);
      EXPECT_LE(max_difference(*original, *loaded.tier, queries(c)), 1e-6);
      // The token blocks are views of the mapping, not copies.
      const auto tensors = loaded.tier->file_tensors("src/b.cpp");
      for (const auto& [name, t] : tensors) {
        if (name == "keys") {
          EXPECT_FALSE(t.storage().resizable()) << "a mapped view";
        }
      }
    }
  }
}

TEST_P(ExactTierStoreTest, ACorruptedTokenByteExcludesThatFileAndReportsIt) {
  const ExactTierConfig c = small_config(GetParam());
  auto files = three_files(c);
  testing::TempDir dir;
  auto memory_store = create_store(dir.path(), c);
  save_all(*memory_store, *build(c, files));
  corrupt_tensor(*memory_store, "src/b.cpp", "values", 100);
  files.erase("src/b.cpp");
  const auto without_b = build(c, files);
  for (const auto check :
       {LoadTierOptions::TokenCheck::kAtLoad, LoadTierOptions::TokenCheck::kDeferred}) {
    LoadedTier loaded = load(*memory_store, c, check);
    ASSERT_EQ(loaded.to_reindex.size(), 1u);
    EXPECT_EQ(loaded.to_reindex[0].file_key, "src/b.cpp");
    EXPECT_FALSE(loaded.to_reindex[0].reason.empty());
    EXPECT_FALSE(loaded.tier->contains("src/b.cpp"));
    EXPECT_EQ(loaded.tier->file_ids(), without_b->file_ids());
    EXPECT_LE(max_difference(*without_b, *loaded.tier, queries(c)), 1e-6);
  }
}

TEST_P(ExactTierStoreTest, ACorruptedRepresentativeOrKeyByteIsCaughtToo) {
  const ExactTierConfig c = small_config(GetParam());
  for (const std::string tensor : {"representatives", "keys", "n_tokens"}) {
    SCOPED_TRACE(tensor);
    testing::TempDir dir;
    auto memory_store = create_store(dir.path(), c);
    save_all(*memory_store, *build(c, three_files(c)));
    corrupt_tensor(*memory_store, "src/a.cpp", tensor, 0);
    for (const auto check :
         {LoadTierOptions::TokenCheck::kAtLoad, LoadTierOptions::TokenCheck::kDeferred}) {
      LoadedTier loaded = load(*memory_store, c, check);
      ASSERT_EQ(loaded.to_reindex.size(), 1u);
      EXPECT_EQ(loaded.to_reindex[0].file_key, "src/a.cpp");
      EXPECT_FALSE(loaded.tier->contains("src/a.cpp"));
      EXPECT_EQ(loaded.tier->file_ids().size(), 2u);
    }
  }
}

TEST_P(ExactTierStoreTest, AMemoryOfAnotherConfigurationIsRefused) {
  const ExactTierConfig c = small_config(GetParam());
  testing::TempDir dir;
  {
    auto memory_store = create_store(dir.path(), c);
    save_all(*memory_store, *build(c, three_files(c)));
  }
  std::vector<ExactTierConfig> others(6, c);
  others[0].block_size = 16;
  others[1].storage =
      c.storage == ExactStorage::kInt8 ? ExactStorage::kFloat16 : ExactStorage::kInt8;
  others[2].representative = BlockRepresentative::kMinMax;
  others[3].head_dim = 32;
  others[4].rope_theta = 500000.0f;
  others[5].n_layers = 3;
  for (const ExactTierConfig& other : others) {
    auto opened = MemoryStore::open(dir.path(), store_fields(other));
    ASSERT_FALSE(opened);
    EXPECT_EQ(opened.error().kind, StoreError::Kind::kMismatch) << opened.error().message;
  }
  // top_k and the budget are run-time choices: the same memory.
  ExactTierConfig same = c;
  same.top_k = 2;
  same.budget_bytes = 1 << 20;
  auto opened = MemoryStore::open(dir.path(), store_fields(same));
  ASSERT_TRUE(opened) << opened.error().message;
  EXPECT_EQ(
      load(*opened.value(), same, LoadTierOptions::TokenCheck::kAtLoad).tier->file_ids().size(),
      3u);
}

TEST_P(ExactTierStoreTest, OneFileIsReplacedAfterAReload) {
  const ExactTierConfig c = small_config(GetParam());
  auto files = three_files(c);
  const auto original = build(c, files);
  testing::TempDir dir;
  auto memory_store = create_store(dir.path(), c);
  save_all(*memory_store, *original);

  LoadedTier first = load(*memory_store, c, LoadTierOptions::TokenCheck::kAtLoad);
  at::manual_seed(99);
  files["src/b.cpp"] = random_file(c, 30);
  first.tier->replace_file("src/b.cpp", files["src/b.cpp"].keys, files["src/b.cpp"].values);
  ASSERT_TRUE(save_file(*memory_store, *first.tier, "src/b.cpp", {{"source", "src/b.cpp"}}));
  // Only that segment changed; the tier that mapped the old files still answers correctly.
  const auto updated = build(c, files);
  EXPECT_LE(max_difference(*updated, *first.tier, queries(c)), 1e-6);

  LoadedTier second = load(*memory_store, c, LoadTierOptions::TokenCheck::kAtLoad);
  EXPECT_TRUE(second.to_reindex.empty());
  EXPECT_EQ(second.stats.tokens, 45 + 30 + 5);
  EXPECT_LE(max_difference(*updated, *second.tier, queries(c)), 1e-6);

  // Removing a file's segment removes it from the next load.
  ASSERT_TRUE(memory_store->remove("src/c.cpp"));
  LoadedTier third = load(*memory_store, c, LoadTierOptions::TokenCheck::kAtLoad);
  EXPECT_EQ(third.tier->file_ids(), (std::vector<std::string>{"src/a.cpp", "src/b.cpp"}));
}

TEST_P(ExactTierStoreTest, SavingAFileTheTierDoesNotHoldFails) {
  const ExactTierConfig c = small_config(GetParam());
  testing::TempDir dir;
  auto memory_store = create_store(dir.path(), c);
  const auto tier = build(c, three_files(c));
  auto saved = save_file(*memory_store, *tier, "src/missing.cpp", {});
  ASSERT_FALSE(saved);
  EXPECT_EQ(saved.error().kind, StoreError::Kind::kInvalidArgument);
}

TEST_P(ExactTierStoreTest, AdmissionKeepsAFileReindexedMeanwhile) {
  const ExactTierConfig c = small_config(GetParam());
  auto files = three_files(c);
  testing::TempDir dir;
  auto memory_store = create_store(dir.path(), c);
  save_all(*memory_store, *build(c, files));
  LoadTierOptions options;
  options.token_check = LoadTierOptions::TokenCheck::kDeferred;
  auto loaded = load_tier(*memory_store, c, options);
  ASSERT_TRUE(loaded);
  EXPECT_EQ(loaded.value().stats.files_pending, 3u);
  at::manual_seed(5);
  files["src/a.cpp"] = random_file(c, 12);
  loaded.value().tier->add_file("src/a.cpp", files["src/a.cpp"].keys, files["src/a.cpp"].values);
  std::shared_mutex lock;
  EXPECT_TRUE(admit_pending(*loaded.value().tier, lock, loaded.value().pending).empty());
  EXPECT_LE(max_difference(*build(c, files), *loaded.value().tier, queries(c)), 1e-6);
}

INSTANTIATE_TEST_SUITE_P(Storage, ExactTierStoreTest,
                         ::testing::Values(ExactStorage::kFloat16, ExactStorage::kInt8),
                         [](const auto& param_info) {
                           return param_info.param == ExactStorage::kFloat16 ? "fp16" : "int8";
                         });

}  // namespace
}  // namespace mnemo::model::memory
