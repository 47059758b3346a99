#include "image.hpp"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <memory>

#include "io.hpp"
#include "stb_codecs.hpp"

namespace capsrt {
namespace tools {

Image load_image(const std::string& path, int channels) {
  if (channels != 1 && channels != 3)
    throw IoError(path + ": models with " + std::to_string(channels) + " input channels cannot take images");
  const AlignedBuffer file = read_file(path, kMaxImageFileBytes);
  return decode_image(file.data(), file.size(), path, channels);
}

Image decode_image(const uint8_t* bytes, size_t length, const std::string& path, int channels) {
  if (channels != 1 && channels != 3)
    throw IoError(path + ": models with " + std::to_string(channels) + " input channels cannot take images");
  if (length == 0) throw IoError(path + ": empty file");
  if (length > kMaxImageFileBytes) throw IoError(path + ": larger than " + std::to_string(kMaxImageFileBytes) + " bytes");
  const int size = static_cast<int>(length);
  // The header first: what decoding would cost is known before a pixel is decoded.
  stb::ImageInfo info;
  if (!stb::info(bytes, size, &info))
    throw IoError(path + ": not a readable PNG, JPEG, BMP or PGM/PPM image (" +
                  std::string(stb::failure_reason()) + ")");
  const uint64_t pixels = uint64_t(info.width) * uint64_t(info.height);
  const uint64_t decoded =
      pixels * uint64_t(info.components) * uint64_t(info.bytes_per_component) + pixels * uint64_t(channels);
  if (info.width <= 0 || info.height <= 0 || pixels > kMaxImagePixels || decoded > kMaxImageDecodeBytes)
    throw IoError(path + ": a " + std::to_string(info.width) + "x" + std::to_string(info.height) + " image of " +
                  std::to_string(info.components) + " channels of " + std::to_string(8 * info.bytes_per_component) +
                  " bits is more than capsrun decodes (" + std::to_string(kMaxImagePixels >> 20) +
                  " megapixels, " + std::to_string(kMaxImageDecodeBytes >> 20) + " MiB decoded)");
  int w = 0, h = 0;
  std::unique_ptr<uint8_t, void (*)(uint8_t*)> data(stb::load(bytes, size, channels, &w, &h),
                                                   stb::free_pixels);
  if (!data) throw IoError(path + ": corrupt image (" + std::string(stb::failure_reason()) + ")");
  if (w != info.width || h != info.height) throw IoError(path + ": corrupt image (size changed while decoding)");
  Image img;
  img.width = w;
  img.height = h;
  img.channels = channels;
  img.pixels.assign(data.get(), data.get() + static_cast<size_t>(w) * h * channels);
  return img;
}

void write_png(const std::string& path, const std::vector<uint8_t>& pixels, int width, int height,
               int channels) {
  if (!stb::write_png(path.c_str(), width, height, channels, pixels.data()))
    throw IoError("cannot write " + path);
}

}  // namespace tools
}  // namespace capsrt
