// capsrun: runs a capsrt model on image files or IDX datasets. Prints the top classes with their
// scores (or JSON), evaluates accuracy with per-class accuracy, confusion matrix and latency, and
// draws the paper's pictures: inputs beside their reconstructions, and the capsule-dimension
// figure (each pose dimension of the winning capsule varied over [-0.25, 0.25] and decoded).
// docs/capsrun.md describes the options and the image rule.
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <algorithm>
#include <cmath>
#include <cstdio>
#include <iostream>
#include <nlohmann/json.hpp>
#include <numeric>
#include <sstream>
#include <thread>

#include "capsrt/capsrt.hpp"
#include "draw.hpp"
#include "evaluate.hpp"
#include "idx.hpp"
#include "image.hpp"
#include "io.hpp"
#include "kernels_choice.hpp"
#include "npy.hpp"
#include "preprocess.hpp"
#include "profile.hpp"

using namespace capsrt;
using namespace capsrt::tools;
using nlohmann::json;

namespace {

struct Inputs {
  std::vector<uint8_t> data;         // count x input_size, CHW bytes (the pictures drawn)
  std::vector<float> fdata;          // with float inputs (.npy float32): every input's network values
  bool is_float = false;
  float scale = 1.0f, offset = 0.0f;  // the model's pixel -> input value mapping
  std::vector<std::string> names;    // file names, or "#index" for dataset images
  std::vector<int> labels;           // -1 when unknown
  std::vector<json> preprocess;      // image files: what the rule did (null for dataset images)
  std::vector<std::string> notes;    // image files: the rule's one-line account
  size_t count() const { return names.size(); }
  InputBatch batch() const { return {data.data(), is_float ? fdata.data() : nullptr, count()}; }
  // Pixels; as values too once any input is float.
  void add_pixels(const uint8_t* p, size_t n) {
    data.insert(data.end(), p, p + n);
    if (is_float)
      for (size_t k = 0; k < n; ++k) fdata.push_back(static_cast<float>(p[k]) * scale + offset);
  }
  // The network's input values; the pixels drawn for them are the values mapped back to 0..255.
  void add_values(const float* v, size_t n) {
    if (!is_float) {
      is_float = true;
      for (uint8_t p : data) fdata.push_back(static_cast<float>(p) * scale + offset);
    }
    fdata.insert(fdata.end(), v, v + n);
    for (size_t k = 0; k < n; ++k) {
      const float px = (v[k] - offset) / scale;
      data.push_back(static_cast<uint8_t>(std::isfinite(px) ? std::lround(std::min(255.0f, std::max(0.0f, px))) : 0));
    }
  }
};

class Progress {
 public:
  Progress(size_t total, bool quiet) : total_(total), tty_(isatty(2)), quiet_(quiet || total < 200) {}
  void operator()(size_t done) {
    if (quiet_) return;
    const int pct = static_cast<int>(100 * done / total_);
    if (tty_) {
      const int bar = pct * 30 / 100;
      std::fprintf(stderr, "\r  [%.*s%*s] %zu/%zu %3d%%", bar, "==============================", 30 - bar, "",
                   done, total_, pct);
      if (done == total_) std::fprintf(stderr, "\n");
    } else if (pct / 10 > last_ / 10 || done == total_) {
      std::fprintf(stderr, "  %zu/%zu (%d%%)\n", done, total_, pct);
    }
    last_ = pct;
  }

