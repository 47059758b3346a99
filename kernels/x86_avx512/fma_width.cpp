// Whether this core's 512-bit FMAs run at twice the 256-bit rate (two full-width pipes: AMD Zen 5,
// most Xeons) or at the same rate (each 512-bit FMA takes both 256-bit pipes: AMD Zen 4, Intel
// cores with one 512-bit FMA unit). CPUID does not say, so it is measured once, the first time a
// kernel asks: kernels/simd/fma_chains.hpp's register-only loop with zmm and with ymm registers,
// in turn, 3 times each (about 50 microseconds in all), the best time of each. Full width when the
// 512-bit loop does at least 1.5 times the 256-bit loop's multiply-adds per second (the two kinds
// measure 2.0 and 1.0; docs/performance.md). Only the speed depends on the answer: the conv
// tiles it picks give the same bits.
#include <atomic>
#include <chrono>

#include "simd/fma_chains.hpp"
#include "x86_avx512/avx512.h"

namespace capsrt {
namespace avx512 {

namespace {

template <class A>
double seconds(long iterations) {
  const auto t0 = std::chrono::steady_clock::now();
  volatile float sink = simd::fma_chains<A>(iterations, 1.0f);
  (void)sink;
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
}

bool measure_full_width() {
  constexpr long kIterations = 2048;  // 24 K FMAs a loop: 4 to 12 microseconds
  double best256 = 1e9, best512 = 1e9;
  seconds<xsimd::avx512f>(kIterations);  // the 512-bit unit woken up first
  for (int round = 0; round < 3; ++round) {
    const double t256 = seconds<xsimd::avx2>(kIterations), t512 = seconds<xsimd::avx512f>(kIterations);
    best256 = t256 < best256 ? t256 : best256;
    best512 = t512 < best512 ? t512 : best512;
  }
  // Multiply-adds per second: 16 lanes in best512 against 8 lanes in best256.
  return (16.0 / best512) >= 1.5 * (8.0 / best256);
}

std::atomic<int> g_full_width{-1};  // -1: not measured yet

}  // namespace

bool full_width_fma() {
  int v = g_full_width.load(std::memory_order_relaxed);
  if (v < 0) {  // racing first calls measure alike
    v = measure_full_width() ? 1 : 0;
    g_full_width.store(v, std::memory_order_relaxed);
  }
  return v == 1;
}

}  // namespace avx512
}  // namespace capsrt
