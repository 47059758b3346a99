// capsgen: writes a capsrt model of a preset architecture with seeded random weights.
// For tests, benchmarks and demos before a trained checkpoint is at hand.
#include <CLI/CLI.hpp>
#include <iostream>

#include <random>

#include "capsnet.hpp"
#include "capsnet_int8.hpp"
#include "capsrt/capsrt.hpp"
#include "io.hpp"

namespace {
int run(int argc, char** argv) {
  CLI::App app{"capsgen: write a capsrt model (.caps) with seeded random weights"};
  std::string preset = "canonical", output;
  uint64_t seed = 1;
  uint32_t routings = 0;
  bool summary = false, int8 = false, low_memory = false;
  app.add_option("--preset", preset, "architecture: canonical (Sabour et al., MNIST) or small")
      ->capture_default_str();
  app.add_option("--seed", seed, "random seed")->capture_default_str();
  app.add_option("--routings", routings, "routing iterations (default: the preset's, 3)");
  app.add_option("-o,--output", output, "model file to write")->required();
  app.add_flag("--summary", summary, "print the per-layer table");
  app.add_flag("--int8", int8,
               "write the int8 model (calibrated on 64 seeded random images: for tests, not accuracy)");
  app.add_flag("--low-memory-routing", low_memory, "routing recomputes its predictions (float and int8)");
  CLI11_PARSE(app, argc, argv);
  try {
    capsrt::tools::CapsNetSpec spec = capsrt::tools::capsnet_preset(preset);
    if (routings) spec.routings = routings;
    spec.low_memory_routing = low_memory;
    std::vector<capsrt::tools::OpReport> report;
    const capsrt::tools::Weights weights = capsrt::tools::capsnet_random_weights(spec, seed);
    std::vector<uint8_t> bytes;
    if (int8) {
      std::mt19937_64 rng(seed);
      std::vector<uint8_t> images(64 * static_cast<size_t>(spec.input_channels) * spec.input_height *
                                  spec.input_width);
      for (uint8_t& v : images) v = static_cast<uint8_t>(rng() >> 56);
      const capsrt::tools::Calibration cal =
          capsrt::tools::calibrate_capsnet(spec, weights, images.data(), 64);
      bytes = capsrt::tools::build_capsnet_int8(spec, weights, cal, &report);
    } else {
      bytes = capsrt::tools::build_capsnet(spec, weights, &report);
    }
    capsrt::tools::write_file(output, bytes);
    const capsrt::tools::VerifiedModel v = capsrt::tools::load_verified(bytes);
    const capsrt::Model& m = v.model;
    std::cout << "wrote " << output << ": " << preset << (int8 ? " int8" : "") << " CapsNet, seed " << seed << ", "
              << bytes.size() << " bytes, arena " << m.header().arena_size << " bytes\n";
    if (summary) capsrt::tools::print_summary(std::cout, report, m);
  } catch (const std::exception& e) {
    std::cerr << "capsgen: " << e.what() << '\n';
    return 1;
  }
  return 0;
}
}  // namespace

int main(int argc, char** argv) { return capsrt::tools::guarded_main("capsgen", run, argc, argv); }
