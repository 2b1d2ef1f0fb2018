// The byte-level BPE tokenizer against llama.cpp and HF: the upstream golden vectors of
// each vocabulary (vocab-only GGUFs and the tiny models, from GGUF and from tokenizer.json),
// the tiny models' reference prompts, byte-exact round trips, special-token handling and
// clean errors on malformed files.
#include "model/tokenizer/tokenizer.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cstdint>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <map>
#include <memory>
#include <random>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include <nlohmann/json.hpp>

#include "model/gguf_reader.h"
#include "model/tokenizer/bpe_tokenizer.h"
#include "model/tokenizer/byte_unicode.h"
#include "model/tokenizer/pretokenizer.h"
#include "tests/support/temp_dir.h"

namespace mnemo::model {
namespace {

namespace fs = std::filesystem;
using Json = nlohmann::json;

const fs::path kFixtures = MNEMO_FIXTURES_DIR;
const fs::path kVocab = kFixtures / "vocab";
const fs::path kTiny = kFixtures / "tiny-models";

std::string read_bytes(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  return {std::istreambuf_iterator<char>(in), {}};
}

/// The test strings of a .inp file (test-tokenizer-0's parsing: split on the separator,
/// no trailing empty entry).
std::vector<std::string> read_inputs(const fs::path& path) {
  const std::string text = read_bytes(path);
  const std::string separator = "\n__ggml_vocab_test__\n";
  std::vector<std::string> inputs;
  std::size_t pos = 0;
  while (pos < text.size()) {
    const std::size_t next = text.find(separator, pos);
    if (next == std::string::npos) break;
    inputs.push_back(text.substr(pos, next - pos));
    pos = next + separator.size();
  }
  return inputs;
}

/// One id list per line of a .out file.
std::vector<Tokens> read_outputs(const fs::path& path, std::size_t count) {
  std::istringstream in(read_bytes(path));
  std::vector<Tokens> outputs;
  std::string line;
  while (outputs.size() < count && std::getline(in, line)) {
    std::istringstream ids(line);
    Tokens tokens;
    for (TokenId id; ids >> id;) tokens.push_back(id);
    outputs.push_back(tokens);
  }
  return outputs;
}

std::string show_ids(const Tokens& tokens) {
  std::string out = "[";
  for (std::size_t i = 0; i < tokens.size(); ++i) out += (i ? " " : "") + std::to_string(tokens[i]);
  return out + "]";
}

/// `text` with non-printable bytes escaped, for failure messages.
std::string show_text(const std::string& text) {
  std::string out = "\"";
  for (const char c : text) {
    const auto byte = static_cast<unsigned char>(c);
    if (c == '\n') {
      out += "\\n";
    } else if (c == '\t') {
      out += "\\t";
    } else if (c == '\r') {
      out += "\\r";
    } else if (byte < 0x20 || byte == 0x7F) {
      char buffer[8];
      std::snprintf(buffer, sizeof buffer, "\\x%02X", byte);
      out += buffer;
    } else {
      out += c;
    }
  }
  return out + "\"";
}

/// A tokenizer fixture: a GGUF or a tokenizer.json, loaded once per test binary.
struct Source {
  std::string name;  ///< the test-name suffix
  fs::path file;
  bool json = false;
};

std::shared_ptr<const Tokenizer> load(const Source& source) {
  static std::map<std::string, std::shared_ptr<const Tokenizer>> cache;
  const std::string key = source.file.string();
  if (const auto it = cache.find(key); it != cache.end()) return it->second;
  std::shared_ptr<const Tokenizer> tokenizer;
  if (source.json) {
    auto loaded = Tokenizer::from_tokenizer_json(key);
    EXPECT_TRUE(loaded) << loaded.error().message;
    if (loaded) tokenizer = loaded.value();
  } else {
    auto gguf = GgufFile::open(key);
    EXPECT_TRUE(gguf) << gguf.error().message;
    if (!gguf) return nullptr;
    auto loaded = Tokenizer::from_gguf(*gguf.value());
    EXPECT_TRUE(loaded) << loaded.error().message;
    if (loaded) tokenizer = loaded.value();
  }
  cache[key] = tokenizer;
  return tokenizer;
}

Json tiny_llama_json() {
  return Json::parse(read_bytes(kTiny / "tiny-llama-hf/tokenizer.json"));
}

const Source kGpt2{"gpt2", kVocab / "ggml-vocab-gpt-2.gguf"};
const Source kStarcoder{"starcoder", kVocab / "ggml-vocab-starcoder.gguf"};
const Source kDeepseekCoder{"deepseek_coder", kVocab / "ggml-vocab-deepseek-coder.gguf"};
const Source kLlamaBpe{"llama_bpe", kVocab / "ggml-vocab-llama-bpe.gguf"};
const Source kQwen2{"qwen2", kVocab / "ggml-vocab-qwen2.gguf"};
const Source kTinyLlama{"tiny_llama_gguf", kTiny / "tiny-llama.F32.gguf"};
const Source kTinyQwen2{"tiny_qwen2_gguf", kTiny / "tiny-qwen2.F32.gguf"};
const Source kTinyLlamaHf{"tiny_llama_tokenizer_json", kTiny / "tiny-llama-hf/tokenizer.json",
                          true};
const Source kTinyQwen2Hf{"tiny_qwen2_tokenizer_json", kTiny / "tiny-qwen2-hf/tokenizer.json",
                          true};

std::string source_name(const ::testing::TestParamInfo<Source>& info) {
  return info.param.name;
}
void PrintTo(const Source& source, std::ostream* os) {
  *os << source.file;
}

// ---------------------------------------------------------------------------------------
// Golden vectors: the 46 upstream test strings, add_special=false, parse_special=false.

struct GoldenCase {
  Source source;
  fs::path vectors;  ///< the .inp / .out pair is this path + ".inp" / ".out"
};

void PrintTo(const GoldenCase& c, std::ostream* os) {
  *os << c.source.file;
}

class TokenizerGoldenVectors : public ::testing::TestWithParam<GoldenCase> {};

TEST_P(TokenizerGoldenVectors, EncodeMatchesLlamaCppAndHf) {
  const GoldenCase& c = GetParam();
  if (!fs::exists(c.source.file)) GTEST_SKIP() << c.source.file << " is not in the fixtures";
  const auto tokenizer = load(c.source);
  ASSERT_TRUE(tokenizer);
  const std::vector<std::string> inputs = read_inputs(c.vectors.string() + ".inp");
  const std::vector<Tokens> expected = read_outputs(c.vectors.string() + ".out", inputs.size());
  ASSERT_EQ(inputs.size(), 46u);
  ASSERT_EQ(expected.size(), inputs.size());
  int mismatches = 0;
  for (std::size_t i = 0; i < inputs.size(); ++i) {
    const Tokens actual = tokenizer->encode(inputs[i], false, false);
    if (actual != expected[i]) ++mismatches;
    EXPECT_EQ(actual, expected[i])
        << "test " << i << " input " << show_text(inputs[i]) << "\n  expected "
        << show_ids(expected[i]) << "\n  actual   " << show_ids(actual);
  }
  EXPECT_EQ(mismatches, 0) << "of " << inputs.size();
}

std::string golden_name(const ::testing::TestParamInfo<GoldenCase>& info) {
  return info.param.source.name;
}

INSTANTIATE_TEST_SUITE_P(
    Vocab, TokenizerGoldenVectors,
    ::testing::Values(GoldenCase{kGpt2, kVocab / "ggml-vocab-gpt-2.gguf"},
                      GoldenCase{kStarcoder, kVocab / "ggml-vocab-starcoder.gguf"},
                      GoldenCase{kDeepseekCoder, kVocab / "ggml-vocab-deepseek-coder.gguf"},
                      GoldenCase{kLlamaBpe, kVocab / "ggml-vocab-llama-bpe.gguf"},
                      GoldenCase{kQwen2, kVocab / "ggml-vocab-qwen2.gguf"},
                      GoldenCase{kTinyLlama, kTiny / "tiny-llama.F32.gguf"},
                      GoldenCase{kTinyQwen2, kTiny / "tiny-qwen2.F32.gguf"},
                      GoldenCase{kTinyLlamaHf, kTiny / "tiny-llama.F32.gguf"},
                      GoldenCase{kTinyQwen2Hf, kTiny / "tiny-qwen2.F32.gguf"}),
    golden_name);

// ---------------------------------------------------------------------------------------
// The tiny models' reference prompts (add_special=true, parse_special=true).

struct PromptCase {
  Source source;
  fs::path reference;  ///< a .ref.json
};

void PrintTo(const PromptCase& c, std::ostream* os) {
  *os << c.source.file;
}

class TokenizerReferencePrompts : public ::testing::TestWithParam<PromptCase> {};

TEST_P(TokenizerReferencePrompts, PromptIdsMatchTheReference) {
  const PromptCase& c = GetParam();
  const auto tokenizer = load(c.source);
  ASSERT_TRUE(tokenizer);
  const Json reference = Json::parse(read_bytes(c.reference));
  ASSERT_EQ(reference.at("prompts").size(), 3u);
  for (const Json& prompt : reference.at("prompts")) {
    const std::string text = prompt.at("text").get<std::string>();
    const Tokens expected = prompt.at("token_ids").get<Tokens>();
    const Tokens actual = tokenizer->encode(text, prompt.at("add_special").get<bool>(),
                                            prompt.at("parse_special").get<bool>());
    EXPECT_EQ(actual, expected) << prompt.at("name").get<std::string>() << " " << show_text(text)
                                << "\n  expected " << show_ids(expected) << "\n  actual   "
                                << show_ids(actual);
  }
}

TEST_P(TokenizerReferencePrompts, FimPromptHasTheControlTokens) {
  const auto tokenizer = load(GetParam().source);
  ASSERT_TRUE(tokenizer);
  const Tokens ids = tokenizer->encode("<|fim_prefix|>a<|fim_suffix|>b<|fim_middle|>", true, true);
  ASSERT_GE(ids.size(), 5u);
  EXPECT_EQ(ids.front(), 509);
  EXPECT_EQ(ids.back(), 510);
  EXPECT_NE(std::find(ids.begin(), ids.end(), 511), ids.end());
  for (const TokenId id : {509, 510, 511}) EXPECT_EQ(tokenizer->type(id), TokenType::kControl);
}

std::string prompt_name(const ::testing::TestParamInfo<PromptCase>& info) {
  return info.param.source.name;
}

INSTANTIATE_TEST_SUITE_P(
    TinyModels, TokenizerReferencePrompts,
    ::testing::Values(PromptCase{kTinyLlama, kTiny / "tiny-llama.F32.ref.json"},
                      PromptCase{kTinyQwen2, kTiny / "tiny-qwen2.F32.ref.json"},
                      PromptCase{kTinyLlamaHf, kTiny / "tiny-llama.F32.ref.json"},
                      PromptCase{kTinyQwen2Hf, kTiny / "tiny-qwen2.F32.ref.json"}),
    prompt_name);

// ---------------------------------------------------------------------------------------
// Round trips and special-token handling, for every vocabulary.

class TokenizerRoundTrip : public ::testing::TestWithParam<Source> {
 protected:
  void SetUp() override {
    if (!fs::exists(GetParam().file)) GTEST_SKIP() << GetParam().file << " is not present";
    tokenizer_ = load(GetParam());
    ASSERT_TRUE(tokenizer_);
  }

