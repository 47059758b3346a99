// The FMA-throughput loop: 12 independent FMA chains kept in registers (enough to cover an FMA
// latency of 4 to 6 cycles on 2 pipes), no loads or stores in the loop. Written once over an
// xsimd arch: capsbench measures each ISA's peak with it (bench/fma_peak_<isa>.cpp), and the
// avx512 sets compare the 512-bit and the 256-bit rate with it to pick their conv tile
// (x86_avx512/fma_width.cpp). One call does `iterations` x 12 x (vector lanes) multiply-adds and
// returns a value derived from every chain, so nothing is optimised away. Check the loop stays in
// registers: objdump -d shows 12 FMAs with register operands only between its compare and jump.
#ifndef CAPSRT_KERNELS_SIMD_FMA_CHAINS_HPP
#define CAPSRT_KERNELS_SIMD_FMA_CHAINS_HPP

#include <xsimd/xsimd.hpp>

namespace capsrt {
namespace simd {

constexpr int kFmaChains = 12;

template <class A>
float fma_chains(long iterations, float seed) {
  using B = xsimd::batch<float, A>;
  const B m(0.999999f), a(1e-7f);
  B c0(seed), c1(seed + 1), c2(seed + 2), c3(seed + 3), c4(seed + 4), c5(seed + 5);
  B c6(seed + 6), c7(seed + 7), c8(seed + 8), c9(seed + 9), c10(seed + 10), c11(seed + 11);
  for (long n = 0; n < iterations; ++n) {
    c0 = xsimd::fma(c0, m, a), c1 = xsimd::fma(c1, m, a), c2 = xsimd::fma(c2, m, a);
    c3 = xsimd::fma(c3, m, a), c4 = xsimd::fma(c4, m, a), c5 = xsimd::fma(c5, m, a);
    c6 = xsimd::fma(c6, m, a), c7 = xsimd::fma(c7, m, a), c8 = xsimd::fma(c8, m, a);
    c9 = xsimd::fma(c9, m, a), c10 = xsimd::fma(c10, m, a), c11 = xsimd::fma(c11, m, a);
  }
  return xsimd::hadd(((c0 + c1) + (c2 + c3)) + ((c4 + c5) + (c6 + c7)) + ((c8 + c9) + (c10 + c11)));
}

}  // namespace simd
}  // namespace capsrt

#endif
