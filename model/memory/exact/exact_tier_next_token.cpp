// ExactTier::next_token: the next-token read over the final states the tier keeps
// (kNN-LM, arXiv 1911.00172). A search chooses blocks by one representative each (the mean
// state), so its cost grows with the blocks, and their states are scored exactly. From step
// to step the read follows its voters, as RetoMaton does (arXiv 2201.12431): where the text
// goes on as a voter's did, the voter's successor is the next step's neighbour, and where
// the text is being copied from the memory that is exactly the nearest state a search
// would miss for want of its block. Where too few voters lead on, the step reads the
// blocks of its choice's search again (one search per choice, as the attention read).
#include <ATen/ATen.h>

#include <algorithm>
#include <cmath>
#include <memory>
#include <numeric>
#include <stdexcept>
#include <vector>

#include "model/memory/exact/block_kernels_cpu.h"
#include "model/memory/exact/exact_tier.h"
#include "model/memory/exact/exact_tier_file.h"

namespace mnemo::model::memory {

/// One stored state: a token of a resident file.
struct ExactTier::StatePosition {
  File* file;
  std::int64_t token;  ///< index in the file
};

/// The states of a search's blocks, with what does not change from step to step worked out
/// once: where each row lies and its squared norm.
struct ExactTier::ChosenStates {
  std::vector<std::pair<const File*, std::int64_t>> blocks;  ///< (file, block), sorted
  std::vector<StatePosition> positions;  ///< every state with a next token, block by block
  std::vector<const c10::Half*> rows;    ///< positions' states
  std::vector<float> norms;              ///< |state|²
};

/// The states that voted at one step, kept in a NextTokenQuery::choice for the next.
struct ExactTier::NextTokenVoters final : MemoryChoice {
  const ExactTier* tier = nullptr;
  std::uint64_t generation = 0;
  std::vector<StatePosition> voters;
  /// The states of the choice's search: read again at each step where too few voters lead
  /// on, until the caller forgets the choice (MemoryReader::tokens_per_choice). Shared
  /// from step to step, not copied.
  std::shared_ptr<const ChosenStates> states;
};

std::vector<ExactTier::BlockRef> ExactTier::search_blocks(const at::Tensor& q) const {
  const auto& c = config_;
  const std::int64_t e = c.next_token_dim;
  const auto r = static_cast<std::int64_t>(blocks_.size());
  // q·mean - mean(|k|²)/2 ranks blocks as -|q - k|²/2 + |q|²/2 averaged over their states.
  const at::Tensor means = state_means_.narrow(0, 0, r);
  const at::Tensor scores = at::addmv(means.select(1, e), means.narrow(1, 0, e), q);
  const std::int64_t k = std::min(c.next_token_blocks, r);
  const at::Tensor best = std::get<1>(scores.topk(k, 0, true, false)).contiguous();
  const std::uint64_t step = ++clock_;
  std::vector<BlockRef> chosen;
  for (std::int64_t i = 0; i < k; ++i) {
    chosen.push_back(blocks_[static_cast<std::size_t>(best.data_ptr<std::int64_t>()[i])]);
    chosen.back().file->last_used.store(step, std::memory_order_relaxed);
  }
  return chosen;
}

std::shared_ptr<const ExactTier::ChosenStates> ExactTier::choose_states(
    const std::vector<BlockRef>& blocks) const {
  const std::int64_t e = config_.next_token_dim, c = config_.block_size;
  auto chosen = std::make_shared<ChosenStates>();
  chosen->blocks.reserve(blocks.size());
  chosen->positions.reserve(blocks.size() * static_cast<std::size_t>(c));
  chosen->rows.reserve(chosen->positions.capacity());
  for (const BlockRef& b : blocks) {
    chosen->blocks.emplace_back(b.file, b.block);
    const std::int32_t* next = b.file->next.data_ptr<std::int32_t>();
    const c10::Half* states = b.file->states.data_ptr<c10::Half>();
    const std::int64_t first = b.block * c;
    for (std::int64_t t = first; t < first + b.file->valid(b.block, c); ++t) {
      if (next[t] < 0) continue;  // the file's last token: no next token to vote for
      chosen->positions.push_back({b.file, t});
      chosen->rows.push_back(states + t * e);
    }
  }
  std::sort(chosen->blocks.begin(), chosen->blocks.end());
  chosen->norms.resize(chosen->rows.size());
  cpu::state_norms(e, chosen->rows.data(), static_cast<std::int64_t>(chosen->rows.size()),
                   chosen->norms.data());
  return chosen;
}

NextTokenVotes ExactTier::next_token(const NextTokenQuery& query) const {
  const auto& c = config_;
  const std::int64_t e = c.next_token_dim;
  if (e == 0 || blocks_.empty()) return {};
  const at::Tensor q = query.state.to(at::kFloat).reshape({-1}).contiguous();
  if (q.numel() != e)
    throw std::invalid_argument("ExactTier::next_token: a state of another width");
  const std::int64_t neighbours = c.next_token_neighbours;

  const auto* kept =
      query.choice != nullptr ? dynamic_cast<const NextTokenVoters*>(query.choice->get()) : nullptr;
  if (kept != nullptr && (kept->tier != this || kept->generation != generation_)) kept = nullptr;
  auto chosen = std::make_unique<NextTokenVoters>();
  chosen->tier = this;
  chosen->generation = generation_;
  // The voters that foretold this step's token lead on to their successors.
  thread_local std::vector<StatePosition> successors;
  successors.clear();
  if (kept != nullptr && query.token >= 0) {
    for (const StatePosition& v : kept->voters) {
      const std::int32_t* next = v.file->next.data_ptr<std::int32_t>();
      const std::int64_t successor = v.token + 1;
      if (next[v.token] == query.token && successor < v.file->n_tokens && next[successor] >= 0)
        successors.push_back({v.file, successor});
    }
  }
  const bool reads_chosen =
      static_cast<std::int64_t>(successors.size()) < std::max<std::int64_t>(1, neighbours / 4);
  if (reads_chosen) {
    // Too few lead on: the search's states too, searched for now if not yet for this choice
    // (a search scans every block's mean: once per choice, so the steps cost what the
    // chosen blocks do, whatever the memory's size).
    chosen->states =
        kept != nullptr && kept->states != nullptr ? kept->states : choose_states(search_blocks(q));
    // Each state once: a successor in a chosen block is among that block's states. The
    // blocks are distinct, so this costs a lookup per successor, not a sort of thousands
    // of states at every step.
    const auto& blocks = chosen->states->blocks;
    successors.erase(
        std::remove_if(successors.begin(), successors.end(),
                       [&](const StatePosition& p) {
                         return std::binary_search(
                             blocks.begin(), blocks.end(),
                             std::pair<const File*, std::int64_t>(p.file, p.token / c.block_size));
                       }),
        successors.end());
  } else if (kept != nullptr) {
    chosen->states = kept->states;
  }
  const ChosenStates* read = reads_chosen ? chosen->states.get() : nullptr;

  // softmax(-|q - k|² / T) = softmax((2 q·k - |k|²) / T): |q|² is the same for all. The
  // candidates are the successors, then the chosen states (whose norms are known).
  const auto n_successors = static_cast<std::int64_t>(successors.size());
  const std::int64_t n =
      n_successors + (read != nullptr ? static_cast<std::int64_t>(read->rows.size()) : 0);
  const auto candidate = [&](std::int64_t i) -> const StatePosition& {
    return i < n_successors ? successors[static_cast<std::size_t>(i)]
                            : read->positions[static_cast<std::size_t>(i - n_successors)];
  };
  thread_local std::vector<const c10::Half*> rows;
  thread_local std::vector<float> scores;
  thread_local std::vector<std::int64_t> order;
  rows.resize(successors.size());
  scores.resize(static_cast<std::size_t>(n));
  for (std::size_t i = 0; i < successors.size(); ++i)
    rows[i] = successors[i].file->states.data_ptr<c10::Half>() + successors[i].token * e;
  cpu::distance_scores(q.data_ptr<float>(), e, rows.data(), n_successors, scores.data());
  if (read != nullptr) {
    cpu::distance_scores(q.data_ptr<float>(), e, read->rows.data(), read->norms.data(),
                         n - n_successors, scores.data() + n_successors);
  }
  const std::int64_t k = std::min(neighbours, n);
  order.resize(static_cast<std::size_t>(n));
  std::iota(order.begin(), order.end(), std::int64_t{0});
  const auto by_score = [&](std::int64_t a, std::int64_t b) {
    return scores[static_cast<std::size_t>(a)] > scores[static_cast<std::size_t>(b)] ||
           (scores[static_cast<std::size_t>(a)] == scores[static_cast<std::size_t>(b)] && a < b);
  };
  std::partial_sort(order.begin(), order.begin() + k, order.end(), by_score);
  const auto temperature = static_cast<double>(c.next_token_temperature);

  std::vector<std::pair<std::int32_t, double>> shares;
  double total = 0;
  for (std::int64_t i = 0; i < k; ++i) {
    const auto at = static_cast<std::size_t>(order[static_cast<std::size_t>(i)]);
    const StatePosition& p = candidate(order[static_cast<std::size_t>(i)]);
    chosen->voters.push_back(p);
    const double weight =
        std::exp((scores[at] - scores[static_cast<std::size_t>(order[0])]) / temperature);
    total += weight;
    shares.emplace_back(p.file->next.data_ptr<std::int32_t>()[p.token], weight);
  }
  std::sort(shares.begin(), shares.end());
  NextTokenVotes votes;
  for (const auto& [token, share] : shares) {
    if (votes.tokens.empty() || votes.tokens.back() != token) {
      votes.tokens.push_back(token);
      votes.shares.push_back(0);
    }
    votes.shares.back() += static_cast<float>(share / total);
  }
  if (query.choice != nullptr) *query.choice = std::move(chosen);
  return votes;
}

}  // namespace mnemo::model::memory
