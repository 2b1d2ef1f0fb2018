// Which instruction-set version of the CPU block kernels runs. Each kernel has a portable
// version and faster ones for the x86 extensions this CPU reports at run time; every
// dispatch asks kernel_isa(), so a test can lower the limit and check each version
// against the portable one on the same machine.
#pragma once

namespace mnemo::model::memory::cpu {

/// In increasing order: each level implies the ones below it.
enum class KernelIsa {
  kPortable,    ///< plain C++ (any CPU)
  kAvx2,        ///< AVX2 + FMA + F16C
  kAvx512Vnni,  ///< AVX-512 F/BW with VNNI (vpdpwssd), e.g. Zen 4, Ice Lake and later
};

/// The best level this CPU supports (kPortable off x86).
KernelIsa cpu_kernel_isa();

/// The level the kernels use: cpu_kernel_isa(), capped by set_kernel_isa_limit.
KernelIsa kernel_isa();

/// "avx512-vnni", "avx2" or "portable" (benchmark reports, test names).
const char* kernel_isa_name(KernelIsa isa);

/// Caps kernel_isa() for the whole process (tests; benchmarks that compare versions).
/// Thread-safe; kernels already running finish with the level they started with.
void set_kernel_isa_limit(KernelIsa limit);

}  // namespace mnemo::model::memory::cpu
