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

std::vector<uint8_t> to_model_input(const Image& img, int channels, int height, int width,
                                    Invert invert, bool* inverted) {
  const int C = channels;
  // (2) invert: decided on the mean of the outermost ring of pixels
  bool flip = invert == Invert::Yes;
  if (invert == Invert::Auto) {
    double sum = 0;
    long n = 0;
    for (int y = 0; y < img.height; ++y)
      for (int x = 0; x < img.width; ++x) {
        if (y != 0 && x != 0 && y != img.height - 1 && x != img.width - 1) continue;
        for (int c = 0; c < C; ++c) sum += img.pixels[(static_cast<size_t>(y) * img.width + x) * C + c];
        n += C;
      }
    flip = sum / static_cast<double>(n) > 127.0;
  }
  if (inverted) *inverted = flip;
  auto src = [&](int x, int y, int c) {
    const uint8_t v = img.pixels[(static_cast<size_t>(y) * img.width + x) * C + c];
    return flip ? 255.0 - v : double(v);
  };
  // (3) fit: scale s maps source pixels to output pixels; the scaled image is centred
  const double s = std::min(double(width) / img.width, double(height) / img.height);
  const double out_w = img.width * s, out_h = img.height * s;
  const double x0 = (width - out_w) / 2, y0 = (height - out_h) / 2;
  std::vector<uint8_t> out(static_cast<size_t>(C) * height * width, 0);
  for (int oy = 0; oy < height; ++oy)
    for (int ox = 0; ox < width; ++ox) {
      // this output pixel covers source rectangle [sx0,sx1) x [sy0,sy1)
      const double sx0 = (ox - x0) / s, sx1 = (ox + 1 - x0) / s;
      const double sy0 = (oy - y0) / s, sy1 = (oy + 1 - y0) / s;
      for (int c = 0; c < C; ++c) {
        double acc = 0, area = 0;
        for (int y = std::max(0, int(std::floor(sy0))); y < std::min(img.height, int(std::ceil(sy1))); ++y) {
          const double wy = std::min<double>(y + 1, sy1) - std::max<double>(y, sy0);
          if (wy <= 0) continue;
          for (int x = std::max(0, int(std::floor(sx0))); x < std::min(img.width, int(std::ceil(sx1))); ++x) {
            const double wx = std::min<double>(x + 1, sx1) - std::max<double>(x, sx0);
            if (wx <= 0) continue;
            acc += wx * wy * src(x, y, c);
            area += wx * wy;
          }
        }
        // (4) centre: the part of the pixel outside the image is black canvas
        const double full = (sx1 - sx0) * (sy1 - sy0);
        const double v = full > 0 ? acc / full : 0.0;
        (void)area;
        out[(static_cast<size_t>(c) * height + oy) * width + ox] =
            static_cast<uint8_t>(std::clamp(std::lround(v), 0L, 255L));
      }
    }
  return out;
}

void write_png(const std::string& path, const std::vector<uint8_t>& pixels, int width, int height,
               int channels) {
  if (!stb::write_png(path.c_str(), width, height, channels, pixels.data()))
    throw IoError("cannot write " + path);
}

Canvas::Canvas(int w, int h, uint8_t background)
    : width(w), height(h), pixels(static_cast<size_t>(w) * h, background) {}

void Canvas::paste(const float* image, int w, int h, int x, int y, int scale) {
  for (int py = 0; py < h * scale; ++py)
    for (int px = 0; px < w * scale; ++px) {
      const int cx = x + px, cy = y + py;
      if (cx < 0 || cy < 0 || cx >= width || cy >= height) continue;
      const float v = image[(py / scale) * w + px / scale];
      pixels[static_cast<size_t>(cy) * width + cx] = static_cast<uint8_t>(std::clamp(v, 0.0f, 1.0f) * 255.0f + 0.5f);
    }
}

}  // namespace tools
}  // namespace capsrt
