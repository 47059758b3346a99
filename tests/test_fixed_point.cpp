// The integer building blocks of the int8 path (kernels/fixed_point.h) against the real-number
// formulas they stand for, evaluated independently in double precision (docs/fixed-point.md).
#include <catch2/catch.hpp>

#include <cmath>
#include <cstdint>
#include <cstring>
#include <random>

#include "arm_dsp/routing_q32.h"
#include "fixed_point.h"

using namespace capsrt::fx;

TEST_CASE("shift_round rounds half toward +infinity, requantize is acc x mult / 2^shift",
          "[fixed]") {
  CHECK(shift_round(5, 1) == 3);    // 2.5 -> 3
  CHECK(shift_round(-5, 1) == -2);  // -2.5 -> -2
  CHECK(shift_round(-6, 2) == -1);  // -1.5 -> -1
  CHECK(shift_round(7, 0) == 7);
  std::mt19937_64 rng(7);
  for (int n = 0; n < 100000; ++n) {
    const int32_t acc = static_cast<int32_t>(rng());
    const int32_t mult = static_cast<int32_t>((1u << 30) + (rng() & ((1u << 30) - 1)));
    const int32_t shift = 31 + static_cast<int32_t>(rng() % 31);
    const double want = std::floor(static_cast<double>(acc) * mult / std::ldexp(1.0, shift) + 0.5);
    // double holds acc x mult (< 2^62) only to 53 bits: compare within one unit there.
    CHECK(std::fabs(static_cast<double>(requantize(acc, mult, shift)) - want) <= 1.0);
  }
}

TEST_CASE("isqrt64 is the exact integer square root", "[fixed]") {
  std::mt19937_64 rng(3);
  auto check = [](uint64_t x) {
    const uint64_t r = isqrt64(x);
    REQUIRE(r * r <= x);
    const uint64_t r1 = r + 1;  // (r+1)^2 > x, without overflow: r1 <= 2^32
    REQUIRE((r1 > UINT32_MAX || r1 * r1 > x));
  };
  for (uint64_t x : {uint64_t{0}, uint64_t{1}, uint64_t{2}, uint64_t{3}, uint64_t{4},
                     UINT64_MAX, uint64_t{1} << 62, (uint64_t{1} << 62) - 1})
    check(x);
  for (int n = 0; n < 200000; ++n) check(rng() >> (rng() % 64));
  CHECK(isqrt64(UINT64_MAX) == UINT32_MAX);
}

TEST_CASE("exp_neg_q30 follows e^x within 6e-6 and is exactly 1 at 0", "[fixed]") {
  CHECK(exp_neg_q30(0) == (int64_t{1} << 30));
  double worst = 0;
  for (int64_t x = 0; x > -30 * 65536; x -= 13) {
    const double got = std::ldexp(static_cast<double>(exp_neg_q30(x)), -30);
    worst = std::max(worst, std::fabs(got - std::exp(std::ldexp(static_cast<double>(x), -16))));
  }
  // The input is Q16: -x log2(e) rounded to Q16 moves e^x by up to 2^-17 ln 2 relative.
  CHECK(worst < 6e-6);
  CHECK(exp_neg_q30(-32 * 65536) == 0);  // below 2^-31
  CHECK(exp_neg_q30(-(int64_t{1} << 32)) == 0);
}

TEST_CASE("softmax_q15 matches the real softmax within one Q15 unit", "[fixed]") {
  std::mt19937_64 rng(11);
  std::uniform_real_distribution<double> logit(-20, 20);
  for (int trial = 0; trial < 2000; ++trial) {
    const int count = 1 + static_cast<int>(rng() % 40), stride = 1 + static_cast<int>(rng() % 3);
    std::vector<int32_t> b(static_cast<size_t>(count * stride), 0), c(b.size(), -1);
    double m = -1e300;
    for (int j = 0; j < count; ++j) {
      b[static_cast<size_t>(j * stride)] = static_cast<int32_t>(std::lround(logit(rng) * 65536));
      m = std::max(m, b[static_cast<size_t>(j * stride)] / 65536.0);
    }
    softmax_q15(b.data(), count, stride, c.data());
    double sum = 0;
    for (int j = 0; j < count; ++j) sum += std::exp(b[static_cast<size_t>(j * stride)] / 65536.0 - m);
    for (int j = 0; j < count; ++j) {
      const double want = std::exp(b[static_cast<size_t>(j * stride)] / 65536.0 - m) / sum * 32768;
      REQUIRE(std::fabs(c[static_cast<size_t>(j * stride)] - want) <= 1.0);
    }
  }
  // Equal logits: exactly uniform (1/J in Q15, rounded the same for every class).
  int32_t b[10] = {0}, c[10];
  softmax_q15(b, 10, 1, c);
  for (int j = 0; j < 10; ++j) CHECK(c[j] == 3277);  // 32768 / 10 = 3276.8
  // softmax_q15_uniform (the SIMD routings' first iteration) is that value for every count.
  for (int count = 1; count <= 300; ++count) {
    std::vector<int32_t> zeros(static_cast<size_t>(count), 0), out(static_cast<size_t>(count), -1);
    softmax_q15(zeros.data(), count, 1, out.data());
    REQUIRE(softmax_q15_uniform(count) == out[0]);
    REQUIRE(std::fabs(softmax_q15_uniform(count) - 32768.0 / count) <= 1.0);
  }
}

