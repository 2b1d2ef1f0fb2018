// file:// URIs as LSP clients send them (RFC 3986 percent-encoding, "file:///abs/path")
// and the filesystem paths they name.
#pragma once

#include <filesystem>
#include <optional>
#include <string>

namespace mnemo::lsp {

/// Percent-encodes every byte outside RFC 3986's unreserved set and "/" (VS Code also
/// encodes ":" and friends; decoding accepts either form).
std::string path_to_uri(const std::filesystem::path& absolute_path);

/// nullopt for non-file URIs (untitled:, http:) and malformed escapes. Accepts
/// "file:///p", "file://localhost/p".
std::optional<std::filesystem::path> uri_to_path(const std::string& uri);

}  // namespace mnemo::lsp
