#include "model/memory/continuous/continuous_tier.h"

#include <ATen/ATen.h>

#include <limits>
#include <stdexcept>
#include <utility>

namespace mnemo::model::memory::continuous {

ContinuousTier::ContinuousTier(const ContinuousOptions& options, std::int64_t dim,
                               std::vector<ContinuousMemoryModule> modules)
    : modules_(std::move(modules)) {
  signals_.reserve(modules_.size());
  for (std::size_t i = 0; i < modules_.size(); ++i) signals_.emplace_back(options, dim);
}

AttentionOutput ContinuousTier::attend(const MemoryQuery& query) const {
  const ContinuousMemoryModule& module = modules_.at(query.layer);
  ContinuousSignal& signal = signals_.at(query.layer);
  const std::int64_t h = module.n_heads(), d = module.head_dim();
  if (signal.empty()) {
    const auto options = query.q_raw.options().dtype(at::kFloat);
    return {at::zeros({h, 1, d}, options),
            at::full({h, 1}, -std::numeric_limits<float>::infinity(), options)};
  }
  ContinuousReadout read = module.forward(signal.coefficients(), query.q_raw, query.scale);
  {
    const std::lock_guard<std::mutex> lock(histogram_mutex_);
    signal.record_attention(read.mu, read.sigma2);
  }
  return {std::move(read.o), std::move(read.lse)};
}

void ContinuousTier::append(std::size_t layer, const at::Tensor& x) {
  signals_.at(layer).append(x);
}

}  // namespace mnemo::model::memory::continuous
