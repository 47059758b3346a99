// The M-profile kernel sets against the reference kernels, bit for bit, on the target core: a
// bare-metal program (firmware_demo's board support) run under qemu-system-arm by ctest, since
// Catch2 needs exceptions and a heap that these builds do not have. For each case it fills the
// inputs and weights with seeded random int8 values, sets a requantisation that spreads the
// outputs over the int8 range (so a wrong sum or a wrong rounding changes outputs), runs the
// reference and the build's kernel set, and compares every output byte. Ends with
// "N passed, M failed" and exits 0 only when nothing failed; a set this build lacks is a failure
// (the build is for its core).
#include <cstdint>
#include <cstring>

#include "arm_dsp/routing_q32.h"
#include "board/semihost.h"
#include "kernel_set.h"
#include "reference.h"
#if defined(__ARM_FEATURE_MVE)
#include "arm_mve/routing_mve.h"
#endif

using namespace capsrt;
using namespace capsrt::kernels;

namespace {

uint32_t g_rng = 2463534242u;
uint32_t next() {  // xorshift32
  g_rng ^= g_rng << 13;
  g_rng ^= g_rng >> 17;
  g_rng ^= g_rng << 5;
  return g_rng;
}
int8_t rand_i8() { return static_cast<int8_t>(next() & 0xFF); }

alignas(16) int8_t g_in[32 * 20 * 20];
alignas(16) int8_t g_w[46 * 1024];  // the largest case: 32 channels x 1,296
alignas(16) int32_t g_bias[64], g_requant[192];
alignas(16) uint8_t g_out_ref[48 * 20 * 20 * 2], g_out_set[48 * 20 * 20 * 2];
alignas(16) uint8_t g_scratch[64 * 1024];

struct ConvCase {
  const char* what;
  int C, H, W, O, K, stride, pad, out_bytes, pad_value;
  bool low_shifts;  // some channels' shifts 3 and 5 lower: 32 and 30 in the case that sets it
  int pad_extra = 0;  // more zero rows and columns after the input (TensorFlow's 'same')
};

int isqrt(int x) {
  int r = 0;
  while ((r + 1) * (r + 1) <= x) ++r;
  return r;
}

bool run_conv(const KernelSet& ks, const ConvCase& c) {
  Conv2DQParams p{};
  Conv2DParams& g = p.geom;
  g.in_channels = c.C, g.in_height = c.H, g.in_width = c.W, g.out_channels = c.O;
  g.kernel_h = g.kernel_w = c.K, g.stride_h = g.stride_w = c.stride, g.pad_h = g.pad_w = c.pad;
  g.pad_h_extra = g.pad_w_extra = c.pad_extra;
  g.out_height = (c.H + 2 * c.pad + c.pad_extra - c.K) / c.stride + 1;
  g.out_width = (c.W + 2 * c.pad + c.pad_extra - c.K) / c.stride + 1;
  g.weight_layout = CAPS_LAYOUT_ROW_MAJOR;
  p.pad_value = c.pad_value;
  p.out_bytes = c.out_bytes;
  p.out_min = c.out_bytes == 2 ? -32768 : -128;
  p.out_max = c.out_bytes == 2 ? 32767 : 127;
  const int depth = c.C * c.K * c.K;
  const size_t w_bytes = static_cast<size_t>((depth + 3) / 4) * 4 * c.O;
  const size_t out_count = static_cast<size_t>(c.O) * g.out_height * g.out_width;
  if (static_cast<size_t>(c.C) * c.H * c.W > sizeof g_in || w_bytes > sizeof g_w ||
      out_count * 2 > sizeof g_out_ref || ref::conv2d_q_scratch_size(p) > sizeof g_scratch ||
      ks.conv2d_q_scratch_size(p) > sizeof g_scratch) {
    fw_puts("  (case too large for the test's buffers)\n");
    return false;
  }
  for (int n = 0; n < c.C * c.H * c.W; ++n) g_in[n] = rand_i8();
  std::memset(g_w, 0, w_bytes);
  for (int o = 0; o < c.O; ++o)
    for (int k = 0; k < depth; ++k) g_w[k4o_index(c.O, o, k)] = rand_i8();
  // Outputs spread over the range: the sum's spread is about sqrt(K) x 74 x 74.
  const int shift = 31 + 13 - 5 + (isqrt(depth) > 1 ? 32 - __builtin_clz(static_cast<uint32_t>(isqrt(depth))) : 0) +
                    (c.out_bytes == 2 ? -7 : 0);
  for (int o = 0; o < c.O; ++o) {
    g_bias[o] = static_cast<int32_t>(next() % 20001) - 10000;
    g_requant[2 * o] = static_cast<int32_t>((1u << 30) + (next() & 0x3FFFFFFFu));
    g_requant[2 * o + 1] = shift - (!c.low_shifts ? 0 : o % 3 == 1 ? 3 : o % 3 == 2 ? 5 : 0);
  }
  const size_t out_bytes = out_count * static_cast<size_t>(c.out_bytes);
  std::memset(g_out_ref, 0x5A, out_bytes);
  std::memset(g_out_set, 0xA5, out_bytes);
  ref::conv2d_q(p, g_in, g_w, g_bias, g_requant, g_out_ref, g_scratch);
  ks.conv2d_q(p, g_in, g_w, g_bias, g_requant, g_out_set, g_scratch);
  if (std::memcmp(g_out_ref, g_out_set, out_bytes) == 0) {
    // The outputs must not be saturated alike: a kernel could otherwise hide a wrong sum.
    int distinct = 0;
    for (size_t n = 1; n < out_bytes && distinct < 8; ++n) distinct += g_out_ref[n] != g_out_ref[n - 1];
    if (distinct >= 8) return true;
    fw_puts("  outputs barely vary: the case cannot tell kernels apart\n");
    return false;
  }
  for (size_t n = 0; n < out_bytes; ++n)
    if (g_out_ref[n] != g_out_set[n]) {
      fw_puts("  first difference at byte ");
      fw_put_u64(n);
      fw_puts("\n");
      break;
    }
  return false;
}

struct CapsCase {
  const char* what;
  int I, DI, J, DO, iterations;
  bool low_memory;
  bool assembly_shifts;  // every class's shift from the armv7em-dsp assembly's range (18 up), F_u 9 up
};

alignas(16) int8_t g_caps_w[10 * 1024 * 6 * 4];
alignas(16) int16_t g_v_ref[64 * 16], g_v_set[64 * 16];

// Predictions requantised with shifts from every path of the set's kernel and their edges (below
// 18: C; 18 to 32 and 33 up: the armv7em-dsp assembly's two), some saturating; F_u from 8 to 11.
bool run_caps(const KernelSet& ks, const CapsCase& c) {
  CapsDenseQParams p{};
  p.predict = CapsPredictParams{c.I, c.DI, c.J, c.DO, CAPS_LAYOUT_CAPS_JDKI};
  p.iterations = c.iterations;
  p.softmax_axis = CAPS_SOFTMAX_OVER_OUTPUTS;
  p.low_memory = c.low_memory;
  p.squash = fx::SquashQ{12, 15, 0, 0};
  const size_t w_bytes = static_cast<size_t>(c.J) * c.I * c.DO * c.DI;
  if (w_bytes > sizeof g_caps_w || static_cast<size_t>(c.I) * c.DI > sizeof g_in ||
      static_cast<size_t>(c.J) * c.DO > sizeof g_v_ref / sizeof g_v_ref[0] ||
      ref::caps_dense_q_scratch_size(p) > sizeof g_scratch || ks.caps_dense_q_scratch_size(p) > sizeof g_scratch) {
    fw_puts("  (case too large for the test's buffers)\n");
    return false;
  }
  for (int n = 0; n < c.I * c.DI; ++n) g_in[n] = rand_i8();
  // Class j's shift, and its weights made smaller by as much (arithmetic >>) so that its
  // predictions spread over int16 (those of shift 14 all saturate: the clamp's path).
  static const int kShifts[] = {14, 18, 27, 31, 32, 33, 38, 17}, kWeightShift[] = {7, 7, 4, 0, 0, 0, 0, 7};
  auto pick = [&](int j) { return c.assembly_shifts ? 1 + j % 6 : j % 8; };  // 1 .. 6: 18 to 38
  const size_t per_class = static_cast<size_t>(c.I) * c.DO * c.DI;
  for (int j = 0; j < c.J; ++j) {
    for (size_t n = 0; n < per_class; ++n)
      g_caps_w[j * per_class + n] = static_cast<int8_t>(rand_i8() >> kWeightShift[pick(j)]);
    g_requant[3 * j] = static_cast<int32_t>((1u << 30) + (next() & 0x3FFFFFFFu));
    g_requant[3 * j + 1] = kShifts[pick(j)] + (c.DI > 4 ? 1 : 0);
    // F_u: s_j lands in the squash's range. From 9 up (a logit shift of 8 or more) the mve set's
    // logits take 32-bit lanes; the cases with an F_u of 8 among their classes take its 64-bit sums.
    g_requant[3 * j + 2] = (c.assembly_shifts ? 9 : 8) + static_cast<int32_t>(next() % 4);
  }
  const size_t count = static_cast<size_t>(c.J) * c.DO;
  std::memset(g_v_ref, 0x5A, count * 2);
  std::memset(g_v_set, 0xA5, count * 2);
  ref::caps_dense_q(p, g_in, g_caps_w, g_requant, g_v_ref, g_scratch);
  ks.caps_dense_q(p, g_in, g_caps_w, g_requant, g_v_set, g_scratch);
  if (std::memcmp(g_v_ref, g_v_set, count * 2) != 0) {
    for (size_t n = 0; n < count; ++n)
      if (g_v_ref[n] != g_v_set[n]) {
        fw_puts("  first difference at v[");
        fw_put_u64(n);
        fw_puts("]\n");
        break;
      }
    return false;
  }
  int distinct = 0;
  for (size_t n = 1; n < count; ++n) distinct += g_v_ref[n] != g_v_ref[n - 1];
  if (distinct >= static_cast<int>(count) / 3) return true;
  fw_puts("  class capsules barely vary: the case cannot tell kernels apart:");
  for (size_t n = 0; n < count && n < 12; ++n) {
    fw_puts(" ");
    fw_put_i64(g_v_ref[n]);
  }
  fw_puts("\n");
  return false;
}

#if defined(__ARM_FEATURE_MVE)
// The mve set's vector exponential equals the scalar one (itself checked on the host against
// fixed_point.h): every u up to 2^22 (logit differences of the routing), a band of 2^16 around
// the k = 31 boundary where the result drops to 0, the powers of two and 2^20 random values.
bool run_vector_exp() {
  uint32_t mismatches = 0;
  auto check4 = [&mismatches](const uint32_t (&u)[4]) {
    uint32_t got[4];
    vstrwq_u32(got, mve::exp_neg_q30_u32(vldrwq_u32(u)));
    for (int n = 0; n < 4; ++n)
      if (got[n] != fx::exp_neg_q30_u32(u[n]) && ++mismatches <= 3) {
        fw_puts("  u ");
        fw_put_u64(u[n]);
        fw_puts(": vector ");
        fw_put_u64(got[n]);
        fw_puts(", scalar ");
        fw_put_u64(fx::exp_neg_q30_u32(u[n]));
        fw_puts("\n");
      }
  };
  for (uint32_t u = 0; u < (1u << 22); u += 4) check4({u, u + 1, u + 2, u + 3});
  // k = 31 where z = (u log2(e) 2^30 + 2^29) >> 30 reaches 31 x 2^16: u near 31 x 2^16 / log2(e)
  const uint32_t edge = static_cast<uint32_t>((uint64_t{31} << 46) / static_cast<uint64_t>(fx::kLog2eQ30));
  for (uint32_t u = edge - (1u << 15); u < edge + (1u << 15); u += 4) check4({u, u + 1, u + 2, u + 3});
  for (uint32_t k = 0; k < 32; k += 2) check4({1u << k, (1u << k) - 1, 2u << k, (2u << k) - 1});
  check4({0xFFFFFFFFu, 0xFFFFFFFEu, 0x80000000u, 0x7FFFFFFFu});
  for (int n = 0; n < (1 << 18); ++n) check4({next(), next(), next(), next()});
  return mismatches == 0;
}
#endif

}  // namespace

