// Logging for the memory libraries, through spdlog's default logger. The memory's sources
// include LibTorch, and PyTorch's LibTorch puts its own, newer fmt on the include path, which
// Debian's spdlog (built on fmt 9) does not compile against; so spdlog is included by
// memory_log.cpp alone, in a library without LibTorch, and messages arrive here as pieces
// streamed into one string.
#pragma once

#include <sstream>
#include <string>

namespace mnemo::model::memory::log {

enum class Level { kDebug, kInfo, kWarn };

bool enabled(Level level);
void write(Level level, const std::string& message);

template <typename... Parts>
void message(Level level, const Parts&... parts) {
  if (!enabled(level)) return;
  std::ostringstream out;
  (out << ... << parts);
  write(level, out.str());
}

template <typename... Parts>
void debug(const Parts&... parts) {
  message(Level::kDebug, parts...);
}
template <typename... Parts>
void info(const Parts&... parts) {
  message(Level::kInfo, parts...);
}
template <typename... Parts>
void warn(const Parts&... parts) {
  message(Level::kWarn, parts...);
}

}  // namespace mnemo::model::memory::log
