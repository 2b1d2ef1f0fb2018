// The prompt of the retrieval baselines (server/completer/retrieval_prompt.h): retrieved code
// commented out under its file's name, the best nearest the cursor, within half the budget;
// the document's last lines after it, within the rest.
#include "server/completer/retrieval_prompt.h"

#include <gtest/gtest.h>

#include <filesystem>
#include <string>

#include "model/model_loader.h"

namespace mnemo::server {
namespace {

namespace fs = std::filesystem;
const fs::path kModels = fs::path(MNEMO_FIXTURES_DIR) / "tiny-models";

class RetrievalPrompt : public ::testing::Test {
 protected:
  void SetUp() override {
    auto loaded = model::load_model((kModels / "tiny-qwen2.F32.gguf").string());
    ASSERT_TRUE(loaded) << loaded.error().message;
    tokenizer_ = loaded.value().tokenizer;
  }
  std::size_t tokens(const std::string& text) const {
    return tokenizer_->encode(text, false, false).size();
  }
  std::shared_ptr<const model::Tokenizer> tokenizer_;
};

std::string numbered_lines(int n, const std::string& stem) {
  std::string out;
  for (int i = 0; i < n; ++i)
    out += "int " + stem + std::to_string(i) + " = " + std::to_string(i) + ";\n";
  return out;
}

TEST_F(RetrievalPrompt, TheBestWindowIsNearestTheCursorAndEveryLineIsCommentedOut) {
  const std::vector<CodeWindow> windows{{"geo/point.h", 3, 4, "struct Point {\n  double x;\n"},
                                        {"geo/line.h", 1, 1, "struct Line;\n"}};
  const std::string prompt =
      retrieval_prompt(*tokenizer_, windows, "int main() {\n  Point p; p.", 512);
  EXPECT_EQ(prompt,
            "// the below code fragment can be found in:\n"
            "// geo/line.h\n"
            "// struct Line;\n"
            "// --------------------------------------------------\n"
            "// the below code fragment can be found in:\n"
            "// geo/point.h\n"
            "// struct Point {\n"
            "//   double x;\n"
            "// --------------------------------------------------\n"
            "int main() {\n  Point p; p.");
}

TEST_F(RetrievalPrompt, RetrievedCodeTakesAtMostHalfTheBudgetAndTheDocumentTheRest) {
  const std::vector<CodeWindow> windows{{"a.cpp", 1, 300, numbered_lines(300, "a")},
                                        {"b.cpp", 1, 300, numbered_lines(300, "b")}};
  const std::string document = numbered_lines(300, "doc") + "int x = ";
  const std::string prompt = retrieval_prompt(*tokenizer_, windows, document, 400);
  const std::size_t split = prompt.rfind("// ---");
  ASSERT_NE(split, std::string::npos);
  const std::string context = prompt.substr(0, prompt.find('\n', split) + 1);
  const std::string own = prompt.substr(context.size());
  EXPECT_LE(tokens(context), 200u);
  EXPECT_GT(tokens(context), 150u);  // the first window's lines, as many as fit
  EXPECT_EQ(context.find("b.cpp"), std::string::npos) << "no room was left for a second window";
  EXPECT_EQ(context.find("// a0 ="), std::string::npos);
  EXPECT_NE(context.find("// int a0 = 0;\n"), std::string::npos)
      << "a window keeps its first lines";
  // The document's part ends at the cursor, starts at a line, and fills most of the rest.
  EXPECT_TRUE(document.size() >= own.size() &&
              document.compare(document.size() - own.size(), own.size(), own) == 0);
  EXPECT_EQ(document[document.size() - own.size() - 1], '\n');
  EXPECT_LE(tokens(prompt), 400u);
  EXPECT_GT(tokens(own), 100u);
}

TEST_F(RetrievalPrompt, WithoutWindowsTheDocumentHasTheWholeBudget) {
  const std::string document = numbered_lines(300, "doc") + "int x = ";
  const std::string prompt = retrieval_prompt(*tokenizer_, {}, document, 200);
  EXPECT_LE(tokens(prompt), 200u);
  EXPECT_GT(tokens(prompt), 140u);
}

}  // namespace
}  // namespace mnemo::server