  /// Bytes that have a token decoding to exactly that byte. Two vocabularies lack some
  /// that never occur in UTF-8 (and F1, the lead byte of planes 4-7, in StarCoder2):
  /// StarCoder2 has no token for them (llama.cpp and HF drop such bytes too) and in
  /// DeepSeek-Coder their texts are user-defined tokens that match, and decode to, the
  /// character itself, as in llama.cpp.
  std::vector<std::uint8_t> representable_bytes() const {
    std::vector<std::uint8_t> bytes;
    for (int b = 0; b < 256; ++b) {
      const auto byte = static_cast<std::uint8_t>(b);
      const std::optional<TokenId> id = tokenizer_->find(byte_to_utf8(byte));
      if (id && tokenizer_->token_bytes(*id) == std::string(1, static_cast<char>(byte))) {
        bytes.push_back(byte);
      }
    }
    return bytes;
  }

  /// `text` with the bytes the vocabulary cannot represent replaced by '?'.
  std::string representable(std::string text) const {
    const std::vector<std::uint8_t> bytes = representable_bytes();
    for (char& c : text) {
      if (std::find(bytes.begin(), bytes.end(), static_cast<std::uint8_t>(c)) == bytes.end()) {
        c = '?';
      }
    }
    return text;
  }

  std::shared_ptr<const Tokenizer> tokenizer_;
};

TEST_P(TokenizerRoundTrip, EveryByteHasATokenExceptKnownInvalidUtf8Bytes) {
  const std::vector<std::uint8_t> bytes = representable_bytes();
  std::vector<std::uint8_t> missing;
  for (int b = 0; b < 256; ++b) {
    if (std::find(bytes.begin(), bytes.end(), b) == bytes.end()) {
      missing.push_back(static_cast<std::uint8_t>(b));
    }
  }
  std::vector<std::uint8_t> expected;
  if (GetParam().name == "deepseek_coder" || GetParam().name == "starcoder") {
    expected = {0xC0, 0xC1};
    if (GetParam().name == "starcoder") expected.push_back(0xF1);
    for (int b = 0xF5; b <= 0xFF; ++b) expected.push_back(static_cast<std::uint8_t>(b));
  }
  EXPECT_EQ(missing, expected);
}

TEST_P(TokenizerRoundTrip, UnrepresentableBytesAreDroppedOrStandIn) {
  // Whatever the vocabulary lacks, encoding never fails and keeps every other byte.
  const std::string text =
      "a\xF5"
      "b\xFF"
      "c";
  const std::string decoded = tokenizer_->decode(tokenizer_->encode(text, false, false));
  EXPECT_EQ(decoded.front(), 'a');
  EXPECT_EQ(decoded.back(), 'c');
  EXPECT_NE(decoded.find('b'), std::string::npos);
  if (representable_bytes().size() == 256) {
    EXPECT_EQ(decoded, text);
  }
}

TEST_P(TokenizerRoundTrip, RandomBytesDecodeToThemselves) {
  const std::vector<std::uint8_t> alphabet = representable_bytes();
  ASSERT_GE(alphabet.size(), 242u);
  std::mt19937 rng(20240611);
  std::uniform_int_distribution<std::size_t> pick(0, alphabet.size() - 1);
  std::uniform_int_distribution<int> length(0, 120);
  for (int trial = 0; trial < 300; ++trial) {
    std::string text;
    const int n = length(rng);
    for (int i = 0; i < n; ++i) text.push_back(static_cast<char>(alphabet[pick(rng)]));
    const Tokens ids = tokenizer_->encode(text, false, false);
    ASSERT_EQ(tokenizer_->decode(ids), text) << show_text(text) << " -> " << show_ids(ids);
  }
}

TEST_P(TokenizerRoundTrip, MixedTextWithBrokenUtf8DecodesToItself) {
  const std::vector<std::string> parts = {
      "int main() {", "\n    ",   "return 0;", " ",    "héllo", "日本語",      "🦙",
      "\t\t",         "\r\n",     "'s",        "  ",   "x",     "9",           "1234",
      "\xC3",         "\xE6\x97", "\xF0\x9F",  "\x80", "\xFE",  "\xED\xA0\x80"};
  std::mt19937 rng(7);
  std::uniform_int_distribution<std::size_t> pick(0, parts.size() - 1);
  for (int trial = 0; trial < 300; ++trial) {
    std::string text;
    for (int i = 0; i < 12; ++i) text += parts[pick(rng)];
    text = representable(text);
    const Tokens ids = tokenizer_->encode(text, false, false);
    ASSERT_EQ(tokenizer_->decode(ids), text) << show_text(text) << " -> " << show_ids(ids);
  }
}

TEST_P(TokenizerRoundTrip, ControlTokenTextIsPlainTextWithoutParseSpecial) {
  std::vector<TokenId> controls;
  for (std::size_t id = 0; id < tokenizer_->n_vocab(); ++id) {
    if (tokenizer_->type(static_cast<TokenId>(id)) == TokenType::kControl) {
      controls.push_back(static_cast<TokenId>(id));
    }
  }
  ASSERT_FALSE(controls.empty());
  const TokenId control = controls.front();
  const std::string text = "a " + tokenizer_->token_bytes(control) + " b";

  const Tokens plain = tokenizer_->encode(text, false, false);
  EXPECT_EQ(std::find(plain.begin(), plain.end(), control), plain.end()) << show_ids(plain);
  EXPECT_EQ(tokenizer_->decode(plain), text);

  const Tokens parsed = tokenizer_->encode(text, false, true);
  EXPECT_NE(std::find(parsed.begin(), parsed.end(), control), parsed.end()) << show_ids(parsed);
  EXPECT_EQ(tokenizer_->decode(parsed, true), text);
  EXPECT_EQ(tokenizer_->decode(parsed, false), "a  b");
}

TEST_P(TokenizerRoundTrip, ConcurrentEncodesAgreeWithASequentialOne) {
  const std::string text = read_bytes(kVocab / "ggml-vocab-gpt-2.gguf.inp");
  const Tokens expected = tokenizer_->encode(text, false, false);
  std::vector<Tokens> results(4);
  std::vector<std::thread> threads;
  for (std::size_t t = 0; t < results.size(); ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < 5; ++i) results[t] = tokenizer_->encode(text, false, false);
    });
  }
  for (std::thread& thread : threads) thread.join();
  for (const Tokens& result : results) EXPECT_EQ(result, expected);
}

