#include "model/training/training_memory.h"

#include <algorithm>
#include <cmath>
#include <limits>

#include <ATen/ATen.h>
#include <torch/csrc/autograd/custom_function.h>

#include "model/training/rotary.h"

namespace mnemo::model::training {
namespace {

/// Groups of queries read their blocks in chunks of this many queries, so a chunk's
/// gathered blocks stay small.
constexpr std::int64_t kQueryChunk = 256;

/// For each query head, the key/value head it reads (grouped-query attention).
at::Tensor key_value_head_of(const TrainingMemoryConfig& c) {
  return at::arange(c.n_head, at::TensorOptions().dtype(at::kLong).device(c.device))
      .div(c.n_head / c.n_head_kv, "floor");
}

struct Gathered {
  at::Tensor keys, values, valid;  // [N, H, k, C, D] (float), [N, H, k, C]
};

Gathered gather(const at::Tensor& keys, const at::Tensor& values, const at::Tensor& valid,
                const at::Tensor& kv_of_head, const at::Tensor& idx) {
  const at::Tensor kv = kv_of_head.view({1, -1, 1}).expand_as(idx);
  return {keys.index({kv, idx}).to(at::kFloat), values.index({kv, idx}).to(at::kFloat),
          valid.index({idx})};
}

/// The memory read as a function of the per-slot queries q_s [N, G, H, k, D] of N groups
/// of G queries, each group reading the blocks idx [N, H, k]: (o [N, G, H, D], lse
/// [N, G, H]). The gathered blocks are not kept for backward: it gathers them again.
class MemoryRead : public torch::autograd::Function<MemoryRead> {
 public:
  static torch::autograd::variable_list forward(torch::autograd::AutogradContext* ctx,
                                                const at::Tensor& q_s, const at::Tensor& idx,
                                                const at::Tensor& keys, const at::Tensor& values,
                                                const at::Tensor& valid,
                                                const at::Tensor& kv_of_head, double scale) {
    ctx->save_for_backward({q_s, idx, keys, values, valid, kv_of_head});
    ctx->saved_data["scale"] = scale;
    const at::Tensor q = q_s.to(at::kFloat);
    const std::int64_t chunk = std::max<std::int64_t>(1, kQueryChunk / q.size(1));
    std::vector<at::Tensor> os, lses;
    for (std::int64_t start = 0; start < q.size(0); start += chunk) {
      const std::int64_t n = std::min(chunk, q.size(0) - start);
      const Gathered g = gather(keys, values, valid, kv_of_head, idx.narrow(0, start, n));
      const auto [p, lse] = probabilities(q.narrow(0, start, n), g, scale);
      os.push_back(at::einsum("nqhsc,nhscd->nqhd", {p, g.values}));
      lses.push_back(lse);
    }
    return {at::cat(os, 0), at::cat(lses, 0)};
  }

  static torch::autograd::variable_list backward(torch::autograd::AutogradContext* ctx,
                                                 torch::autograd::variable_list grads) {
    const auto saved = ctx->get_saved_variables();
    const at::Tensor &q_s = saved[0], &idx = saved[1], &keys = saved[2], &values = saved[3],
                     &valid = saved[4], &kv_of_head = saved[5];
    const double scale = ctx->saved_data["scale"].toDouble();
    const at::Tensor q = q_s.to(at::kFloat);
    const std::int64_t N = q.size(0), G = q.size(1), H = q.size(2), D = q.size(4);
    const at::Tensor d_o =
        grads[0].defined() ? grads[0].to(at::kFloat) : at::zeros({N, G, H, D}, q.options());
    const at::Tensor d_lse =
        grads[1].defined() ? grads[1].to(at::kFloat) : at::zeros({N, G, H}, q.options());
    const std::int64_t chunk = std::max<std::int64_t>(1, kQueryChunk / G);
    std::vector<at::Tensor> dqs;
    for (std::int64_t start = 0; start < N; start += chunk) {
      const std::int64_t n = std::min(chunk, N - start);
      const Gathered g = gather(keys, values, valid, kv_of_head, idx.narrow(0, start, n));
      const auto [p, lse] = probabilities(q.narrow(0, start, n), g, scale);
      const at::Tensor doc = d_o.narrow(0, start, n);
      const at::Tensor o = at::einsum("nqhsc,nhscd->nqhd", {p, g.values});
      const at::Tensor dp = at::einsum("nqhd,nhscd->nqhsc", {doc, g.values});
      const at::Tensor row = (doc * o).sum(-1) - d_lse.narrow(0, start, n);  // [n, G, H]
      const at::Tensor ds = p * (dp - row.unsqueeze(-1).unsqueeze(-1));
      dqs.push_back(at::einsum("nqhsc,nhscd->nqhsd", {ds, g.keys}) * scale);
    }
    return {at::cat(dqs, 0).to(q_s.scalar_type()),
            at::Tensor(),
            at::Tensor(),
            at::Tensor(),
            at::Tensor(),
            at::Tensor(),
            at::Tensor()};
  }

