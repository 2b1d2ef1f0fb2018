#include "model/memory/memory_log.h"

#include <spdlog/spdlog.h>

namespace mnemo::model::memory::log {
namespace {

spdlog::level::level_enum to_spdlog(Level level) {
  switch (level) {
    case Level::kDebug:
      return spdlog::level::debug;
    case Level::kInfo:
      return spdlog::level::info;
    case Level::kWarn:
      break;
  }
  return spdlog::level::warn;
}

}  // namespace

bool enabled(Level level) {
  return spdlog::default_logger_raw()->should_log(to_spdlog(level));
}

void write(Level level, const std::string& message) {
  spdlog::log(to_spdlog(level), "{}", message);
}

}  // namespace mnemo::model::memory::log
