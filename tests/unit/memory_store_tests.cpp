// MemoryStore and its segment files: round trips, replace/remove of one file's segment,
// every kind of corruption detected (and reported with the file key) before its bytes are
// used, crash-safe writes, and a loose load-time check.
#include "model/memory/store/memory_store.h"

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <string>
#include <thread>
#include <vector>

#include <ATen/ATen.h>
#include <gtest/gtest.h>

#include "model/memory/store/crc32c.h"
#include "model/memory/store/segment_format.h"
#include "tests/support/temp_dir.h"

namespace mnemo::model::memory::store {
namespace {

namespace fs = std::filesystem;
using TensorMap = std::map<std::string, at::Tensor>;

const StringMap kFields = {{"model", "mnemo-tiny-v1"}, {"block_size", "64"}, {"dtype", "fp16"},
                           {"n_layers", "2"},          {"n_kv_heads", "2"},  {"d_head", "64"}};

std::string bytes_of(const at::Tensor& t) {
  const at::Tensor c = t.contiguous();
  return std::string(static_cast<const char*>(c.data_ptr()), c.nbytes());
}

std::string read_file(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), {});
}

void write_file(const fs::path& path, const std::string& bytes) {
  std::ofstream(path, std::ios::binary | std::ios::trunc) << bytes;
}

/// A file's tensors: every dtype the exact tier uses, odd shapes, an empty and a 0-d one.
TensorMap sample_tensors(int seed) {
  at::manual_seed(seed);
  TensorMap t;
  t["keys"] = at::randn({2, 2, 7, 64}).to(at::kHalf);
  t["values"] = at::randn({2, 2, 7, 64}).to(at::kBFloat16);
  t["keys_int8"] = at::randint(-128, 128, {3, 5}, at::kChar);
  t["scales"] = at::rand({3});
  t["counts"] = at::tensor({7, 0, 1 << 30}, at::kInt);
  t["empty"] = at::empty({0, 64}, at::kHalf);
  t["scalar"] = at::tensor(3.5);
  t["double"] = at::randn({2, 3}, at::kDouble);
  t["mask"] = at::rand({9}) > 0.5;
  t["transposed"] = at::randn({4, 6}).t();  // non-contiguous
  // A NaN with a payload: bit-exact means bits, not values.
  const std::uint32_t nan_bits = 0x7fc12345u;
  float nan;
  std::memcpy(&nan, &nan_bits, 4);
  t["scales"][1] = nan;
  return t;
}

StringMap sample_metadata(const std::string& path) {
  return {{"path", path}, {"content_hash", "9f86d081884c7d65"}, {"mtime", "1732579200"}};
}

void expect_same_tensors(const LoadedSegment& segment, const TensorMap& expected) {
  ASSERT_EQ(segment.tensors().size(), expected.size()) << segment.key();
  for (const auto& [name, want] : expected) {
    auto got = segment.tensor(name);
    ASSERT_TRUE(got) << name << ": " << got.error().message;
    EXPECT_EQ(got.value().scalar_type(), want.scalar_type()) << name;
    EXPECT_EQ(got.value().sizes(), want.sizes()) << name;
    EXPECT_EQ(bytes_of(got.value()), bytes_of(want)) << name;
  }
}

std::shared_ptr<const LoadedSegment> find_segment(const LoadedMemory& memory,
                                                  const std::string& key) {
  for (const auto& segment : memory.segments)
    if (segment->key() == key) return segment;
  return nullptr;
}

const SegmentProblem* find_problem(const LoadedMemory& memory, const std::string& file_name) {
  for (const SegmentProblem& problem : memory.problems)
    if (problem.file_name == file_name) return &problem;
  return nullptr;
}

class MemoryStoreTest : public ::testing::Test {
 protected:
  fs::path dir() const { return temp_.path() / "memory"; }
  fs::path segment_path(const std::string& key) const {
    return dir() / "segments" / MemoryStore::segment_file_name(key);
  }

  std::unique_ptr<MemoryStore> create(StoreOptions options = {}) {
    auto store = MemoryStore::create(dir(), kFields, options);
    EXPECT_TRUE(store) << store.error().message;
    return std::move(store).value();
  }
  std::unique_ptr<MemoryStore> reopen(StoreOptions options = {}) {
    auto store = MemoryStore::open(dir(), kFields, options);
    EXPECT_TRUE(store) << store.error().message;
    return std::move(store).value();
  }
  void put(MemoryStore& store, const std::string& key, const TensorMap& tensors) {
    auto ok = store.put(key, tensors, sample_metadata(key));
    ASSERT_TRUE(ok) << ok.error().message;
  }
  LoadedMemory load(const MemoryStore& store, const LoadOptions& options = {}) {
    auto memory = store.load(options);
    EXPECT_TRUE(memory) << memory.error().message;
    return std::move(memory).value();
  }

