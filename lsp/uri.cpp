// Percent-encoding and file URI <-> path conversion (see file_uri.h for the contract).
#include "lsp/uri.h"

#include <system_error>

namespace mnemo::lsp {
namespace {

bool is_unreserved(unsigned char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' ||
         c == '.' || c == '_' || c == '~';
}

int hex_value(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

bool equals_ignoring_case(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  for (std::size_t i = 0; i < a.size(); ++i) {
    char x = a[i];
    char y = b[i];
    if (x >= 'A' && x <= 'Z') x = static_cast<char>(x - 'A' + 'a');
    if (y >= 'A' && y <= 'Z') y = static_cast<char>(y - 'A' + 'a');
    if (x != y) return false;
  }
  return true;
}

}  // namespace

std::string percent_encode(std::string_view text, bool keep_slash) {
  static constexpr char kHex[] = "0123456789ABCDEF";
  std::string out;
  out.reserve(text.size());
  for (const char ch : text) {
    const auto c = static_cast<unsigned char>(ch);
    if (is_unreserved(c) || (keep_slash && c == '/')) {
      out.push_back(ch);
    } else {
      out.push_back('%');
      out.push_back(kHex[c >> 4]);
      out.push_back(kHex[c & 0xF]);
    }
  }
  return out;
}

std::optional<std::string> percent_decode(std::string_view text) {
  std::string out;
  out.reserve(text.size());
  for (std::size_t i = 0; i < text.size(); ++i) {
    if (text[i] != '%') {
      out.push_back(text[i]);
      continue;
    }
    if (i + 2 >= text.size()) return std::nullopt;
    const int hi = hex_value(text[i + 1]);
    const int lo = hex_value(text[i + 2]);
    if (hi < 0 || lo < 0) return std::nullopt;
    const int byte = hi * 16 + lo;
    if (byte == 0) return std::nullopt;
    out.push_back(static_cast<char>(byte));
    i += 2;
  }
  return out;
}

std::string path_to_file_uri(const std::filesystem::path& path) {
  std::filesystem::path absolute = path;
  if (!absolute.is_absolute()) {
    std::error_code ec;
    absolute = std::filesystem::absolute(path, ec);
    if (ec) absolute = path;
  }
  std::string generic = absolute.generic_string();
  // Windows drive paths (`C:/x`) need the third slash of `file:///C:/x` added.
  if (generic.empty() || generic.front() != '/') generic.insert(generic.begin(), '/');
  return "file://" + percent_encode(generic, /*keep_slash=*/true);
}

std::optional<std::filesystem::path> file_uri_to_path(std::string_view uri) {
  constexpr std::string_view kScheme = "file:";
  if (uri.size() < kScheme.size() ||
      !equals_ignoring_case(uri.substr(0, kScheme.size()), kScheme)) {
    return std::nullopt;
  }
  std::string_view rest = uri.substr(kScheme.size());
  if (const auto stop = rest.find_first_of("?#"); stop != std::string_view::npos) {
    rest = rest.substr(0, stop);
  }
  if (rest.substr(0, 2) == "//") {
    rest.remove_prefix(2);
    const auto slash = rest.find('/');
    const std::string_view host = rest.substr(0, slash);
    if (!host.empty() && !equals_ignoring_case(host, "localhost")) return std::nullopt;
    rest = slash == std::string_view::npos ? std::string_view() : rest.substr(slash);
  }
  if (rest.empty() || rest.front() != '/') return std::nullopt;
  auto decoded = percent_decode(rest);
  if (!decoded) return std::nullopt;
#ifdef _WIN32
  // `/C:/x` is the drive path `C:/x`.
  if (decoded->size() >= 3 && (*decoded)[2] == ':') decoded->erase(0, 1);
#endif
  return std::filesystem::path(*decoded);
}

std::string path_key(const std::filesystem::path& path) {
  std::filesystem::path absolute = path;
  if (!absolute.is_absolute()) {
    std::error_code ec;
    absolute = std::filesystem::absolute(path, ec);
    if (ec) absolute = path;
  }
  return absolute.lexically_normal().generic_string();
}

std::string uri_path_key(std::string_view uri) {
  const auto path = file_uri_to_path(uri);
  return path ? path_key(*path) : std::string();
}

}  // namespace mnemo::lsp
