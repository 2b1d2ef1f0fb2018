// Learning a byte-level BPE vocabulary (model/tokenizer/bpe_trainer.h): merges worked by
// hand on a tiny corpus, the same vocabulary as Hugging Face tokenizers' BpeTrainer on a
// real one (tests/reference/make_bpe_trainer_reference.py), and a tokenizer.json that the
// runtime loads and that round-trips text.
#include "model/tokenizer/bpe_trainer.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "model/tokenizer/tokenizer.h"
#include "tests/support/temp_dir.h"

namespace mnemo::model {
namespace {

namespace fs = std::filesystem;
const fs::path kData = fs::path(MNEMO_SOURCE_DIR) / "tests" / "data" / "bpe-trainer";

std::string read(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream text;
  text << in.rdbuf();
  return text.str();
}

BpeTrainer trainer(BpeTrainerOptions options) {
  auto t = BpeTrainer::create(std::move(options));
  EXPECT_TRUE(t) << t.error();
  return std::move(t).value();
}

TEST(BpeTrainer, TheMostFrequentPairIsMergedFirstAndTiesGoToTheSmallerIds) {
  BpeTrainerOptions options;
  options.special_tokens = {"<|endoftext|>"};
  options.vocab_size = 1 + 256 + 3;
  options.min_frequency = 1;
  BpeTrainer t = trainer(options);
  // Pieces: "aaab" (once) and "ab" (twice): a a (2), a b (3) -> "ab" first; then "aab" ...
  t.add_text("aaab");
  t.add_text("ab");
  t.add_text("ab");
  const TrainedBpe bpe = t.train();
  ASSERT_EQ(bpe.vocab.size(), 260u);
  EXPECT_EQ(bpe.vocab[0], "<|endoftext|>");
  EXPECT_EQ(bpe.merges, (std::vector<std::pair<std::string, std::string>>{
                            {"a", "b"},    // 3 (once in aaab, twice as ab)
                            {"a", "a"},    // 1 in a a ab; tie with (a, ab): 'a' < 'ab' by id
                            {"aa", "ab"},  // the last pair left
                        }));
  EXPECT_EQ(bpe.vocab.back(), "aaab");
}

TEST(BpeTrainer, PiecesNeverSpanTwoTextsOrThePreTokenizersSplits) {
  BpeTrainerOptions options;
  options.vocab_size = 6 + 256 + 50;
  BpeTrainer t = trainer(options);
  for (int i = 0; i < 10; ++i) {
    t.add_text("x1");
    t.add_text("2y");
  }
  const TrainedBpe bpe = t.train();
  // Digits stand alone, and "1" + "2" never meet across the texts.
  for (const auto& [left, right] : bpe.merges) {
    EXPECT_EQ(left.find_first_of("0123456789"), std::string::npos) << left << " " << right;
    EXPECT_EQ(right.find_first_of("0123456789"), std::string::npos) << left << " " << right;
  }
  EXPECT_TRUE(bpe.merges.empty());  // "x" and "y" pieces have no pairs
}

TEST(BpeTrainer, LearnsWhatHuggingFaceTokenizersLearnsOnTheSameCorpus) {
  const nlohmann::json hf = nlohmann::json::parse(read(kData / "hf-tokenizer.json"));
  BpeTrainerOptions options;
  options.vocab_size = 1500;  // as the reference script
  options.min_frequency = 2;
  BpeTrainer t = trainer(options);
  std::vector<fs::path> files;
  for (const auto& entry : fs::directory_iterator(kData / "corpus")) files.push_back(entry.path());
  std::sort(files.begin(), files.end());
  for (const fs::path& file : files) t.add_text(read(file));
  const TrainedBpe bpe = t.train();
  const nlohmann::json ours = tokenizer_json(bpe, options);
  EXPECT_EQ(ours["model"]["merges"], hf["model"]["merges"]);
  EXPECT_EQ(ours["model"]["vocab"], hf["model"]["vocab"]);
  EXPECT_EQ(ours["added_tokens"], hf["added_tokens"]);
  EXPECT_EQ(ours["pre_tokenizer"], hf["pre_tokenizer"]);
}

TEST(BpeTrainer, ItsTokenizerJsonLoadsAndRoundTripsText) {
  BpeTrainerOptions options;
  options.vocab_size = 600;
  BpeTrainer t = trainer(options);
  const std::string corpus = read(kData / "corpus" / "sample5_unittest.cc");
  t.add_text(corpus);
  const TrainedBpe bpe = t.train();
  mnemo::testing::TempDir dir;
  std::ofstream(dir.path() / "tokenizer.json") << tokenizer_json(bpe, options).dump();
  std::ofstream(dir.path() / "tokenizer_config.json") << tokenizer_config_json(bpe).dump();
  auto tokenizer = Tokenizer::from_tokenizer_json((dir.path() / "tokenizer.json").string());
  ASSERT_TRUE(tokenizer) << tokenizer.error().message;
  const Tokenizer& tok = *tokenizer.value();
  EXPECT_EQ(tok.n_vocab(), 600u);
  const Tokens tokens = tok.encode(corpus, false, false);
  EXPECT_EQ(tok.decode(tokens), corpus);
  EXPECT_LT(tokens.size(), corpus.size() / 2) << "the merges compress the text they came from";
  const std::string unseen = "naïve € \xff\xfe bytes";
  EXPECT_EQ(tok.decode(tok.encode(unseen, false, false)), unseen);
  // The special tokens: end of text is EOS, and fill-in-the-middle is recognised.
  EXPECT_EQ(tok.special().eos, tok.find("<|endoftext|>"));
  EXPECT_TRUE(tok.special().fim_prefix && tok.special().fim_middle && tok.special().fim_suffix);
  EXPECT_FALSE(tok.special().add_bos);
  // mnemo's own models are trained on suffix-first prompts, and say so.
  EXPECT_EQ(tok.special().fim_layout, FimLayout::kSuffixPrefixMiddle);
  // A layout the runtime does not know is an error that names the file, not PSM by guess.
  nlohmann::json config = tokenizer_config_json(bpe);
  config["fim_layout"] = "pms";
  std::ofstream(dir.path() / "tokenizer_config.json") << config.dump();
  auto refused = Tokenizer::from_tokenizer_json((dir.path() / "tokenizer.json").string());
  ASSERT_FALSE(refused);
  EXPECT_NE(refused.error().message.find("tokenizer_config.json"), std::string::npos);
  EXPECT_NE(refused.error().message.find("fim_layout"), std::string::npos);
}

TEST(BpeTrainer, AVocabularyTooSmallForTheBytesIsRefused) {
  BpeTrainerOptions options;
  options.vocab_size = 100;
  EXPECT_FALSE(BpeTrainer::create(options));
}

}  // namespace
}  // namespace mnemo::model