 private:
  /// Softmax weights [n, G, H, k, C] over each query's kC slots, and their lse [n, G, H].
  static std::pair<at::Tensor, at::Tensor> probabilities(const at::Tensor& q, const Gathered& g,
                                                         double scale) {
    at::Tensor s = at::einsum("nqhsd,nhscd->nqhsc", {q, g.keys}) * scale;
    s = s.masked_fill(g.valid.unsqueeze(1).logical_not(), -std::numeric_limits<float>::infinity());
    const at::Tensor lse = at::logsumexp(s.flatten(3), -1);
    return {(s - lse.unsqueeze(-1).unsqueeze(-1)).exp(), lse};
  }
};

}  // namespace

TrainingMemory::TrainingMemory(TrainingMemoryConfig config, const ModelConfig& model)
    : config_(config), layers_(static_cast<std::size_t>(config.n_layers)) {
  const at::TensorOptions f32 = at::TensorOptions().dtype(at::kFloat).device(config_.device);
  offset_rope_ = rope_tables(model, config_.block_size, f32);
  // Positions 0, -C, ..., -(k-1)C: cos is even and sin odd in the position.
  const RopeTables forward = rope_tables(model, config_.block_size * config_.top_k, f32);
  const at::Tensor rows =
      at::arange(0, config_.top_k * config_.block_size, config_.block_size, f32.dtype(at::kLong));
  back_rope_ = {forward.cos.index_select(0, rows), -forward.sin.index_select(0, rows)};
}

void TrainingMemory::add_file(const at::Tensor& keys, const at::Tensor& values) {
  const std::int64_t n = keys.size(2), C = config_.block_size, D = config_.head_dim;
  const std::int64_t Hkv = config_.n_head_kv;
  if (n == 0) return;
  const std::int64_t nb = (n + C - 1) / C, pad = nb * C - n;
  for (std::int64_t l = 0; l < config_.n_layers; ++l) {
    at::Tensor k = keys[l].detach().to(config_.device, at::kFloat);
    at::Tensor v = values[l].detach().to(config_.device, at::kFloat);
    if (pad > 0) {
      k = at::cat({k, at::zeros({Hkv, pad, D}, k.options())}, 1);
      v = at::cat({v, at::zeros({Hkv, pad, D}, v.options())}, 1);
    }
    k = k.view({Hkv, nb, C, D});
    v = v.view({Hkv, nb, C, D});
    at::Tensor valid = at::arange(nb * C, k.options().dtype(at::kLong)).lt(n).view({nb, C});
    Layer& layer = layers_[static_cast<std::size_t>(l)];
    const at::Tensor counts = valid.sum(1).to(at::kFloat).view({1, nb, 1});
    layer.reps.push_back(k.sum(2) / counts);
    layer.key_blocks.push_back(
        rotate(k, offset_rope_.cos.view({1, 1, C, D}), offset_rope_.sin.view({1, 1, C, D}))
            .to(at::kBFloat16));
    layer.value_blocks.push_back(v.to(at::kBFloat16));
    layer.valid_blocks.push_back(valid);
  }
  blocks_ += nb;
  tokens_ += n;
  dirty_ = true;
}

void TrainingMemory::clear() {
  for (Layer& layer : layers_) layer = Layer();
  blocks_ = tokens_ = 0;
  dirty_ = false;
}

std::int64_t TrainingMemory::slots() const {
  return std::min(config_.top_k, blocks_) * config_.block_size;
}

void TrainingMemory::prepare_read() const {
  if (!dirty_) return;
  for (Layer& layer : layers_) {
    layer.keys = at::cat(layer.key_blocks, 1);
    layer.values = at::cat(layer.value_blocks, 1);
    layer.valid = at::cat(layer.valid_blocks, 0);
    layer.representatives = at::cat(layer.reps, 1);
    layer.key_blocks = {layer.keys};
    layer.value_blocks = {layer.values};
    layer.valid_blocks = {layer.valid};
    layer.reps = {layer.representatives};
  }
  dirty_ = false;
}

at::Tensor TrainingMemory::choose(std::int64_t layer, const at::Tensor& q_raw,
                                  std::int64_t group) const {
  const Layer& m = layers_[static_cast<std::size_t>(layer)];
  const std::int64_t B = q_raw.size(0), T = q_raw.size(1), H = config_.n_head;
  const std::int64_t k = std::min(config_.top_k, blocks_);
  const at::Tensor kv_of_head = key_value_head_of(config_);
  const at::Tensor reps = m.representatives.index_select(0, kv_of_head);  // [H, Nb, D]
  // A group's blocks are those its summed query scores best: Σ_q q·mean = (Σ_q q)·mean.
  const at::Tensor q =
      q_raw.detach().to(at::kFloat).view({B, T / group, group, H, -1}).sum(2).flatten(0, 1);
  std::vector<at::Tensor> chosen;
  for (std::int64_t start = 0; start < q.size(0); start += kQueryChunk) {
    const std::int64_t n = std::min(kQueryChunk, q.size(0) - start);
    const at::Tensor scores = at::einsum("qhd,hnd->qhn", {q.narrow(0, start, n), reps});
    chosen.push_back(std::get<0>(at::sort(std::get<1>(at::topk(scores, k, -1)), -1)));
  }
  return at::cat(chosen, 0);  // [B T / group, H, k]
}

TrainingMemory::Read TrainingMemory::attend(std::int64_t layer, const at::Tensor& q_raw,
                                            const at::Tensor& q_rot, double scale) const {
  const std::int64_t B = q_raw.size(0), T = q_raw.size(1), H = q_raw.size(2), D = q_raw.size(3);
  if (blocks_ == 0) {
    return {at::zeros({B, T, H, D}, q_rot.options()),
            at::full({B, T, H}, -std::numeric_limits<float>::infinity(), q_rot.options())};
  }
  prepare_read();
  const Layer& m = layers_[static_cast<std::size_t>(layer)];
  const std::int64_t G = T % config_.query_group == 0 ? config_.query_group : 1;
  const at::Tensor idx = choose(layer, q_raw, G);  // [B T / G, H, k]
  const std::int64_t k = idx.size(2);
  // The query as each slot's keys see it: rotated back by s·C from slots() + t.
  const at::Tensor q = q_rot.reshape({B * T / G, G, H, 1, D}).expand({B * T / G, G, H, k, D});
  const at::Tensor q_s = rotate(q, back_rope_.cos.narrow(0, 0, k).view({1, 1, 1, k, D}),
                                back_rope_.sin.narrow(0, 0, k).view({1, 1, 1, k, D}));
  const at::Tensor kv_of_head = key_value_head_of(config_);
  const auto out = MemoryRead::apply(q_s, idx, m.keys, m.values, m.valid, kv_of_head, scale);
  return {out[0].view({B, T, H, D}).to(q_rot.scalar_type()),
          out[1].view({B, T, H}).to(q_rot.scalar_type())};
}

TrainingMemory::Read TrainingMemory::attend_reference(std::int64_t layer, const at::Tensor& q_raw,
                                                      const at::Tensor& q_rot, double scale) const {
  const std::int64_t B = q_raw.size(0), T = q_raw.size(1), H = q_raw.size(2), D = q_raw.size(3);
  prepare_read();
  const Layer& m = layers_[static_cast<std::size_t>(layer)];
  const std::int64_t G = T % config_.query_group == 0 ? config_.query_group : 1;
  const at::Tensor idx = choose(layer, q_raw, G)
                             .view({B * T / G, 1, H, -1})
                             .expand({B * T / G, G, H, std::min(config_.top_k, blocks_)})
                             .reshape({B * T, H, -1});  // each query its group's blocks
  const std::int64_t k = idx.size(2);
  const at::Tensor kv_of_head = key_value_head_of(config_);
  // The true RoPE scores: each gathered key (rotated by its offset c) rotated on by s·C, to
  // its slot's position s·C + c.
  const Gathered g = gather(m.keys, m.values, m.valid, kv_of_head, idx);
  std::vector<at::Tensor> rotated;
  for (std::int64_t s = 0; s < k; ++s) {
    rotated.push_back(rotate(g.keys.select(2, s), back_rope_.cos[s].view({1, 1, 1, D}),
                             -back_rope_.sin[s].view({1, 1, 1, D})));
  }
  const at::Tensor k_all = at::stack(rotated, 2).flatten(2, 3);  // [Q, H, kC, D]
  const at::Tensor v_all = g.values.flatten(2, 3);
  at::Tensor s = at::einsum("qhd,qhnd->qhn", {q_rot.flatten(0, 1).to(at::kFloat), k_all}) * scale;
  s = s.masked_fill(g.valid.flatten(2).logical_not(), -std::numeric_limits<float>::infinity());
  const at::Tensor lse = at::logsumexp(s, -1);
  const at::Tensor o = at::einsum("qhn,qhnd->qhd", {at::softmax(s, -1), v_all});
  return {o.view({B, T, H, D}), lse.view({B, T, H})};
}

}  // namespace mnemo::model::training