  /// Three files "a.cpp", "b.cpp", "c.cpp" with seeds 1, 2, 3; the store is closed.
  void make_three_files() {
    auto store = create();
    put(*store, "src/a.cpp", sample_tensors(1));
    put(*store, "src/b.cpp", sample_tensors(2));
    put(*store, "src/c.cpp", sample_tensors(3));
  }

  /// The parsed layout of `key`'s segment (offsets of every region).
  SegmentLayout layout_of(const std::string& key, std::uint64_t memory_id) {
    const std::string bytes = read_file(segment_path(key));
    std::string found_key, reason;
    auto layout = parse_segment(reinterpret_cast<const std::uint8_t*>(bytes.data()), bytes.size(),
                                memory_id, found_key, reason);
    EXPECT_TRUE(layout) << reason;
    return layout ? *layout : SegmentLayout{};
  }

  /// Loads and checks that b and c are intact whatever happened to a.
  LoadedMemory load_expecting_b_and_c_intact() {
    auto store = reopen();
    LoadedMemory memory = load(*store);
    for (const auto& [key, seed] : {std::pair{"src/b.cpp", 2}, std::pair{"src/c.cpp", 3}}) {
      auto segment = find_segment(memory, key);
      EXPECT_TRUE(segment) << key << " should still load";
      if (segment) expect_same_tensors(*segment, sample_tensors(seed));
    }
    return memory;
  }

  testing::TempDir temp_;
};

TEST(Crc32cTest, MatchesTheStandardCheckValueOnBothPaths) {
  EXPECT_EQ(crc32c(0, "123456789", 9), 0xE3069283u);
  EXPECT_EQ(crc32c_portable(0, "123456789", 9), 0xE3069283u);
  std::vector<std::uint8_t> data(1000);
  for (std::size_t i = 0; i < data.size(); ++i) data[i] = static_cast<std::uint8_t>(i * 131 + 7);
  for (std::size_t n : {0, 1, 7, 8, 9, 63, 1000}) {
    EXPECT_EQ(crc32c(0, data.data(), n), crc32c_portable(0, data.data(), n)) << n;
    // Chaining over two pieces equals one pass.
    EXPECT_EQ(crc32c(crc32c(0, data.data(), n / 3), data.data() + n / 3, n - n / 3),
              crc32c(0, data.data(), n))
        << n;
  }
}

TEST_F(MemoryStoreTest, RoundTripIsBitExactForEveryDtypeShapeAndMetadata) {
  make_three_files();
  auto store = reopen();
  EXPECT_EQ(store->fields(), kFields);
  auto keys = store->keys();
  ASSERT_TRUE(keys);
  EXPECT_EQ(keys.value(), (std::vector<std::string>{"src/a.cpp", "src/b.cpp", "src/c.cpp"}));

  LoadedMemory memory = load(*store);
  EXPECT_TRUE(memory.problems.empty());
  ASSERT_EQ(memory.segments.size(), 3u);
  for (int seed = 1; seed <= 3; ++seed) {
    const std::string key = std::string("src/") + static_cast<char>('a' + seed - 1) + ".cpp";
    auto segment = find_segment(memory, key);
    ASSERT_TRUE(segment) << key;
    EXPECT_EQ(segment->metadata(), sample_metadata(key));
    expect_same_tensors(*segment, sample_tensors(seed));
  }
}

TEST_F(MemoryStoreTest, AFileWithNoTensorsRoundTrips) {
  auto store = create();
  put(*store, "empty.h", {});
  LoadedMemory memory = load(*store);
  ASSERT_EQ(memory.segments.size(), 1u);
  EXPECT_TRUE(memory.segments[0]->tensors().empty());
  EXPECT_EQ(memory.segments[0]->metadata(), sample_metadata("empty.h"));
}

TEST_F(MemoryStoreTest, TensorViewsOutliveTheStoreAndShowTheOldBytesAfterAReplace) {
  auto store = create();
  put(*store, "a.cpp", sample_tensors(1));
  at::Tensor keys;
  {
    LoadedMemory memory = load(*store);
    keys = memory.segments.at(0)->tensor("keys").value();
  }
  put(*store, "a.cpp", sample_tensors(9));  // rename over the mapped file
  ASSERT_TRUE(store->remove("a.cpp").value());
  store.reset();
  EXPECT_EQ(bytes_of(keys), bytes_of(sample_tensors(1)["keys"]));
}

