#include "capsnet.hpp"

#include <array>
#include <cmath>
#include <random>

#include "capsrt/file_format.h"

namespace capsrt {
namespace tools {

CapsNetSpec capsnet_preset(const std::string& name) {
  CapsNetSpec s;
  if (name == "canonical") return s;
  if (name == "small") {
    // Q7-CapsNets' MNIST size: conv1 16 x 7x7; 16 primary types x 4D, 7x7 stride 2 (1024
    // capsules); 10 x 6D class capsules; a small decoder.
    s.name = "small";
    s.stem = {conv_spec(16, 7, 1)};
    s.primary = conv_spec(64, 7, 2, false);
    s.primary_dim = 4;
    s.class_dim = 6;
    s.decoder_hidden = {128, 256};
    return s;
  }
  throw WriterError("unknown preset '" + name + "' (known: canonical, small)");
}

std::vector<std::string> capsnet_preset_names() { return {"canonical", "small"}; }

ConvSpec conv_spec(uint32_t channels, uint32_t kernel, uint32_t stride, bool relu) {
  ConvSpec c;
  c.channels = channels;
  c.kernel_h = c.kernel_w = kernel;
  c.stride_h = c.stride_w = stride;
  c.relu = relu;
  return c;
}

namespace {
uint32_t out_size(uint32_t in, uint32_t kernel, uint32_t stride, uint32_t pad, uint32_t extra) {
  const uint64_t padded = uint64_t{in} + 2ull * pad + extra;
  if (in == 0 || stride == 0 || padded < kernel) return 0;
  return static_cast<uint32_t>((padded - kernel) / stride + 1);
}
// 'same': out = ceil(in / stride), total = max((out - 1) stride + kernel - in, 0); before =
// total / 2 and the rest after.
void same_padding(uint32_t in, uint32_t kernel, uint32_t stride, uint32_t* pad, uint32_t* extra) {
  const uint64_t out = (uint64_t{in} + stride - 1) / stride;
  const uint64_t need = (out - 1) * stride + kernel;
  const uint64_t total = need > in ? need - in : 0;
  *pad = static_cast<uint32_t>(total / 2);
  *extra = static_cast<uint32_t>(total % 2);
}
std::string dims_str(const std::vector<uint32_t>& d) {
  std::string s = "[";
  for (size_t k = 0; k < d.size(); ++k) s += (k ? "," : "") + std::to_string(d[k]);
  return s + "]";
}
Shape to_shape(const std::vector<uint32_t>& d) {
  Shape s;
  s.rank = static_cast<uint32_t>(d.size());
  for (size_t k = 0; k < d.size(); ++k) s.dims[k] = d[k];
  return s;
}
}  // namespace

std::array<uint32_t, 8> conv_op_params(const ConvSpec& c, uint32_t param4) {
  return {c.stride_h, c.stride_w, CAPS_CONV_PAD_PARAM(c.pad_h, c.pad_h_extra),
          CAPS_CONV_PAD_PARAM(c.pad_w, c.pad_w_extra), param4, 0, 0, 0};
}

void check_capsnet_geometry(const CapsNetSpec& s) {
  if (s.stem.empty()) throw WriterError("the network needs at least one conv before PrimaryCaps");
  for (size_t n = 0; n <= s.stem.size(); ++n) {
    const ConvSpec& c = n < s.stem.size() ? s.stem[n] : s.primary;
    const std::string name = n < s.stem.size() ? stem_name(n) : "primarycaps";
    const uint32_t h = stem_in_h(s, n), w = stem_in_w(s, n);
    if (c.channels == 0 || c.stride_h == 0 || c.stride_w == 0)
      throw WriterError(name + ": channels and strides must be at least 1");
    if (c.pad_h >= c.kernel_h || c.pad_w >= c.kernel_w || c.pad_h + c.pad_h_extra >= c.kernel_h ||
        c.pad_w + c.pad_w_extra >= c.kernel_w)
      throw WriterError(name + ": padding of a whole kernel (" + std::to_string(c.kernel_h) + "x" +
                        std::to_string(c.kernel_w) + ") or more");
    if (conv_out_h(c, h) == 0 || conv_out_w(c, w) == 0)
      throw WriterError("input " + std::to_string(s.input_height) + "x" + std::to_string(s.input_width) +
                        " is too small for the kernels: " + name + "'s " + std::to_string(c.kernel_h) + "x" +
                        std::to_string(c.kernel_w) + " kernel meets " + std::to_string(h) + "x" +
                        std::to_string(w));
  }
  if (s.primary_dim == 0 || s.primary.channels % s.primary_dim != 0)
    throw WriterError("primarycaps: " + std::to_string(s.primary.channels) +
                      " channels are not a whole number of capsules of dimension " + std::to_string(s.primary_dim));
}

uint32_t conv_out_h(const ConvSpec& c, uint32_t in) {
  return out_size(in, c.kernel_h, c.stride_h, c.pad_h, c.pad_h_extra);
}
uint32_t conv_out_w(const ConvSpec& c, uint32_t in) {
  return out_size(in, c.kernel_w, c.stride_w, c.pad_w, c.pad_w_extra);
}
void set_same_padding(ConvSpec* c, uint32_t in_h, uint32_t in_w) {
  same_padding(in_h, c->kernel_h, c->stride_h, &c->pad_h, &c->pad_h_extra);
  same_padding(in_w, c->kernel_w, c->stride_w, &c->pad_w, &c->pad_w_extra);
}

uint32_t stem_in_channels(const CapsNetSpec& s, size_t n) {
  return n == 0 ? s.input_channels : s.stem[n - 1].channels;
}
uint32_t stem_in_h(const CapsNetSpec& s, size_t n) {
  uint32_t h = s.input_height;
  for (size_t k = 0; k < n && k < s.stem.size(); ++k) h = conv_out_h(s.stem[k], h);
  return h;
}
uint32_t stem_in_w(const CapsNetSpec& s, size_t n) {
  uint32_t w = s.input_width;
  for (size_t k = 0; k < n && k < s.stem.size(); ++k) w = conv_out_w(s.stem[k], w);
  return w;
}
uint32_t primary_out_h(const CapsNetSpec& s) { return conv_out_h(s.primary, stem_in_h(s, s.stem.size())); }
uint32_t primary_out_w(const CapsNetSpec& s) { return conv_out_w(s.primary, stem_in_w(s, s.stem.size())); }
uint32_t primary_capsules(const CapsNetSpec& s) {
  return s.primary_dim == 0 ? 0 : s.primary.channels * primary_out_h(s) * primary_out_w(s) / s.primary_dim;
}
std::string stem_name(size_t n) { return "conv" + std::to_string(n + 1); }

std::vector<std::pair<std::string, std::vector<uint32_t>>> capsnet_parameters(const CapsNetSpec& s) {
  std::vector<std::pair<std::string, std::vector<uint32_t>>> p;
  for (size_t n = 0; n < s.stem.size(); ++n) {
    const ConvSpec& c = s.stem[n];
    p.push_back({stem_name(n) + ".weight", {c.channels, stem_in_channels(s, n), c.kernel_h, c.kernel_w}});
    p.push_back({stem_name(n) + ".bias", {c.channels}});
  }
  const ConvSpec& pc = s.primary;
  p.push_back({"primarycaps.conv2d.weight", {pc.channels, stem_in_channels(s, s.stem.size()), pc.kernel_h, pc.kernel_w}});
  p.push_back({"primarycaps.conv2d.bias", {pc.channels}});
  p.push_back({"digitcaps.weight", {s.classes, primary_capsules(s), s.class_dim, s.primary_dim}});
  uint32_t in = s.classes * s.class_dim;
  for (size_t k = 0; k <= s.decoder_hidden.size() && !s.decoder_hidden.empty(); ++k) {
    const uint32_t out = k < s.decoder_hidden.size()
                             ? s.decoder_hidden[k]
                             : s.input_channels * s.input_height * s.input_width;
    const std::string prefix = "decoder." + std::to_string(2 * k);  // Linear, ReLU, Linear, ...
    p.push_back({prefix + ".weight", {out, in}});
    p.push_back({prefix + ".bias", {out}});
    in = out;
  }
  return p;
}

Weights capsnet_random_weights(const CapsNetSpec& s, uint64_t seed) {
  std::mt19937_64 rng(seed);
  Weights w;
  for (const auto& [name, shape] : capsnet_parameters(s)) {
    WeightTensor t;
    t.shape = shape;
    uint64_t n = 1;
    for (uint32_t d : shape) n *= d;
    t.data.resize(n);
    if (name == "digitcaps.weight") {
      std::normal_distribution<float> normal(0.0f, 0.01f);
      for (float& v : t.data) v = normal(rng);
    } else {
      // fan_in of the layer that owns this tensor (weight dims after the first)
      const std::string wname = name.substr(0, name.rfind('.')) + ".weight";
      uint64_t fan_in = 1;
      for (const auto& [n2, sh] : capsnet_parameters(s))
        if (n2 == wname)
          for (size_t k = 1; k < sh.size(); ++k) fan_in *= sh[k];
      const float bound = 1.0f / std::sqrt(static_cast<float>(fan_in));
      std::uniform_real_distribution<float> uni(-bound, bound);
      for (float& v : t.data) v = uni(rng);
    }
    w[name] = std::move(t);
  }
  return w;
}

void set_capsnet_attributes(const CapsNetSpec& s, ModelWriter* mw) {
  caps_model_attributes& a = mw->attributes();
  a.input_scale = s.input_scale;
  a.input_offset = s.input_offset;
  a.capsule_grouping = s.grouping;
  a.routing_iterations = s.routings;
  a.routing_softmax_axis = s.softmax_axis;
  a.squash_eps_mode = s.squash_eps_mode;
  a.squash_eps = s.squash_eps;
  a.score_kind = s.score_kind;
  a.length_eps = s.length_eps;
  a.input_preprocess = s.preprocess;
  std::vector<std::string> names = s.class_names;
  if (names.empty())
    for (uint32_t c = 0; c < s.classes; ++c) names.push_back(std::to_string(c));
  if (names.size() != s.classes)
    throw WriterError(std::to_string(names.size()) + " class names for " +
                      std::to_string(s.classes) + " classes");
  mw->set_class_names(names);
}

std::map<std::string, uint32_t> add_weights(const std::vector<std::pair<std::string, std::vector<uint32_t>>>& params,
                                            const Weights& w, ModelWriter* mw) {
  std::map<std::string, uint32_t> ids;
  for (const auto& [name, shape] : params) {
    auto it = w.find(name);
    if (it == w.end())
      throw WriterError("missing tensor " + name + " (expected shape " + dims_str(shape) + ")");
    if (it->second.shape != shape)
      throw WriterError("tensor " + name + ": expected shape " + dims_str(shape) + ", found " +
                        dims_str(it->second.shape));
    ids[name] = mw->add_const(name, to_shape(shape), it->second.data);
  }
  return ids;
}

std::vector<uint8_t> build_capsnet(const CapsNetSpec& s, const Weights& w,
                                   std::vector<OpReport>* report, bool pack_weights) {
  check_capsnet_geometry(s);
  ModelWriter mw;
  mw.set_pack_weights(pack_weights);
  set_capsnet_attributes(s, &mw);
  mw.set_description(s.name);

  std::map<std::string, uint32_t> ids = add_weights(capsnet_parameters(s), w, &mw);
  uint32_t h = mw.add_input("input", s.input_channels, s.input_height, s.input_width);
  for (size_t n = 0; n < s.stem.size(); ++n) {
    const ConvSpec& c = s.stem[n];
    const std::string name = stem_name(n);
    h = mw.add_op(CAPS_OP_CONV2D, {h, ids[name + ".weight"], ids[name + ".bias"]},
                  conv_op_params(c, c.relu ? uint32_t{CAPS_ACT_RELU} : uint32_t{CAPS_ACT_NONE}), name);
  }
  const uint32_t pc = mw.add_op(CAPS_OP_PRIMARY_CAPS,
                                {h, ids["primarycaps.conv2d.weight"], ids["primarycaps.conv2d.bias"]},
                                conv_op_params(s.primary, s.primary_dim), "primarycaps");
  std::array<uint32_t, 8> routing{};
  routing[CAPS_CAPS_DENSE_LOW_MEMORY] = s.low_memory_routing ? 1u : 0u;
  const uint32_t v = mw.add_op(CAPS_OP_CAPS_DENSE, {pc, ids["digitcaps.weight"]}, routing, "digitcaps");
  const uint32_t scores = mw.add_op(CAPS_OP_LENGTH, {v}, {}, "scores");
  uint32_t recon = CAPS_NONE;
  if (!s.decoder_hidden.empty()) {
    mw.begin_decoder();
    h = mw.add_op(CAPS_OP_MASK, {v, scores}, {}, "masked");
    for (size_t k = 0; k <= s.decoder_hidden.size(); ++k) {
      const std::string prefix = "decoder." + std::to_string(2 * k);
      const bool last = k == s.decoder_hidden.size();
      h = mw.add_op(CAPS_OP_DENSE, {h, ids[prefix + ".weight"], ids[prefix + ".bias"]},
                    {last ? uint32_t{CAPS_ACT_SIGMOID} : uint32_t{CAPS_ACT_RELU}},
                    last ? "reconstruction" : prefix);
    }
    recon = h;
  }
  mw.set_outputs(scores, v, recon);
  std::vector<uint8_t> bytes = mw.finish();
  if (report) *report = mw.report();
  return bytes;
}

}  // namespace tools
}  // namespace capsrt
