// End to end: the interpreter against a naive double-precision CapsNet forward written here
// straight from the formulas of DESIGN.md, for every variant attribute.
#include <catch2/catch.hpp>
#include <cmath>
#include <thread>

#include "test_util.hpp"

using namespace capsrt;
using testutil::ModelBytes;

namespace {

struct Naive {
  std::vector<double> scores, poses, recon;
};

using W = tools::Weights;

std::vector<double> squash(const std::vector<double>& s, const tools::CapsNetSpec& spec) {
  double n2 = 0;
  for (double v : s) n2 += v * v;
  std::vector<double> out(s.size(), 0.0);
  if (n2 == 0) return out;
  const double denom = spec.squash_eps_mode == CAPS_SQUASH_EPS_IN_SQRT ? std::sqrt(n2 + spec.squash_eps)
                                                                       : std::sqrt(n2) + spec.squash_eps;
  for (size_t k = 0; k < s.size(); ++k) out[k] = s[k] * n2 / (1 + n2) / denom;
  return out;
}

// Decoder layers (ReLU..., sigmoid) applied to a masked capsule vector.
std::vector<double> naive_decode(const tools::CapsNetSpec& s, const W& w, std::vector<double> h) {
  for (size_t L = 0; L <= s.decoder_hidden.size(); ++L) {
    const std::string p = "decoder." + std::to_string(2 * L);
    const auto& wl = w.at(p + ".weight").data;
    const auto& bl = w.at(p + ".bias").data;
    std::vector<double> y(bl.size());
    for (size_t o = 0; o < bl.size(); ++o) {
      double acc = bl[o];
      for (size_t k = 0; k < h.size(); ++k) acc += double(wl[o * h.size() + k]) * h[k];
      y[o] = L == s.decoder_hidden.size() ? 1 / (1 + std::exp(-acc)) : std::max(0.0, acc);
    }
    h = y;
  }
  return h;
}

// A conv in doubles, straight from its definition: zero rows and columns before the input
// (pad), and after it (pad + extra); out = (in + 2 pad + extra - k) / stride + 1.
std::vector<double> naive_conv(const tools::ConvSpec& cs, int C, int H, int Wd, const std::vector<double>& x,
                               const std::vector<float>& w, const std::vector<float>& b, int* OH, int* OW) {
  const int O = cs.channels, KH = cs.kernel_h, KW = cs.kernel_w, SH = cs.stride_h, SW = cs.stride_w;
  const int PH = cs.pad_h, PW = cs.pad_w;
  *OH = (H + 2 * PH + static_cast<int>(cs.pad_h_extra) - KH) / SH + 1;
  *OW = (Wd + 2 * PW + static_cast<int>(cs.pad_w_extra) - KW) / SW + 1;
  std::vector<double> y(size_t(O) * *OH * *OW);
  for (int o = 0; o < O; ++o)
    for (int oy = 0; oy < *OH; ++oy)
      for (int ox = 0; ox < *OW; ++ox) {
        double acc = b[o];
        for (int c = 0; c < C; ++c)
          for (int ky = 0; ky < KH; ++ky)
            for (int kx = 0; kx < KW; ++kx) {
              const int iy = oy * SH + ky - PH, ix = ox * SW + kx - PW;
              if (iy >= 0 && iy < H && ix >= 0 && ix < Wd)
                acc += double(w[((size_t(o) * C + c) * KH + ky) * KW + kx]) * x[(size_t(c) * H + iy) * Wd + ix];
            }
        y[(size_t(o) * *OH + oy) * *OW + ox] = acc;
      }
  return y;
}

Naive naive_forward(const tools::CapsNetSpec& s, const W& w, const std::vector<float>& x, int mask_class) {
  auto at = [&](const std::string& name) { return w.at(name).data; };
  // The stem: each conv and its ReLU.
  int C1 = s.input_channels, H1 = s.input_height, W1 = s.input_width;
  std::vector<double> a1(x.begin(), x.end());
  for (size_t n = 0; n < s.stem.size(); ++n) {
    int oh = 0, ow = 0;
    a1 = naive_conv(s.stem[n], C1, H1, W1, a1, at(tools::stem_name(n) + ".weight"), at(tools::stem_name(n) + ".bias"),
                    &oh, &ow);
    if (s.stem[n].relu)
      for (double& v : a1) v = std::max(0.0, v);
    C1 = s.stem[n].channels;
    H1 = oh;
    W1 = ow;
  }
  // primary conv
  const int C2 = s.primary.channels;
  int H2 = 0, W2 = 0;
  const std::vector<double> a2 =
      naive_conv(s.primary, C1, H1, W1, a1, at("primarycaps.conv2d.weight"), at("primarycaps.conv2d.bias"), &H2, &W2);
  // capsules: component k of capsule i, per DESIGN.md's three groupings
  const int D = s.primary_dim, N = C2 * H2 * W2 / D, G = C2 / D, P = H2 * W2;
  std::vector<std::vector<double>> u(N, std::vector<double>(D));
  for (int i = 0; i < N; ++i)
    for (int k = 0; k < D; ++k) {
      if (s.grouping == CAPS_GROUPING_NCHW_VIEW) {
        u[i][k] = a2[size_t(D) * i + k];
      } else if (s.grouping == CAPS_GROUPING_NHWC_CHANNELS) {
        const int pix = i / G, g = i % G;
        u[i][k] = a2[size_t(g * D + k) * P + pix];
      } else {
        const int g = i / P, pix = i % P;
        u[i][k] = a2[size_t(k * G + g) * P + pix];
      }
    }
  for (auto& c : u) c = squash(c, s);
  // predictions
  const int J = s.classes, DO = s.class_dim;
  const auto wd = at("digitcaps.weight");
  std::vector<std::vector<std::vector<double>>> uh(J, std::vector<std::vector<double>>(N, std::vector<double>(DO)));
  for (int j = 0; j < J; ++j)
    for (int i = 0; i < N; ++i)
      for (int d = 0; d < DO; ++d) {
        double acc = 0;
        for (int k = 0; k < D; ++k) acc += double(wd[((size_t(j) * N + i) * DO + d) * D + k]) * u[i][k];
        uh[j][i][d] = acc;
      }
  // routing
  std::vector<std::vector<double>> b(J, std::vector<double>(N, 0.0)), c = b, v(J);
  for (uint32_t it = 0; it < s.routings; ++it) {
    if (s.softmax_axis == CAPS_SOFTMAX_OVER_OUTPUTS) {
      for (int i = 0; i < N; ++i) {
        double z = 0;
        for (int j = 0; j < J; ++j) z += std::exp(b[j][i]);
        for (int j = 0; j < J; ++j) c[j][i] = std::exp(b[j][i]) / z;
      }
    } else {
      for (int j = 0; j < J; ++j) {
        double z = 0;
        for (int i = 0; i < N; ++i) z += std::exp(b[j][i]);
        for (int i = 0; i < N; ++i) c[j][i] = std::exp(b[j][i]) / z;
      }
    }
    for (int j = 0; j < J; ++j) {
      std::vector<double> sj(DO, 0.0);
      for (int i = 0; i < N; ++i)
        for (int d = 0; d < DO; ++d) sj[d] += c[j][i] * uh[j][i][d];
      v[j] = squash(sj, s);
    }
    if (it + 1 < s.routings)
      for (int j = 0; j < J; ++j)
        for (int i = 0; i < N; ++i)
          for (int d = 0; d < DO; ++d) b[j][i] += uh[j][i][d] * v[j][d];
  }
  Naive out;
  for (int j = 0; j < J; ++j) {
    double n2 = 0;
    for (double q : v[j]) n2 += q * q;
    out.scores.push_back(std::sqrt(n2 + s.length_eps));
    for (double q : v[j]) out.poses.push_back(q);
  }
  if (s.score_kind == CAPS_SCORE_SOFTMAX_LENGTH) {
    double z = 0;
    for (double q : out.scores) z += std::exp(q);
    for (double& q : out.scores) q = std::exp(q) / z;
  }
  // decoder on the masked poses
  int keep = mask_class;
  if (keep < 0) keep = int(std::max_element(out.scores.begin(), out.scores.end()) - out.scores.begin());
  std::vector<double> h(size_t(J) * DO, 0.0);
  for (int d = 0; d < DO; ++d) h[size_t(keep) * DO + d] = out.poses[size_t(keep) * DO + d];
  out.recon = naive_decode(s, w, h);
  return out;
}

uint8_t* aligned64(std::vector<uint8_t>& v) {
  return v.data() + (64 - reinterpret_cast<uintptr_t>(v.data()) % 64) % 64;
}

struct Runner {
  ModelBytes mb;
  Model model;
  std::vector<uint8_t> arena;
  Interpreter it;
  explicit Runner(const std::vector<uint8_t>& bytes) : mb(bytes) {
    REQUIRE(model.load(mb.data(), mb.size) == CAPS_OK);
    arena.assign(model.arena_size() + 64, 0xCD);  // garbage: nothing may rely on a zeroed arena
    REQUIRE(it.init(model, aligned64(arena), model.arena_size(), testutil::test_kernels()) == CAPS_OK);
  }
};

void check_against_naive(const tools::CapsNetSpec& spec, uint64_t seed) {
  const auto w = testutil::tiny_weights(spec, seed);
  Runner r(tools::build_capsnet(spec, w));
  const auto x = testutil::random_floats(spec.input_channels * spec.input_height * spec.input_width, uint32_t(seed),
                                         0.0f, 1.0f);
  REQUIRE(r.it.set_input(x.data(), x.size()) == CAPS_OK);
  REQUIRE(r.it.invoke() == CAPS_OK);
  for (int mask : {-1, 0, 2}) {
    const Naive want = naive_forward(spec, w, x, mask);
    for (uint32_t j = 0; j < spec.classes; ++j) REQUIRE(r.it.output<float>(CAPS_TENSOR_SCORES)[j] == Approx(want.scores[j]).margin(1e-5));
    for (size_t k = 0; k < want.poses.size(); ++k) REQUIRE(r.it.output<float>(CAPS_TENSOR_POSES)[k] == Approx(want.poses[k]).margin(1e-5));
    const float* image = nullptr;
    REQUIRE(testutil::reconstruct(r.it, mask, &image) == CAPS_OK);
    for (size_t k = 0; k < want.recon.size(); ++k) REQUIRE(image[k] == Approx(want.recon[k]).margin(1e-5));
  }
  // not a degenerate case: class capsules with clearly non-zero, unsaturated lengths
  const Naive want = naive_forward(spec, w, x, -1);
  double longest = 0;
  for (uint32_t j = 0; j < spec.classes; ++j) {
    double n2 = 0;
    for (uint32_t d = 0; d < spec.class_dim; ++d) n2 += std::pow(want.poses[j * spec.class_dim + d], 2);
    longest = std::max(longest, std::sqrt(n2));
  }
  CHECK(longest > 1e-3);
  CHECK(longest < 0.999);
}

}  // namespace