TEST_F(MemoryStoreTest, ReplacingOneFileLeavesTheOtherSegmentsUntouched) {
  make_three_files();
  struct stat b_before {
  }, c_before{};
  ASSERT_EQ(::stat(segment_path("src/b.cpp").c_str(), &b_before), 0);
  ASSERT_EQ(::stat(segment_path("src/c.cpp").c_str(), &c_before), 0);
  const std::string b_bytes = read_file(segment_path("src/b.cpp"));
  const std::string c_bytes = read_file(segment_path("src/c.cpp"));

  auto store = reopen();
  TensorMap replacement = {{"keys", at::randn({1, 1, 3, 64}).to(at::kHalf)}};
  ASSERT_TRUE(store->put("src/a.cpp", replacement, {{"path", "src/a.cpp"}}));

  struct stat b_after {
  }, c_after{};
  ASSERT_EQ(::stat(segment_path("src/b.cpp").c_str(), &b_after), 0);
  ASSERT_EQ(::stat(segment_path("src/c.cpp").c_str(), &c_after), 0);
  EXPECT_EQ(b_after.st_ino, b_before.st_ino);
  EXPECT_EQ(b_after.st_mtim.tv_nsec, b_before.st_mtim.tv_nsec);
  EXPECT_EQ(b_after.st_mtim.tv_sec, b_before.st_mtim.tv_sec);
  EXPECT_EQ(c_after.st_ino, c_before.st_ino);
  EXPECT_EQ(c_after.st_mtim.tv_nsec, c_before.st_mtim.tv_nsec);
  EXPECT_EQ(read_file(segment_path("src/b.cpp")), b_bytes);
  EXPECT_EQ(read_file(segment_path("src/c.cpp")), c_bytes);

  LoadedMemory memory = load(*store);
  ASSERT_EQ(memory.segments.size(), 3u);
  expect_same_tensors(*find_segment(memory, "src/a.cpp"), replacement);
  EXPECT_EQ(find_segment(memory, "src/a.cpp")->metadata(), (StringMap{{"path", "src/a.cpp"}}));
  expect_same_tensors(*find_segment(memory, "src/b.cpp"), sample_tensors(2));
}

TEST_F(MemoryStoreTest, RemovingOneFileLeavesTheOtherSegmentsUntouched) {
  make_three_files();
  const std::string a_bytes = read_file(segment_path("src/a.cpp"));
  const std::string c_bytes = read_file(segment_path("src/c.cpp"));
  auto store = reopen();
  auto removed = store->remove("src/b.cpp");
  ASSERT_TRUE(removed);
  EXPECT_TRUE(removed.value());
  EXPECT_FALSE(store->remove("src/b.cpp").value());
  EXPECT_FALSE(store->remove("never/put.cpp").value());
  EXPECT_FALSE(fs::exists(segment_path("src/b.cpp")));
  EXPECT_EQ(read_file(segment_path("src/a.cpp")), a_bytes);
  EXPECT_EQ(read_file(segment_path("src/c.cpp")), c_bytes);
  EXPECT_EQ(store->keys().value(), (std::vector<std::string>{"src/a.cpp", "src/c.cpp"}));
  LoadedMemory memory = load(*store);
  EXPECT_TRUE(memory.problems.empty());
  ASSERT_EQ(memory.segments.size(), 2u);
  expect_same_tensors(*find_segment(memory, "src/c.cpp"), sample_tensors(3));
}

// --- the directory header --------------------------------------------------------------

TEST_F(MemoryStoreTest, OpenRefusesAMissingHeader) {
  auto store = MemoryStore::open(dir(), kFields);
  ASSERT_FALSE(store);
  EXPECT_EQ(store.error().kind, StoreError::Kind::kNotFound);
}

TEST_F(MemoryStoreTest, OpenRefusesAHeaderWhoseFieldsDifferAndNamesTheField) {
  make_three_files();
  StringMap other = kFields;
  other["block_size"] = "32";
  auto store = MemoryStore::open(dir(), other);
  ASSERT_FALSE(store);
  EXPECT_EQ(store.error().kind, StoreError::Kind::kMismatch);
  EXPECT_NE(store.error().message.find("block_size"), std::string::npos) << store.error().message;

  other = kFields;
  other["rope_theta"] = "10000";
  store = MemoryStore::open(dir(), other);
  ASSERT_FALSE(store);
  EXPECT_NE(store.error().message.find("rope_theta"), std::string::npos) << store.error().message;

  other = kFields;
  other.erase("dtype");
  store = MemoryStore::open(dir(), other);
  ASSERT_FALSE(store);
  EXPECT_NE(store.error().message.find("dtype"), std::string::npos) << store.error().message;
}

