// capsgen: writes a capsrt model of a preset architecture with seeded random weights.
// For tests, benchmarks and demos before a trained checkpoint is at hand.
#include <CLI/CLI.hpp>
#include <iostream>

#include "capsnet.hpp"
#include "capsrt/capsrt.hpp"
#include "io.hpp"

namespace {
int run(int argc, char** argv) {
  CLI::App app{"capsgen: write a capsrt model (.caps) with seeded random weights"};
  std::string preset = "canonical", output;
  uint64_t seed = 1;
  uint32_t routings = 0;
  bool summary = false;
  app.add_option("--preset", preset, "architecture: canonical (Sabour et al., MNIST) or small")
      ->capture_default_str();
  app.add_option("--seed", seed, "random seed")->capture_default_str();
  app.add_option("--routings", routings, "routing iterations (default: the preset's, 3)");
  app.add_option("-o,--output", output, "model file to write")->required();
  app.add_flag("--summary", summary, "print the per-layer table");
  CLI11_PARSE(app, argc, argv);
  try {
    capsrt::tools::CapsNetSpec spec = capsrt::tools::capsnet_preset(preset);
    if (routings) spec.routings = routings;
    std::vector<capsrt::tools::OpReport> report;
    const std::vector<uint8_t> bytes =
        capsrt::tools::build_capsnet(spec, capsrt::tools::capsnet_random_weights(spec, seed), &report);
    capsrt::tools::write_file(output, bytes);
    capsrt::tools::AlignedBuffer copy(bytes.size());
    std::copy(bytes.begin(), bytes.end(), copy.data());
    capsrt::Model m;
    m.load(copy.data(), copy.size());
    std::cout << "wrote " << output << ": " << preset << " CapsNet, seed " << seed << ", "
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
