// An open document's text with a line table, and the exact mapping between LSP positions
// (line + character in the negotiated encoding: UTF-8 bytes, UTF-16 code units or UTF-32
// code points) and byte offsets into the UTF-8 text.
//
// Why this is its own file: every feature that touches a document converts positions, and
// an off-by-one on a line with an emoji or CJK text silently corrupts the document under
// incremental sync. The rules (LSP 3.17 "Position"):
//  - line terminators are "\n", "\r\n" and "\r"; a position never points between the
//    "\r" and "\n" of a "\r\n";
//  - a character past the end of a line clamps to the end of that line (before its
//    terminator); a line past the last line clamps to the end of the document;
//  - a character that falls inside one code point (between the two halves of a surrogate
//    pair, or inside a multi-byte UTF-8 sequence) rounds down to that code point's start;
//  - invalid UTF-8 in the text counts each undecodable byte as one code point (U+FFFD
//    when decoded), so mapping never fails or reads out of bounds.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace mnemo::lsp {

enum class PositionEncoding { kUtf8, kUtf16, kUtf32 };

/// "utf-8", "utf-16" or "utf-32" (the LSP PositionEncodingKind strings).
std::string_view to_string(PositionEncoding encoding);
std::optional<PositionEncoding> parse_position_encoding(std::string_view name);

struct Position {
  std::uint32_t line = 0;
  std::uint32_t character = 0;  ///< in units of the negotiated PositionEncoding
  friend bool operator==(const Position& a, const Position& b) {
    return a.line == b.line && a.character == b.character;
  }
  friend bool operator!=(const Position& a, const Position& b) { return !(a == b); }
  friend bool operator<(const Position& a, const Position& b) {
    return a.line < b.line || (a.line == b.line && a.character < b.character);
  }
};

struct Range {
  Position start;
  Position end;
  friend bool operator==(const Range& a, const Range& b) {
    return a.start == b.start && a.end == b.end;
  }
};

/// Immutable text plus its line table. Thread-safe for concurrent readers; edits produce
/// a new TextDocument (so a snapshot handed to a worker thread never changes under it).
class TextDocument {
 public:
  explicit TextDocument(std::string text);

  const std::string& text() const { return text_; }
  /// Number of lines; a text ending in a terminator has an empty last line.
  std::size_t line_count() const { return line_starts_.size(); }
  /// Byte offset of the start of `line` (clamped to the last line).
  std::size_t line_start(std::size_t line) const;
  /// Bytes of `line` without its terminator (clamped to the last line).
  std::string_view line_text(std::size_t line) const;

  /// Byte offset for an LSP position, clamped as described above. Never fails.
  std::size_t offset_at(Position position, PositionEncoding encoding) const;
  /// LSP position of a byte offset (offsets past the end clamp to the end; an offset
  /// inside a code point or between "\r" and "\n" rounds down).
  Position position_at(std::size_t offset, PositionEncoding encoding) const;

  /// A new document with bytes [begin, end) replaced by `replacement`.
  /// Precondition: begin <= end <= text().size().
  TextDocument replaced(std::size_t begin, std::size_t end, std::string_view replacement) const;

 private:
  /// Byte offset just past the last byte of `line`'s content (before its terminator).
  std::size_t line_end(std::size_t line) const;

  std::string text_;
  std::vector<std::size_t> line_starts_;  // byte offset of each line's first byte
};

}  // namespace mnemo::lsp