TEST_CASE("the paper's network (PyTorch grouping, softmax over outputs, eps added to norm)") {
  check_against_naive(testutil::tiny_spec(), 11);
}

TEST_CASE("Keras variant: NHWC grouping, eps inside the root, length with eps") {
  auto s = testutil::tiny_spec();
  s.grouping = CAPS_GROUPING_NHWC_CHANNELS;
  s.squash_eps_mode = CAPS_SQUASH_EPS_IN_SQRT;
  s.squash_eps = 1e-7f;
  s.length_eps = 1e-7f;
  check_against_naive(s, 12);
}

TEST_CASE("gram-ai variant: per-dimension convs, softmax over inputs, no eps, softmax score") {
  auto s = testutil::tiny_spec();
  s.grouping = CAPS_GROUPING_PER_DIM_CONV;
  s.softmax_axis = CAPS_SOFTMAX_OVER_INPUTS;
  s.squash_eps = 0.0f;
  s.score_kind = CAPS_SCORE_SOFTMAX_LENGTH;
  check_against_naive(s, 13);
}

TEST_CASE("deeper stems with padding: a CIFAR-10 kind (RGB, four convs) and a smallNORB kind (two channels)") {
  const tools::CapsNetSpec cifar = testutil::cifar_kind_spec();
  REQUIRE(tools::stem_in_h(cifar, 4) == 7);  // 16 -> 16 -> 8 -> 6 -> 7 rows
  REQUIRE(tools::stem_in_w(cifar, 4) == 4);  // 18 -> 18 -> 9 -> 5 -> 4 columns
  REQUIRE(tools::primary_capsules(cifar) == 16);  // 8 channels x 4 x 2 / 4
  check_against_naive(cifar, 31);
  check_against_naive(testutil::norb_kind_spec(), 32);
  // Keras's variant of the CIFAR kind (Q7-CapsNets): NHWC grouping, no squash eps.
  tools::CapsNetSpec keras = cifar;
  keras.grouping = CAPS_GROUPING_NHWC_CHANNELS;
  keras.squash_eps_mode = CAPS_SQUASH_EPS_IN_SQRT;
  keras.squash_eps = 0.0f;
  check_against_naive(keras, 33);
}

