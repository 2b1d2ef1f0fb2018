// Conversions between LSP's JSON structures and the native types of lsp/ (positions,
// ranges, text changes, client capabilities). Parsing is strict about types and reports
// the JSON path of the first problem, which ends up in an InvalidParams error.
#pragma once

#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "lsp/document_store.h"
#include "lsp/text_document.h"

namespace mnemo::lsp {

using json = nlohmann::json;

json to_json(const Position& position);
json to_json(const Range& range);

/// Each throws InvalidParamsError naming `path` (e.g. "params.position") on a bad shape
/// (including a range whose end is before its start).
Position parse_position(const json& value, const std::string& path);
Range parse_range(const json& value, const std::string& path);
std::vector<TextChange> parse_content_changes(const json& value, const std::string& path);

/// Required member access with a typed error: `require(params, "textDocument", "params")`.
const json& require(const json& object, const char* key, const std::string& path);
std::string require_string(const json& object, const char* key, const std::string& path);
std::int64_t require_integer(const json& object, const char* key, const std::string& path);

/// The position encoding to use: the first of the client's `general.positionEncodings`
/// that we support (we support all three), utf-16 when the client names none.
PositionEncoding negotiate_position_encoding(const json& client_capabilities);

/// Follows a path of object keys; null when any step is missing or not an object.
const json& lookup(const json& value, std::initializer_list<const char*> path);

}  // namespace mnemo::lsp