 private:
  size_t total_;
  bool tty_, quiet_;
  int last_ = -1;
};

// One line on what the image rule did, for the listing.
std::string describe(const Preprocessed& p) {
  char buf[256];
  const char* rule = preprocess_name(p.rule);
  if (p.as_is) {
    std::snprintf(buf, sizeof buf, "(%s: the model's size on a dark background, used as it is)", rule);
  } else if (p.rule == CAPS_PREPROCESS_NONE) {
    std::snprintf(buf, sizeof buf, "(none: the whole image fitted%s)",
                  p.inverted ? ", inverted: dark ink on a light background" : "");
  } else if (!p.found) {
    std::snprintf(buf, sizeof buf, "(%s: nothing found on the %s background; the whole image fitted%s)", rule,
                  p.inverted ? "light" : "dark", p.inverted ? ", inverted" : "");
  } else {
    std::snprintf(buf, sizeof buf, "(%s: %s, inverted: %s; ink box %.0fx%.0f at %.0f,%.0f, scaled x%.3g%s)", rule,
                  p.inverted ? "dark on a light background" : "light on a dark background", p.inverted ? "yes" : "no",
                  p.box_x1 - p.box_x0, p.box_y1 - p.box_y0, p.box_x0, p.box_y0, p.scale,
                  p.edge_dropped ? "; ink along the picture's edge left out" : "");
  }
  return buf;
}

json preprocess_json(const Preprocessed& p) {
  json j = {{"rule", preprocess_name(p.rule)}, {"as_is", p.as_is}, {"inverted", p.inverted}};
  if (p.rule != CAPS_PREPROCESS_NONE && !p.as_is) {
    j["found"] = p.found;
    j["edge_dropped"] = p.edge_dropped;
    j["paper"] = p.paper;
    j["noise"] = p.noise;
    j["ink"] = p.ink;
  }
  if (p.found) {
    j["box"] = {p.box_x0, p.box_y0, p.box_x1, p.box_y1};
    j["centre"] = {p.centre_x, p.centre_y};
  }
  j["scale"] = p.scale;
  return j;
}

// Inputs beside their reconstructions, up to 8 cells per row, scaled x2, on a gray canvas. Each
// cell holds the input, then its reconstruction from the predicted class's capsule, then (when
// `with_label` is set, for misclassified inputs) the reconstruction from the true class's capsule.
void recon_grid(const Model& m, uint32_t kernels, const Inputs& in, const std::vector<size_t>& which,
                bool with_label, const std::string& path) {
  const caps_model_attributes& a = m.attributes();
  const int H = static_cast<int>(a.input_height), W = static_cast<int>(a.input_width), S = 2, gap = 4;
  const size_t n = which.size();
  const int panels = with_label ? 3 : 2;
  const int per_row = static_cast<int>(std::min<size_t>(8, std::max<size_t>(n, 1))), rows = static_cast<int>((n + 7) / 8);
  const int cell_w = panels * (W * S + 2) - 2 + gap, cell_h = H * S + gap;
  Canvas canvas(per_row * cell_w + gap, std::max(rows, 1) * cell_h + gap, 96);
  Session s(m, kernels);
  std::vector<float> x(m.input_size());
  for (size_t k = 0; k < n; ++k) {
    const size_t i = which[k];
    s.classify(in.batch(), i);
    for (size_t p = 0; p < x.size(); ++p) x[p] = in.data[i * m.input_size() + p] / 255.0f;
    const int cx = gap + static_cast<int>(k % 8) * cell_w, cy = gap + static_cast<int>(k / 8) * cell_h;
    canvas.paste(x.data(), W, H, cx, cy, S);
    for (int panel = 1; panel < panels; ++panel) {
      const std::vector<float> image = s.reconstruct(panel == 1 ? -1 : in.labels[i]);
      canvas.paste(image.data(), W, H, cx + panel * (W * S + 2), cy, S);
    }
  }
  write_png(path, canvas.pixels, canvas.width, canvas.height, 1);
}

// The paper's figure 4: one row per pose dimension of the winning capsule, 11 columns for
// offsets -0.25, -0.20, ..., +0.25 added to that dimension, each decoded.
void dims_figure(const Model& m, uint32_t kernels, const Inputs& in, size_t index, const std::string& path,
                 uint32_t* cls) {
  const caps_model_attributes& a = m.attributes();
  const int H = static_cast<int>(a.input_height), W = static_cast<int>(a.input_width), S = 2, gap = 2;
  Session s(m, kernels);
  s.classify(in.batch(), index);
  *cls = s.it.predicted_class();
  const int D = static_cast<int>(s.it.pose_dim());
  const std::vector<float> pose = s.pose(*cls);
  Canvas canvas(11 * (W * S + gap) + gap, D * (H * S + gap) + gap, 96);
  for (int d = 0; d < D; ++d)
    for (int step = 0; step < 11; ++step) {
      std::vector<float> p = pose;
      p[d] += -0.25f + 0.05f * static_cast<float>(step);
      const std::vector<float> image = s.reconstruct_pose(*cls, p);
      canvas.paste(image.data(), W, H, gap + step * (W * S + gap), gap + d * (H * S + gap), S);
    }
  write_png(path, canvas.pixels, canvas.width, canvas.height, 1);
}

}  // namespace

