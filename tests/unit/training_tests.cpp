// mnemo's own model as it is trained (model/training/): the memory read during training is
// the one the runtime serves (the exact tier's), its gradient is the reference's, and a
// trained model exported as an HF folder loads and computes what it computed in training.
#include <gtest/gtest.h>

#include <c10/core/InferenceMode.h>

#include <fstream>
#include <map>
#include <random>
#include <regex>
#include <set>
#include <tuple>

#include <ATen/ATen.h>
#include <torch/csrc/autograd/autograd.h>

#include "model/kv_cache.h"
#include "model/memory/exact/exact_tier.h"
#include "model/model_loader.h"
#include "model/tokenizer/bpe_trainer.h"
#include "model/training/export.h"
#include "model/training/safetensors_writer.h"
#include "model/training/trainer.h"
#include "model/training/training_corpus.h"
#include "model/training/training_memory.h"
#include "model/training/training_model.h"
#include "model/transformer.h"
#include "tests/support/temp_dir.h"

namespace mnemo::model::training {
namespace {

namespace fs = std::filesystem;

ModelShape tiny_shape() {
  ModelShape s;
  s.vocab = 300;
  s.dim = 64;
  s.layers = 2;
  s.heads = 4;
  s.kv_heads = 2;
  s.head_dim = 16;
  s.ffn = 96;
  s.context = 32;
  return s;
}

TrainingMemoryConfig memory_config(std::int64_t top_k) {
  TrainingMemoryConfig c;
  c.n_layers = 1;
  c.n_head = 4;
  c.n_head_kv = 2;
  c.head_dim = 16;
  c.block_size = 64;
  c.top_k = top_k;
  return c;
}

/// Two files of random keys and values: 150 tokens (the last block partial) and 64.
void fill(TrainingMemory& memory, std::vector<at::Tensor>& keys, std::vector<at::Tensor>& values) {
  at::manual_seed(3);
  for (const std::int64_t n : {150, 64}) {
    keys.push_back(at::randn({1, 2, n, 16}));
    values.push_back(at::randn({1, 2, n, 16}));
    memory.add_file(keys.back(), values.back());
  }
}

class TrainingMemoryRead : public ::testing::TestWithParam<std::int64_t> {};

TEST_P(TrainingMemoryRead, ItsReadAndGradientAreTheDenseReferences) {
  const ModelConfig model = tiny_shape().config();
  TrainingMemoryConfig config = memory_config(2);
  config.query_group = GetParam();  // 1: per query; 5: the window's 5 queries choose together
  TrainingMemory memory(config, model);
  std::vector<at::Tensor> keys, values;
  fill(memory, keys, values);
  ASSERT_EQ(memory.blocks(), 4);
  ASSERT_EQ(memory.slots(), 128);
  const at::Tensor q_raw = at::randn({2, 5, 4, 16});
  const at::Tensor q_rot = at::randn({2, 5, 4, 16}).requires_grad_(true);
  const auto fast = memory.attend(0, q_raw, q_rot, 0.25);
  const auto slow = memory.attend_reference(0, q_raw, q_rot, 0.25);
  EXPECT_TRUE(at::allclose(fast.o, slow.o, 1e-4, 1e-5));
  EXPECT_TRUE(at::allclose(fast.lse, slow.lse, 1e-4, 1e-5));
  ASSERT_TRUE(fast.o.requires_grad() && fast.lse.requires_grad());
  ASSERT_TRUE(slow.o.requires_grad() && slow.lse.requires_grad());
  const at::Tensor w_o = at::randn_like(fast.o), w_lse = at::randn_like(fast.lse);
  const at::Tensor g_fast =
      torch::autograd::grad({(fast.o * w_o).sum() + (fast.lse * w_lse).sum()}, {q_rot})[0];
  const at::Tensor g_slow =
      torch::autograd::grad({(slow.o * w_o).sum() + (slow.lse * w_lse).sum()}, {q_rot})[0];
  EXPECT_TRUE(at::allclose(g_fast, g_slow, 1e-3, 1e-4)) << (g_fast - g_slow).abs().max();
}

INSTANTIATE_TEST_SUITE_P(QueryGroups, TrainingMemoryRead, ::testing::Values(1, 5));

TEST(TrainingMemory, ReadsWhatTheExactTierServesAtInference) {
  const ModelConfig model = tiny_shape().config();
  TrainingMemory memory(memory_config(2), model);
  std::vector<at::Tensor> keys, values;
  fill(memory, keys, values);
  memory::ExactTierConfig config = memory::exact_tier_config(model, 1);
  config.storage = memory::ExactStorage::kFloat32;
  config.selection = memory::BlockSelection::kFlat;
  config.representative = memory::BlockRepresentative::kMean;
  config.block_size = 64;
  config.top_k = 2;
  memory::ExactTier tier(config);
  tier.add_file("a", keys[0], values[0]);
  tier.add_file("b", keys[1], values[1]);
  const RopeTables rope = rope_tables(model, 512, at::TensorOptions().dtype(at::kFloat));
  const at::Tensor q = at::randn({1, 3, 4, 16});  // positions 0..2 of a window
  const at::Tensor q_mem = apply_rope_reference(q[0], rope, memory.slots()).unsqueeze(0);
  const auto trained = memory.attend(0, q, q_mem, 0.25);
  for (std::int64_t t = 0; t < 3; ++t) {
    memory::MemoryQuery query;
    query.layer = 0;
    query.q_raw = q[0][t];
    query.q_rot = apply_rope_reference(q[0].narrow(0, t, 1), rope, t)[0];
    query.window_start = 0;
    query.scale = 0.25;
    const AttentionOutput served = tier.attend(query);
    // The training memory keeps keys and values in bfloat16.
    EXPECT_TRUE(at::allclose(trained.o[0][t], served.o.squeeze(1), 2e-2, 2e-2))
        << t << "\n"
        << trained.o[0][t] << served.o.squeeze(1);
    EXPECT_TRUE(at::allclose(trained.lse[0][t], served.lse.squeeze(1), 2e-2, 2e-2));
  }
}

/// A tokenizer of exactly a tiny model's 300 tokens, learned from a little code.
fs::path write_tiny_tokenizer(const fs::path& dir) {
  BpeTrainerOptions options;
  options.vocab_size = 300;
  options.min_frequency = 1;
  auto trainer = BpeTrainer::create(options);
  EXPECT_TRUE(trainer);
  for (int i = 0; i < 20; ++i) {
    trainer.value().add_text(
        "int main(int argc, char** argv) {\n  std::vector<std::string> arguments(argv, argv + "
        "argc);\n  for (const auto& argument : arguments) print(argument);\n  return 0;\n}\n");
  }
  const TrainedBpe bpe = trainer.value().train();
  EXPECT_EQ(bpe.vocab.size(), 300u);
  const fs::path tokenizer_dir = dir / "tokenizer";
  fs::create_directories(tokenizer_dir);
  std::ofstream(tokenizer_dir / "tokenizer.json") << tokenizer_json(bpe, options).dump();
  std::ofstream(tokenizer_dir / "tokenizer_config.json") << tokenizer_config_json(bpe).dump();
  return tokenizer_dir;
}

Tokens token_ids(const at::Tensor& tokens) {
  Tokens ids;
  for (std::int64_t i = 0; i < tokens.size(1); ++i)
    ids.push_back(static_cast<TokenId>(tokens[0][i].item<std::int64_t>()));
  return ids;
}

TEST(TrainingModel, AnExportedModelLoadsAndComputesTheSameLogits) {
  mnemo::testing::TempDir dir;
  const fs::path tokenizer_dir = write_tiny_tokenizer(dir.path());
  const TrainingModel model(tiny_shape(), {1}, 7);
  const fs::path out = dir.path() / "model";
  ASSERT_FALSE(export_model(model, tokenizer_dir, out, {{"note", "test"}}));
  auto loaded = load_model(out.string());
  ASSERT_TRUE(loaded) << loaded.error().message;
  EXPECT_EQ(loaded.value().tokenizer->n_vocab(), 300u);

  const at::Tensor tokens = at::randint(0, 300, {1, 20}, at::TensorOptions().dtype(at::kLong));
  at::Tensor trained;
  {
    at::NoGradGuard no_grad;
    trained = model.forward(tokens, nullptr)[0];
  }
  const c10::InferenceMode guard;
  const Transformer& runtime = *loaded.value().transformer;
  KvCache cache(runtime.config(), 32, runtime.options());
  const at::Tensor served = runtime.forward(token_ids(tokens), cache, true);
  EXPECT_TRUE(at::allclose(trained, served, 1e-4, 1e-4)) << (trained - served).abs().max();
}

TEST(TrainingModel, TheLayersAModelWasTrainedToReadTheMemoryAtAreTheOnesItIsServedAt) {
  mnemo::testing::TempDir dir;
  const fs::path tokenizer_dir = write_tiny_tokenizer(dir.path());
  const ModelShape shape = tiny_shape();
  const std::vector<std::size_t> trained_at{0};
  ASSERT_NE(mnemo::model::default_memory_layers(static_cast<std::size_t>(shape.layers)),
            trained_at);
  const TrainingModel model(shape, trained_at, 7);
  const fs::path out = dir.path() / "model";
  ASSERT_FALSE(export_model(model, tokenizer_dir, out, {{"note", "test"}}));
  auto loaded = load_model(out.string());
  ASSERT_TRUE(loaded) << loaded.error().message;
  EXPECT_EQ(mnemo::model::memory_layers(loaded.value().transformer->config()), trained_at);
}

TEST(TrainingModel, ATokenShiftIsServedAcrossPrefillChunksAndDecodingSteps) {
  mnemo::testing::TempDir dir;
  const fs::path tokenizer_dir = write_tiny_tokenizer(dir.path());
  ModelShape shape = tiny_shape();
  shape.token_shift = true;
  TrainingModel model(shape, {1}, 7);
  // Trained from zero; a random shift, so that a runtime that dropped it would differ.
  std::map<std::string, at::Tensor> weights;
  for (const auto& [name, p] : model.parameters()) weights.emplace(name, p.detach().clone());
  ASSERT_EQ(weights.count("model.embed_shift.weight"), 1u);
  EXPECT_TRUE(weights.at("model.embed_shift.weight").eq(0).all().item<bool>());
  weights.at("model.embed_shift.weight").uniform_(-1, 1);
  model.load(weights);
  const fs::path out = dir.path() / "model";
  ASSERT_FALSE(export_model(model, tokenizer_dir, out, {{"note", "test"}}));
  auto loaded = load_model(out.string());
  ASSERT_TRUE(loaded) << loaded.error().message;

  const at::Tensor tokens = at::randint(0, 300, {1, 20}, at::TensorOptions().dtype(at::kLong));
  at::Tensor trained, unshifted;
  {
    at::NoGradGuard no_grad;
    trained = model.forward(tokens, nullptr)[0];
    weights.at("model.embed_shift.weight").zero_();
    model.load(weights);
    unshifted = model.forward(tokens, nullptr)[0];
  }
  EXPECT_FALSE(at::allclose(trained, unshifted, 1e-2, 1e-2));
  const c10::InferenceMode guard;
  const Transformer& runtime = *loaded.value().transformer;
  const Tokens ids = token_ids(tokens);
  KvCache cache(runtime.config(), 32, runtime.options());
  // Positions 0..11 in one chunk, 12..17 in another, 18 and 19 one token at a time.
  const at::Tensor first = runtime.forward(Tokens(ids.begin(), ids.begin() + 12), cache, true);
  const at::Tensor second =
      runtime.forward(Tokens(ids.begin() + 12, ids.begin() + 18), cache, true);
  DecodeWorkspace ws = runtime.make_workspace(cache.capacity());
  const at::Tensor third = runtime.decode(ids[18], cache, ws).clone();
  const at::Tensor fourth = runtime.decode(ids[19], cache, ws).clone();
  const at::Tensor served = at::cat({first, second, third, fourth});
  EXPECT_TRUE(at::allclose(trained, served, 1e-4, 1e-4)) << (trained - served).abs().max();

  // After a truncation the shift reads the token now before the cut, not the one dropped.
  cache.truncate(12);
  const at::Tensor again = runtime.forward(Tokens(ids.begin() + 12, ids.begin() + 18), cache, true);
  EXPECT_TRUE(at::allclose(again, second, 1e-5, 1e-5));
}

TEST(SafetensorsWriter, WhatIsWrittenReadsBackAndAFailedWriteLeavesTheOldFile) {
  mnemo::testing::TempDir dir;
  const std::string path = (dir.path() / "t.safetensors").string();
  const std::map<std::string, at::Tensor> tensors{
      {"a", at::randn({3, 4})}, {"b", at::arange(5)}, {"c", at::randn({2}).to(at::kBFloat16)}};
  ASSERT_FALSE(write_safetensors(path, tensors, {{"step", "12"}}));
  LoadedTensors back;
  ASSERT_FALSE(read_safetensors(path, back));
  EXPECT_EQ(back.metadata.at("step"), "12");
  for (const auto& [name, tensor] : tensors)
    EXPECT_TRUE(at::equal(back.tensors.at(name), tensor)) << name;
  // A tensor it cannot write: the file already there is untouched.
  EXPECT_TRUE(write_safetensors(path, {{"x", at::ones({2}, at::kInt)}}, {}));
  ASSERT_FALSE(read_safetensors(path, back));
  EXPECT_EQ(back.tensors.size(), 3u);
}

TEST(TrainingCorpus, PlainWindowsOverlapByOneTokenAndThePaddingIsNotCounted) {
  const Tokens tokens{1, 2, 3, 4, 5, 6, 7};
  const std::vector<Window> w = plain_windows(tokens, 3, 0);
  ASSERT_EQ(w.size(), 2u);
  EXPECT_EQ(w[0].tokens, (Tokens{1, 2, 3, 4}));
  EXPECT_EQ(w[0].valid, 3);
  EXPECT_EQ(w[1].tokens, (Tokens{4, 5, 6, 7}));
  EXPECT_EQ(w[1].valid, 3);
  EXPECT_EQ(plain_windows({1, 2, 3, 4, 5}, 3, 0)[1].tokens, (Tokens{4, 5, 0, 0}));
  EXPECT_EQ(plain_windows({1, 2, 3, 4, 5}, 3, 0)[1].valid, 1);  // the padding has no target
}

TEST(TrainingCorpus, AFimWindowIsLaidOutAsTheTokenizersPromptsAreThenEnds) {
  FimTokens fim{100, 101, 102, 103, FimLayout::kPrefixSuffixMiddle};
  Window source;
  source.tokens = {1, 2, 3, 4, 5, 6, 7, 8, 9};
  source.valid = 8;
  // length 8 keeps 5 tokens (1..5): prefix 1 2, middle 3 4, suffix 5.
  EXPECT_EQ(fim_window(source, 8, fim, 2, 4, 0).tokens,
            (Tokens{100, 1, 2, 101, 5, 102, 3, 4, 103}));
  EXPECT_EQ(fim_window(source, 8, fim, 2, 4, 0).valid, 8);
  fim.layout = FimLayout::kSuffixPrefixMiddle;  // the middle continues the prefix
  EXPECT_EQ(fim_window(source, 8, fim, 2, 4, 0).tokens,
            (Tokens{100, 101, 5, 102, 1, 2, 3, 4, 103}));
}

TEST(TrainingCorpus, ARepeatedWindowIsTheFirstHalfOfTheSourceTwice) {
  Window source;
  source.tokens = {1, 2, 3, 4, 5, 6, 7, 8, 9};
  source.valid = 8;  // 9 real tokens; length 8 holds 4 of them twice
  EXPECT_EQ(repeated_window(source, 8, 0).tokens, (Tokens{1, 2, 3, 4, 1, 2, 3, 4, 0}));
  EXPECT_EQ(repeated_window(source, 8, 0).valid, 7);
  // A short source (3 real tokens, then padding): its first 2, twice.
  source.tokens = {1, 2, 3, 0, 0, 0, 0, 0, 0};
  source.valid = 2;
  EXPECT_EQ(repeated_window(source, 8, 0).tokens, (Tokens{1, 2, 1, 2, 0, 0, 0, 0, 0}));
  EXPECT_EQ(repeated_window(source, 8, 0).valid, 3);
}

TEST(TrainingCorpus, ARandomRepeatedWindowRepeatsOneSpanOfOrdinaryTokensAtChangingDistances) {
  std::mt19937_64 random(7);
  const std::vector<TokenId> special{0, 1, 2};
  std::set<std::int64_t> distances;
  for (int trial = 0; trial < 40; ++trial) {
    const Window w = random_repeated_window(random, 512, 8192, special);
    ASSERT_EQ(w.tokens.size(), 513u);
    EXPECT_EQ(w.valid, 512);
    for (const TokenId t : w.tokens) {
      EXPECT_GE(t, 3);
      EXPECT_LT(t, 4096);  // of a large vocabulary, the first 4096 ids only
    }
    // Runs of random tokens from 4093 recur only where the span does: the longest run that
    // recurs is the span (16 to 128 tokens), and it recurs at least once in 513.
    std::size_t longest = 0;
    std::int64_t distance = -1;
    for (std::size_t i = 0; i < w.tokens.size(); ++i)
      for (std::size_t j = i + 1; j < w.tokens.size(); ++j) {
        std::size_t k = 0;
        while (j + k < w.tokens.size() && w.tokens[i + k] == w.tokens[j + k]) ++k;
        if (k > longest) longest = k, distance = static_cast<std::int64_t>(j - i);
      }
    EXPECT_GE(longest, 16u);
    distances.insert(distance);
  }
  // The distance back to the span's last reading is not one period the model could learn.
  EXPECT_GT(distances.size(), 20u);
}

/// Over `windows` lessons: the longest distance between consecutive readings of the span,
/// found as its most frequent run of three tokens (three random ids of 4093 recur by chance
/// almost never; one across a gap of 0 recurs only where another gap is 0 too).
std::int64_t farthest_repeat(double scale, int windows) {
  std::mt19937_64 random(11);
  std::int64_t farthest = 0;
  for (int trial = 0; trial < windows; ++trial) {
    const Window w = random_repeated_window(random, 512, 8192, {0, 1, 2}, scale);
    std::map<std::tuple<TokenId, TokenId, TokenId>, std::vector<std::int64_t>> readings;
    for (std::size_t i = 2; i < w.tokens.size(); ++i)
      readings[std::make_tuple(w.tokens[i - 2], w.tokens[i - 1], w.tokens[i])].push_back(
          static_cast<std::int64_t>(i));
    const auto span = std::max_element(readings.begin(), readings.end(), [](auto& a, auto& b) {
      return a.second.size() < b.second.size();
    });
    for (std::size_t k = 1; k < span->second.size(); ++k)
      farthest = std::max(farthest, span->second[k] - span->second[k - 1]);
  }
  return farthest;
}

TEST(TrainingCorpus, AScaledLessonRepeatsShorterSpansAfterShorterGaps) {
  // At 0.25 a span of at most 32 comes back after a gap of at most 16.
  const std::int64_t scaled = farthest_repeat(0.25, 40);
  EXPECT_LE(scaled, 48);
  EXPECT_GT(scaled, 16);
  EXPECT_GT(farthest_repeat(1.0, 40), 48);
}

TEST(TrainingCorpus, ALessonOverASmallAlphabetDrawsEachWindowsTokensFromThatMany) {
  std::mt19937_64 random(5);
  const std::vector<TokenId> special{0, 1, 2};
  std::set<TokenId> across;
  for (int trial = 0; trial < 20; ++trial) {
    const Window w = random_repeated_window(random, 256, 8192, special, 0.5, 8);
    const std::set<TokenId> used(w.tokens.begin(), w.tokens.end());
    EXPECT_LE(used.size(), 8u);
    EXPECT_GT(used.size(), 1u);
    for (const TokenId t : used) {
      EXPECT_LT(t, 4096);
      EXPECT_EQ(std::count(special.begin(), special.end(), t), 0);
    }
    across.insert(used.begin(), used.end());
  }
  EXPECT_GT(across.size(), 8u);  // each window its own alphabet
  // The default draws from all of them.
  const Window any = random_repeated_window(random, 256, 8192, special, 0.5);
  EXPECT_GT(std::set<TokenId>(any.tokens.begin(), any.tokens.end()).size(), 8u);
}

TEST(TrainingCorpus, RenamedNamesGetOneRandomSuffixEverywhereAndTheRestStays) {
  const std::string text =
      "#include \"point.h\"\n"
      "// point_norm: the length of a Point, a point in the plane\n"
      "static double point_norm(const Point* p) { return p->x * p->x + 0x1fab; }\n"
      "int once_only(void) { return (int)point_norm(0); }\n";
  std::mt19937_64 random(7);
  const std::string renamed = renamed_identifiers(text, random, 1.0);
  // Every name of 3 or more characters used twice or more, keywords aside.
  const std::regex norm_use("point_norm_([0-9a-f]{4,8})\\b");
  std::set<std::string> suffixes;
  for (auto it = std::sregex_iterator(renamed.begin(), renamed.end(), norm_use);
       it != std::sregex_iterator(); ++it)
    suffixes.insert((*it)[1]);
  EXPECT_EQ(suffixes.size(), 1u) << renamed;  // one name, the same at all three uses
  EXPECT_TRUE(std::regex_search(renamed, std::regex("\\bpoint_[0-9a-f]{4,8}\\.h\"")))
      << renamed;  // in strings too, so the include and the header agree
  EXPECT_TRUE(std::regex_search(renamed, std::regex("\\bPoint_[0-9a-f]{4,8}\\*")));
  for (const char* kept : {"#include", "static double", "const Point_", "return p->x * p->x",
                           "0x1fab", "int once_only(void)", "(int)"}) {
    EXPECT_NE(renamed.find(kept), std::string::npos) << kept << " in " << renamed;
  }
  // Nothing renamed: the text as it was.
  std::mt19937_64 again(7);
  EXPECT_EQ(renamed_identifiers(text, again, 0.0), text);
}

TEST(TrainingCorpus, AnInsertedCopyRepeatsASliceOfTheTextFurtherOnAndKeepsTheRest) {
  std::mt19937_64 random(3);
  Window source;
  for (TokenId t = 0; t <= 200; ++t) source.tokens.push_back(1000 + t);  // distinct tokens
  source.tokens.resize(513, 0);
  source.valid = 200;  // 201 real tokens, then padding
  std::set<std::int64_t> lengths;
  for (int trial = 0; trial < 40; ++trial) {
    const Window w = inserted_copy_window(source, random, 512, 0);
    ASSERT_EQ(w.tokens.size(), 513u);
    // All 201 tokens of the text, in order, and n more: a run of 16 to 67 (a third of 201)
    // read before, put in where the text first goes back, then the text resumes.
    const std::size_t n = static_cast<std::size_t>(w.valid) - 200;
    EXPECT_GE(n, 16u);
    EXPECT_LE(n, 67u);
    std::size_t at = 1;
    while (w.tokens[at] == w.tokens[at - 1] + 1) ++at;
    ASSERT_LE(at + n, static_cast<std::size_t>(w.valid));
    const TokenId from = w.tokens[at];
    for (std::size_t k = 0; k < n; ++k) ASSERT_EQ(w.tokens[at + k], from + static_cast<TokenId>(k));
    EXPECT_LE(from + static_cast<TokenId>(n), w.tokens[at - 1] + 1);  // all of it read before
    for (std::size_t k = at + n; k <= static_cast<std::size_t>(w.valid); ++k)
      ASSERT_EQ(w.tokens[k], w.tokens[at - 1] + 1 + static_cast<TokenId>(k - at - n));
    EXPECT_EQ(w.tokens[static_cast<std::size_t>(w.valid)], 1200);  // the text's last token
    EXPECT_EQ(w.tokens.back(), 0);
    lengths.insert(static_cast<std::int64_t>(n));
  }
  EXPECT_GT(lengths.size(), 10u);
  // A window of few real tokens has nothing to copy.
  source.valid = 4;
  EXPECT_EQ(inserted_copy_window(source, random, 512, 0).tokens, source.tokens);
}

TEST(TrainingCorpus, ProjectsAreFoldersAndHeadersComeFirst) {
  mnemo::testing::TempDir dir;
  dir.write("b/src/main.cpp", "int main() {}\n");
  dir.write("b/include/b.h", "int b();\n");
  dir.write("b/README", "not code\n");
  dir.write("a/a.c", "int a;\n");
  dir.write("empty/notes.txt", "x\n");
  const std::vector<Project> projects = list_projects(dir.path());
  ASSERT_EQ(projects.size(), 2u);
  EXPECT_EQ(projects[0].name, "a");
  EXPECT_EQ(projects[1].name, "b");
  EXPECT_EQ(projects[1].files, (std::vector<std::string>{"include/b.h", "src/main.cpp"}));
}

/// A tiny corpus, tokenizer and model for the trainer's tests.
class TrainerTest : public ::testing::Test {
 protected:
  void SetUp() override {
    for (int p = 0; p < 3; ++p) {
      const std::string name = "project" + std::to_string(p);
      dir_.write("corpus/" + name + "/util.h",
                 "int helper_" + name + "(int value);\nstruct Point { int x, y; };\n");
      std::string body;
      for (int i = 0; i < 6; ++i) body += "  Point p" + std::to_string(i) + "{1, 2};\n";
      dir_.write("corpus/" + name + "/main.cpp", "#include \"util.h\"\nint main() {\n" + body +
                                                     "  return helper_" + name +
                                                     "(p0.x + p1.y);\n}\n");
    }
    BpeTrainerOptions options;
    options.vocab_size = 300;
    options.min_frequency = 1;
    auto trainer = BpeTrainer::create(options);
    ASSERT_TRUE(trainer);
    for (int i = 0; i < 3; ++i)
      trainer.value().add_text("int main() { Point p{1, 2}; return helper(p.x + p.y); }\n");
    const TrainedBpe bpe = trainer.value().train();
    fs::create_directories(dir_.path() / "tokenizer");
    std::ofstream(dir_.path() / "tokenizer" / "tokenizer.json")
        << tokenizer_json(bpe, options).dump();
    std::ofstream(dir_.path() / "tokenizer" / "tokenizer_config.json")
        << tokenizer_config_json(bpe).dump();
  }

