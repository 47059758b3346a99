// Post-training quantisation of a CapsNet (docs/fixed-point.md): calibration of the activation
// ranges by running the float network (the reference kernels) on real images, and the builder of
// the int8 model file from the float weights and those ranges. Used by capsconv --quantize and
// the tests.
#ifndef CAPSRT_TOOLS_CAPSNET_INT8_HPP
#define CAPSRT_TOOLS_CAPSNET_INT8_HPP

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "capsnet.hpp"

namespace capsrt {
namespace tools {

// The largest magnitude each calibrated tensor reached over the calibration images (the range
// rule: the maximum; docs/fixed-point.md has the measurement that chose it).
struct Calibration {
  uint32_t images = 0;
  std::vector<float> stem;        // each stem conv's output (after its ReLU, if any)
  float primary = 0;              // PrimaryCaps conv output, before the squash
  std::vector<float> predictions; // u_hat, per class j
  float routing = 0;              // s_j components, over every routing iteration
  std::vector<float> decoder;     // each hidden decoder layer's output (after ReLU)
};

// Runs the float network on `count` images of `pixels` (count x C x H x W bytes, CHW) and records
// the ranges. `progress(done, count)` is called after each image when given.
Calibration calibrate_capsnet(const CapsNetSpec& s, const Weights& w, const uint8_t* pixels,
                              uint32_t count,
                              const std::function<void(uint32_t, uint32_t)>& progress = {});

// The int8 model file of the network (format 1.2), with the low-memory routing when the spec
// asks for it. `notes` receives remarks worth printing (an
// input offset that is not a whole number of pixel steps, a range clamped). WriterError when a
// constant does not fit the int8 path's bounds.
std::vector<uint8_t> build_capsnet_int8(const CapsNetSpec& s, const Weights& w,
                                        const Calibration& cal,
                                        std::vector<OpReport>* report = nullptr,
                                        std::vector<std::string>* notes = nullptr);

// A real multiplier m > 0 as (multiplier in [2^30, 2^31), shift in [1, 62]) with m ~ mult 2^-shift
// (multipliers below 2^-32 become 2^-32). WriterError if m >= 2^30.
void encode_multiplier(double m, int32_t* mult, int32_t* shift);

}  // namespace tools
}  // namespace capsrt

#endif
