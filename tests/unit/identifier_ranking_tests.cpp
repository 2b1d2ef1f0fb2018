// The ranking on its own: the shortcut taken when nothing is typed (walking the workspace
// by frequency and stopping early) must give exactly what ranking every name would.
#include "server/completion/identifier_ranking.h"

#include <gtest/gtest.h>

#include <memory>
#include <random>
#include <string>
#include <vector>

namespace mnemo::server {
namespace {

std::vector<std::string> names_of(const Ranking& ranking) {
  std::vector<std::string> out;
  for (const auto& ranked : ranking.top) out.emplace_back(ranked.name);
  return out;
}

TEST(IdentifierRankingTest, EmptyPrefixShortcutMatchesFullRanking) {
  std::mt19937 rng(1234);
  for (int round = 0; round < 20; ++round) {
    // 30 files drawing from 200 names with skewed frequencies.
    std::vector<std::string> files(30);
    for (auto& text : files) {
      const int words = 20 + static_cast<int>(rng() % 200);
      for (int w = 0; w < words; ++w) {
        const unsigned a = rng() % 200;
        const unsigned b = rng() % 200;
        text += "name" + std::to_string(a < b ? a : b) + " ";
      }
    }
    WorkspaceIdentifiersBuilder builder;
    for (std::size_t i = 0; i < files.size(); ++i) {
      builder.add_file("/w/f" + std::to_string(i) + ".cc", files[i]);
    }
    const auto workspace = std::move(builder).build();

    // Three open documents: two shadow workspace files, one is new.
    OpenDocumentTable open;
    for (int i = 0; i < 3; ++i) {
      auto document = std::make_shared<OpenDocumentIdentifiers>();
      if (i < 2) document->path_key = "/w/f" + std::to_string(rng() % files.size()) + ".cc";
      document->counts = count_identifiers("name" + std::to_string(rng() % 250) + " name" +
                                           std::to_string(rng() % 250));
      open["file:///open" + std::to_string(i)] = std::move(document);
    }

    RankingRequest request;
    const std::string text = "name3 name150 name199 obj.";
    request.text = text;
    const std::string uri = "file:///w/f" + std::to_string(rng() % files.size()) + ".cc";
    request.uri = uri;
    request.cursor = text.size();
    request.typed_begin = request.typed_end = text.size();
    request.limit = 1'000'000;
    const auto full = rank_identifiers(request, open, workspace.get(), {});
    ASSERT_TRUE(full.has_value());
    for (const std::size_t limit : {0, 1, 5, 17, 60, 199, 300}) {
      request.limit = limit;
      const auto fast = rank_identifiers(request, open, workspace.get(), {});
      ASSERT_TRUE(fast.has_value());
      std::vector<std::string> expected = names_of(full.value());
      const bool more = expected.size() > limit;
      if (more) expected.resize(limit);
      EXPECT_EQ(names_of(fast.value()), expected) << "round " << round << " limit " << limit;
      EXPECT_EQ(fast.value().truncated, more) << "round " << round << " limit " << limit;
    }
  }
}

TEST(IdentifierRankingTest, ScoreFollowsTheDocumentedFormula) {
  IdentifierUses uses;
  uses.in_document = 3;
  uses.in_open_documents = 1;
  uses.in_workspace = 7;
  uses.nearest_line_distance = 8;
  // log2(4) + 0.5 * log2(2) + 0.25 * log2(8) + 2 / (1 + 1) + 2
  EXPECT_DOUBLE_EQ(score_identifier(uses, /*exact_case=*/true), 2.0 + 0.5 + 0.75 + 1.0 + 2.0);
  EXPECT_DOUBLE_EQ(score_identifier(uses, /*exact_case=*/false), 2.0 + 0.5 + 0.75 + 1.0);
  EXPECT_DOUBLE_EQ(score_identifier(IdentifierUses{}, false), 0.0);
}

}  // namespace
}  // namespace mnemo::server