TEST_CASE("routing iterations 1 and 5") {
  for (uint32_t r : {1u, 5u}) {
    auto s = testutil::tiny_spec();
    s.routings = r;
    check_against_naive(s, 20 + r);
  }
}

TEST_CASE("low-memory routing (float): the same network, every variant, a smaller arena") {
  // The naive network routes the usual way (b += u_hat . v); the low-memory routing computes
  // b = u_hat . (sum of v) with recomputed predictions: equal up to rounding.
  for (int variant = 0; variant < 3; ++variant) {
    auto s = testutil::tiny_spec();
    if (variant == 1) {
      s.grouping = CAPS_GROUPING_NHWC_CHANNELS;
      s.squash_eps_mode = CAPS_SQUASH_EPS_IN_SQRT;
      s.squash_eps = 1e-7f;
    } else if (variant == 2) {
      s.grouping = CAPS_GROUPING_PER_DIM_CONV;
      s.softmax_axis = CAPS_SOFTMAX_OVER_INPUTS;
      s.squash_eps = 0.0f;
      s.routings = 5;
    }
    s.low_memory_routing = true;
    check_against_naive(s, 30 + variant);
    auto stored = s;
    stored.low_memory_routing = false;
    Runner low(tools::build_capsnet(s, testutil::tiny_weights(s, 3)));
    Runner full(tools::build_capsnet(stored, testutil::tiny_weights(s, 3)));
    CHECK(low.model.arena_size() < full.model.arena_size());
  }
}