TEST_F(MemoryStoreTest, OpenRefusesAnotherFormatVersion) {
  make_three_files();
  std::string header = read_file(dir() / "memory.json");
  const auto pos = header.find("\"format_version\": 1");
  ASSERT_NE(pos, std::string::npos) << header;
  header.replace(pos, std::strlen("\"format_version\": 1"), "\"format_version\": 2");
  write_file(dir() / "memory.json", header);
  auto store = MemoryStore::open(dir(), kFields);
  ASSERT_FALSE(store);
  EXPECT_EQ(store.error().kind, StoreError::Kind::kMismatch);
  EXPECT_NE(store.error().message.find("format version 2"), std::string::npos)
      << store.error().message;
}

TEST_F(MemoryStoreTest, OpenRefusesAGarbledHeader) {
  make_three_files();
  write_file(dir() / "memory.json", "{\"format\": \"mnemo-mem");
  auto store = MemoryStore::open(dir(), kFields);
  ASSERT_FALSE(store);
  EXPECT_EQ(store.error().kind, StoreError::Kind::kCorrupt);
}

TEST_F(MemoryStoreTest, OneStoreAtATimeHoldsTheDirectory) {
  auto first = create();
  auto second = MemoryStore::open(dir(), kFields);
  ASSERT_FALSE(second);
  EXPECT_EQ(second.error().kind, StoreError::Kind::kBusy);
  first.reset();
  EXPECT_TRUE(MemoryStore::open(dir(), kFields));
}

TEST_F(MemoryStoreTest, RecreatingWithOtherFieldsDropsTheOldSegments) {
  make_three_files();
  StringMap other = kFields;
  other["model"] = "another-model";
  auto store = MemoryStore::create(dir(), other);
  ASSERT_TRUE(store);
  EXPECT_TRUE(store.value()->keys().value().empty());
  EXPECT_TRUE(load(*store.value()).segments.empty());
}

// --- corruption of a segment: every region, detected before use -------------------------

TEST_F(MemoryStoreTest, AFlippedByteInTheIdentIsReportedAndTheOthersLoad) {
  make_three_files();
  const fs::path a = segment_path("src/a.cpp");
  const std::string original = read_file(a);
  // magic, version, key length, memory id, header size, file size, header crc, ident crc.
  for (std::size_t offset : {0, 8, 12, 16, 24, 32, 40, 44}) {
    std::string bytes = original;
    bytes[offset] = static_cast<char>(bytes[offset] ^ 0x10);
    write_file(a, bytes);
    LoadedMemory memory = load_expecting_b_and_c_intact();
    EXPECT_FALSE(find_segment(memory, "src/a.cpp")) << offset;
    const SegmentProblem* problem = find_problem(memory, a.filename().string());
    ASSERT_TRUE(problem) << offset;
    EXPECT_FALSE(problem->reason.empty());
    SCOPED_TRACE(problem->reason);
  }
}

TEST_F(MemoryStoreTest, AFlippedByteInTheKeyIsReported) {
  make_three_files();
  const fs::path a = segment_path("src/a.cpp");
  std::string bytes = read_file(a);
  bytes[kSegmentIdentBytes + 4] ^= 0x01;
  write_file(a, bytes);
  LoadedMemory memory = load_expecting_b_and_c_intact();
  const SegmentProblem* problem = find_problem(memory, a.filename().string());
  ASSERT_TRUE(problem);
  EXPECT_NE(problem->reason.find("ident checksum"), std::string::npos) << problem->reason;
  EXPECT_EQ(memory.segments.size(), 2u);
}

TEST_F(MemoryStoreTest, AFlippedByteInTheMetadataOrTensorTableIsReportedWithTheKey) {
  make_three_files();
  const fs::path a = segment_path("src/a.cpp");
  const std::string original = read_file(a);
  const std::size_t header_start = kSegmentIdentBytes + std::strlen("src/a.cpp");
  const std::size_t header_bytes = layout_of("src/a.cpp", reopen()->memory_id()).ident.header_bytes;
  // The first metadata entry, the middle of the header (tensor table), its last byte.
  for (std::size_t offset :
       {header_start + 6, header_start + header_bytes / 2, header_start + header_bytes - 1}) {
    std::string bytes = original;
    bytes[offset] ^= 0x40;
    write_file(a, bytes);
    LoadedMemory memory = load_expecting_b_and_c_intact();
    const SegmentProblem* problem = find_problem(memory, a.filename().string());
    ASSERT_TRUE(problem) << offset;
    EXPECT_EQ(problem->file_key, "src/a.cpp");
    EXPECT_NE(problem->reason.find("header checksum"), std::string::npos) << problem->reason;
  }
}

