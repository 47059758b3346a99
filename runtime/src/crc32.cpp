#include <cstddef>
#include <cstring>

#include "capsrt/ops.hpp"

namespace capsrt {
namespace {

struct Crc32Table {
  uint32_t v[256];
};

constexpr Crc32Table make_table() {
  Crc32Table t{};
  for (uint32_t n = 0; n < 256; ++n) {
    uint32_t c = n;
    for (int k = 0; k < 8; ++k) c = (c & 1u) ? 0xEDB88320u ^ (c >> 1) : c >> 1;
    t.v[n] = c;
  }
  return t;
}

constexpr Crc32Table kTable = make_table();  // in .rodata (flash on microcontrollers)

}  // namespace

uint32_t crc32_update(uint32_t crc, const void* data, size_t size) {
  const uint8_t* p = static_cast<const uint8_t*>(data);
  crc = ~crc;
  for (size_t n = 0; n < size; ++n) crc = kTable.v[(crc ^ p[n]) & 0xFFu] ^ (crc >> 8);
  return ~crc;
}

uint32_t model_checksum(const void* file, size_t total_size) {
  const uint8_t* p = static_cast<const uint8_t*>(file);
  const size_t field = offsetof(caps_file_header, checksum);
  const uint8_t zero[4] = {0, 0, 0, 0};
  uint32_t crc = crc32_update(0, p, field);
  crc = crc32_update(crc, zero, sizeof zero);
  return crc32_update(crc, p + field + 4, total_size - field - 4);
}

}  // namespace capsrt
