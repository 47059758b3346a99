// From a checkpoint to a capsrt model: architecture (preset or JSON file), layout detection,
// layout normalisation into the runtime's conventions, and the model bytes.
#ifndef CAPSRT_CAPSCONV_CONVERT_HPP
#define CAPSRT_CAPSCONV_CONVERT_HPP

#include <nlohmann/json_fwd.hpp>  // (the whole header is costly: only the files that use it include it)
#include <optional>
#include <ostream>
#include <string>
#include <vector>

#include "capsnet.hpp"
#include "checkpoint.hpp"
#include "layouts.hpp"

namespace capsrt {
namespace conv {

// A problem with the architecture or with tensors that do not fit it.
struct ArchError : std::runtime_error {
  using std::runtime_error::runtime_error;
};

// The tensor "name shape", as error messages name one.
std::string named(const RawTensor& t);

// Tensor `name` of rank `rank` with every dimension in [1, 2^24], or NULL when absent. ArchError
// "<context>: <tensor> has rank ..." (or "... a dimension outside [1, 2^24]") otherwise.
const RawTensor* find_shaped(const Checkpoint& ck, const std::string& name, size_t rank, const std::string& context);

Layout parse_layout(const std::string& name);  // "auto", "xifengguo", "flat5d", "gram-ai"
const char* layout_name(Layout l);

// The architecture: geometry plus the variant attributes a JSON file sets explicitly (those
// override what the layout implies).
struct Architecture {
  tools::CapsNetSpec spec;
  std::optional<caps_grouping> grouping;
  std::optional<caps_softmax_axis> softmax_axis;
  std::optional<caps_squash_eps_mode> squash_eps_mode;
  std::optional<float> squash_eps;
  std::optional<caps_score_kind> score_kind;
  std::optional<float> length_eps;
};

// A size as architecture files and Keras configs give it: one integer (both axes) or [h, w], each
// in [lo, hi]. false when it is neither (h and w then untouched).
bool json_size_pair(const nlohmann::json& v, uint32_t lo, uint32_t hi, uint32_t* h, uint32_t* w);

// Sets the photo preprocessing the model records ("none", "mnist", "fashion-mnist"); ArchError,
// naming `where`, for another name or an object rule on a network of more than one channel.
void set_preprocess(tools::CapsNetSpec* s, const std::string& name, const std::string& where);

// A preset name ("canonical", "small") or the path of a JSON architecture file
// (docs/capsconv.md describes its fields). ArchError on unknown fields or bad values.
Architecture load_architecture(const std::string& preset_or_path);
// The same from JSON text; `where` names the source in messages.
Architecture architecture_from_json(const std::string& text, const std::string& where);

// The layout whose marker tensor the checkpoint holds (ArchError listing the markers when none
// is there); `reason` says what was found.
Layout detect_layout(const Checkpoint& ck, std::string* reason);

struct Conversion {
  Layout layout = Layout::Auto;   // the one used (detected or given)
  std::string layout_reason;      // what the detection saw
  tools::CapsNetSpec spec;        // final, with the variant attributes applied
  std::vector<std::string> ignored;  // checkpoint tensors the network does not use
  std::vector<uint8_t> model;
  std::vector<tools::OpReport> report;
  uint32_t arena_size = 0;
  tools::Weights weights;  // in the spec's (XifengGuo) names and layouts, row-major
};

// Checks every tensor the architecture needs against the checkpoint (missing or mis-shaped
// tensors are ArchErrors naming the tensor, the expected and the found shape), normalises the
// layout and writes the model.
Conversion convert(const Checkpoint& ck, const Architecture& arch, Layout layout, int routings_override);

// Writes FILE.c and FILE.h (FILE given with or without ".c") holding the model as a const,
// 64-byte aligned array named `symbol`, with its size and arena size as macros.
void emit_c(const std::string& file, const std::string& symbol, const std::vector<uint8_t>& model,
            uint32_t arena_size, const std::string& provenance);

}  // namespace conv
}  // namespace capsrt

#endif
