// The photo rules of capsrun (tools/common/preprocess.cpp, docs/capsrun.md), step by step on
// pictures made by hand, whose right answer follows from the rule's definition: the paper and ink
// levels, the ink's bounding box (specks left out), the scale to 20 (digits) or 28 (clothes), the
// centre of mass or of the box put at the input's centre, and the fallbacks.
#include <catch2/catch.hpp>
#include <cmath>
#include <cstdint>
#include <random>

#include "draw.hpp"
#include "image.hpp"
#include "preprocess.hpp"

using namespace capsrt::tools;

namespace {

Image paper(int w, int h, uint8_t level) {
  Image img;
  img.width = w, img.height = h, img.channels = 1;
  img.pixels.assign(static_cast<size_t>(w) * h, level);
  return img;
}

// Fills [x0, x1) x [y0, y1) with `level`.
void fill(Image* img, int x0, int y0, int x1, int y1, uint8_t level) {
  for (int y = y0; y < y1; ++y)
    for (int x = x0; x < x1; ++x) img->pixels[static_cast<size_t>(y) * img->width + x] = level;
}

uint8_t at(const std::vector<uint8_t>& in, int x, int y) { return in[static_cast<size_t>(y) * 28 + x]; }

// Centre of mass of a 28x28 input, in pixel units (pixel k covers [k, k+1)).
void centre_of_mass(const std::vector<uint8_t>& in, double* cx, double* cy) {
  double m = 0, sx = 0, sy = 0;
  for (int y = 0; y < 28; ++y)
    for (int x = 0; x < 28; ++x) {
      m += at(in, x, y), sx += at(in, x, y) * (x + 0.5), sy += at(in, x, y) * (y + 0.5);
    }
  *cx = sx / m, *cy = sy / m;
}

// The first and one-past-last rows and columns holding more than 8 of 255 (the paper's noise
// that passes the noise floor leaves a few levels here and there, invisible).
void extent(const std::vector<uint8_t>& in, int* x0, int* y0, int* x1, int* y1) {
  *x0 = *y0 = 28, *x1 = *y1 = 0;
  for (int y = 0; y < 28; ++y)
    for (int x = 0; x < 28; ++x)
      if (at(in, x, y) > 8) *x0 = std::min(*x0, x), *y0 = std::min(*y0, y), *x1 = std::max(*x1, x + 1), *y1 = std::max(*y1, y + 1);
}

}  // namespace

TEST_CASE("mnist rule by hand: a dark bar on light paper becomes a 20-pixel bar centred by mass") {
  // paper 200, a 30x10 bar of ink 80 at (40, 20): contrast 120
  Image img = paper(120, 90, 200);
  fill(&img, 40, 20, 70, 30, 80);
  const Preprocessed p = preprocess_image(img, CAPS_PREPROCESS_MNIST, 1, 28, 28, Invert::Auto);
  REQUIRE(p.found);
  CHECK_FALSE(p.as_is);
  CHECK(p.inverted);  // light paper: dark ink
  CHECK(p.paper == Approx(200).margin(0.5));
  CHECK(p.ink == Approx(120).margin(0.5));
  // the box is the bar's
  CHECK(p.box_x0 == 40);
  CHECK(p.box_x1 == 70);
  CHECK(p.box_y0 == 20);
  CHECK(p.box_y1 == 30);
  // its longer side, 30, becomes 20: scale 2/3; its centre of mass (55, 25) goes to (14, 14), so
  // it covers x in [4, 24) and y in [10 2/3, 17 1/3): rows 11..16 full, rows 10 and 17 a third
  CHECK(p.scale == Approx(20.0 / 30.0));
  CHECK(p.centre_x == Approx(55));
  CHECK(p.centre_y == Approx(25));
  for (int x = 0; x < 28; ++x) {
    INFO("column " << x);
    const bool inside = x >= 4 && x < 24;
    CHECK(at(p.input, x, 14) == (inside ? 255 : 0));
    CHECK(at(p.input, x, 10) == (inside ? 85 : 0));
    CHECK(at(p.input, x, 17) == (inside ? 85 : 0));
    CHECK(at(p.input, x, 9) == 0);
    CHECK(at(p.input, x, 18) == 0);
  }
}

TEST_CASE("light ink on a dark background is not inverted and gives the same input") {
  Image dark = paper(120, 90, 40);
  fill(&dark, 40, 20, 70, 30, 160);  // contrast 120 again, the other way
  Image light = paper(120, 90, 200);
  fill(&light, 40, 20, 70, 30, 80);
  const Preprocessed a = preprocess_image(dark, CAPS_PREPROCESS_MNIST, 1, 28, 28, Invert::Auto);
  const Preprocessed b = preprocess_image(light, CAPS_PREPROCESS_MNIST, 1, 28, 28, Invert::Auto);
  CHECK_FALSE(a.inverted);
  CHECK(a.input == b.input);
  // forcing the polarity: taken as dark ink on the dark paper, there is no ink
  const Preprocessed c = preprocess_image(dark, CAPS_PREPROCESS_MNIST, 1, 28, 28, Invert::Yes);
  CHECK(c.inverted);
  CHECK_FALSE(c.found);
}

