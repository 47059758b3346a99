#include "draw.hpp"

#include <algorithm>
#include <cmath>

namespace capsrt {
namespace tools {

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

Image show_input_row(const Image& img, const Preprocessed& p, int height, int width, int cell, int gap) {
  Image row;
  row.channels = 3;
  row.width = 2 * cell + 3 * gap;
  row.height = cell + 2 * gap;
  row.pixels.assign(static_cast<size_t>(row.width) * row.height * 3, 96);
  auto put = [&](int x, int y, uint8_t r, uint8_t g, uint8_t b) {
    if (x < 0 || y < 0 || x >= row.width || y >= row.height) return;
    uint8_t* px = &row.pixels[(static_cast<size_t>(y) * row.width + x) * 3];
    px[0] = r, px[1] = g, px[2] = b;
  };
  // The source, fitted into the left cell by area averaging.
  const double s = std::min(double(cell) / img.width, double(cell) / img.height);
  const double ox = gap + (cell - img.width * s) / 2, oy = gap + (cell - img.height * s) / 2;
  const Image fitted = scale_image(img, s);
  for (int y = 0; y < fitted.height; ++y)
    for (int x = 0; x < fitted.width; ++x) {
      const int px = static_cast<int>(ox) + x, py = static_cast<int>(oy) + y;
      if (px < 0 || py < 0 || px >= row.width || py >= row.height) continue;
      const uint8_t* src = &fitted.pixels[(static_cast<size_t>(y) * fitted.width + x) * fitted.channels];
      for (int c = 0; c < 3; ++c) row.pixels[(static_cast<size_t>(py) * row.width + px) * 3 + c] = src[std::min(c, fitted.channels - 1)];
    }
  // The ink's box in red and the centre as a green cross, when an object rule found them.
  if (p.found) {
    const int x0 = static_cast<int>(std::floor(ox + p.box_x0 * s)), x1 = static_cast<int>(std::ceil(ox + p.box_x1 * s)) - 1;
    const int y0 = static_cast<int>(std::floor(oy + p.box_y0 * s)), y1 = static_cast<int>(std::ceil(oy + p.box_y1 * s)) - 1;
    for (int x = x0; x <= x1; ++x) put(x, y0, 230, 30, 30), put(x, y1, 230, 30, 30);
    for (int y = y0; y <= y1; ++y) put(x0, y, 230, 30, 30), put(x1, y, 230, 30, 30);
    const int cx = static_cast<int>(ox + p.centre_x * s), cy = static_cast<int>(oy + p.centre_y * s);
    for (int d = -4; d <= 4; ++d) put(cx + d, cy, 30, 200, 30), put(cx, cy + d, 30, 200, 30);
  }
  // The model's input, in the right cell, each input pixel a block (nearest).
  const int k = std::max(1, std::min(cell / width, cell / height));
  const int C = static_cast<int>(p.input.size() / (static_cast<size_t>(height) * width));
  const int ix = 2 * gap + cell + (cell - width * k) / 2, iy = gap + (cell - height * k) / 2;
  for (int y = 0; y < height * k; ++y)
    for (int x = 0; x < width * k; ++x)
      for (int c = 0; c < 3; ++c) {
        const size_t at = (static_cast<size_t>(std::min(c, C - 1)) * height + y / k) * width + x / k;
        row.pixels[(static_cast<size_t>(iy + y) * row.width + ix + x) * 3 + c] = p.input[at];
      }
  return row;
}

Image stack_rows(const std::vector<Image>& rows) {
  Image out;
  out.channels = 3;
  for (const Image& r : rows) out.width = std::max(out.width, r.width), out.height += r.height;
  out.pixels.assign(static_cast<size_t>(out.width) * out.height * 3, 96);
  int y0 = 0;
  for (const Image& r : rows) {
    for (int y = 0; y < r.height; ++y)
      std::copy(r.pixels.begin() + static_cast<long>(y) * r.width * 3, r.pixels.begin() + static_cast<long>(y + 1) * r.width * 3,
                out.pixels.begin() + (static_cast<long>(y0 + y) * out.width) * 3);
    y0 += r.height;
  }
  return out;
}

}  // namespace tools
}  // namespace capsrt
