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

namespace capsrt {
namespace tools {
namespace stb {

bool info(const uint8_t* data, int size, ImageInfo* out) {
  int w = 0, h = 0, n = 0;
  if (!stbi_info_from_memory(data, size, &w, &h, &n)) return false;
  out->width = w;
  out->height = h;
  out->components = n;
  out->bytes_per_component = stbi_is_16_bit_from_memory(data, size) ? 2 : 1;
  return true;
}

uint8_t* load(const uint8_t* data, int size, int channels, int* w, int* h) {
  int n = 0;
  return stbi_load_from_memory(data, size, w, h, &n, channels);
}

void free_pixels(uint8_t* pixels) { stbi_image_free(pixels); }

const char* failure_reason() {
  const char* r = stbi_failure_reason();
  return r != nullptr ? r : "unknown";
}

bool write_png(const char* path, int w, int h, int channels, const uint8_t* pixels) {
  return stbi_write_png(path, w, h, channels, pixels, w * channels) != 0;
}

}  // namespace stb
}  // namespace tools
}  // namespace capsrt