TEST_CASE("contrast: paper maps to 0 and the ink to 255 whatever their levels, half ink to half") {
  for (const auto& [paper_level, ink_level] : {std::pair<int, int>{250, 10}, {180, 120}, {140, 90}}) {
    INFO("paper " << paper_level << ", ink " << ink_level);
    // a 20x20 square of full ink with a 20x10 strip of half ink below it
    Image img = paper(100, 100, static_cast<uint8_t>(paper_level));
    fill(&img, 40, 30, 60, 50, static_cast<uint8_t>(ink_level));
    fill(&img, 40, 50, 60, 60, static_cast<uint8_t>((paper_level + ink_level) / 2));
    const Preprocessed p = preprocess_image(img, CAPS_PREPROCESS_FASHION_MNIST, 1, 28, 28, Invert::Auto);
    REQUIRE(p.found);
    // the box is 20x30 (the half-ink strip is above the clothes' threshold): scale 28/30,
    // centred as a box, so the square is rows 0.. 18.7 and the strip 18.7..28 of columns 4.7..23.3
    CHECK(p.box_y1 - p.box_y0 == 30);
    CHECK(at(p.input, 14, 5) == 255);
    CHECK(at(p.input, 14, 24) == Approx(127.5).margin(2));
    CHECK(at(p.input, 1, 14) == 0);
    CHECK(at(p.input, 26, 14) == 0);
  }
}

TEST_CASE("bounding box: specks of dust and paper noise do not count") {
  Image img = paper(160, 120, 210);
  std::mt19937 rng(5);
  std::normal_distribution<double> noise(0.0, 4.0);
  for (uint8_t& v : img.pixels) v = static_cast<uint8_t>(std::clamp(std::lround(v + noise(rng)), 0L, 255L));
  fill(&img, 60, 30, 90, 90, 60);   // the object, 30x60
  fill(&img, 10, 10, 12, 12, 40);   // dust: 2x2 specks far from it
  fill(&img, 140, 100, 141, 101, 30);
  const Preprocessed p = preprocess_image(img, CAPS_PREPROCESS_MNIST, 1, 28, 28, Invert::Auto);
  REQUIRE(p.found);
  CHECK(p.noise == Approx(4.0).epsilon(0.25));
  CHECK(p.box_x0 == 60);
  CHECK(p.box_x1 == 90);
  CHECK(p.box_y0 == 30);
  CHECK(p.box_y1 == 90);
  // and nothing of the specks or the noise reaches the input: only the 10x20 block is lit
  int x0, y0, x1, y1;
  extent(p.input, &x0, &y0, &x1, &y1);
  CHECK(x1 - x0 == 10);
  CHECK(y1 - y0 == 20);
}

TEST_CASE("centre of mass (mnist) against centre of the box (fashion-mnist) on an L shape") {
  // an L: a 6x36 bar with a 30x6 foot, box 36x36, its mass low and to the left
  Image img = paper(150, 150, 220);
  fill(&img, 50, 40, 56, 76, 40);
  fill(&img, 56, 70, 86, 76, 40);
  const Preprocessed digit = preprocess_image(img, CAPS_PREPROCESS_MNIST, 1, 28, 28, Invert::Auto);
  const Preprocessed clothes = preprocess_image(img, CAPS_PREPROCESS_FASHION_MNIST, 1, 28, 28, Invert::Auto);
  REQUIRE(digit.found);
  REQUIRE(clothes.found);
  double cx, cy;
  centre_of_mass(digit.input, &cx, &cy);
  CHECK(cx == Approx(14).margin(0.05));
  CHECK(cy == Approx(14).margin(0.05));
  int x0, y0, x1, y1;
  extent(digit.input, &x0, &y0, &x1, &y1);
  CHECK((x1 - x0 == 20 || x1 - x0 == 21));  // 36 -> 20 pixels, from part of a pixel to part of one
  CHECK((y1 - y0 == 20 || y1 - y0 == 21));
  CHECK(x0 > 4);  // the mass is left of the box's centre, so the box sits right of centre
  extent(clothes.input, &x0, &y0, &x1, &y1);
  CHECK(x0 == 0);  // 36 -> 28: the whole input, centred as a box
  CHECK(x1 == 28);
  CHECK(y0 == 0);
  CHECK(y1 == 28);
  centre_of_mass(clothes.input, &cx, &cy);
  CHECK(cx < 12);  // its mass stays low and to the left
  CHECK(cy > 16);
}

