// The exact tier's next-token read (ExactTier::next_token, kNN-LM): the votes are a softmax
// over the stored states by distance, summed per following token; block choice finds the
// state nearest a query among many files; voters lead on to their successors; the states
// go with their file (remove, persist, budget).
#include <ATen/ATen.h>
#include <gtest/gtest.h>

#include <cmath>
#include <map>
#include <set>
#include <string>
#include <vector>

#include "model/memory/exact/exact_tier.h"

namespace mnemo::model::memory {
namespace {

constexpr std::int64_t kDim = 16;

ExactTierConfig next_token_config() {
  ExactTierConfig c;
  c.n_layers = 1;
  c.n_head = 2;
  c.n_head_kv = 1;
  c.head_dim = 8;
  c.block_size = 8;
  c.storage = ExactStorage::kFloat32;
  c.next_token_dim = kDim;
  c.next_token_temperature = 4.0f;
  return c;
}

struct StateFile {
  at::Tensor states;  // [n, E] float, rounded to fp16 as the tier keeps them
  at::Tensor next;    // [n] int32
};

StateFile random_states(std::int64_t n, std::int32_t first_token) {
  const at::Tensor next = at::arange(first_token, first_token + n, at::kInt);
  next[n - 1] = -1;  // after a file's last token comes nothing
  return {at::randn({n, kDim}).to(at::kHalf).to(at::kFloat), next};
}

/// States of block `block` made near `centre` (as a passage's states are near each other),
/// the rest random: block choice by the mean state finds such a block.
void cluster(StateFile& f, std::int64_t block, std::int64_t block_size, const at::Tensor& centre) {
  f.states.narrow(0, block * block_size, block_size)
      .copy_((centre + 0.3 * at::randn({block_size, kDim})).to(at::kHalf).to(at::kFloat));
}

void add(ExactTier& tier, const std::string& id, const StateFile& f) {
  const auto& c = tier.config();
  const std::int64_t n = f.states.size(0);
  tier.add_file(id, at::zeros({1, c.n_head_kv, n, c.head_dim}),
                at::zeros({1, c.n_head_kv, n, c.head_dim}), f.states, f.next);
}

std::map<std::int32_t, double> shares_of(const NextTokenVotes& votes) {
  EXPECT_EQ(votes.tokens.size(), votes.shares.size());
  std::map<std::int32_t, double> out;
  for (std::size_t i = 0; i < votes.tokens.size(); ++i) out[votes.tokens[i]] += votes.shares[i];
  return out;
}

TEST(ExactTierNextToken, VotesAreTheSoftmaxOfMinusSquaredDistanceSummedPerFollowingToken) {
  at::manual_seed(3);
  ExactTierConfig c = next_token_config();
  c.next_token_blocks = 100;  // every block
  c.next_token_neighbours = 1000;
  ExactTier tier(c);
  const StateFile a = random_states(21, 100), b = random_states(13, 100);  // tokens shared
  add(tier, "a.cpp", a);
  add(tier, "b.cpp", b);
  const at::Tensor q = at::randn({kDim});

  std::map<std::int32_t, double> expected;
  std::vector<double> logits;
  std::vector<std::int32_t> tokens;
  for (const StateFile* f : {&a, &b}) {
    for (std::int64_t i = 0; i < f->states.size(0); ++i) {
      const std::int32_t next = f->next[i].item<std::int32_t>();
      if (next < 0) continue;
      logits.push_back(-(f->states[i] - q).pow(2).sum().item<double>() / c.next_token_temperature);
      tokens.push_back(next);
    }
  }
  const double top = *std::max_element(logits.begin(), logits.end());
  double total = 0;
  for (double& l : logits) total += (l = std::exp(l - top));
  for (std::size_t i = 0; i < logits.size(); ++i) expected[tokens[i]] += logits[i] / total;

  const auto got = shares_of(tier.next_token({q}));
  ASSERT_EQ(got.size(), expected.size());
  for (const auto& [token, share] : expected) EXPECT_NEAR(got.at(token), share, 1e-5) << token;
  EXPECT_EQ(got.count(100 + 20), 0u);  // a.cpp's last state has no successor
}

TEST(ExactTierNextToken, TheStateNearestTheQueryAmongManyFilesVotesForItsSuccessor) {
  at::manual_seed(5);
  ExactTierConfig c = next_token_config();
  c.next_token_blocks = 2;
  c.next_token_neighbours = 4;
  c.next_token_temperature = 0.25f;
  ExactTier tier(c);
  for (int i = 0; i < 200; ++i) add(tier, "f" + std::to_string(i) + ".cpp", random_states(40, 10));
  StateFile needle = random_states(40, 10);
  cluster(needle, 2, c.block_size, at::randn({kDim}));
  const at::Tensor q = needle.states[17].clone();
  needle.next[17] = 4242;
  add(tier, "needle.h", needle);

  EXPECT_GT(shares_of(tier.next_token({q}))[4242], 0.9);
  tier.remove_file("needle.h");
  EXPECT_EQ(shares_of(tier.next_token({q})).count(4242), 0u);
}

TEST(ExactTierNextToken, TheVotersThatForetoldTheStepsTokenLeadToTheirSuccessors) {
  at::manual_seed(9);
  ExactTierConfig c = next_token_config();
  c.next_token_blocks = 1;
  c.next_token_neighbours = 4;  // one surviving voter is enough to go on without a search
  c.next_token_temperature = 0.25f;
  ExactTier tier(c);
  for (int i = 0; i < 50; ++i) add(tier, "f" + std::to_string(i) + ".cpp", random_states(64, 10));
  StateFile file = random_states(64, 1000);           // tokens no other file is followed by
  cluster(file, 0, c.block_size, at::randn({kDim}));  // block 1 stays random: never chosen
  file.next[7] = 4000;                                // block 0's last state
  file.next[8] = 4001;                                // block 1's first
  add(tier, "chosen.h", file);

  std::unique_ptr<MemoryChoice> choice;
  EXPECT_GT(shares_of(tier.next_token({file.states[7], &choice}))[4000], 0.9);
  ASSERT_NE(choice, nullptr);
  const auto after_first = [&] {
    std::unique_ptr<MemoryChoice> kept;
    tier.next_token({file.states[7], &kept});
    return kept;
  };
  // The text went on with 4000, as the voter at token 7 did: its successor votes, though a
  // search would not find its block.
  EXPECT_GT(shares_of(tier.next_token({file.states[8], &choice, 4000}))[4001], 0.9);
  // The text went on otherwise: no voter leads on, and the step reads the blocks the
  // choice's search chose (block 0, whose states are followed by 1000..1006 and 4000), not
  // searching again.
  const std::set<std::int32_t> block_0_successors{1000, 1001, 1002, 1003, 1004, 1005, 1006, 4000};
  choice = after_first();
  for (const auto& [token, share] : shares_of(tier.next_token({file.states[8], &choice, 77})))
    EXPECT_EQ(block_0_successors.count(token), 1u) << token;
  // The same without the step's token.
  choice = after_first();
  for (const auto& [token, share] : shares_of(tier.next_token({file.states[8], &choice})))
    EXPECT_EQ(block_0_successors.count(token), 1u) << token;
  // A forgotten choice searches afresh, and finds blocks nearer the step's state.
  std::unique_ptr<MemoryChoice> none;
  bool elsewhere = false;
  for (const auto& [token, share] : shares_of(tier.next_token({file.states[8], &none, 4000})))
    elsewhere = elsewhere || block_0_successors.count(token) == 0;
  EXPECT_TRUE(elsewhere);
  // A change of the memory makes the kept choice stale: the next query searches.
  choice = after_first();
  tier.remove_file("f0.cpp");
  EXPECT_EQ(shares_of(tier.next_token({file.states[8], &choice, 4000})).count(4001), 0u);
}

TEST(ExactTierNextToken, FileTensorsCarryTheStatesAndATierWithoutThemVotesForNothing) {
  at::manual_seed(11);
  ExactTierConfig c = next_token_config();
  ExactTier original(c), restored(c);
  add(original, "x.cpp", random_states(30, 50));
  add(original, "y.cpp", random_states(17, 80));
  for (const auto& id : original.file_ids())
    restored.add_file_from_tensors(id, original.file_tensors(id));
  const at::Tensor q = at::randn({kDim});
  const auto expected = shares_of(original.next_token({q}));
  EXPECT_FALSE(expected.empty());
  EXPECT_EQ(shares_of(restored.next_token({q})), expected);

  auto without_states = original.file_tensors("x.cpp");
  without_states.pop_back();  // no "state_means"
  EXPECT_THROW(restored.add_file_from_tensors("x.cpp", without_states), std::invalid_argument);
  EXPECT_THROW(restored.add_file("z.cpp", at::zeros({1, 1, 4, 8}), at::zeros({1, 1, 4, 8})),
               std::invalid_argument);

  ExactTierConfig plain = c;
  plain.next_token_dim = 0;
  ExactTier keeps_none(plain);
  keeps_none.add_file("x.cpp", at::zeros({1, 1, 4, 8}), at::zeros({1, 1, 4, 8}));
  EXPECT_TRUE(keeps_none.next_token({q}).tokens.empty());
  EXPECT_TRUE(ExactTier(c).next_token({q}).tokens.empty());  // an empty memory
}

TEST(ExactTierNextToken, ABudgetDroppedFileNoLongerVotes) {
  at::manual_seed(13);
  ExactTierConfig c = next_token_config();
  c.next_token_temperature = 1.0f;
  ExactTier probe(c);
  add(probe, "probe.cpp", random_states(64, 10));
  // Room for the representatives and one file's token blocks, not two.
  c.budget_bytes = probe.stats().representative_bytes + probe.stats().token_bytes * 3 / 2;
  ExactTier tier(c);
  StateFile old_file = random_states(64, 10);
  old_file.next[5] = 4100;
  add(tier, "old.cpp", old_file);
  add(tier, "new.cpp", random_states(64, 10));
  ASSERT_TRUE(tier.is_dropped("old.cpp"));
  EXPECT_EQ(shares_of(tier.next_token({old_file.states[5]})).count(4100), 0u);
  EXPECT_FALSE(tier.next_token({old_file.states[5]}).tokens.empty());  // new.cpp still votes
  tier.remove_file("old.cpp");  // a dropped file leaves cleanly too
  EXPECT_EQ(tier.stats().files, 1);
}

}  // namespace
}  // namespace mnemo::model::memory
