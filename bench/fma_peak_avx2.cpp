// The FMA peak loop (bench/fma_peak.hpp) for xsimd::fma3<xsimd::avx2>.
#include <xsimd/xsimd.hpp>
#define CAPSRT_FMA_PEAK_LOOP
#include "fma_peak.hpp"

float capsrt::bench::fma_peak_avx2(long iterations, float seed) {
  return fma_peak_loop<xsimd::fma3<xsimd::avx2>>(iterations, seed);
}
