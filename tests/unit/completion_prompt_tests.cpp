// The prompt of a completion at a cursor (server/completer/completion_prompt.h): fill-in-the-middle
// when the model can, the prefix alone when it cannot, each side within its token budget
// and cut at line boundaries. Cursors are marked with ^ in the fixture texts.
#include <gtest/gtest.h>

#include <filesystem>
#include <optional>
#include <string>

#include "model/decoding/fim_prompt.h"
#include "model/gguf_reader.h"
#include "model/model_loader.h"
#include "server/completer/completion_prompt.h"

namespace mnemo::server {
namespace {

namespace fs = std::filesystem;
const fs::path kModels = fs::path(MNEMO_FIXTURES_DIR) / "tiny-models";

std::shared_ptr<const model::Tokenizer> tokenizer_of(const char* file) {
  auto loaded = model::load_model((kModels / file).string());
  EXPECT_TRUE(loaded) << loaded.error().message;
  return loaded ? loaded.value().tokenizer : nullptr;
}

/// The text without its ^, and the ^'s byte offset.
std::pair<std::string, std::size_t> at_cursor(std::string marked) {
  const auto cursor = marked.find('^');
  EXPECT_NE(cursor, std::string::npos);
  marked.erase(cursor, 1);
  return {marked, cursor};
}

std::string many_lines(int n, const std::string& stem) {
  std::string out;
  for (int i = 0; i < n; ++i)
    out += "  int " + stem + std::to_string(i) + " = " + std::to_string(i) + ";\n";
  return out;
}

TEST(CompletionPrompt, AModelWithFimTokensGetsPrefixAndSuffix) {
  const auto tokenizer = tokenizer_of("tiny-qwen2.F32.gguf");  // has <|fim_prefix|> ...
  ASSERT_TRUE(tokenizer);
  const auto [text, cursor] = at_cursor("int main() {\n  return comp^ute(1);\n}\n");
  const CompletionPrompt p = completion_prompt(*tokenizer, text, cursor, {});
  EXPECT_TRUE(p.fill_in_middle);
  EXPECT_EQ(p.prefix, "int main() {\n  return comp");
  EXPECT_EQ(p.suffix, "ute(1);\n}\n");
  EXPECT_EQ(p.tokens, model::fim_prompt(*tokenizer, p.prefix, p.suffix).value());
}

TEST(CompletionPrompt, EachSideKeepsTheWholeLinesNearestTheCursorWithinItsBudget) {
  const auto tokenizer = tokenizer_of("tiny-qwen2.F32.gguf");
  ASSERT_TRUE(tokenizer);
  const auto [text, cursor] =
      at_cursor(many_lines(200, "before") + "  int x = ^y;\n" + many_lines(200, "after"));
  const CompletionPrompt p = completion_prompt(*tokenizer, text, cursor, {40, 30});
  // The prefix ends at the cursor and starts at a line start; the suffix the other way.
  ASSERT_FALSE(p.prefix.empty());
  EXPECT_EQ(p.prefix.data() + p.prefix.size(), text.data() + cursor);
  EXPECT_EQ(*(p.prefix.data() - 1), '\n');
  EXPECT_EQ(p.suffix.data(), text.data() + cursor);
  EXPECT_EQ(p.suffix.back(), '\n');
  EXPECT_LE(tokenizer->encode(p.prefix, false, false).size(), 40u);
  EXPECT_LE(tokenizer->encode(p.suffix, false, false).size(), 30u);
  // Not much less than the budget either: whole lines of about 10 tokens each were dropped.
  EXPECT_GE(tokenizer->encode(p.prefix, false, false).size(), 20u);
  EXPECT_NE(p.prefix.find("before199"), std::string::npos);
  EXPECT_NE(p.suffix.find("after0 "), std::string::npos);
}

TEST(CompletionPrompt, TheTypedPartOfAWordIsLeftOutOfThePrefixButNotTheSuffix) {
  const auto tokenizer = tokenizer_of("tiny-qwen2.F32.gguf");
  ASSERT_TRUE(tokenizer);
  const std::string text = "int main() {\n  return tot\n}\n";
  const std::size_t cursor = text.find("tot") + 3;
  const CompletionPrompt p = completion_prompt(*tokenizer, text, cursor, {}, 3);
  EXPECT_EQ(p.prefix, "int main() {\n  return ");
  EXPECT_EQ(p.suffix, "\n}\n");
  // The prompt a cursor before the word would have, but for the suffix.
  const CompletionPrompt before = completion_prompt(*tokenizer, text, cursor - 3, {});
  EXPECT_EQ(before.prefix, p.prefix);
  EXPECT_EQ(before.suffix, "tot\n}\n");
}

TEST(CompletionPrompt, TypingLeavesACutPrefixStartingWhereItDid) {
  const auto tokenizer = tokenizer_of("tiny-qwen2.F32.gguf");
  ASSERT_TRUE(tokenizer);
  std::string text = many_lines(400, "line") + "  int typed = ";
  std::size_t moves = 0;
  std::optional<std::size_t> previous;  // where the last prefix started
  for (const char c : std::string("compute_the_total(a, b);")) {
    text += c;
    const CompletionPrompt p = completion_prompt(*tokenizer, text, text.size(), {200, 0});
    EXPECT_LE(tokenizer->encode(p.prefix, false, false).size(), 200u);
    // At least three quarters of the bytes, less the line the grid point fell in.
    EXPECT_GE(tokenizer->encode(p.prefix, false, false).size(), 100u);
    const auto start = static_cast<std::size_t>(p.prefix.data() - text.data());
    EXPECT_EQ(text[start - 1], '\n');
    if (previous && *previous != start) ++moves;
    previous = start;
  }
  EXPECT_LE(moves, 1u);  // 24 keystrokes, at most one step of the grid
}

TEST(CompletionPrompt, ALineLongerThanTheBudgetIsCutInside) {
  const auto tokenizer = tokenizer_of("tiny-qwen2.F32.gguf");
  ASSERT_TRUE(tokenizer);
  std::string line = "call(";
  for (int i = 0; i < 300; ++i) line += "arg" + std::to_string(i) + ", ";
  const CompletionPrompt p = completion_prompt(*tokenizer, line, line.size(), {25, 10});
  EXPECT_FALSE(p.prefix.empty());
  EXPECT_LE(tokenizer->encode(p.prefix, false, false).size(), 25u);
  EXPECT_EQ(p.prefix.data() + p.prefix.size(), line.data() + line.size());
}

TEST(CompletionPrompt, AModelWithoutFimTokensContinuesThePrefix) {
  // GPT-2's vocabulary has no fill-in-the-middle tokens.
  auto gguf = model::GgufFile::open(
      (fs::path(MNEMO_FIXTURES_DIR) / "vocab/ggml-vocab-gpt-2.gguf").string());
  ASSERT_TRUE(gguf) << gguf.error().message;
  auto loaded = model::Tokenizer::from_gguf(*gguf.value());
  ASSERT_TRUE(loaded) << loaded.error().message;
  const auto tokenizer = loaded.value();
  ASSERT_FALSE(tokenizer->special().fim_middle);
  const auto [text, cursor] = at_cursor("int a = 1;\nint b = ^a;\n");
  const CompletionPrompt p = completion_prompt(*tokenizer, text, cursor, {});
  EXPECT_FALSE(p.fill_in_middle);
  EXPECT_TRUE(p.suffix.empty());
  model::Tokens expected;
  if (tokenizer->special().add_bos && tokenizer->special().bos)
    expected.push_back(*tokenizer->special().bos);
  const model::Tokens prefix = tokenizer->encode("int a = 1;\nint b = ", false, false);
  expected.insert(expected.end(), prefix.begin(), prefix.end());
  EXPECT_EQ(p.tokens, expected);
}

}  // namespace
}  // namespace mnemo::server