TEST_CASE("a squashed component is shift_round(t fac, 61 - G), in 32-bit words", "[fixed]") {
  std::mt19937_64 rng(11);
  size_t mismatches = 0;
  for (int n = 0; n < 2000000; ++n) {
    // |t| < 2^31 and fac < 2^31 of every magnitude, the edges first
    int32_t t = static_cast<int32_t>(static_cast<int64_t>(rng() >> (33 + rng() % 31)) * (rng() & 1 ? 1 : -1));
    int32_t fac = static_cast<int32_t>(rng() >> (33 + rng() % 31));
    if (n < 16) t = n % 4 == 0 ? INT32_MAX : n % 4 == 1 ? -INT32_MAX : n % 4 == 2 ? 0 : -1, fac = n < 8 ? INT32_MAX : 1;
    const int32_t G = static_cast<int32_t>(rng() % 16);
    const int64_t want = shift_round(int64_t{t} * fac, 61 - G);
    if (squash_component(t, fac, G) != want && ++mismatches <= 3)
      FAIL_CHECK("t " << t << ", fac " << fac << ", G " << G << ": " << squash_component(t, fac, G) << " != " << want);
  }
  CHECK(mismatches == 0);
}

TEST_CASE("squash_vector_q is the squash rounded to the output format", "[fixed]") {
  std::mt19937_64 rng(5);
  std::uniform_real_distribution<double> unit(-1, 1);
  for (int F : {0, 5, 10, 16}) {
    for (int mode = 0; mode < 2; ++mode) {
      for (int trial = 0; trial < 20000; ++trial) {
        const int dim = 1 + static_cast<int>(rng() % 64);
        const double mag = std::ldexp(1.0, static_cast<int>(rng() % 25));
        int32_t s[64];
        int16_t v[64];
        for (int d = 0; d < dim; ++d)
          s[d] = static_cast<int32_t>(std::llround(unit(rng) * std::min(mag, 16777216.0)));
        const double eps = mode ? 1e-7 : 1e-8;
        const SquashQ p{F, 15, mode,
                        static_cast<uint64_t>(std::llround(eps * std::ldexp(1.0, (mode ? 2 * F : F) + 32)))};
        squash_vector_q(p, s, dim, 32767, v);
        double n2 = 0;
        for (int d = 0; d < dim; ++d) n2 += std::ldexp(s[d], -F) * std::ldexp(s[d], -F);
        const double den = mode ? std::sqrt(n2 + eps) : std::sqrt(n2) + eps;
        for (int d = 0; d < dim; ++d) {
          const double want = n2 == 0 ? 0 : std::ldexp(s[d], -F) * n2 / (1 + n2) / den * 32768;
          // Half a unit of rounding, plus the Q30 factor's and the square root's truncation.
          REQUIRE(std::fabs(std::max(-32767.0, std::min(32767.0, want)) - v[d]) <= 0.5 + 2e-4);
        }
      }
    }
  }
  int32_t zero[4] = {0, 0, 0, 0};
  int8_t out[4] = {1, 1, 1, 1};
  squash_vector_q(SquashQ{7, 7, 0, 0}, zero, 4, 127, out);
  CHECK((out[0] == 0 && out[1] == 0 && out[2] == 0 && out[3] == 0));
}

