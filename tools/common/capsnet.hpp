// The CapsNet architecture (DESIGN.md) as a spec, its parameter names and shapes in the
// XifengGuo/CapsNet-Pytorch key layout, seeded random weights, and the builder that turns
// a spec + weights into a capsrt model file through ModelWriter.
#ifndef CAPSRT_TOOLS_CAPSNET_HPP
#define CAPSRT_TOOLS_CAPSNET_HPP

#include <array>
#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "model_writer.hpp"

namespace capsrt {
namespace tools {

// One convolution: of the stem (the convs before PrimaryCaps, each with its ReLU or none), or
// PrimaryCaps' own (never a ReLU).
struct ConvSpec {
  uint32_t channels = 0;
  uint32_t kernel_h = 1, kernel_w = 1;
  uint32_t stride_h = 1, stride_w = 1;
  uint32_t pad_h = 0, pad_w = 0;              // zero rows / columns before the input, as many after
  uint32_t pad_h_extra = 0, pad_w_extra = 0;  // and these more after (TensorFlow's 'same')
  bool relu = true;
};
// A square conv with no padding.
ConvSpec conv_spec(uint32_t channels, uint32_t kernel, uint32_t stride, bool relu = true);
// The output rows (columns) of `c` on `in` input rows (columns); 0 when the kernel does not fit.
uint32_t conv_out_h(const ConvSpec& c, uint32_t in);
uint32_t conv_out_w(const ConvSpec& c, uint32_t in);
// TensorFlow's 'same' padding for `c` on an input of in_h x in_w: ceil(in / stride) outputs, the
// total padding max((out - 1) stride + kernel - in, 0), half of it before (rounded down).
void set_same_padding(ConvSpec* c, uint32_t in_h, uint32_t in_w);

struct CapsNetSpec {
  std::string name = "canonical";
  uint32_t input_channels = 1, input_height = 28, input_width = 28;
  float input_scale = 1.0f / 255.0f, input_offset = 0.0f;
  // The convs before PrimaryCaps (at least one), stem[n] with the parameters conv{n+1}.weight and
  // .bias: XifengGuo's single conv1, or a deeper stem (Q7-CapsNets' CIFAR-10 net has four).
  std::vector<ConvSpec> stem = {conv_spec(256, 9, 1)};
  ConvSpec primary = conv_spec(256, 9, 2, false);  // channels = capsule types x capsule dim
  uint32_t primary_dim = 8;
  uint32_t classes = 10, class_dim = 16;
  uint32_t routings = 3;
  std::vector<uint32_t> decoder_hidden = {512, 1024};  // empty: no decoder
  caps_grouping grouping = CAPS_GROUPING_NCHW_VIEW;
  caps_softmax_axis softmax_axis = CAPS_SOFTMAX_OVER_OUTPUTS;
  caps_squash_eps_mode squash_eps_mode = CAPS_SQUASH_EPS_ADD_TO_NORM;
  float squash_eps = 1e-8f;
  caps_score_kind score_kind = CAPS_SCORE_LENGTH;
  float length_eps = 0.0f;
  std::vector<std::string> class_names;  // empty: "0".."classes-1"
  // How capsrun turns a photo into this input (format 1.3; docs/capsrun.md). The presets are
  // MNIST networks; an architecture file says so itself ("preprocess").
  caps_input_preprocess preprocess = CAPS_PREPROCESS_MNIST;
  // Routing recomputes the predictions instead of storing them (format 1.2; docs/fixed-point.md).
  bool low_memory_routing = false;
};

// "canonical" (Sabour et al. on MNIST) or "small" (the Q7-CapsNets-sized microcontroller net).
// Throws WriterError for an unknown name.
CapsNetSpec capsnet_preset(const std::string& name);
std::vector<std::string> capsnet_preset_names();

// Derived sizes. The input of stem conv n is [stem_in_channels(s, n), stem_in_h, stem_in_w]
// (n = stem.size(): PrimaryCaps' input); sizes are 0 where a kernel does not fit.
uint32_t stem_in_channels(const CapsNetSpec& s, size_t n);
uint32_t stem_in_h(const CapsNetSpec& s, size_t n);
uint32_t stem_in_w(const CapsNetSpec& s, size_t n);
uint32_t primary_out_h(const CapsNetSpec& s);
uint32_t primary_out_w(const CapsNetSpec& s);
uint32_t primary_capsules(const CapsNetSpec& s);  // number of primary capsules
// "conv1" .. "convN": stem conv n's parameter prefix.
std::string stem_name(size_t n);
// Throws WriterError unless every conv fits its input (naming the conv and the sizes that meet),
// its padding is less than its kernel, and PrimaryCaps' channels are whole capsules.
void check_capsnet_geometry(const CapsNetSpec& s);
// A Conv2D or PrimaryCaps op's params for conv `c`: strides, padding, and param 4 (the
// activation, or the capsule dimension).
std::array<uint32_t, 8> conv_op_params(const ConvSpec& c, uint32_t param4);

struct WeightTensor {
  std::vector<uint32_t> shape;
  std::vector<float> data;
};
using Weights = std::map<std::string, WeightTensor>;

// Every parameter the spec needs, by XifengGuo key name, with its expected shape.
std::vector<std::pair<std::string, std::vector<uint32_t>>> capsnet_parameters(const CapsNetSpec& s);

// Seeded weights with PyTorch's default initialisation ranges (uniform +-1/sqrt(fan_in) for
// conv and linear layers, 0.01 * normal for the capsule transform, as XifengGuo's DenseCapsule).
Weights capsnet_random_weights(const CapsNetSpec& s, uint64_t seed);

// Adds every parameter (name, expected shape) from `w` as a float const of `mw`, checked
// (WriterError naming a missing or mis-shaped tensor); returns the tensor ids by name.
std::map<std::string, uint32_t> add_weights(const std::vector<std::pair<std::string, std::vector<uint32_t>>>& params,
                                            const Weights& w, ModelWriter* mw);

// The model attributes and class names of a spec (float and int8 models alike).
void set_capsnet_attributes(const CapsNetSpec& s, ModelWriter* mw);

// Builds the model file. Every parameter must be present with its expected shape: a missing or
// mis-shaped one throws WriterError naming it with the expected and found shapes.
// `report`, if given, receives the per-op summary.
// `pack_weights` false writes every weight row-major (ModelWriter::set_pack_weights).
std::vector<uint8_t> build_capsnet(const CapsNetSpec& s, const Weights& w,
                                   std::vector<OpReport>* report = nullptr, bool pack_weights = true);

}  // namespace tools
}  // namespace capsrt

#endif
