#include "indexer/libclang_working_directory.h"

#include <filesystem>
#include <mutex>
#include <system_error>

namespace mnemo::indexer {
namespace {

struct Shared {
  std::mutex mutex;
  int holders = 0;
  std::filesystem::path before;  // empty: the directory could not be read (it was removed)
};

Shared& shared() {
  static Shared s;
  return s;
}

}  // namespace

LibclangWorkingDirectory::LibclangWorkingDirectory() {
  Shared& s = shared();
  const std::lock_guard<std::mutex> lock(s.mutex);
  if (s.holders++ > 0) return;
  std::error_code ec;
  s.before = std::filesystem::current_path(ec);
  if (ec) s.before.clear();
}

LibclangWorkingDirectory::~LibclangWorkingDirectory() {
  Shared& s = shared();
  const std::lock_guard<std::mutex> lock(s.mutex);
  if (--s.holders > 0 || s.before.empty()) return;
  // Failing here leaves the process where libclang put it; a destructor has no one to tell.
  std::error_code ignored;
  std::filesystem::current_path(s.before, ignored);
}

}  // namespace mnemo::indexer
