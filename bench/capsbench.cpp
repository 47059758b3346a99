// capsbench: every kernel at the canonical and the small CapsNet's shapes, and both whole
// networks at batch 1 on one thread, for each kernel set this build and CPU run; with the FMA
// peak of each ISA measured in the same run (bench/fma_peak.hpp), so every figure is also given
// as a fraction of the machine's own ceiling (these machines are shared and their clocks vary).
//
//   capsbench                                  every available set
//   capsbench --kernels avx2-fma,reference     only these (or $CAPSRT_KERNELS)
//   capsbench --benchmark_filter=network       any Google Benchmark flag
//   capsbench --profile[=N]                    first, the per-layer table of each network (N runs)
//   capsbench --intra-threads=N                the networks also with N threads inside each op
//                                              (pthreadpool; default 2 where there are 2 cores)
//
// Counters: MAC/s (multiply-adds per second), peak (MAC/s over the FMA peak of the set's ISA;
// for the reference set, over the best peak here), images/s for the networks. A summary table
// at the end repeats the figures that docs/performance.md records, then each int8 benchmark
// against the float one of the same set and shape.
#include <benchmark/benchmark.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <iterator>
#include <random>
#include <sstream>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include "capsnet.hpp"
#include "capsnet_int8.hpp"
#include "capsrt/capsrt.hpp"
#include "em_capsnet.hpp"
#include "fma_peak.hpp"
#include "io.hpp"
#include "profile.hpp"
#include "kernel_set.h"
#include "threads.hpp"

using namespace capsrt;
using namespace capsrt::kernels;