namespace {

struct Options {
  std::string kernels_arg, model_path, idx_images, idx_labels, invert_arg = "auto", grid_path, dims_path,
      errors_path, compare_path, preprocess_arg = "auto", show_path;
  std::vector<std::string> files;
  size_t limit = 0, offset = 0, grid_n = 32, dims_index = 0;
  unsigned top = 3;
  int threads = static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
  unsigned intra_threads = 1;  // --intra-threads: threads inside each op, per interpreter
  int profile_runs = 0;  // --profile: runs of the per-layer profile (0: none)
  bool eval = false, as_json = false, quiet = false;
  uint32_t kernels = 0;  // the set --kernels names (CAPS_KERNELS_*), after parsing
};

// The command line into `o`: -1 to go on, else the exit status (help, or a bad command line).
int parse_options(int argc, char** argv, Options* o) {
  CLI::App app{"capsrun: run a capsrt model on images or an IDX dataset; evaluate; draw reconstructions"};
  app.add_option("model", o->model_path, "model file (.caps)")->required();
  app.add_option("images", o->files,
                 "image files (PNG, JPEG, BMP, PGM/PPM; RGB for 3-channel models) or .npy arrays: one input "
                 "(C, H, W) or a stack (N, C, H, W), uint8 pixels or float32 input values");
  app.add_option("--idx-images", o->idx_images, "IDX image file (raw or .gz), e.g. MNIST's t10k-images-idx3-ubyte");
  app.add_option("--idx-labels", o->idx_labels, "IDX label file matching --idx-images");
  app.add_flag("--eval", o->eval, "report accuracy, per-class accuracy, confusion matrix and latency (needs labels)");
  app.add_option("--offset", o->offset, "first dataset image to use")->capture_default_str();
  app.add_option("--limit", o->limit, "use at most N dataset images (0: all)")->capture_default_str();
  app.add_option("--threads", o->threads, "worker threads, one interpreter and arena each")
      ->check(CLI::Range(1, 256))->capture_default_str();
  app.add_option("--intra-threads", o->intra_threads,
                 "threads inside each op of each interpreter (pthreadpool): lower latency per image; "
                 "the results are the same bits")
      ->check(CLI::Range(1, 256))->capture_default_str();
  app.add_option("--top", o->top, "classes listed per image")->capture_default_str();
  app.add_option("--preprocess", o->preprocess_arg,
                 "image files: how a photo becomes the model's input: auto (the rule the model records), none (fit "
                 "the whole image), mnist (the ink's box to 20x20, centred by mass), fashion-mnist (the object's "
                 "box to 28, centred)")
      ->check(CLI::IsMember({"auto", "none", "mnist", "fashion-mnist"}))->capture_default_str();
  app.add_option("--invert", o->invert_arg,
                 "image files: auto (a light background means dark ink), yes (take them as dark on light), no")
      ->check(CLI::IsMember({"auto", "yes", "no"}))->capture_default_str();
  app.add_option("--show-input", o->show_path,
                 "write a PNG with each image file beside the input the model sees (the ink's box in red, the "
                 "centre in green)");
  app.add_flag("--json", o->as_json, "print results as JSON");
  app.add_option("--recon-grid", o->grid_path, "write a PNG of inputs beside their reconstructions");
  app.add_option("--grid-count", o->grid_n, "inputs in the reconstruction grid (and in the --errors-grid)")
      ->capture_default_str();
  app.add_option("--errors-grid", o->errors_path,
                 "with --eval: write a PNG of misclassified inputs beside their reconstructions from the predicted "
                 "and from the true class's capsule");
  app.add_option("--dims-figure", o->dims_path,
                 "write a PNG varying each pose dimension of the winning capsule over [-0.25, 0.25] in 11 steps");
  app.add_option("--dims-index", o->dims_index, "which input (0-based, after --offset) the dimension figure shows")
      ->capture_default_str();
  app.add_option("--compare", o->compare_path,
                 "with --eval: also run this model (e.g. the float model an int8 one came from) on the "
                 "same inputs and print both accuracies, both speeds and their top-1 agreement side by side");
  app.add_option("--profile", o->profile_runs,
                 "per-layer table over N runs of the first input (default 100; put N, or the option after the "
                 "images): median time, share of the total, multiply-adds and G multiply-adds/s of each op, "
                 "one thread")
      ->expected(0, 1)->default_str("100")->check(CLI::Range(1, 1000000));
  app.add_flag("-q,--quiet", o->quiet, "no progress bar");
  app.add_option("--kernels", o->kernels_arg,
                 "kernel set: " + available_kernels() + " (default: $CAPSRT_KERNELS, else auto)");
  app.footer("Exit status: 0 ok; 2 unreadable model; 3 unreadable or corrupt input (the others still run); 1 other errors.");
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    return app.exit(e);
  }
  try {
    o->kernels = choose_kernels(o->kernels_arg);
  } catch (const std::exception& e) {
    std::cerr << "capsrun: " << e.what() << '\n';
    return 1;
  }
  if (!o->errors_path.empty() && !o->eval) {
    std::cerr << "capsrun: --errors-grid needs --eval\n";
    return 1;
  }
  if (!o->compare_path.empty() && !o->eval) {
    std::cerr << "capsrun: --compare needs --eval\n";
    return 1;
  }
  if (!o->show_path.empty() && o->files.empty()) {
    std::cerr << "capsrun: --show-input needs image files\n";
    return 1;
  }
  return -1;
}

