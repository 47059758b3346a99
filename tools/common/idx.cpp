#include "idx.hpp"

#include <zlib.h>

#include <algorithm>
#include <memory>

#include "io.hpp"

namespace capsrt {
namespace tools {

namespace {

// Limits (docs/reliability.md): what one read may hold. MNIST's training set is 47 MB.
constexpr uint64_t kMaxPixelBytes = uint64_t{2} << 30;
constexpr uint32_t kMaxSide = 4096;

// A raw or gzip file (zlib reads plain files as they are), read as a stream: nothing is
// inflated before it is asked for, so a header claiming billions of images costs nothing.
class GzStream {
 public:
  explicit GzStream(const std::string& path) : path_(path), f_(gzopen(path.c_str(), "rb")) {
    if (!f_) throw IoError("cannot open " + path);
    gzbuffer(f_, 1 << 16);
  }
  ~GzStream() { gzclose(f_); }
  GzStream(const GzStream&) = delete;
  GzStream& operator=(const GzStream&) = delete;

  // Up to n bytes appended to `out`, in chunks as they come; returns how many were read.
  uint64_t read(std::vector<uint8_t>* out, uint64_t n) {
    constexpr uint64_t kChunk = 1 << 20;
    uint64_t total = 0;
    while (total < n) {
      const size_t have = out->size();
      const unsigned want = static_cast<unsigned>(std::min(kChunk, n - total));
      out->resize(have + want);
      const int got = gzread(f_, out->data() + have, want);
      if (got < 0) {
        int code = 0;
        const std::string msg = gzerror(f_, &code);
        throw IoError(path_ + ": corrupt gzip data (" + msg + ")");
      }
      out->resize(have + static_cast<size_t>(got));
      total += static_cast<uint64_t>(got);
      if (got == 0) break;
    }
    return total;
  }
  // Skips n bytes (gzip: inflates them into a small buffer); returns how many were there.
  uint64_t skip(uint64_t n) {
    uint8_t buf[1 << 16];
    uint64_t total = 0;
    while (total < n) {
      const unsigned want = static_cast<unsigned>(std::min<uint64_t>(sizeof buf, n - total));
      const int got = gzread(f_, buf, want);
      if (got < 0) {
        int code = 0;
        throw IoError(path_ + ": corrupt gzip data (" + std::string(gzerror(f_, &code)) + ")");
      }
      if (got == 0) break;
      total += static_cast<uint64_t>(got);
    }
    return total;
  }
  // true if nothing follows (reads one byte to know).
  bool at_end() {
    std::vector<uint8_t> one;
    return read(&one, 1) == 0;
  }

 private:
  std::string path_;
  gzFile f_;
};

uint32_t be32(const std::vector<uint8_t>& b, size_t at) {
  return uint32_t{b[at]} << 24 | uint32_t{b[at + 1]} << 16 | uint32_t{b[at + 2]} << 8 | b[at + 3];
}

}  // namespace

IdxImages read_idx_images(const std::string& path, uint64_t first, uint64_t max) {
  GzStream in(path);
  std::vector<uint8_t> h;
  if (in.read(&h, 16) < 16 || be32(h, 0) != 0x00000803)
    throw IoError(path + ": not an IDX image file (expected magic 0x00000803, 3 dimensions of unsigned bytes)");
  IdxImages out;
  out.count = be32(h, 4);
  out.rows = be32(h, 8);
  out.cols = be32(h, 12);
  if (out.rows == 0 || out.cols == 0 || out.rows > kMaxSide || out.cols > kMaxSide)
    throw IoError(path + ": bad image size " + std::to_string(out.rows) + "x" + std::to_string(out.cols));
  if (first > out.count)
    throw IoError(path + ": image " + std::to_string(first) + " asked for, the file has " +
                  std::to_string(out.count));
  const uint64_t image = uint64_t{out.rows} * out.cols;
  const uint64_t n = max == 0 ? out.count - first : std::min<uint64_t>(max, out.count - first);
  if (n * image > kMaxPixelBytes)
    throw IoError(path + ": " + std::to_string(n) + " images of " + std::to_string(out.rows) + "x" +
                  std::to_string(out.cols) + " are more than " + std::to_string(kMaxPixelBytes >> 20) +
                  " MiB: read fewer (--offset, --limit)");
  const uint64_t skipped = in.skip(first * image);
  const uint64_t got = skipped < first * image ? 0 : in.read(&out.pixels, n * image);
  const bool whole = first == 0 && n == out.count;
  if (skipped + got < (first + n) * image)
    throw IoError(path + ": holds " + std::to_string(skipped + got) + " bytes of pixels, the header says " +
                  std::to_string(uint64_t{out.count} * image));
  if (whole && !in.at_end())
    throw IoError(path + ": holds more than the " + std::to_string(uint64_t{out.count} * image) +
                  " bytes of pixels the header says");
  out.first = first;
  out.loaded = n;
  return out;
}

std::vector<uint8_t> read_idx_labels(const std::string& path) {
  GzStream in(path);
  std::vector<uint8_t> h;
  if (in.read(&h, 8) < 8 || be32(h, 0) != 0x00000801)
    throw IoError(path + ": not an IDX label file (expected magic 0x00000801)");
  const uint32_t n = be32(h, 4);
  std::vector<uint8_t> labels;
  const uint64_t got = in.read(&labels, n);
  if (got < n)
    throw IoError(path + ": holds " + std::to_string(got) + " labels, the header says " + std::to_string(n));
  if (!in.at_end()) throw IoError(path + ": holds more than the " + std::to_string(n) + " labels the header says");
  return labels;
}

}  // namespace tools
}  // namespace capsrt
