#include "model/training/training_memory.h"

#include <algorithm>
#include <cmath>
#include <limits>

#include <ATen/ATen.h>
#include <torch/csrc/autograd/custom_function.h>

#include "model/training/rotary.h"

namespace mnemo::model::training {
namespace {

/// Queries read the blocks in chunks of this many, so a chunk's gathered blocks stay small.
constexpr std::int64_t kQueryChunk = 256;

struct Gathered {
  at::Tensor keys, values, valid;  // [Q, H, k, C, D] (float), [Q, H, k, C]
};

Gathered gather(const at::Tensor& keys, const at::Tensor& values, const at::Tensor& valid,
                const at::Tensor& kv_of_head, const at::Tensor& idx) {
  const at::Tensor kv = kv_of_head.view({1, -1, 1}).expand_as(idx);
  return {keys.index({kv, idx}).to(at::kFloat), values.index({kv, idx}).to(at::kFloat),
          valid.index({idx})};
}

/// The memory read as a function of the per-slot queries q_s [Q, H, k, D]: (o [Q, H, D],
/// lse [Q, H]). The gathered blocks are not kept for backward: it gathers them again.
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
    std::vector<at::Tensor> os, lses;
    for (std::int64_t start = 0; start < q.size(0); start += kQueryChunk) {
      const std::int64_t n = std::min(kQueryChunk, q.size(0) - start);
      const Gathered g = gather(keys, values, valid, kv_of_head, idx.narrow(0, start, n));
      at::Tensor s = at::einsum("qhsd,qhscd->qhsc", {q.narrow(0, start, n), g.keys}) * scale;
      s = s.masked_fill(g.valid.logical_not(), -std::numeric_limits<float>::infinity());
      const at::Tensor flat = s.flatten(2);
      const at::Tensor lse = at::logsumexp(flat, -1);
      const at::Tensor p = (flat - lse.unsqueeze(-1)).exp().view_as(s);
      os.push_back(at::einsum("qhsc,qhscd->qhd", {p, g.values}));
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
    const at::Tensor d_o = grads[0].defined()
                               ? grads[0].to(at::kFloat)
                               : at::zeros({q.size(0), q.size(1), q.size(3)}, q.options());
    const at::Tensor d_lse = grads[1].defined() ? grads[1].to(at::kFloat)
                                                : at::zeros({q.size(0), q.size(1)}, q.options());
    std::vector<at::Tensor> dqs;
    for (std::int64_t start = 0; start < q.size(0); start += kQueryChunk) {
      const std::int64_t n = std::min(kQueryChunk, q.size(0) - start);
      const Gathered g = gather(keys, values, valid, kv_of_head, idx.narrow(0, start, n));
      const at::Tensor qc = q.narrow(0, start, n), doc = d_o.narrow(0, start, n);
      at::Tensor s = at::einsum("qhsd,qhscd->qhsc", {qc, g.keys}) * scale;
      s = s.masked_fill(g.valid.logical_not(), -std::numeric_limits<float>::infinity());
      const at::Tensor lse = at::logsumexp(s.flatten(2), -1);
      const at::Tensor p = (s - lse.view({n, -1, 1, 1})).exp();
      const at::Tensor o = at::einsum("qhsc,qhscd->qhd", {p, g.values});
      const at::Tensor dp = at::einsum("qhd,qhscd->qhsc", {doc, g.values});
      const at::Tensor row = (doc * o).sum(-1) - d_lse.narrow(0, start, n);  // [Q, H]
      const at::Tensor ds = p * (dp - row.view({n, -1, 1, 1}));
      dqs.push_back(at::einsum("qhsc,qhscd->qhsd", {ds, g.keys}) * scale);
    }
    return {at::cat(dqs, 0).to(q_s.scalar_type()),
            at::Tensor(),
            at::Tensor(),
            at::Tensor(),
            at::Tensor(),
            at::Tensor(),
            at::Tensor()};
  }
};

}  // namespace

TrainingMemory::TrainingMemory(TrainingMemoryConfig config, const ModelConfig& model)
    : config_(config), layers_(static_cast<std::size_t>(config.n_layers)) {
  const at::TensorOptions f32 = at::TensorOptions().dtype(at::kFloat);
  offset_rope_ = rope_tables(model, config_.block_size, f32);
  // Positions 0, -C, ..., -(k-1)C: cos is even and sin odd in the position.
  const RopeTables forward = rope_tables(model, config_.block_size * config_.top_k, f32);
  const at::Tensor rows = at::arange(0, config_.top_k * config_.block_size, config_.block_size);
  back_rope_ = {forward.cos.index_select(0, rows), -forward.sin.index_select(0, rows)};
}