TEST_F(MemoryStoreTest, AFlippedByteInAnyTensorIsCaughtBeforeItsBytesAreHandedOut) {
  make_three_files();
  const fs::path a = segment_path("src/a.cpp");
  const std::string original = read_file(a);
  const SegmentLayout layout = layout_of("src/a.cpp", reopen()->memory_id());
  int checked = 0;
  for (const SegmentTensor& tensor : layout.tensors) {
    if (tensor.n_bytes == 0) continue;
    for (std::uint64_t within : {std::uint64_t{0}, tensor.n_bytes - 1}) {
      SCOPED_TRACE(tensor.name + " byte " + std::to_string(within));
      std::string bytes = original;
      bytes[tensor.offset + within] ^= 0x01;
      write_file(a, bytes);

      // Lazily: the segment loads, but the corrupted tensor, and from then on every other
      // tensor of the file, is refused.
      {
        LoadedMemory memory = load_expecting_b_and_c_intact();
        auto segment = find_segment(memory, "src/a.cpp");
        ASSERT_TRUE(segment);
        auto got = segment->tensor(tensor.name);
        ASSERT_FALSE(got);
        EXPECT_EQ(got.error().kind, StoreError::Kind::kCorrupt);
        EXPECT_NE(got.error().message.find("src/a.cpp"), std::string::npos);
        EXPECT_TRUE(segment->corrupt());
        for (const SegmentTensor& other : layout.tensors) EXPECT_FALSE(segment->tensor(other.name));
      }
      // The background verifier reports it.
      {
        LoadedMemory memory = load_expecting_b_and_c_intact();
        auto problems = verify_segments(memory.segments);
        ASSERT_EQ(problems.size(), 1u);
        EXPECT_EQ(problems[0].file_key, "src/a.cpp");
      }
      // Eagerly (the tensors kept in RAM) and with verify_all: it never loads.
      for (const LoadOptions& options :
           {LoadOptions{{tensor.name}, false}, LoadOptions{{}, true}}) {
        auto store = reopen();
        LoadedMemory memory = load(*store, options);
        EXPECT_FALSE(find_segment(memory, "src/a.cpp"));
        const SegmentProblem* problem = find_problem(memory, a.filename().string());
        ASSERT_TRUE(problem);
        EXPECT_EQ(problem->file_key, "src/a.cpp");
        EXPECT_NE(problem->reason.find(tensor.name), std::string::npos) << problem->reason;
        EXPECT_EQ(memory.segments.size(), 2u);
      }
      ++checked;
    }
  }
  EXPECT_GE(checked, 16);
}

TEST_F(MemoryStoreTest, AFlippedPaddingByteIsReported) {
  make_three_files();
  const fs::path a = segment_path("src/a.cpp");
  const SegmentLayout layout = layout_of("src/a.cpp", reopen()->memory_id());
  const std::size_t header_end =
      kSegmentIdentBytes + std::strlen("src/a.cpp") + layout.ident.header_bytes;
  ASSERT_LT(header_end, layout.tensors[0].offset) << "the layout has padding to corrupt";
  std::string bytes = read_file(a);
  bytes[layout.tensors[0].offset - 1] ^= 0x01;
  write_file(a, bytes);
  LoadedMemory memory = load_expecting_b_and_c_intact();
  const SegmentProblem* problem = find_problem(memory, a.filename().string());
  ASSERT_TRUE(problem);
  EXPECT_EQ(problem->file_key, "src/a.cpp");
  EXPECT_NE(problem->reason.find("padding"), std::string::npos) << problem->reason;
}

