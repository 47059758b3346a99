// Matrix capsules with EM routing (docs/em-routing.md): the network yl-1993/Matrix-Capsules-EM-
// PyTorch builds, as a spec, and the capsrt model of a spec and its weights. capsconv fills both
// from a checkpoint (tools/capsconv/em.cpp); the tests build small ones.
#ifndef CAPSRT_TOOLS_EM_CAPSNET_HPP
#define CAPSRT_TOOLS_EM_CAPSNET_HPP

#include <string>
#include <vector>

#include "capsnet.hpp"

namespace capsrt {
namespace tools {

struct EmSpec {
  std::string name = "EM CapsNet (yl-1993)";
  uint32_t input_channels = 1, input_height = 28, input_width = 28;
  float input_scale = 1.0f / 255.0f, input_offset = 0.0f;  // input = pixel x scale + offset
  caps_input_preprocess preprocess = CAPS_PREPROCESS_NONE;
  // conv1 (BatchNorm folded in) and ReLU: A channels, a square kernel
  uint32_t A = 32, conv_kernel = 5, conv_stride = 2, conv_pad = 2;
  uint32_t B = 32, C = 32, D = 32, E = 10;  // capsule types of the three capsule layers, classes
  uint32_t K = 3, stride1 = 2, stride2 = 1;  // the two ConvCaps layers
  // the routing (every routed layer alike)
  uint32_t iterations = 2;
  caps_em_m_step m_step = CAPS_EM_M_STEP_RENORMALISED;
  float lambda = 1e-3f, eps = 1e-8f;
  caps_em_coord_add coord_add = CAPS_EM_COORD_ELEMENTS_0_1;
  std::vector<std::string> class_names;  // empty: "0", "1", ...
};

// Every weight the spec needs, by name, with its shape (row-major):
//   conv1.weight [A,Cin,k,k], conv1.bias [A]; primary_caps.weight [17B,A] (the 16B pose rows, then
//   the B activation rows), primary_caps.bias [17B]; conv_caps1.weights [KKB,C,4,4], .beta_u and
//   .beta_a [C]; conv_caps2.weights [KKC,D,4,4], ...; class_caps.weights [D,E,4,4], ... [E].
std::vector<std::pair<std::string, std::vector<uint32_t>>> em_parameters(const EmSpec& s);

// The float model (WriterError for a geometry that does not fit or weights that do not match).
std::vector<uint8_t> build_em_capsnet(const EmSpec& s, const Weights& w, std::vector<OpReport>* report = nullptr);

// A random network (tests): weights that keep the activations in a sensible range.
Weights em_random_weights(const EmSpec& s, uint64_t seed);

}  // namespace tools
}  // namespace capsrt

#endif
