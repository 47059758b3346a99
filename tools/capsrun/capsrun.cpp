// capsrun: loads a capsrt model, runs it and prints what it sees: top classes with scores, the
// winning capsule's pose, latency, and the reconstruction as terminal art.
// (Image files and datasets arrive with the trained models; for now the input is a built-in
// test pattern.)
#include <CLI/CLI.hpp>
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <iostream>
#include <numeric>
#include <vector>

#include "capsrt/capsrt.hpp"
#include "io.hpp"

namespace {

// A hand-drawn "7" scaled to the model's input (pixels 0..255).
std::vector<uint8_t> test_pattern(uint32_t c, uint32_t h, uint32_t w) {
  std::vector<uint8_t> img(size_t{c} * h * w, 0);
  for (uint32_t y = 0; y < h; ++y)
    for (uint32_t x = 0; x < w; ++x) {
      const float fy = (y + 0.5f) / h, fx = (x + 0.5f) / w;
      const bool bar = fy > 0.22f && fy < 0.32f && fx > 0.25f && fx < 0.75f;
      const float diag_x = 0.75f - (fy - 0.27f) * 0.5f;  // from the bar's right end down-left
      const bool stem = fy >= 0.27f && fy < 0.82f && fx > diag_x - 0.06f && fx < diag_x + 0.05f;
      if (bar || stem)
        for (uint32_t k = 0; k < c; ++k) img[(size_t{k} * h + y) * w + x] = 255;
    }
  return img;
}

void print_art(const float* a, const float* b, uint32_t h, uint32_t w) {
  const char* ramp = " .:-=+*#%@";
  auto ch = [&](float v) { return ramp[std::clamp(static_cast<int>(v * 9.99f), 0, 9)]; };
  for (uint32_t y = 0; y < h; ++y) {
    std::string line;
    for (uint32_t x = 0; x < w; ++x) line += ch(a[y * w + x]);
    line += "   |   ";
    for (uint32_t x = 0; x < w; ++x) line += ch(b[y * w + x]);
    std::cout << "  " << line << '\n';
  }
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"capsrun: run a capsrt model and show its outputs"};
  std::string model_path;
  int repeat = 20;
  unsigned top = 5;
  bool no_recon = false;
  app.add_option("model", model_path, "model file (.caps)")->required();
  app.add_option("--repeat", repeat, "timed invocations")->check(CLI::Range(1, 100000))
      ->capture_default_str();
  app.add_option("--top", top, "classes to list")->capture_default_str();
  app.add_flag("--no-reconstruction", no_recon, "skip the decoder");
  CLI11_PARSE(app, argc, argv);

  capsrt::tools::AlignedBuffer file;
  try {
    file = capsrt::tools::read_file(model_path);
  } catch (const std::exception& e) {
    std::cerr << "capsrun: " << e.what() << '\n';
    return 1;
  }
  capsrt::Model model;
  caps_status st = model.load(file.data(), file.size());
  if (st != CAPS_OK) {
    std::cerr << "capsrun: " << model_path << ": " << capsrt::status_message(st) << '\n';
    return 2;
  }
  const caps_model_attributes& a = model.attributes();
  capsrt::tools::AlignedBuffer arena(model.arena_size());
  capsrt::Interpreter it;
  if ((st = it.init(model, arena.data(), arena.size())) != CAPS_OK) {
    std::cerr << "capsrun: " << capsrt::status_message(st) << '\n';
    return 2;
  }
  std::printf("model   %s (%s): input %ux%ux%u, %u classes, %u ops, %u routing iterations\n",
              model_path.c_str(), model.description(), a.input_channels, a.input_height,
              a.input_width, a.num_classes, model.op_count(), a.routing_iterations);
  std::printf("memory  model %zu bytes, arena %zu bytes\n", file.size(), model.arena_size());

  const std::vector<uint8_t> pixels = test_pattern(a.input_channels, a.input_height, a.input_width);
  std::vector<double> ms;
  for (int r = 0; r < repeat; ++r) {
    it.set_input_u8(pixels.data(), pixels.size());
    const auto t0 = std::chrono::steady_clock::now();
    st = it.invoke();
    const auto t1 = std::chrono::steady_clock::now();
    if (st != CAPS_OK) {
      std::cerr << "capsrun: invoke: " << capsrt::status_message(st) << '\n';
      return 3;
    }
    ms.push_back(std::chrono::duration<double, std::milli>(t1 - t0).count());
  }
  std::sort(ms.begin(), ms.end());
  const double median = ms[ms.size() / 2];

  std::printf("input   built-in test pattern (a drawn 7)\n\nscores\n");
  std::vector<uint32_t> order(a.num_classes);
  std::iota(order.begin(), order.end(), 0u);
  std::stable_sort(order.begin(), order.end(),
                   [&](uint32_t x, uint32_t y) { return it.scores()[x] > it.scores()[y]; });
  for (uint32_t k = 0; k < std::min<uint32_t>(top, a.num_classes); ++k)
    std::printf("  %-12s %.6f\n", model.class_name(order[k]), it.scores()[order[k]]);
  const uint32_t best = it.predicted_class();
  std::printf("predicted class: %s\n\npose of capsule %s:\n ", model.class_name(best),
              model.class_name(best));
  for (uint32_t d = 0; d < it.pose_dim(); ++d) std::printf(" %+.4f", it.poses()[best * it.pose_dim() + d]);
  std::printf("\n\nlatency (classifier, reference kernels, %d runs): median %.2f ms, min %.2f ms"
              " = %.1f images/s on one core\n",
              repeat, median, ms.front(), 1000.0 / median);

  if (!no_recon && a.recon_tensor != CAPS_NONE) {
    const float* image = nullptr;
    const auto t0 = std::chrono::steady_clock::now();
    st = it.reconstruct(-1, &image);
    const auto t1 = std::chrono::steady_clock::now();
    if (st != CAPS_OK) {
      std::cerr << "capsrun: reconstruct: " << capsrt::status_message(st) << '\n';
      return 3;
    }
    std::printf("decoder: %.2f ms\n\ninput (left) and reconstruction from capsule %s (right):\n",
                std::chrono::duration<double, std::milli>(t1 - t0).count(), model.class_name(best));
    std::vector<float> in(pixels.size());
    for (size_t n = 0; n < pixels.size(); ++n) in[n] = pixels[n] / 255.0f;
    if (a.input_channels == 1) print_art(in.data(), image, a.input_height, a.input_width);
  }
  return 0;
}
