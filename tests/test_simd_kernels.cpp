// Every SIMD kernel set this build and CPU run, against the reference kernels, on random shapes
// (fixed seeds) that include tails: sizes that are not multiples of any vector width or tile.
//
// Tolerances. For a sum of K products computed in float32 in any order, the error is at most
// gamma_K * sum_k |w_k x_k| with gamma_K = K u / (1 - K u) and u = 2^-24 (Higham, "Accuracy and
// Stability of Numerical Algorithms", 3.1). The SIMD kernel and the reference each carry that
// error, in different orders, so they may differ by twice it: the tests compute sum |w x| in
// double and allow 2 gamma_K times it (K the summation length of the output) plus a few ulps of
// the result. Squash and lengths add a sqrt and a divide (a few ulps each). Routing iterates
// non-linear steps over such sums, so its bound is the same form with K the sum lengths met in
// one iteration (a DI-term prediction, an I-term weighted sum, a DO-term agreement), times the
// iterations, times a factor of 8 for the softmax and squash in between, on outputs of length
// below 1; the test prints the worst difference seen as a fraction of its bound.
#include <catch2/catch.hpp>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <random>
#include <string>
#include <vector>

#include "kernel_set.h"
#include "simd_sets.hpp"
#include "reference.h"
#if CAPSRT_TEST_X86_KERNELS
#include "x86_avx512/avx512.h"
#endif

using namespace capsrt;
using namespace capsrt::kernels;

namespace {

constexpr double kU = 1.0 / 16777216.0;  // 2^-24
double sum_gamma(double k) { return k * kU / (1.0 - k * kU); }

using testutil::simd_sets_here;

std::vector<float> randoms(std::mt19937& rng, size_t n, float lo, float hi) {
  std::uniform_real_distribution<float> d(lo, hi);
  std::vector<float> v(n);
  for (float& x : v) x = d(rng);
  return v;
}

int pick(std::mt19937& rng, std::initializer_list<int> values) {
  std::uniform_int_distribution<size_t> d(0, values.size() - 1);
  return *(values.begin() + d(rng));
}

// 64-byte aligned scratch, filled with garbage: no kernel may rely on zeroed scratch.
struct Scratch {
  std::vector<uint32_t> words;
  void* get(size_t n) {
    words.resize(n / 4 + 17, 0xA5A5A5A5u);
    uint8_t* p = reinterpret_cast<uint8_t*>(words.data());
    return p + (64 - reinterpret_cast<uintptr_t>(p) % 64) % 64;
  }
};

}  // namespace