TEST_CASE("the variant attributes change the result (none is silently ignored)") {
  const auto base = testutil::tiny_spec();
  auto w = testutil::tiny_weights(base, 5);
  for (float& v : w["digitcaps.weight"].data) v *= 2.0f;  // strong agreement: routing matters
  const auto x = testutil::random_floats(144, 5, 0.0f, 1.0f);
  auto run = [&](const tools::CapsNetSpec& s) {
    Runner r(tools::build_capsnet(s, w));
    REQUIRE(r.it.set_input(x.data(), x.size()) == CAPS_OK);
    REQUIRE(r.it.invoke() == CAPS_OK);
    return std::vector<float>(r.it.output<float>(CAPS_TENSOR_POSES), r.it.output<float>(CAPS_TENSOR_POSES) + 15);
  };
  const auto ref = run(base);
  auto differs = [&](const std::vector<float>& other) {
    for (size_t k = 0; k < ref.size(); ++k)
      if (std::fabs(ref[k] - other[k]) > 1e-6f) return true;
    return false;
  };
  auto s = base;
  s.grouping = CAPS_GROUPING_NHWC_CHANNELS;
  CHECK(differs(run(s)));
  s = base;
  s.softmax_axis = CAPS_SOFTMAX_OVER_INPUTS;
  CHECK(differs(run(s)));
  s = base;
  s.routings = 2;
  CHECK(differs(run(s)));
}

TEST_CASE("u8 input is normalised by the model's scale and offset") {
  auto s = testutil::tiny_spec();
  s.input_scale = 2.0f / 255.0f;
  s.input_offset = -1.0f;
  Runner a(tools::build_capsnet(s, testutil::tiny_weights(s, 3)));
  Runner b(tools::build_capsnet(s, testutil::tiny_weights(s, 3)));
  std::vector<uint8_t> px(144);
  std::vector<float> fx(144);
  for (size_t k = 0; k < px.size(); ++k) {
    px[k] = uint8_t(k * 7 % 256);
    fx[k] = px[k] * 2.0f / 255.0f - 1.0f;
  }
  REQUIRE(a.it.set_input_u8(px.data(), px.size()) == CAPS_OK);
  REQUIRE(b.it.set_input(fx.data(), fx.size()) == CAPS_OK);
  REQUIRE(a.it.invoke() == CAPS_OK);
  REQUIRE(b.it.invoke() == CAPS_OK);
  for (int j = 0; j < 3; ++j) CHECK(a.it.output<float>(CAPS_TENSOR_SCORES)[j] == Approx(b.it.output<float>(CAPS_TENSOR_SCORES)[j]).margin(1e-6));
  CHECK(a.it.input()[1] == Approx(7 * 2.0f / 255.0f - 1.0f));
}

TEST_CASE("several interpreters share one model, reruns are deterministic") {
  const auto s = testutil::tiny_spec();
  ModelBytes mb(tools::build_capsnet(s, testutil::tiny_weights(s, 9)));
  Model m;
  REQUIRE(m.load(mb.data(), mb.size) == CAPS_OK);
  std::vector<uint8_t> a1(m.arena_size() + 64), a2(m.arena_size() + 64);
  auto base = aligned64;
  Interpreter i1, i2;
  REQUIRE(i1.init(m, base(a1), m.arena_size(), testutil::test_kernels()) == CAPS_OK);
  REQUIRE(i2.init(m, base(a2), m.arena_size(), testutil::test_kernels()) == CAPS_OK);
  const auto x1 = testutil::random_floats(144, 1, 0, 1), x2 = testutil::random_floats(144, 2, 0, 1);
  REQUIRE(i1.set_input(x1.data(), 144) == CAPS_OK);
  REQUIRE(i2.set_input(x2.data(), 144) == CAPS_OK);
  REQUIRE(i1.invoke() == CAPS_OK);
  REQUIRE(i2.invoke() == CAPS_OK);
  const std::vector<float> first(i1.output<float>(CAPS_TENSOR_SCORES), i1.output<float>(CAPS_TENSOR_SCORES) + 3);
  // reconstructing must not disturb scores or poses; a second invoke gives the same bits
  const float* image = nullptr;
  REQUIRE(testutil::reconstruct(i1, 1, &image) == CAPS_OK);
  for (int j = 0; j < 3; ++j) CHECK(i1.output<float>(CAPS_TENSOR_SCORES)[j] == first[j]);
  REQUIRE(i1.invoke() == CAPS_OK);  // input still in place after a run
  for (int j = 0; j < 3; ++j) CHECK(i1.output<float>(CAPS_TENSOR_SCORES)[j] == first[j]);
  CHECK(i1.output<float>(CAPS_TENSOR_SCORES)[0] != i2.output<float>(CAPS_TENSOR_SCORES)[0]);
}

