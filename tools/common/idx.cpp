#include "idx.hpp"

#include <zlib.h>

#include "io.hpp"

namespace capsrt {
namespace tools {

namespace {

constexpr size_t kMaxBytes = size_t{2} << 30;

// The whole file, decompressed if it is gzip (zlib reads plain files as they are).
std::vector<uint8_t> read_maybe_gzip(const std::string& path) {
  gzFile f = gzopen(path.c_str(), "rb");
  if (!f) throw IoError("cannot open " + path);
  std::vector<uint8_t> out;
  uint8_t buf[1 << 16];
  for (;;) {
    const int n = gzread(f, buf, sizeof buf);
    if (n < 0) {
      int code = 0;
      const std::string msg = gzerror(f, &code);
      gzclose(f);
      throw IoError(path + ": corrupt gzip data (" + msg + ")");
    }
    if (n == 0) break;
    out.insert(out.end(), buf, buf + n);
    if (out.size() > kMaxBytes) {
      gzclose(f);
      throw IoError(path + ": larger than 2 GiB");
    }
  }
  gzclose(f);
  return out;
}

uint32_t be32(const std::vector<uint8_t>& b, size_t at) {
  return uint32_t{b[at]} << 24 | uint32_t{b[at + 1]} << 16 | uint32_t{b[at + 2]} << 8 | b[at + 3];
}

}  // namespace

IdxImages read_idx_images(const std::string& path) {
  const std::vector<uint8_t> b = read_maybe_gzip(path);
  if (b.size() < 16 || be32(b, 0) != 0x00000803)
    throw IoError(path + ": not an IDX image file (expected magic 0x00000803, 3 dimensions of unsigned bytes)");
  IdxImages out;
  out.count = be32(b, 4);
  out.rows = be32(b, 8);
  out.cols = be32(b, 12);
  if (out.rows == 0 || out.cols == 0 || out.rows > 4096 || out.cols > 4096)
    throw IoError(path + ": bad image size " + std::to_string(out.rows) + "x" + std::to_string(out.cols));
  const uint64_t need = uint64_t{out.count} * out.rows * out.cols;
  if (b.size() - 16 != need)
    throw IoError(path + ": holds " + std::to_string(b.size() - 16) + " bytes of pixels, the header says " +
                  std::to_string(need));
  out.pixels.assign(b.begin() + 16, b.end());
  return out;
}

std::vector<uint8_t> read_idx_labels(const std::string& path) {
  const std::vector<uint8_t> b = read_maybe_gzip(path);
  if (b.size() < 8 || be32(b, 0) != 0x00000801)
    throw IoError(path + ": not an IDX label file (expected magic 0x00000801)");
  const uint32_t n = be32(b, 4);
  if (b.size() - 8 != n)
    throw IoError(path + ": holds " + std::to_string(b.size() - 8) + " labels, the header says " + std::to_string(n));
  return std::vector<uint8_t>(b.begin() + 8, b.end());
}

}  // namespace tools
}  // namespace capsrt