TEST_F(MemoryStoreTest, ATruncatedSegmentIsReportedAtEveryCutPoint) {
  make_three_files();
  const fs::path a = segment_path("src/a.cpp");
  const std::string original = read_file(a);
  const SegmentLayout layout = layout_of("src/a.cpp", reopen()->memory_id());
  const std::size_t key_end = kSegmentIdentBytes + std::strlen("src/a.cpp");
  std::vector<std::size_t> cuts = {0,
                                   1,
                                   20,
                                   kSegmentIdentBytes - 1,
                                   key_end - 1,
                                   key_end,
                                   key_end + 10,
                                   layout.tensors[0].offset,
                                   layout.tensors[3].offset + 100,
                                   original.size() - 1};
  for (std::size_t cut : cuts) {
    write_file(a, original.substr(0, cut));
    LoadedMemory memory = load_expecting_b_and_c_intact();
    const SegmentProblem* problem = find_problem(memory, a.filename().string());
    ASSERT_TRUE(problem) << "cut at " << cut;
    EXPECT_NE(problem->reason.find("truncated"), std::string::npos) << problem->reason;
    if (cut >= key_end) {
      EXPECT_EQ(problem->file_key, "src/a.cpp") << "cut at " << cut;
    }
    EXPECT_EQ(memory.segments.size(), 2u);
  }
}

TEST_F(MemoryStoreTest, GarbageAndTrailingBytesAreReported) {
  make_three_files();
  const fs::path a = segment_path("src/a.cpp");
  const std::string original = read_file(a);
  std::string garbage(5000, '\0');
  for (std::size_t i = 0; i < garbage.size(); ++i)
    garbage[i] = static_cast<char>((i * 2654435761u) >> 13);
  for (const std::string& bytes : {garbage, std::string("MNEMOSEG") + garbage, original + "x"}) {
    write_file(a, bytes);
    LoadedMemory memory = load_expecting_b_and_c_intact();
    const SegmentProblem* problem = find_problem(memory, a.filename().string());
    ASSERT_TRUE(problem);
    EXPECT_FALSE(problem->reason.empty());
  }
}

TEST_F(MemoryStoreTest, AnotherSegmentFormatVersionIsReportedWithTheKey) {
  make_three_files();
  const fs::path a = segment_path("src/a.cpp");
  std::string bytes = read_file(a);
  const std::uint32_t version = kSegmentFormatVersion + 1;
  std::memcpy(bytes.data() + 8, &version, 4);
  std::uint32_t crc = crc32c(0, bytes.data(), 44);
  crc = crc32c(crc, bytes.data() + kSegmentIdentBytes, std::strlen("src/a.cpp"));
  std::memcpy(bytes.data() + 44, &crc, 4);  // a well-formed ident of another version
  write_file(a, bytes);
  LoadedMemory memory = load_expecting_b_and_c_intact();
  const SegmentProblem* problem = find_problem(memory, a.filename().string());
  ASSERT_TRUE(problem);
  EXPECT_EQ(problem->file_key, "src/a.cpp");
  EXPECT_NE(problem->reason.find("format version 2"), std::string::npos) << problem->reason;
}

TEST_F(MemoryStoreTest, ASegmentOfAnotherMemoryIsReported) {
  make_three_files();
  testing::TempDir other_dir;
  {
    auto other = MemoryStore::create(other_dir.path(), kFields);
    ASSERT_TRUE(other);
    put(*other.value(), "src/a.cpp", sample_tensors(7));
  }
  fs::copy_file(other_dir.path() / "segments" / MemoryStore::segment_file_name("src/a.cpp"),
                segment_path("src/a.cpp"), fs::copy_options::overwrite_existing);
  LoadedMemory memory = load_expecting_b_and_c_intact();
  const SegmentProblem* problem = find_problem(memory, MemoryStore::segment_file_name("src/a.cpp"));
  ASSERT_TRUE(problem);
  EXPECT_EQ(problem->file_key, "src/a.cpp");
  EXPECT_NE(problem->reason.find("another memory"), std::string::npos) << problem->reason;
}

TEST_F(MemoryStoreTest, ASegmentUnderAnotherKeysNameIsReportedAndNotOverwritten) {
  make_three_files();
  // As if "src/a.cpp" hashed to the name of "src/z.cpp".
  fs::rename(segment_path("src/a.cpp"), segment_path("src/z.cpp"));
  {
    LoadedMemory memory = load_expecting_b_and_c_intact();
    const SegmentProblem* problem =
        find_problem(memory, MemoryStore::segment_file_name("src/z.cpp"));
    ASSERT_TRUE(problem);
    EXPECT_EQ(problem->file_key, "src/a.cpp");
  }
  auto store = reopen();
  auto put_z = store->put("src/z.cpp", sample_tensors(4), {});
  ASSERT_FALSE(put_z);
  EXPECT_EQ(put_z.error().kind, StoreError::Kind::kCollision);
  EXPECT_FALSE(store->remove("src/z.cpp").value());
}

// --- crash safety --------------------------------------------------------------------------

