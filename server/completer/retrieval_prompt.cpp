#include "server/completer/retrieval_prompt.h"

#include "server/completer/completion_prompt.h"

namespace mnemo::server {
namespace {

/// Tokens the join of retrieved code and the document may cost beyond their counts apart.
constexpr std::size_t kJoinTokens = 8;

std::size_t tokens_of(const model::Tokenizer& tokenizer, std::string_view text) {
  return tokenizer.encode(text, false, false).size();
}

/// RepoCoder's layout of one window, within `budget` tokens: its first lines that fit, or
/// nothing when not one does.
std::string commented(const model::Tokenizer& tokenizer, const CodeWindow& window,
                      std::size_t budget, std::size_t& used) {
  const std::string header =
      "// the below code fragment can be found in:\n// " + window.file + "\n";
  const std::string footer = "// " + std::string(50, '-') + "\n";
  std::size_t tokens = tokens_of(tokenizer, header) + tokens_of(tokenizer, footer);
  std::string lines;
  std::string_view text = window.text;
  while (!text.empty()) {
    const std::size_t end = std::min(text.find('\n'), text.size() - 1) + 1;
    std::string line = "// " + std::string(text.substr(0, end));
    if (line.back() != '\n') line += '\n';
    const std::size_t line_tokens = tokens_of(tokenizer, line);
    if (tokens + line_tokens > budget) break;
    tokens += line_tokens;
    lines += line;
    text.remove_prefix(end);
  }
  if (lines.empty()) return {};
  used = tokens;
  return header + lines + footer;
}

}  // namespace

std::string retrieval_prompt(const model::Tokenizer& tokenizer,
                             const std::vector<CodeWindow>& windows, std::string_view prefix,
                             std::size_t prefix_tokens) {
  const std::size_t context_budget = prefix_tokens / 2;
  std::size_t used = 0;
  std::vector<std::string> blocks;
  for (const CodeWindow& window : windows) {
    std::size_t block_tokens = 0;
    std::string block = commented(tokenizer, window, context_budget - used, block_tokens);
    if (block.empty()) break;
    used += block_tokens;
    blocks.push_back(std::move(block));
  }
  std::string out;
  for (auto block = blocks.rbegin(); block != blocks.rend(); ++block) out += *block;
  const std::size_t rest =
      prefix_tokens > used + kJoinTokens ? prefix_tokens - used - kJoinTokens : 0;
  out += completion_prompt(tokenizer, prefix, prefix.size(), {rest, 0}).prefix;
  return out;
}

}  // namespace mnemo::server