// Reads and loads a model file; false (exit status 2) after saying why.
bool load_model(const std::string& path, AlignedBuffer* file, Model* model) {
  try {
    *file = read_file(path, UINT32_MAX);  // a model file's total_size is 32 bits
  } catch (const std::exception& e) {
    std::cerr << "capsrun: " << e.what() << '\n';
    return false;
  }
  const caps_status st = model->load(file->data(), file->size());
  if (st != CAPS_OK) {
    std::cerr << "capsrun: " << model_load_error(path, st, file->data(), file->size()) << '\n';
    return false;
  }
  return true;
}

// A .npy file (by its name or its magic)?
bool is_npy_file(const std::string& path) {
  if (path.size() > 4 && path.compare(path.size() - 4, 4, ".npy") == 0) return true;
  std::FILE* f = std::fopen(path.c_str(), "rb");
  if (f == nullptr) return false;
  uint8_t head[6] = {};
  const size_t got = std::fread(head, 1, sizeof head, f);
  std::fclose(f);
  return looks_like_npy(head, got);
}

// A .npy input: one input [C, H, W] or a stack [N, C, H, W] of the model's shape, uint8 pixels
// (the model's scale and offset apply, no photo preprocessing) or float32 input values.
void add_npy(const std::string& path, const caps_model_attributes& a, Inputs* in) {
  const NpyArray arr = read_npy(path);
  const std::vector<uint64_t> one = {a.input_channels, a.input_height, a.input_width};
  std::vector<uint64_t> stack = one;
  stack.insert(stack.begin(), arr.shape.empty() ? 0 : arr.shape[0]);
  if (arr.shape != one && arr.shape != stack)
    throw IoError(path + ": " + npy_describe(arr) + "; the model takes (" + std::to_string(a.input_channels) + ", " +
                  std::to_string(a.input_height) + ", " + std::to_string(a.input_width) + "), or a stack (N, " +
                  std::to_string(a.input_channels) + ", " + std::to_string(a.input_height) + ", " +
                  std::to_string(a.input_width) + "), of uint8 pixels or float32 input values");
  const size_t n = arr.shape == one ? 1 : static_cast<size_t>(arr.shape[0]);
  const size_t size = static_cast<size_t>(a.input_channels) * a.input_height * a.input_width;
  for (size_t k = 0; k < n; ++k) {
    if (arr.dtype == NpyArray::DType::U8)
      in->add_pixels(arr.u8.data() + k * size, size);
    else
      in->add_values(arr.f32.data() + k * size, size);
    in->names.push_back(n == 1 && arr.shape == one ? path : path + "[" + std::to_string(k) + "]");
    in->labels.push_back(-1);
    in->preprocess.push_back(nullptr);
    in->notes.emplace_back();
  }
}

