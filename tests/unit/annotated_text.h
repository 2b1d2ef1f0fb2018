// Test fixtures with the cursor marked inline, clangd-style: "foo.^" is the text "foo."
// with the cursor at byte 4. Keeps fixtures readable as the code a user would see.
#pragma once

#include <cstddef>
#include <stdexcept>
#include <string>
#include <string_view>

namespace mnemo::test {

struct AnnotatedText {
  std::string text;
  std::size_t cursor = 0;
};

/// Strips the single `^` of `markup` and returns the text and the `^`'s byte offset.
inline AnnotatedText parse_cursor(std::string_view markup) {
  const std::size_t at = markup.find('^');
  if (at == std::string_view::npos || markup.find('^', at + 1) != std::string_view::npos) {
    throw std::invalid_argument("fixture needs exactly one ^: " + std::string(markup));
  }
  AnnotatedText annotated;
  annotated.text = std::string(markup.substr(0, at));
  annotated.text += markup.substr(at + 1);
  annotated.cursor = at;
  return annotated;
}

}  // namespace mnemo::test