TEST_F(MemoryStoreTest, ACrashMidWriteLeavesTheOldSegmentIntactAndTheTempFileIsCleaned) {
  make_three_files();
  // What a crash between write and rename leaves: a partial new segment in a temp file.
  const fs::path a = segment_path("src/a.cpp");
  const std::string old_bytes = read_file(a);
  const fs::path temp = a.string() + ".tmp.99999.0";
  write_file(temp, old_bytes.substr(0, old_bytes.size() / 2));
  const fs::path header_temp = dir() / "memory.json.tmp.99999.1";
  write_file(header_temp, "{");

  {
    auto store = reopen();
    EXPECT_FALSE(fs::exists(temp)) << "open() deletes leftover temporaries";
    EXPECT_FALSE(fs::exists(header_temp));
    LoadedMemory memory = load(*store);
    EXPECT_TRUE(memory.problems.empty());
    ASSERT_EQ(memory.segments.size(), 3u);
    expect_same_tensors(*find_segment(memory, "src/a.cpp"), sample_tensors(1));
    EXPECT_EQ(store->keys().value().size(), 3u);
  }
  // A temp file appearing after open() is ignored by load() and deleted as well.
  write_file(temp, "garbage");
  auto store = reopen();
  write_file(temp, "garbage");
  LoadedMemory memory = load(*store);
  EXPECT_TRUE(memory.problems.empty());
  EXPECT_EQ(memory.segments.size(), 3u);
  EXPECT_FALSE(fs::exists(temp));
}

TEST_F(MemoryStoreTest, PutRejectsBadArguments) {
  auto store = create();
  EXPECT_EQ(store->put("", {}, {}).error().kind, StoreError::Kind::kInvalidArgument);
  EXPECT_EQ(store->put("x", {{"t", at::Tensor()}}, {}).error().kind,
            StoreError::Kind::kInvalidArgument);
  EXPECT_EQ(store->put("x", {{"t", at::zeros({2}, at::kComplexFloat)}}, {}).error().kind,
            StoreError::Kind::kInvalidArgument);
  auto memory = load(*store);
  EXPECT_TRUE(memory.segments.empty());
  EXPECT_TRUE(fs::is_empty(dir() / "segments"));
}

TEST_F(MemoryStoreTest, LoadingOnSeveralThreadsFindsTheSameSegmentsAndProblems) {
  auto store = create(StoreOptions{false});
  const TensorMap tensors = {{"keys", at::randn({1, 2, 5, 8}).to(at::kHalf)}};
  for (int i = 0; i < 40; ++i) put(*store, "f" + std::to_string(i), tensors);
  for (int i : {3, 17, 31}) {
    const fs::path path = segment_path("f" + std::to_string(i));
    std::string bytes = read_file(path);
    bytes[bytes.size() / 3] ^= 0x01;  // inside the header
    write_file(path, bytes);
  }
  const LoadedMemory one = load(*store, LoadOptions{{}, false, 1});
  const LoadedMemory four = load(*store, LoadOptions{{}, false, 4});
  ASSERT_EQ(one.segments.size(), 37u);
  ASSERT_EQ(four.segments.size(), 37u);
  ASSERT_EQ(four.problems.size(), 3u);
  for (std::size_t i = 0; i < 37; ++i) EXPECT_EQ(one.segments[i]->key(), four.segments[i]->key());
  for (std::size_t i = 0; i < 3; ++i) {
    EXPECT_EQ(one.problems[i].file_key, four.problems[i].file_key);
    EXPECT_EQ(one.problems[i].reason, four.problems[i].reason);
  }
}

TEST_F(MemoryStoreTest, ConcurrentReadersOfOneSegmentAgreeOnItsTensors) {
  auto store = create();
  put(*store, "a.cpp", sample_tensors(1));
  const LoadedMemory memory = load(*store);
  const auto segment = memory.segments.at(0);
  std::vector<std::thread> readers;
  std::atomic<int> failures{0};
  for (int t = 0; t < 4; ++t)
    readers.emplace_back([&] {
      for (const SegmentTensor& tensor : segment->tensors())
        if (!segment->tensor(tensor.name)) ++failures;
    });
  for (std::thread& reader : readers) reader.join();
  EXPECT_EQ(failures.load(), 0);
  EXPECT_TRUE(verify_segments(memory.segments).empty());
}

// --- speed (loose; the benchmark measures) -------------------------------------------------

