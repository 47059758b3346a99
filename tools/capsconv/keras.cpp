#include "keras.hpp"

#include <algorithm>
#include <cstring>
#include <initializer_list>

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

// An integer attribute ("filters": 32, "kernel_size" as 3 or [3, 3] where both axes must agree).
uint32_t uint_attr(const json& layer, const json& cfg, const char* key, uint32_t lo, uint32_t hi) {
  uint32_t a = 0, b = 0;
  if (!cfg.contains(key)) refuse(layer, std::string("no \"") + key + "\"");
  if (!json_size_pair(cfg[key], lo, hi, &a, &b) || a != b)
    refuse(layer, std::string("\"") + key + "\" must be an integer in [" + std::to_string(lo) + ", " + std::to_string(hi) +
                      "], not " + cfg[key].dump().substr(0, 40));
  return a;
}

std::string string_attr(const json& cfg, const char* key, const std::string& fallback) {
  return cfg.contains(key) && cfg[key].is_string() ? cfg[key].get<std::string>() : fallback;
}

// The weight `last` ("kernel", "bias", or with ":0") of the layer group `group`, and inside it
// of the nested layer `inner` when given (a nested model's layer: "decoder/dense_1/kernel:0").
const RawTensor* weight(const Checkpoint& ck, const std::string& group, const std::string& last,
                        const std::string& inner = "") {
  const RawTensor* found = nullptr;
  for (const RawTensor& t : ck.tensors) {
    if (t.name.rfind(group + "/", 0) != 0) continue;
    const size_t slash = t.name.find_last_of('/');
    const std::string tail = t.name.substr(slash + 1);
    if (tail != last && tail != last + ":0") continue;
    if (!inner.empty()) {
      const std::string path = t.name.substr(0, slash);
      const size_t cut = path.find_last_of('/');
      if (path.substr(cut + 1) != inner) continue;
    }
    if (found != nullptr)
      throw ArchError("Keras layer '" + group + (inner.empty() ? "" : "/" + inner) + "' has two weights named " + last);
    found = &t;
  }
  return found;
}

// The names of the layers a layer reads (its first call's), from inbound_nodes.
std::vector<std::string> inputs_of(const json& layer) {
  std::vector<std::string> out;
  if (!layer.contains("inbound_nodes") || !layer["inbound_nodes"].is_array() || layer["inbound_nodes"].empty())
    return out;
  const json& node = layer["inbound_nodes"][0];
  if (!node.is_array()) return out;
  for (const json& in : node)
    if (in.is_array() && !in.empty() && in[0].is_string()) out.push_back(in[0].get<std::string>());
  return out;
}