INSTANTIATE_TEST_SUITE_P(AllVocabularies, TokenizerRoundTrip,
                         ::testing::Values(kGpt2, kStarcoder, kDeepseekCoder, kTinyLlama,
                                           kTinyQwen2, kTinyLlamaHf, kTinyQwen2Hf),
                         source_name);

// ---------------------------------------------------------------------------------------
// Special ids.

TEST(TokenizerSpecialTokens, TinyModelIdsComeFromTheGgufKeys) {
  const auto tokenizer = load(kTinyLlama);
  ASSERT_TRUE(tokenizer);
  const SpecialTokens& special = tokenizer->special();
  EXPECT_EQ(special.bos, 508);
  EXPECT_EQ(special.eos, 508);
  EXPECT_EQ(special.eot, 508);  // "<|endoftext|>" by text, as llama.cpp finds it
  EXPECT_EQ(special.fim_prefix, 509);
  EXPECT_EQ(special.fim_suffix, 511);
  EXPECT_EQ(special.fim_middle, 510);
  EXPECT_FALSE(special.add_bos);
  EXPECT_EQ(tokenizer->n_vocab(), 512u);
  EXPECT_TRUE(tokenizer->is_end_of_generation(508));
  EXPECT_FALSE(tokenizer->is_end_of_generation(509));
  EXPECT_FALSE(tokenizer->is_end_of_generation(32));
  EXPECT_EQ(tokenizer->find("<|fim_prefix|>"), 509);
  EXPECT_EQ(tokenizer->find("Ġ"), 32);
  EXPECT_FALSE(tokenizer->find("no such token"));
  EXPECT_EQ(tokenizer->encode("x", true, false), tokenizer->encode("x", false, false));
}

