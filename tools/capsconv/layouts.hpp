// Checkpoint layouts as data. A layout is how one family of training code stores the network:
// a table of rows, one per tensor the runtime needs, each saying where the tensor is in the
// checkpoint, its shape there, and the axis permutation that brings it into the runtime's
// convention (tools::capsnet_parameters: XifengGuo names, OIHW kernels, W as [J, I, DO, DI]).
// The next format (HWIO kernels, Keras capsule weights, TF1 names) is a new table, not a branch
// in the converter. docs/capsconv.md lists the layouts.
#ifndef CAPSRT_CAPSCONV_LAYOUTS_HPP
#define CAPSRT_CAPSCONV_LAYOUTS_HPP

#include <string>
#include <vector>

#include "capsnet.hpp"
#include "capsrt/capsrt.h"

namespace capsrt {
namespace conv {

enum class Layout { Auto, XifengGuo, Flat5d, GramAI, Keras };

using Dims = std::vector<int64_t>;

// One tensor the runtime needs, as a layout stores it.
struct LayoutRow {
  std::string target;            // the runtime's name
  std::string source;            // the checkpoint's name; with parts > 1, "{k}" stands for 0..parts-1
  Dims shape;                    // its shape in the checkpoint (each part's)
  Dims view;                     // the source (parts stacked along the first axis) read row-major
                                 // as this shape before permuting; empty: as stored
  std::vector<int> permutation;  // target axis a is view axis permutation[a]; empty: identity
  uint32_t parts = 1;            // > 1: the parts are stacked along the first axis
};

// A tensor whose presence (and rank, when rank > 0) identifies a layout.
struct LayoutMarker {
  const char* name;
  bool prefix;  // `name` is a prefix of the tensor's name
  size_t rank;  // 0: any
};

struct LayoutInfo {
  Layout id;
  const char* name;      // as --layout takes it
  const char* saved_by;  // the code that saves it
  std::vector<LayoutMarker> markers;  // any one of them identifies the layout
  // The variant attributes the code that saved it implies (an architecture file may override).
  caps_grouping grouping;
  caps_softmax_axis softmax_axis;
  caps_squash_eps_mode squash_eps_mode;
  float squash_eps;
  caps_score_kind score_kind;
  float length_eps;
  std::vector<LayoutRow> (*rows)(const tools::CapsNetSpec& s);  // in capsnet_parameters order
};

// The known layouts; Auto is not among them.
const std::vector<LayoutInfo>& layouts();
const LayoutInfo& layout_info(Layout l);  // Layout::Auto: std::invalid_argument

// The values of a row's tensor: `parts` stacked, `view` permuted. `values[p]` is part p, in the
// checkpoint's row-major order of `row.shape`.
std::vector<float> apply_row(const LayoutRow& row, const std::vector<std::vector<float>>& values);

}  // namespace conv
}  // namespace capsrt

#endif
