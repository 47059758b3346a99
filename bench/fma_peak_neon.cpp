// The FMA peak loop (bench/fma_peak.hpp) for xsimd::default_arch.
#include <xsimd/xsimd.hpp>
#define CAPSRT_FMA_PEAK_LOOP
#include "fma_peak.hpp"

float capsrt::bench::fma_peak_neon(long iterations, float seed) {
  return fma_peak_loop<xsimd::default_arch>(iterations, seed);
}