TEST(TokenizerSpecialTokens, HfTokenizerJsonReadsTheConfigBesideIt) {
  const auto tokenizer = load(kTinyQwen2Hf);
  ASSERT_TRUE(tokenizer);
  EXPECT_FALSE(tokenizer->special().bos);  // tokenizer_config.json: "bos_token": null
  EXPECT_EQ(tokenizer->special().eos, 508);
  EXPECT_FALSE(tokenizer->special().add_bos);
  EXPECT_EQ(tokenizer->special().fim_prefix, 509);
  EXPECT_EQ(tokenizer->special().fim_suffix, 511);
  EXPECT_EQ(tokenizer->special().fim_middle, 510);
  EXPECT_TRUE(tokenizer->is_end_of_generation(508));
}

TEST(TokenizerSpecialTokens, StarcoderFimTokensAreFoundByText) {
  const auto tokenizer = load(kStarcoder);
  ASSERT_TRUE(tokenizer);
  EXPECT_EQ(tokenizer->special().fim_prefix, 1);  // <fim_prefix>
  EXPECT_EQ(tokenizer->special().fim_middle, 2);  // <fim_middle>
  EXPECT_EQ(tokenizer->special().fim_suffix, 3);  // <fim_suffix>
  EXPECT_EQ(tokenizer->special().eos, 0);         // <|endoftext|>
  EXPECT_TRUE(tokenizer->is_end_of_generation(0));
  EXPECT_TRUE(tokenizer->is_end_of_generation(4));  // <fim_pad>
  EXPECT_FALSE(tokenizer->is_end_of_generation(1));
}

