#include "model/training/window_batch.h"

#include <algorithm>

#include <ATen/ATen.h>

namespace mnemo::model::training {

std::vector<std::vector<Window>> passes(const std::vector<Window>& windows, std::int64_t per_pass) {
  const auto n = static_cast<std::size_t>(std::max<std::int64_t>(1, per_pass));
  std::vector<std::vector<Window>> out;
  for (std::size_t start = 0; start < windows.size(); start += n) {
    out.emplace_back(
        windows.begin() + static_cast<std::ptrdiff_t>(start),
        windows.begin() + static_cast<std::ptrdiff_t>(std::min(windows.size(), start + n)));
  }
  return out;
}

at::Tensor batch_tensor(const std::vector<Window>& windows) {
  const auto width = static_cast<std::int64_t>(windows.front().tokens.size());
  at::Tensor t = at::empty({static_cast<std::int64_t>(windows.size()), width}, at::kLong);
  auto a = t.accessor<std::int64_t, 2>();
  for (std::size_t b = 0; b < windows.size(); ++b) {
    for (std::int64_t i = 0; i < width; ++i)
      a[static_cast<std::int64_t>(b)][i] = windows[b].tokens[static_cast<std::size_t>(i)];
  }
  return t;
}

at::Tensor batch_targets(const at::Tensor& batch, const std::vector<Window>& windows) {
  const std::int64_t length = batch.size(1) - 1;
  at::Tensor targets = batch.narrow(1, 1, length).clone();
  for (std::size_t b = 0; b < windows.size(); ++b) {
    targets[static_cast<std::int64_t>(b)]
        .narrow(0, windows[b].valid, length - windows[b].valid)
        .fill_(-100);
  }
  return targets;
}

void remember(const TrainingModel& model, TrainingMemory& memory,
              const std::vector<Window>& windows) {
  // Encoded a few windows at a time: one window's ops are too small to keep the cores busy.
  constexpr std::int64_t kWindowsPerPass = 8;
  std::vector<at::Tensor> keys, values;
  for (const std::vector<Window>& part : passes(windows, kWindowsPerPass)) {
    const auto length = static_cast<std::int64_t>(part[0].tokens.size()) - 1;
    const MemoryTap tap = model.encode(batch_tensor(part).narrow(1, 0, length));
    const at::Tensor k = at::stack(tap.keys, 0), v = at::stack(tap.values, 0);  // [L, B, Hkv, T, D]
    for (std::size_t b = 0; b < part.size(); ++b) {
      const std::int64_t n = std::min<std::int64_t>(part[b].valid + 1, length);
      keys.push_back(k.select(1, static_cast<std::int64_t>(b)).narrow(2, 0, n));  // [L, Hkv, n, D]
      values.push_back(v.select(1, static_cast<std::int64_t>(b)).narrow(2, 0, n));
    }
  }
  if (!keys.empty()) memory.add_file(at::cat(keys, 2), at::cat(values, 2));
}

}  // namespace mnemo::model::training
