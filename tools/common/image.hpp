// Images for the tools: reading PNG, JPEG, BMP, PGM/PPM (stb_image) and writing PNG pictures
// (stb_image_write). preprocess.hpp turns them into a model's input; draw.hpp draws the
// pictures capsrun writes.
#ifndef CAPSRT_TOOLS_IMAGE_HPP
#define CAPSRT_TOOLS_IMAGE_HPP

#include <cstdint>
#include <string>
#include <vector>

namespace capsrt {
namespace tools {

// Pixels 0..255, `channels` interleaved per pixel (1 gray, 3 RGB), row-major.
struct Image {
  int width = 0, height = 0, channels = 0;
  std::vector<uint8_t> pixels;
};

// Limits (docs/reliability.md): a 48-megapixel phone photo passes; a small file that claims a
// huge or deep image is refused from its header, before decoding.
constexpr uint64_t kMaxImageFileBytes = uint64_t{256} << 20;
constexpr uint64_t kMaxImagePixels = uint64_t{64} << 20;
constexpr uint64_t kMaxImageDecodeBytes = uint64_t{256} << 20;  // stored samples + our output

// Reads an image file (PNG, JPEG, BMP, PGM/PPM) as `channels` channels (1: grayscale by luma, 3: RGB). Throws IoError naming
// the file and the reason for unreadable, corrupt or unsupported files.
Image load_image(const std::string& path, int channels);
// The same from the file's bytes; `path` names it in messages.
Image decode_image(const uint8_t* bytes, size_t length, const std::string& path, int channels);

// Writes 8-bit grayscale or RGB pixels as PNG; IoError on failure.
void write_png(const std::string& path, const std::vector<uint8_t>& pixels, int width, int height,
               int channels);

}  // namespace tools
}  // namespace capsrt

#endif
