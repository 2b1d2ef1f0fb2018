// The GGUF reader on the llama.cpp-written fixtures, and on corrupted copies of them:
// every corruption must be a clean error naming the file, never a crash.
#include "model/gguf_reader.h"

#include <gtest/gtest.h>

#include <cstring>
#include <filesystem>
#include <fstream>
#include <iterator>

#include "tests/support/temp_dir.h"

namespace mnemo::model {
namespace {

namespace fs = std::filesystem;
const fs::path kFixtures = MNEMO_FIXTURES_DIR;

std::string read_bytes(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  return {std::istreambuf_iterator<char>(in), {}};
}

/// Writes `bytes` to a temporary file and opens it as GGUF.
Result<std::shared_ptr<GgufFile>, GgufError> open_bytes(const std::string& bytes) {
  const testing::TempDir dir;
  return GgufFile::open(dir.write("corrupt.gguf", bytes).string());
}

void put_u64(std::string& bytes, std::size_t at, std::uint64_t value) {
  std::memcpy(bytes.data() + at, &value, sizeof value);
}

TEST(GgufReader, ReadsTheTinyLlamaFixture) {
  auto file = GgufFile::open((kFixtures / "tiny-models/tiny-llama.F32.gguf").string());
  ASSERT_TRUE(file) << file.error().message;
  const GgufFile& gguf = *file.value();
  EXPECT_EQ(gguf.version(), 3u);
  ASSERT_NE(gguf.find("general.architecture"), nullptr);
  EXPECT_EQ(std::get<std::string>(gguf.find("general.architecture")->value), "llama");
  EXPECT_EQ(std::get<std::uint64_t>(gguf.find("llama.embedding_length")->value), 64u);
  const GgufTensor* embd = gguf.tensor("token_embd.weight");
  ASSERT_NE(embd, nullptr);
  EXPECT_EQ(embd->shape, (std::vector<std::uint64_t>{64, 512}));
  EXPECT_EQ(embd->type, static_cast<std::uint32_t>(GgufType::kF32));
  EXPECT_EQ(embd->n_bytes, 64u * 512u * 4u);
  EXPECT_EQ(gguf.tensors().size(), 3u + 2u * 9u);  // embd, output_norm, output + 9 per layer
  const auto& merges = std::get<GgufArray>(gguf.find("tokenizer.ggml.merges")->value);
  EXPECT_EQ(merges.size(), 252u);
}

TEST(GgufReader, QuantizedTensorSizesFollowTheirBlocks) {
  auto file = GgufFile::open((kFixtures / "tiny-models/tiny-llama-256.Q4_K.gguf").string());
  ASSERT_TRUE(file) << file.error().message;
  const GgufTensor* q = file.value()->tensor("blk.0.attn_q.weight");
  ASSERT_NE(q, nullptr);
  EXPECT_EQ(q->type, static_cast<std::uint32_t>(GgufType::kQ4_K));
  EXPECT_EQ(q->n_bytes, 256u * 256u / 256u * 144u);
}

TEST(GgufReader, ReadsAVocabularyOnlyFile) {
  auto file = GgufFile::open((kFixtures / "vocab/ggml-vocab-gpt-2.gguf").string());
  ASSERT_TRUE(file) << file.error().message;
  EXPECT_TRUE(file.value()->tensors().empty());
  EXPECT_EQ(std::get<GgufArray>(file.value()->find("tokenizer.ggml.tokens")->value).size(), 50257u);
}

TEST(GgufReader, MissingFileNamesThePath) {
  auto file = GgufFile::open("/nonexistent/model.gguf");
  ASSERT_FALSE(file);
  EXPECT_NE(file.error().message.find("/nonexistent/model.gguf"), std::string::npos);
}

TEST(GgufReader, WrongMagicIsRejected) {
  std::string bytes = read_bytes(kFixtures / "tiny-models/tiny-llama.F32.gguf");
  bytes[0] = 'X';
  auto file = open_bytes(bytes);
  ASSERT_FALSE(file);
  EXPECT_NE(file.error().message.find("bad magic"), std::string::npos);
}

TEST(GgufReader, TruncationAnywhereIsACleanError) {
  const std::string bytes = read_bytes(kFixtures / "tiny-models/tiny-llama.F32.gguf");
  for (std::size_t cut :
       {std::size_t{0}, std::size_t{3}, std::size_t{10}, std::size_t{30}, std::size_t{200},
        std::size_t{5000}, std::size_t{20000}, bytes.size() / 2, bytes.size() - 1}) {
    auto file = open_bytes(bytes.substr(0, cut));
    EXPECT_FALSE(file) << "cut at " << cut;
  }
}

TEST(GgufReader, AbsurdCountsAndLengthsAreRejected) {
  const std::string bytes = read_bytes(kFixtures / "tiny-models/tiny-llama.F32.gguf");
  std::string counts = bytes;
  put_u64(counts, 16, std::uint64_t{1} << 60);  // metadata count
  auto file = open_bytes(counts);
  ASSERT_FALSE(file);
  EXPECT_NE(file.error().message.find("absurd"), std::string::npos);

  std::string key = bytes;
  put_u64(key, 24, std::uint64_t{1} << 62);  // length of the first key
  file = open_bytes(key);
  ASSERT_FALSE(file);
  EXPECT_NE(file.error().message.find("absurd length"), std::string::npos);
}

TEST(GgufReader, TensorOffsetPastTheEndIsRejected) {
  auto good = GgufFile::open((kFixtures / "tiny-models/tiny-llama.F32.gguf").string());
  ASSERT_TRUE(good);
  std::string bytes = read_bytes(kFixtures / "tiny-models/tiny-llama.F32.gguf");
  // The last tensor's offset field is the 8 bytes before the padding that precedes the data.
  const GgufTensor& last = good.value()->tensors().back();
  const std::string name = last.name;
  const std::size_t name_at = bytes.rfind(name);
  ASSERT_NE(name_at, std::string::npos);
  const std::size_t offset_at = name_at + name.size() + 4 + 8 * last.shape.size() + 4;
  put_u64(bytes, offset_at, std::uint64_t{1} << 40);
  auto file = open_bytes(bytes);
  ASSERT_FALSE(file);
  EXPECT_NE(file.error().message.find("past the end"), std::string::npos) << file.error().message;
}

TEST(GgufReader, RandomByteCorruptionOfTheHeaderNeverCrashes) {
  const std::string bytes = read_bytes(kFixtures / "tiny-models/tiny-llama.F32.gguf");
  // Flips land in the first 12,000 bytes: the metadata (vocabulary, merges) and the
  // tensor table, where every length and offset lives.
  std::uint64_t state = 0x9E3779B97F4A7C15ull;  // fixed seed: the run is reproducible
  auto next = [&] {
    state ^= state << 13, state ^= state >> 7, state ^= state << 17;
    return state;
  };
  int opened = 0;
  for (int trial = 0; trial < 300; ++trial) {
    std::string corrupt = bytes;
    for (int k = 0; k < 4; ++k) corrupt[next() % 12000] = static_cast<char>(next());
    auto file = open_bytes(corrupt);
    if (file)
      ++opened;  // a flip inside a string or float can leave a valid file
    else
      EXPECT_EQ(file.error().message.rfind(fs::temp_directory_path().string(), 0), 0u);
  }
  SUCCEED() << opened << " of 300 corrupted copies still parsed";
}

}  // namespace
}  // namespace mnemo::model
