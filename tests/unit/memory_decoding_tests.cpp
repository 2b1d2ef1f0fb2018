// Decoding that reads the long-term memory (model/transformer.h, MemoryReader): a memory
// holding a file's keys and values at every layer makes the next token's logits those of
// a sequence that had read the file itself; an empty memory changes nothing; only the last
// token of a prompt reads it; a kept choice of blocks is read again for a few steps.
#include <ATen/ATen.h>
#include <c10/core/InferenceMode.h>
#include <gtest/gtest.h>

#include <filesystem>
#include <limits>
#include <memory>
#include <numeric>
#include <vector>

#include "model/checkpoint.h"
#include "model/kv_cache.h"
#include "model/memory/exact/exact_tier.h"
#include "model/transformer.h"
#include "model/transformer_session.h"

namespace mnemo::model {
namespace {

namespace fs = std::filesystem;
using memory::ExactTier;

std::shared_ptr<const Transformer> tiny_llama() {
  auto checkpoint =
      Checkpoint::open((fs::path(MNEMO_FIXTURES_DIR) / "tiny-models/tiny-llama.F32.gguf").string());
  EXPECT_TRUE(checkpoint) << checkpoint.error().message;
  if (!checkpoint) return nullptr;
  auto model = Transformer::load(*checkpoint.value());
  EXPECT_TRUE(model) << model.error().message;
  return model ? model.value() : nullptr;
}

/// Deterministic token ids of the fixture's vocabulary.
Tokens some_tokens(std::size_t n, TokenId seed) {
  Tokens out(n);
  for (std::size_t i = 0; i < n; ++i) out[i] = static_cast<TokenId>((seed + 37 * i) % 500 + 3);
  return out;
}

class MemoryDecodingTest : public ::testing::Test {
 protected:
  void SetUp() override {
    model_ = tiny_llama();
    ASSERT_TRUE(model_);
    layers_.resize(model_->config().n_layer);
    std::iota(layers_.begin(), layers_.end(), std::size_t{0});
  }

  /// A tier over every layer holding `file`'s keys and values as the model computes them
  /// when it reads the file from position 0; top-k covers every block.
  std::unique_ptr<ExactTier> memory_of(const Tokens& file) {
    c10::InferenceMode guard;
    memory::ExactTierConfig config = memory::exact_tier_config(model_->config(), layers_.size());
    config.storage = memory::ExactStorage::kFloat32;
    config.block_size = 64;
    config.top_k = static_cast<std::int64_t>(file.size()) / 64;
    auto tier = std::make_unique<ExactTier>(config);
    KvCache cache(model_->config(), file.size(), model_->options());
    KeyValueTap tap;
    tap.layers = layers_;
    model_->forward_tap(file, cache, tap);
    tier->add_file("other.cpp", at::stack(tap.keys), at::stack(tap.values));
    return tier;
  }

  std::vector<float> logits_of(TransformerSession& session, const Tokens& tokens) {
    auto logits = session.append(tokens);
    EXPECT_TRUE(logits) << logits.error().message;
    if (!logits) return {};
    return {logits.value().data, logits.value().data + logits.value().size};
  }

