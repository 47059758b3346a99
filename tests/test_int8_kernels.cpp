// The int8 path's kernels (docs/fixed-point.md):
//  - every kernel set's int8 convolution against the reference, bit for bit, on random shapes
//    with tails (channels, pixels and K not multiples of any vector or tile), padding, strides,
//    signed and non-negative inputs, int8 and int16 outputs;
//  - the reference convolution against the real-number convolution of the same integers
//    (double precision): the requantised output is within one unit of round(acc x m);
//  - the reference CapsDense: the low-memory routing gives the same bits as the stored one;
//    its poses follow a float routing of the same (dequantised) predictions closely.
#include <catch2/catch.hpp>

#include <cmath>
#include <cstring>
#include <random>
#include <vector>

#include "kernel_set.h"
#include "reference.h"
#include "simd_sets.hpp"
#if CAPSRT_TEST_X86_KERNELS
#include "x86_avx2/avx2.h"
#include "x86_avx512_vnni/avx512_vnni.h"
#endif

using namespace capsrt;
using namespace capsrt::kernels;

namespace {

int pick(std::mt19937& rng, std::initializer_list<int> values) {
  std::uniform_int_distribution<size_t> d(0, values.size() - 1);
  return *(values.begin() + d(rng));
}

struct Scratch {  // 64-byte aligned, filled with garbage
  std::vector<uint32_t> words;
  void* get(uint64_t n) {
    words.assign(static_cast<size_t>(n / 4 + 17), 0xA5A5A5A5u);
    uint8_t* p = reinterpret_cast<uint8_t*>(words.data());
    return p + (64 - reinterpret_cast<uintptr_t>(p) % 64) % 64;
  }
};

// A random int8 conv: weights K4O in [-127, 127], bias within the bound, multipliers for
// outputs of a sensible size. The K4O padding (k >= K) is zero as the format requires, except in
// every seventh trial, where it holds noise that every kernel must ignore.
struct QConv {
  Conv2DQParams p{};
  std::vector<int8_t> in, w;
  std::vector<int32_t> bias, rq;
};

QConv random_conv(std::mt19937& rng, int trial) {
  QConv c;
  Conv2DParams& g = c.p.geom;
  g.in_channels = pick(rng, {1, 2, 3, 5, 16, 33});
  g.kernel_h = pick(rng, {1, 2, 3, 5, 9});
  g.kernel_w = trial % 3 == 0 ? g.kernel_h : pick(rng, {1, 3, 4, 7, 19});
  g.stride_h = pick(rng, {1, 2, 3});
  g.stride_w = pick(rng, {1, 2});
  g.pad_h = trial % 4 == 0 ? std::min(pick(rng, {1, 2}), g.kernel_h - 1) : 0;
  g.pad_w = trial % 4 == 0 ? std::min(pick(rng, {1, 2}), g.kernel_w - 1) : 0;
  g.in_height = g.kernel_h + pick(rng, {0, 1, 5, 11});
  g.in_width = g.kernel_w + pick(rng, {0, 2, 7, 13});
  g.out_channels = pick(rng, {1, 3, 8, 15, 16, 17, 31, 64, 65, 70, 130});
  if (trial >= 80) {  // weights over 1 MB, as the canonical PrimaryCaps conv (a kernel may tile them apart)
    g.in_channels = 72;
    g.kernel_h = g.kernel_w = 9;
    g.pad_h = g.pad_w = trial % 2;
    g.in_height = 9 + pick(rng, {0, 3, 6});
    g.in_width = 9 + pick(rng, {1, 4});
    g.out_channels = pick(rng, {203, 256});
  }
  // TensorFlow's 'same' with an odd total: one more zero row (column) after than before.
  g.pad_h_extra = trial % 3 == 1 && g.pad_h + 1 < g.kernel_h ? 1 : 0;
  g.pad_w_extra = trial % 5 == 1 && g.pad_w + 1 < g.kernel_w ? 1 : 0;
  g.out_height = (g.in_height + 2 * g.pad_h + g.pad_h_extra - g.kernel_h) / g.stride_h + 1;
  g.out_width = (g.in_width + 2 * g.pad_w + g.pad_w_extra - g.kernel_w) / g.stride_w + 1;
  g.weight_layout = CAPS_LAYOUT_K4O;
  c.p.input_nonneg = trial % 2 == 0;
  c.p.pad_value = c.p.input_nonneg ? 0 : pick(rng, {0, -128, 5});
  c.p.out_bytes = trial % 5 == 0 ? 2 : 1;
  c.p.out_max = c.p.out_bytes == 2 ? 32767 : 127;
  c.p.out_min = trial % 3 == 0 ? 0 : -c.p.out_max;
  const int K = g.in_channels * g.kernel_h * g.kernel_w, O = g.out_channels;
  std::uniform_int_distribution<int> x8(c.p.input_nonneg ? 0 : -128, 127), w8(-127, 127);
  c.in.resize(static_cast<size_t>(g.in_channels) * g.in_height * g.in_width);
  for (int8_t& v : c.in) v = static_cast<int8_t>(x8(rng));
  c.w.assign(static_cast<size_t>(k4o_bytes(O, K)), 0);
  if (trial % 7 == 3)
    for (int8_t& v : c.w) v = static_cast<int8_t>(w8(rng));
  for (int o = 0; o < O; ++o)
    for (int k = 0; k < K; ++k) c.w[k4o_index(O, o, k)] = static_cast<int8_t>(w8(rng));
  std::uniform_int_distribution<int32_t> b(-100000, 100000);
  c.bias.resize(static_cast<size_t>(O));
  for (int32_t& v : c.bias) v = b(rng);
  // m ~ 1 / (typical |acc|) x output range: outputs spread over the type, some clamped.
  const double m = c.p.out_max / (40.0 * 128 * std::sqrt(static_cast<double>(K)) + 1);
  std::uniform_real_distribution<double> jitter(0.5, 2.0);
  for (int o = 0; o < O; ++o) {
    const double mo = m * jitter(rng);
    int e = 0;
    const double f = std::frexp(mo, &e);
    c.rq.push_back(static_cast<int32_t>(std::llround(f * 2147483648.0 - 1)));  // < 2^31
    c.rq.push_back(31 - e);
  }
  return c;
}

std::vector<uint8_t> run_conv(const KernelSet& ks, const QConv& c, Scratch& scratch) {
  const Conv2DParams& g = c.p.geom;
  std::vector<uint8_t> out(static_cast<size_t>(g.out_channels) * g.out_height * g.out_width * c.p.out_bytes, 0xEE);
  ks.conv2d_q(c.p, c.in.data(), c.w.data(), c.bias.data(), c.rq.data(), out.data(),
              scratch.get(ks.conv2d_q_scratch_size(c.p)));
  return out;
}

}  // namespace

