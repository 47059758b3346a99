#include "infer.hpp"

#include <cstdio>

namespace capsrt {
namespace conv {

using tools::CapsNetSpec;
using tools::ConvSpec;

namespace {

// Tensor `name` of rank `rank` with every dimension in [1, 2^24], or NULL when absent.
const RawTensor* find_shaped(const Checkpoint& ck, const std::string& name, size_t rank) {
  return conv::find_shaped(ck, name, rank, "cannot infer the architecture");
}

const RawTensor& need(const Checkpoint& ck, const std::string& name, size_t rank, const std::string& what) {
  const RawTensor* t = find_shaped(ck, name, rank);
  if (t == nullptr)
    throw ArchError("cannot infer the architecture: no tensor " + name + " (" + what + "); give --arch");
  return *t;
}

uint32_t u32(int64_t v) { return static_cast<uint32_t>(v); }

// Primary capsules the spec makes with these strides (stem convs, then PrimaryCaps'), on an input
// of h x w; 0 where a kernel does not fit.
uint64_t capsules_with(CapsNetSpec s, const std::vector<uint32_t>& strides, uint32_t h, uint32_t w) {
  for (size_t n = 0; n < s.stem.size(); ++n) s.stem[n].stride_h = s.stem[n].stride_w = strides[n];
  s.primary.stride_h = s.primary.stride_w = strides.back();
  s.input_height = h;
  s.input_width = w;
  if (tools::primary_out_h(s) == 0 || tools::primary_out_w(s) == 0) return 0;
  return uint64_t{s.primary.channels} * tools::primary_out_h(s) * tools::primary_out_w(s) / s.primary_dim;
}

std::string strides_text(const std::vector<uint32_t>& strides) {
  std::string t;
  for (size_t n = 0; n + 1 < strides.size(); ++n) t += tools::stem_name(n) + " " + std::to_string(strides[n]) + ", ";
  return t + "primary " + std::to_string(strides.back());
}

uint32_t isqrt(uint64_t x) {
  uint64_t r = 0;
  while ((r + 1) * (r + 1) <= x) ++r;
  return static_cast<uint32_t>(r);
}

}  // namespace

InputSize parse_input_size(const std::string& text) {
  InputSize in;
  unsigned c = 0, h = 0, w = 0;
  char tail = 0;
  if (std::sscanf(text.c_str(), "%ux%ux%u%c", &c, &h, &w, &tail) != 3 || c < 1 || h < 1 || w < 1 ||
      c > CAPS_MAX_INPUT_DIM || h > CAPS_MAX_INPUT_DIM || w > CAPS_MAX_INPUT_DIM)
    throw ArchError("--input must be CxHxW, each in [1, 4096] (e.g. 3x32x32), not '" + text + "'");
  in.c = c;
  in.h = h;
  in.w = w;
  return in;
}

Inferred infer_architecture(const Checkpoint& ck, Layout layout, const InputSize& input) {
  Inferred r;
  std::string reason;
  r.layout = layout == Layout::Auto ? detect_layout(ck, &reason) : layout;
  CapsNetSpec& s = r.arch.spec;
  s.name = "inferred";
  s.class_names.clear();
  auto assume = [&](const std::string& text) { r.assumptions.push_back(text); };

  // The stem: conv1, conv2, ... each reading the channels the one before makes.
  s.stem.clear();
  const RawTensor* prev = nullptr;
  for (size_t n = 0; n < 64; ++n) {
    const RawTensor* t = find_shaped(ck, tools::stem_name(n) + ".weight", 4);
    if (t == nullptr) break;
    ConvSpec c = tools::conv_spec(u32(t->shape[0]), 1, 1);
    c.kernel_h = u32(t->shape[2]);
    c.kernel_w = u32(t->shape[3]);
    if (prev != nullptr && t->shape[1] != prev->shape[0])
      throw ArchError("the convs do not chain: " + named(*t) + " reads " + std::to_string(t->shape[1]) +
                      " channels, but " + named(*prev) + " makes " + std::to_string(prev->shape[0]));
    if (prev == nullptr) s.input_channels = u32(t->shape[1]);
    s.stem.push_back(c);
    prev = t;
  }
  if (prev == nullptr)
    throw ArchError("cannot infer the architecture: no conv1.weight (the first conv before the primary capsules); "
                    "give --arch");

  // PrimaryCaps' conv: one tensor, or gram-ai's one conv per capsule component.
  int64_t prim_in = 0, prim_out = 0, kh = 0, kw = 0, parts = 0;
  std::string prim_name;
  if (r.layout == Layout::GramAI) {
    const RawTensor* first = nullptr;
    for (; parts < 64; ++parts) {
      const RawTensor* t = find_shaped(ck, "primary_capsules.capsules." + std::to_string(parts) + ".weight", 4);
      if (t == nullptr) break;
      if (first != nullptr && t->shape != first->shape)
        throw ArchError("the primary capsules' convs differ: " + named(*t) + " against " + named(*first));
      if (first == nullptr) first = t;
    }
    if (first == nullptr)
      throw ArchError("cannot infer the architecture: no primary_capsules.capsules.0.weight (gram-ai's first "
                      "primary capsule conv); give --arch");
    prim_in = first->shape[1];
    prim_out = first->shape[0] * parts;
    kh = first->shape[2];
    kw = first->shape[3];
    prim_name = named(*first);
  } else {
    const RawTensor& t = need(ck, "primarycaps.conv2d.weight", 4, "the primary capsules' conv");
    prim_in = t.shape[1];
    prim_out = t.shape[0];
    kh = t.shape[2];
    kw = t.shape[3];
    prim_name = named(t);
  }
  if (prim_in != prev->shape[0])
    throw ArchError("the convs do not chain: " + prim_name + " reads " + std::to_string(prim_in) + " channels, but " +
                    named(*prev) + " makes " + std::to_string(prev->shape[0]));
  s.primary = tools::conv_spec(u32(prim_out), 1, 2, false);
  s.primary.kernel_h = u32(kh);
  s.primary.kernel_w = u32(kw);

  // The class capsules' transform: J classes of DO, from I input capsules of DI.
  int64_t J = 0, I = 0, DO = 0, DI = 0;
  std::string w_name;
  if (r.layout == Layout::XifengGuo) {
    const RawTensor& w = need(ck, "digitcaps.weight", 4, "the class capsules' transform [J, I, DO, DI]");
    J = w.shape[0], I = w.shape[1], DO = w.shape[2], DI = w.shape[3];
    w_name = named(w);
  } else if (r.layout == Layout::Flat5d) {
    const RawTensor& w = need(ck, "digitcaps.weight", 5, "the class capsules' transform [1, I, J*DO, DI, 1]");
    if (w.shape[0] != 1 || w.shape[4] != 1)
      throw ArchError("cannot infer the architecture: " + named(w) + " is not [1, I, J*DO, DI, 1]");
    I = w.shape[1], DI = w.shape[3];
    const int64_t jdo = w.shape[2];
    const RawTensor* d0 = find_shaped(ck, "decoder.0.weight", 2);
    // J x DO is one axis here; ten classes (MNIST's, CIFAR-10's) when they divide it.
    if (jdo % 10 != 0)
      throw ArchError(named(w) + " holds classes x dimensions = " + std::to_string(jdo) +
                      " as one axis, which is not 10 classes: give --arch with \"classes\"");
    J = 10, DO = jdo / 10;
    assume("10 classes of " + std::to_string(DO) + "D: " + named(w) + " holds classes x dimensions as one axis" +
           (d0 != nullptr ? " (and so does the decoder's input)" : ""));
    w_name = named(w);
  } else {
    const RawTensor& w = need(ck, "digit_capsules.route_weights", 4, "the class capsules' transform [J, I, DI, DO]");
    J = w.shape[0], I = w.shape[1], DI = w.shape[2], DO = w.shape[3];
    w_name = named(w);
  }
  if (r.layout == Layout::GramAI && DI != parts)
    throw ArchError("the capsule dimension disagrees: " + w_name + " takes " + std::to_string(DI) +
                    "D input capsules, but there are " + std::to_string(parts) + " primary capsule convs (one per dimension)");
  if (prim_out % DI != 0)
    throw ArchError("the capsule dimension disagrees: " + prim_name + " makes " + std::to_string(prim_out) +
                    " channels, not a whole number of the " + std::to_string(DI) + "D capsules " + w_name + " takes");
  if (J > CAPS_MAX_CLASSES || DO > 64 || DI > 64)
    throw ArchError(w_name + ": more classes (" + std::to_string(J) + ", at most " + std::to_string(CAPS_MAX_CLASSES) +
                    ") or capsule dimensions (at most 64) than capsrt takes");
  s.primary_dim = u32(DI);
  s.classes = u32(J);
  s.class_dim = u32(DO);

  // The decoder: decoder.0, decoder.2, ... (Linear, ReLU, ...), each reading the one before.
  s.decoder_hidden.clear();
  std::vector<uint32_t> widths;
  int64_t in = J * DO;
  std::string in_from = w_name + "'s classes x dimensions";
  for (int k = 0; k < 64; ++k) {
    const RawTensor* t = find_shaped(ck, "decoder." + std::to_string(2 * k) + ".weight", 2);
    if (t == nullptr) break;
    if (t->shape[1] != in)
      throw ArchError("the decoder does not chain: " + named(*t) + " reads " + std::to_string(t->shape[1]) +
                      " values, but " + in_from + " make " + std::to_string(in));
    widths.push_back(u32(t->shape[0]));
    in = t->shape[0];
    in_from = named(*t);
  }
  uint64_t recon = 0;
  if (!widths.empty()) {
    if (widths.size() == 1)
      throw ArchError("a decoder of one layer (" + in_from + ") is not a CapsNet decoder capsrt knows: give --arch");
    recon = widths.back();
    widths.pop_back();
    s.decoder_hidden = widths;
  }

  // The input size: --input, else the decoder's output (a square image), else the sizes whose
  // primary capsule count is I.
  const uint32_t C = s.input_channels;
  uint32_t H = 0, W = 0;
  if (input.given()) {
    if (input.c != C)
      throw ArchError("--input " + std::to_string(input.c) + "x" + std::to_string(input.h) + "x" + std::to_string(input.w) +
                      " has " + std::to_string(input.c) + " channels, but conv1.weight reads " + std::to_string(C));
    if (recon != 0 && recon != uint64_t{C} * input.h * input.w)
      throw ArchError("--input makes " + std::to_string(uint64_t{C} * input.h * input.w) + " values, but the decoder's " +
                      in_from + " reconstructs " + std::to_string(recon));
    H = input.h;
    W = input.w;
  } else if (recon != 0) {
    const uint32_t side = isqrt(recon / C);
    if (recon % C != 0 || uint64_t{side} * side * C != recon)
      throw ArchError("the decoder's " + in_from + " reconstructs " + std::to_string(recon) + " values, not a square image of " +
                      std::to_string(C) + " channels: give --input CxHxW");
    H = W = side;
    assume("input " + std::to_string(C) + "x" + std::to_string(H) + "x" + std::to_string(W) + ": the decoder reconstructs " +
           std::to_string(recon) + " values (a square image assumed; --input to say otherwise)");
  }

  // Strides: the checkpoint does not hold them. XifengGuo's (1 for the convs before the primary
  // capsules, 2 for theirs) when they give I capsules; else the one choice of 1 or 2 per conv
  // that does.
  const size_t n_convs = s.stem.size() + 1;
  std::vector<uint32_t> strides(n_convs, 1);
  strides.back() = 2;
  if (H != 0) {
    if (capsules_with(s, strides, H, W) == static_cast<uint64_t>(I)) {
      assume("strides: " + strides_text(strides) + " (XifengGuo/CapsNet-Pytorch's; a checkpoint does not hold strides: "
             "these give " + w_name + "'s " + std::to_string(I) + " input capsules)");
    } else {
      std::vector<std::vector<uint32_t>> fits;
      const uint64_t default_caps = capsules_with(s, strides, H, W);
      if (n_convs <= 10) {
        for (uint32_t mask = 0; mask < (1u << n_convs); ++mask) {
          std::vector<uint32_t> st(n_convs);
          for (size_t n = 0; n < n_convs; ++n) st[n] = (mask >> n) & 1u ? 2 : 1;
          if (capsules_with(s, st, H, W) == static_cast<uint64_t>(I)) fits.push_back(st);
        }
      }
      if (fits.size() != 1) {
        std::string msg = w_name + " takes " + std::to_string(I) + " input capsules; on a " + std::to_string(H) + "x" +
                          std::to_string(W) + " input the convs make " + std::to_string(default_caps) + " with strides " +
                          strides_text(strides);
        if (fits.empty()) {
          msg += ", and no stride of 1 or 2 per conv makes " + std::to_string(I);
        } else {
          msg += "; several strides make " + std::to_string(I) + ":";
          for (size_t k = 0; k < fits.size() && k < 4; ++k) msg += (k ? ";" : "") + std::string(" ") + strides_text(fits[k]);
        }
        throw ArchError(msg + ". Give an architecture file (--arch) with the strides, or --input if the size is wrong");
      }
      strides = fits[0];
      assume("strides: " + strides_text(strides) + " (a checkpoint does not hold strides: the only choice of 1 or 2 per "
             "conv that gives " + w_name + "'s " + std::to_string(I) + " input capsules)");
    }
  } else {
    std::vector<uint32_t> sides;
    for (uint32_t side = 1; side <= 1024; ++side)
      if (capsules_with(s, strides, side, side) == static_cast<uint64_t>(I)) sides.push_back(side);
    if (sides.size() != 1) {
      std::string msg = "the checkpoint has no decoder, so the input size comes from " + w_name + "'s " +
                        std::to_string(I) + " input capsules, with strides " + strides_text(strides) + ": ";
      if (sides.empty()) {
        msg += "no square input gives that many";
      } else {
        msg += "square inputs of";
        for (size_t k = 0; k < sides.size() && k < 6; ++k) msg += (k ? ", " : " ") + std::to_string(sides[k]);
        msg += " all do";
      }
      throw ArchError(msg + ". Give --input CxHxW (or --arch)");
    }
    H = W = sides[0];
    assume("input " + std::to_string(C) + "x" + std::to_string(H) + "x" + std::to_string(W) +
           ": the only square input whose primary capsules number " + std::to_string(I) + " with strides " +
           strides_text(strides) + " (--input to say otherwise)");
  }
  for (size_t n = 0; n < s.stem.size(); ++n) s.stem[n].stride_h = s.stem[n].stride_w = strides[n];
  s.primary.stride_h = s.primary.stride_w = strides.back();
  s.input_height = H;
  s.input_width = W;
  s.routings = 3;
  assume("3 routing iterations (the paper's; a checkpoint does not hold them: --routings to change)");
  finish_derived(&s, "inferred network", &r.assumptions);
  return r;
}

void finish_derived(tools::CapsNetSpec* s, const std::string& what, std::vector<std::string>* assumptions) {
  s->preprocess = CAPS_PREPROCESS_NONE;
  if (s->input_channels == 1 && s->input_height == 28 && s->input_width == 28) {
    s->preprocess = CAPS_PREPROCESS_MNIST;
    assumptions->push_back("photos prepared as MNIST's digits were (a 1x28x28 input; --preprocess to change)");
  }
  try {
    tools::check_capsnet_geometry(*s);
  } catch (const tools::WriterError& e) {
    throw ArchError("the " + what + " does not fit: " + e.what());
  }
}

}  // namespace conv
}  // namespace capsrt
