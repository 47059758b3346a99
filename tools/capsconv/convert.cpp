#include "convert.hpp"

#include <cstdio>
#include <fstream>
#include <map>
#include <nlohmann/json.hpp>
#include <set>

#include "capsrt/capsrt.hpp"
#include "io.hpp"

namespace capsrt {
namespace conv {

using tools::CapsNetSpec;

Layout parse_layout(const std::string& n) {
  if (n == "auto") return Layout::Auto;
  std::string names = "auto";
  for (const LayoutInfo& l : layouts()) {
    if (n == l.name) return l.id;
    names += std::string(", ") + l.name;
  }
  if (n == "gramai") return Layout::GramAI;
  throw ArchError("unknown layout '" + n + "' (" + names + ")");
}

std::string named(const RawTensor& t) { return t.name + " " + shape_string(t.shape); }

const RawTensor* find_shaped(const Checkpoint& ck, const std::string& name, size_t rank, const std::string& context) {
  const RawTensor* t = ck.find(name);
  if (t == nullptr) return nullptr;
  if (t->shape.size() != rank)
    throw ArchError(context + ": " + named(*t) + " has rank " + std::to_string(t->shape.size()) + ", expected " +
                    std::to_string(rank));
  for (int64_t d : t->shape)
    if (d < 1 || d > (int64_t{1} << 24)) throw ArchError(context + ": " + named(*t) + " has a dimension outside [1, 2^24]");
  return t;
}

const char* layout_name(Layout l) { return l == Layout::Auto ? "auto" : layout_info(l).name; }

namespace {

uint32_t get_u32(const nlohmann::json& j, const char* key, const std::string& where, uint32_t lo, uint32_t hi) {
  if (!j.contains(key)) throw ArchError(where + ": missing \"" + key + "\"");
  const auto& v = j[key];
  if (!v.is_number_unsigned() || v.get<uint64_t>() < lo || v.get<uint64_t>() > hi)
    throw ArchError(where + ": \"" + key + "\" must be an integer in [" + std::to_string(lo) + ", " +
                    std::to_string(hi) + "]");
  return v.get<uint32_t>();
}

float get_float(const nlohmann::json& v, const std::string& what) {
  if (!v.is_number()) throw ArchError(what + " must be a number");
  return v.get<float>();
}

template <typename E>
E get_enum(const nlohmann::json& v, const std::string& what, const std::map<std::string, E>& names) {
  std::string all;
  for (const auto& kv : names) all += (all.empty() ? "" : ", ") + kv.first;
  if (!v.is_string() || !names.count(v.get<std::string>()))
    throw ArchError(what + " must be one of: " + all);
  return names.at(v.get<std::string>());
}

void check_keys(const nlohmann::json& j, const std::set<std::string>& allowed, const std::string& where) {
  for (auto it = j.begin(); it != j.end(); ++it)
    if (!allowed.count(it.key())) throw ArchError(where + ": unknown field \"" + it.key() + "\"");
}

// An architecture file's size field: json_size_pair, or ArchError naming the field.
void get_pair(const nlohmann::json& j, const char* key, const std::string& where, uint32_t lo, uint32_t hi,
              uint32_t* h, uint32_t* w) {
  if (!json_size_pair(j[key], lo, hi, h, w))
    throw ArchError(where + ": \"" + key + "\" must be an integer in [" + std::to_string(lo) + ", " +
                    std::to_string(hi) + "] or a pair [h, w] of them");
}

// One conv of the stem or PrimaryCaps': channels, kernel, stride (default 1), padding ("valid",
// the default; "same", TensorFlow's, resolved on the conv's input size; or zero rows/columns on
// each side, one integer or [h, w]), relu (the stem's; default true).
tools::ConvSpec parse_conv(const nlohmann::json& c, const std::string& where, bool stem, uint32_t in_h,
                           uint32_t in_w) {
  if (!c.is_object()) throw ArchError(where + ": not a JSON object");
  if (stem)
    check_keys(c, {"channels", "kernel", "stride", "padding", "relu"}, where);
  else
    check_keys(c, {"channels", "dim", "kernel", "stride", "padding"}, where);
  tools::ConvSpec s;
  s.channels = get_u32(c, "channels", where, 1, 65536);
  if (!c.contains("kernel")) throw ArchError(where + ": missing \"kernel\"");
  get_pair(c, "kernel", where, 1, 64, &s.kernel_h, &s.kernel_w);
  if (c.contains("stride")) get_pair(c, "stride", where, 1, 64, &s.stride_h, &s.stride_w);
  if (c.contains("padding")) {
    const auto& p = c["padding"];
    if (p.is_string() && p.get<std::string>() == "same") {
      tools::set_same_padding(&s, in_h, in_w);
    } else if (!(p.is_string() && p.get<std::string>() == "valid")) {
      get_pair(c, "padding", where, 0, 64, &s.pad_h, &s.pad_w);
    }
  }
  if (stem && c.contains("relu") && !c["relu"].is_boolean()) throw ArchError(where + ": \"relu\" must be true or false");
  s.relu = stem && (!c.contains("relu") || c["relu"].get<bool>());
  return s;
}

Architecture parse_architecture(const nlohmann::json& j, const std::string& where) {
  if (!j.is_object()) throw ArchError(where + ": not a JSON object");
  check_keys(j, {"name", "input", "input_scale", "input_offset", "conv1", "stem", "primary", "classes", "class_dim",
                 "routings", "decoder", "class_names", "grouping", "routing_softmax", "squash_eps",
                 "squash_eps_mode", "score", "length_eps", "preprocess"},
             where);
  Architecture a;
  CapsNetSpec& s = a.spec;
  if (j.contains("name")) {
    if (!j["name"].is_string()) throw ArchError(where + ": \"name\" must be a string");
    s.name = j["name"].get<std::string>();
  } else {
    s.name = "custom";
  }
  if (!j.contains("input") || !j["input"].is_array() || j["input"].size() != 3)
    throw ArchError(where + ": \"input\" must be [channels, height, width]");
  for (const auto& d : j["input"])
    if (!d.is_number_unsigned() || d.get<uint64_t>() < 1 || d.get<uint64_t>() > CAPS_MAX_INPUT_DIM)
      throw ArchError(where + ": \"input\" dimensions must be integers in [1, 4096]");
  s.input_channels = j["input"][0].get<uint32_t>();
  s.input_height = j["input"][1].get<uint32_t>();
  s.input_width = j["input"][2].get<uint32_t>();
  if (j.contains("input_scale")) s.input_scale = get_float(j["input_scale"], where + ": \"input_scale\"");
  if (j.contains("input_offset")) s.input_offset = get_float(j["input_offset"], where + ": \"input_offset\"");
  // The stem: "conv1" (one conv, XifengGuo's) or "stem" (a list of convs), not both.
  if (j.contains("conv1") == j.contains("stem"))
    throw ArchError(where + ": give the convs before PrimaryCaps as \"conv1\" (one) or \"stem\" (a list), one of the two");
  if (j.contains("stem") && (!j["stem"].is_array() || j["stem"].empty() || j["stem"].size() > 64))
    throw ArchError(where + ": \"stem\" must be a list of 1 to 64 convs");
  const nlohmann::json stem = j.contains("stem") ? j["stem"] : nlohmann::json::array({j["conv1"]});
  s.stem.clear();
  for (size_t n = 0; n < stem.size(); ++n) {
    const std::string at = where + (j.contains("stem") ? " stem[" + std::to_string(n) + "]" : " conv1");
    const uint32_t h = tools::stem_in_h(s, n), w = tools::stem_in_w(s, n);
    if (h == 0 || w == 0) throw ArchError(at + ": the input is too small for the convs before it");
    s.stem.push_back(parse_conv(stem[n], at, true, h, w));
  }
  if (!j.contains("primary") || !j["primary"].is_object()) throw ArchError(where + ": missing \"primary\" object");
  const auto& p = j["primary"];
  s.primary = parse_conv(p, where + " primary", false, tools::stem_in_h(s, s.stem.size()), tools::stem_in_w(s, s.stem.size()));
  s.primary_dim = get_u32(p, "dim", where + " primary", 1, 64);
  if (s.primary.channels % s.primary_dim)
    throw ArchError(where + ": primary \"channels\" must be a multiple of \"dim\"");
  s.classes = get_u32(j, "classes", where, 1, CAPS_MAX_CLASSES);
  s.class_dim = get_u32(j, "class_dim", where, 1, 64);
  s.routings = j.contains("routings") ? get_u32(j, "routings", where, 1, CAPS_MAX_ROUTING_ITERATIONS) : 3;
  s.decoder_hidden.clear();
  if (j.contains("decoder")) {
    if (!j["decoder"].is_array()) throw ArchError(where + ": \"decoder\" must be a list of layer widths ([] for none)");
    for (const auto& d : j["decoder"]) {
      if (!d.is_number_unsigned() || d.get<uint64_t>() < 1 || d.get<uint64_t>() > 65536)
        throw ArchError(where + ": decoder widths must be integers in [1, 65536]");
      s.decoder_hidden.push_back(d.get<uint32_t>());
    }
  }
  if (j.contains("class_names")) {
    if (!j["class_names"].is_array() || j["class_names"].size() != s.classes)
      throw ArchError(where + ": \"class_names\" must list " + std::to_string(s.classes) + " names");
    for (const auto& n : j["class_names"]) {
      if (!n.is_string()) throw ArchError(where + ": class names must be strings");
      s.class_names.push_back(n.get<std::string>());
    }
  }
  if (j.contains("grouping"))
    a.grouping = get_enum<caps_grouping>(j["grouping"], where + ": \"grouping\"",
                                         {{"nchw_view", CAPS_GROUPING_NCHW_VIEW},
                                          {"nhwc_channels", CAPS_GROUPING_NHWC_CHANNELS},
                                          {"per_dim_conv", CAPS_GROUPING_PER_DIM_CONV}});
  if (j.contains("routing_softmax"))
    a.softmax_axis = get_enum<caps_softmax_axis>(j["routing_softmax"], where + ": \"routing_softmax\"",
                                                 {{"outputs", CAPS_SOFTMAX_OVER_OUTPUTS}, {"inputs", CAPS_SOFTMAX_OVER_INPUTS}});
  if (j.contains("squash_eps_mode"))
    a.squash_eps_mode = get_enum<caps_squash_eps_mode>(j["squash_eps_mode"], where + ": \"squash_eps_mode\"",
                                                       {{"add_to_norm", CAPS_SQUASH_EPS_ADD_TO_NORM},
                                                        {"in_sqrt", CAPS_SQUASH_EPS_IN_SQRT}});
  if (j.contains("squash_eps")) a.squash_eps = get_float(j["squash_eps"], where + ": \"squash_eps\"");
  if (j.contains("score"))
    a.score_kind = get_enum<caps_score_kind>(j["score"], where + ": \"score\"",
                                             {{"length", CAPS_SCORE_LENGTH}, {"softmax_length", CAPS_SCORE_SOFTMAX_LENGTH}});
  if (j.contains("length_eps")) a.length_eps = get_float(j["length_eps"], where + ": \"length_eps\"");
  // An architecture file names its photo preprocessing; without one, capsrun fits the whole image.
  s.preprocess = CAPS_PREPROCESS_NONE;
  if (j.contains("preprocess"))
    set_preprocess(&s, j["preprocess"].is_string() ? j["preprocess"].get<std::string>() : "", where);
  try {
    tools::check_capsnet_geometry(s);
  } catch (const tools::WriterError& e) {
    throw ArchError(where + ": " + e.what());
  }
  return a;
}

std::string part_name(const LayoutRow& row, uint32_t part) {
  std::string n = row.source;
  const size_t at = n.find("{k}");
  if (at != std::string::npos) n.replace(at, 3, std::to_string(part));
  return n;
}

}  // namespace

// The layout whose marker tensor the checkpoint holds.
Layout detect_layout(const Checkpoint& ck, std::string* reason) {
  for (const LayoutInfo& l : layouts())
    for (const LayoutMarker& m : l.markers)
      for (const RawTensor& t : ck.tensors)
        if ((m.prefix ? t.name.rfind(m.name, 0) == 0 : t.name == m.name) && (m.rank == 0 || t.shape.size() == m.rank)) {
          *reason = "found " + t.name + " " + shape_string(t.shape);
          return l.id;
        }
  std::string markers;
  for (const LayoutInfo& l : layouts())
    for (const LayoutMarker& m : l.markers)
      markers += (markers.empty() ? "" : ", ") + std::string(m.name) + (m.prefix ? "*" : "") +
                 (m.rank ? " of rank " + std::to_string(m.rank) : "") + " (" + l.name + ")";
  std::string names;
  for (size_t k = 0; k < ck.tensors.size() && k < 12; ++k)
    names += (k ? ", " : "") + ck.tensors[k].name + " " + shape_string(ck.tensors[k].shape);
  throw ArchError("cannot detect the layout: none of " + markers + " among " + std::to_string(ck.tensors.size()) +
                  " tensors (" + names + (ck.tensors.size() > 12 ? ", ..." : "") + "); name it with --layout");
}

bool json_size_pair(const nlohmann::json& v, uint32_t lo, uint32_t hi, uint32_t* h, uint32_t* w) {
  auto fits = [&](const nlohmann::json& x) {
    return x.is_number_unsigned() && x.get<uint64_t>() >= lo && x.get<uint64_t>() <= hi;
  };
  if (v.is_array()) {
    if (v.size() != 2 || !fits(v[0]) || !fits(v[1])) return false;
    *h = v[0].get<uint32_t>();
    *w = v[1].get<uint32_t>();
    return true;
  }
  if (!fits(v)) return false;
  *h = *w = v.get<uint32_t>();
  return true;
}

void set_preprocess(tools::CapsNetSpec* s, const std::string& name, const std::string& where) {
  if (!tools::parse_preprocess(name, &s->preprocess))
    throw ArchError(where + ": \"preprocess\" must be one of: none, mnist, fashion-mnist");
  if (s->preprocess != CAPS_PREPROCESS_NONE && s->input_channels != 1)
    throw ArchError(where + ": the \"" + name + "\" preprocessing takes 1-channel inputs; this network takes " +
                    std::to_string(s->input_channels));
}

Architecture load_architecture(const std::string& preset_or_path) {
  for (const std::string& p : tools::capsnet_preset_names())
    if (p == preset_or_path) return Architecture{tools::capsnet_preset(p), {}, {}, {}, {}, {}, {}};
  std::ifstream f(preset_or_path);
  if (!f)
    throw ArchError("architecture '" + preset_or_path + "' is neither a preset (canonical, small) nor a readable JSON file");
  nlohmann::json j;
  try {
    f >> j;
  } catch (const nlohmann::json::exception& e) {
    throw ArchError(preset_or_path + ": not valid JSON: " + e.what());
  }
  return parse_architecture(j, preset_or_path);
}

Architecture architecture_from_json(const std::string& text, const std::string& where) {
  nlohmann::json j;
  try {
    j = nlohmann::json::parse(text);
  } catch (const nlohmann::json::exception& e) {
    throw ArchError(where + ": not valid JSON: " + e.what());
  }
  return parse_architecture(j, where);
}

Conversion convert(const Checkpoint& ck, const Architecture& arch, Layout layout, int routings_override) {
  Conversion c;
  c.layout = layout;
  if (layout == Layout::Auto) c.layout = detect_layout(ck, &c.layout_reason);
  CapsNetSpec s = arch.spec;
  // The layout fixes the variant attributes of the code that saved it.
  const LayoutInfo& info = layout_info(c.layout);
  s.grouping = info.grouping;
  s.softmax_axis = info.softmax_axis;
  s.squash_eps_mode = info.squash_eps_mode;
  s.squash_eps = info.squash_eps;
  s.score_kind = info.score_kind;
  s.length_eps = info.length_eps;
  if (arch.grouping) s.grouping = *arch.grouping;
  if (arch.softmax_axis) s.softmax_axis = *arch.softmax_axis;
  if (arch.squash_eps_mode) s.squash_eps_mode = *arch.squash_eps_mode;
  if (arch.squash_eps) s.squash_eps = *arch.squash_eps;
  if (arch.score_kind) s.score_kind = *arch.score_kind;
  if (arch.length_eps) s.length_eps = *arch.length_eps;
  if (routings_override > 0) s.routings = static_cast<uint32_t>(routings_override);

  // Every tensor the network needs, present and with its shape, brought into the runtime's
  // names and axis order by the layout's rows.
  tools::Weights w;
  std::set<std::string> used;
  for (const LayoutRow& row : info.rows(s)) {
    std::vector<std::vector<float>> parts;
    for (uint32_t p = 0; p < row.parts; ++p) {
      const std::string name = part_name(row, p);
      const RawTensor* t = ck.find(name);
      if (!t) {
        std::string have;
        for (size_t k = 0; k < ck.tensors.size() && k < 12; ++k) have += (k ? ", " : "") + ck.tensors[k].name;
        throw ArchError("missing tensor " + name + " (expected shape " + shape_string(row.shape) + " for the " +
                        info.name + " layout of architecture '" + s.name + "'); the checkpoint has: " + have +
                        (ck.tensors.size() > 12 ? ", ..." : ""));
      }
      if (t->shape != row.shape)
        throw ArchError("tensor " + name + (t->file_name.empty() ? "" : " (" + t->file_name + " in the file)") +
                        ": expected shape " + shape_string(row.shape) + " for architecture '" +
                        s.name + "', found " + shape_string(t->shape));
      parts.push_back(to_float32(*t));
      used.insert(name);
    }
    tools::WeightTensor& out = w[row.target];
    out.data = apply_row(row, parts);
  }
  for (const auto& [name, shape] : tools::capsnet_parameters(s)) {
    if (!w.count(name)) throw ArchError("internal: layout " + std::string(info.name) + " has no row for " + name);
    tools::WeightTensor& t = w[name];
    t.shape = shape;
    uint64_t n = 1;
    for (uint32_t d : shape) n *= d;
    if (t.data.size() != n) throw ArchError("internal: layout " + std::string(info.name) + "'s row for " + name + " has the wrong size");
  }
  for (const RawTensor& t : ck.tensors)
    if (!used.count(t.name)) c.ignored.push_back(t.name + " " + shape_string(t.shape));

  try {
    c.model = tools::build_capsnet(s, w, &c.report);
  } catch (const tools::WriterError& e) {
    throw ArchError(e.what());
  }
  c.arena_size = tools::written_arena_size(c.model);  // the largest over the kernel sets
  c.spec = s;
  c.weights = std::move(w);
  return c;
}

void emit_c(const std::string& file, const std::string& symbol, const std::vector<uint8_t>& model,
            uint32_t arena_size, const std::string& provenance) {
  std::string base = file;
  if (base.size() > 2 && base.compare(base.size() - 2, 2, ".c") == 0) base.resize(base.size() - 2);
  std::string upper;
  for (char ch : symbol) upper += static_cast<char>(std::toupper(static_cast<unsigned char>(ch)));
  const std::string header_path = base + ".h", source_path = base + ".c";
  const std::string header_name = header_path.substr(header_path.find_last_of('/') + 1);
  {
    std::ofstream h(header_path);
    h << "/* Generated by capsconv: " << provenance << ". Do not edit. */\n"
      << "#ifndef CAPSRT_MODEL_" << upper << "_H\n#define CAPSRT_MODEL_" << upper << "_H\n\n"
      << "#include <stddef.h>\n\n"
      << "#define " << upper << "_SIZE " << model.size() << "u        /* bytes of the model */\n"
      << "#define " << upper << "_ARENA_SIZE " << arena_size << "u  /* bytes of arena it needs */\n\n"
      << "#ifdef __cplusplus\nextern \"C\" {\n#endif\n\n"
      << "/* The model file, 64-byte aligned: pass it to caps_model_load(). */\n"
      << "extern const unsigned char " << symbol << "[" << upper << "_SIZE];\n\n"
      << "#ifdef __cplusplus\n}\n#endif\n\n#endif\n";
    if (!h) throw ArchError("cannot write " + header_path);
  }
  std::ofstream c(source_path);
  c << "/* Generated by capsconv: " << provenance << ". Do not edit. */\n"
    << "#include \"" << header_name << "\"\n\n"
    << "/* Define CAPSRT_MODEL_ATTRIBUTES (e.g. a section attribute) to place the array. */\n"
    << "#ifndef CAPSRT_MODEL_ATTRIBUTES\n#define CAPSRT_MODEL_ATTRIBUTES\n#endif\n\n"
    << "#if defined(__GNUC__) || defined(__clang__)\n"
    << "const unsigned char " << symbol << "[" << upper << "_SIZE] __attribute__((aligned(64))) CAPSRT_MODEL_ATTRIBUTES = {\n"
    << "#else\n"
    << "_Alignas(64) const unsigned char " << symbol << "[" << upper << "_SIZE] = {\n"
    << "#endif\n";
  static const char* const kHex = "0123456789abcdef";
  std::string line;
  for (size_t n = 0; n < model.size(); ++n) {
    if (n % 16 == 0) line = "  ";
    line += "0x";
    line += kHex[model[n] >> 4];
    line += kHex[model[n] & 15];
    line += ',';
    if (n % 16 == 15 || n + 1 == model.size()) c << line << '\n';
  }
  c << "};\n";
  if (!c) throw ArchError("cannot write " + source_path);
}

}  // namespace conv
}  // namespace capsrt