// The inputs: image files through the preprocessing rule (`rule`), then the dataset's images.
// An unreadable image is reported and left out (*status 3); -1 to go on, else the exit status.
int gather_inputs(const Options& o, const Model& model, caps_input_preprocess rule, Inputs* in,
                  std::vector<Image>* show_rows, int* status) {
  const caps_model_attributes& a = model.attributes();
  const Invert invert = o.invert_arg == "yes" ? Invert::Yes : o.invert_arg == "no" ? Invert::No : Invert::Auto;
  if (!o.files.empty() && rule != CAPS_PREPROCESS_NONE && a.input_channels != 1) {
    std::cerr << "capsrun: the " << preprocess_name(rule) << " preprocessing takes 1-channel models; this one takes "
              << a.input_channels << " channels (use --preprocess none)\n";
    return 1;
  }
  in->scale = a.input_scale;
  in->offset = a.input_offset;
  for (const std::string& f : o.files) {
    try {
      if (is_npy_file(f)) {
        add_npy(f, a, in);
        continue;
      }
      const Image img = load_image(f, static_cast<int>(a.input_channels));
      const Preprocessed p = preprocess_image(img, rule, static_cast<int>(a.input_channels),
                                              static_cast<int>(a.input_height), static_cast<int>(a.input_width), invert);
      in->add_pixels(p.input.data(), p.input.size());
      in->names.push_back(f);
      in->labels.push_back(-1);
      in->preprocess.push_back(preprocess_json(p));
      in->notes.push_back(describe(p));
      if (!o.show_path.empty())
        show_rows->push_back(
            show_input_row(img, p, static_cast<int>(a.input_height), static_cast<int>(a.input_width), 168, 8));
    } catch (const std::exception& e) {
      std::cerr << "capsrun: " << e.what() << '\n';
      *status = 3;
    }
  }
  if (!o.idx_images.empty()) {
    try {
      const IdxImages ds = read_idx_images(o.idx_images, o.offset, o.limit);
      if (ds.rows != a.input_height || ds.cols != a.input_width || a.input_channels != 1)
        throw IoError(o.idx_images + ": images are " + std::to_string(ds.rows) + "x" + std::to_string(ds.cols) +
                      ", the model takes " + std::to_string(a.input_channels) + "x" + std::to_string(a.input_height) +
                      "x" + std::to_string(a.input_width));
      std::vector<uint8_t> labels;
      if (!o.idx_labels.empty()) {
        labels = read_idx_labels(o.idx_labels);
        if (labels.size() != ds.count)
          throw IoError(o.idx_labels + ": " + std::to_string(labels.size()) + " labels for " +
                        std::to_string(ds.count) + " images");
      }
      const size_t n = static_cast<size_t>(ds.loaded);
      in->add_pixels(ds.pixels.data(), ds.pixels.size());
      for (size_t k = 0; k < n; ++k) {
        in->names.push_back("#" + std::to_string(o.offset + k));
        in->labels.push_back(labels.empty() ? -1 : labels[o.offset + k]);
        in->preprocess.push_back(nullptr);
        in->notes.emplace_back();
      }
    } catch (const std::exception& e) {
      std::cerr << "capsrun: " << e.what() << '\n';
      return 3;
    }
  }
  if (in->count() == 0) {
    std::cerr << "capsrun: nothing to run: give image files or --idx-images" << (*status ? " (none could be read)" : "")
              << '\n';
    return *status ? *status : 1;
  }
  if (o.eval && std::count(in->labels.begin(), in->labels.end(), -1) > 0) {
    std::cerr << "capsrun: --eval needs labels for every input (--idx-labels)\n";
    return 1;
  }
  return -1;
}

// Without --eval: each input's top classes with their scores, and what the image rule did.
void list_results(const Options& o, const Model& model, const Inputs& in, json& out) {
  const caps_model_attributes& a = model.attributes();
  Session s(model, o.kernels);
  json items = json::array();
  for (size_t k = 0; k < in.count(); ++k) {
    s.classify(in.batch(), k);
    std::vector<uint32_t> order(a.num_classes);
    std::iota(order.begin(), order.end(), 0u);
    std::stable_sort(order.begin(), order.end(), [&](uint32_t x, uint32_t y) { return s.score(x) > s.score(y); });
    const bool inverted = !in.preprocess[k].is_null() && in.preprocess[k]["inverted"].get<bool>();
    json item = {{"input", in.names[k]}, {"inverted", inverted}};
    if (!in.preprocess[k].is_null()) item["preprocess"] = in.preprocess[k];
    if (in.labels[k] >= 0) item["label"] = model.class_name(static_cast<uint32_t>(in.labels[k]));
    std::string line = in.names[k] + ":";
    for (uint32_t t = 0; t < std::min<uint32_t>(o.top, a.num_classes); ++t) {
      const uint32_t c = order[t];
      item["top"].push_back({{"class", model.class_name(c)}, {"index", c}, {"score", s.score(c)}});
      char buf[96];
      std::snprintf(buf, sizeof buf, "%s %s %.4f", t ? "," : "", model.class_name(c), s.score(c));
      line += buf;
    }
    if (!in.notes[k].empty()) line += "   " + in.notes[k];
    if (in.labels[k] >= 0) line += std::string("   label ") + model.class_name(static_cast<uint32_t>(in.labels[k]));
    items.push_back(item);
    if (!o.as_json) std::printf("%s\n", line.c_str());
  }
  out["results"] = items;
}