TEST(TokenizerSpecialTokens, DeepseekCoderFimTokensBecomeControlAndBosIsAdded) {
  const auto tokenizer = load(kDeepseekCoder);
  ASSERT_TRUE(tokenizer);
  const SpecialTokens& special = tokenizer->special();
  EXPECT_EQ(special.fim_prefix, 32016);                    // <｜fim▁begin｜>
  EXPECT_EQ(special.fim_suffix, 32015);                    // <｜fim▁hole｜>
  EXPECT_EQ(special.fim_middle, 32017);                    // <｜fim▁end｜>
  EXPECT_EQ(tokenizer->type(32016), TokenType::kControl);  // user-defined in the GGUF
  EXPECT_EQ(special.bos, 32013);
  EXPECT_EQ(special.eos, 32014);
  EXPECT_TRUE(special.add_bos);
  EXPECT_TRUE(tokenizer->is_end_of_generation(32014));
  const Tokens ids = tokenizer->encode("x", true, false);
  ASSERT_EQ(ids.size(), 2u);
  EXPECT_EQ(ids[0], 32013);
  EXPECT_EQ(tokenizer->decode(ids), "x");
  EXPECT_EQ(tokenizer->decode(ids, true), "<｜begin▁of▁sentence｜>x");
}

TEST(TokenizerSpecialTokens, UserDefinedTokensAreMatchedWithoutParseSpecial) {
  const auto tokenizer = load(kDeepseekCoder);
  ASSERT_TRUE(tokenizer);
  const TokenId u_umlaut = 32009;  // "ü", user-defined
  ASSERT_EQ(tokenizer->type(u_umlaut), TokenType::kUserDefined);
  const Tokens ids = tokenizer->encode("Führer", false, false);
  EXPECT_NE(std::find(ids.begin(), ids.end(), u_umlaut), ids.end()) << show_ids(ids);
  EXPECT_EQ(tokenizer->decode(ids), "Führer");
}

TEST(TokenizerSpecialTokens, Gpt2HasNoFimTokens) {
  const auto tokenizer = load(kGpt2);
  ASSERT_TRUE(tokenizer);
  EXPECT_EQ(tokenizer->special().eos, 50256);
  EXPECT_FALSE(tokenizer->special().fim_prefix);
  EXPECT_FALSE(tokenizer->special().fim_suffix);
  EXPECT_FALSE(tokenizer->special().fim_middle);
  EXPECT_EQ(tokenizer->type(50256), TokenType::kControl);
  EXPECT_EQ(tokenizer->type(-1), TokenType::kUndefined);
  EXPECT_EQ(tokenizer->type(50257), TokenType::kUndefined);
  EXPECT_EQ(tokenizer->token_bytes(50257), "");
  EXPECT_EQ(tokenizer->decode({-5, 50257, 31373}), "hello");
}

// ---------------------------------------------------------------------------------------
// Merging and added-token rules on small hand-made vocabularies.

/// A vocabulary of the bytes 'a'..'d' plus `extra` normal tokens, split by the GPT-2 regex.
BpeVocabulary small_vocabulary(const std::vector<std::string>& extra) {
  BpeVocabulary vocab;
  vocab.texts = {"a", "b", "c", "d", "Ġ"};
  for (const std::string& text : extra) vocab.texts.push_back(text);
  vocab.types.assign(vocab.texts.size(), TokenType::kNormal);
  vocab.pre_regexes = {kGpt2Regex};
  return vocab;
}

