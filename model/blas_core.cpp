#include "model/blas_core.h"

#include <dlfcn.h>
#include <strings.h>
#include <unistd.h>

#include <array>
#include <cstdlib>

namespace mnemo::model {
namespace {

/// OpenBLAS's x86 cores whose kernels predate AVX2 and FMA: the ones it falls back to, or
/// would choose only on CPUs that have neither.
bool pre_avx2_core(const std::string& core) {
  static constexpr std::array<const char*, 20> kCores = {
      "Prescott", "Core2",       "Penryn",     "Dunnington",    "Nehalem",
      "Atom",     "Sandybridge", "Opteron",    "Opteron(SSE3)", "Barcelona",
      "Bobcat",   "Bulldozer",   "Piledriver", "Steamroller",   "Nano",
      "Katmai",   "Coppermine",  "Northwood",  "Banias",        "Athlon"};
  for (const char* name : kCores) {
    if (strcasecmp(core.c_str(), name) == 0) return true;
  }
  return false;
}

/// The newest core of OpenBLAS 0.3.21 whose instructions this CPU has.
std::string core_for_this_cpu() {
#if defined(__x86_64__) || defined(__i386__)
  __builtin_cpu_init();
  if (__builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") &&
      __builtin_cpu_supports("avx512dq") && __builtin_cpu_supports("avx512vl") &&
      __builtin_cpu_supports("avx512cd"))
    return "SkylakeX";
  if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma")) return "Haswell";
#endif
  return "";
}

}  // namespace

BlasCore blas_core() {
  BlasCore core;
  // Looked up, not linked: LibTorch reaches OpenBLAS through Debian's libblas.so.3, which
  // may be another BLAS.
  using Corename = char* (*)();
  const auto corename = reinterpret_cast<Corename>(dlsym(RTLD_DEFAULT, "openblas_get_corename"));
  if (corename == nullptr || corename() == nullptr) return core;
  core.loaded = corename();
  if (pre_avx2_core(core.loaded)) core.better = core_for_this_cpu();
  return core;
}

void rerun_with_better_blas_core(char** argv) {
  if (std::getenv("OPENBLAS_CORETYPE") != nullptr) return;  // the user's choice, or ours
  const BlasCore core = blas_core();
  if (core.better.empty()) return;
  if (setenv("OPENBLAS_CORETYPE", core.better.c_str(), 1) != 0) return;
  execv("/proc/self/exe", argv);
  unsetenv("OPENBLAS_CORETYPE");  // not run again: go on as loaded
}

}  // namespace mnemo::model