// With --eval: accuracy, per-class accuracy, the confusion matrix and the misclassified inputs.
// Returns the misclassified inputs' indices, in input order.
std::vector<size_t> report_evaluation(const Options& o, const Model& model, const Inputs& in, const RunResult& r,
                                      json& out) {
  const uint32_t C = model.attributes().num_classes;
  std::vector<std::vector<size_t>> confusion(C, std::vector<size_t>(C, 0));
  std::vector<size_t> misclassified;
  size_t correct = 0;
  json wrong = json::array();
  for (size_t k = 0; k < in.count(); ++k) {
    const int label = in.labels[k];
    if (label < 0 || static_cast<uint32_t>(label) >= C)
      throw IoError("label " + std::to_string(label) + " of input " + in.names[k] + " is not a class of the model");
    confusion[label][r.predicted[k]]++;
    if (static_cast<uint32_t>(label) == r.predicted[k]) {
      ++correct;
    } else {
      misclassified.push_back(k);
      wrong.push_back({{"input", in.names[k]}, {"label", model.class_name(static_cast<uint32_t>(label))},
                       {"predicted", model.class_name(r.predicted[k])}, {"score", r.top_score[k]}});
    }
  }
  out["correct"] = correct;
  out["misclassified"] = wrong;
  out["predicted"] = r.predicted;  // class index per input, in input order
  out["accuracy"] = double(correct) / in.count();
  out["confusion"] = confusion;
  json per_class = json::array();
  for (uint32_t c = 0; c < C; ++c) {
    const size_t n = std::accumulate(confusion[c].begin(), confusion[c].end(), size_t{0});
    // A class with no images in the input has no accuracy (null), not 0%.
    per_class.push_back({{"class", model.class_name(c)}, {"count", n},
                         {"accuracy", n ? json(double(confusion[c][c]) / n) : json(nullptr)}});
  }
  out["per_class"] = per_class;
  if (o.as_json) return misclassified;
  std::printf("\naccuracy: %.2f%% (%zu of %zu)\n\nper class:\n", 100.0 * correct / in.count(), correct, in.count());
  for (uint32_t c = 0; c < C; ++c) {
    if (per_class[c]["accuracy"].is_null()) {
      std::printf("  %-12s        -  (no images)\n", model.class_name(c));
      continue;
    }
    std::printf("  %-12s %7.2f%%  (%zu of %zu)\n", model.class_name(c), 100.0 * per_class[c]["accuracy"].get<double>(),
                confusion[c][c], per_class[c]["count"].get<size_t>());
  }
  std::printf("\nconfusion matrix (rows: true class, columns: predicted):\n%12s", "");
  for (uint32_t c = 0; c < C; ++c) std::printf(" %6.6s", model.class_name(c));
  std::printf("\n");
  for (uint32_t t = 0; t < C; ++t) {
    std::printf("  %-10.10s", model.class_name(t));
    for (uint32_t p = 0; p < C; ++p) std::printf(" %6zu", confusion[t][p]);
    std::printf("\n");
  }
  if (!misclassified.empty()) {
    const size_t shown = std::min<size_t>(12, misclassified.size());
    std::printf("\nmisclassified: %zu%s\n", misclassified.size(),
                shown < misclassified.size() ? (", the first " + std::to_string(shown) + ":").c_str() : ":");
    for (size_t k = 0; k < shown; ++k) {
      const size_t i = misclassified[k];
      std::printf("  %-10s label %-12s predicted %-12s (score %.3f)\n", in.names[i].c_str(),
                  model.class_name(static_cast<uint32_t>(in.labels[i])), model.class_name(r.predicted[i]),
                  static_cast<double>(r.top_score[i]));
    }
  }
  return misclassified;
}

