// `mnemo doctor [PATH]`: checks this machine and a workspace and says, in words, what is
// wrong and what to do: the CPU's instruction sets and which memory kernels run, the BLAS
// LibTorch multiplies with (and how fast), libclang and the C++ headers it finds, the
// settings in effect, the model, and the index and memory of the workspace.
#pragma once

#include <string>

namespace CLI {
class App;
}

namespace mnemo::server {

struct DoctorOptions {
  std::string root = ".";
  std::string index_dir;  ///< empty: ROOT/.mnemo
  bool json = false;
};

CLI::App* add_doctor_command(CLI::App& app, DoctorOptions& options);

/// 0 when nothing failed (warnings allowed), 1 when a check failed.
int run_doctor(const DoctorOptions& options);

}  // namespace mnemo::server
