// The byte layout of one segment file (one indexed source file's memory) and its parser.
// Everything is little-endian; offsets are from the start of the file.
//
//   ident (48 bytes, the same layout in every format version, so a segment of another
//   version still names its key):
//     0  char[8]  magic "MNEMOSEG"
//     8  u32      format version (kSegmentFormatVersion)
//    12  u32      key_bytes
//    16  u64      memory_id: the memory header's id; a segment of an earlier memory (the
//                 directory was re-created with other fields) is refused
//    24  u64      header_bytes
//    32  u64      file_bytes: the whole file's size, so truncation is caught before parsing
//    40  u32      header_crc: CRC-32C of the header block
//    44  u32      ident_crc: CRC-32C of bytes [0, 44) followed by the key
//    48  key      key_bytes of UTF-8 (the caller's file key)
//   header block (header_bytes):
//     u32 n_metadata, then n_metadata × (str name, str value)     str = u32 length + bytes
//     u32 n_tensors, then n_tensors × (str name, u8 dtype, u8 rank, u64 dims[rank],
//                                      u64 offset, u64 n_bytes, u32 crc of the bytes)
//   zero padding, then each tensor's bytes at a 64-byte aligned offset, in table order.
//
// The parser checks every count, length and range against the file before it reads, so a
// truncated or corrupted file yields a reason, never an out-of-bounds read.
#pragma once

#include <cstddef>
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include <ATen/core/Tensor.h>

namespace mnemo::model::memory::store {

inline constexpr std::uint32_t kSegmentFormatVersion = 1;
inline constexpr std::size_t kSegmentIdentBytes = 48;
inline constexpr std::size_t kSegmentDataAlignment = 64;
inline constexpr std::size_t kSegmentMaxKeyBytes = 64 * 1024;

/// One tensor's entry in the table; its bytes are [offset, offset + n_bytes) of the file.
struct SegmentTensor {
  std::string name;
  at::ScalarType dtype = at::ScalarType::Float;
  std::vector<std::int64_t> shape;
  std::uint64_t offset = 0;
  std::uint64_t n_bytes = 0;
  std::uint32_t crc = 0;  ///< CRC-32C of the bytes
};

struct SegmentIdent {
  std::uint32_t format_version = 0;
  std::uint64_t memory_id = 0;
  std::uint64_t header_bytes = 0;
  std::uint64_t file_bytes = 0;
  std::uint32_t header_crc = 0;
  std::string key;
};

struct SegmentLayout {
  SegmentIdent ident;
  std::map<std::string, std::string> metadata;
  std::vector<SegmentTensor> tensors;  ///< in file order
};

/// The stored code of a dtype, or nullopt for one the format does not hold.
std::optional<std::uint8_t> segment_dtype_code(at::ScalarType dtype);

/// Lays out `tensors` (their dtype, shape, n_bytes and crc already set) after the header
/// and returns the file's bytes up to the first tensor (ident, key, header, padding),
/// setting each tensor's offset and the ident's sizes and checksums.
std::string encode_segment_head(SegmentLayout& layout);

/// Reads the ident from the first `n` bytes of a segment (n may be less than the file).
/// Returns the reason when the bytes are no valid ident (bad magic, truncated, checksum).
/// A valid ident of another format version is returned as is: the caller decides.
std::optional<SegmentIdent> parse_segment_ident(const std::uint8_t* data, std::size_t n,
                                                std::string& reason);

/// Parses a whole mapped segment: the ident, then (for format version 1 and memory
/// `memory_id`) the size, the header checksum, and every entry and range of the header.
/// Tensor bytes are not read. On failure returns nullopt, sets `reason`, and sets `key` to
/// the segment's key when its ident was intact.
std::optional<SegmentLayout> parse_segment(const std::uint8_t* data, std::size_t n,
                                           std::uint64_t memory_id, std::string& key,
                                           std::string& reason);

}  // namespace mnemo::model::memory::store