TEST_CASE("light falling off across the paper leaves no haze") {
  // the paper goes from 160 on the left to 235 on the right; ink 70 levels below it
  Image img = paper(200, 100, 0);
  for (int y = 0; y < 100; ++y)
    for (int x = 0; x < 200; ++x) {
      const double level = 160 + 75.0 * x / 199;
      const bool ink = x >= 120 && x < 150 && y >= 20 && y < 80;
      img.pixels[static_cast<size_t>(y) * 200 + x] = static_cast<uint8_t>(std::lround(ink ? level - 70 : level));
    }
  const Preprocessed p = preprocess_image(img, CAPS_PREPROCESS_MNIST, 1, 28, 28, Invert::Auto);
  REQUIRE(p.found);
  CHECK(p.box_x0 == 120);
  CHECK(p.box_x1 == 150);
  int x0, y0, x1, y1;
  extent(p.input, &x0, &y0, &x1, &y1);
  CHECK(x1 - x0 == 10);  // 30x60 -> 10x20: nothing else lit
  CHECK(y1 - y0 == 20);
}

TEST_CASE("a large photo is analysed at 1024 pixels and reported in its own pixels") {
  Image img = paper(3000, 2000, 225);
  fill(&img, 1000, 500, 1600, 800, 60);
  const Preprocessed p = preprocess_image(img, CAPS_PREPROCESS_MNIST, 1, 28, 28, Invert::Auto);
  REQUIRE(p.found);
  CHECK(p.box_x0 == Approx(1000).margin(3));
  CHECK(p.box_x1 == Approx(1600).margin(3));
  CHECK(p.box_y0 == Approx(500).margin(3));
  CHECK(p.box_y1 == Approx(800).margin(3));
  CHECK(p.scale == Approx(20.0 / 600).epsilon(0.01));
  CHECK(at(p.input, 14, 14) == 255);
}

TEST_CASE("blank paper: no ink found, the whole picture fitted instead") {
  Image img = paper(90, 60, 200);
  std::mt19937 rng(9);
  std::normal_distribution<double> noise(0.0, 3.0);
  for (uint8_t& v : img.pixels) v = static_cast<uint8_t>(std::lround(v + noise(rng)));
  const Preprocessed p = preprocess_image(img, CAPS_PREPROCESS_MNIST, 1, 28, 28, Invert::Auto);
  CHECK_FALSE(p.found);
  CHECK(p.rule == CAPS_PREPROCESS_MNIST);
  bool inverted = false;
  CHECK(p.input == to_model_input(img, 1, 28, 28, Invert::Auto, &inverted));
  CHECK(inverted);
}

TEST_CASE("a dataset image (the model's size, dark border) is used as it is by every rule") {
  Image img = paper(28, 28, 0);
  fill(&img, 8, 5, 12, 23, 255);  // a "1" off-centre: no rule moves it
  for (caps_input_preprocess rule : {CAPS_PREPROCESS_NONE, CAPS_PREPROCESS_MNIST, CAPS_PREPROCESS_FASHION_MNIST}) {
    const Preprocessed p = preprocess_image(img, rule, 1, 28, 28, Invert::Auto);
    CHECK(p.as_is);
    CHECK(p.input == img.pixels);
  }
  // the same size on light paper is a small photo: the rule runs
  Image light = paper(28, 28, 230);
  fill(&light, 8, 5, 12, 23, 20);
  const Preprocessed p = preprocess_image(light, CAPS_PREPROCESS_MNIST, 1, 28, 28, Invert::Auto);
  CHECK_FALSE(p.as_is);
  CHECK(p.found);
  double cx, cy;
  centre_of_mass(p.input, &cx, &cy);
  CHECK(cx == Approx(14).margin(0.05));
}

TEST_CASE("other input sizes scale the 20-of-28 box in proportion, RGB models take only the none rule") {
  Image img = paper(120, 90, 200);
  fill(&img, 40, 20, 70, 30, 80);
  const Preprocessed p = preprocess_image(img, CAPS_PREPROCESS_MNIST, 1, 56, 56, Invert::Auto);
  CHECK(p.scale == Approx(40.0 / 30.0));
  CHECK(p.input.size() == 56u * 56u);
  Image rgb;
  rgb.width = 40, rgb.height = 40, rgb.channels = 3;
  rgb.pixels.assign(40 * 40 * 3, 200);
  CHECK_THROWS_WITH(preprocess_image(rgb, CAPS_PREPROCESS_MNIST, 3, 28, 28, Invert::Auto),
                    Catch::Contains("takes 1-channel models"));
  CHECK(preprocess_image(rgb, CAPS_PREPROCESS_NONE, 3, 28, 28, Invert::Auto).input.size() == 3u * 28 * 28);
}

