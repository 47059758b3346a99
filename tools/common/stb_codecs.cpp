// stb_image and stb_image_write (Debian's libstb-dev headers) compiled here, with only the
// decoders capsrun documents: PNG, JPEG, BMP and PGM/PPM. HDR, PSD, PIC, GIF and TGA (which
// has no magic number, so any file "is" one) are left out: less code reading untrusted bytes.
// The functions are static to this file (STB_IMAGE_STATIC) and reached through stb_codecs.hpp,
// so nothing clashes with another copy of stb in a program that links capsrt_tools.
#define STB_IMAGE_IMPLEMENTATION
#define STB_IMAGE_STATIC
#define STBI_ONLY_PNG
#define STBI_ONLY_JPEG
#define STBI_ONLY_BMP
#define STBI_ONLY_PNM
#define STBI_NO_STDIO
#define STBI_MAX_DIMENSIONS (1 << 15)
#include <stb/stb_image.h>

#define STB_IMAGE_WRITE_IMPLEMENTATION
#define STB_IMAGE_WRITE_STATIC
#include <stb/stb_image_write.h>

#include "stb_codecs.hpp"

#include <cstring>

namespace capsrt {
namespace tools {
namespace stb {

namespace {

// --- checks for defects of Debian 12's stb_image 2.27, run before stb sees the bytes ---------
// (docs/reliability.md; each has its input in tests/fuzz/regressions/image/)

// stb 2.27 reads a JPEG DHT segment's 16 code counts and builds the table without checking that
// they add up to at most 256 (2.28 does): a larger sum writes past the 257-byte size list and
// the 256-byte value list inside its decoder (found by fuzz_image). This walks the markers the
// way stb does (segments by their length; entropy-coded data up to the next marker that is not
// a stuffed 0xFF00 or a restart) and checks every DHT segment's tables as stb would read them.
bool jpeg_huffman_tables_fit(const uint8_t* p, size_t n) {
  // stb takes 0xFF, any number of 0xFF fill bytes, then 0xD8 as the start of a JPEG
  size_t i = 0;
  while (i < n && p[i] == 0xFF) ++i;
  if (i == 0 || i >= n || p[i] != 0xD8) return true;  // not a JPEG
  ++i;
  auto at = [&](size_t k) -> unsigned { return k < n ? p[k] : 0u; };  // stb reads 0 past the end
  bool in_scan = false;  // after an SOS header: entropy-coded data until the next marker
  while (i + 1 < n) {
    if (p[i] != 0xFF) {
      ++i;
      continue;
    }
    const unsigned m = p[i + 1];
    if (m == 0xFF) {  // fill byte
      ++i;
      continue;
    }
    if (in_scan && (m == 0x00 || (m >= 0xD0 && m <= 0xD7))) {  // stuffed 0xFF, restart marker
      i += 2;
      continue;
    }
    in_scan = false;
    if (m == 0xD8 || m == 0x01 || (m >= 0xD0 && m <= 0xD7)) {  // no length
      i += 2;
      continue;
    }
    if (m == 0xD9) return true;  // end of image
    const size_t len = at(i + 2) << 8 | at(i + 3);
    if (m == 0xC4) {  // DHT: tables while stb's remaining length L > 0
      long remaining = static_cast<long>(len) - 2;
      size_t q = i + 4;
      while (remaining > 0) {
        unsigned codes = 0;
        for (size_t k = 1; k <= 16; ++k) codes += at(q + k);
        if (codes > 256) return false;
        remaining -= 17 + static_cast<long>(codes);
        q += 17 + codes;
      }
    }
    if (m == 0xDA) in_scan = true;
    i += 2 + len;
  }
  return true;
}

// stb 2.27's PGM/PPM reader has two defects, found by fuzz_image: it reads the header's numbers
// into an int without an overflow check (signed overflow), and it ignores a short read of the
// samples, so a truncated file (16 bytes claiming 693 x 6655 pixels) decodes to uninitialised
// heap memory. The header is walked here as stb walks it (whitespace and # comments between
// the numbers; the samples start one byte after the maximum value): numbers of ten digits or
// more, and files shorter than their samples, are refused.
const char* pnm_problem(const uint8_t* p, size_t n) {
  uint64_t number[3] = {0, 0, 0};
  size_t i = 2;
  for (uint64_t& v : number) {
    for (;;) {
      while (i < n && (p[i] == ' ' || (p[i] >= '\t' && p[i] <= '\r'))) ++i;
      if (i >= n || p[i] != '#') break;
      while (i < n && p[i] != '\n' && p[i] != '\r') ++i;
    }
    size_t digits = 0;
    for (; i < n && p[i] >= '0' && p[i] <= '9'; ++i, ++digits) v = v * 10 + (p[i] - '0');
    if (digits > 9) return "corrupt PGM/PPM header: a number of ten digits or more";
  }
  const uint64_t channels = p[1] == '6' ? 3 : 1, bytes = number[2] > 255 ? 2 : 1;
  const uint64_t samples = number[0] * number[1] * channels * bytes;
  const uint64_t start = i + 1;  // past the byte that ends the maximum value
  if (start > n || n - start < samples) return "truncated PGM/PPM file: fewer samples than its header says";
  return nullptr;
}

// stb 2.27 grows its buffer of compressed PNG data to a chunk's declared length before reading
// the chunk (a doubling realloc up to the length): a 482-byte file declaring a 2 GB IDAT chunk
// made it allocate 2 GB (found by fuzz_image in a long run). A chunk cannot be longer than what
// is left of the file, which stb reads from memory: such a file is refused here, exactly the
// files stb would fail on after that allocation. Walks the chunks as stb does: after the 8-byte
// signature, length (4 bytes, big-endian), type (4), data, CRC (4), until IEND.
bool png_chunks_fit(const uint8_t* p, size_t n) {
  static const uint8_t kSignature[8] = {0x89, 'P', 'N', 'G', '\r', '\n', 0x1A, '\n'};
  if (n < 8 || std::memcmp(p, kSignature, 8) != 0) return true;  // not a PNG
  size_t i = 8;
  while (n - i >= 8) {
    const uint64_t length = uint64_t{p[i]} << 24 | uint64_t{p[i + 1]} << 16 | uint64_t{p[i + 2]} << 8 | p[i + 3];
    if (length > n - i - 8) return false;  // the chunk's data would run past the end of the file
    if (std::memcmp(p + i + 4, "IEND", 4) == 0) return true;
    i += 8 + length;
    if (n - i < 4) return true;  // no CRC: stb's own reading reports the truncation
    i += 4;
  }
  return true;
}

// stb 2.27 reads 16-bit PGM/PPM samples into a buffer it then converts as 8-bit ones when the
// caller asks for another channel count, and reads past it (CVE-2021-42716): refused.
bool is_pnm(const uint8_t* p, int size) { return size >= 2 && p[0] == 'P' && (p[1] == '5' || p[1] == '6'); }

thread_local const char* refuse_reason = nullptr;  // set by a check above, for failure_reason()

bool safe_for_stb(const uint8_t* data, int size) {
  if (!png_chunks_fit(data, static_cast<size_t>(size))) {
    refuse_reason = "truncated PNG: a chunk longer than the rest of the file";
    return false;
  }
  if (!jpeg_huffman_tables_fit(data, static_cast<size_t>(size))) {
    refuse_reason = "corrupt JPEG: a Huffman table of more than 256 codes";
    return false;
  }
  if (is_pnm(data, size)) {
    if (const char* problem = pnm_problem(data, static_cast<size_t>(size))) {
      refuse_reason = problem;
      return false;
    }
  }
  if (is_pnm(data, size) && stbi_is_16_bit_from_memory(data, size)) {
    refuse_reason = "16-bit PGM/PPM files are not supported";
    return false;
  }
  refuse_reason = nullptr;
  return true;
}

}  // namespace

bool info(const uint8_t* data, int size, ImageInfo* out) {
  if (!safe_for_stb(data, size)) return false;
  int w = 0, h = 0, n = 0;
  if (!stbi_info_from_memory(data, size, &w, &h, &n)) return false;
  out->width = w;
  out->height = h;
  out->components = n;
  out->bytes_per_component = stbi_is_16_bit_from_memory(data, size) ? 2 : 1;
  return true;
}

uint8_t* load(const uint8_t* data, int size, int channels, int* w, int* h) {
  if (!safe_for_stb(data, size)) return nullptr;
  int n = 0;
  return stbi_load_from_memory(data, size, w, h, &n, channels);
}

void free_pixels(uint8_t* pixels) { stbi_image_free(pixels); }

const char* failure_reason() {
  if (refuse_reason != nullptr) return refuse_reason;
  const char* r = stbi_failure_reason();
  return r != nullptr ? r : "unknown";
}

bool write_png(const char* path, int w, int h, int channels, const uint8_t* pixels) {
  return stbi_write_png(path, w, h, channels, pixels, w * channels) != 0;
}

}  // namespace stb
}  // namespace tools
}  // namespace capsrt
