// From a picture to a model's input: the rules capsrun applies to image files (docs/capsrun.md,
// "From an image to the model's input"). A model records which rule its training data was made
// with (the `input_preprocess` attribute, format 1.3); the rules live here, in the tools, not in
// the runtime: a device has its own camera pipeline, and can copy the steps, which use nothing
// but sums over pixels and one area-averaging resampler.
#ifndef CAPSRT_TOOLS_PREPROCESS_HPP
#define CAPSRT_TOOLS_PREPROCESS_HPP

#include <cstdint>
#include <string>
#include <vector>

#include "capsrt/format.h"
#include "image.hpp"
#include "io.hpp"  // preprocess_name, parse_preprocess

namespace capsrt {
namespace tools {

// Polarity: Auto decides from the paper (a light background means dark ink, unlike the light
// strokes on black of MNIST); Yes takes the image as dark on light, No as light on dark.
enum class Invert { Auto, Yes, No };

// What a rule did to one picture, for messages and --show-input. Coordinates are the source
// image's pixels (x right, y down, pixel k covering [k, k+1)); levels are 0..255.
struct Preprocessed {
  std::vector<uint8_t> input;  // CHW bytes of the model's input size
  caps_input_preprocess rule = CAPS_PREPROCESS_NONE;  // the rule that ran
  bool as_is = false;     // already the model's size with a dark border (a dataset image)
  bool inverted = false;  // taken as dark ink on light paper
  bool found = false;     // an object rule found ink (false: it fitted the whole image instead)
  bool edge_dropped = false;  // ink touching the picture's edge (a table, a shadow) was left out
  // The object rules' measurements.
  double paper = 0;        // the paper's level at the image centre (a plane fitted to the border)
  double noise = 0;        // the paper's noise (robust standard deviation)
  double ink = 0;          // the ink's contrast against the paper (what maps to full scale)
  double box_x0 = 0, box_y0 = 0, box_x1 = 0, box_y1 = 0;  // the ink's bounding box
  double centre_x = 0, centre_y = 0;  // the point put at the input's centre
  double scale = 0;        // input pixels per source pixel
};

// Applies `rule` to `img` (of `channels` channels) for a model input of channels x height x width.
//  - An image of exactly the model's size whose border is dark (mean of the outermost ring
//    <= 127) is used as it is, for every rule, unless Invert::Yes (then the rule runs on it).
//  - none: the whole image, inverted when its border is light, scaled to fit by area averaging
//    and centred on a black canvas.
//  - mnist, fashion-mnist (1-channel models only; std::invalid_argument otherwise): the paper's
//    level is fitted to the border, the ink found above it (ink touching the picture's edge left
//    out when the rest is an object), its bounding box scaled to 20 of 28 pixels and centred by
//    mass (mnist) or to 28 and centred as a box (fashion-mnist), the levels stretched to full
//    scale; with no ink found, the none rule's input. docs/capsrun.md gives each step and its
//    reason.
Preprocessed preprocess_image(const Image& img, caps_input_preprocess rule, int channels, int height,
                              int width, Invert invert);

// The `none` rule's input alone (the rule of capsrt before format 1.3).
std::vector<uint8_t> to_model_input(const Image& img, int channels, int height, int width,
                                    Invert invert, bool* inverted);

// The picture scaled by `s` (output pixels per source pixel; the output rounded to whole
// pixels) by the same area averaging the rules use, every channel kept.
Image scale_image(const Image& img, double s);

}  // namespace tools
}  // namespace capsrt

#endif