TEST(TokenizerMerges, LowestRankMergesFirstAndTiesGoLeft) {
  BpeVocabulary vocab = small_vocabulary({"ab", "bc", "abc", "cd", "aa"});  // ids 5..9
  vocab.merges = {{"b", "c"}, {"a", "b"}, {"c", "d"}, {"a", "a"}};
  auto tokenizer = BpeTokenizer::create(vocab, "small");
  ASSERT_TRUE(tokenizer) << tokenizer.error().message;
  const auto encode = [&](const char* text) {
    return tokenizer.value()->encode(text, false, false);
  };
  EXPECT_EQ(encode("abc"), (Tokens{0, 6}));      // "bc" (rank 0) before "ab" (rank 1)
  EXPECT_EQ(encode("abcd"), (Tokens{0, 6, 3}));  // "bc" takes the c that "cd" wanted
  EXPECT_EQ(encode("ab"), (Tokens{5}));
  EXPECT_EQ(encode("aaa"), (Tokens{9, 0}));  // equal ranks: the leftmost pair first
}

TEST(TokenizerMerges, IgnoreMergesTakesAWholeWordToken) {
  BpeVocabulary vocab = small_vocabulary({"ab", "abc"});
  vocab.merges = {{"a", "b"}};
  auto merged = BpeTokenizer::create(vocab, "small");
  ASSERT_TRUE(merged) << merged.error().message;
  EXPECT_EQ(merged.value()->encode("abc", false, false), (Tokens{5, 2}));
  vocab.ignore_merges = true;  // llama3: a word that is itself a token is taken whole
  auto whole = BpeTokenizer::create(vocab, "small");
  ASSERT_TRUE(whole) << whole.error().message;
  EXPECT_EQ(whole.value()->encode("abc", false, false), (Tokens{6}));
}

TEST(TokenizerMerges, AMergeMakingAnUnknownTokenIsAnError) {
  BpeVocabulary vocab = small_vocabulary({});
  vocab.merges = {{"a", "b"}};
  auto tokenizer = BpeTokenizer::create(vocab, "small.gguf");
  ASSERT_FALSE(tokenizer);
  EXPECT_NE(tokenizer.error().message.find("small.gguf: merge 0"), std::string::npos)
      << tokenizer.error().message;
}

TEST(TokenizerAddedTokens, LongerAddedTokensAreCutOutFirst) {
  // llama.cpp's tokenizer_st_partition goes by length, not by position: in "abcd" the
  // user-defined "bcd" wins over "ab" although "ab" starts first.
  BpeVocabulary vocab = small_vocabulary({"ab", "bcd"});
  vocab.types[5] = TokenType::kUserDefined;
  vocab.types[6] = TokenType::kUserDefined;
  auto tokenizer = BpeTokenizer::create(vocab, "small");
  ASSERT_TRUE(tokenizer) << tokenizer.error().message;
  EXPECT_EQ(tokenizer.value()->encode("abcd", false, false), (Tokens{0, 6}));
  EXPECT_EQ(tokenizer.value()->encode("abab", false, false), (Tokens{5, 5}));
}

TEST(TokenizerAddedTokens, LstripAndRstripSwallowAdjacentWhitespace) {
  Json json = tiny_llama_json();
  for (Json& token : json["added_tokens"]) {
    if (token["content"] == "<|fim_prefix|>") token["lstrip"] = true;
    if (token["content"] == "<|fim_suffix|>") token["rstrip"] = true;
  }
  const testing::TempDir dir;
  auto tokenizer =
      Tokenizer::from_tokenizer_json(dir.write("tokenizer.json", json.dump()).string());
  ASSERT_TRUE(tokenizer) << tokenizer.error().message;
  const Tokens ids =
      tokenizer.value()->encode("x \t<|fim_prefix|>y<|fim_suffix|>  \nz", false, true);
  EXPECT_EQ(ids, (Tokens{'x', 509, 'y', 511, 'z'})) << show_ids(ids);
}

// ---------------------------------------------------------------------------------------
// The pre-tokenizer.

std::vector<std::string> split_with(const std::vector<std::string>& regexes,
                                    const std::string& text) {
  auto pre = PreTokenizer::create(regexes);
  EXPECT_TRUE(pre) << pre.error();
  if (!pre) return {};
  std::vector<TextPiece> pieces;
  pre.value().split(text, pieces);
  std::vector<std::string> out;
  for (const TextPiece& piece : pieces) out.push_back(text.substr(piece.begin, piece.length));
  return out;
}

TEST(TokenizerPreTokenizer, Gpt2RegexSplitsWordsContractionsAndSpaces) {
  EXPECT_EQ(split_with({kGpt2Regex}, "Hello world's  x\n\n"),
            (std::vector<std::string>{"Hello", " world", "'s", " ", " x", "\n\n"}));
}

TEST(TokenizerPreTokenizer, ARegexListKeepsMatchesAndTheTextBetweenThem) {
  // starcoder: digits one by one first, then the GPT-2 regex inside every piece.
  const auto preset = llama_cpp_preset("starcoder");
  ASSERT_TRUE(preset);
  EXPECT_EQ(split_with(preset->regexes, "ab12 cd"),
            (std::vector<std::string>{"ab", "1", "2", " cd"}));
  EXPECT_EQ(split_with({"[0-9]"}, "a1b"), (std::vector<std::string>{"a", "1", "b"}));
}