TEST_CASE("each interpreter runs the kernel set it was given, and AUTO is the best here whatever others chose") {
  auto s = testutil::tiny_spec();
  Runner r(tools::build_capsnet(s, testutil::tiny_weights(s, 4)));
  std::vector<uint8_t> other_arena(r.model.arena_size() + 64);
  uint8_t* other_base = aligned64(other_arena);
  Interpreter ref, automatic;
  REQUIRE(ref.init(r.model, other_base, r.model.arena_size(), CAPS_KERNELS_REFERENCE) == CAPS_OK);
  CHECK(ref.kernels() == CAPS_KERNELS_REFERENCE);
  uint8_t* base = aligned64(r.arena);
  REQUIRE(automatic.init(r.model, base, r.model.arena_size()) == CAPS_OK);
  CHECK(automatic.kernels() == caps_kernels_default());
  CHECK(ref.kernels() == CAPS_KERNELS_REFERENCE);  // unchanged by the other's init
}

TEST_CASE("tensor views of a float model: the input written in place, the outputs where the getters point") {
  auto s = testutil::tiny_spec();
  Runner r(tools::build_capsnet(s, testutil::tiny_weights(s, 4)));
  caps_tensor_view v;
  CHECK(r.it.tensor_view(CAPS_TENSOR_POSES, &v) == CAPS_ERR_NOT_READY);
  REQUIRE(r.it.tensor_view(CAPS_TENSOR_INPUT, &v) == CAPS_OK);
  CHECK((v.dtype == CAPS_DTYPE_F32 && v.rank == 3 && v.count == 144 && v.scale == 1.0f && v.zero_point == 0));
  const auto x = testutil::random_floats(144, 4, 0, 1);
  std::copy(x.begin(), x.end(), static_cast<float*>(v.data));
  REQUIRE(r.it.invoke() == CAPS_OK);
  const std::vector<float> scores(r.it.output<float>(CAPS_TENSOR_SCORES), r.it.output<float>(CAPS_TENSOR_SCORES) + 3);
  REQUIRE(r.it.set_input(x.data(), x.size()) == CAPS_OK);  // the same input through the copy
  REQUIRE(r.it.invoke() == CAPS_OK);
  CHECK(std::vector<float>(r.it.output<float>(CAPS_TENSOR_SCORES), r.it.output<float>(CAPS_TENSOR_SCORES) + 3) == scores);
  REQUIRE(r.it.tensor_view(CAPS_TENSOR_SCORES, &v) == CAPS_OK);
  CHECK((v.dtype == CAPS_DTYPE_F32 && v.rank == 1 && v.dims[0] == 3 && v.data == r.it.output<float>(CAPS_TENSOR_SCORES)));
  REQUIRE(r.it.tensor_view(CAPS_TENSOR_POSES, &v) == CAPS_OK);
  CHECK((v.rank == 2 && v.dims[0] == 3 && v.dims[1] == r.it.pose_dim() && v.data == r.it.output<float>(CAPS_TENSOR_POSES)));
  const float* image = nullptr;
  REQUIRE(testutil::reconstruct(r.it, -1, &image) == CAPS_OK);
  REQUIRE(r.it.tensor_view(CAPS_TENSOR_RECONSTRUCTION, &v) == CAPS_OK);
  CHECK((v.count == 144 && v.data == image));
  const std::vector<int8_t> q(144, 0);
  CHECK(r.it.set_input_s8(q.data(), q.size()) == CAPS_ERR_DTYPE);
  caps_model m;
  caps_interpreter it;
  uint8_t* base = aligned64(r.arena);
  REQUIRE(caps_model_load(&m, r.mb.data(), r.mb.size, 0) == CAPS_OK);
  REQUIRE(caps_interpreter_init_kernels(&it, &m, base, r.model.arena_size(), testutil::test_kernels()) == CAPS_OK);
  REQUIRE(caps_set_input_f32(&it, x.data(), x.size()) == CAPS_OK);
  REQUIRE(caps_invoke(&it) == CAPS_OK);
  REQUIRE(caps_get_tensor(&it, CAPS_TENSOR_POSES, &v) == CAPS_OK);
  CHECK(v.dtype == CAPS_DTYPE_F32);  // what the poses are, said by the view
  CHECK(r.it.output<int16_t>(CAPS_TENSOR_POSES) == nullptr);  // typed access of the wrong dtype
  const int16_t q15[5] = {};
  CHECK(r.it.reconstruct_pose(0, q15) == CAPS_ERR_DTYPE);  // a float model's pose is float
}

