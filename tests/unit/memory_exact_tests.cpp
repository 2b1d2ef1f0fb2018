// The exact tier of the long-term memory against dense attention over the same keys
// (exactness, the merge with the local window), a needle among 1M tokens, per-file segments,
// storage dtypes, the memory budget, and the CPU block kernels against plain loops.
#include "model/memory/exact/exact_tier.h"

#include <ATen/ATen.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <map>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "model/attention.h"
#include "model/memory/block_kernels.h"
#include "model/memory/exact/block_kernels_cpu.h"
#include "model/rope.h"

namespace mnemo::model::memory {
namespace {

constexpr float kNegInf = -std::numeric_limits<float>::infinity();

struct FileData {
  at::Tensor keys, values;  // [L, Hkv, n, D] float
};

ExactTierConfig small_config(ExactStorage storage = ExactStorage::kFloat32) {
  ExactTierConfig c;
  c.n_layers = 2;
  c.n_head = 4;
  c.n_head_kv = 2;
  c.head_dim = 16;
  c.block_size = 8;
  c.top_k = 100;  // covers every block unless a test lowers it
  c.storage = storage;
  c.rope_theta = 10000.0f;
  return c;
}

FileData random_file(const ExactTierConfig& c, std::int64_t n) {
  const auto l = static_cast<std::int64_t>(c.n_layers);
  return {at::randn({l, c.n_head_kv, n, c.head_dim}), at::randn({l, c.n_head_kv, n, c.head_dim})};
}

/// Dense attention over every block of `files` laid out as ExactTier lays them out when
/// top-k covers everything: blocks in (file id, block) order at the positions just before
/// window_start, each block taking C positions, the keys rotated there by the model's RoPE.
AttentionOutput dense_over_files(const ExactTierConfig& c,
                                 const std::map<std::string, FileData>& files, std::size_t layer,
                                 const at::Tensor& q_rot, std::int64_t window_start, double scale,
                                 at::Tensor* keys_out = nullptr, at::Tensor* values_out = nullptr) {
  std::int64_t n_blocks = 0;
  for (const auto& [id, f] : files) n_blocks += (f.keys.size(2) + c.block_size - 1) / c.block_size;
  const std::int64_t p0 = window_start - n_blocks * c.block_size;
  std::vector<at::Tensor> ks, vs;
  std::vector<std::int64_t> positions;
  std::int64_t block = 0;
  for (const auto& [id, f] : files) {
    const std::int64_t n = f.keys.size(2);
    for (std::int64_t t = 0; t < n; ++t) {
      positions.push_back(p0 + block * c.block_size + t % c.block_size);
      if ((t + 1) % c.block_size == 0 || t + 1 == n) ++block;
    }
    ks.push_back(f.keys[static_cast<std::int64_t>(layer)]);
    vs.push_back(f.values[static_cast<std::int64_t>(layer)]);
  }
  at::Tensor k = at::cat(ks, 1), v = at::cat(vs, 1);  // [Hkv, S, D]
  if (c.rope) {
    ModelConfig model;
    model.head_dim = static_cast<std::size_t>(c.head_dim);
    model.rope_theta = c.rope_theta;
    const RopeTables tables = rope_tables(model, window_start + 1, at::kFloat);
    const at::Tensor pos = at::tensor(positions, at::kLong);
    const at::Tensor cos = tables.cos.index_select(0, pos), sin = tables.sin.index_select(0, pos);
    k = at::addcmul(k * cos, at::roll(k, c.head_dim / 2, -1), sin);
  }
  if (keys_out != nullptr) *keys_out = k;
  if (values_out != nullptr) *values_out = v;
  return attention(q_rot.unsqueeze(1), k, v, /*causal_offset=*/-1, scale);
}

/// q rotated to `pos` by the model's RoPE: [H, D].
at::Tensor rotate(const ExactTierConfig& c, const at::Tensor& q, std::int64_t pos) {
  ModelConfig model;
  model.head_dim = static_cast<std::size_t>(c.head_dim);
  model.rope_theta = c.rope_theta;
  const RopeTables tables = rope_tables(model, pos + 1, at::kFloat);
  return apply_rope_reference(q.unsqueeze(0), tables, pos).squeeze(0);
}

void add_all(ExactTier& tier, const std::map<std::string, FileData>& files) {
  for (const auto& [id, f] : files) tier.add_file(id, f.keys, f.values);
}

MemoryQuery make_query(const ExactTierConfig& c, std::size_t layer, const at::Tensor& q_raw,
                       std::int64_t window_start) {
  MemoryQuery query;
  query.layer = layer;
  query.q_raw = q_raw;
  query.q_rot = c.rope ? rotate(c, q_raw, window_start + 3) : q_raw;
  query.window_start = window_start;
  query.scale = 1.0 / std::sqrt(static_cast<double>(c.head_dim));
  return query;
}

void expect_close(const AttentionOutput& a, const AttentionOutput& b, double tol) {
  ASSERT_EQ(a.o.sizes(), b.o.sizes());
  ASSERT_EQ(a.lse.sizes(), b.lse.sizes());
  EXPECT_LE((a.o - b.o).abs().max().item<double>(), tol);
  EXPECT_LE((a.lse - b.lse).abs().max().item<double>(), tol);
}

// ---------------------------------------------------------------------------------------
// Exactness

TEST(ExactTier, AttendEqualsDenseAttentionOverRotatedKeysWhenTopKCoversEveryBlock) {
  at::manual_seed(1);
  for (const auto representative : {BlockRepresentative::kMean, BlockRepresentative::kMinMax}) {
    for (const std::int64_t head_dim : {16, 12}) {  // 12: the loops' scalar tails
      ExactTierConfig c = small_config();
      c.representative = representative;
      c.head_dim = head_dim;
      // Partial last blocks (20 = 2.5 blocks, 5 < one block) keep their C positions.
      const std::map<std::string, FileData> files{
          {"a.cpp", random_file(c, 20)}, {"b.h", random_file(c, 16)}, {"c.cpp", random_file(c, 5)}};
      ExactTier tier(c);
      add_all(tier, files);
      for (std::size_t layer = 0; layer < 2; ++layer) {
        const MemoryQuery query = make_query(c, layer, at::randn({4, head_dim}), 1000);
        const AttentionOutput got = tier.attend(query);
        const AttentionOutput want =
            dense_over_files(c, files, layer, query.q_rot, query.window_start, query.scale);
        expect_close(got, want, 1e-5);
      }
    }
  }
}

TEST(ExactTier, AKeptChoiceIsReadByTheNextQueriesUntilTheTierChanges) {
  at::manual_seed(21);
  ExactTierConfig c = small_config();
  c.n_head = c.n_head_kv = 1;  // one head: its choice is a set of files here
  c.top_k = 2;
  std::map<std::string, FileData> files;
  for (const char* id : {"a.cpp", "b.cpp", "c.cpp", "d.cpp", "e.cpp", "f.cpp"})
    files[id] = random_file(c, c.block_size);  // one block each
  ExactTier tier(c);
  add_all(tier, files);
  const at::Tensor q1 = at::randn({1, c.head_dim}) * 4, q2 = -q1;
  const auto chosen_by = [&](const at::Tensor& q) {
    std::map<std::string, FileData> out;
    const auto retrieved = tier.retrieve(0, q);
    for (const auto& block : retrieved[0]) out[block.file_id] = files.at(block.file_id);
    return out;
  };
  const auto ids = [](const std::map<std::string, FileData>& m) {
    std::set<std::string> out;
    for (const auto& [id, f] : m) out.insert(id);
    return out;
  };
  const auto first = chosen_by(q1);
  ASSERT_EQ(first.size(), 2u);
  ASSERT_NE(ids(chosen_by(q2)), ids(first));  // else reading q1's choice would change nothing

  std::unique_ptr<MemoryChoice> kept;
  MemoryQuery query = make_query(c, 0, q1, 1000);
  query.choice = &kept;
  expect_close(tier.attend(query), tier.attend(make_query(c, 0, q1, 1000)), 1e-6);
  ASSERT_NE(kept, nullptr);
  // q2 reads the blocks q1 chose: attention over those two files alone.
  MemoryQuery next = make_query(c, 0, q2, 1001);
  next.choice = &kept;
  expect_close(tier.attend(next),
               dense_over_files(c, first, 0, next.q_rot, next.window_start, next.scale), 1e-5);
  // Another layer does not read this layer's choice.
  MemoryQuery other_layer = make_query(c, 1, q2, 1001);
  other_layer.choice = &kept;
  expect_close(tier.attend(other_layer), tier.attend(make_query(c, 1, q2, 1001)), 1e-6);

  // A change of the tier makes a kept choice stale: q2 chooses for itself.
  kept.reset();
  tier.attend(query);  // q1 chooses again
  files["g.cpp"] = random_file(c, c.block_size);
  tier.add_file("g.cpp", files["g.cpp"].keys, files["g.cpp"].values);
  expect_close(tier.attend(next), tier.attend(make_query(c, 0, q2, 1001)), 1e-6);
}

TEST(ExactTier, ConcurrentAttendCallsGiveTheSerialResults) {
  at::manual_seed(14);
  ExactTierConfig c = small_config(ExactStorage::kFloat16);
  c.top_k = 3;
  ExactTier tier(c);
  for (int i = 0; i < 8; ++i) {
    const FileData f = random_file(c, 50);
    tier.add_file("f" + std::to_string(i), f.keys, f.values);
  }
  std::vector<MemoryQuery> queries;
  std::vector<AttentionOutput> serial;
  for (int i = 0; i < 16; ++i) {
    queries.push_back(make_query(c, static_cast<std::size_t>(i % 2), at::randn({4, 16}), 100 + i));
    serial.push_back(tier.attend(queries.back()));
  }
  std::vector<std::vector<AttentionOutput>> results(4);
  std::vector<std::thread> threads;
  for (std::size_t t = 0; t < 4; ++t) {
    threads.emplace_back([&, t] {
      for (int round = 0; round < 10; ++round) {
        for (const auto& q : queries) results[t].push_back(tier.attend(q));
      }
    });
  }
  for (auto& t : threads) t.join();
  for (const auto& r : results) {
    ASSERT_EQ(r.size(), 160u);
    for (std::size_t i = 0; i < r.size(); ++i) expect_close(r[i], serial[i % 16], 0);
  }
}

TEST(ExactTier, NegativePositionsBeforeASmallWindowStartAreAllowed) {
  at::manual_seed(2);
  const ExactTierConfig c = small_config();
  const std::map<std::string, FileData> files{{"a.cpp", random_file(c, 40)}};
  ExactTier tier(c);
  add_all(tier, files);
  // Window at 10: the 40 retrieved tokens sit at -30..9. Dense reference at window 1000
  // with the query rotated by the same amount: only relative positions matter.
  MemoryQuery query = make_query(c, 0, at::randn({4, 16}), 10);
  MemoryQuery shifted = make_query(c, 0, query.q_raw, 1000);
  const AttentionOutput got = tier.attend(query);
  const AttentionOutput want = tier.attend(shifted);
  expect_close(got, want, 1e-5);
  expect_close(want, dense_over_files(c, files, 0, shifted.q_rot, 1000, shifted.scale), 1e-5);
}

TEST(ExactTier, MergingWithTheLocalWindowEqualsDenseAttentionOverMemoryAndWindow) {
  at::manual_seed(3);
  const ExactTierConfig c = small_config();
  const std::map<std::string, FileData> files{{"a.cpp", random_file(c, 24)},
                                              {"b.cpp", random_file(c, 13)}};
  ExactTier tier(c);
  add_all(tier, files);
  const std::int64_t window_start = 500, window = 7;
  const double scale = 0.25;
  // The local window: keys at window_start..window_start+6, the query at the last one.
  ModelConfig model;
  model.head_dim = 16;
  model.rope_theta = c.rope_theta;
  const RopeTables tables = rope_tables(model, window_start + window, at::kFloat);
  const at::Tensor local_k = apply_rope_reference(at::randn({window, 2, 16}), tables, window_start)
                                 .transpose(0, 1)
                                 .contiguous();  // [Hkv, W, D]
  const at::Tensor local_v = at::randn({2, window, 16});
  const at::Tensor q_raw = at::randn({4, 16});
  MemoryQuery query;
  query.layer = 1;
  query.q_raw = q_raw;
  query.q_rot =
      apply_rope_reference(q_raw.unsqueeze(0), tables, window_start + window - 1).squeeze(0);
  query.window_start = window_start;
  query.scale = scale;

  const AttentionOutput local = attention(query.q_rot.unsqueeze(1), local_k, local_v, -1, scale);
  const AttentionOutput merged = merge_attention({local, tier.attend(query)});

  at::Tensor memory_k, memory_v;
  dense_over_files(c, files, 1, query.q_rot, window_start, scale, &memory_k, &memory_v);
  const AttentionOutput dense = attention(query.q_rot.unsqueeze(1), at::cat({memory_k, local_k}, 1),
                                          at::cat({memory_v, local_v}, 1), -1, scale);
  expect_close(merged, dense, 1e-5);
}

TEST(ExactTier, EmptyMemoryReturnsMinusInfinityAndZerosSoMergingChangesNothing) {
  const ExactTierConfig c = small_config();
  ExactTier tier(c);
  const MemoryQuery query = make_query(c, 0, at::randn({4, 16}), 100);
  const AttentionOutput out = tier.attend(query);
  EXPECT_EQ(out.o.sizes(), (std::vector<std::int64_t>{4, 1, 16}));
  EXPECT_TRUE(at::all(out.lse == kNegInf).item<bool>());
  EXPECT_TRUE(at::all(out.o == 0).item<bool>());
}

// ---------------------------------------------------------------------------------------
// Retrieval

TEST(ExactTier, RetrievesANeedleBlockAmongAMillionRandomKeyTokens) {
  at::manual_seed(4);
  ExactTierConfig c;
  c.n_layers = 1;
  c.n_head = 2;
  c.n_head_kv = 2;
  c.head_dim = 64;
  c.block_size = 64;
  c.top_k = 8;
  c.rope = false;
  ExactTier tier(c);
  const std::int64_t files = 16, per_file = 62'500;  // 1M tokens
  tier.reserve(files * per_file);
  for (std::int64_t i = 0; i < files; ++i) {
    tier.add_file("hay" + std::to_string(100 + i), at::randn({1, 2, per_file, 64}),
                  at::randn({1, 2, per_file, 64}));
  }
  const at::Tensor q = at::randn({2, 64});
  // The needle: 64 keys along the query (per head) plus noise, values all 1.
  const at::Tensor needle_k =
      (0.6 * q.unsqueeze(1) + 0.5 * at::randn({2, 64, 64})).unsqueeze(0);  // [1, 2, 64, 64]
  tier.add_file("needle.cpp", needle_k, at::ones({1, 2, 64, 64}));
  EXPECT_EQ(tier.stats().tokens, files * per_file + 64);

  const auto retrieved = tier.retrieve(0, q);
  for (const auto& head : retrieved) {
    ASSERT_EQ(head.size(), 8u);
    EXPECT_TRUE(std::any_of(head.begin(), head.end(), [](const auto& b) {
      return b.file_id == "needle.cpp" && b.block == 0;
    }));
  }
  // The default selection (kQuantized) pruned with its int8 bounds, not by a flat scan.
  EXPECT_EQ(c.selection, BlockSelection::kQuantized);
  EXPECT_EQ(tier.stats().selection_fallbacks, 0u);
  MemoryQuery query;
  query.q_raw = q;
  query.q_rot = q;
  query.window_start = 0;
  query.scale = 1.0 / 8;
  const AttentionOutput out = tier.attend(query);
  // Dominated by the needle's values: o ≈ p_needle · 1 + (1 - p_needle) · noise.
  for (std::int64_t h = 0; h < 2; ++h) {
    EXPECT_GT(out.o[h][0].mean().item<double>(), 0.8) << "head " << h;
  }
}

/// Per head, the (file, block) pairs retrieve() returns, as sets.
std::vector<std::set<std::pair<std::string, std::int64_t>>> retrieved_sets(const ExactTier& tier,
                                                                           std::size_t layer,
                                                                           const at::Tensor& q) {
  std::vector<std::set<std::pair<std::string, std::int64_t>>> out;
  for (const auto& head : tier.retrieve(layer, q)) {
    out.emplace_back();
    for (const auto& b : head) out.back().emplace(b.file_id, b.block);
  }
  return out;
}

TEST(ExactTier, QuantizedSelectionChoosesTheFlatScansBlocksThroughEditsOfTheMemory) {
  at::manual_seed(16);
  for (const auto representative : {BlockRepresentative::kMean, BlockRepresentative::kMinMax}) {
    for (const std::int64_t head_dim : {64, 12}) {
      ExactTierConfig c = small_config(ExactStorage::kFloat16);
      c.representative = representative;
      c.head_dim = head_dim;
      c.top_k = 4;
      c.rope = false;
      ExactTierConfig flat_config = c;
      flat_config.selection = BlockSelection::kFlat;
      ASSERT_EQ(c.selection, BlockSelection::kQuantized);
      ExactTier quantized(c), flat(flat_config);
      auto add = [&](const std::string& id, std::int64_t n, double key_scale) {
        FileData f = random_file(c, n);
        f.keys.mul_(key_scale);  // blocks of different scales: per-block int8 scales
        quantized.add_file(id, f.keys, f.values);
        flat.add_file(id, f.keys, f.values);
      };
      for (int i = 0; i < 24; ++i) add("f" + std::to_string(i), 40 + 37 * i, 0.5 + 0.1 * i);
      auto check = [&](const char* when) {
        for (int trial = 0; trial < 40; ++trial) {
          const auto layer = static_cast<std::size_t>(trial % 2);
          // Queries of very different norms; some along a stored key (a clear winner).
          at::Tensor q = at::randn({4, head_dim}) * std::pow(10.0, trial % 5 - 2);
          if (trial % 3 == 0) q[1] = at::randn({head_dim}) * 0.1 + 3;
          EXPECT_EQ(retrieved_sets(quantized, layer, q), retrieved_sets(flat, layer, q))
              << when << " trial " << trial;
        }
      };
      check("after adding");
      // Replace, remove and add (the int8 copies are rewritten and moved with the fp16 ones).
      add("f3", 500, 2.0);
      EXPECT_TRUE(quantized.remove_file("f7") && flat.remove_file("f7"));
      EXPECT_TRUE(quantized.remove_file("f0") && flat.remove_file("f0"));
      add("g", 333, 1.0);
      check("after editing");
      EXPECT_EQ(quantized.stats().selection_fallbacks, 0u);
      const std::int64_t blocks = quantized.stats().blocks;
      // kQuantized holds D + 4 bytes per block, layer and kv head more (8 for min/max).
      EXPECT_GT(quantized.stats().representative_bytes, flat.stats().representative_bytes);
      EXPECT_GE(static_cast<std::int64_t>(quantized.stats().representative_bytes -
                                          flat.stats().representative_bytes),
                blocks * 2 * 2 * head_dim);
      // Attention over the chosen blocks agrees too.
      const MemoryQuery query = make_query(c, 1, at::randn({4, head_dim}), 900);
      expect_close(quantized.attend(query), flat.attend(query), 0);
    }
  }
}

TEST(ExactTier, QuantizedSelectionFallsBackToTheFlatScanWhenItsBoundsCannotPrune) {
  at::manual_seed(17);
  ExactTierConfig c = small_config(ExactStorage::kFloat16);
  c.top_k = 4;
  c.rope = false;
  ExactTierConfig flat_config = c;
  flat_config.selection = BlockSelection::kFlat;
  ExactTier quantized(c), flat(flat_config);
  // 400 blocks with one and the same key: every block scores the same, nothing is pruned.
  const at::Tensor same = at::randn({2, 2, 1, 16}).expand({2, 2, 3200, 16}).contiguous();
  const at::Tensor values = at::randn({2, 2, 3200, 16});
  quantized.add_file("same", same, values);
  flat.add_file("same", same, values);
  const at::Tensor q = at::randn({4, 16});
  EXPECT_EQ(retrieved_sets(quantized, 0, q), retrieved_sets(flat, 0, q));
  EXPECT_EQ(quantized.stats().selection_fallbacks, 1u);
  // A zero query: every bound is 0 (flat scores tie too).
  EXPECT_EQ(retrieved_sets(quantized, 1, at::zeros({4, 16})),
            retrieved_sets(flat, 1, at::zeros({4, 16})));
}

// ---------------------------------------------------------------------------------------
// Segments

TEST(ExactTier, ReplaceAndRemoveChangeOnlyThatFileAndMatchATierBuiltFromScratch) {
  at::manual_seed(5);
  ExactTierConfig c = small_config(ExactStorage::kFloat16);
  c.top_k = 3;  // fewer than the blocks: selection matters
  const FileData a = random_file(c, 30), b = random_file(c, 17), b2 = random_file(c, 41),
                 cc = random_file(c, 9), d = random_file(c, 9);
  ExactTier edited(c);
  edited.add_file("a", a.keys, a.values);
  edited.add_file("b", b.keys, b.values);
  edited.add_file("c", cc.keys, cc.values);
  edited.replace_file("b", b2.keys, b2.values);
  EXPECT_TRUE(edited.remove_file("c"));
  EXPECT_FALSE(edited.remove_file("c"));
  edited.add_file("d", d.keys, d.values);

  ExactTier scratch(c);
  scratch.add_file("d", d.keys, d.values);  // a different insertion order on purpose
  scratch.add_file("b", b2.keys, b2.values);
  scratch.add_file("a", a.keys, a.values);

  EXPECT_EQ(edited.file_ids(), (std::vector<std::string>{"a", "b", "d"}));
  EXPECT_EQ(edited.stats().tokens, 30 + 41 + 9);
  EXPECT_EQ(edited.stats().blocks, 4 + 6 + 2);
  EXPECT_EQ(edited.stats().token_bytes, scratch.stats().token_bytes);
  for (int trial = 0; trial < 20; ++trial) {
    const MemoryQuery query =
        make_query(c, static_cast<std::size_t>(trial % 2), at::randn({4, 16}), 300);
    expect_close(edited.attend(query), scratch.attend(query), 1e-6);
    const auto re = edited.retrieve(query.layer, query.q_raw),
               rs = scratch.retrieve(query.layer, query.q_raw);
    for (std::size_t h = 0; h < re.size(); ++h) {
      ASSERT_EQ(re[h].size(), rs[h].size());
      for (std::size_t j = 0; j < re[h].size(); ++j) {
        EXPECT_EQ(re[h][j].file_id, rs[h][j].file_id);
        EXPECT_EQ(re[h][j].block, rs[h][j].block);
      }
    }
  }
}

TEST(ExactTier, RemovingThenAddingAFileReusesRepresentativeSpace) {
  at::manual_seed(6);
  ExactTierConfig c = small_config(ExactStorage::kFloat16);
  ExactTier tier(c);
  for (int i = 0; i < 50; ++i) {
    const FileData f = random_file(c, 160);
    tier.add_file("f" + std::to_string(i), f.keys, f.values);
  }
  const ExactTierStats before = tier.stats();
  for (int round = 0; round < 10; ++round) {
    EXPECT_TRUE(tier.remove_file("f" + std::to_string(round)));
    const FileData f = random_file(c, 160);
    tier.add_file("g" + std::to_string(round), f.keys, f.values);
  }
  const ExactTierStats after = tier.stats();
  EXPECT_EQ(after.blocks, before.blocks);
  EXPECT_EQ(after.representative_bytes, before.representative_bytes);
  EXPECT_EQ(after.token_bytes, before.token_bytes);
}

TEST(ExactTier, FileTensorsRestoreAnEqualTier) {
  at::manual_seed(7);
  for (const auto storage : {ExactStorage::kFloat16, ExactStorage::kInt8}) {
    ExactTierConfig c = small_config(storage);
    c.top_k = 4;
    ExactTier original(c), restored(c);
    for (const char* id : {"x.cpp", "y.cpp", "z.h"}) {
      const FileData f = random_file(c, 27);
      original.add_file(id, f.keys, f.values);
    }
    for (const auto& id : original.file_ids()) {
      restored.add_file_from_tensors(id, original.file_tensors(id));
    }
    EXPECT_TRUE(original.file_tensors("absent").empty());
    const MemoryQuery query = make_query(c, 1, at::randn({4, 16}), 200);
    expect_close(original.attend(query), restored.attend(query), 0);
    auto broken = original.file_tensors("x.cpp");
    broken.erase(broken.begin() + 1);  // no "keys"
    EXPECT_THROW(restored.add_file_from_tensors("x.cpp", broken), std::invalid_argument);
  }
}

TEST(ExactTier, ABatchOfFileTensorsEqualsAddingThemOneByOne) {
  at::manual_seed(17);
  for (const auto storage : {ExactStorage::kFloat16, ExactStorage::kInt8}) {
    for (const auto rep : {BlockRepresentative::kMean, BlockRepresentative::kMinMax}) {
      ExactTierConfig c = small_config(storage);
      c.representative = rep;
      c.top_k = 3;
      ExactTier original(c), one_by_one(c), batched(c);
      // Sizes with partial blocks, an empty file, and more blocks than one tile (16).
      const std::vector<std::int64_t> sizes{27, 0, 16 * 9 + 5, 8, 100};
      for (std::size_t i = 0; i < sizes.size(); ++i) {
        const FileData f = random_file(c, sizes[i]);
        original.add_file("f" + std::to_string(i), f.keys, f.values);
      }
      std::vector<ExactTier::FileTensors> batch;
      for (const auto& id : original.file_ids()) {
        one_by_one.add_file_from_tensors(id, original.file_tensors(id));
        batch.push_back({id, original.file_tensors(id)});
      }
      // A file already in the tier is replaced by the batch's version.
      const FileData stale = random_file(c, 40);
      batched.add_file("f4", stale.keys, stale.values);
      EXPECT_TRUE(batched.add_files_from_tensors(batch).empty());

      EXPECT_EQ(batched.file_ids(), one_by_one.file_ids());
      const ExactTierStats a = one_by_one.stats(), b = batched.stats();
      EXPECT_EQ(b.blocks, a.blocks);
      EXPECT_EQ(b.tokens, a.tokens);
      EXPECT_EQ(b.token_bytes, a.token_bytes);
      for (int trial = 0; trial < 4; ++trial) {
        const MemoryQuery query = make_query(c, trial % 2, at::randn({4, 16}), 300);
        expect_close(one_by_one.attend(query), batched.attend(query), 0);
        const auto ra = one_by_one.retrieve(query.layer, query.q_raw);
        const auto rb = batched.retrieve(query.layer, query.q_raw);
        ASSERT_EQ(ra.size(), rb.size());
        for (std::size_t h = 0; h < ra.size(); ++h) {
          ASSERT_EQ(ra[h].size(), rb[h].size());
          for (std::size_t j = 0; j < ra[h].size(); ++j) {
            EXPECT_EQ(ra[h][j].file_id, rb[h][j].file_id);
            EXPECT_EQ(ra[h][j].block, rb[h][j].block);
          }
        }
      }
    }
  }
}

TEST(ExactTier, ABatchReportsARefusedFileAndAddsTheOthers) {
  at::manual_seed(18);
  ExactTierConfig c = small_config(ExactStorage::kFloat16);
  ExactTier original(c), restored(c);
  for (const char* id : {"a.cpp", "b.cpp", "c.cpp"}) {
    const FileData f = random_file(c, 70);
    original.add_file(id, f.keys, f.values);
  }
  std::vector<ExactTier::FileTensors> batch;
  for (const auto& id : original.file_ids()) batch.push_back({id, original.file_tensors(id)});
  batch[1].tensors.erase(batch[1].tensors.begin() + 1);  // b.cpp without "keys"
  for (auto& [name, t] : batch[2].tensors) {
    if (name == "representatives") t = t.narrow(2, 0, 1);  // c.cpp: a block short
  }
  const auto refused = restored.add_files_from_tensors(batch);
  ASSERT_EQ(refused.size(), 2u);
  EXPECT_EQ(refused[0].index, 1u);
  EXPECT_NE(refused[0].reason.find("keys"), std::string::npos) << refused[0].reason;
  EXPECT_EQ(refused[1].index, 2u);
  EXPECT_NE(refused[1].reason.find("representatives"), std::string::npos) << refused[1].reason;
  EXPECT_EQ(restored.file_ids(), std::vector<std::string>{"a.cpp"});
  EXPECT_EQ(restored.stats().blocks, (70 + c.block_size - 1) / c.block_size);
}

// ---------------------------------------------------------------------------------------
// Storage dtypes

TEST(ExactTier, HalfBFloat16AndInt8StorageStayWithinStatedTolerancesOfFloat32) {
  at::manual_seed(8);
  const ExactTierConfig base = small_config(ExactStorage::kFloat32);
  std::map<std::string, FileData> files;
  for (int i = 0; i < 6; ++i) files["f" + std::to_string(i)] = random_file(base, 37);
  ExactTier exact(base);
  add_all(exact, files);
  // Unit-normal keys and values, |q| ~ 4: fp16 rounds to 2^-11, bf16 to 2^-8, int8 to
  // max|x|/254 per token and head.
  const std::vector<std::pair<ExactStorage, double>> cases{
      {ExactStorage::kFloat16, 3e-3}, {ExactStorage::kBFloat16, 3e-2}, {ExactStorage::kInt8, 3e-2}};
  for (const auto& [storage, tol] : cases) {
    ExactTier tier(small_config(storage));
    add_all(tier, files);
    for (int trial = 0; trial < 10; ++trial) {
      const MemoryQuery query = make_query(base, 0, at::randn({4, 16}), 400);
      expect_close(tier.attend(query), exact.attend(query), tol);
    }
  }
}

// ---------------------------------------------------------------------------------------
// Budget

TEST(ExactTier, BudgetDropsTheLeastRecentlyRetrievedFilesAndKeepsAnswering) {
  at::manual_seed(9);
  ExactTierConfig c = small_config(ExactStorage::kFloat16);
  c.top_k = 1;
  c.rope = false;
  const FileData a = random_file(c, 64), b = random_file(c, 64), d = random_file(c, 64);
  // One file's token blocks: 2 layers x 2 heads x 64 tokens x 16 x 2 bytes x (k + v).
  const std::uint64_t file_bytes = 2 * 2 * 64 * 16 * 2 * 2;
  {
    ExactTier probe(c);
    probe.add_file("a", a.keys, a.values);
    c.budget_bytes = probe.stats().representative_bytes + 2 * file_bytes + file_bytes / 2;
  }
  ExactTier tier(c);
  tier.add_file("a", a.keys, a.values);
  tier.add_file("b", b.keys, b.values);
  EXPECT_EQ(tier.stats().dropped_files, 0);
  // Retrieve from "a" only: a query along a's first block mean.
  MemoryQuery query;
  query.layer = 0;
  query.q_raw = a.keys[0].narrow(1, 0, 8).mean(1) * 4;  // [Hkv=2, D] -> heads 0..3 by group
  query.q_raw = query.q_raw.repeat_interleave(2, 0);
  query.q_rot = query.q_raw;
  query.scale = 0.25;
  for (const auto& head : tier.retrieve(0, query.q_raw)) {
    EXPECT_TRUE(
        std::any_of(head.begin(), head.end(), [](const auto& r) { return r.file_id == "a"; }));
  }
  tier.attend(query);
  tier.add_file("d", d.keys, d.values);  // over budget: "b" was retrieved least recently
  const ExactTierStats s = tier.stats();
  EXPECT_TRUE(tier.is_dropped("b"));
  EXPECT_FALSE(tier.is_dropped("a"));
  EXPECT_FALSE(tier.is_dropped("d"));
  EXPECT_EQ(s.dropped_files, 1);
  EXPECT_EQ(s.dropped_tokens, 64);
  EXPECT_EQ(s.resident_tokens, 128);
  EXPECT_LE(s.resident_bytes, c.budget_bytes);
  EXPECT_TRUE(tier.file_tensors("b").empty());
  // Answers as a tier holding only the resident files would.
  ExactTierConfig unlimited = c;
  unlimited.budget_bytes = 0;
  ExactTier reference(unlimited);
  reference.add_file("a", a.keys, a.values);
  reference.add_file("d", d.keys, d.values);
  for (int trial = 0; trial < 5; ++trial) {
    MemoryQuery q = make_query(c, 1, at::randn({4, 16}), 50);
    expect_close(tier.attend(q), reference.attend(q), 1e-6);
  }
  // Adding "b" again makes it resident (and drops the least recently used other file).
  tier.add_file("b", b.keys, b.values);
  EXPECT_FALSE(tier.is_dropped("b"));
  EXPECT_EQ(tier.stats().dropped_files, 1);
  EXPECT_LE(tier.stats().resident_bytes, c.budget_bytes);
}

TEST(ExactTier, AFileLargerThanTheBudgetKeepsOnlyItsRepresentatives) {
  at::manual_seed(10);
  ExactTierConfig c = small_config(ExactStorage::kFloat16);
  c.budget_bytes = 256 * 1024;  // the representative buffers take 128 KiB
  ExactTier tier(c);
  const FileData big = random_file(c, 2000);  // 1 MB of token blocks
  tier.add_file("big", big.keys, big.values);
  EXPECT_TRUE(tier.is_dropped("big"));
  EXPECT_EQ(tier.stats().token_bytes, 0u);
  const AttentionOutput out = tier.attend(make_query(c, 0, at::randn({4, 16}), 10));
  EXPECT_TRUE(at::all(out.lse == kNegInf).item<bool>());
}

// ---------------------------------------------------------------------------------------
// Block kernels against plain loops

at::Tensor score_reference(const at::Tensor& q, const at::Tensor& reps) {
  const std::int64_t h = q.size(0), group = h / reps.size(0);
  at::Tensor out = at::empty({h, reps.size(1)});
  for (std::int64_t i = 0; i < h; ++i) {
    out[i] = at::mv(reps[i / group].to(at::kFloat), q[i]);
  }
  return out;
}

TEST(BlockKernels, ScoreBlocksMatchesPerHeadMatVecForEveryDtypeLayoutAndGroupSize) {
  at::manual_seed(11);
  for (const std::int64_t h_kv : {1, 2}) {
    for (const std::int64_t group : {1, 2, 3, 4, 5}) {
      for (const std::int64_t b : {1, 37, 1000, 5000}) {
        for (const auto dtype : {at::kFloat, at::kHalf, at::kBFloat16}) {
          const at::Tensor q = at::randn({h_kv * group, 24});
          const at::Tensor rows = at::randn({h_kv, b, 24}).to(dtype);
          const at::Tensor dim_major = rows.transpose(1, 2).contiguous().transpose(1, 2);
          const at::Tensor want = score_reference(q, rows);
          EXPECT_TRUE(at::allclose(score_blocks(q, rows), want, 1e-4, 1e-4));
          EXPECT_TRUE(at::allclose(score_blocks(q, dim_major), want, 1e-4, 1e-4))
              << "Hkv " << h_kv << " G " << group << " B " << b << " " << dtype;
        }
      }
    }
  }
}

TEST(BlockKernels, ScoringTiledRepresentativesMatchesPerHeadMatVec) {
  at::manual_seed(15);
  for (const std::int64_t group : {1, 2, 3, 4, 5}) {
    for (const std::int64_t b : {1, 16, 37, 5000}) {
      for (const auto dtype : {at::kFloat, at::kHalf, at::kBFloat16}) {
        const std::int64_t tiles = (b + 15) / 16 + 1;  // a spare tile: capacity past b
        const at::Tensor rows = at::randn({2, tiles * 16, 24}).to(dtype);
        // [Hkv, T*16, D] -> [Hkv, T, D, 16]
        const at::Tensor tiled = rows.view({2, tiles, 16, 24}).transpose(2, 3).contiguous();
        const at::Tensor q = at::randn({2 * group, 24});
        at::Tensor out = at::empty({2 * group, b});
        cpu::score_tiles_into(q, tiled, b, out);
        EXPECT_TRUE(at::allclose(out, score_reference(q, rows.narrow(1, 0, b)), 1e-4, 1e-4))
            << "G " << group << " B " << b << " " << dtype;
      }
    }
  }
}

TEST(BlockKernels, DistanceScoresAreTwiceTheDotProductLessTheSquaredNormOfEachRow) {
  at::manual_seed(16);
  // 256 and 24: the vector loop (multiples of 8); 13: the portable one. 5000 rows: several
  // threads' ranges.
  for (const std::int64_t e : {256, 24, 13}) {
    for (const std::int64_t n : {1, 7, 5000}) {
      const at::Tensor states = at::randn({n, e}).to(at::kHalf);
      const at::Tensor q = at::randn({e});
      std::vector<const c10::Half*> rows;
      for (std::int64_t i = n - 1; i >= 0; --i)  // any order, as the rows lie anywhere
        rows.push_back(states.data_ptr<c10::Half>() + i * e);
      std::vector<float> out(static_cast<std::size_t>(n));
      cpu::distance_scores(q.data_ptr<float>(), e, rows.data(), n, out.data());
      const at::Tensor k = states.to(at::kFloat).flip(0);
      const at::Tensor expected = 2 * at::mv(k, q) - k.pow(2).sum(1);
      EXPECT_TRUE(at::allclose(at::tensor(out), expected, 1e-4, 1e-3)) << "E " << e << " n " << n;
    }
  }
}

TEST(BlockKernels, DistanceScoresWithNormsComputedOnceAreTheSameBits) {
  at::manual_seed(17);
  for (const std::int64_t e : {256, 24, 13}) {
    for (const std::int64_t n : {1, 7, 5000}) {
      const at::Tensor states = at::randn({n, e}).to(at::kHalf);
      const at::Tensor q = at::randn({e});
      std::vector<const c10::Half*> rows;
      for (std::int64_t i = 0; i < n; ++i) rows.push_back(states.data_ptr<c10::Half>() + i * e);
      std::vector<float> fused(static_cast<std::size_t>(n)), norms(static_cast<std::size_t>(n)),
          normed(static_cast<std::size_t>(n));
      cpu::distance_scores(q.data_ptr<float>(), e, rows.data(), n, fused.data());
      cpu::state_norms(e, rows.data(), n, norms.data());
      cpu::distance_scores(q.data_ptr<float>(), e, rows.data(), norms.data(), n, normed.data());
      // Bit for bit: the next-token read's top neighbours and their order must not depend on
      // which of the two a step used.
      EXPECT_EQ(fused, normed) << "E " << e << " n " << n;
      const at::Tensor expected = states.to(at::kFloat).pow(2).sum(1);
      EXPECT_TRUE(at::allclose(at::tensor(norms), expected, 1e-4, 1e-3)) << "E " << e;
    }
  }
}

TEST(BlockKernels, TopKBlocksReturnsTheIndicesOfTheKHighestScores) {
  at::manual_seed(12);
  for (const std::int64_t b : {5, 100, 100000}) {
    const at::Tensor scores = at::randn({4, b});
    const at::Tensor got = top_k_blocks(scores, 8);
    const std::int64_t k = std::min<std::int64_t>(8, b);
    ASSERT_EQ(got.sizes(), (std::vector<std::int64_t>{4, k}));
    const at::Tensor want = std::get<1>(at::topk(scores, k, 1));
    EXPECT_TRUE(at::equal(std::get<0>(got.sort(1)), std::get<0>(want.sort(1))));
  }
  // NaN never wins over a number.
  at::Tensor scores = at::zeros({1, 6});
  scores[0][2] = NAN;
  scores[0][4] = 1;
  EXPECT_EQ(top_k_blocks(scores, 1).item<std::int64_t>(), 4);
}

AttentionOutput attend_reference(const at::Tensor& q, const at::Tensor& keys,
                                 const at::Tensor& values, const at::Tensor& selected,
                                 const at::Tensor& valid) {
  const std::int64_t h = q.size(0), d = q.size(1), group = h / keys.size(0);
  at::Tensor o = at::zeros({h, 1, d}), lse = at::full({h, 1}, kNegInf);
  for (std::int64_t i = 0; i < h; ++i) {
    std::vector<at::Tensor> ks, vs;
    for (std::int64_t j = 0; j < selected.size(1); ++j) {
      const std::int64_t blk = selected[i][j].item<std::int64_t>();
      const std::int64_t n = valid[i / group][blk].item<std::int64_t>();
      ks.push_back(keys[i / group][blk].narrow(0, 0, n).to(at::kFloat));
      vs.push_back(values[i / group][blk].narrow(0, 0, n).to(at::kFloat));
    }
    const at::Tensor k = at::cat(ks), v = at::cat(vs);
    if (k.size(0) == 0) continue;
    const at::Tensor s = at::mv(k, q[i]);
    o[i][0] = at::mv(v.t(), at::softmax(s, 0));
    lse[i][0] = at::logsumexp(s, 0);
  }
  return {o, lse};
}

TEST(BlockKernels, AttendBlocksMatchesALoopOverHeadsWithPartialBlocks) {
  at::manual_seed(13);
  for (const auto dtype : {at::kFloat, at::kHalf, at::kBFloat16}) {
    const at::Tensor keys = at::randn({2, 10, 8, 16}).to(dtype);
    const at::Tensor values = at::randn({2, 10, 8, 16}).to(dtype);
    at::Tensor valid = at::full({2, 10}, 8, at::kInt);
    valid[0][3] = 5;
    valid[1][7] = 1;
    valid[1][2] = 0;
    const at::Tensor q = at::randn({6, 16});
    const at::Tensor selected =
        at::tensor({3, 0, 7, 3, 9, 2, 2, 7, 1, 7, 0, 5, 3, 4, 6, 7, 8, 9}, at::kLong).view({6, 3});
    const AttentionOutput got = attend_blocks(q, keys, values, selected, valid);
    const AttentionOutput want = attend_reference(q, keys, values, selected, valid);
    expect_close(got, want, 1e-5);
  }
  // A head whose blocks hold no token: lse = -inf, o = 0.
  const at::Tensor keys = at::randn({1, 2, 4, 8}), values = at::randn({1, 2, 4, 8});
  const AttentionOutput empty =
      attend_blocks(at::randn({1, 8}), keys, values, at::tensor({0, 1}, at::kLong).view({1, 2}),
                    at::zeros({1, 2}, at::kInt));
  EXPECT_EQ(empty.lse.item<float>(), kNegInf);
  EXPECT_TRUE(at::all(empty.o == 0).item<bool>());
}

}  // namespace
}  // namespace mnemo::model::memory