TEST_CASE("every set's int8 convolution matches the reference bit for bit", "[int8]") {
  const KernelSet& ref_set = *kernel_set(CAPS_KERNELS_REFERENCE);
  for (const KernelSet* set : testutil::simd_sets_here()) {
    const KernelSet& ks = *set;
    std::mt19937 rng(99);
    Scratch s1, s2;
    for (int trial = 0; trial < 84; ++trial) {
      const QConv c = random_conv(rng, trial);
      INFO(ks.name << " trial " << trial << ": C " << c.p.geom.in_channels << " O " << c.p.geom.out_channels
                   << " kernel " << c.p.geom.kernel_h << "x" << c.p.geom.kernel_w << " stride "
                   << c.p.geom.stride_h << "," << c.p.geom.stride_w << " pad " << c.p.geom.pad_h << ","
                   << c.p.geom.pad_w << " extra " << c.p.geom.pad_h_extra << "," << c.p.geom.pad_w_extra
                   << " nonneg " << c.p.input_nonneg << " out bytes " << c.p.out_bytes);
      REQUIRE(run_conv(ks, c, s1) == run_conv(ref_set, c, s2));
    }
  }
}

TEST_CASE("the reference int8 convolution is the requantised exact sum", "[int8]") {
  std::mt19937 rng(5);
  Scratch s;
  for (int trial = 0; trial < 40; ++trial) {
    const QConv c = random_conv(rng, trial);
    const Conv2DParams& g = c.p.geom;
    const std::vector<uint8_t> out = run_conv(*kernel_set(CAPS_KERNELS_REFERENCE), c, s);
    const int K = g.in_channels * g.kernel_h * g.kernel_w, plane = g.out_height * g.out_width;
    for (int o = 0; o < g.out_channels; ++o)
      for (int oy = 0; oy < g.out_height; ++oy)
        for (int ox = 0; ox < g.out_width; ++ox) {
          double acc = c.bias[static_cast<size_t>(o)];
          for (int k = 0; k < K; ++k) {
            const int ci = k / (g.kernel_h * g.kernel_w), ky = k / g.kernel_w % g.kernel_h, kx = k % g.kernel_w;
            const int iy = oy * g.stride_h + ky - g.pad_h, ix = ox * g.stride_w + kx - g.pad_w;
            const bool inside = iy >= 0 && iy < g.in_height && ix >= 0 && ix < g.in_width;
            const double x = inside ? c.in[static_cast<size_t>((ci * g.in_height + iy) * g.in_width + ix)] : c.p.pad_value;
            acc += c.w[k4o_index(g.out_channels, o, k)] * x;
          }
          const double m = c.rq[2 * static_cast<size_t>(o)] * std::ldexp(1.0, -c.rq[2 * static_cast<size_t>(o) + 1]);
          const double want = std::max<double>(c.p.out_min, std::min<double>(c.p.out_max, std::floor(acc * m + 0.5)));
          const int at = o * plane + oy * g.out_width + ox;
          int32_t got;
          if (c.p.out_bytes == 2) {
            int16_t v;
            std::memcpy(&v, out.data() + 2 * at, 2);
            got = v;
          } else {
            got = static_cast<int8_t>(out[static_cast<size_t>(at)]);
          }
          REQUIRE(std::fabs(got - want) <= 0.0);  // exact: double holds acc x m here
        }
  }
}

