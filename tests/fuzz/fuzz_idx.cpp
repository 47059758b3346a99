// Fuzz target: the IDX readers (raw and gzip: zlib reads both) on a memory file: all images,
// the first image only (capsrun --limit 1), images from an offset, and the labels.
#include <sys/mman.h>
#include <unistd.h>

#include <string>

#include "idx.hpp"
#include "io.hpp"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace capsrt::tools;
  const int fd = memfd_create("idx", 0);
  if (fd < 0) return 0;
  size_t done = 0;
  while (done < size) {
    const ssize_t n = write(fd, data + done, size - done);
    if (n <= 0) break;
    done += static_cast<size_t>(n);
  }
  const std::string path = "/proc/self/fd/" + std::to_string(fd);
  const uint64_t ranges[3][2] = {{0, 0}, {0, 1}, {2, 3}};
  for (const auto& r : ranges) {
    try {
      (void)read_idx_images(path, r[0], r[1]);
    } catch (const IoError&) {
    }
  }
  try {
    (void)read_idx_labels(path);
  } catch (const IoError&) {
  }
  close(fd);
  return 0;
}