RawTensor renamed(const RawTensor& t, const std::string& name) {
  RawTensor r = t;
  r.file_name = t.name;
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

// The capsule layers are custom code, which the file does not hold: an attribute capsconv does not
// know may change what they compute, so it is refused by name. Besides those listed: the base
// layer's (name, trainable, dtype) and initializers, regularizers and constraints (training only).
void known_attributes(const json& layer, const json& cfg, std::initializer_list<const char*> known) {
  for (auto it = cfg.begin(); it != cfg.end(); ++it) {
    const std::string& key = it.key();
    auto ends = [&](const char* tail) {
      const size_t n = std::strlen(tail);
      return key.size() > n && key.compare(key.size() - n, n, tail) == 0;
    };
    if (key == "name" || key == "trainable" || key == "dtype" || ends("_initializer") || ends("_regularizer") ||
        ends("_constraint"))
      continue;
    if (std::none_of(known.begin(), known.end(), [&](const char* k) { return key == k; })) {
      std::string list;
      for (const char* k : known) list += (list.empty() ? "" : ", ") + std::string(k);
      refuse(layer, "attribute \"" + key + "\" (" + it.value().dump().substr(0, 40) + "), which capsconv does not know for " +
                        "this layer" + (list.empty() ? "" : " (it knows " + list + ")"));
    }
  }
}

// A layer's use_bias (true unless it says false).
bool uses_bias(const json& cfg) { return !cfg.contains("use_bias") || !cfg["use_bias"].is_boolean() || cfg["use_bias"].get<bool>(); }

// The [batch, dims...] shape of an InputLayer, or of a Sequential model's first layer, when it
// has `rank` dims after the batch; false when the config gives none.
bool batch_shape(const json& layer, const json& cfg, size_t rank, std::vector<uint32_t>* dims) {
  const char* key = cfg.contains("batch_input_shape") ? "batch_input_shape" : "batch_shape";
  if (!cfg.contains(key)) return false;
  const json& shape = cfg[key];
  if (!shape.is_array() || shape.size() != rank + 1)
    refuse(layer, std::string("the input shape ") + shape.dump().substr(0, 80) + " is not [batch" +
                      (rank == 3 ? ", height, width, channels]" : ", values]"));
  dims->clear();
  for (size_t k = 1; k <= rank; ++k) {
    if (!shape[k].is_number_unsigned() || shape[k].get<uint64_t>() < 1 || shape[k].get<uint64_t>() > (1u << 24))
      refuse(layer, "input dimensions must be known and positive: " + shape.dump().substr(0, 80));
    dims->push_back(shape[k].get<uint32_t>());
  }
  return true;
}

// CapsNet-Keras's decoder: Dense layers with ReLU from the masked class capsules, the last one's
// sigmoid giving the image, then an optional Reshape to [H, W, C]. In a nested model (its
// Sequential 'decoder': weights "decoder/<dense>/kernel:0") or as the model's own layers.
class DecoderReader {
 public:
  DecoderReader(const Checkpoint& ck, tools::CapsNetSpec* s, Checkpoint* r) : ck_(ck), s_(*s), r_(*r) {}

  void layer(const json& layer, const std::string& group, const std::string& inner) {
    const std::string cls = layer["class_name"].get<std::string>();
    const json& cfg = layer["config"];
    const uint32_t image = s_.input_channels * s_.input_height * s_.input_width;
    std::vector<uint32_t> dims;
    if (cls == "InputLayer" || (cls == "Dense" && widths_.empty() && batch_shape(layer, cfg, 1, &dims))) {
      if (cls == "InputLayer" && !batch_shape(layer, cfg, 1, &dims)) refuse(layer, "no input shape [batch, values]");
      if (dims[0] != s_.classes * s_.class_dim)
        refuse(layer, "the decoder reads " + std::to_string(dims[0]) + " values, but the masked class capsules are " +
                          std::to_string(s_.classes) + " x " + std::to_string(s_.class_dim));
      if (cls == "InputLayer") return;
    }
    if (cls == "Dense") {
      if (done_) refuse(layer, "a Dense after the decoder's sigmoid output");
      const uint32_t units = uint_attr(layer, cfg, "units", 1, 1u << 20);
      const std::string act = string_attr(cfg, "activation", "linear");
      if (act == "sigmoid") {
        if (units != image)
          refuse(layer, "the decoder's sigmoid output has " + std::to_string(units) + " values, but the input image has " +
                            std::to_string(s_.input_height) + " x " + std::to_string(s_.input_width) + " x " +
                            std::to_string(s_.input_channels) + " = " + std::to_string(image));
        done_ = true;
      } else if (act != "relu") {
        refuse(layer, "activation '" + act + "' in the decoder (capsrt's decoder: ReLU layers, then a sigmoid output)");
      }
      const RawTensor* k = weight(ck_, group, "kernel", inner);
      const RawTensor* b = weight(ck_, group, "bias", inner);
      if (k == nullptr) refuse(layer, "no kernel weight in the file (under '" + group + "')");
      if (uses_bias(cfg) && b == nullptr) refuse(layer, "no bias weight in the file (under '" + group + "')");
      const std::string role = "keras.decoder." + std::to_string(widths_.size());
      r_.tensors.push_back(renamed(*k, role + ".kernel"));
      r_.tensors.push_back(uses_bias(cfg) ? renamed(*b, role + ".bias") : zero_bias(role + ".bias", units));
      widths_.push_back(units);
    } else if (cls == "Reshape") {
      if (!done_) refuse(layer, "a Reshape before the decoder's sigmoid output layer");
      if (reshaped_) refuse(layer, "a second Reshape in the decoder");
      const json& t = cfg.contains("target_shape") ? cfg["target_shape"] : json();
      const json want = {s_.input_height, s_.input_width, s_.input_channels};
      if (t != want) refuse(layer, "a Reshape to " + t.dump().substr(0, 80) + ", not the input image's " + want.dump());
      reshaped_ = true;
    } else {
      refuse(layer, "not a decoder layer capsconv knows (Dense with ReLU, a Dense with sigmoid, Reshape to the image)");
    }
  }

  // The decoder's hidden widths; ArchError when it has not reached its sigmoid output.
  std::vector<uint32_t> finish(const std::string& what) const {
    if (!done_) throw ArchError("Keras " + what + ": the decoder ends without its sigmoid output layer (Dense of " +
                                std::to_string(s_.input_channels * s_.input_height * s_.input_width) + " units)");
    if (widths_.size() < 2)
      throw ArchError("Keras " + what + ": a decoder of one Dense layer (capsrt's decoder has ReLU layers before its output)");
    return std::vector<uint32_t>(widths_.begin(), widths_.end() - 1);
  }
  bool done() const { return done_; }

 private:
  const Checkpoint& ck_;
  tools::CapsNetSpec& s_;
  Checkpoint& r_;
  std::vector<uint32_t> widths_;
  bool done_ = false, reshaped_ = false;
};

bool is_model_class(const std::string& cls) { return cls == "Functional" || cls == "Model" || cls == "Sequential"; }

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
  if (!is_model_class(kind))
    throw ArchError("Keras model_config: a model of class '" + kind + "' (capsconv reads Functional, Model and Sequential)");
  const json& layers = model["config"]["layers"];
  if (layers.size() > 256) throw ArchError("Keras model_config: more than 256 layers");

  tools::CapsNetSpec& s = out.arch.spec;
  s.name = "keras";
  s.stem.clear();
  s.decoder_hidden.clear();
  s.class_names.clear();
  Checkpoint& r = out.renamed;
  r.reader = ck.reader;
  r.notes = ck.notes;
  // The classifier is a chain (each layer reads the one before) up to the class capsules; after
  // them come the heads, each reading what it names: Length (the scores), CapsNet-Keras's Mask
  // and its decoder. Other layers there are left out, with a note.
  enum class Stage { Input, Stem, PrimarySquash, Caps, Heads } stage = Stage::Input;
  uint32_t C = 0, H = 0, W = 0;  // the current tensor: channels, rows, columns
  std::string prev;             // the previous layer of the chain
  std::string capsule_class, caps_name, mask_name, decoder_last;
  std::vector<std::string> extra_inputs, left_out;
  bool has_length = false;
  bool conv_pending_relu = false;  // the last conv has a linear activation an Activation may follow
  bool primary_conv = false;       // the last layer is a conv a Reshape may make the primary capsules' conv
  DecoderReader decoder(ck, &s, &r);
  for (const json& layer : layers) {
    if (!layer.is_object() || !layer.contains("class_name") || !layer["class_name"].is_string() ||
        !layer.contains("config") || !layer["config"].is_object())
      throw ArchError("Keras model_config: a layer without class_name and config");
    const std::string cls = layer["class_name"].get<std::string>();
    const json& cfg = layer["config"];
    const std::string name = string_attr(cfg, "name", "");
    if (name.empty()) refuse(layer, "no name");
    // A second input: CapsNet-Keras's training model takes the true label for its Mask.
    if (cls == "InputLayer" && stage != Stage::Input) {
      extra_inputs.push_back(name);
      continue;
    }
    // What the layer reads (a Sequential model lists no inbound nodes: the layer before).
    std::vector<std::string> ins = inputs_of(layer);
    if (ins.empty() && stage != Stage::Input) ins = {prev};
    if (stage == Stage::Heads) {
      if (cls == "Length" && ins == std::vector<std::string>{caps_name}) {
        known_attributes(layer, cfg, {});
        has_length = true;
      } else if (cls == "Mask" && !ins.empty() && ins[0] == caps_name && mask_name.empty()) {
        known_attributes(layer, cfg, {});
        for (size_t k = 1; k < ins.size(); ++k)
          if (std::find(extra_inputs.begin(), extra_inputs.end(), ins[k]) == extra_inputs.end())
            refuse(layer, "a Mask whose second input '" + ins[k] + "' is not a model input (the true label)");
        if (ins.size() > 1)
          out.assumptions.push_back("the Mask '" + name + "' takes the predicted class, not its label input '" + ins[1] +
                                    "': the decoder reconstructs as CapsNet-Keras's eval_model does");
        mask_name = name;
      } else if (is_model_class(cls) && !mask_name.empty() && ins == std::vector<std::string>{mask_name} &&
                 decoder_last.empty()) {
        if (!cfg.contains("layers") || !cfg["layers"].is_array() || cfg["layers"].size() > 64)
          refuse(layer, "a nested model without its layers list");
        for (const json& inner : cfg["layers"]) {
          if (!inner.is_object() || !inner.contains("class_name") || !inner["class_name"].is_string() ||
              !inner.contains("config") || !inner["config"].is_object() || string_attr(inner["config"], "name", "").empty())
            refuse(layer, "a nested layer without class_name, config and name");
          decoder.layer(inner, name, string_attr(inner["config"], "name", ""));
        }
        decoder.finish("layer '" + name + "'");
        decoder_last = name;
      } else if (!mask_name.empty() && ins == std::vector<std::string>{decoder_last.empty() ? mask_name : decoder_last} &&
                 (cls == "Reshape" || (cls == "Dense" && !decoder.done()))) {
        // the decoder's own layers, in a chain from the Mask; DecoderReader refuses a Reshape before
        // the sigmoid output and a second one. A Dense after the output is left out (not converted).
        decoder.layer(layer, name, "");
        decoder_last = name;
      } else {
        left_out.push_back(layer_text(layer));
      }
      continue;
    }
    if (stage != Stage::Input && ins != std::vector<std::string>{prev})
      refuse(layer, "its input is not the layer before it ('" + prev + "'): capsconv converts a chain of layers, " +
                        "inbound_nodes " + layer["inbound_nodes"].dump().substr(0, 120));
    if (stage == Stage::Input) {
      std::vector<uint32_t> dims;
      if (!batch_shape(layer, cfg, 3, &dims))
        refuse(layer, cls == "InputLayer" ? "no input shape [batch, height, width, channels]"
                                          : "the model's first layer is not an InputLayer and gives no batch_input_shape");
      for (uint32_t d : dims)
        if (d > CAPS_MAX_INPUT_DIM) refuse(layer, "input dimensions must be in [1, 4096]");
      H = dims[0], W = dims[1], C = dims[2];
      s.input_height = H, s.input_width = W, s.input_channels = C;
      stage = Stage::Stem;
      if (cls == "InputLayer") {
        prev = name;
        continue;
      }
    }
    if (cls == "Conv2D" && stage == Stage::Stem) {
      const uint32_t filters = uint_attr(layer, cfg, "filters", 1, 65536);
      ConvSpec spec = conv_geometry(layer, cfg, filters, H, W);
      const std::string act = string_attr(cfg, "activation", "linear");
      if (act != "relu" && act != "linear") refuse(layer, "activation '" + act + "' (capsconv takes relu and linear)");
      const RawTensor* k = weight(ck, name, "kernel");
      if (k == nullptr) refuse(layer, "no kernel weight in the file");
      const RawTensor* b = weight(ck, name, "bias");
      if (uses_bias(cfg) && b == nullptr) refuse(layer, "no bias weight in the file");
      // A Conv2D followed by a Reshape is CapsNet-Keras's primary capsules' conv: decided there.
      spec.relu = act == "relu";
      s.stem.push_back(spec);
      const std::string role = "keras.conv" + std::to_string(s.stem.size());
      r.tensors.push_back(renamed(*k, role + ".kernel"));
      r.tensors.push_back(uses_bias(cfg) ? renamed(*b, role + ".bias") : zero_bias(role + ".bias", filters));
      conv_pending_relu = act == "linear";
      primary_conv = true;
      H = tools::conv_out_h(spec, H), W = tools::conv_out_w(spec, W), C = filters;
      if (H == 0 || W == 0) refuse(layer, "its kernel does not fit its input");
    } else if (cls == "Activation" && stage == Stage::Stem) {
      const std::string act = string_attr(cfg, "activation", "");
      if (act != "relu") refuse(layer, "activation '" + act + "' (capsconv takes relu after a conv)");
      if (!conv_pending_relu) refuse(layer, "a ReLU that does not follow a conv without one");
      s.stem.back().relu = true;
      conv_pending_relu = false;
      primary_conv = false;
    } else if (cls == "PrimaryCapsule" || cls == "PrimaryCap") {
      if (stage != Stage::Stem || s.stem.empty()) refuse(layer, "primary capsules before any conv");
      known_attributes(layer, cfg, {"num_capsule", "n_channels", "dim_capsule", "kernel_size", "strides", "padding",
                                    "data_format", "dilation_rate"});
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
    } else if (cls == "Reshape" && stage == Stage::Stem && primary_conv) {
      // CapsNet-Keras's PrimaryCap: the conv before becomes the primary capsules' conv.
      const json& target = cfg.contains("target_shape") ? cfg["target_shape"] : json();
      if (!target.is_array() || target.size() != 2 || !target[1].is_number_unsigned())
        refuse(layer, "a Reshape that is not to [-1, capsule dimension]");
      const uint32_t dim = target[1].get<uint32_t>();
      if (dim < 1 || dim > 64 || C % dim != 0) refuse(layer, "capsules of " + target[1].dump() + " from " + std::to_string(C) + " channels");
      if (s.stem.back().relu) refuse(layer, "the primary capsules' conv has a ReLU");
      s.primary = s.stem.back();
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
      known_attributes(layer, cfg, {"num_capsule", "dim_capsule", "routings"});
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
      caps_name = name;
      stage = Stage::Heads;
    } else {
      refuse(layer, stage == Stage::Caps || stage == Stage::PrimarySquash
                        ? "not a layer capsconv knows at this place (after the primary capsules: the class capsules "
                          "(Capsule, CapsuleLayer), then Length)"
                        : "not a layer capsconv knows at this place (InputLayer, Conv2D, Activation('relu'), "
                          "PrimaryCapsule or PrimaryCap, or Conv2D + Reshape + Lambda; then Capsule or CapsuleLayer, Length)");
    }
    prev = name;
  }
  if (stage != Stage::Heads || !has_length) throw ArchError("Keras model_config: no class capsules followed by Length");
  if (s.stem.empty()) throw ArchError("Keras model_config: no conv before the primary capsules");
  if (!decoder_last.empty()) {
    s.decoder_hidden = decoder.finish("layer '" + decoder_last + "'");
    out.assumptions.push_back("the decoder's image is channels-last (Keras's Reshape): its output rows are reordered "
                              "to the runtime's channels-first reconstruction");
  }
  if (!left_out.empty()) {
    std::string list;
    for (const std::string& l : left_out) list += (list.empty() ? "" : ", ") + l;
    out.assumptions.push_back("left out, as not on the path to the scores or the decoder: " + list);
  }
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

KerasWeights keras_weights_only(const Checkpoint& ck) {
  KerasWeights out;
  Checkpoint& r = out.renamed;
  r.reader = ck.reader;
  r.notes = ck.notes;
  // The layer groups in file order, each with its weights.
  std::vector<std::pair<std::string, std::vector<const RawTensor*>>> groups;
  for (const RawTensor& t : ck.tensors) {
    const std::string group = t.name.substr(0, t.name.find('/'));
    if (groups.empty() || groups.back().first != group) groups.push_back({group, {}});
    groups.back().second.push_back(&t);
  }
  // The bias in the same folder as a kernel ("conv1/conv1/bias:0", "decoder/dense_1/bias:0"):
  // weight() with the kernel's folder as the nested layer, so that a group of several layers
  // (a nested model) gives each its own.
  auto bias_beside = [&](const std::string& group, const RawTensor* kernel) {
    const std::string folder = kernel->name.substr(0, kernel->name.find_last_of('/'));
    const RawTensor* b = weight(ck, group, "bias", folder.substr(folder.find_last_of('/') + 1));
    if (b == nullptr) throw ArchError("Keras weights: " + kernel->name + " has no bias beside it");
    return b;
  };
  auto tail = [](const RawTensor* t) {
    std::string n = t->name.substr(t->name.find_last_of('/') + 1);
    return n.size() > 2 && n.compare(n.size() - 2, 2, ":0") == 0 ? n.substr(0, n.size() - 2) : n;
  };
  std::vector<std::pair<std::string, const RawTensor*>> convs;  // (group, kernel)
  std::vector<const RawTensor*> biases;
  const RawTensor* caps = nullptr;
  std::vector<std::pair<const RawTensor*, const RawTensor*>> decoder;  // (kernel, bias)
  for (const auto& [group, ts] : groups) {
    for (const RawTensor* t : ts) {
      const std::string n = tail(t);
      if (n == "kernel" && t->shape.size() == 4) {
        if (caps != nullptr)
          throw ArchError("Keras weights: the conv kernel " + t->name + " comes after the class capsules' " + caps->name);
        convs.push_back({group, t});
        biases.push_back(bias_beside(group, t));
      } else if (n == "kernel" && t->shape.size() == 2) {
        if (caps == nullptr) throw ArchError("Keras weights: the Dense kernel " + t->name + " comes before the class capsules");
        decoder.push_back({t, bias_beside(group, t)});
      } else if (t->shape.size() == 4 && n != "kernel" && caps == nullptr) {
        caps = t;
      } else if (n != "bias") {
        throw ArchError("Keras weights: " + t->name + " " + shape_string(t->shape) +
                        " is not a conv kernel, the class capsules' transform or a Dense kernel");
      }
    }
  }
  if (convs.size() < 2)
    throw ArchError("Keras weights: " + std::to_string(convs.size()) +
                    " conv kernel(s) of rank 4; CapsNet-Keras's have conv1 and primarycap_conv2d");
  if (caps == nullptr) throw ArchError("Keras weights: no class capsules' transform (CapsNet-Keras's digitcaps W of rank 4)");
  for (size_t n = 0; n < convs.size(); ++n) {
    const bool primary = n + 1 == convs.size();
    const std::string role = primary ? "keras.primary" : "keras.conv" + std::to_string(n + 1);
    r.tensors.push_back(renamed(*convs[n].second, role + ".kernel"));
    r.tensors.push_back(renamed(*biases[n], role + ".bias"));
    out.taken.push_back(convs[n].second->name + (primary ? " -> the primary capsules' conv" : " -> stem conv " + std::to_string(n + 1)));
  }
  r.tensors.push_back(renamed(*caps, "keras.caps.W"));
  out.taken.push_back(caps->name + " -> the class capsules' transform [J, I, DO, DI]");
  for (size_t k = 0; k < decoder.size(); ++k) {
    const std::string role = "keras.decoder." + std::to_string(k);
    r.tensors.push_back(renamed(*decoder[k].first, role + ".kernel"));
    r.tensors.push_back(renamed(*decoder[k].second, role + ".bias"));
    out.taken.push_back(decoder[k].first->name + " -> decoder layer " + std::to_string(k + 1));
  }
  return out;
}

}  // namespace conv
}  // namespace capsrt