TEST(TokenizerPreTokenizer, InvalidUtf8IsKeptBetweenMatches) {
  const std::string text = "ab\xFF\xFE cd\xC3";
  const std::vector<std::string> pieces = split_with({kGpt2Regex}, text);
  std::string joined;
  for (const std::string& piece : pieces) {
    EXPECT_FALSE(piece.empty());
    joined += piece;
  }
  EXPECT_EQ(joined, text);
  EXPECT_EQ(pieces.front(), "ab");
}

TEST(TokenizerPreTokenizer, LlamaCppPresetsKnowTheRequiredNames) {
  for (const char* name : {"", "default", "gpt-2", "llama3", "llama-bpe", "qwen2", "starcoder",
                           "smollm", "deepseek-coder", "deepseek-llm"}) {
    const auto preset = llama_cpp_preset(name);
    ASSERT_TRUE(preset) << name;
    EXPECT_TRUE(PreTokenizer::create(preset->regexes)) << name;
  }
  EXPECT_TRUE(llama_cpp_preset("llama3")->ignore_merges);
  EXPECT_TRUE(llama_cpp_preset("llama3")->add_bos);
  EXPECT_FALSE(llama_cpp_preset("no-such-pre"));
  EXPECT_EQ(llama_cpp_preset("deepseek-coder")->regexes.size(), 5u);
}

TEST(TokenizerPreTokenizer, ABadRegexIsAnErrorNamingIt) {
  auto pre = PreTokenizer::create({"(unclosed"});
  ASSERT_FALSE(pre);
  EXPECT_NE(pre.error().find("(unclosed"), std::string::npos) << pre.error();
}

// ---------------------------------------------------------------------------------------
// tokenizer.json variants and corrupt inputs.

Result<std::shared_ptr<const Tokenizer>, TokenizerError> load_json_text(const testing::TempDir& dir,
                                                                        const std::string& text) {
  return Tokenizer::from_tokenizer_json(dir.write("tokenizer.json", text).string());
}

TEST(TokenizerJson, PairFormMergesGiveTheSameTokens) {
  Json json = tiny_llama_json();
  Json pairs = Json::array();
  for (const Json& merge : json["model"]["merges"]) {
    const std::string text = merge.get<std::string>();
    const std::size_t space = text.find(' ', 1);
    pairs.push_back(Json::array({text.substr(0, space), text.substr(space + 1)}));
  }
  json["model"]["merges"] = pairs;
  const testing::TempDir dir;
  auto paired = load_json_text(dir, json.dump());
  ASSERT_TRUE(paired) << paired.error().message;
  const auto reference = load(kTinyLlamaHf);
  ASSERT_TRUE(reference);
  for (const std::string& input : read_inputs(kTiny / "tiny-llama.F32.gguf.inp")) {
    EXPECT_EQ(paired.value()->encode(input, false, false), reference->encode(input, false, false))
        << show_text(input);
  }
}

TEST(TokenizerJson, TemplateProcessingBosIsAddedWithAddSpecial) {
  Json json = tiny_llama_json();
  json["post_processor"] = {
      {"type", "TemplateProcessing"},
      {"single", Json::array({{{"SpecialToken", {{"id", "<|endoftext|>"}, {"type_id", 0}}}},
                              {{"Sequence", {{"id", "A"}, {"type_id", 0}}}}})}};
  const testing::TempDir dir;
  auto tokenizer = load_json_text(dir, json.dump());
  ASSERT_TRUE(tokenizer) << tokenizer.error().message;
  EXPECT_TRUE(tokenizer.value()->special().add_bos);
  const Tokens ids = tokenizer.value()->encode("x", true, false);
  ASSERT_EQ(ids.size(), 2u);
  EXPECT_EQ(ids[0], 508);
}

TEST(TokenizerCorruptInput, TokenizerJsonThatIsNotJsonIsAnError) {
  const testing::TempDir dir;
  auto tokenizer = load_json_text(dir, "{\"model\": {\"vocab\": ");
  ASSERT_FALSE(tokenizer);
  EXPECT_NE(tokenizer.error().message.find("tokenizer.json"), std::string::npos);
  EXPECT_NE(tokenizer.error().message.find("not valid JSON"), std::string::npos)
      << tokenizer.error().message;
}

TEST(TokenizerCorruptInput, MissingTokenizerJsonIsAnError) {
  auto tokenizer = Tokenizer::from_tokenizer_json("/nonexistent/tokenizer.json");
  ASSERT_FALSE(tokenizer);
  EXPECT_NE(tokenizer.error().message.find("/nonexistent/tokenizer.json"), std::string::npos);
}

TEST(TokenizerCorruptInput, TokenizerJsonWithoutVocabIsAnError) {
  Json json = tiny_llama_json();
  json["model"].erase("vocab");
  const testing::TempDir dir;
  auto tokenizer = load_json_text(dir, json.dump());
  ASSERT_FALSE(tokenizer);
  EXPECT_NE(tokenizer.error().message.find("model.vocab"), std::string::npos)
      << tokenizer.error().message;
}

