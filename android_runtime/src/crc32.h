// CRC-32 (ISO-HDLC, the zlib polynomial 0xEDB88320), slicing-by-8. Matches Python's zlib.crc32.
#pragma once

#include <cstddef>
#include <cstdint>

namespace wrx {

uint32_t crc32(const void* data, size_t n, uint32_t crc = 0);

}  // namespace wrx
