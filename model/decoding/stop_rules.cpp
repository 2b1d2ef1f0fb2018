// Incremental stop rules (see stop_rules.h).
#include "model/decoding/stop_rules.h"

#include <algorithm>
#include <cctype>

namespace mnemo::model {

const char* to_string(StopReason reason) {
  switch (reason) {
    case StopReason::kMaxTokens:
      return "max_tokens";
    case StopReason::kEndOfGeneration:
      return "end_of_generation";
    case StopReason::kEndOfLine:
      return "end_of_line";
    case StopReason::kBalancedBrackets:
      return "balanced_brackets";
    case StopReason::kStopString:
      return "stop_string";
    case StopReason::kContextFull:
      return "context_full";
    case StopReason::kEndOfIdentifier:
      return "end_of_identifier";
  }
  return "unknown";
}

StopChecker::StopChecker(const StopRules& rules) : rules_(&rules) {}

bool StopChecker::closes_unopened(char c) {
  const char previous = previous_;
  previous_ = c;
  switch (lexical_) {
    case Lexical::kCode:
      if (previous == '/' && c == '/') {
        lexical_ = Lexical::kLineComment;
      } else if (previous == '/' && c == '*') {
        lexical_ = Lexical::kBlockComment;
        previous_ = '\0';  // "/*/" does not close the comment
      } else if (c == '"') {
        lexical_ = Lexical::kString;
      } else if (c == '\'' && !std::isdigit(static_cast<unsigned char>(previous))) {
        lexical_ = Lexical::kChar;
      } else if (c == '(' || c == '[' || c == '{') {
        ++depth_;
      } else if (c == ')' || c == ']' || c == '}') {
        if (depth_ == 0) return true;
        --depth_;
      }
      return false;
    case Lexical::kString:
    case Lexical::kChar:
      if (escaped_) {
        escaped_ = false;
      } else if (c == '\\') {
        escaped_ = true;
      } else if (c == '\n' || c == (lexical_ == Lexical::kString ? '"' : '\'')) {
        lexical_ = Lexical::kCode;  // closed, or unterminated at the end of the line
        previous_ = '\0';
      }
      return false;
    case Lexical::kLineComment:
      if (c == '\n') lexical_ = Lexical::kCode;
      return false;
    case Lexical::kBlockComment:
      if (previous == '*' && c == '/') {
        lexical_ = Lexical::kCode;
        previous_ = '\0';  // "*//" does not open a line comment
      }
      return false;
  }
  return false;
}

bool StopChecker::ends_identifier(char c) {
  const auto byte = static_cast<unsigned char>(c);
  const bool letter = std::isalpha(byte) || c == '_' || byte >= 0x80;
  if (!in_identifier_) {
    if (c == ' ' || c == '\t') return false;
    in_identifier_ = true;
    return !letter;  // a digit or punctuation: no identifier starts here
  }
  return !(letter || std::isdigit(byte));
}

std::optional<StopHit> StopChecker::feed(std::string_view piece) {
  const std::size_t start = text_.size();
  text_.append(piece);

  std::optional<StopHit> hit;
  std::size_t trigger = 0;  // the byte at which `hit` fired
  if (rules_->end_of_line || rules_->balanced_brackets || rules_->end_of_identifier) {
    for (std::size_t i = start; i < text_.size(); ++i) {
      const char c = text_[i];
      if (rules_->end_of_identifier && ends_identifier(c)) {
        hit = StopHit{StopReason::kEndOfIdentifier, i};
      } else if (rules_->end_of_line && c == '\n') {
        hit = StopHit{StopReason::kEndOfLine, i};
      } else if (rules_->balanced_brackets && closes_unopened(c)) {
        hit = StopHit{StopReason::kBalancedBrackets, i + 1};
      }
      if (hit) {
        trigger = i;
        break;
      }
    }
  }
  for (const std::string& stop : rules_->stop_strings) {
    if (stop.empty()) continue;
    // A match must end in the new piece: an earlier one would have stopped earlier.
    const std::size_t from = start >= stop.size() - 1 ? start - (stop.size() - 1) : 0;
    const std::size_t at = text_.find(stop, from);
    if (at == std::string::npos) continue;
    const std::size_t end = at + stop.size() - 1;
    const bool earlier = !hit || end < trigger ||
                         (end == trigger && (hit->reason != StopReason::kStopString ||
                                             at < hit->text_size));  // the longer stop string
    if (earlier) {
      hit = StopHit{StopReason::kStopString, at};
      trigger = end;
    }
  }
  if (hit) {
    text_.resize(hit->text_size);
    stopped_ = true;
  }
  return hit;
}

std::size_t StopChecker::settled_size() const {
  if (stopped_) return text_.size();
  std::size_t held = 0;
  for (const std::string& stop : rules_->stop_strings) {
    // The longest proper prefix of `stop` that text_ ends with.
    for (std::size_t n = std::min(stop.size() - (stop.empty() ? 0 : 1), text_.size()); n > held;
         --n) {
      if (text_.compare(text_.size() - n, n, stop, 0, n) == 0) {
        held = n;
        break;
      }
    }
  }
  return text_.size() - held;
}

}  // namespace mnemo::model
