// IDX datasets (MNIST, Fashion-MNIST), raw or gzip-compressed.
#ifndef CAPSRT_TOOLS_IDX_HPP
#define CAPSRT_TOOLS_IDX_HPP

#include <cstdint>
#include <string>
#include <vector>

namespace capsrt {
namespace tools {

struct IdxImages {
  uint32_t count = 0, rows = 0, cols = 0;  // as the header says
  uint64_t first = 0, loaded = 0;          // the images read: [first, first + loaded)
  std::vector<uint8_t> pixels;             // loaded x rows x cols
};

// Magic 0x00000803, dims count, rows, cols, then the bytes. Reads images [first, first + max)
// (max 0: to the end) as a stream, raw or gzip: memory follows what is read, never the header's
// claims. Reading all of them, the file must end exactly after the last. At most 2 GiB of
// pixels and 4096 x 4096 an image. IoError naming the file and the problem otherwise.
IdxImages read_idx_images(const std::string& path, uint64_t first = 0, uint64_t max = 0);
// Magic 0x00000801, dim count, then one byte per label.
std::vector<uint8_t> read_idx_labels(const std::string& path);

}  // namespace tools
}  // namespace capsrt

#endif