int main() {
  fw_puts("capsrt M-profile kernel tests on " FW_CORE_NAME "\n");
  // Every set this build has for its core but the reference; the build must have the ones
  // CAPSRT_TEST_KERNELS names (its core's).
  int passed = 0, failed = 0;
  static const uint32_t kExpected[] = {CAPSRT_TEST_KERNELS};
  for (uint32_t want : kExpected)
    if (!kernel_set_runnable(want)) {
      fw_puts("FAIL  the build lacks the kernel set ");
      fw_puts(caps_kernels_name(want));
      fw_puts("\n");
      ++failed;
    }
  for (uint32_t id = CAPS_KERNELS_REFERENCE + 1; id < CAPS_KERNELS_COUNT; ++id) {
    const KernelSet* ks = kernel_set(id);
    if (ks == nullptr || !kernel_set_runnable(id)) continue;
    fw_puts("kernel set: ");
    fw_puts(ks->name);
    fw_puts("\n");
    g_rng = 2463534242u;  // the same cases for every set
    static const ConvCase kConv[] = {
        {"conv1 of the small net: 1 channel, 9x9, 16 outputs, ReLU-sized", 1, 28, 28, 16, 9, 1, 0, 1, 0, false},
        {"PrimaryCaps-like: 16 channels 9x9 stride 2, int16 out", 16, 20, 20, 32, 9, 2, 0, 2, 0, false},
        {"odd output channels (7), 3x3, padding 1 with pad value -128", 5, 9, 11, 7, 3, 1, 1, 1, -128, false},
        {"one output channel", 3, 8, 8, 1, 3, 1, 0, 1, 0, false},
        {"TensorFlow 'same', 3x3 stride 2 on 16x16: no zero row before, one after", 3, 16, 16, 8, 3, 2, 0, 1, 0, false, 1},
        {"K not a multiple of 4 (3 x 5 x 5 = 75), stride 3, padding 2", 3, 13, 13, 6, 5, 3, 2, 1, 17, false},
        {"two chunks of the reduction (32 x 9 x 9 = 2,592 > 2,048)", 32, 10, 10, 12, 9, 1, 0, 1, 0, false},
        {"one output pixel (an odd pixel count)", 4, 3, 3, 10, 3, 1, 0, 2, 0, false},
        {"1x1 kernel", 8, 5, 7, 9, 1, 1, 0, 1, 0, false},
        {"the small net's PrimaryCaps conv: 16 channels 7x7 stride 2 (to 32 of its 64), int16", 16, 22, 22, 32, 7, 2, 0, 2, 0, false},
        {"7x7 windows with padding 3 (inside and edge pixels), 8-byte rows: 8x8", 3, 12, 12, 5, 8, 1, 3, 1, -128, false},
        {"4x4 kernel, stride 2 (the shortest row the packing copies as words)", 6, 10, 9, 3, 4, 2, 1, 1, 5, false},
        {"shifts of 35, 32 and 30 (every branch of the 32-bit requantisation), int16 out", 4, 9, 9, 6, 3, 1, 0, 2, 0, true},
    };
    for (const ConvCase& c : kConv) {
      const bool ok = run_conv(*ks, c);
      fw_puts(ok ? "ok    conv2d_q: " : "FAIL  conv2d_q: ");
      fw_puts(c.what);
      fw_puts("\n");
      passed += ok, failed += !ok;
    }
    // The CapsDense cases from a seed of their own, so that a conv case added above leaves their
    // data alone (each case checks that its class capsules vary enough to tell kernels apart).
    g_rng = 2463534242u;
    static const CapsCase kCaps[] = {
        {"CapsDense of the small net: 1,024 x 4D -> 10 x 6D, 3 iterations, low memory", 1024, 4, 10, 6, 3, true, false},
        {"the small net's shape, every shift 18 or more (one assembly call a block; mve: 32-bit logits)", 1024, 4, 10, 6, 3, true, true},
        {"8D input capsules, 16D outputs, 2 iterations, low memory", 64, 8, 10, 16, 2, true, false},
        {"3D input capsules (the C predictions), 7 classes, low memory", 20, 3, 7, 6, 3, true, false},
        {"one class of one dimension, one iteration, low memory", 12, 4, 1, 1, 1, true, false},
        {"odd class count and dimension, 5 iterations, low memory", 48, 4, 11, 5, 5, true, false},
        {"I not a multiple of 4 (the reference), low memory", 15, 4, 10, 6, 3, true, false},
        {"stored predictions (the reference)", 64, 4, 10, 6, 3, false, false},
    };
    for (const CapsCase& c : kCaps) {
      const bool ok = run_caps(*ks, c);
      fw_puts(ok ? "ok    caps_dense_q: " : "FAIL  caps_dense_q: ");
      fw_puts(c.what);
      fw_puts("\n");
      passed += ok, failed += !ok;
    }
  }
#if defined(__ARM_FEATURE_MVE)
  {
    const bool ok = run_vector_exp();
    fw_puts(ok ? "ok    " : "FAIL  ");
    fw_puts("mve exp_neg_q30_u32 equals the scalar one over 4.3 M inputs\n");
    passed += ok, failed += !ok;
  }
#endif
  fw_put_u64(static_cast<uint64_t>(passed));
  fw_puts(" passed, ");
  fw_put_u64(static_cast<uint64_t>(failed));
  fw_puts(" failed\n");
  return failed == 0 ? 0 : 1;
}
