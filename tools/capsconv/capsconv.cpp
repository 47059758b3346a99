// capsconv: converts a trained CapsNet checkpoint (PyTorch state_dict as torch.save zip or
// legacy file, or safetensors) into a validated capsrt model file and/or a C array for firmware.
// Exit status: 0 done, 2 unreadable or malformed checkpoint, 3 architecture or tensor mismatch,
// 4 output cannot be written, 1 anything else; CLI11's own codes for bad command lines.
#include <CLI/CLI.hpp>
#include <algorithm>
#include <cctype>
#include <cmath>
#include <iomanip>
#include <optional>
#include <iostream>
#include <sstream>

#include "capsnet_int8.hpp"
#include "convert.hpp"
#include "em.hpp"
#include "idx.hpp"
#include "infer.hpp"
#include "keras.hpp"
#include "npy.hpp"
#include "io.hpp"

using namespace capsrt;

namespace {

const char* grouping_name(caps_grouping g) {
  switch (g) {
    case CAPS_GROUPING_NCHW_VIEW: return "nchw_view (PyTorch view on NCHW)";
    case CAPS_GROUPING_NHWC_CHANNELS: return "nhwc_channels (Keras reshape)";
    case CAPS_GROUPING_PER_DIM_CONV: return "per_dim_conv (one conv per capsule component)";
  }
  return "?";
}

std::string symbol_from(const std::string& path) {
  std::string stem = path.substr(path.find_last_of('/') + 1);
  stem = stem.substr(0, stem.find('.'));
  std::string s;
  for (char ch : stem) s += std::isalnum(static_cast<unsigned char>(ch)) ? ch : '_';
  if (s.empty() || std::isdigit(static_cast<unsigned char>(s[0]))) s = "model_" + s;
  return s;
}

}  // namespace

