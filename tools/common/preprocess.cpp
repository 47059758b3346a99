#include "preprocess.hpp"

#include <algorithm>
#include <cmath>
#include <optional>
#include <stdexcept>

namespace capsrt {
namespace tools {

namespace {

// One channel of floats, row-major.
struct Plane {
  int w = 0, h = 0;
  std::vector<float> v;
  Plane() = default;
  Plane(int width, int height) : w(width), h(height), v(static_cast<size_t>(width) * height, 0.0f) {}
  float& at(int x, int y) { return v[static_cast<size_t>(y) * w + x]; }
  float at(int x, int y) const { return v[static_cast<size_t>(y) * w + x]; }
};

// Channel c of an image, read in place (a 64-megapixel picture is not copied into floats).
struct ChannelView {
  const Image& img;
  int c;
  bool invert;
  int w() const { return img.width; }
  int h() const { return img.height; }
  float at(int x, int y) const {
    const uint8_t v = img.pixels[(static_cast<size_t>(y) * img.width + x) * img.channels + c];
    return invert ? 255.0f - v : float(v);
  }
};
struct PlaneView {
  const Plane& p;
  int w() const { return p.w; }
  int h() const { return p.h; }
  float at(int x, int y) const { return p.at(x, y); }
};

// The taps of area averaging along one axis: output pixel o covers the source interval
// [(o - offset) / s, (o + 1 - offset) / s); each source pixel it overlaps weighs the overlap's
// length times s, so the weights of a fully covered output pixel add up to 1, and the part of it
// outside the source counts as 0 (black canvas).
struct Tap {
  int src;
  double weight;
};
std::vector<std::vector<Tap>> area_taps(int src_n, int dst_n, double s, double offset) {
  std::vector<std::vector<Tap>> taps(static_cast<size_t>(dst_n));
  for (int o = 0; o < dst_n; ++o) {
    const double a = (o - offset) / s, b = (o + 1 - offset) / s;
    const int first = std::max(0, static_cast<int>(std::floor(a)));
    const int last = std::min(src_n, static_cast<int>(std::ceil(b)));
    for (int x = first; x < last; ++x) {
      const double overlap = std::min<double>(x + 1, b) - std::max<double>(x, a);
      if (overlap > 0) taps[static_cast<size_t>(o)].push_back({x, overlap * s});
    }
  }
  return taps;
}

// Area averaging with scale s (output pixels per source pixel) and the source's origin placed at
// output position (x0, y0): output pixel (ox, oy) is the mean of the source rectangle it covers,
// the part outside the source being 0. Separable: rows first, then columns.
template <typename Source>
Plane resample_area(const Source& src, double s, double x0, double y0, int out_w, int out_h) {
  const auto tx = area_taps(src.w(), out_w, s, x0), ty = area_taps(src.h(), out_h, s, y0);
  std::vector<double> rows(static_cast<size_t>(src.h()) * out_w, 0.0);
  for (int y = 0; y < src.h(); ++y)
    for (int ox = 0; ox < out_w; ++ox) {
      double acc = 0;
      for (const Tap& t : tx[static_cast<size_t>(ox)]) acc += t.weight * src.at(t.src, y);
      rows[static_cast<size_t>(y) * out_w + ox] = acc;
    }
  Plane out(out_w, out_h);
  for (int oy = 0; oy < out_h; ++oy)
    for (int ox = 0; ox < out_w; ++ox) {
      double acc = 0;
      for (const Tap& t : ty[static_cast<size_t>(oy)]) acc += t.weight * rows[static_cast<size_t>(t.src) * out_w + ox];
      out.at(ox, oy) = static_cast<float>(acc);
    }
  return out;
}

uint8_t to_byte(double v) { return static_cast<uint8_t>(std::clamp(std::lround(v), 0L, 255L)); }

// Mean of the outermost ring of pixels over every channel.
double border_mean(const Image& img) {
  double sum = 0;
  long n = 0;
  for (int y = 0; y < img.height; ++y)
    for (int x = 0; x < img.width; ++x) {
      if (y != 0 && x != 0 && y != img.height - 1 && x != img.width - 1) continue;
      for (int c = 0; c < img.channels; ++c) sum += img.pixels[(static_cast<size_t>(y) * img.width + x) * img.channels + c];
      n += img.channels;
    }
  return sum / static_cast<double>(n);
}

// The `none` rule: the whole image, inverted when its border is light (a 1-channel model's
// picture: dark ink on paper; colour pictures only when asked), fitted and centred.
Preprocessed fit_whole(const Image& img, int C, int H, int W, Invert invert) {
  Preprocessed p;
  p.rule = CAPS_PREPROCESS_NONE;
  p.inverted = invert == Invert::Yes || (invert == Invert::Auto && C == 1 && border_mean(img) > 127.0);
  const double s = std::min(double(W) / img.width, double(H) / img.height);
  const double x0 = (W - img.width * s) / 2, y0 = (H - img.height * s) / 2;
  p.input.assign(static_cast<size_t>(C) * H * W, 0);
  for (int c = 0; c < C; ++c) {
    const Plane out = resample_area(ChannelView{img, c, p.inverted}, s, x0, y0, W, H);
    for (size_t k = 0; k < out.v.size(); ++k) p.input[static_cast<size_t>(c) * H * W + k] = to_byte(out.v[k]);
  }
  p.box_x1 = img.width;
  p.box_y1 = img.height;
  p.centre_x = img.width / 2.0;
  p.centre_y = img.height / 2.0;
  p.scale = s;
  return p;
}

double median_of(std::vector<float>& v) {
  if (v.empty()) return 0;
  auto mid = v.begin() + static_cast<long>(v.size() / 2);
  std::nth_element(v.begin(), mid, v.end());
  return *mid;
}

// The paper: a plane a + b·x + c·y fitted to a band along the picture's border (4% of its
// shorter side), robustly, since ink, a shadow or the table beyond the sheet may cover part of it:
//  1. the band is cut into 8 segments a side, each summarised by its median and its centre;
//  2. of the planes through three segments, the one whose median absolute miss over the 32
//     segments is least (least median of squares: right while fewer than half the segments are
//     off the paper, e.g. the table along a whole side);
//  3. three times: a least-squares plane through the band's pixels within 3 noise deviations
//     (+2 levels) of the last plane, the noise being 1.4826 x the median absolute residual of
//     those pixels (the first time, of all of them).
// A plane follows the light falling off across a photo, where one level would leave a haze.
struct PaperFit {
  double a = 0, b = 0, c = 0, noise = 0;
  double at(double x, double y) const { return a + b * x + c * y; }
};
PaperFit fit_paper(const Plane& g) {
  const int band = std::max(1, static_cast<int>(std::lround(0.04 * std::min(g.w, g.h))));
  struct Sample {
    float x, y, v;
  };
  std::vector<Sample> samples;
  for (int y = 0; y < g.h; ++y)
    for (int x = 0; x < g.w; ++x)
      if (x < band || y < band || x >= g.w - band || y >= g.h - band)
        samples.push_back({x + 0.5f, y + 0.5f, g.at(x, y)});
  // (1) segments: the band's four sides, 8 pieces each
  constexpr int kPieces = 8;
  std::vector<std::vector<float>> values(4 * kPieces);
  std::vector<double> seg_x(4 * kPieces, 0), seg_y(4 * kPieces, 0);
  for (const Sample& s : samples) {
    const int x = static_cast<int>(s.x), y = static_cast<int>(s.y);
    int side, along;
    if (y < band) side = 0, along = x * kPieces / g.w;
    else if (y >= g.h - band) side = 1, along = x * kPieces / g.w;
    else if (x < band) side = 2, along = y * kPieces / g.h;
    else side = 3, along = y * kPieces / g.h;
    const size_t k = static_cast<size_t>(side * kPieces + along);
    values[k].push_back(s.v);
    seg_x[k] += s.x, seg_y[k] += s.y;
  }
  struct Segment {
    double x, y, v;
  };
  std::vector<Segment> segs;
  for (size_t k = 0; k < values.size(); ++k)
    if (!values[k].empty()) {
      const double n = static_cast<double>(values[k].size());
      segs.push_back({seg_x[k] / n, seg_y[k] / n, median_of(values[k])});
    }
  // (2) least median of squares over the planes through three segments
  PaperFit fit;
  std::vector<float> miss(segs.size());
  double best = INFINITY;
  {
    std::vector<float> all;
    for (const Segment& s : segs) all.push_back(static_cast<float>(s.v));
    fit.a = median_of(all);  // flat, if no three segments span a plane
  }
  for (size_t i = 0; i < segs.size(); ++i)
    for (size_t j = i + 1; j < segs.size(); ++j)
      for (size_t k = j + 1; k < segs.size(); ++k) {
        const Segment &p = segs[i], &q = segs[j], &r = segs[k];
        const double ux = q.x - p.x, uy = q.y - p.y, uv = q.v - p.v;
        const double wx = r.x - p.x, wy = r.y - p.y, wv = r.v - p.v;
        const double det = ux * wy - uy * wx;
        if (std::fabs(det) < 1e-6 * (ux * ux + uy * uy + wx * wx + wy * wy)) continue;  // in a line
        PaperFit t;
        t.b = (uv * wy - uy * wv) / det;
        t.c = (ux * wv - uv * wx) / det;
        t.a = p.v - t.b * p.x - t.c * p.y;
        for (size_t m = 0; m < segs.size(); ++m) miss[m] = static_cast<float>(std::fabs(segs[m].v - t.at(segs[m].x, segs[m].y)));
        const double med = median_of(miss);
        if (med < best) best = med, fit.a = t.a, fit.b = t.b, fit.c = t.c;
      }
  // (3) least squares through the pixels the plane explains
  std::vector<float> residual;
  double limit = INFINITY;
  auto measure = [&] {
    residual.clear();
    for (const Sample& s : samples) {
      const double r = std::fabs(s.v - fit.at(s.x, s.y));
      if (r <= limit) residual.push_back(static_cast<float>(r));
    }
    fit.noise = std::max(0.5, 1.4826 * median_of(residual));
    limit = 3.0 * fit.noise + 2.0;
  };
  measure();
  for (int pass = 0; pass < 3; ++pass) {
    // normal equations of the samples within `limit`, centred for conditioning
    const double mx = g.w / 2.0, my = g.h / 2.0;
    double n = 0, sx = 0, sy = 0, sv = 0, sxx = 0, syy = 0, sxy = 0, sxv = 0, syv = 0;
    for (const Sample& s : samples) {
      if (std::fabs(s.v - fit.at(s.x, s.y)) > limit) continue;
      const double x = s.x - mx, y = s.y - my;
      n += 1, sx += x, sy += y, sv += s.v, sxx += x * x, syy += y * y, sxy += x * y, sxv += x * s.v, syv += y * s.v;
    }
    // Solve [n sx sy; sx sxx sxy; sy sxy syy] (a', b, c) = (sv, sxv, syv) by Cramer's rule; a
    // degenerate band (a 1-pixel-wide image) keeps the last plane.
    const double det = n * (sxx * syy - sxy * sxy) - sx * (sx * syy - sxy * sy) + sy * (sx * sxy - sxx * sy);
    if (n < 3 || std::fabs(det) <= 1e-9 * std::max(1.0, n * sxx * syy)) break;
    const double da = sv * (sxx * syy - sxy * sxy) - sx * (sxv * syy - sxy * syv) + sy * (sxv * sxy - sxx * syv);
    const double db = n * (sxv * syy - syv * sxy) - sv * (sx * syy - sxy * sy) + sy * (sx * syv - sxv * sy);
    const double dc = n * (sxx * syv - sxy * sxv) - sx * (sx * syv - sxv * sy) + sv * (sx * sxy - sxx * sy);
    fit.b = db / det;
    fit.c = dc / det;
    fit.a = da / det - fit.b * mx - fit.c * my;
    measure();
  }
  return fit;
}

// Connected parts (8-neighbours) of a mask, by a flood fill with an explicit stack. Returns the
// label of each pixel (-1 outside the mask) and the number of parts.
int label_parts(const std::vector<uint8_t>& mask, int w, int h, std::vector<int>* label) {
  label->assign(mask.size(), -1);
  std::vector<int> stack;
  int parts = 0;
  for (int start = 0; start < w * h; ++start) {
    if (!mask[static_cast<size_t>(start)] || (*label)[static_cast<size_t>(start)] >= 0) continue;
    (*label)[static_cast<size_t>(start)] = parts;
    stack.push_back(start);
    while (!stack.empty()) {
      const int k = stack.back();
      stack.pop_back();
      const int x = k % w, y = k / w;
      for (int dy = -1; dy <= 1; ++dy)
        for (int dx = -1; dx <= 1; ++dx) {
          const int nx = x + dx, ny = y + dy;
          if (nx < 0 || ny < 0 || nx >= w || ny >= h) continue;
          const size_t n = static_cast<size_t>(ny) * w + nx;
          if (mask[n] && (*label)[n] < 0) {
            (*label)[n] = parts;
            stack.push_back(static_cast<int>(n));
          }
        }
    }
    ++parts;
  }
  return parts;
}

// The ink's level: the highest mean over 3x3 pixels, which one noisy pixel cannot set.
double ink_level(const Plane& ink) {
  double level = 0;
  for (int y = 0; y < ink.h; ++y)
    for (int x = 0; x < ink.w; ++x) {
      double sum = 0;
      int n = 0;
      for (int dy = -1; dy <= 1; ++dy)
        for (int dx = -1; dx <= 1; ++dx) {
          const int nx = x + dx, ny = y + dy;
          if (nx < 0 || ny < 0 || nx >= ink.w || ny >= ink.h) continue;
          sum += ink.at(nx, ny);
          ++n;
        }
      level = std::max(level, sum / n);
    }
  return level;
}

struct Box {
  int x0, y0, x1, y1;  // [x0, x1) x [y0, y1); empty when x1 <= x0
  int longer() const { return std::max(x1 - x0, y1 - y0); }
};

// The bounding box of the pixels at or above `threshold`, in connected parts (8-neighbours),
// counting only the parts that hold at least 2% of the largest part's ink: specks of dust and
// noise do not stretch it.
Box object_box(const Plane& ink, double threshold) {
  std::vector<uint8_t> mask(ink.v.size());
  for (size_t k = 0; k < mask.size(); ++k) mask[k] = ink.v[k] >= threshold;
  std::vector<int> label;
  const int parts = label_parts(mask, ink.w, ink.h, &label);
  Box b{ink.w, ink.h, 0, 0};
  if (parts == 0) return b;
  std::vector<double> mass(static_cast<size_t>(parts), 0.0);
  for (size_t k = 0; k < label.size(); ++k)
    if (label[k] >= 0) mass[static_cast<size_t>(label[k])] += ink.v[k];
  const double largest = *std::max_element(mass.begin(), mass.end());
  for (int y = 0; y < ink.h; ++y)
    for (int x = 0; x < ink.w; ++x) {
      const int l = label[static_cast<size_t>(y) * ink.w + x];
      if (l < 0 || mass[static_cast<size_t>(l)] < 0.02 * largest) continue;
      b.x0 = std::min(b.x0, x), b.y0 = std::min(b.y0, y), b.x1 = std::max(b.x1, x + 1), b.y1 = std::max(b.y1, y + 1);
    }
  return b;
}

// The ink connected to the picture's edge (8-neighbours, any ink above the noise floor), zeroed
// in a copy: the table beyond the sheet, a shadow along an edge. Returns false when there is none.
bool without_edge_ink(const Plane& ink, Plane* rest) {
  std::vector<uint8_t> mask(ink.v.size());
  for (size_t k = 0; k < mask.size(); ++k) mask[k] = ink.v[k] > 0;
  std::vector<int> label;
  const int parts = label_parts(mask, ink.w, ink.h, &label);
  std::vector<uint8_t> on_edge(static_cast<size_t>(parts), 0);
  bool any = false;
  auto mark = [&](int x, int y) {
    const int l = label[static_cast<size_t>(y) * ink.w + x];
    if (l >= 0) on_edge[static_cast<size_t>(l)] = 1, any = true;
  };
  for (int x = 0; x < ink.w; ++x) mark(x, 0), mark(x, ink.h - 1);
  for (int y = 0; y < ink.h; ++y) mark(0, y), mark(ink.w - 1, y);
  if (!any) return false;
  *rest = ink;
  for (size_t k = 0; k < label.size(); ++k)
    if (label[k] >= 0 && on_edge[static_cast<size_t>(label[k])]) rest->v[k] = 0.0f;
  return true;
}

// The analysis works on at most this many pixels a side: a phone photo is first averaged down
// (which also averages out its noise); a digit filling a tenth of it still spans ~100 pixels,
// five times the 20 it becomes.
constexpr int kWorkSide = 1024;

Preprocessed find_object(const Image& img, caps_input_preprocess rule, int H, int W, Invert invert) {
  const bool digits = rule == CAPS_PREPROCESS_MNIST;
  // Steps as numbered in docs/capsrun.md. (1, 3) grayscale, at most kWorkSide a side
  double f = 1.0;  // work pixels per source pixel
  int ww = img.width, wh = img.height;
  if (std::max(img.width, img.height) > kWorkSide) {
    f = double(kWorkSide) / std::max(img.width, img.height);
    // whole work pixels only, so that none is part canvas
    ww = std::max(1, static_cast<int>(std::floor(img.width * f)));
    wh = std::max(1, static_cast<int>(std::floor(img.height * f)));
  }
  const Plane g = resample_area(ChannelView{img, 0, false}, f, 0, 0, ww, wh);
  // (4) the paper's level and noise, from the border; (5) the polarity
  const PaperFit paper = fit_paper(g);
  const double paper_centre = paper.at(g.w / 2.0, g.h / 2.0);
  const bool dark_ink = invert == Invert::Yes || (invert == Invert::Auto && paper_centre > 127.0);
  // (5) the ink: its contrast against the paper, kept where it stands out of the paper's noise
  const double floor_level = 2.5 * paper.noise;
  Plane ink(g.w, g.h);
  for (int y = 0; y < g.h; ++y)
    for (int x = 0; x < g.w; ++x) {
      const double d = dark_ink ? paper.at(x + 0.5, y + 0.5) - g.at(x, y) : g.at(x, y) - paper.at(x + 0.5, y + 0.5);
      ink.at(x, y) = d > floor_level ? static_cast<float>(d) : 0.0f;
    }
  // (6) the ink's level
  double level = ink_level(ink);
  // (8) the box is made of the pixels above a fraction of the ink's level (digits: a fifth, so the
  // box reaches the strokes' blurred edges as MNIST's box reached its anti-aliased ones; clothes:
  // a twelfth, so that their pale parts count, as Fashion-MNIST trimmed at anything not
  // background).
  const double fraction = digits ? 0.2 : 1.0 / 12.0;
  // Less than 10 levels of contrast (or 3 noise deviations) is no ink.
  const double least = std::max(10.0, 3.0 * paper.noise);
  // (7) Ink that touches the picture's edge is left out when the rest still holds an object (ink of
  // that least level whose box spans 3% of the picture): the table around the sheet or a shadow
  // is not the digit; an object cut by the frame, with nothing else, still counts.
  // (Noise specks on the edge are dropped too; they change nothing, so only a changed box is
  // reported.)
  bool edge_dropped = false;
  std::optional<Box> box;  // (8), when step 7 has already found it
  {
    Plane rest;
    if (without_edge_ink(ink, &rest)) {
      const double rest_level = ink_level(rest);
      const Box rest_box = object_box(rest, fraction * rest_level);
      if (rest_level >= least && rest_box.longer() >= 0.03 * std::max(g.w, g.h)) {
        const Box all = object_box(ink, fraction * level);
        edge_dropped = all.x0 != rest_box.x0 || all.y0 != rest_box.y0 || all.x1 != rest_box.x1 || all.y1 != rest_box.y1;
        ink = std::move(rest);
        level = rest_level;
        box = rest_box;
      }
    }
  }
  Preprocessed p;
  p.edge_dropped = edge_dropped;
  p.rule = rule;
  p.inverted = dark_ink;
  p.paper = paper_centre;
  p.noise = paper.noise;
  p.ink = level;
  // No ink: fit the whole image.
  if (level < least) {
    Preprocessed none = fit_whole(img, 1, H, W, invert);
    none.rule = rule;
    none.found = false;
    none.paper = p.paper;
    none.noise = p.noise;
    none.ink = p.ink;
    return none;
  }
  if (!box) box = object_box(ink, fraction * level);
  const int bx0 = box->x0, by0 = box->y0, bx1 = box->x1, by1 = box->y1;
  // (9) the levels: paper 0, the ink's level full scale; everything outside the box, widened by
  // a tenth of its size for the strokes' faint edges, is paper
  const int mx = (bx1 - bx0 + 9) / 10, my = (by1 - by0 + 9) / 10;
  const int cx0 = std::max(0, bx0 - mx), cy0 = std::max(0, by0 - my);
  const int cx1 = std::min(g.w, bx1 + mx), cy1 = std::min(g.h, by1 + my);
  Plane crop(cx1 - cx0, cy1 - cy0);
  double m = 0, mxs = 0, mys = 0;
  for (int y = cy0; y < cy1; ++y)
    for (int x = cx0; x < cx1; ++x) {
      const float v = static_cast<float>(std::min(1.0, ink.at(x, y) / level));
      crop.at(x - cx0, y - cy0) = v;
      m += v, mxs += v * (x + 0.5), mys += v * (y + 0.5);
    }
  // (10, 11) size and place: the box's longer side becomes 20 of 28 pixels (digits) or all 28
  // (clothes), in proportion for other input sizes; the centre of mass (digits) or of the box
  // (clothes) goes to the input's centre.
  const double side = (digits ? 20.0 / 28.0 : 1.0) * std::min(H, W);
  const double s = side / std::max(bx1 - bx0, by1 - by0);
  const double centre_x = digits ? mxs / m : (bx0 + bx1) / 2.0;
  const double centre_y = digits ? mys / m : (by0 + by1) / 2.0;
  Plane out = resample_area(PlaneView{crop}, s, W / 2.0 - (centre_x - cx0) * s, H / 2.0 - (centre_y - cy0) * s, W, H);
  // (12) full scale: the brightest input pixel 255, as in both datasets
  const float top = *std::max_element(out.v.begin(), out.v.end());
  p.input.resize(out.v.size());
  for (size_t k = 0; k < out.v.size(); ++k) p.input[k] = to_byte(top > 0 ? 255.0 * out.v[k] / top : 0.0);
  p.found = true;
  p.box_x0 = bx0 / f, p.box_y0 = by0 / f, p.box_x1 = bx1 / f, p.box_y1 = by1 / f;
  p.centre_x = centre_x / f, p.centre_y = centre_y / f;
  p.scale = s * f;
  return p;
}

}  // namespace

Preprocessed preprocess_image(const Image& img, caps_input_preprocess rule, int channels, int height,
                              int width, Invert invert) {
  if (img.channels != channels || img.width < 1 || img.height < 1 ||
      img.pixels.size() != static_cast<size_t>(img.width) * img.height * img.channels)
    throw std::invalid_argument("preprocess_image: the image does not have the model's channels");
  // A dataset image: the model's size with a dark border, or any picture of the model's size for
  // a colour model (colour pictures are never inverted unless asked: a CIFAR-10 photo's light
  // sky is not paper). Used as it is.
  if (img.width == width && img.height == height && (channels > 1 || border_mean(img) <= 127.0) &&
      invert != Invert::Yes) {
    Preprocessed p;
    p.rule = rule;
    p.as_is = true;
    p.input.resize(img.pixels.size());
    for (int c = 0; c < channels; ++c)
      for (size_t k = 0; k < static_cast<size_t>(width) * height; ++k)
        p.input[static_cast<size_t>(c) * width * height + k] = img.pixels[k * channels + c];
    p.box_x1 = width, p.box_y1 = height, p.centre_x = width / 2.0, p.centre_y = height / 2.0, p.scale = 1;
    return p;
  }
  if (rule == CAPS_PREPROCESS_NONE) return fit_whole(img, channels, height, width, invert);
  if (channels != 1)
    throw std::invalid_argument(std::string("the ") + preprocess_name(rule) + " preprocessing takes 1-channel models, not " +
                                std::to_string(channels) + "-channel ones");
  return find_object(img, rule, height, width, invert);
}

std::vector<uint8_t> to_model_input(const Image& img, int channels, int height, int width,
                                    Invert invert, bool* inverted) {
  Preprocessed p = preprocess_image(img, CAPS_PREPROCESS_NONE, channels, height, width, invert);
  if (inverted) *inverted = p.inverted;
  return std::move(p.input);
}

Image scale_image(const Image& img, double s) {
  Image out;
  out.channels = img.channels;
  out.width = std::max(1, static_cast<int>(std::lround(img.width * s)));
  out.height = std::max(1, static_cast<int>(std::lround(img.height * s)));
  out.pixels.resize(static_cast<size_t>(out.width) * out.height * img.channels);
  for (int c = 0; c < img.channels; ++c) {
    const Plane fitted = resample_area(ChannelView{img, c, false}, s, 0, 0, out.width, out.height);
    for (int y = 0; y < out.height; ++y)
      for (int x = 0; x < out.width; ++x)
        out.pixels[(static_cast<size_t>(y) * out.width + x) * img.channels + c] = to_byte(fitted.at(x, y));
  }
  return out;
}

}  // namespace tools
}  // namespace capsrt
