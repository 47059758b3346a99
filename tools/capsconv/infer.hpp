// The architecture a checkpoint's tensor shapes determine (docs/capsconv.md, "Without --arch"):
// the conv stem, the primary and class capsules, the decoder, and the input size where the
// checkpoint fixes it. What the shapes cannot say (the convs' strides, the routing iterations, an
// input size no tensor fixes) is taken from the reimplementations' conventions and listed as an
// assumption, or asked for.
#ifndef CAPSRT_CAPSCONV_INFER_HPP
#define CAPSRT_CAPSCONV_INFER_HPP

#include <string>
#include <vector>

#include "convert.hpp"

namespace capsrt {
namespace conv {

// An input size given on the command line (--input CxHxW); all 0 when not given.
struct InputSize {
  uint32_t c = 0, h = 0, w = 0;
  bool given() const { return c != 0; }
};

// Parses "CxHxW" (each 1..4096); ArchError otherwise.
InputSize parse_input_size(const std::string& text);

struct Inferred {
  Architecture arch;
  Layout layout = Layout::Auto;         // the layout the shapes were read in
  std::vector<std::string> assumptions;  // what the shapes did not fix, as taken
};

// The layout `layout` (Auto: detected as convert does) and the architecture of `ck`. ArchError
// naming the tensors that disagree, and what each would need, when no consistent network fits.
Inferred infer_architecture(const Checkpoint& ck, Layout layout, const InputSize& input);

// The last steps of an architecture derived from a file rather than given (inferred, or a Keras
// model's layers): photos prepared as MNIST's for a 1x28x28 input (said in `assumptions`), none
// otherwise; then the geometry checked (ArchError "the <what> does not fit: ...").
void finish_derived(tools::CapsNetSpec* s, const std::string& what, std::vector<std::string>* assumptions);

}  // namespace conv
}  // namespace capsrt

#endif