TEST_CASE("low-memory routing gives the same bits as stored predictions, both follow float routing",
          "[int8]") {
  std::mt19937 rng(17);
  for (int trial = 0; trial < 24; ++trial) {
    CapsDenseQParams p{};
    const int I = pick(rng, {1, 7, 32, 100}), DI = pick(rng, {4, 5, 8}), J = pick(rng, {2, 10, 11}),
              DO = pick(rng, {6, 16});
    p.predict = CapsPredictParams{I, DI, J, DO, trial % 2 ? CAPS_LAYOUT_CAPS_JDKI : CAPS_LAYOUT_ROW_MAJOR};
    p.iterations = pick(rng, {1, 3});
    p.softmax_axis = trial % 3 == 0 ? CAPS_SOFTMAX_OVER_INPUTS : CAPS_SOFTMAX_OVER_OUTPUTS;
    p.squash = fx::SquashQ{12, 15, 0, 0};
    std::uniform_int_distribution<int> u8(-127, 127);
    std::vector<int8_t> u(static_cast<size_t>(I * DI)), w(static_cast<size_t>(J * I * DO * DI));
    for (int8_t& v : u) v = static_cast<int8_t>(u8(rng) / 2);
    for (int8_t& v : w) v = static_cast<int8_t>(u8(rng));
    // W scale 1/127 per class, u Q7, predictions Q12: m = 2^12 / (127 x 128).
    std::vector<int32_t> rq;
    for (int j = 0; j < J; ++j) {
      rq.push_back(static_cast<int32_t>(std::llround(std::ldexp(4096.0 / (127.0 * 128.0), 30 + 1))));
      rq.push_back(31);
      rq.push_back(12);
    }
    std::vector<int16_t> v_full(static_cast<size_t>(J * DO)), v_low(v_full.size());
    Scratch s;
    p.low_memory = false;
    ref::caps_dense_q(p, u.data(), w.data(), rq.data(), v_full.data(), s.get(ref::caps_dense_q_scratch_size(p)));
    p.low_memory = true;
    ref::caps_dense_q(p, u.data(), w.data(), rq.data(), v_low.data(), s.get(ref::caps_dense_q_scratch_size(p)));
    INFO("trial " << trial << " I " << I << " J " << J << " iterations " << p.iterations);
    REQUIRE(v_full == v_low);
    // Float routing of the same model: W = q/127, u = q/128.
    std::vector<float> uf(u.size()), wf(w.size()), vf(v_full.size());
    for (size_t k = 0; k < u.size(); ++k) uf[k] = u[k] / 128.0f;
    for (size_t k = 0; k < w.size(); ++k) wf[k] = w[k] / 127.0f;
    CapsDenseParams fp{p.predict, RoutingParams{I, J, DO, p.iterations, p.softmax_axis,
                                                SquashParams{CAPS_SQUASH_EPS_ADD_TO_NORM, 0.0f}}};
    std::vector<float> fs(static_cast<size_t>(ref::caps_dense_f32_scratch_size(fp) / 4 + 16));
    ref::caps_dense_f32(fp, uf.data(), wf.data(), vf.data(), fs.data());
    double worst = 0;
    for (size_t k = 0; k < vf.size(); ++k) worst = std::max(worst, std::fabs(v_full[k] / 32768.0 - vf[k]));
    CHECK(worst < 2e-3);  // the predictions' Q12 rounding, carried through the routing
  }
}

#include "capsnet_int8.hpp"
#include "test_util.hpp"

namespace {

struct Int8Run {
  std::vector<int32_t> scores;
  std::vector<int16_t> poses;
  std::vector<int8_t> image;
  size_t arena = 0;
};

Int8Run run_int8(const std::vector<uint8_t>& bytes, uint32_t kernels, const std::vector<uint8_t>& pixels) {
  testutil::ModelBytes mb(bytes);
  Model m;
  REQUIRE(m.load(mb.data(), mb.size) == CAPS_OK);
  REQUIRE(m.quantized());
  tools::AlignedBuffer arena(m.arena_size_for(kernels));
  Interpreter it;
  REQUIRE(it.init(m, arena.data(), arena.size(), kernels) == CAPS_OK);
  REQUIRE(it.set_input_u8(pixels.data(), pixels.size()) == CAPS_OK);
  REQUIRE(it.invoke() == CAPS_OK);
  REQUIRE(it.output<float>(CAPS_TENSOR_SCORES) == nullptr);  // a float accessor on an int8 model
  Int8Run r;
  r.scores.assign(it.output<int32_t>(CAPS_TENSOR_SCORES), it.output<int32_t>(CAPS_TENSOR_SCORES) + m.num_classes());
  r.poses.assign(it.output<int16_t>(CAPS_TENSOR_POSES), it.output<int16_t>(CAPS_TENSOR_POSES) + m.num_classes() * it.pose_dim());
  const int8_t* image = nullptr;
  REQUIRE(testutil::reconstruct(it, -1, &image) == CAPS_OK);
  r.image.assign(image, image + m.input_size());
  CHECK(it.output<float>(CAPS_TENSOR_RECONSTRUCTION) == nullptr);  // the image is int8
  const float fpose[64] = {};
  CHECK(it.reconstruct_pose(0, fpose) == CAPS_ERR_DTYPE);  // an int8 model's pose is Q15
  r.arena = m.arena_size_for(kernels);
  return r;
}

}  // namespace

