// The pictures capsrun writes: a canvas that tiles float images (reconstructions, capsule
// dimension sweeps), and --show-input's rows (the source picture, what the preprocessing found
// in it, and the model's input).
#ifndef CAPSRT_TOOLS_DRAW_HPP
#define CAPSRT_TOOLS_DRAW_HPP

#include <cstdint>
#include <vector>

#include "image.hpp"
#include "preprocess.hpp"

namespace capsrt {
namespace tools {

// A canvas for tiling pictures: gray background, cells pasted at pixel positions, upscaled by
// an integer factor.
struct Canvas {
  int width, height;
  std::vector<uint8_t> pixels;
  Canvas(int w, int h, uint8_t background);
  // Pastes a C=1 image of floats in [0,1] (h x w) at (x, y), scaled by `scale` (nearest).
  void paste(const float* image, int w, int h, int x, int y, int scale);
};

// One row of --show-input: the source picture scaled into a cell x cell square with the ink's
// box (red) and the centre (green) drawn on it, beside the model's input scaled into the same
// square. RGB, (2 * cell + 3 * gap) x (cell + 2 * gap).
Image show_input_row(const Image& img, const Preprocessed& p, int height, int width, int cell, int gap);
// Rows stacked top to bottom on a gray background (left-aligned).
Image stack_rows(const std::vector<Image>& rows);

}  // namespace tools
}  // namespace capsrt

#endif
