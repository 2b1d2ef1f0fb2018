// The exact tier of the long-term memory (DESIGN.md §2): the keys and values of every
// indexed token at the memory layers, in blocks of C tokens with one representative per
// block. A query scores every representative, takes the top-k blocks per query head and
// attends exactly over their tokens, so its cost grows with the number of blocks (one
// D-vector each) rather than the number of tokens.
//
// Layout. Files are segments. Each file owns its token blocks (keys/values [L, Hkv, nb, C, D]
// in the storage dtype, plus per-token scales for int8), so adding, replacing or removing a
// file touches only that file. The representatives of all resident files sit in one
// capacity-doubling buffer per layer, in tiles of 16 blocks ([Hkv, R_cap / 16, D, 16] fp16:
// the scoring pass reads each head as one contiguous stream, 16 blocks per register pair),
// kept compact: removing a file moves the last blocks into its holes, so scoring never sees
// a hole and needs no mask.
//
// Positions. Keys are stored without rotation. The K blocks a query head retrieves are
// laid out in a canonical order (file id, then block) at the K*C positions just before
// `window_start` (a partial block keeps its C slots); the tier rotates the gathered keys by
// positions 0..K*C-1 and the query back by window_start - K*C, which gives the same scores
// as rotating the keys to their absolute positions.
//
// Memory budget. When the token blocks and representatives exceed budget_bytes after a file
// is added, the token blocks of the least-recently-retrieved files are dropped (logged with
// spdlog): their representatives are kept aside and not scored (a dropped block cannot be
// attended, so it is never selected), the file is counted in stats().dropped_files, and
// adding it again (e.g. from the store) makes it resident. A file larger than the whole
// budget keeps only its representatives. So the tier holds at most the budget once each call
// returns (transiently one file more, while that file is encoded); it never grows without
// bound.
#pragma once

#include <atomic>
#include <cstdint>
#include <memory>
#include <string>
#include <tuple>
#include <unordered_map>
#include <utility>
#include <vector>

#include <ATen/core/Tensor.h>

#include "model/memory/memory_source.h"
#include "model/model_config.h"