// --compare: the other model on the same inputs, side by side with the first.
void report_comparison(const Options& o, const Model& model, const Model& other, const Inputs& in,
                       const RunResult& r, json& out) {
  Progress progress(in.count(), o.quiet || o.as_json);
  if (!o.as_json) std::printf("\nrunning %s on the same %zu images\n", o.compare_path.c_str(), in.count());
  std::fflush(stdout);
  const RunResult r2 = run_all(other, o.kernels, in.batch(), o.threads, o.intra_threads, std::ref(progress));
  size_t correct2 = 0, agree = 0;
  for (size_t k = 0; k < in.count(); ++k) {
    correct2 += static_cast<int>(r2.predicted[k]) == in.labels[k];
    agree += r2.predicted[k] == r.predicted[k];
  }
  const size_t correct1 = out["correct"].get<size_t>();
  const double median = percentile(r.latency_ms, 0.5), median2 = percentile(r2.latency_ms, 0.5);
  out["compare"] = {{"model", o.compare_path}, {"correct", correct2},
                    {"accuracy", double(correct2) / in.count()}, {"agreement", double(agree) / in.count()},
                    {"differ", in.count() - agree}, {"latency_ms", {{"median", median2}}},
                    {"predicted", r2.predicted}};
  if (o.as_json) return;
  auto kind = [](const Model& m) { return m.quantized() ? "int8" : "float32"; };
  std::printf("\n%-28s %18s %18s\n", "", kind(model), kind(other));
  std::printf("%-28s %18s %18s\n", "model", o.model_path.substr(o.model_path.find_last_of('/') + 1).c_str(),
              o.compare_path.substr(o.compare_path.find_last_of('/') + 1).c_str());
  std::printf("%-28s %17.2f%% %17.2f%%\n", "accuracy", 100.0 * correct1 / in.count(), 100.0 * correct2 / in.count());
  std::printf("%-28s %15.3f ms %15.3f ms\n", "latency per image (median)", median, median2);
  std::printf("%-28s %17.1fx\n", "speed-up of the first", median2 / median);
  std::printf("top-1 agreement: %.2f%% (%zu of %zu images get a different class)\n", 100.0 * agree / in.count(),
              in.count() - agree, in.count());
}

// --profile N: the per-layer table over N runs of the first input, decoder included when the
// model has one, on one thread with the chosen kernel set.
void report_profile(const Options& o, const Model& model, const Inputs& in, json& out) {
  AlignedBuffer arena(model.arena_size_for(o.kernels));
  Interpreter it;
  caps_status st = it.init(model, arena.data(), arena.size(), o.kernels);
  if (st == CAPS_OK)
    st = in.is_float ? it.set_input(&in.fdata[0], model.input_size()) : it.set_input_u8(&in.data[0], model.input_size());
  if (st != CAPS_OK) throw IoError(std::string("--profile: ") + caps_status_message(st));
  const Profile p = profile_ops(it, o.profile_runs, true);
  json ops = json::array();
  for (const OpProfile& op : p.ops)
    ops.push_back({{"layer", op.output}, {"op", op.kind}, {"median_us", op.median_us()}, {"macs", op.macs}});
  out["profile"] = {{"runs", p.runs}, {"input", in.names[0]}, {"ops", ops}};
  if (o.as_json) return;
  std::printf("\nper-layer profile: %s, %d runs, one thread, kernels %s\n", in.names[0].c_str(), p.runs,
              caps_kernels_name(o.kernels));
  std::ostringstream table;
  print_profile(table, p);
  std::printf("%s", table.str().c_str());
}

// The pictures: the reconstruction grid, the misclassified inputs' grid, the dimension figure.
void draw_pictures(const Options& o, const Model& model, const Inputs& in, std::vector<size_t> misclassified,
                   json& out) {
  const caps_model_attributes& a = model.attributes();
  if (!o.grid_path.empty() || !o.dims_path.empty() || !o.errors_path.empty()) {
    if (a.recon_tensor == CAPS_NONE) throw IoError("the model has no decoder: no reconstructions to draw");
    if (a.input_channels != 1) throw IoError("pictures are drawn for 1-channel models only");
  }
  if (!o.grid_path.empty()) {
    std::vector<size_t> first(std::min(o.grid_n, in.count()));
    std::iota(first.begin(), first.end(), size_t{0});
    recon_grid(model, o.kernels, in, first, false, o.grid_path);
    out["recon_grid"] = o.grid_path;
    if (!o.as_json)
      std::printf("wrote %s: %zu inputs (left) beside their reconstructions from the predicted class's capsule (right)\n",
                  o.grid_path.c_str(), std::min(o.grid_n, in.count()));
  }
  if (!o.errors_path.empty()) {
    misclassified.resize(std::min(o.grid_n, misclassified.size()));
    recon_grid(model, o.kernels, in, misclassified, true, o.errors_path);
    out["errors_grid"] = o.errors_path;
    if (!o.as_json)
      std::printf("wrote %s: %zu misclassified inputs, each beside its reconstructions from the predicted "
                  "and from the true class's capsule\n", o.errors_path.c_str(), misclassified.size());
  }
  if (!o.dims_path.empty()) {
    if (o.dims_index >= in.count()) throw IoError("--dims-index is past the inputs");
    uint32_t cls = 0;
    dims_figure(model, o.kernels, in, o.dims_index, o.dims_path, &cls);
    out["dims_figure"] = o.dims_path;
    if (!o.as_json)
      std::printf("wrote %s: input %s, capsule %s; row d varies pose dimension d by -0.25..+0.25 in steps of 0.05\n",
                  o.dims_path.c_str(), in.names[o.dims_index].c_str(), model.class_name(cls));
  }
}

