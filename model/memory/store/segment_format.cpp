#include "model/memory/store/segment_format.h"

#include <cstring>
#include <set>
#include <stdexcept>

#include <ATen/ATen.h>

#include "model/byte_cursor.h"
#include "model/memory/store/crc32c.h"

namespace mnemo::model::memory::store {

static_assert(__BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__,
              "the segment format is little-endian and read in place");

namespace {

constexpr char kMagic[8] = {'M', 'N', 'E', 'M', 'O', 'S', 'E', 'G'};
constexpr std::size_t kIdentCrcOffset = 44;
constexpr std::uint32_t kMaxRank = 8;
constexpr std::uint64_t kMaxElements = std::uint64_t{1} << 48;

struct DtypeCode {
  at::ScalarType dtype;
  std::uint8_t code;
};
// Codes are part of the format: never renumber, only append.
constexpr DtypeCode kDtypeCodes[] = {
    {at::ScalarType::Float, 1}, {at::ScalarType::Half, 2},   {at::ScalarType::BFloat16, 3},
    {at::ScalarType::Char, 4},  {at::ScalarType::Byte, 5},   {at::ScalarType::Int, 6},
    {at::ScalarType::Long, 7},  {at::ScalarType::Double, 8}, {at::ScalarType::Short, 9},
    {at::ScalarType::Bool, 10},
};

std::optional<at::ScalarType> dtype_from_code(std::uint8_t code) {
  for (const auto& entry : kDtypeCodes)
    if (entry.code == code) return entry.dtype;
  return std::nullopt;
}

template <class T>
void put(std::string& out, T value) {
  char bytes[sizeof(T)];
  std::memcpy(bytes, &value, sizeof(T));
  out.append(bytes, sizeof(T));
}

void put_string(std::string& out, const std::string& s) {
  put(out, static_cast<std::uint32_t>(s.size()));
  out += s;
}

template <class T>
void patch(std::string& out, std::size_t offset, T value) {
  std::memcpy(out.data() + offset, &value, sizeof(T));
}

/// Thrown inside the header parser only; parse_segment() turns it into a reason.
struct ParseFailure : std::runtime_error {
  using std::runtime_error::runtime_error;
};

/// Header fields are read through a bounds-checked cursor; strings carry a u32 length.
using Cursor = ByteCursor<ParseFailure>;

std::string read_string(Cursor& cursor, const char* what) {
  return cursor.read_bytes(cursor.read<std::uint32_t>(what), what);
}

std::size_t align_up(std::size_t n) {
  return (n + kSegmentDataAlignment - 1) / kSegmentDataAlignment * kSegmentDataAlignment;
}

}  // namespace

std::optional<std::uint8_t> segment_dtype_code(at::ScalarType dtype) {
  for (const auto& entry : kDtypeCodes)
    if (entry.dtype == dtype) return entry.code;
  return std::nullopt;
}

std::string encode_segment_head(SegmentLayout& layout) {
  std::string header;
  put(header, static_cast<std::uint32_t>(layout.metadata.size()));
  for (const auto& [name, value] : layout.metadata) {
    put_string(header, name);
    put_string(header, value);
  }
  put(header, static_cast<std::uint32_t>(layout.tensors.size()));
  std::vector<std::size_t> offset_slots;
  for (const SegmentTensor& tensor : layout.tensors) {
    put_string(header, tensor.name);
    put(header, *segment_dtype_code(tensor.dtype));
    put(header, static_cast<std::uint8_t>(tensor.shape.size()));
    for (const std::int64_t d : tensor.shape) put(header, static_cast<std::uint64_t>(d));
    offset_slots.push_back(header.size());
    put(header, std::uint64_t{0});  // offset, patched below
    put(header, tensor.n_bytes);
    put(header, tensor.crc);
  }
  SegmentIdent& ident = layout.ident;
  const std::size_t head_bytes = kSegmentIdentBytes + ident.key.size() + header.size();
  std::size_t end = align_up(head_bytes);
  for (std::size_t i = 0; i < layout.tensors.size(); ++i) {
    SegmentTensor& tensor = layout.tensors[i];
    tensor.offset = end;
    patch(header, offset_slots[i], tensor.offset);
    end = align_up(end + tensor.n_bytes);
  }
  // The file ends right after the last tensor's bytes (no padding after it).
  ident.file_bytes = layout.tensors.empty()
                         ? head_bytes
                         : layout.tensors.back().offset + layout.tensors.back().n_bytes;
  ident.format_version = kSegmentFormatVersion;
  ident.header_bytes = header.size();
  ident.header_crc = crc32c(0, header.data(), header.size());

  std::string out;
  out.append(kMagic, sizeof(kMagic));
  put(out, ident.format_version);
  put(out, static_cast<std::uint32_t>(ident.key.size()));
  put(out, ident.memory_id);
  put(out, ident.header_bytes);
  put(out, ident.file_bytes);
  put(out, ident.header_crc);
  std::uint32_t ident_crc = crc32c(0, out.data(), out.size());
  ident_crc = crc32c(ident_crc, ident.key.data(), ident.key.size());
  put(out, ident_crc);
  out += ident.key;
  out += header;
  out.resize(layout.tensors.empty() ? head_bytes : layout.tensors.front().offset, '\0');
  return out;
}

std::optional<SegmentIdent> parse_segment_ident(const std::uint8_t* data, std::size_t n,
                                                std::string& reason) {
  if (n < kSegmentIdentBytes) {
    reason = "truncated: " + std::to_string(n) + " bytes, less than the " +
             std::to_string(kSegmentIdentBytes) + "-byte ident";
    return std::nullopt;
  }
  if (std::memcmp(data, kMagic, sizeof(kMagic)) != 0) {
    reason = "not a memory segment (bad magic)";
    return std::nullopt;
  }
  SegmentIdent ident;
  std::uint32_t key_bytes = 0;
  std::uint32_t ident_crc = 0;
  std::memcpy(&ident.format_version, data + 8, 4);
  std::memcpy(&key_bytes, data + 12, 4);
  std::memcpy(&ident.memory_id, data + 16, 8);
  std::memcpy(&ident.header_bytes, data + 24, 8);
  std::memcpy(&ident.file_bytes, data + 32, 8);
  std::memcpy(&ident.header_crc, data + 40, 4);
  std::memcpy(&ident_crc, data + kIdentCrcOffset, 4);
  if (key_bytes > kSegmentMaxKeyBytes) {
    reason = "ident: absurd key length " + std::to_string(key_bytes);
    return std::nullopt;
  }
  if (key_bytes > n - kSegmentIdentBytes) {
    reason = "truncated: the " + std::to_string(key_bytes) + "-byte key ends past byte " +
             std::to_string(n);
    return std::nullopt;
  }
  std::uint32_t crc = crc32c(0, data, kIdentCrcOffset);
  crc = crc32c(crc, data + kSegmentIdentBytes, key_bytes);
  if (crc != ident_crc) {
    reason = "ident checksum mismatch (the segment's key is unreadable)";
    return std::nullopt;
  }
  ident.key.assign(reinterpret_cast<const char*>(data + kSegmentIdentBytes), key_bytes);
  return ident;
}

std::optional<SegmentLayout> parse_segment(const std::uint8_t* data, std::size_t n,
                                           std::uint64_t memory_id, std::string& key,
                                           std::string& reason) {
  std::optional<SegmentIdent> ident = parse_segment_ident(data, n, reason);
  if (!ident) return std::nullopt;
  key = ident->key;
  if (ident->format_version != kSegmentFormatVersion) {
    reason = "segment format version " + std::to_string(ident->format_version) +
             ", this build reads version " + std::to_string(kSegmentFormatVersion);
    return std::nullopt;
  }
  if (ident->memory_id != memory_id) {
    reason = "written for another memory (a header since re-created with other fields)";
    return std::nullopt;
  }
  if (ident->file_bytes != n) {
    reason = n < ident->file_bytes
                 ? "truncated: " + std::to_string(n) + " of " + std::to_string(ident->file_bytes) +
                       " bytes"
                 : std::to_string(n - ident->file_bytes) + " bytes past the segment's recorded end";
    return std::nullopt;
  }
  const std::size_t header_start = kSegmentIdentBytes + ident->key.size();
  if (ident->header_bytes > n - header_start) {
    reason = "header of " + std::to_string(ident->header_bytes) + " bytes extends past the end";
    return std::nullopt;
  }
  const auto header_bytes = static_cast<std::size_t>(ident->header_bytes);
  if (crc32c(0, data + header_start, header_bytes) != ident->header_crc) {
    reason = "header checksum mismatch";
    return std::nullopt;
  }
  SegmentLayout layout;
  layout.ident = std::move(*ident);
  try {
    Cursor cursor(data + header_start, header_bytes);
    const auto n_metadata = cursor.read<std::uint32_t>("metadata count");
    if (n_metadata > cursor.remaining() / 8) throw ParseFailure("absurd metadata count");
    for (std::uint32_t i = 0; i < n_metadata; ++i) {
      std::string name = read_string(cursor, "metadata name");
      std::string value = read_string(cursor, "metadata value");
      if (!layout.metadata.emplace(std::move(name), std::move(value)).second)
        throw ParseFailure("duplicate metadata name");
    }
    const auto n_tensors = cursor.read<std::uint32_t>("tensor count");
    if (n_tensors > cursor.remaining() / 26) throw ParseFailure("absurd tensor count");
    std::set<std::string> names;
    std::uint64_t previous_end = header_start + header_bytes;
    for (std::uint32_t i = 0; i < n_tensors; ++i) {
      SegmentTensor tensor;
      tensor.name = read_string(cursor, "tensor name");
      const auto bad = [&](const std::string& what) {
        return ParseFailure("tensor '" + tensor.name + "': " + what);
      };
      if (!names.insert(tensor.name).second) throw bad("appears twice");
      const auto dtype = dtype_from_code(cursor.read<std::uint8_t>("tensor dtype"));
      if (!dtype) throw bad("unknown dtype code");
      tensor.dtype = *dtype;
      const auto rank = cursor.read<std::uint8_t>("tensor rank");
      if (rank > kMaxRank) throw bad("rank " + std::to_string(rank));
      std::uint64_t n_elements = 1;
      for (std::uint8_t d = 0; d < rank; ++d) {
        const auto dim = cursor.read<std::uint64_t>("tensor dimension");
        if (dim > kMaxElements || (dim != 0 && n_elements > kMaxElements / dim))
          throw bad("absurd shape");
        n_elements *= dim;
        tensor.shape.push_back(static_cast<std::int64_t>(dim));
      }
      tensor.offset = cursor.read<std::uint64_t>("tensor offset");
      tensor.n_bytes = cursor.read<std::uint64_t>("tensor byte count");
      tensor.crc = cursor.read<std::uint32_t>("tensor checksum");
      if (tensor.n_bytes != n_elements * at::elementSize(tensor.dtype))
        throw bad("holds " + std::to_string(tensor.n_bytes) + " bytes but its shape needs " +
                  std::to_string(n_elements * at::elementSize(tensor.dtype)));
      if (tensor.offset % kSegmentDataAlignment != 0) throw bad("offset is not aligned");
      if (tensor.offset < previous_end) throw bad("overlaps the header or the previous tensor");
      if (tensor.offset > n || tensor.n_bytes > n - tensor.offset)
        throw bad("bytes extend past the end of the file");
      // The padding before it is shorter than the alignment and zero: no byte of the file
      // goes unchecked.
      if (tensor.offset - previous_end >= kSegmentDataAlignment)
        throw bad("starts " + std::to_string(tensor.offset - previous_end) +
                  " bytes after the previous part");
      for (std::uint64_t pos = previous_end; pos < tensor.offset; ++pos)
        if (data[pos] != 0) throw bad("nonzero padding at byte " + std::to_string(pos));
      previous_end = tensor.offset + tensor.n_bytes;
      layout.tensors.push_back(std::move(tensor));
    }
    if (cursor.remaining() != 0)
      throw ParseFailure(std::to_string(cursor.remaining()) + " unread bytes after the header");
    if (previous_end != n)
      throw ParseFailure(std::to_string(n - previous_end) + " bytes after the last tensor");
  } catch (const ParseFailure& e) {
    reason = e.what();
    return std::nullopt;
  }
  return layout;
}

}  // namespace mnemo::model::memory::store
