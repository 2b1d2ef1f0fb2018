#include "server/completion/builtin_model.h"

#include <system_error>

namespace mnemo::server {
namespace fs = std::filesystem;

namespace {

bool holds_a_model(const fs::path& dir) {
  std::error_code ec;
  for (const char* name : {"config.json", "model.safetensors", "tokenizer.json"})
    if (!fs::is_regular_file(dir / name, ec)) return false;
  return true;
}

}  // namespace

fs::path builtin_model_dir() {
  std::error_code ec;
  const fs::path executable = fs::read_symlink("/proc/self/exe", ec);
  if (!ec) {
    const fs::path installed = executable.parent_path().parent_path() / "share" / "mnemo" / "model";
    if (holds_a_model(installed)) return installed;
  }
  const fs::path source(MNEMO_SOURCE_BUILTIN_MODEL_DIR);
  if (holds_a_model(source)) return source;
  return {};
}

}  // namespace mnemo::server
