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
using Dims = std::vector<int64_t>;

Layout parse_layout(const std::string& n) {
  if (n == "auto") return Layout::Auto;
  if (n == "xifengguo") return Layout::XifengGuo;
  if (n == "flat5d") return Layout::Flat5d;
  if (n == "gram-ai" || n == "gramai") return Layout::GramAI;
  throw ArchError("unknown layout '" + n + "' (auto, xifengguo, flat5d, gram-ai)");
}

const char* layout_name(Layout l) {
  switch (l) {
    case Layout::Auto: return "auto";
    case Layout::XifengGuo: return "xifengguo";
    case Layout::Flat5d: return "flat5d";
    case Layout::GramAI: return "gram-ai";
  }
  return "?";
}

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

Architecture parse_architecture(const nlohmann::json& j, const std::string& where) {
  if (!j.is_object()) throw ArchError(where + ": not a JSON object");
  check_keys(j, {"name", "input", "input_scale", "input_offset", "conv1", "primary", "classes", "class_dim",
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
  for (const char* layer : {"conv1", "primary"})
    if (!j.contains(layer) || !j[layer].is_object()) throw ArchError(where + ": missing \"" + layer + "\" object");
  const auto& c1 = j["conv1"];
  check_keys(c1, {"channels", "kernel", "stride"}, where + " conv1");
  s.conv1_channels = get_u32(c1, "channels", where + " conv1", 1, 65536);
  s.conv1_kernel = get_u32(c1, "kernel", where + " conv1", 1, 64);
  s.conv1_stride = c1.contains("stride") ? get_u32(c1, "stride", where + " conv1", 1, 64) : 1;
  const auto& p = j["primary"];
  check_keys(p, {"channels", "dim", "kernel", "stride"}, where + " primary");
  s.primary_channels = get_u32(p, "channels", where + " primary", 1, 65536);
  s.primary_dim = get_u32(p, "dim", where + " primary", 1, 64);
  s.primary_kernel = get_u32(p, "kernel", where + " primary", 1, 64);
  s.primary_stride = p.contains("stride") ? get_u32(p, "stride", where + " primary", 1, 64) : 1;
  if (s.primary_channels % s.primary_dim)
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
  if (tools::primary_out_size(s, s.input_height) == 0 || tools::primary_out_size(s, s.input_width) == 0)
    throw ArchError(where + ": the input is too small for the conv1 and primary kernels");
  return a;
}

struct Expected {
  std::string name;
  Dims shape;
};

Dims dims(std::initializer_list<uint64_t> d) { return Dims(d.begin(), d.end()); }

// What each layout stores, by name and shape, for this architecture.
std::vector<Expected> expected_tensors(const CapsNetSpec& s, Layout layout) {
  std::vector<Expected> out;
  const uint64_t I = tools::primary_capsules(s), J = s.classes, DO = s.class_dim, DI = s.primary_dim;
  for (const auto& [name, shape] : tools::capsnet_parameters(s)) {
    Dims d(shape.begin(), shape.end());
    if (name.rfind("primarycaps.", 0) == 0 && layout == Layout::GramAI) continue;
    if (name == "digitcaps.weight") {
      if (layout == Layout::Flat5d) d = dims({1, I, J * DO, DI, 1});
      if (layout == Layout::GramAI) continue;
    }
    out.push_back({name, d});
  }
  if (layout == Layout::GramAI) {
    const uint64_t G = s.primary_channels / DI;
    for (uint64_t k = 0; k < DI; ++k) {
      const std::string p = "primary_capsules.capsules." + std::to_string(k);
      out.push_back({p + ".weight", dims({G, s.conv1_channels, s.primary_kernel, s.primary_kernel})});
      out.push_back({p + ".bias", dims({G})});
    }
    out.push_back({"digit_capsules.route_weights", dims({J, I, DI, DO})});
  }
  return out;
}

Layout detect(const Checkpoint& ck, std::string* reason) {
  for (const RawTensor& t : ck.tensors)
    if (t.name == "digit_capsules.route_weights" || t.name.rfind("primary_capsules.capsules.", 0) == 0) {
      *reason = "found " + t.name + " " + shape_string(t.shape);
      return Layout::GramAI;
    }
  if (const RawTensor* w = ck.find("digitcaps.weight")) {
    *reason = "found digitcaps.weight " + shape_string(w->shape);
    if (w->shape.size() == 5) return Layout::Flat5d;
    if (w->shape.size() == 4) return Layout::XifengGuo;
    throw ArchError("cannot detect the layout: digitcaps.weight has shape " + shape_string(w->shape) +
                    " (xifengguo stores [J,I,DO,DI], flat5d [1,I,J*DO,DI,1])");
  }
  std::string names;
  for (size_t k = 0; k < ck.tensors.size() && k < 12; ++k) names += (k ? ", " : "") + ck.tensors[k].name;
  throw ArchError("cannot detect the layout: no digitcaps.weight nor digit_capsules.route_weights among " +
                  std::to_string(ck.tensors.size()) + " tensors (" + names + (ck.tensors.size() > 12 ? ", ..." : "") +
                  "); name it with --layout");
}

}  // namespace

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
  if (layout == Layout::Auto) c.layout = detect(ck, &c.layout_reason);
  CapsNetSpec s = arch.spec;
  // The layout fixes the variant attributes of the code that saved it.
  if (c.layout == Layout::GramAI) {
    s.grouping = CAPS_GROUPING_PER_DIM_CONV;
    s.softmax_axis = CAPS_SOFTMAX_OVER_INPUTS;
    s.squash_eps_mode = CAPS_SQUASH_EPS_ADD_TO_NORM;
    s.squash_eps = 0.0f;
    s.score_kind = CAPS_SCORE_SOFTMAX_LENGTH;
    s.length_eps = 0.0f;
  } else {
    s.grouping = CAPS_GROUPING_NCHW_VIEW;
    s.softmax_axis = CAPS_SOFTMAX_OVER_OUTPUTS;
    s.squash_eps_mode = CAPS_SQUASH_EPS_ADD_TO_NORM;
    s.squash_eps = 1e-8f;
    s.score_kind = CAPS_SCORE_LENGTH;
    s.length_eps = 0.0f;
  }
  if (arch.grouping) s.grouping = *arch.grouping;
  if (arch.softmax_axis) s.softmax_axis = *arch.softmax_axis;
  if (arch.squash_eps_mode) s.squash_eps_mode = *arch.squash_eps_mode;
  if (arch.squash_eps) s.squash_eps = *arch.squash_eps;
  if (arch.score_kind) s.score_kind = *arch.score_kind;
  if (arch.length_eps) s.length_eps = *arch.length_eps;
  if (routings_override > 0) s.routings = static_cast<uint32_t>(routings_override);

  // Every tensor the network needs, present and with its shape.
  std::map<std::string, std::vector<float>> values;
  std::set<std::string> used;
  for (const Expected& e : expected_tensors(s, c.layout)) {
    const RawTensor* t = ck.find(e.name);
    if (!t) {
      std::string have;
      for (size_t k = 0; k < ck.tensors.size() && k < 12; ++k) have += (k ? ", " : "") + ck.tensors[k].name;
      throw ArchError("missing tensor " + e.name + " (expected shape " + shape_string(e.shape) + " for the " +
                      layout_name(c.layout) + " layout of architecture '" + s.name + "'); the checkpoint has: " +
                      have + (ck.tensors.size() > 12 ? ", ..." : ""));
    }
    if (t->shape != e.shape)
      throw ArchError("tensor " + e.name + ": expected shape " + shape_string(e.shape) + " for architecture '" +
                      s.name + "', found " + shape_string(t->shape));
    values[e.name] = to_float32(*t);
    used.insert(e.name);
  }
  for (const RawTensor& t : ck.tensors)
    if (!used.count(t.name)) c.ignored.push_back(t.name + " " + shape_string(t.shape));

  // Normalise into the runtime's conventions (XifengGuo names, W as [J,I,DO,DI]).
  tools::Weights w;
  for (const auto& [name, shape] : tools::capsnet_parameters(s)) {
    tools::WeightTensor& out = w[name];
    out.shape = shape;
    auto it = values.find(name);
    if (it != values.end() && !(name == "digitcaps.weight" && c.layout != Layout::XifengGuo)) {
      out.data = std::move(it->second);
      continue;
    }
    const uint64_t I = tools::primary_capsules(s), J = s.classes, DO = s.class_dim, DI = s.primary_dim;
    if (name == "digitcaps.weight" && c.layout == Layout::Flat5d) {
      // W5[0, i, j*DO + d, k, 0] -> W[j, i, d, k]
      const std::vector<float>& src = values.at(name);
      out.data.resize(J * I * DO * DI);
      for (uint64_t j = 0; j < J; ++j)
        for (uint64_t i = 0; i < I; ++i)
          for (uint64_t d = 0; d < DO; ++d)
            for (uint64_t k = 0; k < DI; ++k)
              out.data[((j * I + i) * DO + d) * DI + k] = src[(i * J * DO + j * DO + d) * DI + k];
    } else if (name == "digitcaps.weight" && c.layout == Layout::GramAI) {
      // route_weights[j, i, k, d] -> W[j, i, d, k]
      const std::vector<float>& src = values.at("digit_capsules.route_weights");
      out.data.resize(J * I * DO * DI);
      for (uint64_t ji = 0; ji < J * I; ++ji)
        for (uint64_t d = 0; d < DO; ++d)
          for (uint64_t k = 0; k < DI; ++k) out.data[(ji * DO + d) * DI + k] = src[(ji * DI + k) * DO + d];
    } else if (name.rfind("primarycaps.conv2d.", 0) == 0 && c.layout == Layout::GramAI) {
      // The D per-component convs, stacked: channel k*G + g is conv k's channel g, which is
      // exactly what the per-dim-conv grouping reads.
      const std::string suffix = name.substr(std::string("primarycaps.conv2d").size());
      for (uint64_t k = 0; k < DI; ++k) {
        const auto& part = values.at("primary_capsules.capsules." + std::to_string(k) + suffix);
        out.data.insert(out.data.end(), part.begin(), part.end());
      }
    } else {
      throw ArchError("internal: no source for " + name);
    }
  }
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
