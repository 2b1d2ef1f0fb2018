#include "model/gguf_reader.h"

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <stdexcept>

#include "model/byte_cursor.h"

namespace mnemo::model {

std::optional<GgufTypeTraits> gguf_type_traits(std::uint32_t type) {
  switch (static_cast<GgufType>(type)) {
    case GgufType::kF32:
      return GgufTypeTraits{"F32", 1, 4};
    case GgufType::kF16:
      return GgufTypeTraits{"F16", 1, 2};
    case GgufType::kBF16:
      return GgufTypeTraits{"BF16", 1, 2};
    case GgufType::kQ4_0:
      return GgufTypeTraits{"Q4_0", 32, 18};
    case GgufType::kQ4_1:
      return GgufTypeTraits{"Q4_1", 32, 20};
    case GgufType::kQ5_0:
      return GgufTypeTraits{"Q5_0", 32, 22};
    case GgufType::kQ5_1:
      return GgufTypeTraits{"Q5_1", 32, 24};
    case GgufType::kQ8_0:
      return GgufTypeTraits{"Q8_0", 32, 34};
    case GgufType::kQ8_1:
      return GgufTypeTraits{"Q8_1", 32, 36};
    case GgufType::kQ2_K:
      return GgufTypeTraits{"Q2_K", 256, 84};
    case GgufType::kQ3_K:
      return GgufTypeTraits{"Q3_K", 256, 110};
    case GgufType::kQ4_K:
      return GgufTypeTraits{"Q4_K", 256, 144};
    case GgufType::kQ5_K:
      return GgufTypeTraits{"Q5_K", 256, 176};
    case GgufType::kQ6_K:
      return GgufTypeTraits{"Q6_K", 256, 210};
    case GgufType::kQ8_K:
      return GgufTypeTraits{"Q8_K", 256, 292};
  }
  return std::nullopt;
}

namespace {

// Limits far above any real file, so absurd counts fail before they allocate.
constexpr std::uint64_t kMaxStringBytes = 1u << 30;
constexpr std::uint64_t kMaxArrayDepth = 4;
constexpr std::uint32_t kMaxDims = 4;

enum ValueType : std::uint32_t {
  kU8 = 0,
  kI8 = 1,
  kU16 = 2,
  kI16 = 3,
  kU32 = 4,
  kI32 = 5,
  kF32 = 6,
  kBool = 7,
  kString = 8,
  kArray = 9,
  kU64 = 10,
  kI64 = 11,
  kF64 = 12,
};

/// Thrown inside the parser only; open() turns it into a GgufError.
struct ParseFailure : std::runtime_error {
  using std::runtime_error::runtime_error;
};

}  // namespace

/// Parses the mapped bytes through a bounds-checked cursor.
class GgufParser {
 public:
  GgufParser(const std::uint8_t* base, std::size_t size) : cursor_(base, size), size_(size) {}

  void parse(GgufFile& file) {
    if (size_ < 4 || std::memcmp(cursor_.base(), "GGUF", 4) != 0)
      throw ParseFailure("not a GGUF file (bad magic)");
    cursor_.read_bytes(4, "magic");
    file.version_ = read<std::uint32_t>("version");
    if (file.version_ != 2 && file.version_ != 3)
      throw ParseFailure("unsupported GGUF version " + std::to_string(file.version_));
    const auto n_tensors = read<std::uint64_t>("tensor count");
    const auto n_kv = read<std::uint64_t>("metadata count");
    // Each entry takes at least 8 bytes in the file, which bounds honest counts.
    if (n_kv > size_ / 8 || n_tensors > size_ / 8)
      throw ParseFailure("absurd counts: " + std::to_string(n_kv) + " metadata entries, " +
                         std::to_string(n_tensors) + " tensors for a file of " +
                         std::to_string(size_) + " bytes");
    for (std::uint64_t i = 0; i < n_kv; ++i) {
      std::string key = read_string("metadata key");
      const auto type = read<std::uint32_t>("metadata type");
      GgufValue value = read_value(type, 0, key);
      if (!file.metadata_.emplace(key, std::move(value)).second)
        throw ParseFailure("duplicate metadata key '" + key + "'");
    }
    std::uint64_t alignment = 32;
    if (const GgufValue* a = file.find("general.alignment")) {
      const auto* v = std::get_if<std::uint64_t>(&a->value);
      if (!v || *v == 0 || (*v & (*v - 1)) != 0)
        throw ParseFailure("general.alignment must be a power of two");
      alignment = *v;
    }
    std::vector<std::uint64_t> offsets;
    for (std::uint64_t i = 0; i < n_tensors; ++i) {
      GgufTensor tensor;
      tensor.name = read_string("tensor name");
      const auto n_dims = read<std::uint32_t>("tensor dimension count");
      if (n_dims == 0 || n_dims > kMaxDims)
        throw ParseFailure("tensor '" + tensor.name + "' has " + std::to_string(n_dims) +
                           " dimensions");
      tensor.n_elements = 1;
      for (std::uint32_t d = 0; d < n_dims; ++d) {
        const auto dim = read<std::uint64_t>("tensor dimension");
        if (dim == 0 || tensor.n_elements > (std::uint64_t{1} << 48) / dim)
          throw ParseFailure("tensor '" + tensor.name + "' has an absurd shape");
        tensor.shape.push_back(dim);
        tensor.n_elements *= dim;
      }
      tensor.type = read<std::uint32_t>("tensor type");
      const auto traits = gguf_type_traits(tensor.type);
      if (!traits)
        throw ParseFailure("tensor '" + tensor.name + "' has unknown type " +
                           std::to_string(tensor.type));
      if (tensor.shape[0] % traits->block_elements != 0)
        throw ParseFailure("tensor '" + tensor.name + "': row of " +
                           std::to_string(tensor.shape[0]) + " is not a multiple of the " +
                           traits->name + " block");
      tensor.n_bytes = tensor.n_elements / traits->block_elements * traits->block_bytes;
      offsets.push_back(read<std::uint64_t>("tensor offset"));
      file.tensors_.push_back(std::move(tensor));
    }
    const std::uint64_t data_start = (cursor_.position() + alignment - 1) / alignment * alignment;
    for (std::size_t i = 0; i < file.tensors_.size(); ++i) {
      GgufTensor& tensor = file.tensors_[i];
      if (offsets[i] % alignment != 0)
        throw ParseFailure("tensor '" + tensor.name + "' offset is not aligned");
      if (offsets[i] > size_ || data_start > size_ - offsets[i] ||
          tensor.n_bytes > size_ - data_start - offsets[i])
        throw ParseFailure(
            "tensor '" + tensor.name + "' extends past the end of the file (offset " +
            std::to_string(offsets[i]) + ", " + std::to_string(tensor.n_bytes) + " bytes)");
      tensor.data = cursor_.base() + data_start + offsets[i];
    }
  }