namespace mnemo::model::memory {

/// How token keys and values are held. kInt8 is symmetric with one scale per token and head.
enum class ExactStorage { kFloat32, kFloat16, kBFloat16, kInt8 };

/// kMean: one mean key per block, scored q·mean. kMinMax: Quest's per-dimension bounds,
/// scored by the upper bound Σ_i max(q_i·min_i, q_i·max_i) of q·k over the block.
enum class BlockRepresentative { kMean, kMinMax };

/// How attend() and retrieve() choose each query head's top-k blocks; both choose the same
/// blocks (up to exact ties between scores).
///  - kFlat scores every fp16 representative: 2 bytes per dimension per block per step.
///  - kQuantized scores int8 copies of the representatives (one scale s per block and head,
///    half the bytes; the query rounded to int16, the sums exact in int32) and bounds their
///    error: |flat score - s · int8 score| <= s · (0.51 · Σ|q_i| + 63.5 · D · q_scale)
///    (rounding to int8 is at most s / 2 per dimension, the query's int16 rounding at most
///    q_scale / 2 against |n_i| <= 127; the extra 0.01 covers the float rounding of both
///    sums for D <= 512). Only the blocks whose upper bound reaches the k-th largest lower
///    bound are rescored from the fp16 representatives with the flat scan's kernel (the same
///    scores, bit for bit), so the top-k is the flat scan's. When the bounds are too loose
///    to prune (e.g. many near-equal blocks, a zero query) it falls back to the flat scan
///    (counted in stats().selection_fallbacks). Costs D + 4 bytes per block, layer and
///    key/value head more in RAM (D + 4 per 64 tokens: about 4 bytes per token at L = 2,
///    Hkv = 2, D = 64). The int8 pass and the choice of candidates are one fused pass on all
///    threads (cpu::int8_top_k_candidates), memory-bound on this machine with AVX-512 VNNI.
/// A hierarchy of super-blocks with Quest-style bounds over their members would be exact
/// too, but prunes nothing on keys without structure: in D = 64 dimensions the box of 16
/// random block means bounds q · mean at Σ|q_i| · 1.77 σ (the expected maximum of 16
/// normals), about 11 standard deviations ‖q‖ σ of one score, while the k-th best of 78K
/// blocks (5M tokens) sits near 4: no super-block's bound ever falls below it.
enum class BlockSelection { kFlat, kQuantized };

struct ExactTierConfig {
  std::size_t n_layers = 1;      ///< memory layers (L)
  std::int64_t n_head = 0;       ///< query heads (H)
  std::int64_t n_head_kv = 0;    ///< key/value heads (Hkv), H a multiple of it
  std::int64_t head_dim = 0;     ///< D
  std::int64_t block_size = 64;  ///< C tokens per block
  std::int64_t top_k = 8;        ///< blocks retrieved per query head
  ExactStorage storage = ExactStorage::kFloat16;
  BlockRepresentative representative = BlockRepresentative::kMean;
  BlockSelection selection = BlockSelection::kQuantized;
  /// RoPE of the model (HF half-split layout). With rope = false keys are used as stored.
  bool rope = true;
  float rope_theta = 10000.0f;
  float rope_freq_scale = 1.0f;
  std::vector<float> rope_freq_factors;
  /// Bytes of token blocks plus representatives; 0 for no limit.
  std::uint64_t budget_bytes = 0;
  /// The next-token read (memory_source.h): 0 keeps none; otherwise the width E of the
  /// model's final normed state, which add_file then takes for every token together with
  /// the token that followed it. Those states sit in the same blocks as the keys, with one
  /// mean state per block (fp32, E floats per block in RAM). The next_token_neighbours
  /// nearest of the candidate states vote, with weights softmax(-|q - k|² /
  /// next_token_temperature). The candidates are the successors of the last step's voters
  /// that foretold this step's token (NextTokenQuery::token); when fewer than a quarter of
  /// the voters did, also the states of the next_token_blocks blocks whose mean was nearest
  /// the state that made the choice (scored by q·m - |k|²/2 averaged, every block's mean in
  /// one product; a choice kept in NextTokenQuery::choice searches once).
  std::int64_t next_token_dim = 0;
  std::int64_t next_token_blocks = 256;
  std::int64_t next_token_neighbours = 64;
  float next_token_temperature = 64.0f;
};

/// The tier's configuration for a model's geometry and RoPE.
ExactTierConfig exact_tier_config(const ModelConfig& model, std::size_t n_memory_layers);

struct ExactTierStats {
  std::int64_t files = 0;            ///< every file, resident or dropped
  std::int64_t tokens = 0;           ///< tokens of every file
  std::int64_t blocks = 0;           ///< blocks of every file
  std::int64_t resident_tokens = 0;  ///< tokens whose blocks can be attended
  std::int64_t resident_blocks = 0;
  std::int64_t dropped_files = 0;  ///< files whose token blocks the budget dropped
  std::int64_t dropped_tokens = 0;
  std::uint64_t token_bytes = 0;           ///< token blocks (keys, values, scales)
  std::uint64_t representative_bytes = 0;  ///< representative buffers (capacity) + dropped
  std::uint64_t resident_bytes = 0;        ///< token_bytes + representative_bytes
  /// kQuantized: selections (one per layer and call) whose error bounds were too loose to
  /// prune, answered by the flat scan instead.
  std::uint64_t selection_fallbacks = 0;
};

/// Thread-safety: attend(), stats(), contains() and file_tensors() may run concurrently
/// with each other; add_file, replace_file, remove_file, add_file(s)_from_tensors and
/// reserve need exclusive access (the caller holds e.g. a std::shared_mutex exclusively).
class ExactTier final : public MemorySource {
 public:
  explicit ExactTier(ExactTierConfig config);
  ~ExactTier() override;
  ExactTier(const ExactTier&) = delete;
  ExactTier& operator=(const ExactTier&) = delete;

  /// o: [H, 1, D], lse: [H, 1] over the top-k blocks of each query head (all resident
  /// blocks when there are at most top_k). Marks the files it retrieved from as used. With
  /// query.choice, the blocks are kept there gathered (as float), and read again by the
  /// next queries until the tier changes.
  AttentionOutput attend(const MemoryQuery& query) const override;
  /// With config().next_token_dim > 0 (see there); otherwise, and for an empty tier, none.
  NextTokenVotes next_token(const NextTokenQuery& query) const override;