namespace {

// --- the FMA peak of each ISA, measured once at start-up ------------------------------------

struct Peak {
  const char* isa;
  int lanes;
  float (*loop)(long, float);
  double macs_per_second = 0;
};

std::vector<Peak> available_peaks() {
  std::vector<Peak> peaks;
#if defined(__x86_64__) || defined(__i386__)
  if (caps_kernels_available(CAPS_KERNELS_AVX2_FMA)) peaks.push_back({"avx2-fma", 8, bench::fma_peak_avx2});
  if (caps_kernels_available(CAPS_KERNELS_AVX512)) peaks.push_back({"avx512", 16, bench::fma_peak_avx512});
#elif defined(__ARM_NEON)
  peaks.push_back({"neon", 4, bench::fma_peak_neon});
#endif
  return peaks;
}

// The best of 5 rates of run(n), which does n x macs_per_iteration multiply-adds; n is doubled
// until one call takes 50 ms (also under an emulator).
template <class Run>
double best_rate(Run&& run, double macs_per_iteration) {
  auto rate = [&](long n) {
    const auto t0 = std::chrono::steady_clock::now();
    run(n);
    return double(n) * macs_per_iteration / std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  };
  long it = 1 << 12;
  while (double(it) * macs_per_iteration / rate(it) < 0.05) it *= 2;
  double best = 0;
  for (int r = 0; r < 5; ++r) best = std::max(best, rate(it));
  return best;
}

std::vector<Peak>& peaks() {
  static std::vector<Peak> all = [] {
    std::vector<Peak> v = available_peaks();
    for (Peak& p : v)
      p.macs_per_second = best_rate([&](long n) { benchmark::DoNotOptimize(p.loop(n, 1.0f)); },
                                    double(bench::kPeakChains) * p.lanes);
    return v;
  }();
  return all;
}

// The peak a set is judged against: its own ISA's (neon64 and neon-armv7 share "neon").
double peak_for(uint32_t set) {
  double best = 0;
  for (const Peak& p : peaks()) {
    best = std::max(best, p.macs_per_second);
    const std::string isa = p.isa;
    if ((set == CAPS_KERNELS_AVX2_FMA && isa == "avx2-fma") || (set == CAPS_KERNELS_AVX512 && isa == "avx512") ||
        ((set == CAPS_KERNELS_NEON64 || set == CAPS_KERNELS_NEON_ARMV7) && isa == "neon"))
      return p.macs_per_second;
  }
  return best;
}

// --- data -------------------------------------------------------------------------------------

std::vector<float> randoms(size_t n, float lo, float hi) {
  static std::mt19937 rng(7);
  std::uniform_real_distribution<float> d(lo, hi);
  std::vector<float> v(n);
  for (float& x : v) x = d(rng);
  return v;
}

// 64-byte aligned float buffer.
struct Buffer {
  tools::AlignedBuffer bytes;
  explicit Buffer(size_t floats) : bytes(floats * sizeof(float) + 64) {}
  float* data() { return reinterpret_cast<float*>(bytes.data()); }
};

Buffer filled(size_t n, float lo, float hi) {
  Buffer b(n);
  const auto v = randoms(n, lo, hi);
  std::copy(v.begin(), v.end(), b.data());
  return b;
}

// MAC/s, and the peak it is judged against (the summary divides the two).
void report(benchmark::State& st, uint32_t set, double macs) {
  st.counters["MAC/s"] = benchmark::Counter(macs, benchmark::Counter::kIsIterationInvariantRate);
  st.counters["peak_macs"] = peak_for(set);
}

// --- kernel benchmarks ---------------------------------------------------------------------------

Conv2DParams conv_shape(int C, int H, int O, int K, int S, caps_activation act) {
  Conv2DParams p{};
  p.in_channels = C;
  p.in_height = p.in_width = H;
  p.out_channels = O;
  p.kernel_h = p.kernel_w = K;
  p.stride_h = p.stride_w = S;
  p.out_height = p.out_width = (H - K) / S + 1;
  p.activation = act;
  p.weight_layout = CAPS_LAYOUT_CONV_IHWO;
  return p;
}

void bench_conv(benchmark::State& st, const KernelSet* ks, Conv2DParams p) {
  const size_t K = size_t(p.in_channels) * p.kernel_h * p.kernel_w;
  Buffer x = filled(size_t(p.in_channels) * p.in_height * p.in_width, 0.0f, 1.0f);
  Buffer w = filled(K * p.out_channels, -0.05f, 0.05f);
  Buffer b = filled(size_t(p.out_channels), -0.05f, 0.05f);
  Buffer y(size_t(p.out_channels) * p.out_height * p.out_width);
  Buffer scratch(ks->conv2d_f32_scratch_size(p) / 4 + 16);
  for (auto _ : st) {
    ks->conv2d_f32(p, x.data(), w.data(), b.data(), y.data(), scratch.data());
    benchmark::ClobberMemory();
  }
  report(st, ks->id, double(K) * p.out_channels * p.out_height * p.out_width);
}

void bench_caps_dense(benchmark::State& st, const KernelSet* ks, int I, int DI, int J, int DO) {
  CapsDenseParams p;
  p.predict = CapsPredictParams{I, DI, J, DO, CAPS_LAYOUT_CAPS_JDKI};
  p.routing = RoutingParams{I, J, DO, 3, CAPS_SOFTMAX_OVER_OUTPUTS, {CAPS_SQUASH_EPS_ADD_TO_NORM, 1e-8f}};
  Buffer u = filled(size_t(I) * DI, -0.3f, 0.3f);
  Buffer w = filled(size_t(J) * I * DO * DI, -0.1f, 0.1f);
  Buffer v(size_t(J) * DO);
  Buffer scratch(ks->caps_dense_f32_scratch_size(p) / 4 + 16);
  for (auto _ : st) {
    ks->caps_dense_f32(p, u.data(), w.data(), v.data(), scratch.data());
    benchmark::ClobberMemory();
  }
  // the transform, then per iteration a weighted sum and (all but the last) an agreement
  report(st, ks->id, double(J) * I * DO * DI + double(J) * I * DO * 5);
}

// An EM ConvCaps layer (matrix capsules, docs/em-routing.md): H x H positions of B capsule types
// in, K x K patches of stride s, C outputs, 2 EM iterations. Multiply-adds counted as the op's
// record counts them (runtime/src/ops/em_caps.cpp): 4 per vote element for the votes (a 4x4
// product is 64 for 16 elements), and 4 per vote element an iteration (the M-step's two passes,
// the E-step's one, the couplings).
void bench_em_conv_caps(benchmark::State& st, const KernelSet* ks, int H, int B, int C, int K, int stride) {
  EmConvCapsParams p{};
  p.in_height = p.in_width = H;
  p.in_types = B;
  p.out_types = C;
  p.kernel = K;
  p.stride = stride;
  p.out_height = p.out_width = (H - K) / stride + 1;
  const int I = K * K * B;
  p.routing = EmRoutingParams{I, C, 2, 1e-3f, 1e-8f, kEmMStepRenormalised, false};
  Buffer x = filled(size_t(H) * H * 17 * B, 0.05f, 0.9f);  // (activations must be positive)
  Buffer w = filled(size_t(I) * C * 16, -0.5f, 0.5f);
  Buffer bu = filled(size_t(C), -0.5f, 0.5f), ba = filled(size_t(C), -0.5f, 0.5f);
  Buffer out(size_t(p.out_height) * p.out_width * 17 * C);
  Buffer scratch(ks->em_conv_caps_f32_scratch_size(p) / 4 + 16);
  for (auto _ : st) {
    ks->em_conv_caps_f32(p, x.data(), w.data(), bu.data(), ba.data(), out.data(), scratch.data());
    benchmark::ClobberMemory();
  }
  const double votes = double(p.out_height) * p.out_width * I * C * 16;
  report(st, ks->id, votes * 4 + votes * 4 * 2);
}

void bench_squash(benchmark::State& st, const KernelSet* ks, int count, int dim) {
  Buffer s = filled(size_t(count) * dim, -1.0f, 1.0f);
  Buffer v(size_t(count) * dim);
  for (auto _ : st) {
    ks->squash_f32({CAPS_SQUASH_EPS_ADD_TO_NORM, 1e-8f}, s.data(), v.data(), count, dim);
    benchmark::ClobberMemory();
  }
  report(st, ks->id, double(count) * dim);
}

void bench_decoder(benchmark::State& st, const KernelSet* ks, std::vector<int> sizes) {
  std::vector<Buffer> w, b, h;
  h.push_back(filled(size_t(sizes[0]), 0.0f, 0.5f));
  double macs = 0;
  for (size_t l = 0; l + 1 < sizes.size(); ++l) {
    w.push_back(filled(size_t(sizes[l]) * sizes[l + 1], -0.05f, 0.05f));
    b.push_back(filled(size_t(sizes[l + 1]), -0.05f, 0.05f));
    h.emplace_back(size_t(sizes[l + 1]));
    macs += double(sizes[l]) * sizes[l + 1];
  }
  for (auto _ : st) {
    for (size_t l = 0; l + 1 < sizes.size(); ++l)
      ks->dense_f32({sizes[l], sizes[l + 1], l + 2 == sizes.size() ? CAPS_ACT_SIGMOID : CAPS_ACT_RELU},
                    h[l].data(), w[l].data(), b[l].data(), h[l + 1].data());
    benchmark::ClobberMemory();
  }
  report(st, ks->id, macs);
}

// --- int8 kernels (docs/fixed-point.md) --------------------------------------------------------------

Conv2DQParams conv_q_shape(int C, int H, int O, int K, int S, bool relu_input, int out_bytes) {
  Conv2DQParams p{};
  p.geom = conv_shape(C, H, O, K, S, CAPS_ACT_NONE);
  p.geom.weight_layout = CAPS_LAYOUT_K4O;
  p.input_nonneg = relu_input;
  p.pad_value = 0;
  p.out_bytes = out_bytes;
  p.out_max = out_bytes == 2 ? 32767 : 127;
  p.out_min = -p.out_max;
  return p;
}

std::vector<int8_t> int8s(size_t n, int lo, int hi) {
  std::mt19937 rng(7);
  std::uniform_int_distribution<int> d(lo, hi);
  std::vector<int8_t> v(n + 64);
  for (int8_t& x : v) x = static_cast<int8_t>(d(rng));
  return v;
}

void bench_conv_q(benchmark::State& st, const KernelSet* ks, Conv2DQParams p) {
  const Conv2DParams& g = p.geom;
  const size_t K = size_t(g.in_channels) * g.kernel_h * g.kernel_w;
  const auto x = int8s(size_t(g.in_channels) * g.in_height * g.in_width, p.input_nonneg ? 0 : -128, 127);
  const auto w = int8s(k4o_bytes(g.out_channels, K), -127, 127);
  std::vector<int32_t> bias(size_t(g.out_channels), 1000), rq;
  for (int o = 0; o < g.out_channels; ++o) {
    rq.push_back(1 << 30);
    rq.push_back(40);
  }
  Buffer y(size_t(g.out_channels) * g.out_height * g.out_width);
  Buffer scratch(ks->conv2d_q_scratch_size(p) / 4 + 16);
  for (auto _ : st) {
    ks->conv2d_q(p, x.data(), w.data(), bias.data(), rq.data(), y.data(), scratch.data());
    benchmark::ClobberMemory();
  }
  report(st, ks->id, double(K) * g.out_channels * g.out_height * g.out_width);
}

void bench_caps_dense_q(benchmark::State& st, const KernelSet* ks, int I, int DI, int J, int DO) {
  CapsDenseQParams p{};
  p.predict = CapsPredictParams{I, DI, J, DO, CAPS_LAYOUT_CAPS_JDKI};
  p.iterations = 3;
  p.softmax_axis = CAPS_SOFTMAX_OVER_OUTPUTS;
  p.squash = fx::SquashQ{16, 15, 0, 0};
  const auto u = int8s(size_t(I) * DI, -60, 60);
  const auto w = int8s(size_t(J) * I * DO * DI, -127, 127);
  std::vector<int32_t> rq;
  for (int j = 0; j < J; ++j) {
    rq.push_back(1 << 30);
    rq.push_back(28);
    rq.push_back(12);
  }
  std::vector<int16_t> v(size_t(J) * DO);
  Buffer scratch(ks->caps_dense_q_scratch_size(p) / 4 + 16);
  for (auto _ : st) {
    ks->caps_dense_q(p, u.data(), w.data(), rq.data(), v.data(), scratch.data());
    benchmark::ClobberMemory();
  }
  report(st, ks->id, double(J) * I * DO * DI + double(J) * I * DO * 5);
}

// --- whole networks ------------------------------------------------------------------------------

// The EM networks capsbench builds: as the first shipped EM models (C = D = 8), yl-1993's
// train.py network (C = D = 16), and its commented alternative A = B = C = D = 32.
struct EmPreset {
  const char* name;
  int A, B, CD;
};
constexpr EmPreset kEmPresets[] = {{"em_c8", 64, 8, 8}, {"em_yl1993", 64, 8, 16}, {"em_c32", 32, 32, 32}};

struct Network {
  tools::AlignedBuffer file, arena;
  Model model;
  tools::IntraOpThreads pool;
  Interpreter it;
  uint64_t macs = 0, decoder_macs = 0;
  // int8: the same network quantised, calibrated on 16 of the input images below (seeded).
  // intra_threads: threads inside each op (pthreadpool, tools/common/threads.hpp).
  // preset "em_...": an EM network (random weights, 1x28x28, 2 iterations), sizes from kEmPresets.
  Network(const std::string& preset, uint32_t set, bool int8 = false, unsigned intra_threads = 1)
      : pool(intra_threads) {
    std::vector<tools::OpReport> ops;
    std::vector<uint8_t> bytes;
    if (preset.rfind("em_", 0) == 0) {
      const auto* p = std::find_if(std::begin(kEmPresets), std::end(kEmPresets),
                                   [&](const EmPreset& e) { return preset == e.name; });
      if (p == std::end(kEmPresets)) throw std::invalid_argument("no EM preset " + preset);
      tools::EmSpec spec;
      spec.A = p->A;
      spec.B = p->B;
      spec.C = spec.D = p->CD;
      bytes = tools::build_em_capsnet(spec, tools::em_random_weights(spec, 1), &ops);
    } else {
      const auto spec = tools::capsnet_preset(preset);
      const auto weights = tools::capsnet_random_weights(spec, 1);
      std::vector<uint8_t> calib(16 * size_t(spec.input_channels) * spec.input_height * spec.input_width);
      for (size_t k = 0; k < calib.size(); ++k) calib[k] = uint8_t(k * 31 + k / 784);
      bytes = int8 ? tools::build_capsnet_int8(spec, weights, tools::calibrate_capsnet(spec, weights, calib.data(), 16),
                                               &ops)
                   : tools::build_capsnet(spec, weights, &ops);
    }
    tools::VerifiedModel v = tools::load_verified(bytes);
    file = std::move(v.bytes);
    model = v.model;
    arena = tools::AlignedBuffer(model.arena_size_for(set, pool.threads()));
    if (it.init(model, arena.data(), arena.size(), set, pool.threading()) != CAPS_OK) std::abort();
    for (size_t k = 0; k < ops.size(); ++k)
      (k < model.attributes().decoder_first_op ? macs : decoder_macs) += ops[k].macs;
    std::vector<uint8_t> px(model.input_size());
    for (size_t k = 0; k < px.size(); ++k) px[k] = uint8_t(k * 31);
    it.set_input_u8(px.data(), px.size());
  }
};

// A no-op per-op observer: network_observed/* against network/* shows what the observer costs.
int32_t observe_nothing(void*, const caps_op_event*) { return 0; }

void run_network(benchmark::State& st, uint32_t set, const std::string& preset, bool recon, bool int8,
                 bool observed, unsigned intra_threads = 1) {
  Network net(preset, set, int8, intra_threads);
  if (observed) net.it.set_observer(observe_nothing, nullptr);
  for (auto _ : st) {
    net.it.invoke();
    if (recon) net.it.reconstruct(-1);
  }
  report(st, set, double(net.macs + (recon ? net.decoder_macs : 0)));
  st.counters["images/s"] = benchmark::Counter(1, benchmark::Counter::kIsIterationInvariantRate);
}

void bench_network(benchmark::State& st, uint32_t set, const std::string& preset, bool recon, bool int8) {
  run_network(st, set, preset, recon, int8, false);
}
void bench_network_observed(benchmark::State& st, uint32_t set, const std::string& preset) {
  run_network(st, set, preset, false, false, true);
}
// Threads inside the ops (timed in real time: the other threads' work counts).
void bench_network_threads(benchmark::State& st, uint32_t set, const std::string& preset, bool int8, unsigned n) {
  run_network(st, set, preset, false, int8, false, n);
}

// Model::load of a whole file: full validation, with the CRC-32 or without.
void bench_load(benchmark::State& st, const std::string& preset, bool checksum) {
  Network net(preset, CAPS_KERNELS_REFERENCE);
  for (auto _ : st) {
    Model m;
    benchmark::DoNotOptimize(m.load(net.file.data(), net.file.size(), checksum ? 0u : CAPS_LOAD_SKIP_CHECKSUM));
  }
  st.SetBytesProcessed(int64_t(st.iterations()) * int64_t(net.file.size()));
}

void bench_peak(benchmark::State& st, size_t index) {
  const Peak& p = peaks()[index];
  const long it = 1 << 16;
  for (auto _ : st) benchmark::DoNotOptimize(p.loop(it, 1.0f));
  st.counters["MAC/s"] = benchmark::Counter(double(it) * bench::kPeakChains * p.lanes,
                                            benchmark::Counter::kIsIterationInvariantRate);
}

// --- registration and the summary --------------------------------------------------------------

std::vector<uint32_t> parse_sets(std::string list) {
  std::vector<uint32_t> ids;
  if (list.empty() || list == "all") {
    for (uint32_t id = CAPS_KERNELS_COUNT - 1; id >= CAPS_KERNELS_REFERENCE; --id)
      if (caps_kernels_available(id)) ids.push_back(id);
    return ids;
  }
  size_t start = 0;
  while (start <= list.size()) {
    const size_t comma = std::min(list.find(',', start), list.size());
    const std::string name = list.substr(start, comma - start);
    uint32_t id = caps_kernels_from_name(name.c_str());
    if (id == CAPS_KERNELS_AUTO) id = caps_kernels_default();
    if (id == CAPS_KERNELS_COUNT || !caps_kernels_available(id)) {
      std::fprintf(stderr, "capsbench: kernel set '%s' is not available here\n", name.c_str());
      std::exit(2);
    }
    ids.push_back(id);
    start = comma + 1;
  }
  return ids;
}

// The clock /proc/cpuinfo reports (Linux; 0 elsewhere). On virtual machines it is often the
// base clock, not the one the core runs at.
double cpu_mhz() {
  FILE* f = std::fopen("/proc/cpuinfo", "r");
  if (f == nullptr) return 0;
  char line[256];
  double mhz = 0;
  while (mhz == 0 && std::fgets(line, sizeof line, f) != nullptr)
    if (std::strncmp(line, "cpu MHz", 7) == 0) {
      const char* colon = std::strchr(line, ':');
      if (colon != nullptr) mhz = std::atof(colon + 1);
    }
  std::fclose(f);
  return mhz;
}

// Prints the console table, then per set: each benchmark's share of the FMA peak.
class PeakReporter : public benchmark::ConsoleReporter {
 public:
  void ReportRuns(const std::vector<Run>& runs) override {
    ConsoleReporter::ReportRuns(runs);
    for (const Run& r : runs) {
      if (r.run_type != Run::RT_Iteration) continue;
      Row row;
      auto m = r.counters.find("MAC/s");
      auto p = r.counters.find("peak_macs");
      auto i = r.counters.find("images/s");
      row.macs = m != r.counters.end() ? m->second.value : 0;
      row.peak = p != r.counters.end() ? p->second.value : 0;
      row.images = i != r.counters.end() ? i->second.value : 0;
      rows_.emplace_back(r.benchmark_name(), row);
    }
  }
  void Finalize() override {
    ConsoleReporter::Finalize();
    const double mhz = cpu_mhz();
    std::printf("\nFMA peak measured in this run (12 register-only FMA chains):\n");
    for (const Peak& p : peaks()) {
      std::printf("  %-9s %7.1f G multiply-adds/s", p.isa, p.macs_per_second / 1e9);
      if (mhz > 0) std::printf(" = %.1f per cycle at the %.0f MHz the OS reports", p.macs_per_second / (mhz * 1e6), mhz);
      std::printf("; %d per cycle-equivalent of 2 FMA pipes x %d lanes: a %.2f GHz clock\n", 2 * p.lanes,
                  p.lanes, p.macs_per_second / (2.0 * p.lanes) / 1e9);
    }
#if defined(__x86_64__) || defined(__i386__)
    if (caps_kernels_available(CAPS_KERNELS_AVX512_VNNI)) {
      // The int8 ceiling of the VNNI kernels (12 register-only vpdpbusd chains), beside the FMA
      // peak the int8 figures are given against (docs/performance.md).
      const double best = best_rate([](long n) { benchmark::DoNotOptimize(bench::int8_peak_vnni(n, 1)); },
                                    double(bench::kPeakChains) * 64);
      std::printf("  vpdpbusd  %7.1f G int8 multiply-adds/s (12 register-only chains): %.2fx the FMA peak\n",
                  best / 1e9, peaks().empty() ? 0.0 : best / peaks().back().macs_per_second);
    }
#endif
    std::printf("\n%-50s %12s %8s %12s\n", "benchmark", "G MAC/s", "of peak", "images/s");
    for (const auto& [name, row] : rows_) {
      if (row.peak <= 0) continue;
      std::printf("%-50s %12.2f %7.1f%% %12s\n", name.c_str(), row.macs / 1e9, 100.0 * row.macs / row.peak,
                  row.images > 0 ? std::to_string(int(row.images + 0.5)).c_str() : "");
    }
    // Each int8 benchmark against the float one of the same set and shape (the same
    // multiply-adds, so the ratio of MAC/s is the speed-up).
    bool header = false;
    for (const auto& [name, row] : rows_) {
      const size_t at = name.find("/int8_");
      if (at == std::string::npos || row.macs <= 0) continue;
      const std::string twin = name.substr(0, at + 1) + name.substr(at + 6);
      for (const auto& [other, frow] : rows_) {
        if (other != twin || frow.macs <= 0) continue;
        if (!header) std::printf("\nint8 against float, same set and shape:\n");
        header = true;
        std::printf("  %-60s %6.2fx\n", name.c_str(), row.macs / frow.macs);
      }
    }
    // Threads inside the ops against one thread, both in real time (network_threadsN/x against
    // network/x_real_time): the speed-up at batch 1.
    header = false;
    const std::string suffix = "/real_time";  // Google Benchmark's, for UseRealTime
    for (const auto& [name, row] : rows_) {
      const size_t at = name.find("_threads");
      const size_t slash = name.find('/', at == std::string::npos ? 0 : at);
      if (at == std::string::npos || slash == std::string::npos || row.macs <= 0) continue;
      const std::string base = name.substr(0, name.size() - (name.size() >= suffix.size() &&
                                                              name.compare(name.size() - suffix.size(), suffix.size(), suffix) == 0
                                                                  ? suffix.size() : 0));
      const std::string twin = base.substr(0, at) + base.substr(slash) + "_real_time" + suffix;
      for (const auto& [other, orow] : rows_) {
        if (other != twin || orow.macs <= 0) continue;
        if (!header) std::printf("\nthreads inside the ops against one thread, batch 1, real time:\n");
        header = true;
        std::printf("  %-60s %6.2fx\n", name.c_str(), row.macs / orow.macs);
      }
    }
  }