TEST_CASE("invoke before any input is set answers NOT_READY, in C and C++") {
  auto s = testutil::tiny_spec();
  Runner r(tools::build_capsnet(s, testutil::tiny_weights(s, 4)));
  CHECK(r.it.invoke() == CAPS_ERR_NOT_READY);
  CHECK(r.it.output<float>(CAPS_TENSOR_SCORES) == nullptr);
  const auto x = testutil::random_floats(144, 4, 0, 1);
  REQUIRE(r.it.set_input(x.data(), 144) == CAPS_OK);
  CHECK(r.it.invoke() == CAPS_OK);
  // Set up again: the input is gone with the old setup. input() gives the caller the buffer to
  // write in place, and counts as setting it.
  uint8_t* base = aligned64(r.arena);
  REQUIRE(r.it.init(r.model, base, r.model.arena_size(), testutil::test_kernels()) == CAPS_OK);
  CHECK(r.it.invoke() == CAPS_ERR_NOT_READY);
  std::copy(x.begin(), x.end(), r.it.input());
  CHECK(r.it.invoke() == CAPS_OK);
  caps_model m;
  caps_interpreter it;
  REQUIRE(caps_model_load(&m, r.mb.data(), r.mb.size, 0) == CAPS_OK);
  REQUIRE(caps_interpreter_init_kernels(&it, &m, base, r.model.arena_size(), testutil::test_kernels()) == CAPS_OK);
  CHECK(caps_invoke(&it) == CAPS_ERR_NOT_READY);
  const std::vector<uint8_t> px(144, 100);
  REQUIRE(caps_set_input_u8(&it, px.data(), px.size()) == CAPS_OK);
  CHECK(caps_invoke(&it) == CAPS_OK);
}

namespace {
struct Recorder {
  std::vector<caps_op_event> events;
  uint32_t stop_at = UINT32_MAX;  // index whose BEGIN event stops the run
  static int32_t record(void* user, const caps_op_event* e) {
    Recorder& r = *static_cast<Recorder*>(user);
    r.events.push_back(*e);
    return e->phase == CAPS_OP_BEGIN && e->index == r.stop_at ? 1 : 0;
  }
};
}  // namespace

TEST_CASE("the per-op observer sees every op with its cost, and can stop the run") {
  auto s = testutil::tiny_spec();
  std::vector<tools::OpReport> report;
  const auto bytes = tools::build_capsnet(s, testutil::tiny_weights(s, 4), &report);
  Runner r(bytes);
  const uint32_t classifier = r.model.attributes().decoder_first_op;
  REQUIRE(classifier < r.model.op_count());
  Recorder rec;
  Interpreter unset;
  CHECK(unset.set_observer(&Recorder::record, &rec) == CAPS_ERR_NOT_READY);
  REQUIRE(r.it.set_observer(&Recorder::record, &rec) == CAPS_OK);
  const auto x = testutil::random_floats(144, 4, 0, 1);
  REQUIRE(r.it.set_input(x.data(), 144) == CAPS_OK);
  REQUIRE(r.it.invoke() == CAPS_OK);
  // Begin and end of each classifier op, in order, as the writer described them.
  REQUIRE(rec.events.size() == 2 * classifier);
  for (uint32_t k = 0; k < classifier; ++k) {
    for (uint32_t phase : {CAPS_OP_BEGIN, CAPS_OP_END}) {
      const caps_op_event& e = rec.events[2 * k + phase];
      INFO("op " << k << " phase " << phase);
      CHECK(e.phase == phase);
      CHECK(e.index == k);
      CHECK(e.opcode == r.model.op(k).opcode);
      CHECK(std::string(e.name) == report[k].name);
      CHECK(std::string(e.output_name) == report[k].output);
      CHECK(e.macs == report[k].macs);
    }
  }
  // The decoder's ops are observed when it runs.
  rec.events.clear();
  const float* image = nullptr;
  REQUIRE(testutil::reconstruct(r.it, -1, &image) == CAPS_OK);
  REQUIRE(rec.events.size() == 2 * (r.model.op_count() - classifier));
  CHECK(rec.events.front().index == classifier);
  // A non-zero answer stops the run before the op: nothing after it runs, the outputs are gone.
  rec.events.clear();
  rec.stop_at = 1;
  CHECK(r.it.invoke() == CAPS_ERR_ABORTED);
  CHECK(rec.events.size() == 3);  // op 0 begin and end, op 1 begin
  CHECK(r.it.output<float>(CAPS_TENSOR_SCORES) == nullptr);
  CHECK(testutil::reconstruct(r.it, -1, &image) == CAPS_ERR_NOT_READY);
  // Removed, the run completes; the C API sets it the same way.
  REQUIRE(r.it.set_observer(nullptr, nullptr) == CAPS_OK);
  CHECK(r.it.invoke() == CAPS_OK);
  caps_model m;
  caps_interpreter it;
  uint8_t* base = aligned64(r.arena);
  REQUIRE(caps_model_load(&m, r.mb.data(), r.mb.size, 0) == CAPS_OK);
  REQUIRE(caps_interpreter_init_kernels(&it, &m, base, r.model.arena_size(), testutil::test_kernels()) == CAPS_OK);
  REQUIRE(caps_interpreter_set_observer(&it, &Recorder::record, &rec) == CAPS_OK);
  REQUIRE(caps_set_input_f32(&it, x.data(), x.size()) == CAPS_OK);
  rec.events.clear();
  rec.stop_at = 0;
  CHECK(caps_invoke(&it) == CAPS_ERR_ABORTED);
  CHECK(rec.events.size() == 1);
}