TEST_CASE("an int8 network gives the same bits on every kernel set and in both routing modes",
          "[int8]") {
  using testutil::tiny_spec;
  for (int variant = 0; variant < 5; ++variant) {
    tools::CapsNetSpec s = variant == 3 ? testutil::cifar_kind_spec() : variant == 4 ? testutil::norb_kind_spec() : tiny_spec();
    if (variant == 3) {  // Q7-CapsNets' Keras CIFAR kind: NHWC grouping, no squash eps
      s.grouping = CAPS_GROUPING_NHWC_CHANNELS;
      s.squash_eps_mode = CAPS_SQUASH_EPS_IN_SQRT;
      s.squash_eps = 0.0f;
    } else if (variant == 1) {  // Keras-like
      s.grouping = CAPS_GROUPING_NHWC_CHANNELS;
      s.squash_eps_mode = CAPS_SQUASH_EPS_IN_SQRT;
      s.squash_eps = 1e-7f;
      s.length_eps = 1e-7f;
    } else if (variant == 2) {  // gram-ai
      s.grouping = CAPS_GROUPING_PER_DIM_CONV;
      s.softmax_axis = CAPS_SOFTMAX_OVER_INPUTS;
      s.squash_eps_mode = CAPS_SQUASH_EPS_IN_SQRT;
      s.squash_eps = 0.0f;
      s.score_kind = CAPS_SCORE_SOFTMAX_LENGTH;
    }
    const tools::Weights w = testutil::tiny_weights(s, 11 + variant);
    std::mt19937 rng(3 + variant);
    std::uniform_int_distribution<int> px(0, 255);
    const size_t pixels = size_t{s.input_channels} * s.input_height * s.input_width;
    std::vector<uint8_t> calib(20 * pixels);
    for (uint8_t& v : calib) v = static_cast<uint8_t>(px(rng));
    const tools::Calibration cal = tools::calibrate_capsnet(s, w, calib.data(), 20);
    const std::vector<uint8_t> full = tools::build_capsnet_int8(s, w, cal);
    tools::CapsNetSpec low_spec = s;
    low_spec.low_memory_routing = true;
    const std::vector<uint8_t> low = tools::build_capsnet_int8(low_spec, w, cal);
    const std::vector<uint8_t> image(calib.begin(), calib.begin() + static_cast<std::ptrdiff_t>(pixels));
    const Int8Run want = run_int8(full, CAPS_KERNELS_REFERENCE, image);
    CHECK(*std::max_element(want.scores.begin(), want.scores.end()) > 0);  // not a network of zeros
    for (uint32_t id = CAPS_KERNELS_REFERENCE; id < CAPS_KERNELS_COUNT; ++id) {
      if (!kernel_set_runnable(id)) continue;
      INFO("variant " << variant << ", kernels " << caps_kernels_name(id));
      for (const auto* bytes : {&full, &low}) {
        const Int8Run got = run_int8(*bytes, id, image);
        CHECK(got.scores == want.scores);
        CHECK(got.poses == want.poses);
        CHECK(got.image == want.image);
      }
      // A tiny network's arena may peak at a convolution, where both modes are alike.
      CHECK(run_int8(low, id, image).arena <= run_int8(full, id, image).arena);
    }
  }
}

TEST_CASE("the small network in int8 with low-memory routing fits a 32 KiB arena on every kernel set",
          "[int8]") {
  // The target for microcontrollers. The arena depends on the shapes only, so seeded
  // weights and a few calibration images stand for the shipped small models.
  const tools::CapsNetSpec s = tools::capsnet_preset("small");
  const tools::Weights w = tools::capsnet_random_weights(s, 5);
  std::vector<uint8_t> calib(4 * 784);
  for (size_t k = 0; k < calib.size(); ++k) calib[k] = static_cast<uint8_t>(k * 37 % 256);
  const tools::Calibration cal = tools::calibrate_capsnet(s, w, calib.data(), 4);
  tools::CapsNetSpec low_spec = s;
  low_spec.low_memory_routing = true;
  const std::vector<uint8_t> stored = tools::build_capsnet_int8(s, w, cal);
  const std::vector<uint8_t> low = tools::build_capsnet_int8(low_spec, w, cal);
  testutil::ModelBytes bs(stored), bl(low);
  Model ms, ml;
  REQUIRE(ms.load(bs.data(), bs.size) == CAPS_OK);
  REQUIRE(ml.load(bl.data(), bl.size) == CAPS_OK);
  for (uint32_t id = CAPS_KERNELS_REFERENCE; id < CAPS_KERNELS_COUNT; ++id) {
    if (kernel_set(id) == nullptr) continue;
    INFO("kernels " << caps_kernels_name(id));
    CHECK(ml.arena_size_for(id) <= 32 * 1024);
    CHECK(ml.arena_size_for(id) * 4 < ms.arena_size_for(id));
  }
  CHECK(ml.arena_size() <= 32 * 1024);  // what the file records: the largest over the sets
}

