// The per-layer profile: each op's time over repeated runs, read with the interpreter's per-op
// observer (capsrt.h, caps_op_event), and the table capsrun --profile and capsbench --profile
// print.
#ifndef CAPSRT_TOOLS_PROFILE_HPP
#define CAPSRT_TOOLS_PROFILE_HPP

#include <cstdint>
#include <ostream>
#include <string>
#include <vector>

#include "capsrt/capsrt.hpp"

namespace capsrt {
namespace tools {

struct OpProfile {
  uint32_t index = 0;
  std::string kind;    // "Conv2D", "PrimaryCaps", ...
  std::string output;  // the op's output tensor: the layer's name
  uint64_t macs = 0;
  std::vector<double> us;  // the op's time in each run, microseconds
  double median_us() const;
};

struct Profile {
  std::vector<OpProfile> ops;  // in run order: the classifier's, then the decoder's if run
  std::vector<double> total_us;  // each run's sum over the ops
  int runs = 0;
};

// Runs `it` (set up, its input set) `runs` times: invoke, and with `decoder` also the decoder on
// the predicted class, timing each op with a steady clock from its BEGIN to its END event. The
// interpreter's observer is set for the runs and removed after. Throws std::runtime_error if a
// run fails.
Profile profile_ops(Interpreter& it, int runs, bool decoder);

// The table: layer, op, median time, share of the total of the medians, multiply-adds and G
// multiply-adds/s, with a total row.
void print_profile(std::ostream& out, const Profile& p);

}  // namespace tools
}  // namespace capsrt

#endif
