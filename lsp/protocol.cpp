#include "lsp/protocol.h"

#include <limits>

#include "lsp/json_rpc.h"

namespace mnemo::lsp {

json to_json(const Position& position) {
  return {{"line", position.line}, {"character", position.character}};
}

json to_json(const Range& range) {
  return {{"start", to_json(range.start)}, {"end", to_json(range.end)}};
}

const json& require(const json& object, const char* key, const std::string& path) {
  if (!object.is_object()) throw InvalidParamsError(path + " must be an object");
  const auto it = object.find(key);
  if (it == object.end()) throw InvalidParamsError(path + "." + key + " is missing");
  return *it;
}

std::string require_string(const json& object, const char* key, const std::string& path) {
  const json& value = require(object, key, path);
  if (!value.is_string()) throw InvalidParamsError(path + "." + key + " must be a string");
  return value.get<std::string>();
}

std::int64_t require_integer(const json& object, const char* key, const std::string& path) {
  const json& value = require(object, key, path);
  if (!value.is_number_integer())
    throw InvalidParamsError(path + "." + key + " must be an integer");
  return value.get<std::int64_t>();
}

namespace {

std::uint32_t require_uinteger(const json& object, const char* key, const std::string& path) {
  const json& value = require(object, key, path);
  if (!value.is_number_integer() || value.get<std::int64_t>() < 0)
    throw InvalidParamsError(path + "." + key + " must be a non-negative integer");
  const auto v = value.get<std::uint64_t>();
  // Clients send uinteger (< 2^31); anything larger clamps like a position past the end.
  return v > std::numeric_limits<std::uint32_t>::max() ? std::numeric_limits<std::uint32_t>::max()
                                                       : static_cast<std::uint32_t>(v);
}

}  // namespace

Position parse_position(const json& value, const std::string& path) {
  return {require_uinteger(value, "line", path), require_uinteger(value, "character", path)};
}

Range parse_range(const json& value, const std::string& path) {
  Range range{parse_position(require(value, "start", path), path + ".start"),
              parse_position(require(value, "end", path), path + ".end")};
  if (range.end < range.start) {
    throw InvalidParamsError(path + ": its end " + std::to_string(range.end.line) + ":" +
                             std::to_string(range.end.character) + " is before its start " +
                             std::to_string(range.start.line) + ":" +
                             std::to_string(range.start.character));
  }
  return range;
}

std::vector<TextChange> parse_content_changes(const json& value, const std::string& path) {
  if (!value.is_array()) throw InvalidParamsError(path + " must be an array");
  std::vector<TextChange> changes;
  changes.reserve(value.size());
  for (std::size_t i = 0; i < value.size(); ++i) {
    const std::string item = path + "[" + std::to_string(i) + "]";
    TextChange change;
    change.text = require_string(value[i], "text", item);
    if (const auto range = value[i].find("range"); range != value[i].end() && !range->is_null())
      change.range = parse_range(*range, item + ".range");
    changes.push_back(std::move(change));
  }
  return changes;
}

const json& lookup(const json& value, std::initializer_list<const char*> path) {
  static const json kNull;
  const json* node = &value;
  for (const char* key : path) {
    if (!node->is_object()) return kNull;
    const auto it = node->find(key);
    if (it == node->end()) return kNull;
    node = &*it;
  }
  return *node;
}

PositionEncoding negotiate_position_encoding(const json& client_capabilities) {
  const json& offered = lookup(client_capabilities, {"general", "positionEncodings"});
  if (offered.is_array()) {
    for (const auto& name : offered) {
      if (!name.is_string()) continue;
      if (const auto encoding = parse_position_encoding(name.get<std::string>())) return *encoding;
    }
  }
  return PositionEncoding::kUtf16;
}

}  // namespace mnemo::lsp