namespace {

// Which routing the int8 CapsDense trials draw. The SIMD kernels run the routing themselves for
// JDKI weights and the softmax over the output capsules with the predictions stored; for each
// other case they call the reference kernel (kernels/simd/caps_dense_q_common.h), which the
// second test checks as what it is: a fallback.
enum class CapsQCase { kSimd, kLowMemory, kRowMajor, kSoftmaxOverInputs };

struct CapsQTrial {
  CapsDenseQParams p{};
  std::vector<int8_t> u, w;
  std::vector<int32_t> rq;
};

CapsQTrial random_caps_q(std::mt19937& rng, int trial, CapsQCase c) {
  CapsQTrial t;
  CapsDenseQParams& p = t.p;
  const int I = pick(rng, {1, 15, 16, 17, 100, 1152}), DI = pick(rng, {4, 5, 8}),
            J = pick(rng, {1, 2, 10, 33}), DO = pick(rng, {1, 6, 16, 64});
  p.predict = CapsPredictParams{I, DI, J, DO,
                                c == CapsQCase::kRowMajor ? CAPS_LAYOUT_ROW_MAJOR : CAPS_LAYOUT_CAPS_JDKI};
  p.iterations = pick(rng, {1, 2, 3, 5});
  p.softmax_axis = c == CapsQCase::kSoftmaxOverInputs ? CAPS_SOFTMAX_OVER_INPUTS : CAPS_SOFTMAX_OVER_OUTPUTS;
  p.low_memory = c == CapsQCase::kLowMemory;
  p.squash = fx::SquashQ{pick(rng, {8, 12, 16}), 15, trial % 2, static_cast<uint64_t>(trial) * 1000};
  std::uniform_int_distribution<int> q8(-127, 127), fu(1, 14);
  t.u.resize(static_cast<size_t>(I * DI));
  t.w.resize(static_cast<size_t>(J) * I * DO * DI);
  for (int8_t& v : t.u) v = static_cast<int8_t>(q8(rng));
  for (int8_t& v : t.w) v = static_cast<int8_t>(q8(rng));
  for (int j = 0; j < J; ++j) {
    const int f = fu(rng);
    // W/127 x u/128 into Q f, times a jitter: predictions spread over int16, some clamped.
    const double m = std::ldexp(1.0, f) / (127.0 * 128.0) * std::uniform_real_distribution<double>(0.5, 40)(rng);
    int e = 0;
    const double frac = std::frexp(m, &e);
    t.rq.push_back(static_cast<int32_t>(std::llround(frac * 2147483648.0 - 1)));
    t.rq.push_back(31 - e);
    t.rq.push_back(f);
  }
  return t;
}

std::vector<int16_t> run_caps_q(const KernelSet& ks, const CapsQTrial& t, Scratch& s) {
  const CapsPredictParams& q = t.p.predict;
  std::vector<int16_t> v(static_cast<size_t>(q.out_caps * q.out_dim), 12345);
  ks.caps_dense_q(t.p, t.u.data(), t.w.data(), t.rq.data(), v.data(), s.get(ks.caps_dense_q_scratch_size(t.p)));
  return v;
}

}  // namespace

TEST_CASE("every set's int8 CapsDense matches the reference bit for bit", "[int8]") {
  const KernelSet& ref_set = *kernel_set(CAPS_KERNELS_REFERENCE);
  for (const KernelSet* ks : testutil::simd_sets_here()) {
    std::mt19937 rng(23);
    for (int trial = 0; trial < 40; ++trial) {
      const CapsQTrial t = random_caps_q(rng, trial, CapsQCase::kSimd);
      const CapsPredictParams& q = t.p.predict;
      INFO(ks->name << " trial " << trial << ": I " << q.in_caps << " DI " << q.in_dim << " J " << q.out_caps
                    << " DO " << q.out_dim << " iterations " << t.p.iterations);
      Scratch s1, s2;
      REQUIRE(run_caps_q(*ks, t, s1) == run_caps_q(ref_set, t, s2));
    }
  }
}

TEST_CASE("a SIMD set's int8 CapsDense falls back to the reference for low-memory routing, row-major "
          "weights and the softmax over inputs", "[int8]") {
  const KernelSet& ref_set = *kernel_set(CAPS_KERNELS_REFERENCE);
  for (const KernelSet* ks : testutil::simd_sets_here()) {
    std::mt19937 rng(29);
    for (const CapsQCase c : {CapsQCase::kLowMemory, CapsQCase::kRowMajor, CapsQCase::kSoftmaxOverInputs}) {
      for (int trial = 0; trial < 4; ++trial) {
        const CapsQTrial t = random_caps_q(rng, trial, c);
        INFO(ks->name << " case " << static_cast<int>(c) << " trial " << trial);
        // It asks for the reference kernel's scratch (the reference runs in it), and gives its bits.
        CHECK(ks->caps_dense_q_scratch_size(t.p) == ref::caps_dense_q_scratch_size(t.p));
        Scratch s1, s2;
        CHECK(run_caps_q(*ks, t, s1) == run_caps_q(ref_set, t, s2));
      }
    }
  }
}

namespace {

// A primary squash's input: int16 conv outputs [channels][h][w] grouped into capsules of `dim`.
struct SquashQTrial {
  PrimarySquashQParams p{};
  std::vector<int16_t> in;
};

std::vector<int8_t> run_primary_squash(const KernelSet& ks, const SquashQTrial& t) {
  std::vector<int8_t> out(static_cast<size_t>(t.p.count) * t.p.group.dim + 64, 0x5A);  // + a guard
  ks.primary_squash_q(t.p, t.in.data(), out.data());
  return out;
}

}  // namespace