  TrainOptions options(const std::string& out, std::int64_t threads = 1) const {
    TrainOptions o;
    o.threads = threads;
    o.corpus = dir_.path() / "corpus";
    o.tokenizer_dir = dir_.path() / "tokenizer";
    o.out = dir_.path() / out;
    o.shape = tiny_shape();
    o.memory_layers = {1};
    o.memory_top_k = 2;
    o.memory_block = 8;
    o.memory_query_group = 4;
    o.batch_tokens = 48;
    o.max_windows = 1;  // a step may come inside a file, leaving gradients for the next
    o.planned_tokens = 1500;
    o.warmup_tokens = 100;
    o.lr = 1e-2;
    return o;
  }

  /// The first step's line of loss.jsonl after one step of `o` with no fill-in-the-middle
  /// windows.
  static nlohmann::json first_plain_step(TrainOptions o) {
    o.fim_rate = 0;
    o.max_steps = 1;
    EXPECT_FALSE(train(o, [](const std::string&) {}));
    std::ifstream in(o.out / "loss.jsonl");
    std::string line;
    std::getline(in, line);
    return nlohmann::json::parse(line);
  }

  /// The weights a run exported to RUN/model.
  static std::map<std::string, at::Tensor> exported_weights(const fs::path& run) {
    LoadedTensors loaded;
    const auto failed = read_safetensors((run / "model" / "model.safetensors").string(), loaded);
    EXPECT_FALSE(failed) << *failed;
    return loaded.tensors;
  }