TEST_CASE("length_q15 is sqrt(|v|^2 + eps) in Q15, rounded down", "[fixed]") {
  const int16_t v[3] = {16384, -16384, 0};  // |v| = sqrt(0.5)
  CHECK(length_q15(v, 3, 0) == 23170);      // floor(0.70710678 * 32768) = 23170
  CHECK(length_q15(v, 3, 1u << 29) == 32768);  // sqrt(0.5 + 0.5) = 1
}

// The armv7em-dsp set's 32-bit forms of the routing steps (kernels/arm_dsp/routing_q32.h) must
// give exactly what fixed_point.h gives: checked here on the host over their whole domains'
// edges and a dense sample, since the firmware's images reach only some values.
TEST_CASE("the 32-bit exp_neg_q30 and logit shift equal fixed_point.h's", "[fixed]") {
  std::mt19937 rng(2026);
  std::vector<uint32_t> us = {0u, 1u, 2u, 0xFFFFu, 0x10000u, 0x7FFFFFFFu, 0x80000000u, 0xFFFFFFFFu};
  // Every u whose exponential is not 0 (z = u log2(e) below 31 x 2^16: u < 1,408,170), so
  // every Horner step the device form meets, and the first zeros beyond.
  for (uint32_t u = 0; u < (1u << 21); ++u) us.push_back(u);
  for (int n = 0; n < 200000; ++n) us.push_back(rng());
  for (uint32_t k = 0; k < 32; ++k) {
    us.push_back(1u << k);
    us.push_back((1u << k) - 1);
  }
  size_t mismatches = 0;
  for (uint32_t u : us) {
    const uint32_t got = capsrt::fx::exp_neg_q30_u32(u);
    const int64_t want = capsrt::fx::exp_neg_q30(-static_cast<int64_t>(u));
    if (static_cast<int64_t>(got) != want && ++mismatches <= 5) FAIL_CHECK("u " << u << ": " << got << " != " << want);
  }
  CHECK(mismatches == 0);
  for (int32_t f_u = 1; f_u <= 40; ++f_u) {
    const capsrt::fx::LogitShift sh(f_u);
    for (int n = 0; n < 20000; ++n) {
      // |dot| < 2^42, edges included
      int64_t dot = (static_cast<int64_t>(rng()) << 10 ^ rng()) % (int64_t{1} << 42);
      if (n < 4) dot = n == 0 ? 0 : n == 1 ? (int64_t{1} << 42) - 1 : n == 2 ? -((int64_t{1} << 42) - 1) : -1;
      const int32_t want = capsrt::fx::clamp32(capsrt::fx::shift_round(dot, f_u - 1), INT32_MIN, INT32_MAX);
      if (sh(dot) != want) {
        FAIL_CHECK("f_u " << f_u << ", dot " << dot << ": " << sh(dot) << " != " << want);
        break;
      }
    }
  }
}

TEST_CASE("the 32-bit requantisation equals clamp32(requantize(...)) for every shift", "[fixed]") {
  std::mt19937 rng(7);
  const int32_t edges[] = {0, 1, -1, 2, -2, 65535, -65536, INT32_MAX, INT32_MIN, INT32_MIN + 1, 1 << 20, -(1 << 20)};
  for (int32_t shift = 1; shift <= 62; ++shift) {
    for (int n = 0; n < 4000; ++n) {
      const int32_t mult = static_cast<int32_t>((1u << 30) + (rng() & 0x3FFFFFFFu));
      const int32_t acc = n < 12 ? edges[n] : static_cast<int32_t>(rng()) >> (rng() % 31);
      const int32_t lo = n % 2 ? -128 : -32768, hi = n % 2 ? 127 : 32767;
      const int32_t want = capsrt::fx::clamp32(capsrt::fx::requantize(acc, mult, shift), lo, hi);
      const int32_t got = capsrt::fx::Requant32(mult, shift)(acc, lo, hi);
      if (got != want) {
        FAIL_CHECK("shift " << shift << ", mult " << mult << ", acc " << acc << ": " << got << " != " << want);
        break;
      }
    }
  }
  // a full int32 range of outputs too
  const capsrt::fx::Requant32 wide(1 << 30, 1);
  CHECK(wide(INT32_MAX, INT32_MIN, INT32_MAX) == INT32_MAX);
  CHECK(wide(INT32_MIN, INT32_MIN, INT32_MAX) == INT32_MIN);
}
