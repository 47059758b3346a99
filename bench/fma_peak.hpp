// The FMA-throughput microbenchmark the kernels are judged against: kernels/simd/fma_chains.hpp's
// loop (12 independent FMA chains in registers), instantiated per ISA in
// bench/fma_peak_<isa>.cpp, each compiled with only its flags.
#ifndef CAPSRT_BENCH_FMA_PEAK_HPP
#define CAPSRT_BENCH_FMA_PEAK_HPP

#ifdef CAPSRT_FMA_PEAK_LOOP
#include "simd/fma_chains.hpp"
#endif

namespace capsrt {
namespace bench {

constexpr int kPeakChains = 12;  // simd::kFmaChains

float fma_peak_avx2(long iterations, float seed);    // 8 lanes (x86 builds)
float fma_peak_avx512(long iterations, float seed);  // 16 lanes (x86 builds)
float fma_peak_neon(long iterations, float seed);    // 4 lanes (ARM builds with NEON)
int int8_peak_vnni(long iterations, int seed);      // 12 vpdpbusd chains of 64 int8 multiply-adds (x86)

#ifdef CAPSRT_FMA_PEAK_LOOP  // defined by the per-ISA files, which have xsimd and the ISA flags
template <class A>
float fma_peak_loop(long iterations, float seed) {
  return simd::fma_chains<A>(iterations, seed);
}
#endif

}  // namespace bench
}  // namespace capsrt

#endif