void TrainingMemory::add_file(const at::Tensor& keys, const at::Tensor& values) {
  const std::int64_t n = keys.size(2), C = config_.block_size, D = config_.head_dim;
  const std::int64_t Hkv = config_.n_head_kv;
  if (n == 0) return;
  const std::int64_t nb = (n + C - 1) / C, pad = nb * C - n;
  for (std::int64_t l = 0; l < config_.n_layers; ++l) {
    at::Tensor k = keys[l].detach().to(at::kFloat);
    at::Tensor v = values[l].detach().to(at::kFloat);
    if (pad > 0) {
      k = at::cat({k, at::zeros({Hkv, pad, D}, k.options())}, 1);
      v = at::cat({v, at::zeros({Hkv, pad, D}, v.options())}, 1);
    }
    k = k.view({Hkv, nb, C, D});
    v = v.view({Hkv, nb, C, D});
    at::Tensor valid = at::arange(nb * C).lt(n).view({nb, C});
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

void TrainingMemory::concatenate() const {
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

at::Tensor TrainingMemory::choose(std::int64_t layer, const at::Tensor& q_raw) const {
  const Layer& m = layers_[static_cast<std::size_t>(layer)];
  const std::int64_t H = config_.n_head, k = std::min(config_.top_k, blocks_);
  const at::Tensor kv_of_head = at::arange(H).div(H / config_.n_head_kv, "floor");
  const at::Tensor reps = m.representatives.index_select(0, kv_of_head);  // [H, Nb, D]
  const at::Tensor q = q_raw.detach().to(at::kFloat).flatten(0, 1);       // [Q, H, D]
  std::vector<at::Tensor> chosen;
  for (std::int64_t start = 0; start < q.size(0); start += kQueryChunk) {
    const std::int64_t n = std::min(kQueryChunk, q.size(0) - start);
    const at::Tensor scores = at::einsum("qhd,hnd->qhn", {q.narrow(0, start, n), reps});
    chosen.push_back(std::get<0>(at::sort(std::get<1>(at::topk(scores, k, -1)), -1)));
  }
  return at::cat(chosen, 0).view({q_raw.size(0), q_raw.size(1), H, k});
}

TrainingMemory::Read TrainingMemory::attend(std::int64_t layer, const at::Tensor& q_raw,
                                            const at::Tensor& q_rot, double scale) const {
  const std::int64_t B = q_raw.size(0), T = q_raw.size(1), H = q_raw.size(2), D = q_raw.size(3);
  if (blocks_ == 0) {
    return {at::zeros({B, T, H, D}, q_rot.options()),
            at::full({B, T, H}, -std::numeric_limits<float>::infinity(), q_rot.options())};
  }
  concatenate();
  const Layer& m = layers_[static_cast<std::size_t>(layer)];
  const at::Tensor idx = choose(layer, q_raw).flatten(0, 1);  // [Q, H, k]
  const std::int64_t k = idx.size(2);
  // The query as each slot's keys see it: rotated back by s·C from slots() + t.
  const at::Tensor q = q_rot.flatten(0, 1).unsqueeze(2).expand({B * T, H, k, D});
  const at::Tensor q_s = rotate(q, back_rope_.cos.narrow(0, 0, k).view({1, 1, k, D}),
                                back_rope_.sin.narrow(0, 0, k).view({1, 1, k, D}));
  const at::Tensor kv_of_head = at::arange(H).div(H / config_.n_head_kv, "floor");
  const auto out = MemoryRead::apply(q_s, idx, m.keys, m.values, m.valid, kv_of_head, scale);
  return {out[0].view({B, T, H, D}).to(q_rot.scalar_type()),
          out[1].view({B, T, H}).to(q_rot.scalar_type())};
}

TrainingMemory::Read TrainingMemory::attend_reference(std::int64_t layer, const at::Tensor& q_raw,
                                                      const at::Tensor& q_rot, double scale) const {
  const std::int64_t B = q_raw.size(0), T = q_raw.size(1), H = q_raw.size(2), D = q_raw.size(3);
  concatenate();
  const Layer& m = layers_[static_cast<std::size_t>(layer)];
  const at::Tensor idx = choose(layer, q_raw).flatten(0, 1);
  const std::int64_t k = idx.size(2);
  const at::Tensor kv_of_head = at::arange(H).div(H / config_.n_head_kv, "floor");
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
