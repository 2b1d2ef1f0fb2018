// Which kernels OpenBLAS multiplies with on this CPU. An OpenBLAS older than the CPU (Debian
// 12 ships 0.3.21) does not recognise it and falls back to its generic SSE3 core,
// "Prescott": LibTorch's matrix products, and with them a completion's prompt, then run
// about 3x slower on a CPU with AVX-512 (measured on an Intel Xeon of model 207). Naming
// the core in OPENBLAS_CORETYPE before OpenBLAS loads is the remedy OpenBLAS documents.
#pragma once

#include <string>

namespace mnemo::model {

struct BlasCore {
  std::string loaded;  ///< the core OpenBLAS chose ("" when the BLAS is not OpenBLAS)
  /// The core this CPU runs that OpenBLAS should have chosen ("" when its choice is fine).
  std::string better;
};

/// What the BLAS loaded in this process chose, read from OpenBLAS itself.
BlasCore blas_core();

/// Runs this program again, as the same process with the same arguments, with
/// OPENBLAS_CORETYPE naming blas_core().better, when OpenBLAS fell back to a generic core on
/// a CPU it does not know and the user named no core. Returns when there is nothing to do or
/// the program cannot be run again (it then goes on with the slower core). Call first in
/// main(): OpenBLAS reads its environment once, when it loads.
void rerun_with_better_blas_core(char** argv);

}  // namespace mnemo::model
