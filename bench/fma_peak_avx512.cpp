// The FMA peak loop (bench/fma_peak.hpp) for xsimd::avx512f.
#include <xsimd/xsimd.hpp>
#define CAPSRT_FMA_PEAK_LOOP
#include "fma_peak.hpp"

float capsrt::bench::fma_peak_avx512(long iterations, float seed) {
  return fma_peak_loop<xsimd::avx512f>(iterations, seed);
}
