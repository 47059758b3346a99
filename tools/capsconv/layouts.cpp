#include "layouts.hpp"

#include <stdexcept>

namespace capsrt {
namespace conv {

namespace {

// Every parameter as the runtime names and shapes it, stored as is.
std::vector<LayoutRow> runtime_rows(const tools::CapsNetSpec& s) {
  std::vector<LayoutRow> rows;
  for (const auto& [name, shape] : tools::capsnet_parameters(s)) rows.push_back({name, name, Dims(shape.begin(), shape.end()), {}, {}, 1});
  return rows;
}

// runtime_rows with some rows replaced (by target name).
std::vector<LayoutRow> runtime_rows_except(const tools::CapsNetSpec& s, const std::vector<LayoutRow>& replaced) {
  std::vector<LayoutRow> rows = runtime_rows(s);
  for (LayoutRow& r : rows)
    for (const LayoutRow& x : replaced)
      if (x.target == r.target) r = x;
  return rows;
}

int64_t I(const tools::CapsNetSpec& s) { return tools::primary_capsules(s); }

std::vector<LayoutRow> xifengguo_rows(const tools::CapsNetSpec& s) { return runtime_rows(s); }

// W5[0, i, j*DO + d, k, 0]: read as [I, J, DO, DI], then swap the first two axes.
std::vector<LayoutRow> flat5d_rows(const tools::CapsNetSpec& s) {
  const int64_t J = s.classes, DO = s.class_dim, DI = s.primary_dim;
  return runtime_rows_except(s, {{"digitcaps.weight", "digitcaps.weight", {1, I(s), J * DO, DI, 1}, {I(s), J, DO, DI}, {1, 0, 2, 3}, 1}});
}

// D convs of G channels, one per capsule component, stacked so that channel k*G + g is conv k's
// channel g (what the per-dim-conv grouping reads); route_weights [J, I, DI, DO].
std::vector<LayoutRow> gram_ai_rows(const tools::CapsNetSpec& s) {
  const int64_t J = s.classes, DO = s.class_dim, DI = s.primary_dim, G = s.primary.channels / s.primary_dim;
  const int64_t KH = s.primary.kernel_h, KW = s.primary.kernel_w, C = tools::stem_in_channels(s, s.stem.size());
  const uint32_t parts = s.primary_dim;
  return runtime_rows_except(
      s, {{"primarycaps.conv2d.weight", "primary_capsules.capsules.{k}.weight", {G, C, KH, KW}, {}, {}, parts},
          {"primarycaps.conv2d.bias", "primary_capsules.capsules.{k}.bias", {G}, {}, {}, parts},
          {"digitcaps.weight", "digit_capsules.route_weights", {J, I(s), DI, DO}, {}, {0, 1, 3, 2}, 1}});
}

// Keras (keras.cpp names a model's weights by their role: keras.conv<n>.kernel, keras.primary.*,
// keras.caps.W, keras.decoder.<k>.*): conv kernels HWIO, Dense kernels (in, out), the capsule
// transform [J, I, DO, DI] as the runtime's; the decoder's image channels-last.
std::vector<LayoutRow> keras_rows(const tools::CapsNetSpec& s) {
  std::vector<LayoutRow> rows;
  auto conv = [&](const std::string& target, const std::string& source, const tools::ConvSpec& c, int64_t in) {
    rows.push_back({target + ".weight", source + ".kernel", {c.kernel_h, c.kernel_w, in, c.channels}, {}, {3, 2, 0, 1}, 1});
    rows.push_back({target + ".bias", source + ".bias", {c.channels}, {}, {}, 1});
  };
  for (size_t n = 0; n < s.stem.size(); ++n)
    conv(tools::stem_name(n), "keras.conv" + std::to_string(n + 1), s.stem[n], tools::stem_in_channels(s, n));
  conv("primarycaps.conv2d", "keras.primary", s.primary, tools::stem_in_channels(s, s.stem.size()));
  rows.push_back({"digitcaps.weight", "keras.caps.W", {s.classes, I(s), s.class_dim, s.primary_dim}, {}, {}, 1});
  int64_t in = int64_t{s.classes} * s.class_dim;
  for (size_t k = 0; k <= s.decoder_hidden.size() && !s.decoder_hidden.empty(); ++k) {
    const int64_t out = k < s.decoder_hidden.size() ? s.decoder_hidden[k]
                                                    : int64_t{s.input_channels} * s.input_height * s.input_width;
    const std::string target = "decoder." + std::to_string(2 * k), source = "keras.decoder." + std::to_string(k);
    if (k < s.decoder_hidden.size()) {
      rows.push_back({target + ".weight", source + ".kernel", {in, out}, {}, {1, 0}, 1});
      rows.push_back({target + ".bias", source + ".bias", {out}, {}, {}, 1});
    } else {  // the image: Keras's rows are (y, x, c), the runtime's (c, y, x)
      const int64_t H = s.input_height, W = s.input_width, C = s.input_channels;
      rows.push_back({target + ".weight", source + ".kernel", {in, out}, {in, H, W, C}, {3, 1, 2, 0}, 1});
      rows.push_back({target + ".bias", source + ".bias", {out}, {H, W, C}, {2, 0, 1}, 1});
    }
    in = out;
  }
  return rows;
}

}  // namespace

const std::vector<LayoutInfo>& layouts() {
  static const std::vector<LayoutInfo> kLayouts = {
      {Layout::XifengGuo, "xifengguo", "XifengGuo/CapsNet-Pytorch", {{"digitcaps.weight", false, 4}},
       CAPS_GROUPING_NCHW_VIEW, CAPS_SOFTMAX_OVER_OUTPUTS, CAPS_SQUASH_EPS_ADD_TO_NORM, 1e-8f, CAPS_SCORE_LENGTH, 0.0f,
       xifengguo_rows},
      {Layout::Flat5d, "flat5d", "a common derivative of XifengGuo's", {{"digitcaps.weight", false, 5}},
       CAPS_GROUPING_NCHW_VIEW, CAPS_SOFTMAX_OVER_OUTPUTS, CAPS_SQUASH_EPS_ADD_TO_NORM, 1e-8f, CAPS_SCORE_LENGTH, 0.0f,
       flat5d_rows},
      {Layout::GramAI, "gram-ai", "gram-ai/capsule-networks",
       {{"digit_capsules.route_weights", false, 0}, {"primary_capsules.capsules.", true, 0}},
       CAPS_GROUPING_PER_DIM_CONV, CAPS_SOFTMAX_OVER_INPUTS, CAPS_SQUASH_EPS_ADD_TO_NORM, 0.0f,
       CAPS_SCORE_SOFTMAX_LENGTH, 0.0f, gram_ai_rows},
      // CapsNet-Keras's variant; keras.cpp records Q7-CapsNets' (no epsilons) for its layers.
      {Layout::Keras, "keras", "Keras (CapsNet-Keras, Q7-CapsNets), via the model's layers",
       {{"keras.caps.W", false, 4}}, CAPS_GROUPING_NHWC_CHANNELS, CAPS_SOFTMAX_OVER_OUTPUTS,
       CAPS_SQUASH_EPS_IN_SQRT, 1e-7f, CAPS_SCORE_LENGTH, 1e-7f, keras_rows},
  };
  return kLayouts;
}

const LayoutInfo& layout_info(Layout l) {
  for (const LayoutInfo& info : layouts())
    if (info.id == l) return info;
  throw std::invalid_argument("layout_info: no table for this layout");
}

std::vector<float> apply_row(const LayoutRow& row, const std::vector<std::vector<float>>& values) {
  std::vector<float> stacked;
  for (const std::vector<float>& part : values) stacked.insert(stacked.end(), part.begin(), part.end());
  if (row.permutation.empty()) return stacked;
  Dims view = row.view;
  if (view.empty()) {
    view = row.shape;
    view[0] *= row.parts;
  }
  const size_t rank = view.size();
  if (row.permutation.size() != rank) throw std::invalid_argument("layout row " + row.target + ": permutation rank");
  // Row-major strides of the view, and the output's shape and the view stride of each output axis.
  Dims view_stride(rank, 1), out_shape(rank), step(rank);
  for (size_t a = rank - 1; a-- > 0;) view_stride[a] = view_stride[a + 1] * view[a + 1];
  for (size_t a = 0; a < rank; ++a) {
    out_shape[a] = view[row.permutation[a]];
    step[a] = view_stride[row.permutation[a]];
  }
  if (static_cast<int64_t>(stacked.size()) != view_stride[0] * view[0])
    throw std::invalid_argument("layout row " + row.target + ": view does not cover the tensor");
  std::vector<float> out(stacked.size());
  Dims idx(rank, 0);
  for (float& v : out) {
    int64_t src = 0;
    for (size_t a = 0; a < rank; ++a) src += idx[a] * step[a];
    v = stacked[static_cast<size_t>(src)];
    for (size_t a = rank; a-- > 0;) {  // row-major odometer over the output
      if (++idx[a] < out_shape[a]) break;
      idx[a] = 0;
    }
  }
  return out;
}

}  // namespace conv
}  // namespace capsrt