int run(int argc, char** argv) {
  Options o;
  int exit_status = parse_options(argc, argv, &o);
  if (exit_status >= 0) return exit_status;
  AlignedBuffer file, other_file;
  Model model, other;
  if (!load_model(o.model_path, &file, &model)) return 2;
  const caps_model_attributes& a = model.attributes();
  caps_input_preprocess rule = static_cast<caps_input_preprocess>(a.input_preprocess);
  if (o.preprocess_arg != "auto") parse_preprocess(o.preprocess_arg, &rule);
  Inputs in;
  std::vector<Image> show_rows;  // --show-input rows
  int status = 0;
  if ((exit_status = gather_inputs(o, model, rule, &in, &show_rows, &status)) >= 0) return exit_status;
  if (!o.compare_path.empty()) {
    if (!load_model(o.compare_path, &other_file, &other)) return 2;
    const caps_model_attributes& b = other.attributes();
    if (b.input_channels != a.input_channels || b.input_height != a.input_height ||
        b.input_width != a.input_width || b.num_classes != a.num_classes) {
      std::cerr << "capsrun: " << o.compare_path << " does not take the same inputs or give the same classes\n";
      return 1;
    }
  }

  try {
    if (!o.as_json)
      std::printf("model: %s (%s), input %ux%ux%u, %u classes, kernels %s, arena %zu bytes\n",
                  o.model_path.c_str(), model.description(), a.input_channels, a.input_height,
                  a.input_width, a.num_classes, caps_kernels_name(o.kernels), model.arena_size_for(o.kernels));
    if (!o.as_json && !o.files.empty())
      std::printf("image files: preprocessing %s (%s)\n", preprocess_name(rule),
                  o.preprocess_arg == "auto" ? "the model's" : "--preprocess");
    if (!o.show_path.empty() && !show_rows.empty()) {
      const Image sheet = stack_rows(show_rows);
      write_png(o.show_path, sheet.pixels, sheet.width, sheet.height, 3);
      if (!o.as_json) std::printf("wrote %s: each image beside the input the model sees\n", o.show_path.c_str());
    }
    if (!o.as_json && o.eval)
      std::printf("evaluating %zu images on %d thread%s%s\n", in.count(), o.threads, o.threads > 1 ? "s" : "",
                  o.intra_threads > 1 ? (", " + std::to_string(o.intra_threads) + " inside each op").c_str() : "");
    std::fflush(stdout);  // the header before the progress lines on stderr
    Progress progress(in.count(), o.quiet || o.as_json || !o.eval);
    const RunResult r = run_all(model, o.kernels, in.batch(), o.threads, o.intra_threads, std::ref(progress));
    const double median = percentile(r.latency_ms, 0.5), p90 = percentile(r.latency_ms, 0.9);
    json out;
    out["model"] = o.model_path;
    out["count"] = in.count();
    out["latency_ms"] = {{"median", median}, {"p90", p90}};
    out["images_per_second"] = in.count() / r.wall_seconds;
    out["threads"] = o.threads;
    out["intra_threads"] = o.intra_threads;
    out["kernels"] = caps_kernels_name(o.kernels);
    std::vector<size_t> misclassified;  // with --eval: indices into `in`, in input order
    if (!o.eval)
      list_results(o, model, in, out);
    else
      misclassified = report_evaluation(o, model, in, r, out);
    if (!o.as_json)
      std::printf("\nlatency per image (set_input + invoke): median %.2f ms, 90th percentile %.2f ms; "
                  "%.1f images/s on %d thread%s%s\n",
                  median, p90, in.count() / r.wall_seconds, o.threads, o.threads > 1 ? "s" : "",
                  o.intra_threads > 1 ? (" of " + std::to_string(o.intra_threads) + " inside each op").c_str() : "");
    if (!o.compare_path.empty()) report_comparison(o, model, other, in, r, out);
    if (o.profile_runs > 0) report_profile(o, model, in, out);
    if (!o.show_path.empty()) out["show_input"] = o.show_path;
    draw_pictures(o, model, in, misclassified, out);
    if (o.as_json) std::printf("%s\n", out.dump(1).c_str());
  } catch (const std::exception& e) {
    std::cerr << "capsrun: " << e.what() << '\n';
    return 1;
  }
  return status;
}

}  // namespace

int main(int argc, char** argv) { return capsrt::tools::guarded_main("capsrun", run, argc, argv); }
