#include "indexer/member_uses.h"

#include <map>
#include <tuple>

namespace mnemo::indexer {
namespace {

bool identifier_byte(unsigned char c) {
  return c >= 0x80 || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
         c == '_';
}

bool digit(unsigned char c) {
  return c >= '0' && c <= '9';
}

/// The tokens that matter here: identifiers and the three operators. Anything else is a
/// break between them (a bracket, a number, another operator), so `a[i].x` is not `i.x`.
struct Token {
  enum Kind { kIdentifier, kObjectAccess, kScopeAccess, kOther } kind = kOther;
  std::string_view text;
};

class Lexer {
 public:
  explicit Lexer(std::string_view text) : text_(text) {}

  bool next(Token& t) {
    skip_space_and_comments();
    if (at_ >= text_.size()) return false;
    const auto c = static_cast<unsigned char>(text_[at_]);
    const std::size_t begin = at_;
    if (identifier_byte(c)) {
      while (at_ < text_.size() && identifier_byte(static_cast<unsigned char>(text_[at_]))) ++at_;
      // A number (`0x1F`, `1e10`) is no identifier; `1.f` is no member access either.
      if (digit(c)) {
        while (at_ < text_.size() &&
               (text_[at_] == '.' || identifier_byte(static_cast<unsigned char>(text_[at_]))))
          ++at_;
        t = {Token::kOther, text_.substr(begin, at_ - begin)};
        return true;
      }
      t = {Token::kIdentifier, text_.substr(begin, at_ - begin)};
      return true;
    }
    if (c == '"' || c == '\'') {
      skip_literal(static_cast<char>(c));
      t = {Token::kOther, text_.substr(begin, at_ - begin)};
      return true;
    }
    if (c == '.' && !starts_with("...")) {
      ++at_;
      t = {Token::kObjectAccess, text_.substr(begin, 1)};
      return true;
    }
    if (starts_with("->") && !starts_with("->*")) {
      at_ += 2;
      t = {Token::kObjectAccess, text_.substr(begin, 2)};
      return true;
    }
    if (starts_with("::")) {
      at_ += 2;
      t = {Token::kScopeAccess, text_.substr(begin, 2)};
      return true;
    }
    at_ += starts_with("...") ? 3 : 1;
    t = {Token::kOther, text_.substr(begin, at_ - begin)};
    return true;
  }

 private:
  bool starts_with(std::string_view s) const { return text_.substr(at_, s.size()) == s; }

  void skip_space_and_comments() {
    while (at_ < text_.size()) {
      const char c = text_[at_];
      if (c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v' ||
          (c == '\\' && at_ + 1 < text_.size() && text_[at_ + 1] == '\n')) {
        ++at_;
      } else if (starts_with("//")) {
        while (at_ < text_.size() && text_[at_] != '\n') ++at_;
      } else if (starts_with("/*")) {
        const std::size_t end = text_.find("*/", at_ + 2);
        at_ = end == std::string_view::npos ? text_.size() : end + 2;
      } else {
        return;
      }
    }
  }

  /// A string or character literal, to its closing quote or the end of its line (an
  /// unclosed one, or an apostrophe in a `#error` line, must not swallow the file).
  void skip_literal(char quote) {
    ++at_;
    while (at_ < text_.size() && text_[at_] != quote && text_[at_] != '\n') {
      at_ += text_[at_] == '\\' && at_ + 1 < text_.size() ? 2 : 1;
    }
    if (at_ < text_.size() && text_[at_] == quote) ++at_;
  }

  std::string_view text_;
  std::size_t at_ = 0;
};

}  // namespace

const char* to_string(MemberAccess access) {
  return access == MemberAccess::kScope ? "scope" : "object";
}

MemberAccess member_access_of(std::string_view op) {
  return op == "::" ? MemberAccess::kScope : MemberAccess::kObject;
}

std::vector<MemberUse> member_uses(std::string_view text) {
  std::map<std::tuple<std::string_view, MemberAccess, std::string_view>, std::uint32_t> counts;
  Lexer lexer(text);
  Token before_before, before, t;
  while (lexer.next(t)) {
    if (t.kind == Token::kIdentifier && before_before.kind == Token::kIdentifier &&
        (before.kind == Token::kObjectAccess || before.kind == Token::kScopeAccess)) {
      const MemberAccess access =
          before.kind == Token::kScopeAccess ? MemberAccess::kScope : MemberAccess::kObject;
      ++counts[{before_before.text, access, t.text}];
    }
    before_before = before;
    before = t;
  }
  std::vector<MemberUse> out;
  out.reserve(counts.size());
  for (const auto& [key, uses] : counts) {
    out.push_back(
        {std::string(std::get<0>(key)), std::get<1>(key), std::string(std::get<2>(key)), uses});
  }
  return out;
}

}  // namespace mnemo::indexer
