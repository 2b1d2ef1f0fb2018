#include "indexer/file_pass.h"

#include <utility>

namespace mnemo::indexer {

model::Result<FilePass, IndexRunError> for_each_file(
    const std::filesystem::path& root, const std::vector<WalkedFile>& files, std::string stage,
    std::chrono::steady_clock::time_point start,
    const std::function<void(const IndexProgress&)>& progress, const std::atomic<bool>* cancel,
    std::vector<FailedFile>& failed, const FileStep& step) {
  const auto seconds = [&] {
    return std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  };
  FilePass pass;
  IndexProgress& state = pass.state;
  state.stage = std::move(stage);
  state.files_total = files.size();
  for (const WalkedFile& f : files) state.bytes_total += f.size;
  for (const WalkedFile& f : files) {
    state.current = f.path;
    state.seconds = seconds();
    if (progress) progress(state);
    if (cancel != nullptr && cancel->load()) {
      pass.cancelled = true;
      break;
    }
    ++state.files_done;
    state.bytes_done += f.size;
    auto contents = read_file_contents(root / f.path);
    if (!contents) {
      failed.push_back({f.path, "cannot read it"});
      continue;
    }
    if (auto error = step(f, *contents, state)) return *error;
  }
  state.current.clear();
  state.seconds = seconds();
  return pass;
}

}  // namespace mnemo::indexer
