#include "em_capsnet.hpp"

#include <map>
#include <random>

#include "model_writer.hpp"

namespace capsrt {
namespace tools {

std::vector<std::pair<std::string, std::vector<uint32_t>>> em_parameters(const EmSpec& s) {
  const uint32_t kk = s.K * s.K;
  return {
      {"conv1.weight", {s.A, s.input_channels, s.conv_kernel, s.conv_kernel}},
      {"conv1.bias", {s.A}},
      {"primary_caps.weight", {17 * s.B, s.A}},
      {"primary_caps.bias", {17 * s.B}},
      {"conv_caps1.weights", {kk * s.B, s.C, 4, 4}},
      {"conv_caps1.beta_u", {s.C}},
      {"conv_caps1.beta_a", {s.C}},
      {"conv_caps2.weights", {kk * s.C, s.D, 4, 4}},
      {"conv_caps2.beta_u", {s.D}},
      {"conv_caps2.beta_a", {s.D}},
      {"class_caps.weights", {s.D, s.E, 4, 4}},
      {"class_caps.beta_u", {s.E}},
      {"class_caps.beta_a", {s.E}},
  };
}

std::vector<uint8_t> build_em_capsnet(const EmSpec& s, const Weights& w, std::vector<OpReport>* report) {
  ModelWriter mw;
  caps_model_attributes& a = mw.attributes();
  a.input_scale = s.input_scale;
  a.input_offset = s.input_offset;
  a.input_preprocess = s.preprocess;
  a.routing_iterations = s.iterations;  // (informative: each routed op has its own)
  a.score_kind = CAPS_SCORE_EM_ACTIVATION;
  std::vector<std::string> names = s.class_names;
  if (names.empty())
    for (uint32_t c = 0; c < s.E; ++c) names.push_back(std::to_string(c));
  if (names.size() != s.E)
    throw WriterError(std::to_string(names.size()) + " class names for " + std::to_string(s.E) + " classes");
  mw.set_class_names(names);
  mw.set_description(s.name);

  std::map<std::string, uint32_t> ids = add_weights(em_parameters(s), w, &mw);
  const auto routing = [&](uint32_t p0, uint32_t p1) {
    return std::array<uint32_t, 8>{p0, p1, s.iterations, static_cast<uint32_t>(s.m_step), caps_f32_bits(s.lambda),
                                   caps_f32_bits(s.eps), 0, 0};
  };
  const auto check = [&](uint32_t id, const char* layer) {
    const Shape& sh = mw.shape(id);
    if (sh.dims[0] < s.K || sh.dims[1] < s.K)
      throw WriterError(std::string(layer) + "'s input is " + std::to_string(sh.dims[0]) + "x" +
                        std::to_string(sh.dims[1]) + " positions, fewer than its " + std::to_string(s.K) + "x" +
                        std::to_string(s.K) + " kernel: the input image is too small for this network");
  };
  uint32_t h = mw.add_input("input", s.input_channels, s.input_height, s.input_width);
  if (s.input_height + 2 * s.conv_pad < s.conv_kernel || s.input_width + 2 * s.conv_pad < s.conv_kernel)
    throw WriterError("the input is smaller than conv1's kernel");
  h = mw.add_op(CAPS_OP_CONV2D, {h, ids["conv1.weight"], ids["conv1.bias"]},
                {s.conv_stride, s.conv_stride, CAPS_CONV_PAD_PARAM(s.conv_pad, 0), CAPS_CONV_PAD_PARAM(s.conv_pad, 0),
                 CAPS_ACT_RELU, 0, 0, 0},
                "conv1");
  h = mw.add_op(CAPS_OP_EM_PRIMARY_CAPS, {h, ids["primary_caps.weight"], ids["primary_caps.bias"]},
                {s.B, 0, 0, 0, 0, 0, 0, 0}, "primary_caps");
  check(h, "conv_caps1");
  h = mw.add_op(CAPS_OP_EM_CONV_CAPS,
                {h, ids["conv_caps1.weights"], ids["conv_caps1.beta_u"], ids["conv_caps1.beta_a"]},
                routing(s.K, s.stride1), "conv_caps1");
  check(h, "conv_caps2");
  h = mw.add_op(CAPS_OP_EM_CONV_CAPS,
                {h, ids["conv_caps2.weights"], ids["conv_caps2.beta_u"], ids["conv_caps2.beta_a"]},
                routing(s.K, s.stride2), "conv_caps2");
  const uint32_t scores = mw.add_op(
      CAPS_OP_EM_CLASS_CAPS, {h, ids["class_caps.weights"], ids["class_caps.beta_u"], ids["class_caps.beta_a"]},
      routing(static_cast<uint32_t>(s.coord_add), 0), "class_caps");
  mw.set_outputs(scores, CAPS_NONE, CAPS_NONE);
  std::vector<uint8_t> bytes = mw.finish();
  if (report) *report = mw.report();
  return bytes;
}

Weights em_random_weights(const EmSpec& s, uint64_t seed) {
  std::mt19937_64 rng(seed);
  Weights w;
  for (const auto& [name, shape] : em_parameters(s)) {
    size_t n = 1;
    for (uint32_t d : shape) n *= d;
    // fan-in scaled normals for the convs; the pose transforms near the paper's init
    const float sd = name == "conv1.weight"       ? 1.0f / static_cast<float>(s.conv_kernel * s.input_channels)
                     : name == "primary_caps.weight" ? 1.0f / static_cast<float>(s.A)
                                                     : 0.5f;
    std::normal_distribution<float> dist(0.0f, sd);
    WeightTensor t{shape, std::vector<float>(n)};
    for (float& v : t.data) v = dist(rng);
    w[name] = std::move(t);
  }
  return w;
}

}  // namespace tools
}  // namespace capsrt
