// IDX datasets (MNIST, Fashion-MNIST), raw or gzip-compressed.
#ifndef CAPSRT_TOOLS_IDX_HPP
#define CAPSRT_TOOLS_IDX_HPP

#include <cstdint>
#include <string>
#include <vector>

namespace capsrt {
namespace tools {

struct IdxImages {
  uint32_t count = 0, rows = 0, cols = 0;
  std::vector<uint8_t> pixels;  // count x rows x cols
};

// Magic 0x00000803, dims count, rows, cols, then the bytes; the file size must match exactly.
// IoError naming the file and the problem otherwise.
IdxImages read_idx_images(const std::string& path);
// Magic 0x00000801, dim count, then one byte per label.
std::vector<uint8_t> read_idx_labels(const std::string& path);

}  // namespace tools
}  // namespace capsrt

#endif
