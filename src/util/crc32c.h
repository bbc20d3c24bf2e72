// CRC-32C (Castagnoli), the checksum of the relay's spill files: the CPU's instruction where there is
// one (x86-64 with SSE4.2), a table otherwise.
#pragma once

#include <cstdint>
#include <string_view>

namespace relay::util {

// The CRC-32C of `bytes`, continuing from `crc` (0 to start).
std::uint32_t crc32c(std::string_view bytes, std::uint32_t crc = 0);

}  // namespace relay::util
