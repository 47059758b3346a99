// The FMA-throughput microbenchmark the kernels are judged against: 12 independent FMA chains
// kept in registers (enough to cover an FMA latency of 4-6 cycles on 2 pipes), no loads or
// stores in the loop. One implementation per ISA, each compiled with only its flags
// (bench/fma_peak_<isa>.cpp). Each returns a value derived from every chain so nothing is
// optimised away; one call does `iterations` x 12 x (vector lanes) multiply-adds.
#ifndef CAPSRT_BENCH_FMA_PEAK_HPP
#define CAPSRT_BENCH_FMA_PEAK_HPP

namespace capsrt {
namespace bench {

constexpr int kPeakChains = 12;

float fma_peak_avx2(long iterations, float seed);    // 8 lanes (x86 builds)
float fma_peak_avx512(long iterations, float seed);  // 16 lanes (x86 builds)
float fma_peak_neon(long iterations, float seed);    // 4 lanes (ARM builds with NEON)

}  // namespace bench
}  // namespace capsrt

#endif
