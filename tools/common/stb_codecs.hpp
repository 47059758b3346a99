// The image codecs the tools use: stb_image with PNG, JPEG, BMP and PGM/PPM only, and PNG
// writing (stb_codecs.cpp). Kept behind these functions so that stb's implementation is
// compiled once, with its own options and warnings.
#ifndef CAPSRT_TOOLS_STB_CODECS_HPP
#define CAPSRT_TOOLS_STB_CODECS_HPP

#include <cstdint>

namespace capsrt {
namespace tools {
namespace stb {

struct ImageInfo {
  int width, height, components, bytes_per_component;  // as stored in the file
};

// Reads only the header. false if no enabled decoder recognises the data.
bool info(const uint8_t* data, int size, ImageInfo* out);
// Decodes to `channels` 8-bit channels; NULL on failure (failure_reason() says why). Free with
// free_pixels.
uint8_t* load(const uint8_t* data, int size, int channels, int* w, int* h);
void free_pixels(uint8_t* pixels);
const char* failure_reason();
bool write_png(const char* path, int w, int h, int channels, const uint8_t* pixels);

}  // namespace stb
}  // namespace tools
}  // namespace capsrt

#endif
