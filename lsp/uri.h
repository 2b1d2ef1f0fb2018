// Conversions between file paths and the `file://` URIs the LSP client sends, so the
// engine can tell that an open document and a file found by the workspace scan are the
// same file. URIs are percent-encoded (RFC 3986): `/home/me/My Project/größe.cc` arrives
// as `file:///home/me/My%20Project/gr%C3%B6%C3%9Fe.cc`, and clients differ in which
// characters they escape, so comparisons go through decoded paths, never raw URI strings.
#pragma once

#include <filesystem>
#include <optional>
#include <string>
#include <string_view>

namespace mnemo::lsp {

/// Escapes every byte except RFC 3986 unreserved characters (`A-Za-z0-9-._~`) and, when
/// `keep_slash`, `/`. Escapes use upper-case hex (`%2B`), as VS Code does.
std::string percent_encode(std::string_view text, bool keep_slash);
/// Decodes `%XX` escapes (either hex case). Returns nullopt for a malformed escape
/// (`%G1`, a trailing `%`) or an escaped NUL, which no file path may contain.
std::optional<std::string> percent_decode(std::string_view text);

/// `file://` + the percent-encoded absolute path. A relative path is made absolute against
/// the current directory first.
std::string path_to_file_uri(const std::filesystem::path& path);
/// The local path of a `file:` URI (`file:///p`, `file://localhost/p` or `file:/p`;
/// scheme and host compared case-insensitively; a query or fragment is dropped).
/// Returns nullopt for other schemes (`untitled:`), remote hosts and malformed escapes.
std::optional<std::filesystem::path> file_uri_to_path(std::string_view uri);

/// The key under which the engine files a path: absolute, lexically normal, generic
/// separators. Both the workspace scan and open documents use it, so they meet.
std::string path_key(const std::filesystem::path& path);
/// path_key of a `file:` URI, or an empty string when the URI is not a local file.
std::string uri_path_key(std::string_view uri);

}  // namespace mnemo::lsp
