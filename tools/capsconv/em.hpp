// capsconv's reader of yl-1993/Matrix-Capsules-EM-PyTorch checkpoints (matrix capsules with EM
// routing; docs/em-routing.md): the layout is detected by its tensor names, the network's sizes
// are read from the shapes, conv1's BatchNorm is folded into it, and what a state_dict does not
// record (strides, iterations, lambda, eps, input size, input normalisation) is taken from that
// code and listed as assumptions.
#ifndef CAPSRT_CAPSCONV_EM_HPP
#define CAPSRT_CAPSCONV_EM_HPP

#include <optional>
#include <string>
#include <vector>

#include "checkpoint.hpp"
#include "em_capsnet.hpp"
#include "infer.hpp"

namespace capsrt {
namespace conv {

// Does the checkpoint hold yl-1993's EM network (a conv_caps1.weights tensor)?
bool is_em_checkpoint(const Checkpoint& ck);

struct EmOptions {
  InputSize input;                              // not given: 28x28 with conv1's channels
  std::optional<std::pair<float, float>> norm;  // mean, std (of pixels / 255); default MNIST's
  int iterations = 0;                           // 0: yl-1993's default, 2
  std::vector<std::string> class_names;         // empty: "0", "1", ...
  std::optional<caps_input_preprocess> preprocess;
};

struct EmConversion {
  tools::EmSpec spec;
  tools::Weights weights;                // in em_parameters' names and layouts
  std::vector<std::string> assumptions;  // what the checkpoint did not fix, as taken
  std::vector<std::string> ignored;      // tensors the network does not use
};

// ArchError naming the tensor and what it should be when the shapes do not make the network.
EmConversion read_em(const Checkpoint& ck, const EmOptions& opt);

// "--input-norm MEAN,STD": ArchError unless two finite numbers with STD > 0.
std::pair<float, float> parse_input_norm(const std::string& text);

}  // namespace conv
}  // namespace capsrt

#endif