namespace {

// The outputs every conversion writes: the model file and the C array. 0, or 4 when one cannot be
// written.
int write_outputs(const std::string& output, const std::string& emit_c, const std::string& c_name,
                  const std::vector<uint8_t>& model, uint32_t arena_size, const std::string& provenance,
                  std::ostream& log) {
  try {
    if (!output.empty()) {
      tools::write_file(output, model);
      log << "wrote " << output << ": " << model.size() << " bytes, arena " << arena_size << " bytes\n";
    }
    if (!emit_c.empty()) {
      const std::string sym = c_name.empty() ? symbol_from(output.empty() ? emit_c : output) : c_name;
      conv::emit_c(emit_c, sym, model, arena_size, provenance);
      log << "wrote C array '" << sym << "' to " << emit_c << " (.c and .h)\n";
    }
  } catch (const std::exception& e) {
    std::cerr << "capsconv: " << e.what() << '\n';
    return 4;
  }
  return 0;
}

// A yl-1993 EM checkpoint (docs/em-routing.md): float only, no decoder.
int convert_em(const conv::Checkpoint& ck, const std::string& input, const conv::EmOptions& opt,
               const std::string& output, const std::string& emit_c, const std::string& c_name, bool summary,
               std::ostream& log) {
  conv::EmConversion c;
  std::vector<uint8_t> model;
  std::vector<tools::OpReport> report;
  try {
    c = conv::read_em(ck, opt);
    model = tools::build_em_capsnet(c.spec, c.weights, &report);
  } catch (const conv::ArchError& e) {
    std::cerr << "capsconv: " << e.what() << '\n';
    return 3;
  } catch (const conv::CheckpointError& e) {
    std::cerr << "capsconv: " << input << ": " << e.what() << '\n';
    return 2;
  } catch (const tools::WriterError& e) {
    std::cerr << "capsconv: " << e.what() << '\n';
    return 3;
  }
  const tools::EmSpec& s = c.spec;
  log << "layout: yl-1993 EM (detected: found conv_caps1.weights), matrix capsules with EM routing; assumed:\n";
  for (const std::string& text : c.assumptions) log << "  - " << text << '\n';
  log << "architecture: input " << s.input_channels << "x" << s.input_height << "x" << s.input_width << ", conv1 "
      << s.A << " channels, capsule types " << s.B << " -> " << s.C << " -> " << s.D << " -> " << s.E << " classes, "
      << s.K << "x" << s.K << " ConvCaps, " << s.iterations << " EM iterations, score: the class capsules' activations\n";
  if (!c.ignored.empty()) {
    log << "ignored " << c.ignored.size() << " tensor(s) the network does not use:";
    for (const std::string& n : c.ignored) log << ' ' << n << ';';
    log << '\n';
  }
  const uint32_t arena = tools::written_arena_size(model);
  if (const int st = write_outputs(output, emit_c, c_name, model, arena, "capsconv " + input + ", layout yl-1993 EM",
                                   log))
    return st;
  if (summary) {
    const tools::VerifiedModel loaded = tools::load_verified(model);
    tools::print_summary(std::cout, report, loaded.model);
    std::cout << "(the EM layers route one output position at a time: their scratch is one position's votes, "
                 "couplings and sums)\n";
  }
  return 0;
}

int run(int argc, char** argv) {
  CLI::App app{"capsconv: convert a CapsNet checkpoint (PyTorch .pt/.pth/.pkl, legacy torch.save, "
               "safetensors) into a capsrt model"};
  std::string input, output, arch_name, layout_arg = "auto", emit_c, c_name, input_arg;
  int routings = 0;
  bool summary = false, quiet = false, low_memory = false, no_decoder = false;
  std::string quantize = "none", calib, preprocess_arg;
  uint32_t calib_count = 1000;
  app.add_option("checkpoint", input, "checkpoint file: a state_dict (possibly inside a wrapper dict "
                                      "with 'state_dict', 'model', ...) or safetensors")
      ->required();
  app.add_option("-o,--output", output, "model file to write (.caps)");
  app.add_option("--arch", arch_name,
                 "architecture: preset 'canonical' (Sabour et al., MNIST) or 'small', or a JSON "
                 "architecture file (docs/capsconv.md). Default: inferred from the checkpoint's tensor "
                 "shapes, with what they do not fix printed as assumptions");
  app.add_option("--input", input_arg,
                 "the input size CxHxW (e.g. 3x32x32) when inferring the architecture, where the "
                 "checkpoint does not fix it (no decoder)");
  app.add_option("--layout", layout_arg,
                 "how the checkpoint stores the network: auto (detect from names and shapes), "
                 "xifengguo, flat5d, gram-ai, yl1993-em (matrix capsules with EM routing)")
      ->check(CLI::IsMember({"auto", "xifengguo", "flat5d", "gram-ai", "keras", "yl1993-em"}))
      ->capture_default_str();
  app.add_option("--preprocess", preprocess_arg,
                 "how capsrun turns a photo into this model's input, recorded in the model: none, mnist, "
                 "fashion-mnist (default: the architecture's; the presets are mnist, a JSON file says "
                 "\"preprocess\", else none; docs/capsrun.md)")
      ->check(CLI::IsMember({"none", "mnist", "fashion-mnist"}));
  std::optional<float> pixel_scale, pixel_offset;
  app.add_option("--pixel-scale", pixel_scale,
                 "the network's input is pixel x SCALE + OFFSET (default: the architecture's; 1/255 for the "
                 "presets and Keras models, whose files do not record it)");
  app.add_option("--pixel-offset", pixel_offset, "see --pixel-scale (default 0)");
  std::string input_norm, class_names_arg;
  app.add_option("--input-norm", input_norm,
                 "the network's input is (pixel / 255 - MEAN) / STD: MEAN,STD (default for yl-1993 EM "
                 "checkpoints: MNIST's 0.1307,0.3081, which its training applied); sets --pixel-scale and --pixel-offset")
      ->excludes("--pixel-scale")
      ->excludes("--pixel-offset");
  app.add_option("--class-names", class_names_arg, "the class names, comma-separated (default: the architecture's, "
                                                   "else 0, 1, ...)");
  app.add_option("--routings", routings, "routing iterations (default: the architecture's)")
      ->check(CLI::Range(1, static_cast<int>(CAPS_MAX_ROUTING_ITERATIONS)));
  app.add_option("--emit-c", emit_c,
                 "also write FILE.c and FILE.h with the model as a const 64-byte aligned array, its "
                 "size and arena size as macros (for firmware)");
  app.add_option("--c-name", c_name, "symbol of the C array (default: from the file name)");
  app.add_flag("--summary", summary,
               "print a table: layer, output shape, parameters, multiply-adds, weight bytes, "
               "scratch; totals; arena bytes");
  app.add_option("--quantize", quantize,
                 "numeric path of the model: none (float32) or int8 (post-training quantisation, "
                 "docs/fixed-point.md; needs --calib)")
      ->check(CLI::IsMember({"none", "int8"}))
      ->capture_default_str();
  app.add_option("--calib", calib,
                 "IDX image file (raw or .gz), or a uint8 .npy stack (N, C, H, W) for any channel count, "
                 "whose first images calibrate the int8 activation ranges: training images, not the test set");
  app.add_option("--calib-count", calib_count, "calibration images to use")
      ->check(CLI::Range(1u, 1000000u))
      ->capture_default_str();
  app.add_flag("--low-memory-routing", low_memory,
               "recompute the routing predictions instead of storing them (a much smaller arena, "
               "some more time); float and int8 models");
  app.add_flag("--no-decoder", no_decoder,
               "write the classifier only: no decoder ops or weights (classification never reads "
               "them; the reconstruction then answers unsupported). The checkpoint's decoder is still "
               "checked, and --summary gives both sizes");
  app.add_flag("-q,--quiet", quiet, "print nothing but errors (and the summary if asked)");
  app.footer(
      "Exit status: 0 converted; 2 unreadable or malformed checkpoint; 3 architecture or tensor "
      "mismatch; 4 cannot write the output; 1 other errors.");
  CLI11_PARSE(app, argc, argv);
  if (output.empty() && emit_c.empty() && !summary) {
    std::cerr << "capsconv: nothing to do: give -o MODEL, --emit-c FILE or --summary\n";
    return 1;
  }
  if (quantize == "int8" && calib.empty()) {
    std::cerr << "capsconv: --quantize int8 needs --calib IDX_IMAGES (training images to "
                 "calibrate the activation ranges)\n";
    return 1;
  }
  if (quantize == "none" && !calib.empty()) {
    std::cerr << "capsconv: --calib applies to --quantize int8\n";
    return 1;
  }

  std::ostringstream discard;
  std::ostream& log = quiet ? static_cast<std::ostream&>(discard) : std::cout;
  std::vector<std::string> class_names;
  if (!class_names_arg.empty()) {
    std::string name;
    for (std::istringstream in(class_names_arg); std::getline(in, name, ',');) class_names.push_back(name);
  }
  std::optional<std::pair<float, float>> norm;
  try {
    if (!input_norm.empty()) norm = conv::parse_input_norm(input_norm);
  } catch (const conv::ArchError& e) {
    std::cerr << "capsconv: " << e.what() << '\n';
    return 1;
  }
  const bool pixel_given = pixel_scale.has_value() || pixel_offset.has_value();  // (not by --input-norm)
  if (norm) {
    pixel_scale = 1.0f / (255.0f * norm->second);
    pixel_offset = -norm->first / norm->second;
  }
  conv::Checkpoint ck;
  try {
    ck = conv::read_checkpoint(input);
  } catch (const conv::CheckpointError& e) {
    std::cerr << "capsconv: " << e.what() << '\n';
    return 2;
  }
  log << "read " << input << ": " << ck.reader->format << ", " << ck.tensors.size() << " tensors";
  for (const std::string& n : ck.notes) log << ", " << n;
  log << '\n';

  if (layout_arg == "yl1993-em" || (layout_arg == "auto" && arch_name.empty() && conv::is_em_checkpoint(ck))) {
    if (!arch_name.empty() || quantize != "none" || low_memory || no_decoder || pixel_given) {
      std::cerr << "capsconv: a yl-1993 EM checkpoint converts to a float model whose architecture comes from the "
                   "checkpoint: --arch, --quantize, --low-memory-routing, --no-decoder and --pixel-scale do not apply "
                   "(--input-norm sets its input scaling)\n";
      return 1;
    }
    conv::EmOptions opt;
    opt.norm = norm;
    opt.iterations = routings;
    opt.class_names = class_names;
    try {
      if (!input_arg.empty()) opt.input = conv::parse_input_size(input_arg);
    } catch (const conv::ArchError& e) {
      std::cerr << "capsconv: " << e.what() << '\n';
      return 1;
    }
    if (!preprocess_arg.empty()) {
      caps_input_preprocess rule;
      tools::parse_preprocess(preprocess_arg, &rule);
      opt.preprocess = rule;
    }
    return convert_em(ck, input, opt, output, emit_c, c_name, summary, log);
  }

  conv::Conversion c;
  std::optional<tools::Calibration> alt_cal;  // an int8 conversion's, for the summary
  std::optional<tools::Calibration> int8_cal;
  try {
    conv::Architecture a;
    std::string layout_choice = layout_arg;
    if (!arch_name.empty() && !input_arg.empty()) {
      std::cerr << "capsconv: --input applies when the architecture is inferred; " << arch_name << " gives the input size\n";
      return 1;
    }
    if (conv::is_keras_model(ck)) {
      if (!arch_name.empty() || !input_arg.empty()) {
        std::cerr << "capsconv: " << input << " is a full Keras model, which carries its architecture: leave out "
                  << (arch_name.empty() ? "--input" : "--arch") << '\n';
        return 1;
      }
      conv::KerasModel km = conv::keras_model(ck);
      a = km.arch;
      ck = std::move(km.renamed);
      layout_choice = "keras";
      log << "architecture from the Keras model's layers; assumed:\n";
      for (const std::string& text : km.assumptions) log << "  - " << text << '\n';
    } else if (ck.reader == &conv::kKerasH5Reader) {
      // Weights only (save_weights): no layers in the file, so the architecture comes from --arch.
      if (arch_name.empty()) {
        std::cerr << "capsconv: " << input << " holds Keras weights only (save_weights), not the model's layers: "
                  << "give its architecture with --arch (a preset, e.g. canonical for CapsNet-Keras's MNIST net, "
                  << "or an architecture file)\n";
        return 3;
      }
      conv::KerasWeights kw = conv::keras_weights_only(ck);
      ck = std::move(kw.renamed);
      layout_choice = "keras";
      a = conv::load_architecture(arch_name);
      log << "Keras weights taken by their ranks and order in the file:\n";
      for (const std::string& text : kw.taken) log << "  - " << text << '\n';
      log << "assumed: CapsNet-Keras's layers (squash s |s|^2/(1+|s|^2)/sqrt(|s|^2 + 1e-7), capsules grouped from the "
             "channels-last conv output, a channels-last decoder image); pixels scaled as " << arch_name << " says\n";
    } else if (arch_name.empty()) {
      const conv::Inferred inferred =
          conv::infer_architecture(ck, conv::parse_layout(layout_arg),
                                   input_arg.empty() ? conv::InputSize{} : conv::parse_input_size(input_arg));
      a = inferred.arch;
      log << "architecture inferred from the tensor shapes (--arch to give it); assumed:\n";
      for (const std::string& text : inferred.assumptions) log << "  - " << text << '\n';
    } else {
      a = conv::load_architecture(arch_name);
    }
    a.spec.low_memory_routing = low_memory;
    if (!class_names.empty()) {
      if (class_names.size() != a.spec.classes)
        throw conv::ArchError("--class-names gives " + std::to_string(class_names.size()) + " names for " +
                              std::to_string(a.spec.classes) + " classes");
      a.spec.class_names = class_names;
    }
    if (!preprocess_arg.empty()) conv::set_preprocess(&a.spec, preprocess_arg, "--preprocess");
    if (pixel_scale) {
      if (!(*pixel_scale > 0.0f) || !std::isfinite(*pixel_scale)) {
        std::cerr << "capsconv: --pixel-scale must be positive\n";
        return 1;
      }
      a.spec.input_scale = *pixel_scale;
    }
    if (pixel_offset) a.spec.input_offset = *pixel_offset;
    c = conv::convert(ck, a, conv::parse_layout(layout_choice), routings);
  } catch (const conv::ArchError& e) {
    std::cerr << "capsconv: " << e.what() << '\n';
    return 3;
  } catch (const conv::CheckpointError& e) {
    std::cerr << "capsconv: " << input << ": " << e.what() << '\n';
    return 2;
  }
  const tools::CapsNetSpec& s = c.spec;
  log << "layout: " << conv::layout_name(c.layout)
      << (c.layout_reason.empty() ? " (as given)" : " (detected: " + c.layout_reason + ")") << '\n';
  log << "architecture: " << s.name << ", input " << s.input_channels << "x" << s.input_height << "x"
      << s.input_width << ", " << tools::primary_capsules(s) << " primary capsules x " << s.primary_dim
      << "D -> " << s.classes << " classes x " << s.class_dim << "D, " << s.routings << " routing iterations"
      << (s.decoder_hidden.empty() ? ", no decoder" : ", with decoder") << '\n';
  log << "variant: grouping " << grouping_name(s.grouping) << "; routing softmax over "
      << (s.softmax_axis == CAPS_SOFTMAX_OVER_OUTPUTS ? "output" : "input") << " capsules; squash eps "
      << s.squash_eps << (s.squash_eps_mode == CAPS_SQUASH_EPS_IN_SQRT ? " inside the root" : " added to the norm")
      << "; score " << (s.score_kind == CAPS_SCORE_LENGTH ? "length" : "softmax of lengths")
      << "; photos preprocessed by the " << tools::preprocess_name(s.preprocess) << " rule\n";
  if (!c.ignored.empty()) {
    log << "ignored " << c.ignored.size() << " tensor(s) the network does not use:";
    for (const std::string& n : c.ignored) log << ' ' << n << ';';
    log << '\n';
  }
  if (quantize == "int8") {
    // The calibration images: an IDX file (1-channel networks), or a uint8 .npy stack (N, C, H, W)
    // of any channel count.
    tools::IdxImages images;
    try {
      if (calib.size() > 4 && calib.compare(calib.size() - 4, 4, ".npy") == 0) {
        const tools::NpyArray arr = tools::read_npy(calib);
        const std::vector<uint64_t> want = {s.input_channels, s.input_height, s.input_width};
        if (arr.dtype != tools::NpyArray::DType::U8 || arr.shape.size() != 4 ||
            !std::equal(want.begin(), want.end(), arr.shape.begin() + 1)) {
          std::cerr << "capsconv: " << calib << ": " << tools::npy_describe(arr) << "; calibration takes uint8 pixels (N, "
                    << s.input_channels << ", " << s.input_height << ", " << s.input_width << ")\n";
          return 3;
        }
        images.count = static_cast<uint32_t>(std::min<uint64_t>(arr.shape[0], UINT32_MAX));
        images.rows = s.input_height;
        images.cols = s.input_width;
        images.loaded = std::min<uint64_t>(arr.shape[0], calib_count);
        const size_t per = static_cast<size_t>(s.input_channels) * s.input_height * s.input_width;
        images.pixels.assign(arr.u8.begin(), arr.u8.begin() + static_cast<std::ptrdiff_t>(images.loaded * per));
      } else {
        images = tools::read_idx_images(calib, 0, calib_count);
        if (images.rows != s.input_height || images.cols != s.input_width || s.input_channels != 1) {
          std::cerr << "capsconv: " << calib << ": " << images.rows << "x" << images.cols
                    << " images, the network takes " << s.input_channels << "x" << s.input_height << "x"
                    << s.input_width << (s.input_channels != 1 ? " (give a uint8 .npy stack (N, C, H, W))" : "") << '\n';
          return 3;
        }
      }
    } catch (const std::exception& e) {
      std::cerr << "capsconv: " << e.what() << '\n';
      return 2;
    }
    const uint32_t n = static_cast<uint32_t>(images.loaded);
    log << "calibrating on " << n << " images of " << calib << '\n';
    tools::Calibration cal;
    const bool bar = !quiet;
    cal = tools::calibrate_capsnet(s, c.weights, images.pixels.data(), n, [&](uint32_t done, uint32_t all) {
      if (bar && (done == all || done % 20 == 0)) tools::progress_bar(std::cerr, "calibrating", done, all);
    });
    log << "ranges: stem";
    for (size_t k = 0; k < cal.stem.size(); ++k) log << " " << tools::stem_name(k) << " " << cal.stem[k];
    log << ", primary conv " << cal.primary << ", routing s "
        << cal.routing << ", predictions up to "
        << *std::max_element(cal.predictions.begin(), cal.predictions.end()) << '\n';
    std::vector<std::string> notes;
    try {
      c.model = tools::build_capsnet_int8(s, c.weights, cal, &c.report, &notes);
    } catch (const tools::WriterError& e) {
      std::cerr << "capsconv: int8: " << e.what() << '\n';
      return 3;
    }
    for (const std::string& note : notes) log << "note: " << note << '\n';
    if (summary) alt_cal = cal;
    int8_cal = cal;
    c.arena_size = tools::written_arena_size(c.model);
    log << "quantised to int8" << (low_memory ? " with low-memory routing" : "") << '\n';
  }
  size_t with_decoder_bytes = 0;  // --no-decoder: the model's size with its decoder
  if (no_decoder && !c.spec.decoder_hidden.empty()) {
    with_decoder_bytes = c.model.size();
    tools::CapsNetSpec classifier = c.spec;
    classifier.decoder_hidden.clear();
    for (auto it = c.weights.begin(); it != c.weights.end();)
      it = it->first.rfind("decoder.", 0) == 0 ? c.weights.erase(it) : std::next(it);
    c.report.clear();
    try {
      c.model = int8_cal ? tools::build_capsnet_int8(classifier, c.weights, *int8_cal, &c.report)
                         : tools::build_capsnet(classifier, c.weights, &c.report);
    } catch (const tools::WriterError& e) {
      std::cerr << "capsconv: --no-decoder: " << e.what() << '\n';
      return 3;
    }
    c.spec = classifier;
    c.arena_size = tools::written_arena_size(c.model);
    log << "classifier only (--no-decoder): " << c.model.size() << " bytes, " << with_decoder_bytes
        << " with the decoder\n";
  }
  if (const int st = write_outputs(output, emit_c, c_name, c.model, c.arena_size,
                                   "capsconv " + input + ", layout " + conv::layout_name(c.layout) +
                                       ", architecture " + s.name,
                                   log))
    return st;
  if (summary) {
    const tools::VerifiedModel loaded = tools::load_verified(c.model);
    const Model& m = loaded.model;
    tools::print_summary(std::cout, c.report, m);
    if (with_decoder_bytes)
      std::cout << "classifier only (--no-decoder): " << c.model.size() << " bytes; with the decoder "
                << with_decoder_bytes << " bytes\n";
    // The arena both ways: the other routing variant, built only to be measured.
    tools::CapsNetSpec other = c.spec;
    other.low_memory_routing = !other.low_memory_routing;
    const std::vector<uint8_t> alt = alt_cal ? tools::build_capsnet_int8(other, c.weights, *alt_cal)
                                             : tools::build_capsnet(other, c.weights);
    const tools::VerifiedModel alt_loaded = tools::load_verified(alt);
    const Model& alt_model = alt_loaded.model;
    const Model& stored = c.spec.low_memory_routing ? alt_model : m;
    const Model& low = c.spec.low_memory_routing ? m : alt_model;
    std::cout << "\narena bytes per kernel set, by routing variant (--low-memory-routing):\n"
              << std::left << std::setw(29) << "" << std::right;
    for (uint32_t ks = CAPS_KERNELS_REFERENCE; ks < CAPS_KERNELS_COUNT; ++ks)
      std::cout << std::setw(12) << caps_kernels_name(ks);
    std::cout << '\n' << std::left << std::setw(29) << "predictions stored" << std::right;
    for (uint32_t ks = CAPS_KERNELS_REFERENCE; ks < CAPS_KERNELS_COUNT; ++ks)
      std::cout << std::setw(12) << stored.arena_size_for(ks);
    std::cout << '\n' << std::left << std::setw(29) << "low-memory routing" << std::right;
    for (uint32_t ks = CAPS_KERNELS_REFERENCE; ks < CAPS_KERNELS_COUNT; ++ks)
      std::cout << std::setw(12) << low.arena_size_for(ks);
    std::cout << '\n';
  }
  return 0;
}
}  // namespace

int main(int argc, char** argv) { return capsrt::tools::guarded_main("capsconv", run, argc, argv); }