 private:
  struct Row {
    double macs = 0, peak = 0, images = 0;
  };
  std::vector<std::pair<std::string, Row>> rows_;
};

}  // namespace

int main(int argc, char** argv) {
  std::string sets_arg;
  if (const char* env = std::getenv("CAPSRT_KERNELS")) sets_arg = env;
  std::vector<char*> args;
  int profile_runs = 0;
  // Threads inside the ops: 2 by default where pthreadpool is built in and the machine has two.
  unsigned intra_threads = tools::intra_op_threads_available() && std::thread::hardware_concurrency() >= 2 ? 2 : 1;
  for (int k = 0; k < argc; ++k) {
    if (std::strcmp(argv[k], "--profile") == 0) {
      profile_runs = 200;
    } else if (std::strncmp(argv[k], "--profile=", 10) == 0) {
      profile_runs = std::atoi(argv[k] + 10);
      if (profile_runs < 1) {
        std::fprintf(stderr, "capsbench: --profile=N takes a positive N\n");
        return 1;
      }
    } else if (std::strncmp(argv[k], "--intra-threads=", 16) == 0) {
      intra_threads = static_cast<unsigned>(std::atoi(argv[k] + 16));
      if (intra_threads < 1 || intra_threads > CAPS_MAX_THREADS || (intra_threads > 1 && !tools::intra_op_threads_available())) {
        std::fprintf(stderr, "capsbench: --intra-threads=N takes 1 to %u, more than 1 only with pthreadpool\n", CAPS_MAX_THREADS);
        return 2;
      }
    } else if (std::strncmp(argv[k], "--kernels=", 10) == 0) {
      sets_arg = argv[k] + 10;
    } else if (std::strcmp(argv[k], "--kernels") == 0 && k + 1 < argc) {
      sets_arg = argv[++k];
    } else {
      args.push_back(argv[k]);
    }
  }
  int n = static_cast<int>(args.size());
  benchmark::Initialize(&n, args.data());
  if (benchmark::ReportUnrecognizedArguments(n, args.data())) return 1;

  const std::vector<uint32_t> sets = parse_sets(sets_arg);
  std::printf("capsbench: kernel sets");
  for (uint32_t id : sets) std::printf(" %s", caps_kernels_name(id));
  std::printf(" (this machine's default: %s)\n", caps_kernels_name(caps_kernels_default()));
  peaks();  // measured now, before the kernels
  // The per-layer tables (capsrun --profile's) of the shipped architectures, decoder included.
  for (uint32_t id = 0; profile_runs > 0 && id < CAPS_KERNELS_COUNT; ++id) {
    if (std::find(sets.begin(), sets.end(), id) == sets.end()) continue;
    for (const char* preset : {"canonical", "small", "em_c8"})
      for (bool int8 : {false, true}) {
        if (int8 && std::strncmp(preset, "em_", 3) == 0) continue;  // (float only)
        Network net(preset, id, int8);
        std::printf("\nper-layer profile: %s %s, kernels %s\n", preset, int8 ? "int8" : "float32",
                    caps_kernels_name(id));
        std::ostringstream table;
        tools::print_profile(table, tools::profile_ops(net.it, profile_runs, true));
        std::printf("%s", table.str().c_str());
      }
  }

  for (size_t k = 0; k < peaks().size(); ++k)
    benchmark::RegisterBenchmark((std::string("fma_peak/") + peaks()[k].isa).c_str(), bench_peak, k);
  for (uint32_t id : sets) {
    const KernelSet* ks = kernel_set(id);
    const std::string s = ks->name;
    auto reg = [&](const std::string& name, auto&& fn, auto... a) {
      return benchmark::RegisterBenchmark((s + "/" + name).c_str(), fn, a...)->Unit(benchmark::kMicrosecond);
    };
    reg("conv1/canonical_1x28x28_256x9x9", bench_conv, ks, conv_shape(1, 28, 256, 9, 1, CAPS_ACT_RELU));
    reg("primarycaps_conv/canonical_256x20x20_256x9x9s2", bench_conv, ks, conv_shape(256, 20, 256, 9, 2, CAPS_ACT_NONE));
    reg("caps_dense/canonical_1152x8_10x16_r3", bench_caps_dense, ks, 1152, 8, 10, 16);
    reg("squash/canonical_1152x8", bench_squash, ks, 1152, 8);
    reg("decoder/canonical_160_512_1024_784", bench_decoder, ks, std::vector<int>{160, 512, 1024, 784});
    reg("conv1/small_1x28x28_16x7x7", bench_conv, ks, conv_shape(1, 28, 16, 7, 1, CAPS_ACT_RELU));
    reg("primarycaps_conv/small_16x22x22_64x7x7s2", bench_conv, ks, conv_shape(16, 22, 64, 7, 2, CAPS_ACT_NONE));
    reg("caps_dense/small_1024x4_10x6_r3", bench_caps_dense, ks, 1024, 4, 10, 6);
    reg("decoder/small_60_128_256_784", bench_decoder, ks, std::vector<int>{60, 128, 256, 784});
    reg("network/canonical", bench_network, id, std::string("canonical"), false, false);
    reg("network/small", bench_network, id, std::string("small"), false, false);
    // Matrix capsules with EM routing: the shipped models' ConvCaps layers and networks, and
    // yl-1993's train.py network (docs/em-routing.md).
    reg("em_conv_caps1/c8_14x14x8_3x3s2_8_r2", bench_em_conv_caps, ks, 14, 8, 8, 3, 2);
    reg("em_conv_caps2/c8_6x6x8_3x3s1_8_r2", bench_em_conv_caps, ks, 6, 8, 8, 3, 1);
    reg("network/em_c8", bench_network, id, std::string("em_c8"), false, false);
    reg("network/em_yl1993", bench_network, id, std::string("em_yl1993"), false, false);
    reg("network/em_c32", bench_network, id, std::string("em_c32"), false, false);
    reg("network_observed/small", bench_network_observed, id, std::string("small"));
    reg("network+reconstruction/canonical", bench_network, id, std::string("canonical"), true, false);
    // The int8 path (docs/fixed-point.md), the same shapes.
    reg("int8_conv1/canonical_1x28x28_256x9x9", bench_conv_q, ks, conv_q_shape(1, 28, 256, 9, 1, false, 1));
    reg("int8_primarycaps_conv/canonical_256x20x20_256x9x9s2", bench_conv_q, ks,
        conv_q_shape(256, 20, 256, 9, 2, true, 2));
    reg("int8_caps_dense/canonical_1152x8_10x16_r3", bench_caps_dense_q, ks, 1152, 8, 10, 16);
    reg("int8_conv1/small_1x28x28_16x7x7", bench_conv_q, ks, conv_q_shape(1, 28, 16, 7, 1, false, 1));
    reg("int8_primarycaps_conv/small_16x22x22_64x7x7s2", bench_conv_q, ks, conv_q_shape(16, 22, 64, 7, 2, true, 2));
    reg("int8_caps_dense/small_1024x4_10x6_r3", bench_caps_dense_q, ks, 1024, 4, 10, 6);
    reg("int8_network/canonical", bench_network, id, std::string("canonical"), false, true);
    reg("int8_network/small", bench_network, id, std::string("small"), false, true);
    // Threads inside the ops at batch 1 (docs/threads.md), against one thread in real time.
    if (intra_threads > 1 && id != CAPS_KERNELS_REFERENCE) {
      const std::string t = "_threads" + std::to_string(intra_threads);
      for (const char* preset : {"canonical", "small", "em_c8"}) {
        reg("network/" + std::string(preset) + "_real_time", bench_network, id, std::string(preset), false, false)->UseRealTime();
        reg("network" + t + "/" + preset, bench_network_threads, id, std::string(preset), false, intra_threads)->UseRealTime();
        if (std::strncmp(preset, "em_", 3) == 0) continue;  // (float only)
        reg("int8_network/" + std::string(preset) + "_real_time", bench_network, id, std::string(preset), false, true)->UseRealTime();
        reg("int8_network" + t + "/" + preset, bench_network_threads, id, std::string(preset), true, intra_threads)->UseRealTime();
      }
    }
  }
  benchmark::RegisterBenchmark("model_load/canonical_with_crc", bench_load, std::string("canonical"), true)
      ->Unit(benchmark::kMillisecond);
  benchmark::RegisterBenchmark("model_load/canonical_no_crc", bench_load, std::string("canonical"), false)
      ->Unit(benchmark::kMillisecond);
  PeakReporter reporter;
  benchmark::RunSpecifiedBenchmarks(&reporter);
  benchmark::Shutdown();
  return 0;
}
