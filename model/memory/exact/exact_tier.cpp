#include "model/memory/exact/exact_tier.h"

#include <ATen/ATen.h>
#include <ATen/Parallel.h>

#include <algorithm>
#include <array>
#include <cmath>
#include <cstring>
#include <limits>
#include <stdexcept>
#include <tuple>

#include "model/attention.h"
#include "model/memory/block_kernels.h"
#include "model/memory/exact/block_kernels_cpu.h"
#include "model/memory/exact/exact_tier_file.h"
#include "model/memory/exact/int8_selection.h"
#include "model/memory/memory_log.h"
#include "model/rope.h"

namespace mnemo::model::memory {

namespace {

constexpr float kNegInf = -std::numeric_limits<float>::infinity();

at::ScalarType storage_dtype(ExactStorage storage) {
  switch (storage) {
    case ExactStorage::kFloat32:
      return at::kFloat;
    case ExactStorage::kFloat16:
      return at::kHalf;
    case ExactStorage::kBFloat16:
      return at::kBFloat16;
    case ExactStorage::kInt8:
      return at::kChar;
  }
  return at::kHalf;
}

/// Symmetric int8 per token and head: x ≈ q · scale, scale = max|x| / 127 (rounded to fp16
/// first, so the stored scale is the one that quantized). x: [..., D] float.
std::pair<at::Tensor, at::Tensor> quantize_int8(const at::Tensor& x) {
  const at::Tensor scale = (x.abs().amax(-1) / 127.0).to(at::kHalf);  // [...]
  const at::Tensor s = scale.to(at::kFloat).unsqueeze(-1);
  const at::Tensor safe = at::where(s > 0, s, at::ones_like(s));
  return {(x / safe).round_().clamp_(-127, 127).to(at::kChar), scale};
}

constexpr int kLanes = 8;  // partial sums the compiler keeps in one vector

/// q · (R(pos) x) with R's cos/sin rows `co`, `si` (rotate_half's sign folded into si).
float rotated_dot(const float* __restrict q, const float* __restrict x, const float* __restrict co,
                  const float* __restrict si, std::int64_t d) {
  const std::int64_t half = d / 2;
  float acc[kLanes] = {};
  std::int64_t i = 0;
  for (; i + kLanes <= half; i += kLanes) {
    for (int l = 0; l < kLanes; ++l) {
      const float lo = x[i + l], hi = x[i + half + l];
      acc[l] += q[i + l] * (lo * co[i + l] + hi * si[i + l]) +
                q[i + half + l] * (hi * co[i + half + l] + lo * si[i + half + l]);
    }
  }
  for (; i < half; ++i) {
    acc[0] += q[i] * (x[i] * co[i] + x[i + half] * si[i]) +
              q[i + half] * (x[i + half] * co[i + half] + x[i] * si[i + half]);
  }
  float s = 0;
  for (int l = 0; l < kLanes; ++l) s += acc[l];
  return s;
}

float dot(const float* __restrict q, const float* __restrict x, std::int64_t d) {
  float acc[kLanes] = {};
  std::int64_t i = 0;
  for (; i + kLanes <= d; i += kLanes) {
    for (int l = 0; l < kLanes; ++l) acc[l] += q[i + l] * x[i + l];
  }
  for (; i < d; ++i) acc[0] += q[i] * x[i];
  float s = 0;
  for (int l = 0; l < kLanes; ++l) s += acc[l];
  return s;
}

/// o += p * y in lanes of kLanes (what the vectorizer handles here; a plain loop stays
/// scalar once inlined).
constexpr std::int64_t kMaxHeadDim = 512;
void axpy(float* __restrict o, const float* __restrict y, float p, std::int64_t d) {
  std::int64_t i = 0;
  for (; i + kLanes <= d; i += kLanes) {
    for (int l = 0; l < kLanes; ++l) o[i + l] += p * y[i + l];
  }
  for (; i < d; ++i) o[i] += p * y[i];
}

/// Softmax attention of each query head over its gathered tokens, rotating key t of block
/// j by RoPE position j*C + t on the fly (cos/sin rows of `tables`, or no rotation when
/// null). q: [H, D] (rotated back and scaled); k, v: [H, K, C, D] float contiguous;
/// valid: [H, K] tokens used per block. One pass over the keys and one over the values:
/// the ATen version (rotate, attend_blocks) issues a dozen ops over the same 0.5 MB.
AttentionOutput attend_gathered(const at::Tensor& q, const at::Tensor& k, const at::Tensor& v,
                                const at::Tensor& valid, const float* cos, const float* sin) {
  const std::int64_t h = k.size(0), kk = k.size(1), c = k.size(2), d = k.size(3);
  at::Tensor o = at::zeros({h, 1, d}, at::kFloat);
  at::Tensor lse = at::empty({h, 1}, at::kFloat);
  std::vector<float> scores(static_cast<std::size_t>(kk * c));
  const float* qp = q.data_ptr<float>();
  const float* kp = k.data_ptr<float>();
  const float* vp = v.data_ptr<float>();
  const std::int32_t* validp = valid.data_ptr<std::int32_t>();
  float* op = o.data_ptr<float>();
  float* lsep = lse.data_ptr<float>();
  for (std::int64_t head = 0; head < h; ++head) {
    const float* qh = qp + head * d;
    const std::int32_t* n_valid = validp + head * kk;
    float m = kNegInf;
    for (std::int64_t j = 0; j < kk; ++j) {
      for (std::int64_t t = 0; t < n_valid[j]; ++t) {
        const std::int64_t pos = j * c + t;
        const float* x = kp + (head * kk * c + pos) * d;
        const float s =
            cos != nullptr ? rotated_dot(qh, x, cos + pos * d, sin + pos * d, d) : dot(qh, x, d);
        scores[static_cast<std::size_t>(pos)] = s;
        m = std::max(m, s);
      }
    }
    if (m == kNegInf) {  // no token: lse = -inf, o = 0
      lsep[head] = kNegInf;
      continue;
    }
    double sum = 0;
    for (std::int64_t j = 0; j < kk; ++j) {
      for (std::int64_t t = 0; t < n_valid[j]; ++t) {
        float& e = scores[static_cast<std::size_t>(j * c + t)];
        e = std::exp(e - m);
        sum += e;
      }
    }
    const auto inv = static_cast<float>(1.0 / sum);
    float oh[kMaxHeadDim] = {};
    for (std::int64_t j = 0; j < kk; ++j) {
      for (std::int64_t t = 0; t < n_valid[j]; ++t) {
        const float p = scores[static_cast<std::size_t>(j * c + t)] * inv;
        const float* y = vp + ((head * kk + j) * c + t) * d;
        axpy(oh, y, p, d);
      }
    }
    std::copy(oh, oh + d, op + head * d);
    lsep[head] = m + static_cast<float>(std::log(sum));
  }
  return {o, lse};
}

/// std::nearbyint for |x| < 2^22 (round half to even, the default rounding mode), in two
/// additions the vectorizer handles; nearbyint is a libm call per element.
inline float round_to_even(float x) {
  constexpr float kMagic = 12582912.0f;  // 1.5 · 2^23: adding it leaves no fraction bits
  return (x + kMagic) - kMagic;
}

/// Representatives live in tiles of 16 blocks: [Hkv, T, D, 16] (see block_kernels_cpu.h).
constexpr std::int64_t kTileBlocks = 16;

/// Rows `slots` of a tiled buffer: [Hkv, n, D].
at::Tensor tile_rows(const at::Tensor& tiles, const at::Tensor& slots) {
  const at::Tensor by_block = tiles.permute({0, 1, 3, 2});  // [Hkv, T, 16, D] (a view)
  return by_block.index(
      {at::indexing::Slice(), slots.div(kTileBlocks, "floor"), slots.remainder(kTileBlocks)});
}

/// Writes values [Hkv, n, D] to rows `slots` of a tiled buffer.
void set_tile_rows(at::Tensor& tiles, const at::Tensor& slots, const at::Tensor& values) {
  at::Tensor by_block = tiles.permute({0, 1, 3, 2});
  by_block.index_put_(
      {at::indexing::Slice(), slots.div(kTileBlocks, "floor"), slots.remainder(kTileBlocks)},
      values.to(tiles.scalar_type()));
}

/// The int8 copies pair the dimensions inside a tile, [Hkv, T, D / 2, 16, 2] (the layout of
/// cpu::int8_top_k_candidates): rows `slots` as [Hkv, n, D].
at::Tensor pair_tile_rows(const at::Tensor& tiles, const at::Tensor& slots) {
  const at::Tensor by_block = tiles.permute({0, 1, 3, 2, 4});  // [Hkv, T, 16, D/2, 2]
  const at::Tensor rows = by_block.index(
      {at::indexing::Slice(), slots.div(kTileBlocks, "floor"), slots.remainder(kTileBlocks)});
  return rows.reshape({rows.size(0), rows.size(1), -1});
}

void set_pair_tile_rows(at::Tensor& tiles, const at::Tensor& slots, const at::Tensor& values) {
  at::Tensor by_block = tiles.permute({0, 1, 3, 2, 4});
  by_block.index_put_(
      {at::indexing::Slice(), slots.div(kTileBlocks, "floor"), slots.remainder(kTileBlocks)},
      values.reshape({values.size(0), values.size(1), -1, 2}).to(tiles.scalar_type()));
}

/// Writes values [Hkv, n, D] to rows [start, start + n) of a tiled buffer in at most three
/// strided copies: a partial first tile, the whole tiles, a partial last tile. Appending a
/// memory's blocks this way costs one pass over them; advanced indexing (set_tile_rows)
/// costs about 2.5 µs a block.
void set_tile_range(at::Tensor& tiles, std::int64_t start, const at::Tensor& values) {
  const at::Tensor by_block = tiles.permute({0, 1, 3, 2});  // [Hkv, T, 16, D]
  const at::Tensor rows = values.to(tiles.scalar_type()).contiguous();
  const std::int64_t n = rows.size(1), h_kv = rows.size(0), d = rows.size(2);
  for (std::int64_t done = 0; done < n;) {
    const std::int64_t slot = start + done, tile = slot / kTileBlocks, offset = slot % kTileBlocks;
    if (offset == 0 && n - done >= kTileBlocks) {
      const std::int64_t whole = (n - done) / kTileBlocks;
      by_block.narrow(1, tile, whole)
          .copy_(rows.narrow(1, done, whole * kTileBlocks).view({h_kv, whole, kTileBlocks, d}));
      done += whole * kTileBlocks;
    } else {
      const std::int64_t count = std::min(kTileBlocks - offset, n - done);
      by_block.select(1, tile).narrow(1, offset, count).copy_(rows.narrow(1, done, count));
      done += count;
    }
  }
}

/// Buffers each thread reuses across attend() calls: the per-step tensors (block scores,
/// gathered blocks) are large enough that fresh allocations come from mmap and fault their
/// pages in on every step (measured: 1M tokens, 0.8 ms per step with reuse, 4.3 ms without).
at::Tensor& scratch(int slot, std::int64_t numel, at::ScalarType dtype) {
  thread_local std::array<at::Tensor, 6> buffers;
  at::Tensor& t = buffers[static_cast<std::size_t>(slot)];
  if (!t.defined() || t.numel() < numel || t.scalar_type() != dtype) {
    t = at::empty({std::max<std::int64_t>(numel, 1)}, dtype);
  }
  return t;
}

/// Each block's mean final state and -1/2 the mean squared norm of its states: [nb, E + 1]
/// (ExactTier::state_means_). states [nb, C, E] (padding zero), used [nb, C, 1].
at::Tensor block_state_means(const at::Tensor& states, const at::Tensor& used) {
  const at::Tensor s = states.to(at::kFloat);
  const at::Tensor counts = used.sum(1).to(at::kFloat).clamp_min(1);  // [nb, 1]
  const at::Tensor half_norms = s.pow(2).sum(2).sum(1, /*keepdim=*/true).div_(counts).mul_(-0.5);
  return at::cat({s.sum(1).div_(counts), half_norms}, 1).contiguous();
}

}  // namespace

ExactTierConfig exact_tier_config(const ModelConfig& model, std::size_t n_memory_layers) {
  ExactTierConfig c;
  c.n_layers = n_memory_layers;
  c.n_head = static_cast<std::int64_t>(model.n_head);
  c.n_head_kv = static_cast<std::int64_t>(model.n_head_kv);
  c.head_dim = static_cast<std::int64_t>(model.head_dim);
  c.rope_theta = model.rope_theta;
  c.rope_freq_scale = model.rope_freq_scale;
  c.rope_freq_factors = model.rope_freq_factors;
  return c;
}

ExactTier::ExactTier(ExactTierConfig config) : config_(std::move(config)) {
  const auto& c = config_;
  if (c.n_layers == 0 || c.n_head <= 0 || c.n_head_kv <= 0 || c.n_head % c.n_head_kv != 0 ||
      c.head_dim <= 0 || c.head_dim % 2 != 0 || c.head_dim > kMaxHeadDim || c.block_size <= 0 ||
      c.top_k <= 0 || c.next_token_dim < 0 || c.next_token_blocks <= 0 ||
      c.next_token_neighbours <= 0 || !(c.next_token_temperature > 0)) {
    throw std::invalid_argument("ExactTier: invalid configuration");
  }
  if (c.rope) {
    ModelConfig model;
    model.head_dim = static_cast<std::size_t>(c.head_dim);
    model.rope_theta = c.rope_theta;
    model.rope_freq_scale = c.rope_freq_scale;
    model.rope_freq_factors = c.rope_freq_factors;
    const RopeTables tables = rope_tables(model, c.top_k * c.block_size, at::kFloat);
    key_rope_cos_ = tables.cos;
    key_rope_sin_ = tables.sin;
    inv_freq_ = rope_inverse_frequencies(model);
  }
  reps_a_.resize(c.n_layers);
  if (c.representative == BlockRepresentative::kMinMax) reps_b_.resize(c.n_layers);
  if (c.selection == BlockSelection::kQuantized) {
    qreps_a_.resize(c.n_layers);
    rep_scales_.resize(c.n_layers);
    if (c.representative == BlockRepresentative::kMinMax) qreps_b_.resize(c.n_layers);
  }
}

ExactTier::~ExactTier() = default;

// ---------------------------------------------------------------------------------------
// Files

void ExactTier::add_file(const std::string& file_id, const at::Tensor& keys_in,
                         const at::Tensor& values_in, const at::Tensor& states_in,
                         const at::Tensor& next_in) {
  const auto& c = config_;
  const auto l = static_cast<std::int64_t>(c.n_layers);
  if (keys_in.dim() != 4 || keys_in.size(0) != l || keys_in.size(1) != c.n_head_kv ||
      keys_in.size(3) != c.head_dim || !values_in.sizes().equals(keys_in.sizes())) {
    throw std::invalid_argument("ExactTier::add_file: keys and values must be [L, Hkv, n, D]");
  }
  const std::int64_t n = keys_in.size(2), cc = c.block_size;
  const std::int64_t e = c.next_token_dim;
  if (e > 0 && (!states_in.defined() || !states_in.sizes().equals({n, e}) || !next_in.defined() ||
                !next_in.sizes().equals({n}))) {
    throw std::invalid_argument(
        "ExactTier::add_file: this tier keeps next-token states: states [n, E] and next [n]");
  }
  const std::int64_t nb = (n + cc - 1) / cc;
  // Pad to whole blocks: [L, Hkv, nb, C, D] float.
  auto pad = [&](const at::Tensor& x) {
    at::Tensor p = at::zeros({l, c.n_head_kv, nb * cc, c.head_dim}, at::kFloat);
    p.narrow(2, 0, n).copy_(x);
    return p.view({l, c.n_head_kv, nb, cc, c.head_dim});
  };
  const at::Tensor keys = pad(keys_in), values = pad(values_in);

  auto file = std::make_unique<File>();
  file->id = file_id;
  file->n_tokens = n;
  file->n_blocks = nb;
  const at::Tensor used = at::arange(nb * cc, at::kLong).lt(n).view({nb, cc, 1});  // [nb, C, 1]
  at::Tensor reps_a, reps_b;
  if (c.representative == BlockRepresentative::kMean) {
    const at::Tensor counts = used.sum(1).to(at::kFloat).clamp_min(1);  // [nb, 1]
    reps_a = (keys.sum(3) / counts).to(at::kHalf);
  } else {
    const float inf = std::numeric_limits<float>::infinity();
    reps_a = keys.masked_fill(used.logical_not(), inf).amin(3).to(at::kHalf);
    reps_b = keys.masked_fill(used.logical_not(), -inf).amax(3).to(at::kHalf);
  }
  if (c.storage == ExactStorage::kInt8) {
    std::tie(file->keys, file->key_scales) = quantize_int8(keys);
    std::tie(file->values, file->value_scales) = quantize_int8(values);
  } else {
    file->keys = keys.to(storage_dtype(c.storage)).contiguous();
    file->values = values.to(storage_dtype(c.storage)).contiguous();
  }
  at::Tensor state_means;
  if (e > 0) {
    const at::Tensor states = at::zeros({nb * cc, e}, at::kFloat);
    states.narrow(0, 0, n).copy_(states_in);
    file->states = states.view({nb, cc, e}).to(at::kHalf).contiguous();
    at::Tensor next = at::full({nb * cc}, -1, at::kInt);
    next.narrow(0, 0, n).copy_(next_in);
    file->next = next.view({nb, cc});
    state_means = block_state_means(file->states, used);
  }
  std::vector<IncomingFile> incoming;
  incoming.push_back({std::move(file), reps_a, reps_b, state_means});
  insert_files(std::move(incoming));
}

void ExactTier::replace_file(const std::string& file_id, const at::Tensor& keys,
                             const at::Tensor& values, const at::Tensor& states,
                             const at::Tensor& next) {
  add_file(file_id, keys, values, states, next);
}

void ExactTier::insert_files(std::vector<IncomingFile> incoming) {
  // A repeated id: the last one wins, as with one call per file.
  std::unordered_map<std::string, std::size_t> last;
  for (std::size_t i = 0; i < incoming.size(); ++i) last[incoming[i].file->id] = i;
  std::vector<IncomingFile> unique;
  for (std::size_t i = 0; i < incoming.size(); ++i) {
    if (last.at(incoming[i].file->id) == i) unique.push_back(std::move(incoming[i]));
  }
  if (unique.empty()) return;
  ++generation_;
  for (IncomingFile& in : unique) {
    remove_file(in.file->id);
    in.file->last_used.store(clock_.load());
    token_bytes_ += in.file->token_bytes();
  }
  append_representatives(unique);
  File* newest = nullptr;
  for (IncomingFile& in : unique) {
    newest = in.file.get();
    files_.emplace(newest->id, std::move(in.file));
  }
  enforce_budget(newest);
}

bool ExactTier::remove_file(const std::string& file_id) {
  const auto it = files_.find(file_id);
  if (it == files_.end()) return false;
  ++generation_;
  File& f = *it->second;
  if (f.dropped()) {
    dropped_rep_bytes_ -=
        tensor_bytes(f.dropped_a) + tensor_bytes(f.dropped_b) + tensor_bytes(f.dropped_state_means);
  } else {
    take_representatives(f);
    token_bytes_ -= f.token_bytes();
  }
  files_.erase(it);
  return true;
}

bool ExactTier::contains(const std::string& file_id) const {
  return files_.count(file_id) != 0;
}

bool ExactTier::is_dropped(const std::string& file_id) const {
  const auto it = files_.find(file_id);
  return it != files_.end() && it->second->dropped();
}

std::vector<std::string> ExactTier::file_ids() const {
  std::vector<std::string> ids;
  for (const auto& [id, file] : files_) ids.push_back(id);
  std::sort(ids.begin(), ids.end());
  return ids;
}

// ---------------------------------------------------------------------------------------
// Representatives: one compact, capacity-doubling buffer per layer.

std::uint64_t ExactTier::representative_capacity_bytes() const {
  const auto per_layer_head = static_cast<std::uint64_t>(config_.head_dim) *
                                  (2 + (qreps_a_.empty() ? 0 : 1)) * (reps_b_.empty() ? 1 : 2) +
                              (rep_scales_.empty() ? 0 : sizeof(float));
  const auto per_block =
      per_layer_head * static_cast<std::uint64_t>(config_.n_head_kv) * config_.n_layers +
      (config_.next_token_dim > 0 ? (config_.next_token_dim + 1) * sizeof(float) : 0);
  return per_block * static_cast<std::uint64_t>(rep_capacity_);
}

void ExactTier::grow_representatives(std::int64_t blocks) {
  if (blocks <= rep_capacity_) return;
  std::int64_t capacity = std::max<std::int64_t>({blocks, 2 * rep_capacity_, 1024});
  capacity = (capacity + kTileBlocks - 1) / kTileBlocks * kTileBlocks;
  const std::int64_t tiles = capacity / kTileBlocks, h_kv = config_.n_head_kv, d = config_.head_dim;
  const auto used_tiles =
      (static_cast<std::int64_t>(blocks_.size()) + kTileBlocks - 1) / kTileBlocks;
  auto grow = [&](at::Tensor& buffer, at::ScalarType dtype) {
    at::Tensor bigger = dtype == at::kChar ? at::zeros({h_kv, tiles, d / 2, kTileBlocks, 2}, dtype)
                                           : at::zeros({h_kv, tiles, d, kTileBlocks}, dtype);
    if (buffer.defined()) bigger.narrow(1, 0, used_tiles).copy_(buffer.narrow(1, 0, used_tiles));
    buffer = bigger;
  };
  for (auto& b : reps_a_) grow(b, at::kHalf);
  for (auto& b : reps_b_) grow(b, at::kHalf);
  for (auto& b : qreps_a_) grow(b, at::kChar);
  for (auto& b : qreps_b_) grow(b, at::kChar);
  const auto used = static_cast<std::int64_t>(blocks_.size());
  for (auto& scales : rep_scales_) {
    at::Tensor bigger = at::zeros({h_kv, capacity}, at::kFloat);
    if (scales.defined()) bigger.narrow(1, 0, used).copy_(scales.narrow(1, 0, used));
    scales = bigger;
  }
  if (config_.next_token_dim > 0) {
    at::Tensor bigger = at::zeros({capacity, config_.next_token_dim + 1}, at::kFloat);
    if (state_means_.defined()) bigger.narrow(0, 0, used).copy_(state_means_.narrow(0, 0, used));
    state_means_ = bigger;
  }
  rep_capacity_ = capacity;
}

void ExactTier::reserve(std::int64_t tokens) {
  grow_representatives((tokens + config_.block_size - 1) / config_.block_size);
}

void ExactTier::append_representatives(std::vector<IncomingFile>& incoming) {
  std::int64_t total = 0;
  for (const IncomingFile& in : incoming) total += in.file->n_blocks;
  if (total == 0) return;
  const auto start = static_cast<std::int64_t>(blocks_.size());
  grow_representatives(start + total);
  // One write per layer and buffer for the whole batch: [Hkv, total, D].
  auto layer_rows = [&](at::Tensor IncomingFile::*reps, std::int64_t layer) {
    std::vector<at::Tensor> parts;
    for (const IncomingFile& in : incoming) {
      if (in.file->n_blocks > 0) parts.push_back((in.*reps).select(0, layer));
    }
    return parts.size() == 1 ? parts[0] : at::cat(parts, 1);
  };
  for (std::size_t l = 0; l < config_.n_layers; ++l) {
    const auto li = static_cast<std::int64_t>(l);
    set_tile_range(reps_a_[l], start, layer_rows(&IncomingFile::reps_a, li));
    if (!reps_b_.empty()) set_tile_range(reps_b_[l], start, layer_rows(&IncomingFile::reps_b, li));
  }
  quantize_representatives(start, total);
  if (config_.next_token_dim > 0) {
    std::int64_t row = start;
    for (const IncomingFile& in : incoming) {
      if (in.file->n_blocks == 0) continue;
      state_means_.narrow(0, row, in.file->n_blocks).copy_(in.state_means);
      row += in.file->n_blocks;
    }
  }
  std::int64_t slot = start;
  for (IncomingFile& in : incoming) {
    File& file = *in.file;
    file.slots.resize(static_cast<std::size_t>(file.n_blocks));
    for (std::int64_t b = 0; b < file.n_blocks; ++b) {
      file.slots[static_cast<std::size_t>(b)] = slot++;
      blocks_.push_back({&file, b});
    }
  }
}

void ExactTier::quantize_representatives(std::int64_t start, std::int64_t n) {
  if (rep_scales_.empty() || n == 0) return;
  const std::int64_t h_kv = config_.n_head_kv, d = config_.head_dim;
  const bool minmax = !qreps_b_.empty();
  // Tile by tile over the fp16 tiles ([Hkv, T, D, 16]: the 16 blocks of a tile side by side
  // in each dimension), converted to float by ATen first, writing the paired int8 tiles
  // ([Hkv, T, D / 2, 16, 2]) directly: the ATen version (abs, amax, divide, round, clamp,
  // mask, retile) took 30 ms for 16K blocks.
  // scale = max|x| / 127, so |x - scale · round(x / scale)| <= scale / 2 (plus float
  // rounding, inside the bound's 0.01). A block with an infinite or NaN element gets n = 0
  // and scale = inf: bounds of -inf and +inf, so it is always rescored exactly.
  const std::int64_t first_tile = start / kTileBlocks;
  const std::int64_t n_tiles = (start + n + kTileBlocks - 1) / kTileBlocks - first_tile;
  for (std::size_t l = 0; l < config_.n_layers; ++l) {
    const std::int64_t tiles = reps_a_[l].size(1), capacity = rep_scales_[l].size(1);
    const at::Tensor fa = reps_a_[l].narrow(1, first_tile, n_tiles).to(at::kFloat).contiguous();
    const at::Tensor fb =
        minmax ? reps_b_[l].narrow(1, first_tile, n_tiles).to(at::kFloat).contiguous() : fa;
    std::int8_t* qa = qreps_a_[l].data_ptr<std::int8_t>();
    std::int8_t* qb = minmax ? qreps_b_[l].data_ptr<std::int8_t>() : nullptr;
    float* scales = rep_scales_[l].data_ptr<float>();
    at::parallel_for(0, h_kv * n_tiles, 16, [&](std::int64_t begin, std::int64_t end) {
      for (std::int64_t i = begin; i < end; ++i) {
        const std::int64_t kv = i / n_tiles, t = i % n_tiles, tile = first_tile + t;
        const float* a = fa.data_ptr<float>() + (kv * n_tiles + t) * d * kTileBlocks;
        const float* b = fb.data_ptr<float>() + (kv * n_tiles + t) * d * kTileBlocks;
        float amax[kTileBlocks] = {}, bad[kTileBlocks] = {};
        for (std::int64_t j = 0; j < d; ++j) {
          for (std::int64_t lane = 0; lane < kTileBlocks; ++lane) {
            const float x = a[j * kTileBlocks + lane], y = b[j * kTileBlocks + lane];
            amax[lane] = std::max({amax[lane], std::abs(x), std::abs(y)});
            bad[lane] += (x - x) + (y - y);  // NaN once any element is infinite or NaN
          }
        }
        float scale[kTileBlocks], divisor[kTileBlocks];
        bool finite[kTileBlocks];
        for (std::int64_t lane = 0; lane < kTileBlocks; ++lane) {
          finite[lane] = bad[lane] == 0.0f;
          scale[lane] = amax[lane] / 127.0f;
          divisor[lane] = finite[lane] && scale[lane] > 0 ? scale[lane] : 1.0f;
        }
        // Only the slots of [start, start + n) in this tile are written.
        const std::int64_t lo = std::max<std::int64_t>(start - tile * kTileBlocks, 0);
        const std::int64_t hi = std::min<std::int64_t>(start + n - tile * kTileBlocks, kTileBlocks);
        const auto write = [&](const float* f, std::int8_t* q) {
          std::int8_t* out = q + (kv * tiles + tile) * d * kTileBlocks;
          for (std::int64_t j = 0; j < d; ++j) {
            for (std::int64_t lane = lo; lane < hi; ++lane) {
              const float v = std::clamp(round_to_even(f[j * kTileBlocks + lane] / divisor[lane]),
                                         -127.0f, 127.0f);
              out[(j / 2) * 2 * kTileBlocks + lane * 2 + (j % 2)] =
                  finite[lane] ? static_cast<std::int8_t>(v) : std::int8_t{0};
            }
          }
        };
        write(a, qa);
        if (minmax) write(b, qb);
        for (std::int64_t lane = lo; lane < hi; ++lane) {
          scales[kv * capacity + tile * kTileBlocks + lane] = finite[lane] ? scale[lane] : INFINITY;
        }
      }
    });
  }
}

void ExactTier::move_representatives(const at::Tensor& from, const at::Tensor& to) {
  for (auto* buffers : {&reps_a_, &reps_b_}) {
    for (auto& b : *buffers) set_tile_rows(b, to, tile_rows(b, from));
  }
  for (auto* buffers : {&qreps_a_, &qreps_b_}) {
    for (auto& b : *buffers) set_pair_tile_rows(b, to, pair_tile_rows(b, from));
  }
  for (auto& scales : rep_scales_) {
    scales.index_put_({at::indexing::Slice(), to}, scales.index({at::indexing::Slice(), from}));
  }
  if (state_means_.defined()) state_means_.index_put_({to}, state_means_.index({from}));
}

ExactTier::TakenRepresentatives ExactTier::take_representatives(File& file) {
  const std::int64_t nb = file.n_blocks;
  if (nb == 0 || file.slots.empty()) return {};
  const at::Tensor slots = at::tensor(file.slots, at::kLong);
  auto extract = [&](const std::vector<at::Tensor>& buffers) {
    std::vector<at::Tensor> layers;
    for (const auto& b : buffers) layers.push_back(tile_rows(b, slots));
    return at::stack(layers).contiguous();  // [L, Hkv, nb, D]
  };
  const TakenRepresentatives reps{
      extract(reps_a_), reps_b_.empty() ? at::Tensor() : extract(reps_b_),
      state_means_.defined() ? state_means_.index_select(0, slots) : at::Tensor()};
  // Compact: the resident blocks past the new end move into this file's holes below it.
  const auto old_end = static_cast<std::int64_t>(blocks_.size());
  const std::int64_t new_end = old_end - nb;
  std::vector<char> leaving(static_cast<std::size_t>(nb), 0);  // slots new_end..old_end-1
  std::vector<std::int64_t> holes, movers;
  for (const std::int64_t s : file.slots) {
    if (s >= new_end) {
      leaving[static_cast<std::size_t>(s - new_end)] = 1;
    } else {
      holes.push_back(s);
    }
  }
  for (std::int64_t s = new_end; s < old_end; ++s) {
    if (!leaving[static_cast<std::size_t>(s - new_end)]) movers.push_back(s);
  }
  if (!holes.empty()) {
    move_representatives(at::tensor(movers, at::kLong), at::tensor(holes, at::kLong));
    for (std::size_t i = 0; i < holes.size(); ++i) {
      const BlockRef ref = blocks_[static_cast<std::size_t>(movers[i])];
      blocks_[static_cast<std::size_t>(holes[i])] = ref;
      ref.file->slots[static_cast<std::size_t>(ref.block)] = holes[i];
    }
  }
  blocks_.resize(static_cast<std::size_t>(new_end));
  file.slots.clear();
  return reps;
}

// ---------------------------------------------------------------------------------------
// Budget

void ExactTier::drop_token_blocks(File& file) {
  ++generation_;
  TakenRepresentatives taken = take_representatives(file);
  file.dropped_a = taken.a;
  file.dropped_b = taken.b;
  file.dropped_state_means = taken.state_means;
  dropped_rep_bytes_ += tensor_bytes(file.dropped_a) + tensor_bytes(file.dropped_b) +
                        tensor_bytes(file.dropped_state_means);
  token_bytes_ -= file.token_bytes();
  log::warn("exact memory over its budget of ", config_.budget_bytes,
            " bytes: dropped the token blocks of ", file.id, " (", file.n_tokens, " tokens, ",
            file.token_bytes(), " bytes, last retrieved at step ", file.last_used.load(), " of ",
            clock_.load(), "); its blocks are no longer retrieved until the file is added again");
  file.keys = at::Tensor();
  file.values = at::Tensor();
  file.key_scales = at::Tensor();
  file.value_scales = at::Tensor();
  file.states = at::Tensor();
  file.next = at::Tensor();
}

void ExactTier::enforce_budget(const File* keep) {
  const std::uint64_t budget = config_.budget_bytes;
  if (budget == 0) return;
  auto total = [&] { return token_bytes_ + representative_capacity_bytes() + dropped_rep_bytes_; };
  while (total() > budget && token_bytes_ > 0) {
    // The least recently retrieved resident file other than `keep`; `keep` itself last.
    File* victim = nullptr;
    for (const auto& [id, f] : files_) {
      if (f->dropped() || f.get() == keep) continue;
      if (victim == nullptr || f->last_used.load() < victim->last_used.load() ||
          (f->last_used.load() == victim->last_used.load() && f->id < victim->id)) {
        victim = f.get();
      }
    }
    if (victim == nullptr) {
      auto it = keep != nullptr ? files_.find(keep->id) : files_.end();
      if (it == files_.end() || it->second->dropped()) break;
      victim = it->second.get();
    }
    drop_token_blocks(*victim);
  }
  if (total() > budget) {
    log::warn("exact memory: the representatives alone (",
              representative_capacity_bytes() + dropped_rep_bytes_, " bytes) exceed the budget of ",
              budget, " bytes");
  }
}

ExactTierStats ExactTier::stats() const {
  ExactTierStats s;
  for (const auto& [id, f] : files_) {
    ++s.files;
    s.tokens += f->n_tokens;
    s.blocks += f->n_blocks;
    if (f->dropped()) {
      ++s.dropped_files;
      s.dropped_tokens += f->n_tokens;
    } else {
      s.resident_tokens += f->n_tokens;
      s.resident_blocks += f->n_blocks;
    }
  }
  s.token_bytes = token_bytes_;
  s.representative_bytes = representative_capacity_bytes() + dropped_rep_bytes_;
  s.resident_bytes = s.token_bytes + s.representative_bytes;
  s.selection_fallbacks = selection_fallbacks_.load();
  return s;
}

// ---------------------------------------------------------------------------------------
// Persistence

std::vector<std::pair<std::string, at::Tensor>> ExactTier::file_tensors(
    const std::string& file_id) const {
  const auto it = files_.find(file_id);
  if (it == files_.end() || it->second->dropped()) return {};
  const File& f = *it->second;
  std::vector<std::pair<std::string, at::Tensor>> out;
  out.emplace_back("n_tokens", at::tensor(std::vector<std::int64_t>{f.n_tokens}, at::kLong));
  out.emplace_back("keys", f.keys);
  out.emplace_back("values", f.values);
  if (f.key_scales.defined()) {
    out.emplace_back("key_scales", f.key_scales);
    out.emplace_back("value_scales", f.value_scales);
  }
  const at::Tensor slots = at::tensor(f.slots, at::kLong);
  auto extract = [&](const std::vector<at::Tensor>& buffers) {
    std::vector<at::Tensor> layers;
    for (const auto& b : buffers) layers.push_back(tile_rows(b, slots));
    return at::stack(layers).contiguous();
  };
  const auto shape = std::vector<std::int64_t>{static_cast<std::int64_t>(config_.n_layers),
                                               config_.n_head_kv, 0, config_.head_dim};
  const bool empty = f.n_blocks == 0;
  if (reps_b_.empty()) {
    out.emplace_back("representatives", empty ? at::empty(shape, at::kHalf) : extract(reps_a_));
  } else {
    out.emplace_back("rep_min", empty ? at::empty(shape, at::kHalf) : extract(reps_a_));
    out.emplace_back("rep_max", empty ? at::empty(shape, at::kHalf) : extract(reps_b_));
  }
  if (config_.next_token_dim > 0) {
    out.emplace_back("states", f.states);
    out.emplace_back("next", f.next);
    out.emplace_back("state_means", empty ? at::empty({0, config_.next_token_dim + 1}, at::kFloat)
                                          : state_means_.index_select(0, slots));
  }
  return out;
}

ExactTier::IncomingFile ExactTier::file_from_tensors(
    const std::string& file_id,
    const std::vector<std::pair<std::string, at::Tensor>>& tensors) const {
  auto get = [&](const char* name) -> at::Tensor {
    for (const auto& [n, t] : tensors) {
      if (n == name) return t;
    }
    throw std::invalid_argument(std::string("ExactTier: segment of ") + file_id + " has no " +
                                name);
  };
  const auto& c = config_;
  const at::Tensor n_tokens = get("n_tokens");
  if (n_tokens.numel() != 1) throw std::invalid_argument("ExactTier: bad n_tokens");
  auto file = std::make_unique<File>();
  file->id = file_id;
  file->n_tokens = n_tokens.to(at::kLong).item<std::int64_t>();
  file->n_blocks = (file->n_tokens + c.block_size - 1) / c.block_size;
  const std::int64_t l = static_cast<std::int64_t>(c.n_layers), nb = file->n_blocks;
  auto adopt = [&](const char* name, std::vector<std::int64_t> shape, at::ScalarType dtype) {
    const at::Tensor t = get(name);
    if (!t.sizes().equals(shape) || t.scalar_type() != dtype) {
      throw std::invalid_argument(std::string("ExactTier: segment of ") + file_id + ": " + name +
                                  " has the wrong shape or dtype");
    }
    return t.is_cpu() && t.is_contiguous() ? t : t.to(at::kCPU).contiguous();
  };
  const at::ScalarType dtype = storage_dtype(c.storage);
  file->keys = adopt("keys", {l, c.n_head_kv, nb, c.block_size, c.head_dim}, dtype);
  file->values = adopt("values", {l, c.n_head_kv, nb, c.block_size, c.head_dim}, dtype);
  if (c.storage == ExactStorage::kInt8) {
    file->key_scales = adopt("key_scales", {l, c.n_head_kv, nb, c.block_size}, at::kHalf);
    file->value_scales = adopt("value_scales", {l, c.n_head_kv, nb, c.block_size}, at::kHalf);
  }
  at::Tensor reps_a, reps_b;
  const std::vector<std::int64_t> rep_shape{l, c.n_head_kv, nb, c.head_dim};
  if (c.representative == BlockRepresentative::kMean) {
    reps_a = adopt("representatives", rep_shape, at::kHalf);
  } else {
    reps_a = adopt("rep_min", rep_shape, at::kHalf);
    reps_b = adopt("rep_max", rep_shape, at::kHalf);
  }
  at::Tensor state_means;
  if (const std::int64_t e = c.next_token_dim; e > 0) {
    file->states = adopt("states", {nb, c.block_size, e}, at::kHalf);
    file->next = adopt("next", {nb, c.block_size}, at::kInt);
    state_means = adopt("state_means", {nb, e + 1}, at::kFloat);
  }
  return {std::move(file), reps_a, reps_b, state_means};
}

void ExactTier::add_file_from_tensors(
    const std::string& file_id, const std::vector<std::pair<std::string, at::Tensor>>& tensors) {
  std::vector<IncomingFile> incoming;
  incoming.push_back(file_from_tensors(file_id, tensors));
  insert_files(std::move(incoming));
}

std::vector<ExactTier::RefusedFile> ExactTier::add_files_from_tensors(
    const std::vector<FileTensors>& files) {
  std::vector<RefusedFile> refused;
  std::vector<IncomingFile> incoming;
  incoming.reserve(files.size());
  for (std::size_t i = 0; i < files.size(); ++i) {
    try {
      incoming.push_back(file_from_tensors(files[i].file_id, files[i].tensors));
    } catch (const std::invalid_argument& e) {
      refused.push_back({i, e.what()});
    } catch (const c10::Error& e) {
      refused.push_back({i, e.what_without_backtrace()});
    }
  }
  insert_files(std::move(incoming));
  return refused;
}

// ---------------------------------------------------------------------------------------
// Attention

at::Tensor ExactTier::score(std::size_t layer, const at::Tensor& q) const {
  const auto r = static_cast<std::int64_t>(blocks_.size());
  const std::int64_t h = config_.n_head;
  at::Tensor& buffer = scratch(0, h * r * (reps_b_.empty() ? 1 : 2), at::kFloat);
  const at::Tensor out = buffer.narrow(0, 0, h * r).view({h, r});
  if (reps_b_.empty()) {
    cpu::score_tiles_into(q, reps_a_[layer], r, out);
    return out;
  }
  // Quest: max(q_i min_i, q_i max_i) is q_i max_i where q_i > 0 and q_i min_i elsewhere.
  const at::Tensor lower = buffer.narrow(0, h * r, h * r).view({h, r});
  cpu::score_tiles_into(q.clamp_min(0), reps_b_[layer], r, out);
  cpu::score_tiles_into(q.clamp_max(0), reps_a_[layer], r, lower);
  return out.add_(lower);
}

bool ExactTier::select_quantized(std::size_t layer, const at::Tensor& q, std::int64_t k,
                                 std::vector<std::int64_t>& slots) const {
  const auto& c = config_;
  const std::int64_t h = c.n_head, h_kv = c.n_head_kv, group = h / h_kv, d = c.head_dim;
  const auto r = static_cast<std::int64_t>(blocks_.size());
  const bool minmax = !reps_b_.empty();
  // The query in int16, q ≈ q_scale · q16 per head (|q16| <= 32767), and the error bound of
  // each head in units of a block's scale s (see BlockSelection): |q · m - s · q_scale ·
  // (q16 · n)| <= |q · (m - s n)| + s |(q - q_scale q16) · n| <= s (0.5 Σ|q_i| + 63.5 D
  // q_scale), since |m_i - s n_i| <= s / 2 and |n_i| <= 127; 0.51 instead of 0.5 covers the
  // float rounding of the flat scan and of these bounds (D <= 512). kMinMax scores q16's
  // positive part against the maxima and its negative part against the minima: the same.
  std::vector<float> q_scale(static_cast<std::size_t>(h)), err(static_cast<std::size_t>(h));
  at::Tensor q16 = at::empty({h, d}, at::kShort);
  const float* qp = q.data_ptr<float>();
  std::int16_t* q16p = q16.data_ptr<std::int16_t>();
  for (std::int64_t head = 0; head < h; ++head) {
    double l1 = 0, amax = 0;
    for (std::int64_t i = 0; i < d; ++i) {
      const double x = std::abs(static_cast<double>(qp[head * d + i]));
      l1 += x;
      amax = std::max(amax, x);
    }
    if (!std::isfinite(l1)) return false;
    const float scale = amax > 0 ? static_cast<float>(amax / 32767.0) : 1.0f;
    for (std::int64_t i = 0; i < d; ++i) {
      const float n = std::nearbyint(qp[head * d + i] / scale);
      q16p[head * d + i] = static_cast<std::int16_t>(std::clamp(n, -32767.0f, 32767.0f));
    }
    q_scale[static_cast<std::size_t>(head)] = scale;
    err[static_cast<std::size_t>(head)] =
        static_cast<float>(0.51 * l1 + 63.5 * static_cast<double>(d) * scale);
  }
  // First pass: int8 scores of every block and the candidates of the top-k (the only pass
  // that grows with the memory).
  cpu::Int8SelectionInput first;
  if (minmax) {
    first.q = q16.clamp_min(0);
    first.tiles = qreps_b_[layer];
    first.q_b = q16.clamp_max(0);
    first.tiles_b = qreps_a_[layer];
  } else {
    first.q = q16;
    first.tiles = qreps_a_[layer];
  }
  first.q_scale = std::move(q_scale);
  first.scales = rep_scales_[layer];
  first.err = std::move(err);
  first.n_blocks = r;
  first.k = k;
  const std::vector<std::vector<std::int64_t>> candidates = cpu::int8_top_k_candidates(first);

  // Second pass: the candidates of each key/value head's query heads (their union: a
  // superset of each head's own), gathered into tiles and scored with the flat scan's kernel.
  slots.assign(static_cast<std::size_t>(h * k), 0);
  std::vector<std::int64_t> pool;
  for (std::int64_t kv = 0; kv < h_kv; ++kv) {
    pool.clear();
    for (std::int64_t head = kv * group; head < (kv + 1) * group; ++head) {
      const auto& mine = candidates[static_cast<std::size_t>(head)];
      if (static_cast<std::int64_t>(mine.size()) < k) return false;  // NaN bounds
      pool.insert(pool.end(), mine.begin(), mine.end());
    }
    std::sort(pool.begin(), pool.end());
    pool.erase(std::unique(pool.begin(), pool.end()), pool.end());
    const auto n = static_cast<std::int64_t>(pool.size());
    // Gathering a block reads its D scattered elements: past about 1 in 8 blocks the
    // flat scan is cheaper.
    if (n > std::max<std::int64_t>(r / 8, 256)) return false;
    const std::int64_t tiles = (n + kTileBlocks - 1) / kTileBlocks;
    auto gather = [&](const at::Tensor& buffer_kv) {
      at::Tensor out = at::empty({1, tiles, d, kTileBlocks}, at::kHalf);
      const c10::Half* src = buffer_kv.data_ptr<c10::Half>() + kv * buffer_kv.stride(0);
      c10::Half* dst = out.data_ptr<c10::Half>();
      for (std::int64_t i = 0; i < n; ++i) {
        const std::int64_t slot = pool[static_cast<std::size_t>(i)];
        const c10::Half* from = src + (slot / kTileBlocks) * d * kTileBlocks + slot % kTileBlocks;
        c10::Half* to = dst + (i / kTileBlocks) * d * kTileBlocks + i % kTileBlocks;
        for (std::int64_t j = 0; j < d; ++j) to[j * kTileBlocks] = from[j * kTileBlocks];
      }
      return out;
    };
    const at::Tensor qg = q.narrow(0, kv * group, group);
    at::Tensor exact = at::empty({group, n}, at::kFloat);
    if (minmax) {
      at::Tensor lower = at::empty({group, n}, at::kFloat);
      cpu::score_tiles_into(qg.clamp_min(0), gather(reps_b_[layer]), n, exact);
      cpu::score_tiles_into(qg.clamp_max(0), gather(reps_a_[layer]), n, lower);
      exact.add_(lower);
    } else {
      cpu::score_tiles_into(qg, gather(reps_a_[layer]), n, exact);
    }
    // Each head's k best of the pool (NaN as -inf, as top_k_blocks).
    const float* ep = exact.data_ptr<float>();
    std::vector<std::int64_t> order(static_cast<std::size_t>(n));
    for (std::int64_t gi = 0; gi < group; ++gi) {
      const float* row = ep + gi * n;
      auto key = [&](std::int64_t i) { return std::isnan(row[i]) ? kNegInf : row[i]; };
      for (std::int64_t i = 0; i < n; ++i) order[static_cast<std::size_t>(i)] = i;
      std::partial_sort(order.begin(), order.begin() + k, order.end(),
                        [&](std::int64_t x, std::int64_t y) {
                          return key(x) != key(y) ? key(x) > key(y) : x < y;
                        });
      for (std::int64_t j = 0; j < k; ++j) {
        slots[static_cast<std::size_t>((kv * group + gi) * k + j)] =
            pool[static_cast<std::size_t>(order[static_cast<std::size_t>(j)])];
      }
    }
  }
  return true;
}

bool ExactTier::in_layout_order(const BlockRef& a, const BlockRef& b) {
  return a.file != b.file ? a.file->id < b.file->id : a.block < b.block;
}

std::vector<ExactTier::BlockRef> ExactTier::select(std::size_t layer, const at::Tensor& q_raw,
                                                   std::int64_t k) const {
  const at::Tensor q = q_raw.to(at::kFloat).contiguous();
  const std::int64_t h = config_.n_head;
  const auto r = static_cast<std::int64_t>(blocks_.size());
  std::vector<std::int64_t> slots;
  if (k >= r) {  // every block
    slots.resize(static_cast<std::size_t>(h * k));
    for (std::int64_t i = 0; i < h * k; ++i) slots[static_cast<std::size_t>(i)] = i % k;
  } else {
    bool done = false;
    if (!rep_scales_.empty()) {
      done = select_quantized(layer, q, k, slots);
      if (!done) selection_fallbacks_.fetch_add(1, std::memory_order_relaxed);
    }
    if (!done) {
      const at::Tensor selected = top_k_blocks(score(layer, q), k).contiguous();  // [H, K]
      const std::int64_t* sel = selected.data_ptr<std::int64_t>();
      slots.assign(sel, sel + h * k);
    }
  }
  std::vector<BlockRef> refs(static_cast<std::size_t>(h * k));
  for (std::int64_t i = 0; i < h * k; ++i) {
    refs[static_cast<std::size_t>(i)] =
        blocks_[static_cast<std::size_t>(slots[static_cast<std::size_t>(i)])];
  }
  for (std::int64_t head = 0; head < h; ++head)
    std::sort(refs.begin() + head * k, refs.begin() + (head + 1) * k, in_layout_order);
  return refs;
}

std::vector<std::vector<ExactTier::RetrievedBlock>> ExactTier::retrieve(
    std::size_t layer, const at::Tensor& q_raw) const {
  if (layer >= config_.n_layers) throw std::out_of_range("ExactTier::retrieve: layer");
  const std::int64_t h = config_.n_head;
  std::vector<std::vector<RetrievedBlock>> out(static_cast<std::size_t>(h));
  if (blocks_.empty()) return out;
  const std::int64_t k = std::min(config_.top_k, static_cast<std::int64_t>(blocks_.size()));
  const std::vector<BlockRef> refs = select(layer, q_raw, k);
  for (std::int64_t i = 0; i < h * k; ++i) {
    const BlockRef& ref = refs[static_cast<std::size_t>(i)];
    out[static_cast<std::size_t>(i / k)].push_back({ref.file->id, ref.block});
  }
  return out;
}

std::tuple<at::Tensor, at::Tensor, at::Tensor> ExactTier::gather(std::size_t layer,
                                                                 const std::vector<BlockRef>& refs,
                                                                 std::int64_t k) const {
  const auto& c = config_;
  const std::int64_t h = c.n_head, d = c.head_dim, cc = c.block_size;
  const std::int64_t group = c.n_head / c.n_head_kv;
  const std::uint64_t step = ++clock_;

  // Gather each head's blocks into [H, K, C, D].
  const at::ScalarType dtype = storage_dtype(c.storage);
  const bool int8 = c.storage == ExactStorage::kInt8;
  const std::int64_t n_gathered = h * k * cc * d;
  const at::Tensor kg = scratch(1, n_gathered, dtype).narrow(0, 0, n_gathered).view({h, k, cc, d});
  const at::Tensor vg = scratch(2, n_gathered, dtype).narrow(0, 0, n_gathered).view({h, k, cc, d});
  at::Tensor ks, vs;
  if (int8) ks = at::empty({h, k, cc}, at::kHalf), vs = at::empty({h, k, cc}, at::kHalf);
  at::Tensor valid = at::empty({h, k}, at::kInt);
  const std::int64_t block_bytes = cc * d * static_cast<std::int64_t>(c10::elementSize(dtype));
  const auto li = static_cast<std::int64_t>(layer);
  for (std::int64_t head = 0; head < h; ++head) {
    const std::int64_t kv = head / group;
    for (std::int64_t j = 0; j < k; ++j) {
      const BlockRef& ref = refs[static_cast<std::size_t>(head * k + j)];
      File& f = *ref.file;
      f.last_used.store(step, std::memory_order_relaxed);
      const std::int64_t src = (li * c.n_head_kv + kv) * f.n_blocks + ref.block;  // block index
      const std::int64_t dst = head * k + j;
      std::memcpy(static_cast<char*>(kg.data_ptr()) + dst * block_bytes,
                  static_cast<const char*>(f.keys.data_ptr()) + src * block_bytes,
                  static_cast<std::size_t>(block_bytes));
      std::memcpy(static_cast<char*>(vg.data_ptr()) + dst * block_bytes,
                  static_cast<const char*>(f.values.data_ptr()) + src * block_bytes,
                  static_cast<std::size_t>(block_bytes));
      if (int8) {
        const auto scale_bytes = static_cast<std::size_t>(cc) * sizeof(c10::Half);
        std::memcpy(ks.data_ptr<c10::Half>() + dst * cc,
                    f.key_scales.data_ptr<c10::Half>() + src * cc, scale_bytes);
        std::memcpy(vs.data_ptr<c10::Half>() + dst * cc,
                    f.value_scales.data_ptr<c10::Half>() + src * cc, scale_bytes);
      }
      valid.data_ptr<std::int32_t>()[dst] = static_cast<std::int32_t>(f.valid(ref.block, cc));
    }
  }
  at::Tensor kf = kg, vf = vg;
  if (dtype != at::kFloat) {
    kf = scratch(3, n_gathered, at::kFloat).narrow(0, 0, n_gathered).view({h, k, cc, d}).copy_(kg);
    vf = scratch(4, n_gathered, at::kFloat).narrow(0, 0, n_gathered).view({h, k, cc, d}).copy_(vg);
  }
  if (int8) {
    kf.mul_(ks.to(at::kFloat).unsqueeze(-1));
    vf.mul_(vs.to(at::kFloat).unsqueeze(-1));
  }

  return {kf, vf, valid};
}

/// One layer's chosen blocks gathered for attend_gathered, kept in a MemoryQuery::choice.
struct ExactTier::Gathered final : MemoryChoice {
  const ExactTier* tier = nullptr;
  std::uint64_t generation = 0;
  std::size_t layer = 0;
  at::Tensor keys, values, valid;  ///< [H, K, C, D] float, [H, K] int32
};

AttentionOutput ExactTier::attend(const MemoryQuery& query) const {
  const auto& c = config_;
  const std::int64_t h = c.n_head, d = c.head_dim, cc = c.block_size;
  if (query.layer >= c.n_layers) throw std::out_of_range("ExactTier::attend: layer");
  const auto r = static_cast<std::int64_t>(blocks_.size());
  if (r == 0) {
    return {at::zeros({h, 1, d}, at::kFloat), at::full({h, 1}, kNegInf, at::kFloat)};
  }
  const std::int64_t k = std::min(c.top_k, r);
  const auto* kept =
      query.choice != nullptr ? dynamic_cast<const Gathered*>(query.choice->get()) : nullptr;
  if (kept != nullptr &&
      (kept->tier != this || kept->generation != generation_ || kept->layer != query.layer))
    kept = nullptr;
  at::Tensor kf, vf, valid;
  if (kept != nullptr) {
    kf = kept->keys, vf = kept->values, valid = kept->valid;
  } else {
    std::tie(kf, vf, valid) = gather(query.layer, select(query.layer, query.q_raw, k), k);
    if (query.choice != nullptr) {
      auto fresh = std::make_unique<Gathered>();
      fresh->tier = this;
      fresh->generation = generation_;
      fresh->layer = query.layer;
      // Out of this thread's scratch buffers, which the next choice overwrites.
      fresh->keys = kf = kf.clone();
      fresh->values = vf = vf.clone();
      fresh->valid = valid;
      *query.choice = std::move(fresh);
    }
  }

  // Rotation: keys to positions 0..K*C-1 (on the fly), the query back by
  // p0 = window_start - K*C (see the header): q_rot · R(p0 + j) k = (R(-p0) q_rot) · (R(j) k).
  at::Tensor q = query.q_rot.to(at::kFloat).contiguous().clone();  // [H, D]
  if (c.rope) {
    const double p0 = static_cast<double>(query.window_start - k * cc);
    const std::int64_t half = d / 2;
    float* qp = q.data_ptr<float>();
    for (std::int64_t i = 0; i < half; ++i) {
      const double angle =
          -p0 * static_cast<double>(c.rope_freq_scale) * inv_freq_[static_cast<std::size_t>(i)];
      const double co = std::cos(angle), si = std::sin(angle);
      for (std::int64_t head = 0; head < h; ++head) {
        float* row = qp + head * d;
        const double x0 = row[i], x1 = row[i + half];
        row[i] = static_cast<float>(x0 * co - x1 * si);
        row[i + half] = static_cast<float>(x1 * co + x0 * si);
      }
    }
  }
  q.mul_(query.scale);
  return attend_gathered(q, kf, vf, valid, c.rope ? key_rope_cos_.data_ptr<float>() : nullptr,
                         c.rope ? key_rope_sin_.data_ptr<float>() : nullptr);
}

}  // namespace mnemo::model::memory