 private:
  template <class T>
  T read(const char* what) {
    return cursor_.template read<T>(what);
  }
  std::string read_string(const char* what) {
    const auto n = read<std::uint64_t>(what);
    if (n > kMaxStringBytes)
      throw ParseFailure(std::string(what) + ": absurd length " + std::to_string(n));
    return cursor_.read_bytes(n, what);
  }
  GgufValue read_value(std::uint32_t type, std::uint64_t depth, const std::string& key) {
    switch (type) {
      case kU8:
        return {std::uint64_t{read<std::uint8_t>("u8")}};
      case kI8:
        return {std::int64_t{read<std::int8_t>("i8")}};
      case kU16:
        return {std::uint64_t{read<std::uint16_t>("u16")}};
      case kI16:
        return {std::int64_t{read<std::int16_t>("i16")}};
      case kU32:
        return {std::uint64_t{read<std::uint32_t>("u32")}};
      case kI32:
        return {std::int64_t{read<std::int32_t>("i32")}};
      case kF32:
        return {double{read<float>("f32")}};
      case kBool:
        return {read<std::uint8_t>("bool") != 0};
      case kString:
        return {read_string("string value")};
      case kU64:
        return {read<std::uint64_t>("u64")};
      case kI64:
        return {read<std::int64_t>("i64")};
      case kF64:
        return {read<double>("f64")};
      case kArray: {
        if (depth >= kMaxArrayDepth) throw ParseFailure("'" + key + "': arrays nested too deeply");
        const auto element_type = read<std::uint32_t>("array type");
        const auto n = read<std::uint64_t>("array length");
        if (n > cursor_.remaining())  // every element takes at least one byte
          throw ParseFailure("'" + key + "': array of " + std::to_string(n) +
                             " elements exceeds the file");
        GgufArray array;
        // Reserve modestly: a corrupted count must not trigger a huge allocation up front.
        array.reserve(static_cast<std::size_t>(std::min<std::uint64_t>(n, 1u << 16)));
        for (std::uint64_t i = 0; i < n; ++i)
          array.push_back(read_value(element_type, depth + 1, key));
        return {std::move(array)};
      }
    }
    throw ParseFailure("'" + key + "' has unknown value type " + std::to_string(type));
  }

  ByteCursor<ParseFailure> cursor_;
  std::size_t size_;
};

Result<std::shared_ptr<GgufFile>, GgufError> GgufFile::open(const std::string& path) {
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return GgufError{path + ": cannot open: " + std::strerror(errno)};
  struct stat info {};
  if (::fstat(fd, &info) != 0 || !S_ISREG(info.st_mode)) {
    ::close(fd);
    return GgufError{path + ": not a regular file"};
  }
  std::shared_ptr<GgufFile> file(new GgufFile());
  file->path_ = path;
  file->size_ = static_cast<std::size_t>(info.st_size);
  if (file->size_ > 0) {
    void* mapped = ::mmap(nullptr, file->size_, PROT_READ, MAP_PRIVATE, fd, 0);
    if (mapped == MAP_FAILED) {
      ::close(fd);
      return GgufError{path + ": cannot map: " + std::strerror(errno)};
    }
    file->base_ = static_cast<const std::uint8_t*>(mapped);
  }
  ::close(fd);
  try {
    GgufParser(file->base_, file->size_).parse(*file);
  } catch (const ParseFailure& e) {
    return GgufError{path + ": " + e.what()};
  } catch (const std::exception& e) {  // allocation failures on absurd but in-bounds data
    return GgufError{path + ": cannot read metadata: " + e.what()};
  }
  return file;
}

GgufFile::~GgufFile() {
  if (base_) ::munmap(const_cast<std::uint8_t*>(base_), size_);
}

const GgufValue* GgufFile::find(const std::string& key) const {
  const auto it = metadata_.find(key);
  return it == metadata_.end() ? nullptr : &it->second;
}

const GgufTensor* GgufFile::tensor(const std::string& name) const {
  for (const auto& t : tensors_)
    if (t.name == name) return &t;
  return nullptr;
}

}  // namespace mnemo::model