/// Pages of [offset, offset + n) of `path` that are in the page cache now.
std::size_t cached_pages(const fs::path& path, std::uint64_t offset, std::uint64_t n) {
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return 0;
  struct stat info {};
  ::fstat(fd, &info);
  const auto size = static_cast<std::size_t>(info.st_size);
  void* mapped = ::mmap(nullptr, size, PROT_READ, MAP_SHARED, fd, 0);
  ::close(fd);
  if (mapped == MAP_FAILED) return 0;
  const auto page = static_cast<std::uint64_t>(::sysconf(_SC_PAGESIZE));
  std::vector<unsigned char> resident((size + page - 1) / page);
  ::mincore(mapped, size, resident.data());
  ::munmap(mapped, size);
  std::size_t count = 0;
  for (std::uint64_t p = offset / page; p < (offset + n + page - 1) / page; ++p)
    count += resident[p] & 1;
  return count;
}

TEST_F(MemoryStoreTest, OpeningASegmentReadsItsCheckedTensorsFromDiskButNotTheOthers) {
  // Two 8 MB tensors around a small one, as a file's token blocks sit around its
  // representatives. Opening checks the small one; the disk's readahead must not bring in
  // megabytes of the others (each fault of a cold memory did, with 8 MB readahead).
  at::manual_seed(0);
  {
    auto store = create();
    put(*store, "src/big.cpp",
        {{"a_keys", at::randint(0, 255, {8 << 20}, at::kByte)},
         {"b_representatives", at::randn({2, 2, 8, 64}).to(at::kHalf)},
         {"c_values", at::randint(0, 255, {8 << 20}, at::kByte)}});
  }
  const fs::path path = segment_path("src/big.cpp");
  {  // Out of the page cache (written and synced, so it may be dropped).
    const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
    ASSERT_GE(fd, 0);
    ::posix_fadvise(fd, 0, 0, POSIX_FADV_DONTNEED);
    ::close(fd);
  }
  const auto size = fs::file_size(path);
  if (cached_pages(path, 0, size) > 16)
    GTEST_SKIP() << "this file system keeps the file cached (tmpfs?): nothing to observe";
  auto store = reopen();
  LoadedMemory memory = load(*store, LoadOptions{{"b_representatives"}, false});
  ASSERT_EQ(memory.segments.size(), 1u);
  for (const SegmentTensor& t : memory.segments[0]->tensors()) {
    const std::size_t cached = cached_pages(path, t.offset, t.n_bytes);
    if (t.name == "b_representatives")
      EXPECT_GE(cached, 1u);
    else  // a page shared with the small tensor at most
      EXPECT_LE(cached, 2u) << t.name;
  }
  ASSERT_TRUE(memory.segments[0]->verify());
  EXPECT_EQ(cached_pages(path, 0, size), (size + ::sysconf(_SC_PAGESIZE) - 1) /
                                             static_cast<std::uint64_t>(::sysconf(_SC_PAGESIZE)));
}

// How fast such a store loads is `mnemo bench memory --store`'s and `mnemo bench reopen`'s
// to measure; this checks that all of it loads and verifies.
TEST_F(MemoryStoreTest, TwoThousandSegmentsOfHalfAGigabyteLoadAndVerifyWhole) {
  constexpr int kSegments = 2000;
  constexpr std::int64_t kTokens = 250;
  // 2 layers × 2 KV heads × 250 tokens × 64 dims × fp16, keys and values: 256 KB a file.
  at::manual_seed(0);
  const at::Tensor keys = at::randn({2, 2, kTokens, 64}).to(at::kHalf);
  const at::Tensor values = at::randn({2, 2, kTokens, 64}).to(at::kHalf);
  const at::Tensor representatives = at::randn({2, 2, 4, 64}).to(at::kHalf);
  {
    auto store = create(StoreOptions{false});  // fsync would time the disk, not the store
    for (int i = 0; i < kSegments; ++i)
      ASSERT_TRUE(
          store->put("src/file_" + std::to_string(i) + ".cpp",
                     {{"keys", keys}, {"values", values}, {"representatives", representatives}},
                     {{"path", "src/file_" + std::to_string(i) + ".cpp"}}));
  }
  auto store = reopen();
  auto memory = store->load(LoadOptions{{"representatives"}, false});
  ASSERT_TRUE(memory);
  ASSERT_EQ(memory.value().segments.size(), static_cast<std::size_t>(kSegments));
  EXPECT_TRUE(verify_segments(memory.value().segments).empty());
  std::size_t bytes = 0;
  for (const auto& segment : memory.value().segments) bytes += segment->file_bytes();
  EXPECT_GT(bytes, static_cast<std::size_t>(kSegments) * 256000);  // the keys and values
  EXPECT_EQ(bytes_of(memory.value().segments[1234]->tensor("values").value()), bytes_of(values));
}

}  // namespace
}  // namespace mnemo::model::memory::store