TEST(TokenizerCorruptInput, MergeNamingAnUnknownTokenIsAnError) {
  Json json = tiny_llama_json();
  json["model"]["merges"].push_back("Ġ nosuchtoken");
  const testing::TempDir dir;
  auto tokenizer = load_json_text(dir, json.dump());
  ASSERT_FALSE(tokenizer);
  EXPECT_NE(tokenizer.error().message.find("unknown token 'nosuchtoken'"), std::string::npos)
      << tokenizer.error().message;
}

TEST(TokenizerCorruptInput, VocabWithWrongValueTypesIsAnError) {
  Json json = tiny_llama_json();
  json["model"]["vocab"]["Ġ"] = "thirty-two";
  const testing::TempDir dir;
  auto tokenizer = load_json_text(dir, json.dump());
  ASSERT_FALSE(tokenizer);
  EXPECT_NE(tokenizer.error().message.find("invalid id"), std::string::npos)
      << tokenizer.error().message;
}

TEST(TokenizerCorruptInput, UnsupportedPreTokenizerIsAnError) {
  Json json = tiny_llama_json();
  json["pre_tokenizer"] = {{"type", "Whitespace"}};
  const testing::TempDir dir;
  auto tokenizer = load_json_text(dir, json.dump());
  ASSERT_FALSE(tokenizer);
  EXPECT_NE(tokenizer.error().message.find("Whitespace"), std::string::npos)
      << tokenizer.error().message;
}

/// A GGUF v3 file with only the given string metadata and no tensors.
std::string tiny_gguf(const std::vector<std::pair<std::string, std::string>>& strings) {
  std::string bytes = "GGUF";
  const auto put = [&](auto value) {
    char raw[sizeof value];
    std::memcpy(raw, &value, sizeof value);
    bytes.append(raw, sizeof value);
  };
  const auto put_string = [&](const std::string& s) {
    put(static_cast<std::uint64_t>(s.size()));
    bytes += s;
  };
  put(std::uint32_t{3});
  put(std::uint64_t{0});  // tensors
  put(static_cast<std::uint64_t>(strings.size()));
  for (const auto& [key, value] : strings) {
    put_string(key);
    put(std::uint32_t{8});  // string
    put_string(value);
  }
  return bytes;
}

TEST(TokenizerCorruptInput, GgufWithoutTokensIsAnError) {
  const testing::TempDir dir;
  const fs::path path = dir.write("no-tokens.gguf", tiny_gguf({{"general.architecture", "llama"},
                                                               {"tokenizer.ggml.model", "gpt2"},
                                                               {"tokenizer.ggml.pre", "gpt-2"}}));
  auto gguf = GgufFile::open(path.string());
  ASSERT_TRUE(gguf) << gguf.error().message;
  auto tokenizer = Tokenizer::from_gguf(*gguf.value());
  ASSERT_FALSE(tokenizer);
  EXPECT_NE(tokenizer.error().message.find(path.string()), std::string::npos);
  EXPECT_NE(tokenizer.error().message.find("tokenizer.ggml.tokens"), std::string::npos)
      << tokenizer.error().message;
}

TEST(TokenizerCorruptInput, GgufWithoutTokenizerModelIsAnError) {
  const testing::TempDir dir;
  const fs::path path = dir.write("weights-only.gguf", tiny_gguf({{"general.name", "x"}}));
  auto bare = GgufFile::open(path.string());
  ASSERT_TRUE(bare) << bare.error().message;
  auto tokenizer = Tokenizer::from_gguf(*bare.value());
  ASSERT_FALSE(tokenizer);
  EXPECT_NE(tokenizer.error().message.find("tokenizer.ggml.model"), std::string::npos)
      << tokenizer.error().message;
}

TEST(TokenizerCorruptInput, GgufWithAnUnknownPreTokenizerIsAnError) {
  const testing::TempDir dir;
  const fs::path path = dir.write(
      "odd-pre.gguf", tiny_gguf({{"tokenizer.ggml.model", "gpt2"}, {"tokenizer.ggml.pre", "zz"}}));
  auto gguf = GgufFile::open(path.string());
  ASSERT_TRUE(gguf) << gguf.error().message;
  auto tokenizer = Tokenizer::from_gguf(*gguf.value());
  ASSERT_FALSE(tokenizer);
  EXPECT_NE(tokenizer.error().message.find("unknown pre-tokenizer"), std::string::npos)
      << tokenizer.error().message;
}

TEST(TokenizerCorruptInput, NonBpeGgufIsRejected) {
  const testing::TempDir dir;
  const fs::path path = dir.write("spm.gguf", tiny_gguf({{"tokenizer.ggml.model", "llama"}}));
  auto gguf = GgufFile::open(path.string());
  ASSERT_TRUE(gguf) << gguf.error().message;
  auto tokenizer = Tokenizer::from_gguf(*gguf.value());
  ASSERT_FALSE(tokenizer);
  EXPECT_NE(tokenizer.error().message.find("'llama'"), std::string::npos)
      << tokenizer.error().message;
}

}  // namespace
}  // namespace mnemo::model