TEST_CASE("a model without a decoder classifies and refuses to reconstruct") {
  auto s = testutil::tiny_spec();
  s.decoder_hidden.clear();
  Runner r(tools::build_capsnet(s, testutil::tiny_weights(s, 4)));
  CHECK(r.model.attributes().recon_tensor == CAPS_NONE);
  const auto x = testutil::random_floats(144, 4, 0, 1);
  REQUIRE(r.it.set_input(x.data(), 144) == CAPS_OK);
  REQUIRE(r.it.invoke() == CAPS_OK);
  CHECK(r.it.predicted_class() < 3);
  const float* image = nullptr;
  CHECK(testutil::reconstruct(r.it, -1, &image) == CAPS_ERR_UNSUPPORTED);
}

TEST_CASE("decoding a perturbed pose (the paper's capsule-dimension figure)") {
  const auto spec = testutil::tiny_spec();
  const auto w = testutil::tiny_weights(spec, 31);
  Runner r(tools::build_capsnet(spec, w));
  const auto x = testutil::random_floats(144, 31, 0.0f, 1.0f);
  REQUIRE(r.it.set_input(x.data(), x.size()) == CAPS_OK);
  REQUIRE(r.it.invoke() == CAPS_OK);
  const std::vector<float> scores(r.it.output<float>(CAPS_TENSOR_SCORES), r.it.output<float>(CAPS_TENSOR_SCORES) + 3), poses(r.it.output<float>(CAPS_TENSOR_POSES), r.it.output<float>(CAPS_TENSOR_POSES) + 15);
  // the unchanged pose of class 1 decodes exactly as reconstruct(1)
  const float* a = nullptr;
  REQUIRE(testutil::reconstruct(r.it, 1, &a) == CAPS_OK);
  const std::vector<float> plain(a, a + 144);
  const float* b = nullptr;
  REQUIRE(testutil::reconstruct_pose(r.it, 1, &poses[5], &b) == CAPS_OK);
  for (int k = 0; k < 144; ++k) REQUIRE(b[k] == plain[k]);
  // dimension 2 moved by +0.25: the decoder of that vector, computed here
  std::vector<float> pose(poses.begin() + 5, poses.begin() + 10);
  pose[2] += 0.25f;
  REQUIRE(testutil::reconstruct_pose(r.it, 1, pose.data(), &b) == CAPS_OK);
  std::vector<double> masked(15, 0.0);
  for (int d = 0; d < 5; ++d) masked[5 + d] = pose[d];
  const auto want = naive_decode(spec, w, masked);
  bool moved = false;
  for (int k = 0; k < 144; ++k) {
    REQUIRE(b[k] == Approx(want[k]).margin(1e-5));
    moved = moved || std::fabs(b[k] - plain[k]) > 1e-4f;
  }
  CHECK(moved);
  // scores and poses are as invoke left them
  for (int j = 0; j < 3; ++j) CHECK(r.it.output<float>(CAPS_TENSOR_SCORES)[j] == scores[j]);
  for (int k = 0; k < 15; ++k) CHECK(r.it.output<float>(CAPS_TENSOR_POSES)[k] == poses[k]);
  CHECK(testutil::reconstruct_pose(r.it, 3, pose.data(), &b) == CAPS_ERR_BAD_ARGUMENT);
  CHECK(r.it.reconstruct_pose(0, static_cast<const float*>(nullptr)) == CAPS_ERR_NULL_ARGUMENT);
  CHECK(caps_reconstruct_pose(nullptr, 0, pose.data(), 5) == CAPS_ERR_NULL_ARGUMENT);
}

TEST_CASE("reloading a model stops the interpreters made from it until they are set up again") {
  const auto s = testutil::tiny_spec();
  ModelBytes big(tools::build_capsnet(s, testutil::tiny_weights(s, 9)));
  auto s2 = s;
  s2.primary.channels = 4;  // a smaller arena: the old plan would overrun it
  s2.decoder_hidden = {};
  ModelBytes other(tools::build_capsnet(s2, testutil::tiny_weights(s2, 4)));
  Model m;
  REQUIRE(m.load(big.data(), big.size) == CAPS_OK);
  std::vector<uint8_t> arena(m.arena_size() + 64);
  Interpreter it;
  REQUIRE(it.init(m, aligned64(arena), m.arena_size(), testutil::test_kernels()) == CAPS_OK);
  CHECK(it.arena_size() == m.arena_size());
  const auto x = testutil::random_floats(144, 5, 0, 1);
  REQUIRE(it.set_input(x.data(), x.size()) == CAPS_OK);
  REQUIRE(it.invoke() == CAPS_OK);
  const float* image = nullptr;

  SECTION("with other bytes") { REQUIRE(m.load(other.data(), other.size) == CAPS_OK); }
  SECTION("with the same bytes") { REQUIRE(m.load(big.data(), big.size) == CAPS_OK); }
  SECTION("with bytes that fail") { REQUIRE(m.load(big.data(), 100) != CAPS_OK); }

  CHECK_FALSE(it.invoked());
  CHECK(it.output<float>(CAPS_TENSOR_SCORES) == nullptr);
  CHECK(it.output<float>(CAPS_TENSOR_POSES) == nullptr);
  CHECK(it.input() == nullptr);
  CHECK(it.model() == nullptr);
  CHECK(it.invoke() == CAPS_ERR_NOT_READY);
  CHECK(it.set_input(x.data(), x.size()) == CAPS_ERR_NOT_READY);
  CHECK(testutil::reconstruct(it, -1, &image) == CAPS_ERR_NOT_READY);
  CHECK(image == nullptr);
  if (m.loaded()) {  // set up again, it runs the new model
    REQUIRE(it.init(m, aligned64(arena), arena.size() - 64, testutil::test_kernels()) == CAPS_OK);
    REQUIRE(it.set_input(x.data(), x.size()) == CAPS_OK);
    CHECK(it.invoke() == CAPS_OK);
  }
}

