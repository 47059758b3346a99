// The int8 ceiling of the VNNI kernels, measured as the FMA peak is (bench/fma_peak.hpp): 12
// independent vpdpbusd chains kept in registers, no loads or stores in the loop; one call does
// `iterations` x 12 x 64 multiply-adds. Compiled with the avx512-vnni set's flags only.
#include <immintrin.h>

#include "fma_peak.hpp"

int capsrt::bench::int8_peak_vnni(long iterations, int seed) {
  const __m512i a = _mm512_set1_epi32(0x01020304 + seed), b = _mm512_set1_epi32(0x05060708);
  __m512i c[kPeakChains];
  for (int i = 0; i < kPeakChains; ++i) c[i] = _mm512_set1_epi32(seed + i);
  for (long n = 0; n < iterations; ++n)
    for (int i = 0; i < kPeakChains; ++i) c[i] = _mm512_dpbusd_epi32(c[i], a, b);
  __m512i r = c[0];
  for (int i = 1; i < kPeakChains; ++i) r = _mm512_add_epi32(r, c[i]);
  alignas(64) int lanes[16];
  _mm512_store_si512(lanes, r);
  int sum = 0;
  for (int l = 0; l < 16; ++l) sum += lanes[l];
  return sum;
}