TEST_CASE("every set's int8 primary squash matches the reference bit for bit", "[int8]") {
  // Random groupings, capsule sizes and counts (tails of every lane width), formats and eps
  // modes; inputs small, large, zero vectors and the int16 extremes.
  const KernelSet& ref_set = *kernel_set(CAPS_KERNELS_REFERENCE);
  for (const KernelSet* ks : testutil::simd_sets_here()) {
    std::mt19937 rng(31);
    for (int trial = 0; trial < 120; ++trial) {
      SquashQTrial t;
      GroupingParams& g = t.p.group;
      g.mode = static_cast<caps_grouping>(pick(rng, {CAPS_GROUPING_NCHW_VIEW, CAPS_GROUPING_NHWC_CHANNELS,
                                                     CAPS_GROUPING_PER_DIM_CONV}));
      g.dim = pick(rng, {1, 2, 3, 4, 8, 16, 64});
      g.channels = g.dim * pick(rng, {1, 2, 3, 32});
      g.height = pick(rng, {1, 3, 6});
      g.width = pick(rng, {1, 5, 6});
      t.p.count = g.channels / g.dim * g.height * g.width;
      const int F = trial % 17;
      const uint64_t eps = trial % 9 == 0 ? 0 : trial % 9 == 1 ? (uint64_t{1} << 62) - 1
                                                               : std::uniform_int_distribution<uint64_t>(0, uint64_t{1} << 50)(rng);
      t.p.squash = fx::SquashQ{F, pick(rng, {7, 7, 0, 3}), trial % 2, eps};
      const int range = pick(rng, {0, 3, 200, 32767});
      std::uniform_int_distribution<int> x(-range, range);
      t.in.resize(static_cast<size_t>(g.channels) * g.height * g.width);
      for (int16_t& v : t.in) v = static_cast<int16_t>(x(rng));
      if (trial % 5 == 4)
        for (size_t n = 0; n < t.in.size(); n += 3) t.in[n] = n % 2 ? 32767 : -32768;
      INFO(ks->name << " trial " << trial << ": grouping " << g.mode << " dim " << g.dim << " count " << t.p.count
                    << " F " << F << " G " << t.p.squash.out_frac << " eps_in_sqrt " << t.p.squash.eps_in_sqrt
                    << " eps_q32 " << eps << " range " << range);
      REQUIRE(run_primary_squash(*ks, t) == run_primary_squash(ref_set, t));
    }
  }
}

namespace {

// Which of squash_vector_q's integer steps a plain double-precision estimate gets one off for a
// capsule of squared length N (the test's own double arithmetic): bit 0 the ratio's division,
// bit 1 the square root, bit 2 the factor's division.
int steps_off_in_double(const fx::SquashQ& sq, uint64_t n) {
  const int F = sq.in_frac;
  int off = 0;
  const uint64_t b = n + (uint64_t{1} << (2 * F));
  if (static_cast<uint64_t>(std::floor(std::ldexp(1.0, 2 * F + 31) / static_cast<double>(b))) !=
      (uint64_t{1} << (2 * F + 31)) / b)
    off |= 1;
  const uint64_t ratio = (uint64_t{1} << 31) - (uint64_t{1} << (2 * F + 31)) / b;
  const uint64_t bound = sq.eps_in_sqrt ? n + (sq.eps_q32 >> 32) + 1 : n;
  const int k = (62 - (64 - __builtin_clzll(bound))) / 2;
  uint64_t x = n << (2 * k);
  if (sq.eps_in_sqrt) x += 2 * k >= 32 ? sq.eps_q32 << (2 * k - 32) : sq.eps_q32 >> (32 - 2 * k);
  const uint64_t r = fx::isqrt64(x);
  if (static_cast<uint64_t>(std::floor(std::sqrt(static_cast<double>(x)))) != r) off |= 2;
  const uint64_t dk = r + (sq.eps_in_sqrt ? 0 : static_cast<uint64_t>(fx::shift_round(static_cast<int64_t>(sq.eps_q32), 32 - k)));
  if (static_cast<uint64_t>(std::floor(static_cast<double>(ratio) * 1073741824.0 / static_cast<double>(dk))) !=
      (ratio << 30) / dk)
    off |= 4;
  return off;
}

}  // namespace

