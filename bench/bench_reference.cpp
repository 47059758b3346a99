// Reference kernels at the canonical CapsNet shapes, and the whole network at batch 1.
// Counters: MAC/s (multiply-adds per second) and images/s. At the end, every kernel's MAC/s is
// printed as a ratio to a baseline measured in the same run (a plain dot product over data in
// L1 cache, compiled with the same flags), so results compare across noisy, shared machines.
#include <benchmark/benchmark.h>

#include <cstdio>
#include <map>
#include <random>
#include <string>
#include <vector>

#include "capsnet.hpp"
#include "capsrt/capsrt.hpp"
#include "io.hpp"
#include "reference.h"

using namespace capsrt;

namespace {

std::vector<float> randoms(size_t n, float lo = -0.1f, float hi = 0.1f) {
  static std::mt19937 rng(7);
  std::uniform_real_distribution<float> d(lo, hi);
  std::vector<float> v(n);
  for (float& x : v) x = d(rng);
  return v;
}

void set_macs(benchmark::State& st, double macs_per_iter) {
  st.counters["MAC/s"] = benchmark::Counter(macs_per_iter, benchmark::Counter::kIsIterationInvariantRate);
}

// Baseline: 4096-element dot product, L1-resident, 4 independent accumulators.
void BM_baseline_dot_l1(benchmark::State& st) {
  const auto a = randoms(4096), b = randoms(4096);
  for (auto _ : st) {
    float s0 = 0, s1 = 0, s2 = 0, s3 = 0;
    for (size_t k = 0; k < a.size(); k += 4) {
      s0 += a[k] * b[k];
      s1 += a[k + 1] * b[k + 1];
      s2 += a[k + 2] * b[k + 2];
      s3 += a[k + 3] * b[k + 3];
    }
    float s = s0 + s1 + s2 + s3;
    benchmark::DoNotOptimize(s);
  }
  set_macs(st, 4096);
}
BENCHMARK(BM_baseline_dot_l1);

void conv_bench(benchmark::State& st, const kernels::Conv2DParams& p) {
  const auto x = randoms(size_t(p.in_channels) * p.in_height * p.in_width, 0.0f, 1.0f);
  const auto w = randoms(size_t(p.out_channels) * p.in_channels * p.kernel_h * p.kernel_w);
  const auto b = randoms(size_t(p.out_channels));
  std::vector<float> y(size_t(p.out_channels) * p.out_height * p.out_width);
  for (auto _ : st) {
    ref::conv2d_f32(p, x.data(), w.data(), b.data(), y.data());
    benchmark::ClobberMemory();
  }
  set_macs(st, double(y.size()) * p.in_channels * p.kernel_h * p.kernel_w);
}

void BM_ref_conv1_1x28x28_to_256x20x20(benchmark::State& st) {
  conv_bench(st, {1, 28, 28, 256, 20, 20, 9, 9, 1, 1, 0, 0, CAPS_ACT_RELU});
}
BENCHMARK(BM_ref_conv1_1x28x28_to_256x20x20)->Unit(benchmark::kMillisecond);

void BM_ref_primarycaps_conv_256x20x20_to_256x6x6(benchmark::State& st) {
  conv_bench(st, {256, 20, 20, 256, 6, 6, 9, 9, 2, 2, 0, 0, CAPS_ACT_NONE});
}
BENCHMARK(BM_ref_primarycaps_conv_256x20x20_to_256x6x6)->Unit(benchmark::kMillisecond);

void BM_ref_squash_1152x8(benchmark::State& st) {
  const auto s = randoms(1152 * 8);
  std::vector<float> v(s.size());
  for (auto _ : st) {
    ref::squash_f32({CAPS_SQUASH_EPS_ADD_TO_NORM, 1e-8f}, s.data(), v.data(), 1152, 8);
    benchmark::ClobberMemory();
  }
  set_macs(st, 1152 * 8);
}
BENCHMARK(BM_ref_squash_1152x8);

void BM_ref_digitcaps_1152x8_to_10x16_3_routings(benchmark::State& st) {
  const int I = 1152, DI = 8, J = 10, DO = 16, R = 3;
  const auto u = randoms(size_t(I) * DI, -0.5f, 0.5f);
  const auto w = randoms(size_t(J) * I * DO * DI, -0.05f, 0.05f);
  std::vector<float> u_hat(size_t(J) * I * DO), b(size_t(J) * I), c(size_t(J) * I), v(size_t(J) * DO);
  for (auto _ : st) {
    ref::caps_predict_f32({I, DI, J, DO}, u.data(), w.data(), u_hat.data());
    ref::dynamic_routing_f32({I, J, DO, R, CAPS_SOFTMAX_OVER_OUTPUTS, {CAPS_SQUASH_EPS_ADD_TO_NORM, 1e-8f}},
                             u_hat.data(), b.data(), c.data(), v.data());
    benchmark::ClobberMemory();
  }
  set_macs(st, double(J) * I * DO * DI + double(J) * I * DO * (2 * R - 1));
}
BENCHMARK(BM_ref_digitcaps_1152x8_to_10x16_3_routings)->Unit(benchmark::kMicrosecond);

void BM_ref_decoder_160_512_1024_784(benchmark::State& st) {
  const int sizes[4] = {160, 512, 1024, 784};
  std::vector<std::vector<float>> w, b, h;
  h.push_back(randoms(160, 0.0f, 0.5f));
  for (int l = 0; l < 3; ++l) {
    w.push_back(randoms(size_t(sizes[l]) * sizes[l + 1]));
    b.push_back(randoms(size_t(sizes[l + 1])));
    h.emplace_back(size_t(sizes[l + 1]));
  }
  for (auto _ : st) {
    for (int l = 0; l < 3; ++l)
      ref::dense_f32({sizes[l], sizes[l + 1], l == 2 ? CAPS_ACT_SIGMOID : CAPS_ACT_RELU}, h[l].data(),
                     w[l].data(), b[l].data(), h[l + 1].data());
    benchmark::ClobberMemory();
  }
  set_macs(st, 160.0 * 512 + 512.0 * 1024 + 1024.0 * 784);
}
BENCHMARK(BM_ref_decoder_160_512_1024_784)->Unit(benchmark::kMicrosecond);

struct Network {
  tools::AlignedBuffer file, arena;
  Model model;
  Interpreter it;
  uint64_t macs = 0, decoder_macs = 0;
  Network() {
    const auto spec = tools::capsnet_preset("canonical");
    std::vector<tools::OpReport> report;
    const auto bytes = tools::build_capsnet(spec, tools::capsnet_random_weights(spec, 1), &report);
    file = tools::AlignedBuffer(bytes.size());
    std::copy(bytes.begin(), bytes.end(), file.data());
    model.load(file.data(), file.size());
    arena = tools::AlignedBuffer(model.arena_size());
    it.init(model, arena.data(), arena.size());
    for (size_t k = 0; k < report.size(); ++k)
      (k < model.attributes().decoder_first_op ? macs : decoder_macs) += report[k].macs;
    std::vector<uint8_t> px(784);
    for (size_t k = 0; k < px.size(); ++k) px[k] = uint8_t(k * 31);
    it.set_input_u8(px.data(), px.size());
  }
};

void BM_network_canonical_classify(benchmark::State& st) {
  static Network net;
  for (auto _ : st) net.it.invoke();
  set_macs(st, double(net.macs));
  st.counters["images/s"] = benchmark::Counter(1, benchmark::Counter::kIsIterationInvariantRate);
}
BENCHMARK(BM_network_canonical_classify)->Unit(benchmark::kMillisecond);

void BM_network_canonical_classify_and_reconstruct(benchmark::State& st) {
  static Network net;
  const float* image = nullptr;
  for (auto _ : st) {
    net.it.invoke();
    net.it.reconstruct(-1, &image);
  }
  set_macs(st, double(net.macs + net.decoder_macs));
  st.counters["images/s"] = benchmark::Counter(1, benchmark::Counter::kIsIterationInvariantRate);
}
BENCHMARK(BM_network_canonical_classify_and_reconstruct)->Unit(benchmark::kMillisecond);

// Model::load of the 33 MB canonical file: full validation, with and without the CRC-32.
void BM_model_load_canonical(benchmark::State& st) {
  static Network net;
  const uint32_t flags = st.range(0) ? 0u : CAPS_LOAD_SKIP_CHECKSUM;
  for (auto _ : st) {
    Model m;
    benchmark::DoNotOptimize(m.load(net.file.data(), net.file.size(), flags));
  }
  st.SetBytesProcessed(int64_t(st.iterations()) * int64_t(net.file.size()));
  st.SetLabel(flags ? "checksum skipped" : "with checksum");
}
BENCHMARK(BM_model_load_canonical)->Arg(1)->Arg(0)->Unit(benchmark::kMillisecond);

// Prints the console table as usual, then each benchmark's MAC/s relative to the baseline.
class RatioReporter : public benchmark::ConsoleReporter {
 public:
  void ReportRuns(const std::vector<Run>& runs) override {
    ConsoleReporter::ReportRuns(runs);
    for (const Run& r : runs) {
      auto it = r.counters.find("MAC/s");
      if (it != r.counters.end() && r.run_type == Run::RT_Iteration) macs_[r.benchmark_name()] = it->second.value;
    }
  }
  void Finalize() override {
    ConsoleReporter::Finalize();
    auto base = macs_.find("BM_baseline_dot_l1");
    if (base == macs_.end() || base->second <= 0) return;
    std::printf("\nMAC/s relative to BM_baseline_dot_l1 (%.2f GMAC/s in this run):\n", base->second / 1e9);
    for (const auto& [name, v] : macs_)
      if (name != base->first) std::printf("  %-55s %6.3f\n", name.c_str(), v / base->second);
  }

 private:
  std::map<std::string, double> macs_;
};

}  // namespace

int main(int argc, char** argv) {
  benchmark::Initialize(&argc, argv);
  if (benchmark::ReportUnrecognizedArguments(argc, argv)) return 1;
  RatioReporter reporter;
  benchmark::RunSpecifiedBenchmarks(&reporter);
  benchmark::Shutdown();
  return 0;
}