  std::shared_ptr<const Transformer> model_;
  std::vector<std::size_t> layers_;
};

double max_difference(const std::vector<float>& a, const std::vector<float>& b) {
  EXPECT_EQ(a.size(), b.size());
  double worst = 0;
  for (std::size_t i = 0; i < a.size() && i < b.size(); ++i)
    worst = std::max(worst, static_cast<double>(std::abs(a[i] - b[i])));
  return worst;
}

TEST_F(MemoryDecodingTest, AMemoryHoldingAFileGivesTheLogitsOfHavingReadTheFile) {
  const Tokens file = some_tokens(128, 11);  // two whole blocks
  const auto tier = memory_of(file);
  const Tokens next = some_tokens(1, 5);

  TransformerSession with_memory(model_, 32);
  ASSERT_TRUE(with_memory.set_memory({layers_, tier.get()}));
  const std::vector<float> remembered = logits_of(with_memory, next);

  TransformerSession after_file(model_, 256);
  Tokens sequence = file;
  sequence.push_back(next[0]);
  const std::vector<float> read = logits_of(after_file, sequence);

  TransformerSession without(model_, 32);
  const std::vector<float> forgotten = logits_of(without, next);

  // The memory's tokens sit just before position 0, as the file's did before the token.
  EXPECT_LT(max_difference(remembered, read), 2e-4);
  EXPECT_GT(max_difference(forgotten, read), 0.1);  // the file matters to these logits
}

TEST_F(MemoryDecodingTest, AnEmptyMemoryChangesNothing) {
  memory::ExactTierConfig config = memory::exact_tier_config(model_->config(), layers_.size());
  const ExactTier empty(config);
  const Tokens prompt = some_tokens(9, 2);
  TransformerSession with_memory(model_, 32);
  ASSERT_TRUE(with_memory.set_memory({layers_, &empty}));
  // Without a memory, the same steps: the prompt's last token decoded on its own.
  TransformerSession without(model_, 32);
  logits_of(without, Tokens(prompt.begin(), prompt.end() - 1));
  EXPECT_EQ(logits_of(with_memory, prompt), logits_of(without, {prompt.back()}));
  EXPECT_EQ(logits_of(with_memory, {7}), logits_of(without, {7}));
}

TEST_F(MemoryDecodingTest, OnlyTheLastTokenOfAPromptReadsTheMemory) {
  const auto tier = memory_of(some_tokens(128, 11));
  const Tokens prompt = some_tokens(6, 3);
  // The prompt's first tokens without the memory, its last with it, in two calls ...
  TransformerSession split(model_, 32);
  logits_of(split, Tokens(prompt.begin(), prompt.end() - 1));
  ASSERT_TRUE(split.set_memory({layers_, tier.get()}));
  const std::vector<float> expected = logits_of(split, {prompt.back()});
  // ... equal one call that reads the memory.
  TransformerSession whole(model_, 32);
  ASSERT_TRUE(whole.set_memory({layers_, tier.get()}));
  EXPECT_EQ(logits_of(whole, prompt), expected);
  EXPECT_EQ(whole.tokens(), prompt);
}

/// Counts, per attend(), whether it chose (and left a choice) or read a kept one.
class CountingMemory final : public memory::MemorySource {
 public:
  AttentionOutput attend(const memory::MemoryQuery& query) const override {
    if (query.choice != nullptr && *query.choice != nullptr) {
      ++reused;
    } else {
      ++chosen;
      if (query.choice != nullptr) *query.choice = std::make_unique<memory::MemoryChoice>();
    }
    const auto h = query.q_raw.size(0), d = query.q_raw.size(1);
    return {at::zeros({h, 1, d}), at::full({h, 1}, -std::numeric_limits<float>::infinity())};
  }
  mutable int chosen = 0, reused = 0;
};

TEST_F(MemoryDecodingTest,
       DecodingStepsReadTheMemorysChoiceForTokensPerChoiceStepsThenChooseAgain) {
  CountingMemory memory;
  TransformerSession session(model_, 64);
  ASSERT_TRUE(session.set_memory({{0}, &memory, 4}));
  logits_of(session, some_tokens(6, 3));  // its last token chooses
  for (TokenId t : some_tokens(7, 5)) logits_of(session, {t});
  EXPECT_EQ(memory.chosen, 2);  // steps 1 and 5 of 8
  EXPECT_EQ(memory.reused, 6);
  session.truncate(3);  // another text: the next step chooses
  logits_of(session, {7});
  EXPECT_EQ(memory.chosen, 3);
  TransformerSession every_step(model_, 64);
  ASSERT_TRUE(every_step.set_memory({{0}, &memory}));
  for (TokenId t : some_tokens(3, 9)) logits_of(every_step, {t});
  EXPECT_EQ(memory.chosen, 6);
  EXPECT_EQ(memory.reused, 6);
}

/// A memory whose attention reads nothing and whose next-token read always votes the same.
class VotingMemory final : public memory::MemorySource {
 public:
  AttentionOutput attend(const memory::MemoryQuery& query) const override {
    const auto h = query.q_raw.size(0), d = query.q_raw.size(1);
    return {at::zeros({h, 1, d}), at::full({h, 1}, -std::numeric_limits<float>::infinity())};
  }
  memory::NextTokenVotes next_token(const memory::NextTokenQuery& query) const override {
    EXPECT_EQ(query.state.numel(), static_cast<std::int64_t>(n_embd));
    ++queries;
    tokens.push_back(query.token);
    return votes;
  }
  std::size_t n_embd = 0;
  memory::NextTokenVotes votes;
  mutable int queries = 0;
  mutable std::vector<std::int32_t> tokens;  ///< each query's token
};

TEST_F(MemoryDecodingTest,
       TheMemorysNextTokenVotesAreMixedIntoTheModelsDistributionWithWeightLambda) {
  VotingMemory memory;
  memory.n_embd = model_->config().n_embd;
  memory.votes = {{40, 41}, {0.75f, 0.25f}};
  const Tokens prompt = some_tokens(5, 4);
  TransformerSession plain(model_, 32), mixed(model_, 32), unweighted(model_, 32);
  ASSERT_TRUE(plain.set_memory({{0}, &memory}));
  ASSERT_TRUE(mixed.set_memory({{0}, &memory, 1, 0.4f}));
  const std::vector<float> model_logits = logits_of(plain, prompt);
  const std::vector<float> mixed_logits = logits_of(mixed, prompt);
  EXPECT_EQ(memory.queries, 1);  // only the session that gives the votes a weight asks

  double top = model_logits[0], total = 0;
  for (float l : model_logits) top = std::max(top, static_cast<double>(l));
  for (float l : model_logits) total += std::exp(l - top);
  for (std::size_t t = 0; t < model_logits.size(); ++t) {
    double p = 0.6 * std::exp(model_logits[t] - top) / total;
    if (t == 40) p += 0.4 * 0.75;
    if (t == 41) p += 0.4 * 0.25;
    ASSERT_NEAR(mixed_logits[t], std::log(p), 1e-4) << t;
  }
  // Generated tokens read it too, each query naming the token whose state it is; a memory
  // without votes leaves the logits as they are.
  logits_of(mixed, {40});
  EXPECT_EQ(memory.queries, 2);
  EXPECT_EQ(memory.tokens, (std::vector<std::int32_t>{prompt.back(), 40}));
  memory.votes = {};
  ASSERT_TRUE(unweighted.set_memory({{0}, &memory, 1, 0.4f}));
  EXPECT_EQ(logits_of(unweighted, prompt), model_logits);
}

}  // namespace
}  // namespace mnemo::model
