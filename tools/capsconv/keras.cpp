#include "keras.hpp"

#include <nlohmann/json.hpp>

#include "infer.hpp"

namespace capsrt {
namespace conv {

using nlohmann::json;
using tools::ConvSpec;

namespace {

std::string layer_text(const json& layer) {
  const std::string cls = layer.contains("class_name") && layer["class_name"].is_string()
                              ? layer["class_name"].get<std::string>() : "?";
  const json& cfg = layer.contains("config") ? layer["config"] : json::object();
  const std::string name = cfg.is_object() && cfg.contains("name") && cfg["name"].is_string()
                               ? cfg["name"].get<std::string>() : "?";
  return "layer '" + name + "' (" + cls + ")";
}

[[noreturn]] void refuse(const json& layer, const std::string& what) { throw ArchError("Keras " + layer_text(layer) + ": " + what); }

// An integer attribute, or the first of a list of equal integers ("kernel_size": 3 or [3, 3]).
void pair_attr(const json& layer, const json& cfg, const char* key, uint32_t lo, uint32_t hi, uint32_t* a, uint32_t* b) {
  if (!cfg.contains(key)) refuse(layer, std::string("no \"") + key + "\"");
  if (!json_size_pair(cfg[key], lo, hi, a, b))
    refuse(layer, std::string("\"") + key + "\" must be an integer in [" + std::to_string(lo) + ", " + std::to_string(hi) +
                      "] or two of them");
}

uint32_t uint_attr(const json& layer, const json& cfg, const char* key, uint32_t lo, uint32_t hi) {
  uint32_t a = 0, b = 0;
  pair_attr(layer, cfg, key, lo, hi, &a, &b);
  if (a != b) refuse(layer, std::string("\"") + key + "\" must be one number");
  return a;
}

std::string string_attr(const json& cfg, const char* key, const std::string& fallback) {
  return cfg.contains(key) && cfg[key].is_string() ? cfg[key].get<std::string>() : fallback;
}

// The weights of layer `name` (its tensors "<name>/...:0"), found by their last component.
const RawTensor* weight(const Checkpoint& ck, const std::string& name, const std::string& last) {
  const RawTensor* found = nullptr;
  for (const RawTensor& t : ck.tensors) {
    if (t.name.rfind(name + "/", 0) != 0) continue;
    const std::string tail = t.name.substr(t.name.find_last_of('/') + 1);
    if (tail == last || tail == last + ":0") {
      if (found != nullptr) throw ArchError("Keras layer '" + name + "' has two weights named " + last);
      found = &t;
    }
  }
  return found;
}

RawTensor renamed(const RawTensor& t, const std::string& name) {
  RawTensor r = t;
  r.name = name;
  return r;
}

// A bias of zeros, for a layer built with use_bias=False.
RawTensor zero_bias(const std::string& name, uint32_t n) {
  RawTensor t;
  t.name = name;
  t.dtype = "float32";
  t.element_size = 4;
  t.shape = {n};
  t.stride = {1};
  auto bytes = std::make_shared<std::vector<uint8_t>>(size_t{n} * 4, 0);
  t.bytes = bytes;
  t.region_size = bytes->size();
  return t;
}

// A conv's geometry from its attributes; padding resolved on the input rows x columns.
ConvSpec conv_geometry(const json& layer, const json& cfg, uint32_t channels, uint32_t in_h, uint32_t in_w) {
  ConvSpec c;
  c.channels = channels;
  pair_attr(layer, cfg, "kernel_size", 1, 64, &c.kernel_h, &c.kernel_w);
  if (cfg.contains("strides")) pair_attr(layer, cfg, "strides", 1, 64, &c.stride_h, &c.stride_w);
  const std::string padding = string_attr(cfg, "padding", "valid");
  if (padding == "same") {
    tools::set_same_padding(&c, in_h, in_w);
  } else if (padding != "valid") {
    refuse(layer, "padding '" + padding + "' (capsconv takes 'valid' and 'same')");
  }
  if (cfg.contains("dilation_rate")) {
    uint32_t dh = 1, dw = 1;
    pair_attr(layer, cfg, "dilation_rate", 1, 64, &dh, &dw);
    if (dh != 1 || dw != 1) refuse(layer, "a dilated convolution (dilation_rate " + cfg["dilation_rate"].dump() + ")");
  }
  if (string_attr(cfg, "data_format", "channels_last") != "channels_last")
    refuse(layer, "data_format '" + string_attr(cfg, "data_format", "") + "' (capsconv takes channels_last)");
  if (cfg.contains("groups") && !(cfg["groups"].is_number_unsigned() && cfg["groups"].get<uint64_t>() == 1))
    refuse(layer, "a grouped convolution (groups " + cfg["groups"].dump() + ")");
  return c;
}

}  // namespace

bool is_keras_model(const Checkpoint& ck) { return !ck.model_config.empty(); }

KerasModel keras_model(const Checkpoint& ck) {
  KerasModel out;
  json model;
  try {
    model = json::parse(ck.model_config, nullptr, true, false);
  } catch (const json::exception& e) {
    throw ArchError(std::string("Keras model_config: not valid JSON: ") + e.what());
  }
  if (!model.is_object() || !model.contains("config") || !model["config"].is_object() ||
      !model["config"].contains("layers") || !model["config"]["layers"].is_array())
    throw ArchError("Keras model_config: no config.layers list (a model saved by Keras 2's model.save?)");
  const std::string kind = string_attr(model, "class_name", "?");
  if (kind != "Functional" && kind != "Model" && kind != "Sequential")
    throw ArchError("Keras model_config: a model of class '" + kind + "' (capsconv reads Functional, Model and Sequential)");
  const json& layers = model["config"]["layers"];
  if (layers.size() > 256) throw ArchError("Keras model_config: more than 256 layers");

  tools::CapsNetSpec& s = out.arch.spec;
  s.name = "keras";
  s.stem.clear();
  s.decoder_hidden.clear();
  s.class_names.clear();
  Checkpoint& r = out.renamed;
  r.format = ck.format;
  r.notes = ck.notes;
  enum class Stage { Input, Stem, PrimaryReshape, PrimarySquash, Caps, Length, Done } stage = Stage::Input;
  uint32_t C = 0, H = 0, W = 0;  // the current tensor: channels, rows, columns
  std::string prev;             // the previous layer's name: every layer must read it
  std::string capsule_class;
  bool conv_pending_relu = false;  // the last conv has a linear activation an Activation may follow
  const json* primary_conv = nullptr;  // CapsNet-Keras's primary conv: a Conv2D before a Reshape
  for (const json& layer : layers) {
    if (!layer.is_object() || !layer.contains("class_name") || !layer["class_name"].is_string() ||
        !layer.contains("config") || !layer["config"].is_object())
      throw ArchError("Keras model_config: a layer without class_name and config");
    const std::string cls = layer["class_name"].get<std::string>();
    const json& cfg = layer["config"];
    const std::string name = string_attr(cfg, "name", "");
    if (name.empty()) refuse(layer, "no name");
    // A chain: each layer reads the one before (Sequential models list no inbound nodes).
    if (stage != Stage::Input && layer.contains("inbound_nodes") && !layer["inbound_nodes"].empty()) {
      const json& in = layer["inbound_nodes"];
      const bool chained = in.size() == 1 && in[0].is_array() && in[0].size() == 1 && in[0][0].is_array() &&
                           !in[0][0].empty() && in[0][0][0].is_string() && in[0][0][0].get<std::string>() == prev;
      if (!chained && stage != Stage::Done)
        refuse(layer, "its input is not the layer before it ('" + prev + "'): capsconv converts a chain of layers, " +
                          "inbound_nodes " + in.dump().substr(0, 120));
    }
    if (stage == Stage::Done) {
      out.assumptions.push_back("the layers after the class capsules' Length (" + layer_text(layer) +
                                ", ...) are left out: the classifier ends there");
      break;
    }
    if (cls == "InputLayer") {
      if (stage != Stage::Input) refuse(layer, "a second input");
      const char* key = cfg.contains("batch_input_shape") ? "batch_input_shape" : "batch_shape";
      if (!cfg.contains(key) || !cfg[key].is_array() || cfg[key].size() != 4)
        refuse(layer, "the input shape is not [batch, height, width, channels]");
      const json& shape = cfg[key];
      for (size_t k = 1; k < 4; ++k)
        if (!shape[k].is_number_unsigned() || shape[k].get<uint64_t>() < 1 || shape[k].get<uint64_t>() > CAPS_MAX_INPUT_DIM)
          refuse(layer, "input dimensions must be known and in [1, 4096]: " + shape.dump());
      H = shape[1].get<uint32_t>(), W = shape[2].get<uint32_t>(), C = shape[3].get<uint32_t>();
      s.input_height = H, s.input_width = W, s.input_channels = C;
      stage = Stage::Stem;
    } else if (cls == "Conv2D" && stage == Stage::Stem) {
      const uint32_t filters = uint_attr(layer, cfg, "filters", 1, 65536);
      const ConvSpec c = conv_geometry(layer, cfg, filters, H, W);
      const std::string act = string_attr(cfg, "activation", "linear");
      if (act != "relu" && act != "linear") refuse(layer, "activation '" + act + "' (capsconv takes relu and linear)");
      const RawTensor* k = weight(ck, name, "kernel");
      if (k == nullptr) refuse(layer, "no kernel weight in the file");
      const RawTensor* b = weight(ck, name, "bias");
      const bool use_bias = !cfg.contains("use_bias") || !cfg["use_bias"].is_boolean() || cfg["use_bias"].get<bool>();
      if (use_bias && b == nullptr) refuse(layer, "no bias weight in the file");
      primary_conv = nullptr;
      // A Conv2D followed by a Reshape is CapsNet-Keras's primary capsules' conv: decided below.
      ConvSpec spec = c;
      spec.relu = act == "relu";
      const size_t n = s.stem.size();
      s.stem.push_back(spec);
      const std::string role = "keras.conv" + std::to_string(n + 1);
      r.tensors.push_back(renamed(*k, role + ".kernel"));
      r.tensors.push_back(use_bias ? renamed(*b, role + ".bias") : zero_bias(role + ".bias", filters));
      conv_pending_relu = act == "linear";
      primary_conv = &layer;
      H = tools::conv_out_h(spec, H), W = tools::conv_out_w(spec, W), C = filters;
      if (H == 0 || W == 0) refuse(layer, "its kernel does not fit its input");
    } else if (cls == "Activation" && stage == Stage::Stem) {
      const std::string act = string_attr(cfg, "activation", "");
      if (act != "relu") refuse(layer, "activation '" + act + "' (capsconv takes relu after a conv)");
      if (!conv_pending_relu) refuse(layer, "a ReLU that does not follow a conv without one");
      s.stem.back().relu = true;
      conv_pending_relu = false;
      primary_conv = nullptr;
    } else if (cls == "PrimaryCapsule" || cls == "PrimaryCap") {
      if (stage != Stage::Stem || s.stem.empty()) refuse(layer, "primary capsules before any conv");
      const uint32_t dim = uint_attr(layer, cfg, "dim_capsule", 1, 64);
      const uint32_t types = uint_attr(layer, cfg, cls == "PrimaryCap" ? "n_channels" : "num_capsule", 1, 65536);
      s.primary = conv_geometry(layer, cfg, types * dim, H, W);
      s.primary.relu = false;
      s.primary_dim = dim;
      const RawTensor* k = weight(ck, name, "kernel");
      const RawTensor* b = weight(ck, name, "bias");
      if (k == nullptr || b == nullptr) refuse(layer, "no kernel and bias of its conv in the file");
      r.tensors.push_back(renamed(*k, "keras.primary.kernel"));
      r.tensors.push_back(renamed(*b, "keras.primary.bias"));
      H = tools::conv_out_h(s.primary, H), W = tools::conv_out_w(s.primary, W), C = types * dim;
      if (H == 0 || W == 0) refuse(layer, "its kernel does not fit its input");
      stage = Stage::Caps;
    } else if (cls == "Reshape" && stage == Stage::Stem && primary_conv != nullptr) {
      // CapsNet-Keras's PrimaryCap: the conv before becomes the primary capsules' conv.
      const json& target = cfg.contains("target_shape") ? cfg["target_shape"] : json();
      if (!target.is_array() || target.size() != 2 || !target[1].is_number_unsigned())
        refuse(layer, "a Reshape that is not to [-1, capsule dimension]");
      const uint32_t dim = target[1].get<uint32_t>();
      if (dim < 1 || dim > 64 || C % dim != 0) refuse(layer, "capsules of " + target[1].dump() + " from " + std::to_string(C) + " channels");
      s.primary = s.stem.back();
      s.primary.relu = false;
      if (s.stem.back().relu) refuse(layer, "the primary capsules' conv has a ReLU");
      s.stem.pop_back();
      s.primary_dim = dim;
      const std::string role = "keras.conv" + std::to_string(s.stem.size() + 1);
      for (RawTensor& t : r.tensors) {
        if (t.name == role + ".kernel") t.name = "keras.primary.kernel";
        if (t.name == role + ".bias") t.name = "keras.primary.bias";
      }
      if (s.stem.empty()) refuse(layer, "primary capsules with no conv before them");
      stage = Stage::PrimarySquash;
    } else if (cls == "Lambda" && stage == Stage::PrimarySquash) {
      out.assumptions.push_back("the Lambda '" + name + "' after the primary capsules' Reshape is CapsNet-Keras's squash "
                                "(its Python code is not in the file)");
      stage = Stage::Caps;
    } else if ((cls == "Capsule" || cls == "CapsuleLayer") && stage == Stage::Caps) {
      const uint32_t J = uint_attr(layer, cfg, "num_capsule", 1, CAPS_MAX_CLASSES);
      const uint32_t DO = uint_attr(layer, cfg, "dim_capsule", 1, 64);
      s.routings = uint_attr(layer, cfg, "routings", 1, CAPS_MAX_ROUTING_ITERATIONS);
      s.classes = J, s.class_dim = DO;
      const RawTensor* w = nullptr;
      for (const RawTensor& t : ck.tensors)
        if (t.name.rfind(name + "/", 0) == 0) {
          if (w != nullptr) refuse(layer, "more than one weight (the capsule transform is its only one)");
          w = &t;
        }
      if (w == nullptr) refuse(layer, "no capsule transform weight in the file");
      r.tensors.push_back(renamed(*w, "keras.caps.W"));
      capsule_class = cls;
      stage = Stage::Length;
    } else if (cls == "Length" && stage == Stage::Length) {
      stage = Stage::Done;
    } else {
      refuse(layer, stage == Stage::Caps || stage == Stage::Length || stage == Stage::PrimarySquash
                        ? "not a layer capsconv knows at this place (after the primary capsules: the class capsules "
                          "(Capsule, CapsuleLayer), then Length)"
                        : "not a layer capsconv knows at this place (InputLayer, Conv2D, Activation('relu'), "
                          "PrimaryCapsule or PrimaryCap, or Conv2D + Reshape + Lambda; then Capsule or CapsuleLayer, Length)");
    }
    prev = name;
  }
  if (stage != Stage::Done) throw ArchError("Keras model_config: no class capsules followed by Length");
  if (s.stem.empty()) throw ArchError("Keras model_config: no conv before the primary capsules");
  // The variant of the capsule layers' code.
  if (capsule_class == "Capsule") {  // Q7-CapsNets: squash |s| / (1 + |s|^2) s, length without eps
    out.arch.squash_eps_mode = CAPS_SQUASH_EPS_IN_SQRT;
    out.arch.squash_eps = 0.0f;
    out.arch.length_eps = 0.0f;
    out.assumptions.push_back("the Capsule layer is Q7-CapsNets': squash |s|/(1+|s|^2) s, no epsilon; length without "
                              "epsilon; routing softmax over the classes");
  } else {
    out.assumptions.push_back("the CapsuleLayer is CapsNet-Keras's: squash s |s|^2/(1+|s|^2)/sqrt(|s|^2 + 1e-7); "
                              "length sqrt(|v|^2 + 1e-7); routing softmax over the classes");
  }
  out.arch.grouping = CAPS_GROUPING_NHWC_CHANNELS;
  s.input_scale = 1.0f / 255.0f;
  s.input_offset = 0.0f;
  out.assumptions.push_back("pixels scaled by 1/255 (Keras files do not record it; CapsNet-Keras and Q7-CapsNets train "
                            "so: --pixel-scale and --pixel-offset to change)");
  out.assumptions.push_back("capsules grouped from the channels-last conv output (Keras's Reshape)");
  finish_derived(&s, "Keras model", &out.assumptions);
  return out;
}

}  // namespace conv
}  // namespace capsrt