TEST_CASE("the C API: caps_model_load on a model in use stops its interpreters") {
  const auto s = testutil::tiny_spec();
  ModelBytes mb(tools::build_capsnet(s, testutil::tiny_weights(s, 9)));
  caps_model model;
  REQUIRE(caps_model_load(&model, mb.data(), mb.size, 0) == CAPS_OK);
  std::vector<uint8_t> arena(caps_model_arena_size(&model) + 64);
  caps_interpreter it;
  REQUIRE(caps_interpreter_init_kernels(&it, &model, aligned64(arena), caps_model_arena_size(&model), testutil::test_kernels()) == CAPS_OK);
  const auto x = testutil::random_floats(144, 5, 0, 1);
  REQUIRE(caps_set_input_f32(&it, x.data(), x.size()) == CAPS_OK);
  REQUIRE(caps_invoke(&it) == CAPS_OK);
  uint32_t cls = 99;
  REQUIRE(caps_get_predicted_class(&it, &cls) == CAPS_OK);
  REQUIRE(caps_model_load(&model, mb.data(), mb.size, 0) == CAPS_OK);
  CHECK(caps_invoke(&it) == CAPS_ERR_NOT_READY);
  CHECK(caps_get_predicted_class(&it, &cls) == CAPS_ERR_NOT_READY);
  caps_tensor_view v;
  CHECK(caps_get_tensor(&it, CAPS_TENSOR_SCORES, &v) == CAPS_ERR_NOT_READY);
}

// Run by CI also under ThreadSanitizer (tools/run_tests.sh): the model is read by every thread.
TEST_CASE("interpreters on several threads share one model and agree with one thread", "[threads]") {
  const auto s = testutil::tiny_spec();
  ModelBytes mb(tools::build_capsnet(s, testutil::tiny_weights(s, 9)));
  Model m;
  REQUIRE(m.load(mb.data(), mb.size) == CAPS_OK);
  constexpr int kThreads = 4, kImages = 24;
  std::vector<std::vector<float>> inputs;
  for (int n = 0; n < kImages; ++n) inputs.push_back(testutil::random_floats(144, 100 + n, 0, 1));
  // expected: one interpreter, one thread
  std::vector<std::vector<float>> want(kImages);
  {
    std::vector<uint8_t> arena(m.arena_size() + 64);
    Interpreter it;
    REQUIRE(it.init(m, aligned64(arena), m.arena_size(), testutil::test_kernels()) == CAPS_OK);
    for (int n = 0; n < kImages; ++n) {
      REQUIRE(it.set_input(inputs[n].data(), 144) == CAPS_OK);
      REQUIRE(it.invoke() == CAPS_OK);
      const float* image = nullptr;
      REQUIRE(testutil::reconstruct(it, -1, &image) == CAPS_OK);
      want[n].assign(it.output<float>(CAPS_TENSOR_SCORES), it.output<float>(CAPS_TENSOR_SCORES) + 3);
      want[n].insert(want[n].end(), image, image + 144);
    }
  }
  std::vector<std::vector<uint8_t>> arenas(kThreads, std::vector<uint8_t>(m.arena_size() + 64));
  std::vector<int> mismatches(kThreads, 0);
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t)
    threads.emplace_back([&, t] {
      Interpreter it;
      if (it.init(m, aligned64(arenas[t]), m.arena_size(), testutil::test_kernels()) != CAPS_OK) {
        mismatches[t] = -1;
        return;
      }
      for (int round = 0; round < 3; ++round)
        for (int n = t; n < kImages; n += 1) {
          const float* image = nullptr;
          if (it.set_input(inputs[n].data(), 144) != CAPS_OK || it.invoke() != CAPS_OK ||
              testutil::reconstruct(it, -1, &image) != CAPS_OK) {
            ++mismatches[t];
            continue;
          }
          std::vector<float> got(it.output<float>(CAPS_TENSOR_SCORES), it.output<float>(CAPS_TENSOR_SCORES) + 3);
          got.insert(got.end(), image, image + 144);
          if (got != want[n]) ++mismatches[t];
        }
    });
  for (auto& th : threads) th.join();
  for (int t = 0; t < kThreads; ++t) CHECK(mismatches[t] == 0);
}
