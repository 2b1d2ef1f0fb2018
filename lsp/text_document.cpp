#include "lsp/text_document.h"

#include <algorithm>
#include <cassert>

#include "lsp/utf8.h"

namespace mnemo::lsp {
namespace {

/// Bytes of the code point starting at text[i]: a valid UTF-8 sequence, or 1 for a byte
/// that does not start one, so that each undecodable byte is a code point of its own.
std::size_t code_point_bytes(std::string_view text, std::size_t i) {
  return std::max<std::size_t>(1, utf8_sequence_length(text, i));
}

/// Width in `encoding` units of a code point that takes `bytes` bytes in the text. An
/// undecodable byte is U+FFFD to the client: one UTF-16 unit, one code point; in UTF-8 we
/// count the byte as it is, since UTF-8 positions are offsets into this very text.
std::uint32_t code_point_units(std::size_t bytes, PositionEncoding encoding) {
  switch (encoding) {
    case PositionEncoding::kUtf8:
      return static_cast<std::uint32_t>(bytes);
    case PositionEncoding::kUtf16:
      return bytes == 4 ? 2 : 1;  // only astral code points need a surrogate pair
    case PositionEncoding::kUtf32:
      return 1;
  }
  return 1;
}

}  // namespace

std::string_view to_string(PositionEncoding encoding) {
  switch (encoding) {
    case PositionEncoding::kUtf8:
      return "utf-8";
    case PositionEncoding::kUtf16:
      return "utf-16";
    case PositionEncoding::kUtf32:
      return "utf-32";
  }
  return "utf-16";
}

std::optional<PositionEncoding> parse_position_encoding(std::string_view name) {
  if (name == "utf-8") return PositionEncoding::kUtf8;
  if (name == "utf-16") return PositionEncoding::kUtf16;
  if (name == "utf-32") return PositionEncoding::kUtf32;
  return std::nullopt;
}

TextDocument::TextDocument(std::string text) : text_(std::move(text)) {
  line_starts_.push_back(0);
  // find_first_of is a tight loop over the bytes; a line starts after each terminator,
  // and "\r\n" is one terminator (a "\r" directly before "\n" is never a line of its own).
  for (std::size_t i = text_.find_first_of("\r\n"); i != std::string::npos;
       i = text_.find_first_of("\r\n", i)) {
    if (text_[i] == '\r' && i + 1 < text_.size() && text_[i + 1] == '\n') ++i;
    ++i;
    line_starts_.push_back(i);
  }
}

std::size_t TextDocument::line_start(std::size_t line) const {
  return line_starts_[std::min(line, line_starts_.size() - 1)];
}

std::size_t TextDocument::line_end(std::size_t line) const {
  if (line + 1 >= line_starts_.size()) return text_.size();  // the last line has no terminator
  std::size_t end = line_starts_[line + 1] - 1;
  if (end > line_starts_[line] && text_[end] == '\n' && text_[end - 1] == '\r') --end;
  return end;
}

std::string_view TextDocument::line_text(std::size_t line) const {
  line = std::min(line, line_starts_.size() - 1);
  const std::size_t start = line_starts_[line];
  return std::string_view(text_).substr(start, line_end(line) - start);
}

std::size_t TextDocument::offset_at(Position position, PositionEncoding encoding) const {
  if (position.line >= line_starts_.size()) return text_.size();
  const std::size_t end = line_end(position.line);
  std::size_t offset = line_starts_[position.line];
  std::uint32_t units = 0;
  while (offset < end && units < position.character) {
    const std::size_t bytes = code_point_bytes(text_, offset);
    const std::uint32_t width = code_point_units(bytes, encoding);
    if (units + width > position.character) break;  // inside this code point: round down
    units += width;
    offset += bytes;
  }
  return offset;
}

Position TextDocument::position_at(std::size_t offset, PositionEncoding encoding) const {
  offset = std::min(offset, text_.size());
  // The last line starting at or before `offset`.
  const auto next = std::upper_bound(line_starts_.begin(), line_starts_.end(), offset);
  const auto line = static_cast<std::size_t>(next - line_starts_.begin()) - 1;
  // An offset inside the terminator (between "\r" and "\n") belongs to the line's end.
  offset = std::min(offset, line_end(line));
  std::size_t at = line_starts_[line];
  std::uint32_t units = 0;
  while (at < offset) {
    const std::size_t bytes = code_point_bytes(text_, at);
    if (at + bytes > offset) break;  // `offset` is inside this code point: round down
    units += code_point_units(bytes, encoding);
    at += bytes;
  }
  return Position{static_cast<std::uint32_t>(line), units};
}

TextDocument TextDocument::replaced(std::size_t begin, std::size_t end,
                                    std::string_view replacement) const {
  assert(begin <= end && end <= text_.size());
  std::string text;
  text.reserve(text_.size() - (end - begin) + replacement.size());
  text.append(text_, 0, begin);
  text.append(replacement);
  text.append(text_, end, std::string::npos);
  // Rebuilding the whole line table is one pass over the bytes; patching it would have to
  // handle a "\r" and "\n" meeting across the edit's edges, which is not worth the risk.
  return TextDocument(std::move(text));
}

}  // namespace mnemo::lsp
