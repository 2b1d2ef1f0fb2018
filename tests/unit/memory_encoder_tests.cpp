// A file into the long-term memory through the model (indexer/memory_encoder.h): chunked
// forward passes give the keys of one pass per window, windows are contexts of their own,
// and what comes out goes into the exact tier, whose retrieval finds it again.
#include <ATen/ATen.h>
#include <c10/core/InferenceMode.h>
#include <gtest/gtest.h>

#include <filesystem>
#include <string>

#include "indexer/memory_encoder.h"
#include "model/kv_cache.h"
#include "model/memory/exact/exact_tier.h"
#include "model/model_config.h"
#include "model/model_loader.h"

namespace mnemo::indexer {
namespace {

namespace fs = std::filesystem;
const fs::path kModel = fs::path(MNEMO_FIXTURES_DIR) / "tiny-models" / "tiny-llama-256.F32.gguf";

model::LoadedModel load() {
  auto loaded = model::load_model(kModel.string());
  EXPECT_TRUE(loaded) << loaded.error().message;
  return loaded ? loaded.value() : model::LoadedModel{};
}

model::Tokens some_tokens(std::size_t n) {
  model::Tokens t(n);
  for (std::size_t i = 0; i < n; ++i) t[i] = static_cast<model::TokenId>((13 * i + 7) % 500);
  return t;
}

/// The tapped keys/values [L, Hkv, n, D] of one forward pass over `tokens` from an empty cache.
std::pair<at::Tensor, at::Tensor> one_pass(const model::Transformer& t, const model::Tokens& tokens,
                                           const std::vector<std::size_t>& layers) {
  const c10::InferenceMode guard;
  model::KvCache cache(t.config(), tokens.size(), t.options());
  model::KeyValueTap tap;
  tap.layers = layers;
  t.forward(tokens, cache, false, &tap);
  return {at::stack(tap.keys), at::stack(tap.values)};
}

TEST(MemoryEncoder, ChunkedPassesGiveOnePassPerWindowAndEachWindowStartsAfresh) {
  const model::LoadedModel m = load();
  ASSERT_TRUE(m.transformer);
  const std::vector<std::size_t> layers{1, 0};
  const MemoryEncoder encoder(m.transformer, m.tokenizer, layers, /*window=*/128, /*chunk=*/50);
  const model::Tokens tokens = some_tokens(150);
  const FileMemory memory = encoder.encode_tokens(tokens);
  ASSERT_EQ(memory.tokens, 150);
  const auto& c = m.transformer->config();
  EXPECT_EQ(memory.keys.sizes(),
            (std::vector<std::int64_t>{2, static_cast<std::int64_t>(c.n_head_kv), 150,
                                       static_cast<std::int64_t>(c.head_dim)}));
  const auto [k1, v1] =
      one_pass(*m.transformer, model::Tokens(tokens.begin(), tokens.begin() + 128), layers);
  const auto [k2, v2] =
      one_pass(*m.transformer, model::Tokens(tokens.begin() + 128, tokens.end()), layers);
  EXPECT_LE((memory.keys.narrow(2, 0, 128) - k1).abs().max().item<double>(), 1e-4);
  EXPECT_LE((memory.values.narrow(2, 0, 128) - v1).abs().max().item<double>(), 1e-4);
  EXPECT_LE((memory.keys.narrow(2, 128, 22) - k2).abs().max().item<double>(), 1e-4);
  EXPECT_LE((memory.values.narrow(2, 128, 22) - v2).abs().max().item<double>(), 1e-4);
  // Had the second window seen the first, its later layer's keys would differ.
  const auto [k_whole, v_whole] = one_pass(*m.transformer, tokens, layers);
  EXPECT_GT((memory.values[0].narrow(1, 128, 22) - v_whole[0].narrow(1, 128, 22))
                .abs()
                .max()
                .item<double>(),
            1e-3);
}

TEST(MemoryEncoder, ReencodingAnEditedTextEqualsEncodingItAfresh) {
  const model::LoadedModel m = load();
  ASSERT_TRUE(m.transformer);
  const MemoryEncoder encoder(m.transformer, m.tokenizer, {1, 0}, /*window=*/16, /*chunk=*/5,
                              /*final_states=*/true);
  const model::Tokens before = some_tokens(70);
  const FileMemory previous = encoder.encode_tokens(before);
  auto edited = [&](std::size_t at, model::TokenId token) {
    model::Tokens t = before;
    t[at] = token;
    return t;
  };
  model::Tokens appended = before;
  appended.push_back(11);
  const std::vector<std::pair<const char*, model::Tokens>> cases{
      {"an edit in the middle", edited(37, 3)},
      {"an edit at the end", edited(69, 3)},
      {"an edit in the first window", edited(2, 3)},
      {"text appended", appended},
      {"text cut at a window boundary", model::Tokens(before.begin(), before.begin() + 48)},
      {"the same text", before},
  };
  for (const auto& [what, tokens] : cases) {
    const FileMemory got = encoder.reencode_tokens(tokens, before, previous);
    const FileMemory want = encoder.encode_tokens(tokens);
    EXPECT_EQ(got.tokens, want.tokens) << what;
    EXPECT_TRUE(at::equal(got.keys, want.keys)) << what;
    EXPECT_TRUE(at::equal(got.values, want.values)) << what;
    EXPECT_TRUE(at::equal(got.inputs, want.inputs)) << what;
    EXPECT_TRUE(at::equal(got.states, want.states)) << what;
    EXPECT_TRUE(at::equal(got.next, want.next)) << what;
  }
}

TEST(MemoryEncoder, FinalStatesAreWhatDecodingComputesBeforeTheOutputAndNextIsTheFollowingToken) {
  const model::LoadedModel m = load();
  ASSERT_TRUE(m.transformer);
  const MemoryEncoder encoder(m.transformer, m.tokenizer, {0}, /*window=*/32, /*chunk=*/10,
                              /*final_states=*/true);
  const model::Tokens tokens = some_tokens(40);
  const FileMemory memory = encoder.encode_tokens(tokens);
  ASSERT_EQ(
      memory.states.sizes(),
      (std::vector<std::int64_t>{40, static_cast<std::int64_t>(m.transformer->config().n_embd)}));
  const c10::InferenceMode guard;
  model::KvCache cache(m.transformer->config(), 32, m.transformer->options());
  model::DecodeWorkspace ws = m.transformer->make_workspace(32);
  for (std::size_t i = 0; i < 32; ++i) {  // the first window, token by token
    m.transformer->decode(tokens[i], cache, ws);
    EXPECT_LE((memory.states[static_cast<std::int64_t>(i)] - ws.h[0]).abs().max().item<double>(),
              1e-4)
        << i;
    const std::int32_t next = memory.next[static_cast<std::int64_t>(i)].item<std::int32_t>();
    EXPECT_EQ(next, tokens[i + 1]) << i;
  }
  EXPECT_EQ(memory.next[39].item<std::int32_t>(), -1);
  const MemoryEncoder without(m.transformer, m.tokenizer, {0}, 32, 10);
  EXPECT_FALSE(without.encode_tokens(tokens).states.defined());
}

TEST(MemoryEncoder, AnEncodedFileGoesIntoTheExactTierAndItsBlocksAreFoundAgain) {
  const model::LoadedModel m = load();
  ASSERT_TRUE(m.transformer);
  const MemoryEncoder encoder(m.transformer, m.tokenizer, {0, 1}, 256, 64);
  const std::string text =
      "int add(int a, int b) { return a + b; }\n// a file of the repository, as text\n"
      "struct Point { double x, y; };\nstatic const char* kName = \"mnemo\";\n";
  const FileMemory memory = encoder.encode(text);
  EXPECT_EQ(memory.tokens,
            static_cast<std::int64_t>(m.tokenizer->encode(text, false, false).size()));
  ASSERT_GT(memory.tokens, 20);

  auto config = model::memory::exact_tier_config(m.transformer->config(), 2);
  config.block_size = 8;
  config.top_k = 1;
  model::memory::ExactTier tier(config);
  tier.add_file("src/add.cpp", memory.keys, memory.values);
  tier.add_file("src/other.cpp", at::randn_like(memory.keys), at::randn_like(memory.values));
  EXPECT_EQ(tier.stats().tokens, memory.tokens + memory.tokens);
  // A query along the mean key of one of the file's blocks retrieves that block.
  const std::int64_t block = 2;
  const at::Tensor mean_key = memory.keys[0].narrow(1, block * 8, 8).mean(1);  // [Hkv, D]
  const auto group = static_cast<std::int64_t>(config.n_head / config.n_head_kv);
  const at::Tensor q = mean_key.repeat_interleave(group, 0) * 100;  // [H, D]
  const auto retrieved = tier.retrieve(0, q);
  ASSERT_EQ(retrieved.size(), static_cast<std::size_t>(config.n_head));
  for (const auto& head : retrieved) {
    ASSERT_EQ(head.size(), 1u);
    EXPECT_EQ(head[0].file_id, "src/add.cpp");
    EXPECT_EQ(head[0].block, block);
  }
}

TEST(MemoryEncoder, DefaultMemoryLayersSitInTheUpperHalfOfTheModel) {
  EXPECT_EQ(model::default_memory_layers(1), std::vector<std::size_t>{0});
  EXPECT_EQ(model::default_memory_layers(2), std::vector<std::size_t>{1});
  EXPECT_EQ(model::default_memory_layers(30), (std::vector<std::size_t>{15, 22}));
}

}  // namespace
}  // namespace mnemo::indexer
