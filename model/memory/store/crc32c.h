// CRC-32C (Castagnoli), the checksum of memory segments. Written here rather than taken
// from Boost.CRC because speed decides the design: Boost's crc_32_type walks a byte-wise
// table (~0.5 GB/s), while the SSE4.2 `crc32` instruction, which computes CRC-32C only,
// runs at ~8 GB/s on one core. Token blocks are verified on first use, on the decoding
// path, so their checksum must cost about as much as reading the bytes. Other CPUs use a
// portable slice-by-8 table (~1.5 GB/s).
#pragma once

#include <cstddef>
#include <cstdint>

namespace mnemo::model::memory::store {

/// Extends `crc` (0 to start) over `n` bytes at `data`; crc32c(0, "123456789", 9) is
/// 0xE3069283. Chaining calls over consecutive pieces equals one call over the whole.
/// Thread-safe.
std::uint32_t crc32c(std::uint32_t crc, const void* data, std::size_t n);

/// The portable path alone (the tests compare it with the hardware path).
std::uint32_t crc32c_portable(std::uint32_t crc, const void* data, std::size_t n);

}  // namespace mnemo::model::memory::store
