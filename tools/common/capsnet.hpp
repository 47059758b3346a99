// The CapsNet architecture (DESIGN.md) as a spec, its parameter names and shapes in the
// XifengGuo/CapsNet-Pytorch key layout, seeded random weights, and the builder that turns
// a spec + weights into a capsrt model file through ModelWriter.
#ifndef CAPSRT_TOOLS_CAPSNET_HPP
#define CAPSRT_TOOLS_CAPSNET_HPP

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "model_writer.hpp"

namespace capsrt {
namespace tools {

struct CapsNetSpec {
  std::string name = "canonical";
  uint32_t input_channels = 1, input_height = 28, input_width = 28;
  float input_scale = 1.0f / 255.0f, input_offset = 0.0f;
  uint32_t conv1_channels = 256, conv1_kernel = 9, conv1_stride = 1;
  uint32_t primary_channels = 256;  // conv outputs = capsule types x capsule dim
  uint32_t primary_dim = 8, primary_kernel = 9, primary_stride = 2;
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

// Derived sizes.
uint32_t conv1_out_size(const CapsNetSpec& s, uint32_t in);    // spatial, per side
uint32_t primary_out_size(const CapsNetSpec& s, uint32_t in);  // spatial, per side
uint32_t primary_capsules(const CapsNetSpec& s);               // number of primary capsules

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