TEST_CASE("the x86 squash factors are fx::squash_factor's, also where double-precision estimates are one off",
          "[int8]") {
  // The x86 primary squashes estimate the factor's two divisions and square root in double
  // precision and correct the estimates (kernels/simd/primary_squash_q_block.h). A correction
  // matters for about one squared length in 2^22, too rarely for the squash tests above, and
  // a factor one off rarely changes an int8 output: so the factor step is compared here, on
  // lengths where a plain estimate is one off. These were found by scanning N (every N from 1
  // up, and random N up to 64 x 32767^2) with the arithmetic of steps_off_in_double, which the
  // test runs again on each; then on 2^16 lengths of every size, for every F.
  struct Hard {
    fx::SquashQ sq;
    int step;  // the bit of steps_off_in_double
    std::vector<uint64_t> n;
  };
  const fx::SquashQ f16{16, 7, 0, 7000}, f16_sqrt{16, 7, 1, 1ull << 40}, f12{12, 7, 0, 123456789}, f8_sqrt{8, 7, 1, 0};
  const Hard hard[] = {
      {f16, 1, {131074, 262152, 393234, 524320}},
      {f16, 2, {51709692458, 339738615, 8212709553, 28321507460}},
      {f16, 4, {52564596828, 4294967504, 58891612906, 40649603378}},
      {f16_sqrt, 1, {131074, 262152, 393234, 524320}},
      {f16_sqrt, 2, {42892067369, 34235365, 24868862616, 49570149307}},
      {f16_sqrt, 4, {15825327354, 56444450927, 32309274026, 58891612650}},
      {f12, 1, {1362529, 1444618, 3874186, 5543907}},
      {f12, 2, {51709692458, 339738615, 8212709553, 28321507460}},
      {f12, 4, {52550334869, 14025468550, 9965863799, 133178693}},
      {f8_sqrt, 2, {51709692458, 339738615, 8212709553, 28321507460}},
      {f8_sqrt, 4, {33017334077, 43677935498, 21830572, 28058633}},
  };
  using FactorsFn = void (*)(const fx::SquashQ&, const uint64_t*, int, int32_t*, int64_t*);
  std::vector<std::pair<const char*, FactorsFn>> isas;
#if CAPSRT_TEST_X86_KERNELS
  if (kernel_set_runnable(CAPS_KERNELS_AVX2_FMA)) isas.emplace_back("avx2", avx2::squash_factors_q);
  if (kernel_set_runnable(CAPS_KERNELS_AVX512_VNNI)) isas.emplace_back("avx512-vnni", avx512_vnni::squash_factors_q);
#endif
  if (isas.empty()) {
    std::printf("SKIPPED: no x86 int8 kernels run here\n");
    SUCCEED("no x86 int8 kernels here: skipped");
    return;
  }
  auto check = [&](const fx::SquashQ& sq, const std::vector<uint64_t>& lengths) {
    const int count = static_cast<int>(lengths.size());
    for (const auto& isa : isas) {
      std::vector<int32_t> k(lengths.size() + 1, -1);
      std::vector<int64_t> fac(lengths.size() + 1, -1);
      isa.second(sq, lengths.data(), count, k.data(), fac.data());
      REQUIRE(k.back() == -1);  // nothing written past count
      int i = 0;
      fx::SquashFactor want{};
      for (; i < count; ++i) {
        want = fx::squash_factor(sq, lengths[i]);
        if (k[i] != want.k || fac[i] != want.fac) break;
      }
      if (i == count) continue;
      INFO(isa.first << ": F " << sq.in_frac << " eps_in_sqrt " << sq.eps_in_sqrt << " eps_q32 " << sq.eps_q32
                     << " n " << lengths[i] << ": k " << k[i] << ", fac " << fac[i]);
      CHECK(k[i] == want.k);
      REQUIRE(fac[i] == want.fac);
    }
  };
  for (const Hard& h : hard) {
    for (const uint64_t n : h.n) {
      INFO("F " << h.sq.in_frac << " eps_in_sqrt " << h.sq.eps_in_sqrt << " n " << n);
      REQUIRE((steps_off_in_double(h.sq, n) & h.step) != 0);
    }
    check(h.sq, h.n);
  }
  std::mt19937_64 rng(37);
  for (int F = 0; F <= 16; ++F) {
    for (int mode = 0; mode < 2; ++mode) {
      const uint64_t eps = F % 3 == 0 ? 0 : F % 3 == 1 ? (uint64_t{1} << 62) - 1 : rng() >> (2 + F);
      std::vector<uint64_t> lengths;
      for (int i = 0; i < (1 << 16) - 3; ++i)  // of every bit length up to 64 x 32767^2
        lengths.push_back(std::max<uint64_t>(1, std::min<uint64_t>(uint64_t{64} * 32767 * 32767, rng() >> (27 + i % 37))));
      check(fx::SquashQ{F, 7, mode, eps}, lengths);
    }
  }
}

TEST_CASE("every set's int8 dense matches the reference bit for bit", "[int8]") {
  // Random sizes (K not a multiple of 4, outputs past any vector or block), inputs of both signs
  // with the extremes, ReLU-like, plain and sigmoid outputs, and K4O padding that holds noise in
  // every third trial (which every kernel must ignore).
  const KernelSet& ref_set = *kernel_set(CAPS_KERNELS_REFERENCE);
  for (const KernelSet* ks : testutil::simd_sets_here()) {
    std::mt19937 rng(41);
    for (int trial = 0; trial < 60; ++trial) {
      DenseQParams p{};
      p.in_features = pick(rng, {1, 3, 4, 5, 15, 60, 160, 511, 1024});
      p.out_features = pick(rng, {1, 7, 8, 16, 31, 33, 64, 65, 100, 784});
      p.sigmoid = trial % 3 == 2;
      p.out_max = 127;
      p.out_min = trial % 3 == 0 ? 0 : -127;
      const int K = p.in_features, O = p.out_features;
      std::uniform_int_distribution<int> x8(-128, 127), w8(-127, 127);
      std::vector<int8_t> in(static_cast<size_t>(K)), w(static_cast<size_t>(k4o_bytes(O, K)), 0);
      for (int8_t& v : in) v = static_cast<int8_t>(x8(rng));
      if (trial % 4 == 1) in[0] = -128;
      if (trial % 3 == 1)
        for (int8_t& v : w) v = static_cast<int8_t>(w8(rng));
      for (int o = 0; o < O; ++o)
        for (int k = 0; k < K; ++k) w[k4o_index(O, o, k)] = static_cast<int8_t>(w8(rng));
      std::vector<int32_t> bias(static_cast<size_t>(O)), rq;
      std::uniform_int_distribution<int32_t> b(-50000, 50000);
      for (int32_t& v : bias) v = b(rng);
      // Outputs over the int8 range (or Q16 logits around 0 for the sigmoid), some clamped.
      const double m = (p.sigmoid ? 65536.0 * 6 : 127.0) / (30.0 * 128 * std::sqrt(static_cast<double>(K)) + 1);
      for (int o = 0; o < O; ++o) {
        int e = 0;
        const double f = std::frexp(m * std::uniform_real_distribution<double>(0.3, 3.0)(rng), &e);
        rq.push_back(static_cast<int32_t>(std::llround(f * 2147483648.0 - 1)));
        rq.push_back(31 - e);
      }
      INFO(ks->name << " trial " << trial << ": K " << K << " O " << O << " sigmoid " << p.sigmoid);
      std::vector<int8_t> got(static_cast<size_t>(O) + 16, 0x5A), want(got);
      ks->dense_q(p, in.data(), w.data(), bias.data(), rq.data(), got.data());
      ref_set.dense_q(p, in.data(), w.data(), bias.data(), rq.data(), want.data());
      REQUIRE(got == want);
    }
  }
}

