#include "capsnet.hpp"

#include <cmath>
#include <random>

namespace capsrt {
namespace tools {

CapsNetSpec capsnet_preset(const std::string& name) {
  CapsNetSpec s;
  if (name == "canonical") return s;
  if (name == "small") {
    // Q7-CapsNets' MNIST size: conv1 16 x 7x7; 16 primary types x 4D, 7x7 stride 2 (1024
    // capsules); 10 x 6D class capsules; a small decoder.
    s.name = "small";
    s.conv1_channels = 16;
    s.conv1_kernel = 7;
    s.primary_channels = 64;
    s.primary_dim = 4;
    s.primary_kernel = 7;
    s.class_dim = 6;
    s.decoder_hidden = {128, 256};
    return s;
  }
  throw WriterError("unknown preset '" + name + "' (known: canonical, small)");
}

std::vector<std::string> capsnet_preset_names() { return {"canonical", "small"}; }

namespace {
uint32_t out_size(uint32_t in, uint32_t kernel, uint32_t stride) {
  return in < kernel ? 0 : (in - kernel) / stride + 1;
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

uint32_t conv1_out_size(const CapsNetSpec& s, uint32_t in) {
  return out_size(in, s.conv1_kernel, s.conv1_stride);
}
uint32_t primary_out_size(const CapsNetSpec& s, uint32_t in) {
  return out_size(conv1_out_size(s, in), s.primary_kernel, s.primary_stride);
}
uint32_t primary_capsules(const CapsNetSpec& s) {
  return s.primary_channels * primary_out_size(s, s.input_height) *
         primary_out_size(s, s.input_width) / s.primary_dim;
}

std::vector<std::pair<std::string, std::vector<uint32_t>>> capsnet_parameters(const CapsNetSpec& s) {
  std::vector<std::pair<std::string, std::vector<uint32_t>>> p = {
      {"conv1.weight", {s.conv1_channels, s.input_channels, s.conv1_kernel, s.conv1_kernel}},
      {"conv1.bias", {s.conv1_channels}},
      {"primarycaps.conv2d.weight",
       {s.primary_channels, s.conv1_channels, s.primary_kernel, s.primary_kernel}},
      {"primarycaps.conv2d.bias", {s.primary_channels}},
      {"digitcaps.weight", {s.classes, primary_capsules(s), s.class_dim, s.primary_dim}},
  };
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

std::vector<uint8_t> build_capsnet(const CapsNetSpec& s, const Weights& w,
                                   std::vector<OpReport>* report, bool pack_weights) {
  if (primary_out_size(s, s.input_height) == 0 || primary_out_size(s, s.input_width) == 0)
    throw WriterError("input " + std::to_string(s.input_height) + "x" +
                      std::to_string(s.input_width) + " is too small for the kernels");
  ModelWriter mw;
  mw.set_pack_weights(pack_weights);
  set_capsnet_attributes(s, &mw);
  mw.set_description(s.name);

  std::map<std::string, uint32_t> ids;
  for (const auto& [name, shape] : capsnet_parameters(s)) {
    auto it = w.find(name);
    if (it == w.end())
      throw WriterError("missing tensor " + name + " (expected shape " + dims_str(shape) + ")");
    if (it->second.shape != shape)
      throw WriterError("tensor " + name + ": expected shape " + dims_str(shape) + ", found " +
                        dims_str(it->second.shape));
    ids[name] = mw.add_const(name, to_shape(shape), it->second.data);
  }
  const uint32_t x = mw.add_input("input", s.input_channels, s.input_height, s.input_width);
  const uint32_t c1 = mw.add_op(CAPS_OP_CONV2D, {x, ids["conv1.weight"], ids["conv1.bias"]},
                                {s.conv1_stride, s.conv1_stride, 0, 0, CAPS_ACT_RELU}, "conv1");
  const uint32_t pc = mw.add_op(
      CAPS_OP_PRIMARY_CAPS, {c1, ids["primarycaps.conv2d.weight"], ids["primarycaps.conv2d.bias"]},
      {s.primary_stride, s.primary_stride, 0, 0, s.primary_dim}, "primarycaps");
  std::array<uint32_t, 8> routing{};
  routing[CAPS_CAPS_DENSE_LOW_MEMORY] = s.low_memory_routing ? 1u : 0u;
  const uint32_t v = mw.add_op(CAPS_OP_CAPS_DENSE, {pc, ids["digitcaps.weight"]}, routing, "digitcaps");
  const uint32_t scores = mw.add_op(CAPS_OP_LENGTH, {v}, {}, "scores");
  uint32_t recon = CAPS_NONE;
  if (!s.decoder_hidden.empty()) {
    mw.begin_decoder();
    uint32_t h = mw.add_op(CAPS_OP_MASK, {v, scores}, {}, "masked");
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