  /// The blocks attend() would read for these queries ([H, D], before RoPE): per query
  /// head, in the order they are laid out before the window. Does not mark files as used.
  struct RetrievedBlock {
    std::string file_id;
    std::int64_t block = 0;
  };
  std::vector<std::vector<RetrievedBlock>> retrieve(std::size_t layer,
                                                    const at::Tensor& q_raw) const;

  /// keys, values: [L, Hkv, n, D] of one file's n tokens (any float dtype, any device:
  /// copied). With next_token_dim > 0 also states [n, E] (the model's final normed state at
  /// each token) and next [n] int32 or int64 (the token after each; -1 after the last).
  /// Replaces the file if it is already there. May drop other files (budget).
  void add_file(const std::string& file_id, const at::Tensor& keys, const at::Tensor& values,
                const at::Tensor& states = {}, const at::Tensor& next = {});
  /// The same as add_file; named for the caller that knows the file changed.
  void replace_file(const std::string& file_id, const at::Tensor& keys, const at::Tensor& values,
                    const at::Tensor& states = {}, const at::Tensor& next = {});
  /// False when the file was not there.
  bool remove_file(const std::string& file_id);

  bool contains(const std::string& file_id) const;
  /// True when the budget dropped the file's token blocks (only representatives remain).
  bool is_dropped(const std::string& file_id) const;
  std::vector<std::string> file_ids() const;

  /// Grows the representative buffers to hold `tokens` tokens without reallocating.
  void reserve(std::int64_t tokens);
  ExactTierStats stats() const;
  const ExactTierConfig& config() const { return config_; }

  /// Persistence: a resident file as named tensors (CPU, contiguous), enough for
  /// add_file_from_tensors to restore it without re-encoding: "n_tokens" [1] int64,
  /// "keys"/"values" [L, Hkv, nb, C, D] in the storage dtype, for int8 also
  /// "key_scales"/"value_scales" [L, Hkv, nb, C] fp16, and the representatives
  /// ("representatives", or "rep_min"/"rep_max") [L, Hkv, nb, D] fp16; with next_token_dim
  /// also "states" [nb, C, E] fp16, "next" [nb, C] int32 (-1 where none) and
  /// "state_means" [nb, E + 1] float. Empty for a file
  /// that is absent or dropped (its token blocks are gone: re-index it).
  std::vector<std::pair<std::string, at::Tensor>> file_tensors(const std::string& file_id) const;
  /// Adopts tensors from file_tensors() of a tier with the same configuration (shared, not
  /// copied, when they are CPU, contiguous and of the right dtype: e.g. views of a mapped
  /// file). Throws std::invalid_argument on a missing name or a wrong shape or dtype.
  void add_file_from_tensors(const std::string& file_id,
                             const std::vector<std::pair<std::string, at::Tensor>>& tensors);

  /// One file's tensors, as file_tensors() returns them.
  struct FileTensors {
    std::string file_id;
    std::vector<std::pair<std::string, at::Tensor>> tensors;
  };
  struct RefusedFile {
    std::size_t index;   ///< in the batch
    std::string reason;  ///< add_file_from_tensors' exception message
  };
  /// add_file_from_tensors for many files at once (loading a memory): each file is checked
  /// as there and a refused one is reported rather than thrown; the representatives of all
  /// the accepted files are appended in one pass (per file, the single call costs a few
  /// dozen small ATen ops: about 0.25 ms, 0.3 s for the 1,221 files of 5M tokens) and the
  /// budget is enforced once, after the batch. A file id that occurs twice: the last wins.
  std::vector<RefusedFile> add_files_from_tensors(const std::vector<FileTensors>& files);

 private:
  struct File;
  struct Gathered;
  struct BlockRef {
    File* file;
    std::int64_t block;  ///< block index within the file
  };
  /// The canonical order of retrieved blocks (file id, then block), independent of where
  /// they sit in the buffers.
  static bool in_layout_order(const BlockRef& a, const BlockRef& b);
  /// A file and its representatives ([L, Hkv, nb, D] fp16; reps_b for kMinMax only;
  /// state_means [nb, E + 1] float with next_token_dim).
  struct IncomingFile {
    std::unique_ptr<File> file;
    at::Tensor reps_a, reps_b, state_means;
  };
  /// A file's representatives taken out of the buffers.
  struct TakenRepresentatives {
    at::Tensor a, b, state_means;
  };
  struct StatePosition;
  struct NextTokenVoters;
  struct ChosenStates;
  /// The next-token read's search: the next_token_blocks blocks whose mean state is nearest
  /// q ([E] float); marks their files as used.
  std::vector<BlockRef> search_blocks(const at::Tensor& q) const;
  /// The states of those blocks that can vote, with their norms.
  std::shared_ptr<const ChosenStates> choose_states(const std::vector<BlockRef>& blocks) const;

