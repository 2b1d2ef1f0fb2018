// Completion settings (server/completion/completion_settings.h): the layers' order, what a bad
// value or an unknown key does (reported, skipped, the rest applied), paths, and the repository's
// .mnemo/config.json.
#include "server/completion/completion_settings.h"

#include <gtest/gtest.h>

#include <cstdlib>
#include <fstream>
#include <string>
#include <vector>

#include "server/completion/builtin_model.h"

namespace mnemo::server {
namespace {
namespace fs = std::filesystem;
using nlohmann::json;

bool any_mentions(const std::vector<std::string>& problems, const std::string& text) {
  for (const std::string& p : problems)
    if (p.find(text) != std::string::npos) return true;
  return false;
}

class CompletionSettingsFile : public ::testing::Test {
 protected:
  void SetUp() override {
    root_ = fs::temp_directory_path() /
            ("mnemo-settings-" + std::to_string(::getpid()) + "-" +
             ::testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::remove_all(root_);
    fs::create_directories(root_ / ".mnemo");
  }
  void TearDown() override { fs::remove_all(root_); }
  void write_config(const std::string& text) {
    std::ofstream(root_ / ".mnemo" / "config.json") << text;
  }
  fs::path root_;
};

TEST(CompletionSettings, NothingGivenIsTheDefaults) {
  std::vector<std::string> problems;
  const CompletionSettings settings = resolve_settings({}, json(), json(), problems);
  EXPECT_TRUE(problems.empty());
  CompletionSettings defaults;
  defaults.model = builtin_model_dir();
  EXPECT_EQ(settings, defaults);
}

TEST(CompletionSettings, TheBuiltInModelIsTheDefaultAndAnEmptyPathTurnsItOff) {
  std::vector<std::string> problems;
  const CompletionSettings builtin = resolve_settings({}, json(), json(), problems);
  EXPECT_EQ(builtin.model, builtin_model_dir());
  const CompletionSettings none = resolve_settings({}, json(), json{{"model", ""}}, problems);
  EXPECT_TRUE(none.model.empty());
  EXPECT_TRUE(problems.empty());
}

TEST(CompletionSettings, EveryKeyReachesItsField) {
  CompletionSettings s;
  const auto problems = apply_settings(json::parse(R"({
      "model": "/models/m.gguf",
      "memory": {"window": 512, "topK": 4, "budgetMB": 300, "nextTokenWeight": 0.25},
      "prompt": {"prefixTokens": 900, "suffixTokens": 0},
      "names": {"priorWeight": 2, "memberPriorWeight": 3.5},
      "inline": {"debounceMs": 20, "identifierBoost": 1.5}})"),
                                       "test", {}, s);
  EXPECT_TRUE(problems.empty()) << problems.front();
  EXPECT_EQ(s.model, fs::path("/models/m.gguf"));
  EXPECT_EQ(s.memory_window, 512u);
  EXPECT_EQ(s.memory_top_k, 4);
  EXPECT_EQ(s.memory_budget_mb, 300u);
  EXPECT_EQ(s.memory_next_token_weight, 0.25f);
  EXPECT_EQ(s.prefix_tokens, 900u);
  EXPECT_EQ(s.suffix_tokens, 0u);
  EXPECT_EQ(s.name_prior_weight, 2.0f);
  EXPECT_EQ(s.member_prior_weight, 3.5f);
  EXPECT_EQ(s.debounce, std::chrono::milliseconds(20));
  EXPECT_EQ(s.identifier_boost, 1.5f);
}

TEST(CompletionSettings, WhatIsInEffectReadsBackAsTheSameSettings) {
  CompletionSettings s;
  s.model = "/models/m.gguf";
  s.memory_window = 512;
  s.memory_top_k = 4;
  s.memory_budget_mb = 300;
  s.memory_next_token_weight = 0.25f;
  s.memory_include = {"data/keep/**"};
  s.memory_exclude = {"third_party/**"};
  s.prefix_tokens = 900;
  s.suffix_tokens = 0;
  s.declaration_tokens = 128;
  s.hold_names = false;
  s.name_prior_weight = 2.0f;
  s.member_prior_weight = 3.5f;
  s.debounce = std::chrono::milliseconds(20);
  s.identifier_boost = 1.5f;
  CompletionSettings read;
  const auto problems = apply_settings(settings_json(s), "test", {}, read);
  EXPECT_TRUE(problems.empty()) << problems.front();
  EXPECT_TRUE(read == s);
}

TEST(CompletionSettings, ABadValueOrUnknownKeyIsReportedAndTheRestApplies) {
  CompletionSettings s;
  const auto problems = apply_settings(json::parse(R"({
      "modle": "x",
      "memory": {"window": "big", "topK": 0, "budgetMB": 64, "size": 3, "nextTokenWeight": 2},
      "prompt": [],
      "inline": {"debounceMs": -5, "identifierBoost": "high"}})"),
                                       "initializationOptions", {}, s);
  EXPECT_EQ(problems.size(), 8u);
  EXPECT_TRUE(any_mentions(problems, "memory.nextTokenWeight must be a number from 0"));
  EXPECT_TRUE(any_mentions(problems, "inline.identifierBoost must be a number from 0"));
  EXPECT_TRUE(any_mentions(problems, "initializationOptions: modle is not a setting"));
  EXPECT_TRUE(any_mentions(problems, "memory.window must be an integer"));
  EXPECT_TRUE(any_mentions(problems, "memory.topK must be an integer from 1"));
  EXPECT_TRUE(any_mentions(problems, "memory.size is not a setting"));
  EXPECT_TRUE(any_mentions(problems, "prompt must be an object"));
  EXPECT_TRUE(any_mentions(problems, "inline.debounceMs"));
  const CompletionSettings defaults;
  EXPECT_EQ(s.memory_window, defaults.memory_window);
  EXPECT_EQ(s.memory_top_k, defaults.memory_top_k);
  EXPECT_EQ(s.debounce, defaults.debounce);
  EXPECT_EQ(s.memory_budget_mb, 64u);  // the good key next to bad ones
  EXPECT_EQ(s.memory_next_token_weight, defaults.memory_next_token_weight);
}

TEST(CompletionSettings, NotAnObjectIsReportedAndChangesNothing) {
  CompletionSettings s;
  const auto problems = apply_settings(json::array({1, 2}), "initializationOptions", {}, s);
  ASSERT_EQ(problems.size(), 1u);
  EXPECT_EQ(s, CompletionSettings{});
}

TEST(CompletionSettings, RelativeModelPathsStartAtTheBaseAndTildeAtHome) {
  CompletionSettings s;
  apply_settings(json{{"model", "models/m.gguf"}}, "test", "/repo", s);
  EXPECT_EQ(s.model, fs::path("/repo/models/m.gguf"));
  ASSERT_EQ(::setenv("HOME", "/home/user", 1), 0);
  apply_settings(json{{"model", "~/m.gguf"}}, "test", "/repo", s);
  EXPECT_EQ(s.model, fs::path("/home/user/m.gguf"));
  apply_settings(json{{"model", ""}}, "test", "/repo", s);
  EXPECT_TRUE(s.model.empty());  // an empty path turns the model off
}

TEST_F(CompletionSettingsFile, TheFileThenTheClientThenTheFlagsEachOverrideTheOneBefore) {
  write_config(R"({
    // comments are allowed
    "model": "m.gguf", "inline": {"debounceMs": 10}, "prompt": {"prefixTokens": 100}})");
  std::vector<std::string> problems;
  const json client = {{"inline", {{"debounceMs", 20}}}, {"prompt", {{"suffixTokens", 7}}}};
  const json flags = {{"inline", {{"debounceMs", 30}}}};
  CompletionSettings s = resolve_settings(root_, client, json(), problems);
  EXPECT_TRUE(problems.empty());
  EXPECT_EQ(s.model, root_ / "m.gguf");
  EXPECT_EQ(s.debounce, std::chrono::milliseconds(20));
  EXPECT_EQ(s.prefix_tokens, 100u);
  EXPECT_EQ(s.suffix_tokens, 7u);
  s = resolve_settings(root_, client, flags, problems);
  EXPECT_EQ(s.debounce, std::chrono::milliseconds(30));
}

TEST_F(CompletionSettingsFile, ABrokenFileIsReportedAndTheOtherLayersStillApply) {
  write_config("{\"model\": ");
  std::vector<std::string> problems;
  const CompletionSettings s =
      resolve_settings(root_, json{{"inline", {{"debounceMs", 5}}}}, json(), problems);
  ASSERT_EQ(problems.size(), 1u);
  EXPECT_TRUE(any_mentions(problems, "config.json: not valid JSON"));
  EXPECT_EQ(s.debounce, std::chrono::milliseconds(5));
  EXPECT_EQ(s.model, builtin_model_dir());  // the file's model is not read

  write_config("[1]");
  auto read = read_repository_settings(root_);
  ASSERT_FALSE(read);
  EXPECT_NE(read.error().message.find("not a JSON object"), std::string::npos);

  fs::remove(root_ / ".mnemo" / "config.json");
  read = read_repository_settings(root_);
  ASSERT_TRUE(read);
  EXPECT_FALSE(read.value().has_value());
}

}  // namespace
}  // namespace mnemo::server
