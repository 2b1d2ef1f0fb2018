// Dequantizers against ggml's own: every tensor of each quantized fixture must equal the
// F32 values in its `.dequant.safetensors` (written by ggml's to_float), within 1 ulp.
#include "model/dequantize.h"

#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <filesystem>
#include <vector>

#include "model/safetensors_reader.h"
#include "tests/support/temp_dir.h"

namespace mnemo::model {
namespace {

namespace fs = std::filesystem;
const fs::path kTinyModels = fs::path(MNEMO_FIXTURES_DIR) / "tiny-models";

std::int64_t ulp_distance(float a, float b) {
  std::int32_t ia, ib;
  std::memcpy(&ia, &a, 4);
  std::memcpy(&ib, &b, 4);
  if (ia < 0) ia = std::numeric_limits<std::int32_t>::min() - ia;
  if (ib < 0) ib = std::numeric_limits<std::int32_t>::min() - ib;
  return std::llabs(static_cast<std::int64_t>(ia) - ib);
}

class DequantizeFixture : public ::testing::TestWithParam<const char*> {};

TEST_P(DequantizeFixture, MatchesGgmlWithinOneUlp) {
  const std::string stem = GetParam();
  auto gguf = GgufFile::open((kTinyModels / (stem + ".gguf")).string());
  ASSERT_TRUE(gguf) << gguf.error().message;
  auto reference = SafetensorsFile::open((kTinyModels / (stem + ".dequant.safetensors")).string());
  ASSERT_TRUE(reference) << reference.error().message;
  ASSERT_FALSE(reference.value()->tensors().empty());
  for (const auto& [name, expected] : reference.value()->tensors()) {
    const GgufTensor* tensor = gguf.value()->tensor(name);
    ASSERT_NE(tensor, nullptr) << name;
    ASSERT_EQ(expected.dtype, "F32");
    ASSERT_EQ(expected.n_bytes, tensor->n_elements * 4) << name;
    std::vector<float> got(tensor->n_elements);
    auto ok = dequantize(tensor->type, tensor->data, got.data(), got.size());
    ASSERT_TRUE(ok) << name << ": " << ok.error().message;
    std::int64_t worst = 0;
    for (std::size_t i = 0; i < got.size(); ++i) {
      float want;
      std::memcpy(&want, expected.data + 4 * i, 4);
      worst = std::max(worst, ulp_distance(got[i], want));
    }
    EXPECT_LE(worst, 1) << name << " (" << gguf_type_traits(tensor->type)->name << ")";
  }
}

INSTANTIATE_TEST_SUITE_P(TinyModels, DequantizeFixture,
                         ::testing::Values("tiny-llama.F16", "tiny-llama.Q8_0", "tiny-llama.Q4_0",
                                           "tiny-llama.Q4_K", "tiny-qwen2.F16", "tiny-qwen2.Q4_0",
                                           "tiny-qwen2.Q8_0", "tiny-qwen2.Q4_K",
                                           "tiny-llama-256.Q4_0", "tiny-llama-256.Q4_K"),
                         [](const ::testing::TestParamInfo<const char*>& param_info) {
                           std::string name = param_info.param;
                           for (char& c : name)
                             if (!std::isalnum(static_cast<unsigned char>(c))) c = '_';
                           return name;
                         });

TEST(Dequantize, Fp16SpecialValues) {
  EXPECT_EQ(fp16_to_fp32(0x3C00), 1.0f);
  EXPECT_EQ(fp16_to_fp32(0xC000), -2.0f);
  EXPECT_EQ(fp16_to_fp32(0x0001), std::ldexp(1.0f, -24));  // smallest subnormal
  EXPECT_TRUE(std::isinf(fp16_to_fp32(0x7C00)));
  EXPECT_TRUE(std::isnan(fp16_to_fp32(0x7E00)));
  EXPECT_EQ(bf16_to_fp32(0x3F80), 1.0f);
}

TEST(Dequantize, PartialBlocksAndUnknownTypesAreErrors) {
  std::vector<std::uint8_t> src(64);
  std::vector<float> dst(64);
  EXPECT_FALSE(dequantize(static_cast<std::uint32_t>(GgufType::kQ4_0), src.data(), dst.data(), 31));
  EXPECT_FALSE(dequantize(999, src.data(), dst.data(), 32));
}

TEST(SafetensorsReader, TruncatedAndOversizedHeadersAreCleanErrors) {
  const testing::TempDir dir;
  const fs::path path = dir.path() / "bad.safetensors";
  const auto write = [&](const std::string& bytes) { dir.write("bad.safetensors", bytes); };
  write("abc");
  EXPECT_FALSE(SafetensorsFile::open(path.string()));
  std::string huge(8, '\xFF');
  write(huge + "{}");
  auto r = SafetensorsFile::open(path.string());
  ASSERT_FALSE(r);
  EXPECT_NE(r.error().message.find("past the end"), std::string::npos);
  std::string header = R"({"t":{"dtype":"F32","shape":[4],"data_offsets":[0,16]}})";
  std::uint64_t n = header.size();
  std::string bytes(reinterpret_cast<const char*>(&n), 8);
  write(bytes + header + std::string(8, '\0'));  // 8 of the 16 data bytes
  r = SafetensorsFile::open(path.string());
  ASSERT_FALSE(r);
  EXPECT_NE(r.error().message.find("'t'"), std::string::npos) << r.error().message;
}

}  // namespace
}  // namespace mnemo::model