  /// Checks and adopts tensors of file_tensors()' form; throws std::invalid_argument.
  IncomingFile file_from_tensors(
      const std::string& file_id,
      const std::vector<std::pair<std::string, at::Tensor>>& tensors) const;
  /// Adds the files (replacing any of the same id), then enforces the budget once.
  void insert_files(std::vector<IncomingFile> incoming);
  void append_representatives(std::vector<IncomingFile>& incoming);
  /// Removes the file's blocks from the representative buffers (compacting them);
  /// returns its representatives [L, Hkv, nb, D] (two tensors for kMinMax).
  TakenRepresentatives take_representatives(File& file);
  void drop_token_blocks(File& file);
  void enforce_budget(const File* keep);
  void grow_representatives(std::int64_t blocks);
  std::uint64_t representative_capacity_bytes() const;
  /// Rewrites the int8 copies and scales of representative slots [start, start + n) from
  /// the fp16 ones.
  void quantize_representatives(std::int64_t start, std::int64_t n);
  /// Moves representative rows `from` to `to` in every buffer.
  void move_representatives(const at::Tensor& from, const at::Tensor& to);
  at::Tensor score(std::size_t layer, const at::Tensor& q) const;
  /// kQuantized: the top-k slots of each head into `slots` ([H * K]); false when the bounds
  /// were too loose (the caller scans instead).
  bool select_quantized(std::size_t layer, const at::Tensor& q, std::int64_t k,
                        std::vector<std::int64_t>& slots) const;
  /// Top-k blocks of each head, sorted by (file id, block): [H * K] refs; K = min(top_k, R).
  std::vector<BlockRef> select(std::size_t layer, const at::Tensor& q_raw, std::int64_t k) const;
  /// The blocks `refs` ([H * K]) of `layer` as float keys and values [H, K, C, D] (in this
  /// thread's scratch buffers) and their used tokens [H, K]; marks their files as used.
  std::tuple<at::Tensor, at::Tensor, at::Tensor> gather(std::size_t layer,
                                                        const std::vector<BlockRef>& refs,
                                                        std::int64_t k) const;

  ExactTierConfig config_;
  at::Tensor key_rope_cos_, key_rope_sin_;  ///< [top_k*C, D] positions 0..top_k*C-1
  std::vector<double> inv_freq_;            ///< [D/2] per-pair frequencies (times scale)

  std::unordered_map<std::string, std::unique_ptr<File>> files_;
  /// Per layer: [Hkv, R_cap / 16, D, 16] fp16, blocks 0..blocks_.size()-1 resident. kMinMax keeps
  /// minima in reps_a_ and maxima in reps_b_; kMean the means in reps_a_.
  std::vector<at::Tensor> reps_a_, reps_b_;
  /// kQuantized, per layer: int8 copies of reps_a_ / reps_b_ in the same tiles, and each
  /// block's scale ([Hkv, R_cap] float; kMinMax shares one between minimum and maximum).
  std::vector<at::Tensor> qreps_a_, qreps_b_, rep_scales_;
  /// With next_token_dim: [R_cap, E + 1] float, each resident block's mean final state and
  /// -1/2 the mean of its states' squared norms (a query [q, 1] scores it in one product).
  at::Tensor state_means_;
  std::int64_t rep_capacity_ = 0;
  std::vector<BlockRef> blocks_;  ///< owner of each resident representative
  /// Bumped by every change of the files: a kept Gathered of another generation is stale.
  std::uint64_t generation_ = 0;
  std::uint64_t token_bytes_ = 0;
  std::uint64_t dropped_rep_bytes_ = 0;
  mutable std::atomic<std::uint64_t> clock_{0};  ///< attend() calls, for least-recent use
  mutable std::atomic<std::uint64_t> selection_fallbacks_{0};
};

}  // namespace mnemo::model::memory
