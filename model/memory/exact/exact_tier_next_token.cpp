// ExactTier::next_token: the next-token read over the final states the tier keeps
// (kNN-LM, arXiv 1911.00172). Block choice as in the attention read, by one representative
// per block (the mean state) so its cost grows with the blocks; the vote is exact over the
// chosen blocks' states.
#include <ATen/ATen.h>

#include <algorithm>
#include <cstring>
#include <stdexcept>
#include <unordered_map>
#include <vector>

#include "model/memory/exact/exact_tier.h"
#include "model/memory/exact/exact_tier_file.h"

namespace mnemo::model::memory {

/// The states one query chose to read, kept in a NextTokenQuery::choice for the next steps.
struct ExactTier::NextTokenCandidates final : MemoryChoice {
  const ExactTier* tier = nullptr;
  std::uint64_t generation = 0;
  at::Tensor states;               ///< [N, E] float
  at::Tensor half_norms;           ///< [N] -|k|²/2
  std::vector<std::int32_t> next;  ///< [N] the token after each state
};

NextTokenVotes ExactTier::next_token(const NextTokenQuery& query) const {
  const auto& c = config_;
  const std::int64_t e = c.next_token_dim, cc = c.block_size;
  const auto r = static_cast<std::int64_t>(blocks_.size());
  if (e == 0 || r == 0) return {};
  const at::Tensor q = query.state.to(at::kFloat).reshape({-1}).contiguous();
  if (q.numel() != e)
    throw std::invalid_argument("ExactTier::next_token: a state of another width");

  const auto* kept = query.choice != nullptr
                         ? dynamic_cast<const NextTokenCandidates*>(query.choice->get())
                         : nullptr;
  if (kept != nullptr && (kept->tier != this || kept->generation != generation_)) kept = nullptr;
  std::unique_ptr<NextTokenCandidates> fresh;
  if (kept == nullptr) {
    // q·mean - mean(|k|²)/2 ranks blocks as -|q - k|²/2 + |q|²/2 averaged over their states.
    const at::Tensor means = state_means_.narrow(0, 0, r);
    const at::Tensor scores = at::addmv(means.select(1, e), means.narrow(1, 0, e), q);
    const std::int64_t k = std::min(c.next_token_blocks, r);
    const at::Tensor best = std::get<1>(scores.topk(k)).contiguous();
    // Each chosen block and the one after it in its file: the following steps' nearest
    // states are mostly the successors of this step's.
    std::vector<BlockRef> refs;
    for (std::int64_t i = 0; i < k; ++i) {
      const BlockRef ref = blocks_[static_cast<std::size_t>(best.data_ptr<std::int64_t>()[i])];
      refs.push_back(ref);
      if (ref.block + 1 < ref.file->n_blocks) refs.push_back({ref.file, ref.block + 1});
    }
    std::sort(refs.begin(), refs.end(), in_layout_order);
    refs.erase(std::unique(refs.begin(), refs.end(),
                           [](const BlockRef& a, const BlockRef& b) {
                             return a.file == b.file && a.block == b.block;
                           }),
               refs.end());
    fresh = std::make_unique<NextTokenCandidates>();
    fresh->tier = this;
    fresh->generation = generation_;
    const at::Tensor gathered =
        at::empty({static_cast<std::int64_t>(refs.size()) * cc, e}, at::kHalf);
    std::int64_t n = 0;
    const std::uint64_t step = ++clock_;
    for (const BlockRef& ref : refs) {
      File& f = *ref.file;
      f.last_used.store(step, std::memory_order_relaxed);
      const std::int32_t* next = f.next.data_ptr<std::int32_t>() + ref.block * cc;
      const c10::Half* states = f.states.data_ptr<c10::Half>() + ref.block * cc * e;
      for (std::int64_t j = 0; j < f.valid(ref.block, cc); ++j) {
        if (next[j] < 0) continue;  // the file's last token: nothing followed it
        std::memcpy(gathered.data_ptr<c10::Half>() + n * e, states + j * e,
                    static_cast<std::size_t>(e) * sizeof(c10::Half));
        fresh->next.push_back(next[j]);
        ++n;
      }
    }
    fresh->states = gathered.narrow(0, 0, n).to(at::kFloat);
    fresh->half_norms = fresh->states.pow(2).sum(1).mul_(-0.5);
    kept = fresh.get();
  }
  NextTokenVotes votes;
  const auto n = static_cast<std::int64_t>(kept->next.size());
  if (n > 0) {
    // softmax(-|q - k|² / T) = softmax((2 q·k - |k|²) / T): |q|² is the same for all.
    const at::Tensor scores =
        at::addmv(kept->half_norms, kept->states, q).mul_(2.0 / c.next_token_temperature);
    const auto [top, index] = scores.topk(std::min(c.next_token_neighbours, n));
    const at::Tensor weights = top.softmax(0).contiguous();
    const at::Tensor at_index = index.contiguous();
    std::unordered_map<std::int32_t, float> shares;
    for (std::int64_t i = 0; i < weights.numel(); ++i) {
      shares[kept->next[static_cast<std::size_t>(at_index.data_ptr<std::int64_t>()[i])]] +=
          weights.data_ptr<float>()[i];
    }
    for (const auto& [token, share] : shares) {
      votes.tokens.push_back(token);
      votes.shares.push_back(share);
    }
  }
  if (fresh != nullptr && query.choice != nullptr) *query.choice = std::move(fresh);
  return votes;
}

}  // namespace mnemo::model::memory
