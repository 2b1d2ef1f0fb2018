#include "model/memory/exact/kernel_isa.h"

#include <algorithm>
#include <atomic>

namespace mnemo::model::memory::cpu {
namespace {

std::atomic<KernelIsa> isa_limit{KernelIsa::kAvx512Vnni};

KernelIsa detect() {
#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
  __builtin_cpu_init();
  const bool avx2 = __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma") &&
                    __builtin_cpu_supports("f16c");
  if (!avx2) return KernelIsa::kPortable;
  const bool vnni = __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") &&
                    __builtin_cpu_supports("avx512vnni");
  return vnni ? KernelIsa::kAvx512Vnni : KernelIsa::kAvx2;
#else
  return KernelIsa::kPortable;
#endif
}

}  // namespace

KernelIsa cpu_kernel_isa() {
  static const KernelIsa best = detect();
  return best;
}

KernelIsa kernel_isa() {
  return std::min(cpu_kernel_isa(), isa_limit.load(std::memory_order_relaxed));
}

void set_kernel_isa_limit(KernelIsa limit) {
  isa_limit.store(limit, std::memory_order_relaxed);
}

const char* kernel_isa_name(KernelIsa isa) {
  switch (isa) {
    case KernelIsa::kAvx512Vnni:
      return "avx512-vnni";
    case KernelIsa::kAvx2:
      return "avx2";
    case KernelIsa::kPortable:
      break;
  }
  return "portable";
}

}  // namespace mnemo::model::memory::cpu