TEST_CASE("preprocess names round-trip, others are refused") {
  for (caps_input_preprocess r : {CAPS_PREPROCESS_NONE, CAPS_PREPROCESS_MNIST, CAPS_PREPROCESS_FASHION_MNIST}) {
    caps_input_preprocess back = CAPS_PREPROCESS_NONE;
    CHECK(parse_preprocess(preprocess_name(r), &back));
    CHECK(back == r);
  }
  caps_input_preprocess unused;
  CHECK_FALSE(parse_preprocess("MNIST", &unused));
  CHECK_FALSE(parse_preprocess("", &unused));
}

TEST_CASE("show-input row: the picture with its box beside the input, block-scaled") {
  Image img = paper(120, 90, 200);
  fill(&img, 40, 20, 70, 30, 80);
  const Preprocessed p = preprocess_image(img, CAPS_PREPROCESS_MNIST, 1, 28, 28, Invert::Auto);
  const int cell = 168, gap = 8;
  const Image row = show_input_row(img, p, 28, 28, cell, gap);
  REQUIRE(row.channels == 3);
  REQUIRE(row.width == 2 * cell + 3 * gap);
  REQUIRE(row.height == cell + 2 * gap);
  auto px = [&](int x, int y, int c) { return row.pixels[(static_cast<size_t>(y) * row.width + x) * 3 + c]; };
  // right cell: each input pixel a 6x6 block, gray
  for (int y = 0; y < 28; ++y)
    for (int x = 0; x < 28; ++x)
      for (int c = 0; c < 3; ++c) {
        INFO(x << "," << y);
        REQUIRE(px(2 * gap + cell + 6 * x + 5, gap + 6 * y + 5, c) == at(p.input, x, y));
      }
  // left cell: the picture fitted (scale 1.4, 168x126 from y = 8 + 21), the box's top-left corner red
  const double s = 168.0 / 120;
  const int bx = static_cast<int>(gap + 40 * s), by = static_cast<int>(gap + (cell - 90 * s) / 2 + 20 * s);
  CHECK(px(bx, by, 0) == 230);
  CHECK(px(bx, by, 1) == 30);
  CHECK(px(gap + 5, gap + 30, 0) == 200);  // paper, as it is
  CHECK(stack_rows({row, row}).height == 2 * row.height);
}

TEST_CASE("the table beyond the sheet's edge: the paper is still found, and the table left out") {
  // paper 200 with the table (level 70) along the whole left side, 30 pixels deep: more than the
  // border band, so a quarter of the band is table
  Image img = paper(200, 160, 200);
  fill(&img, 0, 0, 30, 160, 70);
  fill(&img, 110, 50, 140, 110, 80);  // the object, 30x60, contrast 120
  const Preprocessed p = preprocess_image(img, CAPS_PREPROCESS_MNIST, 1, 28, 28, Invert::Auto);
  REQUIRE(p.found);
  CHECK(p.paper == Approx(200).margin(0.5));
  CHECK(p.edge_dropped);
  CHECK(p.box_x0 == 110);
  CHECK(p.box_x1 == 140);
  CHECK(p.box_y0 == 50);
  CHECK(p.box_y1 == 110);
  CHECK(p.ink == Approx(120).margin(0.5));  // the object's contrast, not the table's
  // the same picture without the table gives the same input
  Image clean = paper(200, 160, 200);
  fill(&clean, 110, 50, 140, 110, 80);
  const Preprocessed q = preprocess_image(clean, CAPS_PREPROCESS_MNIST, 1, 28, 28, Invert::Auto);
  CHECK_FALSE(q.edge_dropped);
  CHECK(p.input == q.input);
}

TEST_CASE("an object cut by the frame, with nothing else, still counts") {
  Image img = paper(100, 100, 210);
  fill(&img, 0, 30, 40, 60, 50);  // touches the left edge
  const Preprocessed p = preprocess_image(img, CAPS_PREPROCESS_FASHION_MNIST, 1, 28, 28, Invert::Auto);
  REQUIRE(p.found);
  CHECK_FALSE(p.edge_dropped);
  CHECK(p.box_x0 == 0);
  CHECK(p.box_x1 == 40);
  // and specks far from the edge do not replace it: too small to be an object
  fill(&img, 80, 80, 82, 82, 40);
  const Preprocessed q = preprocess_image(img, CAPS_PREPROCESS_FASHION_MNIST, 1, 28, 28, Invert::Auto);
  CHECK(q.box_x0 == 0);
  CHECK(q.box_x1 == 40);
}