  static std::vector<double> losses(const fs::path& log) {
    std::vector<double> out;
    std::ifstream in(log);
    for (std::string line; std::getline(in, line);)
      out.push_back(nlohmann::json::parse(line)["loss"]);
    return out;
  }

  mnemo::testing::TempDir dir_;
};

TEST_F(TrainerTest, TheLossFallsAndTheExportedModelLoads) {
  const TrainOptions o = options("run");
  ASSERT_FALSE(train(o, [](const std::string&) {}));
  const std::vector<double> l = losses(o.out / "loss.jsonl");
  ASSERT_GE(l.size(), 10u);
  EXPECT_LT(l.back(), l.front() * 0.6) << l.front() << " -> " << l.back();
  auto loaded = load_model((o.out / "model").string());
  ASSERT_TRUE(loaded) << loaded.error().message;
}

TEST_F(TrainerTest, HeldOutBitsPerByteAreMeasuredWithTheMemoryAndWithout) {
  TrainOptions o = options("heldout");
  o.heldout = dir_.path() / "corpus";  // the training corpus stands in for held-out projects
  ASSERT_FALSE(train(o, [](const std::string&) {}));
  std::ifstream in(o.out / "heldout.json");
  const auto report = nlohmann::json::parse(in);
  const auto& with = report["with_memory"];
  const auto& without = report["without_memory"];
  EXPECT_EQ(with["projects"], 3);
  EXPECT_EQ(with["files"], 6);
  EXPECT_EQ(with["tokens"], without["tokens"]);
  EXPECT_GT(with["bits_per_byte"].get<double>(), 0);
  EXPECT_LT(with["bits_per_byte"].get<double>(), 8);
  // The second file of each project reads the first: the two measures differ.
  EXPECT_NE(with["bits_per_byte"], without["bits_per_byte"]);
  // How much of the attention of the memory layer (one) went to the memory.
  ASSERT_EQ(with["memory_attention_share"].size(), 1u);
  EXPECT_GT(with["memory_attention_share"][0].get<double>(), 0);
  EXPECT_LT(with["memory_attention_share"][0].get<double>(), 1);
  EXPECT_TRUE(without["memory_attention_share"].empty());
  // The in-context copy measure: each project's two files, each its start and its repeat.
  const auto& copy = report["in_context_copy"];
  EXPECT_EQ(copy["windows"], 6);
  EXPECT_GT(copy["first_nats"].get<double>(), 0);
  EXPECT_GT(copy["repeated_nats"].get<double>(), 0);
  // The memory copy measure: each file's first window with the whole file in memory and
  // without any; the memory is read, so the two differ.
  const auto& from_memory = report["memory_copy"];
  EXPECT_EQ(from_memory["windows"], 6);
  EXPECT_GT(from_memory["without_memory_nats"].get<double>(), 0);
  EXPECT_NE(from_memory["with_memory_nats"], from_memory["without_memory_nats"]);
}

TEST_F(TrainerTest, WithARepeatRateOfOneEveryPlainWindowCarriesACopyOfItsOwnText) {
  TrainOptions repeated = options("repeated");
  repeated.repeat_rate = 1;
  // The same files, read as they are or with a slice of each window copied in again.
  EXPECT_NE(first_plain_step(options("plain"))["loss"], first_plain_step(repeated)["loss"]);
}

TEST_F(TrainerTest, WithACopyLessonRateOfOneEveryPlainWindowIsRandomTokensRepeated) {
  TrainOptions lesson = options("lesson");
  lesson.copy_lesson_rate = 1;
  // The same step over other tokens: whole windows of random ones.
  EXPECT_NE(first_plain_step(options("plain"))["loss"], first_plain_step(lesson)["loss"]);
}

TEST_F(TrainerTest, WithARenameRateOfOneEveryFileIsTrainedOnWithItsNamesRenamed) {
  TrainOptions plain = options("plain"), renamed = options("renamed");
  renamed.rename_rate = 1;
  ASSERT_FALSE(train(plain, [](const std::string&) {}));
  ASSERT_FALSE(train(renamed, [](const std::string&) {}));
  // The same files with other names (each main.cpp's Point, renamed at even odds):
  // other tokens, other losses.
  EXPECT_NE(losses(plain.out / "loss.jsonl"), losses(renamed.out / "loss.jsonl"));
}

TEST_F(TrainerTest, WithAMemoryCopyRateOfOneEachFileIsInTheMemoryWhenItIsTrainedOn) {
  TrainOptions plain = options("plain"), copied = options("copied");
  copied.memory_copy_rate = 1;
  ASSERT_FALSE(train(plain, [](const std::string&) {}));
  ASSERT_FALSE(train(copied, [](const std::string&) {}));
  const auto memory_tokens = [](const fs::path& log) {
    std::vector<std::int64_t> out;
    std::ifstream in(log);
    for (std::string line; std::getline(in, line);)
      out.push_back(nlohmann::json::parse(line)["memory_tokens"]);
    return out;
  };
  const std::vector<std::int64_t> a = memory_tokens(plain.out / "loss.jsonl");
  const std::vector<std::int64_t> b = memory_tokens(copied.out / "loss.jsonl");
  // The same data in the same steps; only what the memory holds when each step is taken
  // differs: the file in training too, put in before its turn instead of after.
  ASSERT_EQ(a.size(), b.size());
  std::int64_t more = 0;
  for (std::size_t i = 0; i < a.size(); ++i) {
    EXPECT_GE(b[i], a[i]) << "step " << i;
    more += b[i] - a[i];
  }
  EXPECT_GT(more, 0);
  // The first step comes in the first project's second file: the memory holds the first
  // file, and with the copies the second too.
  EXPECT_GT(b.front(), a.front());
}

TEST_F(TrainerTest, WindowsSharedAmongThreadsTrainAsOneThreadDoesUpToRounding) {
  TrainOptions one = options("one", 1), two = options("two", 2);
  one.max_windows = two.max_windows = 4;
  one.bf16 = two.bf16 = false;  // the shares' sums differ only in float rounding
  ASSERT_FALSE(train(one, [](const std::string&) {}));
  ASSERT_FALSE(train(two, [](const std::string&) {}));
  const std::vector<double> a = losses(one.out / "loss.jsonl"), b = losses(two.out / "loss.jsonl");
  ASSERT_EQ(a.size(), b.size());
  for (std::size_t i = 0; i < a.size(); ++i) EXPECT_NEAR(a[i], b[i], 1e-3 * a[i]) << "step " << i;
}

TEST_F(TrainerTest, ARunStartedFromAnExportKeepsItsMemoryLayersAndNeedsItsTokenShift) {
  TrainOptions first = options("first");
  first.memory_layers = {0};  // not the default of 2 layers, {1}
  first.shape.token_shift = true;
  ASSERT_FALSE(train(first, [](const std::string&) {}));
  TrainOptions second = options("second");
  second.memory_layers.clear();
  second.init_from = first.out / "model";
  second.shape.token_shift = true;
  second.evaluate_only = true;
  ASSERT_FALSE(train(second, [](const std::string&) {}));
  std::ifstream config(second.out / "model" / "config.json");
  EXPECT_EQ(nlohmann::json::parse(config)["mnemo"]["memory_layers"], nlohmann::json::array({0}));
  // The same command again resumes (its checkpoint's options resolved the same way).
  ASSERT_FALSE(train(second, [](const std::string&) {}));
  // Without --token-shift the shift would be dropped: an error says so.
  TrainOptions unshifted = options("unshifted");
  unshifted.init_from = first.out / "model";
  unshifted.evaluate_only = true;
  const auto failed = train(unshifted, [](const std::string&) {});
  ASSERT_TRUE(failed);
  EXPECT_NE(failed->find("--token-shift"), std::string::npos) << *failed;
}

TEST_F(TrainerTest, ARunStartedFromAnExportBeginsAtItsWeightsAndRecordsIt) {
  const TrainOptions first = options("first");
  ASSERT_FALSE(train(first, [](const std::string&) {}));
  // No steps: the second run's export is its starting point.
  TrainOptions second = options("second");
  second.init_from = first.out / "model";
  second.seed = 2;
  second.evaluate_only = true;
  ASSERT_FALSE(train(second, [](const std::string&) {}));
  const auto a = exported_weights(first.out), b = exported_weights(second.out);
  ASSERT_EQ(a.size(), b.size());
  for (const auto& [name, tensor] : a) EXPECT_TRUE(at::equal(tensor, b.at(name))) << name;
  std::ifstream first_config(first.out / "model" / "config.json");
  std::ifstream second_config(second.out / "model" / "config.json");
  const auto earlier = nlohmann::json::parse(first_config)["mnemo"];
  const auto continued = nlohmann::json::parse(second_config)["mnemo"];
  EXPECT_EQ(continued["continued_from"], earlier);
  EXPECT_EQ(continued["trained_tokens"], 0);

  // Trained on, it starts where the first run ended rather than at a new model's loss.
  TrainOptions third = options("third");
  third.init_from = first.out / "model";
  third.seed = 2;
  third.max_steps = 1;
  TrainOptions fresh = options("fresh");
  fresh.seed = 2;
  fresh.max_steps = 1;
  ASSERT_FALSE(train(third, [](const std::string&) {}));
  ASSERT_FALSE(train(fresh, [](const std::string&) {}));
  const double started = losses(third.out / "loss.jsonl").front();
  EXPECT_LT(started, losses(fresh.out / "loss.jsonl").front() * 0.6);
  EXPECT_LT(started, losses(first.out / "loss.jsonl").back() * 1.5);
}

TEST_F(TrainerTest, ATokenShiftAddedToAStartingModelStartsAtZero) {
  const TrainOptions first = options("first");
  ASSERT_FALSE(train(first, [](const std::string&) {}));
  TrainOptions second = options("second");
  second.init_from = first.out / "model";
  second.shape.token_shift = true;
  second.evaluate_only = true;
  ASSERT_FALSE(train(second, [](const std::string&) {}));
  const auto a = exported_weights(first.out), b = exported_weights(second.out);
  ASSERT_EQ(b.size(), a.size() + 1);
  for (const auto& [name, tensor] : a) EXPECT_TRUE(at::equal(tensor, b.at(name))) << name;
  EXPECT_TRUE(b.at("model.embed_shift.weight").eq(0).all().item<bool>());
}

TEST_F(TrainerTest, AMissingOrMisshapenStartingModelIsAnError) {
  TrainOptions o = options("nowhere");
  o.init_from = dir_.path() / "no-such-model";
  const auto missing = train(o, [](const std::string&) {});
  ASSERT_TRUE(missing);
  EXPECT_NE(missing->find("no-such-model"), std::string::npos) << *missing;

  const TrainOptions first = options("small");
  ASSERT_FALSE(train(first, [](const std::string&) {}));
  TrainOptions wider = options("wider");
  wider.shape.ffn *= 2;
  wider.init_from = first.out / "model";
  const auto misshapen = train(wider, [](const std::string&) {});
  ASSERT_TRUE(misshapen);
  EXPECT_NE(misshapen->find("wrong shape"), std::string::npos) << *misshapen;
}

class TrainerResumeTest : public TrainerTest, public ::testing::WithParamInterface<int> {};

TEST_P(TrainerResumeTest, AStoppedRunResumesExactlyWhereItStopped) {
  const auto options = [&](const std::string& out) {
    TrainOptions o = TrainerTest::options(out, GetParam());
    o.max_windows = GetParam();    // with 2 threads, each forward pass is shared
    o.batch_tokens *= GetParam();  // and a step still comes inside a file
    return o;
  };
  TrainOptions whole = options("whole");
  ASSERT_FALSE(train(whole, [](const std::string&) {}));
  // The same run in two parts: the first stops at the end of a file inside a project while
  // gradients wait for the next step (the first such stop after 1, 2, ... steps); the second
  // resumes from its checkpoint.
  std::string parts;
  for (int steps = 1; steps <= 8 && parts.empty(); ++steps) {
    TrainOptions first = options("parts" + std::to_string(steps));
    first.max_steps = steps;
    ASSERT_FALSE(train(first, [](const std::string&) {}));
    LoadedTensors stopped;
    ASSERT_FALSE(read_safetensors((first.out / "checkpoint.safetensors").string(), stopped));
    const auto state = nlohmann::json::parse(stopped.metadata.at("state"));
    if (state["file"] > 0 && state["accumulated"] > 0) parts = "parts" + std::to_string(steps);
  }
  ASSERT_FALSE(parts.empty()) << "no stop inside a project with gradients waiting";
  const auto resumed = train(options(parts), [](const std::string&) {});
  ASSERT_FALSE(resumed) << *resumed;
  const auto a = exported_weights(whole.out), b = exported_weights(dir_.path() / parts);
  ASSERT_EQ(a.size(), b.size());
  for (const auto& [name, tensor] : a)
    EXPECT_TRUE(at::allclose(tensor, b.at(name), 1e-5, 1e-6)) << name;
  EXPECT_EQ(losses(whole.out / "loss.jsonl"), losses(dir_.path() / parts / "loss.jsonl"));
}
INSTANTIATE_TEST_SUITE_P(Threads, TrainerResumeTest, ::testing::Values(1, 2));

}  // namespace
}  // namespace mnemo::model::training