TEST_CASE("the dispatch picks the best set this build and CPU run") {
  CHECK(kernel_set_runnable(CAPS_KERNELS_REFERENCE));
  // The best available: CAPSRT_KERNELS forces the tests' interpreters (testutil::test_kernels),
  // never what AUTO means (the library has no process-wide choice).
  const uint32_t best = kernel_set_runnable(CAPS_KERNELS_AVX512_VNNI) ? CAPS_KERNELS_AVX512_VNNI
                        : kernel_set_runnable(CAPS_KERNELS_AVX512)     ? CAPS_KERNELS_AVX512
                        : kernel_set_runnable(CAPS_KERNELS_AVX2_FMA) ? CAPS_KERNELS_AVX2_FMA
                        : kernel_set_runnable(CAPS_KERNELS_NEON64)   ? CAPS_KERNELS_NEON64
                        : kernel_set_runnable(CAPS_KERNELS_NEON_ARMV7) ? CAPS_KERNELS_NEON_ARMV7
                                                                     : CAPS_KERNELS_REFERENCE;
  CHECK(kernel_set_default() == best);
  CHECK(caps_kernels_default() == best);
  // What the CPU should lead the dispatch to, when the runner knows it (tools/run_tests.sh runs
  // this under qemu-x86_64 -cpu Haswell, expecting avx2-fma, and -cpu Nehalem, the reference).
  if (const char* expect = std::getenv("CAPSRT_EXPECT_KERNELS")) {
    INFO("CAPSRT_EXPECT_KERNELS=" << expect << ", dispatch chose " << kernel_set(kernel_set_default())->name);
    CHECK(std::string(kernel_set(kernel_set_default())->name) == expect);
  }
#if defined(__x86_64__)
  // x86: the CPU decides; a set is runnable exactly when the CPU has its features.
  CHECK(kernel_set_runnable(CAPS_KERNELS_AVX2_FMA) ==
        (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma")));
  CHECK(kernel_set_runnable(CAPS_KERNELS_AVX512) ==
        (__builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512dq") &&
         __builtin_cpu_supports("fma")));
  CHECK(kernel_set_runnable(CAPS_KERNELS_AVX512_VNNI) ==
        (__builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512dq") &&
         __builtin_cpu_supports("avx512bw") && __builtin_cpu_supports("avx512vl") &&
         __builtin_cpu_supports("avx512vnni") &&
         __builtin_cpu_supports("fma")));
  CHECK_FALSE(kernel_set_runnable(CAPS_KERNELS_NEON64));
#elif defined(__aarch64__)
  CHECK(kernel_set_runnable(CAPS_KERNELS_NEON64));  // the build decides
  CHECK_FALSE(kernel_set_runnable(CAPS_KERNELS_AVX2_FMA));
#elif defined(__ARM_NEON)
  CHECK(kernel_set_runnable(CAPS_KERNELS_NEON_ARMV7));
  CHECK_FALSE(kernel_set_runnable(CAPS_KERNELS_NEON64));
#endif
}

TEST_CASE("SIMD conv2d matches the reference on random shapes, IHWO weights") {
  for (const KernelSet* ks : simd_sets_here()) {
    std::mt19937 rng(1234);
    for (int trial = 0; trial < 60; ++trial) {
      Conv2DParams p{};
      p.in_channels = pick(rng, {1, 2, 3, 7, 16});
      p.kernel_h = pick(rng, {1, 2, 3, 5, 9});
      p.kernel_w = trial % 3 == 0 ? p.kernel_h : pick(rng, {1, 3, 4});
      p.stride_h = pick(rng, {1, 2, 3});
      p.stride_w = pick(rng, {1, 2});
      p.pad_h = trial % 4 == 0 ? std::min(pick(rng, {1, 2}), p.kernel_h - 1) : 0;
      p.pad_w = trial % 4 == 0 ? std::min(pick(rng, {1, 2}), p.kernel_w - 1) : 0;
      // TensorFlow's 'same' with an odd total: one more zero row (column) after than before.
      p.pad_h_extra = trial % 3 == 1 && p.pad_h + 1 < p.kernel_h ? 1 : 0;
      p.pad_w_extra = trial % 5 == 1 && p.pad_w + 1 < p.kernel_w ? 1 : 0;
      p.in_height = p.kernel_h + pick(rng, {0, 1, 5, 11});
      p.in_width = p.kernel_w + pick(rng, {0, 2, 7, 13});
      p.out_channels = pick(rng, {1, 3, 5, 8, 16, 17, 31, 32, 40, 64, 70});
      p.out_height = (p.in_height + 2 * p.pad_h + p.pad_h_extra - p.kernel_h) / p.stride_h + 1;
      p.out_width = (p.in_width + 2 * p.pad_w + p.pad_w_extra - p.kernel_w) / p.stride_w + 1;
      p.activation = trial % 2 ? CAPS_ACT_RELU : CAPS_ACT_NONE;
      p.weight_layout = CAPS_LAYOUT_CONV_IHWO;
      // A deep K so the SIMD kernel splits it into k-blocks (partial sums) in some trials.
      if (trial % 10 == 9) p.in_channels = 40;
      INFO(ks->name << " trial " << trial << ": C" << p.in_channels << " " << p.in_height << "x"
                    << p.in_width << " O" << p.out_channels << " k" << p.kernel_h << "x" << p.kernel_w
                    << " s" << p.stride_h << "," << p.stride_w << " pad" << p.pad_h << "," << p.pad_w
                    << " extra" << p.pad_h_extra << "," << p.pad_w_extra);
      const size_t K = size_t(p.in_channels) * p.kernel_h * p.kernel_w;
      const auto x = randoms(rng, size_t(p.in_channels) * p.in_height * p.in_width, -1.0f, 1.0f);
      const auto w = randoms(rng, K * p.out_channels, -0.5f, 0.5f);
      const auto b = randoms(rng, size_t(p.out_channels), -0.5f, 0.5f);
      const size_t P = size_t(p.out_height) * p.out_width;
      std::vector<float> want(P * p.out_channels), got(want.size(), 12345.0f);
      ref::conv2d_f32(p, x.data(), w.data(), b.data(), want.data());
      Scratch s;
      ks->conv2d_f32(p, x.data(), w.data(), b.data(), got.data(), s.get(ks->conv2d_f32_scratch_size(p)));
      // sum |w x| + |b| per output, in double, for the bound
      Conv2DParams pa = p;
      pa.activation = CAPS_ACT_NONE;
      std::vector<float> ax(x.size()), aw(w.size()), ab(b.size());
      for (size_t k = 0; k < x.size(); ++k) ax[k] = std::fabs(x[k]);
      for (size_t k = 0; k < w.size(); ++k) aw[k] = std::fabs(w[k]);
      for (size_t k = 0; k < b.size(); ++k) ab[k] = std::fabs(b[k]);
      std::vector<float> mag(want.size());
      ref::conv2d_f32(pa, ax.data(), aw.data(), ab.data(), mag.data());
      for (size_t n = 0; n < want.size(); ++n) {
        const double bound = 2 * sum_gamma(double(K) + 1) * 1.01 * mag[n] + 1e-30;
        INFO("output " << n << ": " << got[n] << " vs " << want[n] << ", bound " << bound);
        REQUIRE(std::fabs(double(got[n]) - want[n]) <= bound);
      }
    }
  }
}

TEST_CASE("the AVX-512 conv's two register tiles (half- and full-width cores) give the same bits") {
  // conv2d_f32 runs one of them, picked by the core's FMA width (x86_avx512/avx512.h); each
  // output's FMAs run in the same order in both, so they agree bit for bit, and the test above
  // checks the one this core runs against the reference.
#if CAPSRT_TEST_X86_KERNELS
  if (!kernel_set_runnable(CAPS_KERNELS_AVX512)) {
    std::printf("SKIPPED: no AVX-512 here\n");
    SUCCEED("no AVX-512 here: skipped");
    return;
  }
  std::printf("this core's 512-bit FMAs: %s width\n", avx512::full_width_fma() ? "full" : "half");
  std::mt19937 rng(77);
  for (int trial = 0; trial < 40; ++trial) {
    Conv2DParams p{};
    p.in_channels = trial % 5 == 4 ? 40 : pick(rng, {1, 2, 3, 7, 16});  // 40: k-blocks
    p.kernel_h = pick(rng, {1, 3, 5, 9});
    p.kernel_w = trial % 3 == 0 ? p.kernel_h : pick(rng, {1, 3, 4});
    p.stride_h = pick(rng, {1, 2});
    p.stride_w = pick(rng, {1, 2});
    p.pad_h = trial % 4 == 0 ? std::min(1, p.kernel_h - 1) : 0;
    p.pad_w = trial % 4 == 0 ? std::min(1, p.kernel_w - 1) : 0;
    p.pad_h_extra = trial % 3 == 2 && p.pad_h + 1 < p.kernel_h ? 1 : 0;
    p.pad_w_extra = trial % 3 == 2 && p.pad_w + 1 < p.kernel_w ? 1 : 0;
    p.in_height = p.kernel_h + pick(rng, {0, 5, 11});
    p.in_width = p.kernel_w + pick(rng, {0, 7, 13});
    p.out_channels = pick(rng, {1, 16, 17, 40, 64, 70, 130, 256});
    p.out_height = (p.in_height + 2 * p.pad_h + p.pad_h_extra - p.kernel_h) / p.stride_h + 1;
    p.out_width = (p.in_width + 2 * p.pad_w + p.pad_w_extra - p.kernel_w) / p.stride_w + 1;
    p.activation = trial % 2 ? CAPS_ACT_RELU : CAPS_ACT_NONE;
    p.weight_layout = CAPS_LAYOUT_CONV_IHWO;
    INFO("trial " << trial << ": C" << p.in_channels << " O" << p.out_channels << " k" << p.kernel_h << "x"
                  << p.kernel_w);
    const size_t K = size_t(p.in_channels) * p.kernel_h * p.kernel_w;
    const auto x = randoms(rng, size_t(p.in_channels) * p.in_height * p.in_width, -1.0f, 1.0f);
    const auto w = randoms(rng, K * p.out_channels, -0.5f, 0.5f);
    const auto b = randoms(rng, size_t(p.out_channels), -0.5f, 0.5f);
    const size_t n = size_t(p.out_height) * p.out_width * p.out_channels;
    std::vector<float> half(n, 1.0f), full(n, 2.0f);
    Scratch s1, s2;
    avx512::conv2d_f32_half_width(p, x.data(), w.data(), b.data(), half.data(), s1.get(avx512::conv2d_f32_scratch_size(p)));
    avx512::conv2d_f32_full_width(p, x.data(), w.data(), b.data(), full.data(), s2.get(avx512::conv2d_f32_scratch_size(p)));
    REQUIRE(std::memcmp(half.data(), full.data(), n * sizeof(float)) == 0);
  }
#else
  std::printf("SKIPPED: not an x86 build\n");
  SUCCEED("not an x86 build: skipped");
#endif
}

TEST_CASE("SIMD squash matches the reference, every epsilon mode, zero vectors, tails") {
  for (const KernelSet* ks : simd_sets_here()) {
    std::mt19937 rng(99);
    for (int trial = 0; trial < 40; ++trial) {
      const int count = pick(rng, {1, 3, 10, 16, 17, 100, 1152});
      const int dim = pick(rng, {1, 2, 4, 6, 8, 16, 19});
      const SquashParams sp{trial % 2 ? CAPS_SQUASH_EPS_IN_SQRT : CAPS_SQUASH_EPS_ADD_TO_NORM,
                            pick(rng, {0, 1, 2}) * 1e-7f};
      auto s = randoms(rng, size_t(count) * dim, -2.0f, 2.0f);
      for (int d = 0; d < dim; ++d) s[d] = 0.0f;  // capsule 0 is the zero vector
      std::vector<float> want(s.size()), got(s.size(), 7.0f);
      ref::squash_f32(sp, s.data(), want.data(), count, dim);
      ks->squash_f32(sp, s.data(), got.data(), count, dim);
      INFO(ks->name << " count " << count << " dim " << dim);
      for (size_t n = 0; n < s.size(); ++n) {
        // the norm: a sum of dim squares (2 gamma_dim relative), then sqrt, divides: ~6 ulps
        const double bound = (2 * sum_gamma(dim) + 8 * kU) * std::fabs(want[n]) + 1e-30;
        REQUIRE(std::fabs(double(got[n]) - want[n]) <= bound);
      }
      for (int d = 0; d < dim; ++d) REQUIRE(got[d] == 0.0f);
      // in place
      ks->squash_f32(sp, s.data(), s.data(), count, dim);
      for (size_t n = 0; n < s.size(); ++n) REQUIRE(s[n] == got[n]);
    }
  }
}

TEST_CASE("SIMD dense matches the reference on random sizes and every activation") {
  for (const KernelSet* ks : simd_sets_here()) {
    std::mt19937 rng(5);
    for (int trial = 0; trial < 40; ++trial) {
      const DenseParams p{pick(rng, {1, 7, 16, 33, 160, 513}), pick(rng, {1, 5, 16, 17, 40, 100}),
                          static_cast<caps_activation>(trial % 3)};
      const auto x = randoms(rng, size_t(p.in_features), -1.0f, 1.0f);
      const auto w = randoms(rng, size_t(p.in_features) * p.out_features, -0.3f, 0.3f);
      const auto b = randoms(rng, size_t(p.out_features), -0.3f, 0.3f);
      std::vector<float> want(static_cast<size_t>(p.out_features)), got(want.size(), 3.0f);
      ref::dense_f32(p, x.data(), w.data(), b.data(), want.data());
      ks->dense_f32(p, x.data(), w.data(), b.data(), got.data());
      INFO(ks->name << " K " << p.in_features << " N " << p.out_features << " act " << p.activation);
      for (int n = 0; n < p.out_features; ++n) {
        double mag = std::fabs(b[size_t(n)]);
        for (int k = 0; k < p.in_features; ++k)
          mag += std::fabs(double(w[size_t(n) * p.in_features + k]) * x[size_t(k)]);
        // ReLU and sigmoid do not enlarge an absolute error (sigmoid's slope is <= 1/4), and
        // exp adds a few ulps of the result.
        const double bound = 2 * sum_gamma(p.in_features + 1) * mag + 8 * kU * std::fabs(want[size_t(n)]) + 1e-30;
        REQUIRE(std::fabs(double(got[size_t(n)]) - want[size_t(n)]) <= bound);
      }
    }
  }
}

TEST_CASE("SIMD vector lengths match the reference") {
  for (const KernelSet* ks : simd_sets_here()) {
    std::mt19937 rng(8);
    for (int trial = 0; trial < 20; ++trial) {
      const int count = pick(rng, {1, 10, 33}), dim = pick(rng, {1, 4, 6, 16, 17, 40});
      const float eps = trial % 2 ? 1e-7f : 0.0f;
      const auto v = randoms(rng, size_t(count) * dim, -1.0f, 1.0f);
      std::vector<float> want(static_cast<size_t>(count)), got(want.size());
      ref::vector_length_f32(v.data(), want.data(), count, dim, eps);
      ks->vector_length_f32(v.data(), got.data(), count, dim, eps);
      for (int j = 0; j < count; ++j)
        REQUIRE(std::fabs(got[size_t(j)] - want[size_t(j)]) <= (sum_gamma(dim) + 2 * kU) * want[size_t(j)]);
    }
  }
}

TEST_CASE("SIMD CapsDense (u_hat transform and routing) matches the reference, both softmax axes") {
  for (const KernelSet* ks : simd_sets_here()) {
    std::mt19937 rng(77);
    double worst = 0;
    for (int trial = 0; trial < 40; ++trial) {
      CapsDenseParams p;
      const int I = pick(rng, {1, 5, 16, 17, 64, 100, 1152}), DI = pick(rng, {1, 4, 8, 9});
      const int J = pick(rng, {1, 2, 10, 11}), DO = pick(rng, {1, 6, 16, 17});
      p.predict = CapsPredictParams{I, DI, J, DO, CAPS_LAYOUT_CAPS_JDKI};
      p.routing = RoutingParams{I, J, DO, pick(rng, {1, 2, 3, 5}),
                                trial % 2 ? CAPS_SOFTMAX_OVER_INPUTS : CAPS_SOFTMAX_OVER_OUTPUTS,
                                {trial % 3 ? CAPS_SQUASH_EPS_ADD_TO_NORM : CAPS_SQUASH_EPS_IN_SQRT, 1e-7f}};
      // Squashed primary capsules (length < 1) and a W scaled as trained ones are (0.01 N(0,1)
      // at start, larger after training): predictions of order 0.1-1.
      auto u = randoms(rng, size_t(I) * DI, -0.5f, 0.5f);
      const auto w = randoms(rng, size_t(J) * I * DO * DI, -0.3f, 0.3f);
      std::vector<float> want(size_t(J) * DO), got(want.size(), 9.0f);
      Scratch s1, s2;
      ref::caps_dense_f32(p, u.data(), w.data(), want.data(), s1.get(ref::caps_dense_f32_scratch_size(p)));
      ks->caps_dense_f32(p, u.data(), w.data(), got.data(), s2.get(ks->caps_dense_f32_scratch_size(p)));
      INFO(ks->name << " I " << I << " DI " << DI << " J " << J << " DO " << DO << " iterations "
                    << p.routing.iterations << " axis " << p.routing.softmax_axis);
      // |v| < 1 after squash: the bound is absolute, see the file comment.
      const double bound = 8 * p.routing.iterations * 2 * sum_gamma(double(I) + DI + DO) + 1e-7;
      for (size_t n = 0; n < want.size(); ++n) {
        const double err = std::fabs(double(got[n]) - want[n]);
        worst = std::max(worst, err / bound);
        REQUIRE(err <= bound);
      }
    }
    WARN(ks->name << ": worst CapsDense difference " << worst << " of its bound");
  }
}