TEST_CASE("tensor views of an int8 model (dtypes, shapes and fixed points), and s8 input as u8 input") {
  const tools::CapsNetSpec s = testutil::tiny_spec();
  const tools::Weights w = testutil::tiny_weights(s, 11);
  std::vector<uint8_t> calib(20 * 144);
  for (size_t k = 0; k < calib.size(); ++k) calib[k] = static_cast<uint8_t>(k * 37 % 256);
  const std::vector<uint8_t> bytes = tools::build_capsnet_int8(s, w, tools::calibrate_capsnet(s, w, calib.data(), 20));
  const std::vector<uint8_t> pixels(calib.begin(), calib.begin() + 144);
  const Int8Run want = run_int8(bytes, testutil::test_kernels(), pixels);
  testutil::ModelBytes mb(bytes);
  caps_model m;
  caps_interpreter it;
  REQUIRE(caps_model_load(&m, mb.data(), mb.size, 0) == CAPS_OK);
  tools::AlignedBuffer arena(caps_model_arena_size(&m));
  REQUIRE(caps_interpreter_init_kernels(&it, &m, arena.data(), arena.size(), testutil::test_kernels()) == CAPS_OK);
  caps_tensor_view v;
  CHECK(caps_get_tensor(&it, CAPS_TENSOR_SCORES, &v) == CAPS_ERR_NOT_READY);
  CHECK(caps_get_tensor(&it, 4, &v) == CAPS_ERR_BAD_ARGUMENT);
  // The input: int8 [1,12,12], pixel - 128 (the input tensor's zero point carries the offset).
  REQUIRE(caps_get_tensor(&it, CAPS_TENSOR_INPUT, &v) == CAPS_OK);
  CHECK(v.dtype == CAPS_DTYPE_I8);
  CHECK(v.rank == 3);
  CHECK((v.dims[0] == 1 && v.dims[1] == 12 && v.dims[2] == 12 && v.dims[3] == 0));
  CHECK(v.count == 144);
  std::vector<int8_t> q(144);
  for (size_t k = 0; k < q.size(); ++k) q[k] = static_cast<int8_t>(int{pixels[k]} - 128);
  REQUIRE(caps_set_input_s8(&it, q.data(), q.size()) == CAPS_OK);
  CHECK(caps_set_input_s8(&it, q.data(), 143) == CAPS_ERR_BAD_ARGUMENT);
  CHECK(std::equal(q.begin(), q.end(), static_cast<const int8_t*>(v.data)));
  REQUIRE(caps_invoke(&it) == CAPS_OK);
  // The outputs, in the same bits as set_input_u8 gave, with the scales the fixed points mean.
  REQUIRE(caps_get_tensor(&it, CAPS_TENSOR_SCORES, &v) == CAPS_OK);
  CHECK(v.dtype == CAPS_DTYPE_I32);
  CHECK((v.rank == 1 && v.count == 3));
  CHECK(v.scale == 1.0f / 32768.0f);
  CHECK(std::vector<int32_t>(static_cast<const int32_t*>(v.data), static_cast<const int32_t*>(v.data) + 3) == want.scores);
  REQUIRE(caps_get_tensor(&it, CAPS_TENSOR_POSES, &v) == CAPS_OK);
  CHECK(v.dtype == CAPS_DTYPE_I16);
  CHECK(v.rank == 2);
  CHECK(v.count == want.poses.size());
  CHECK(std::equal(want.poses.begin(), want.poses.end(), static_cast<const int16_t*>(v.data)));
  REQUIRE(caps_reconstruct(&it, -1) == CAPS_OK);
  REQUIRE(caps_get_tensor(&it, CAPS_TENSOR_RECONSTRUCTION, &v) == CAPS_OK);
  CHECK((v.dtype == CAPS_DTYPE_I8 && v.zero_point == -128 && v.scale == 1.0f / 255.0f && v.count == 144));
  CHECK(std::equal(want.image.begin(), want.image.end(), static_cast<const int8_t*>(v.data)));
}
