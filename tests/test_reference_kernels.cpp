// The reference kernels against cases worked out by hand or by a direct formula in the test.
#include <catch2/catch.hpp>
#include <cmath>

#include "reference.h"
#include "test_util.hpp"

using namespace capsrt;

TEST_CASE("squash maps a zero vector to zero, for every epsilon mode, even with eps 0") {
  const float zero[4] = {0, 0, 0, 0};
  for (auto mode : {CAPS_SQUASH_EPS_ADD_TO_NORM, CAPS_SQUASH_EPS_IN_SQRT})
    for (float eps : {0.0f, 1e-8f, 1e-7f}) {
      float out[4] = {9, 9, 9, 9};
      ref::squash_f32({mode, eps}, zero, out, 1, 4);
      for (float v : out) {
        REQUIRE(v == 0.0f);
        REQUIRE_FALSE(std::isnan(v));
      }
    }
}

TEST_CASE("squash of (3,4): direction kept, length |s|^2/(1+|s|^2)") {
  const float s[2] = {3, 4};
  float v[2];
  ref::squash_f32({CAPS_SQUASH_EPS_ADD_TO_NORM, 0.0f}, s, v, 1, 2);
  // |s| = 5, |v| = 25/26, v = s/5 * 25/26
  CHECK(v[0] == Approx(3.0 / 5.0 * 25.0 / 26.0).epsilon(1e-6));
  CHECK(v[1] == Approx(4.0 / 5.0 * 25.0 / 26.0).epsilon(1e-6));
  // eps added to the norm: v = s * 25/26 / (5 + eps)
  ref::squash_f32({CAPS_SQUASH_EPS_ADD_TO_NORM, 0.5f}, s, v, 1, 2);
  CHECK(v[0] == Approx(3.0 * 25.0 / 26.0 / 5.5).epsilon(1e-6));
  // eps inside the root (Keras): v = s * 25/26 / sqrt(25 + eps)
  ref::squash_f32({CAPS_SQUASH_EPS_IN_SQRT, 0.5f}, s, v, 1, 2);
  CHECK(v[1] == Approx(4.0 * 25.0 / 26.0 / std::sqrt(25.5)).epsilon(1e-6));
}

TEST_CASE("squash works in place over several capsules") {
  float s[6] = {1, 0, 0, 0, 2, 0};  // three 2D capsules: |s| = 1, 0, 2
  ref::squash_f32({CAPS_SQUASH_EPS_ADD_TO_NORM, 0.0f}, s, s, 3, 2);
  CHECK(s[0] == Approx(0.5));
  CHECK(s[2] == 0.0f);
  CHECK(s[4] == Approx(0.8));  // 4/5
}

TEST_CASE("conv2d: a 3x3 image, 2x2 kernel, worked by hand") {
  // x = 1 2 3 / 4 5 6 / 7 8 9, w = 1 0 / 0 -1, bias 0.5
  // y[0,0] = 1-5, y[0,1] = 2-6, y[1,0] = 4-8, y[1,1] = 5-9, each + 0.5
  const float x[9] = {1, 2, 3, 4, 5, 6, 7, 8, 9};
  const float w[4] = {1, 0, 0, -1};
  const float b[1] = {0.5f};
  float y[4];
  kernels::Conv2DParams p{1, 3, 3, 1, 2, 2, 2, 2, 1, 1, 0, 0, CAPS_ACT_NONE};
  ref::conv2d_f32(p, x, w, b, y);
  CHECK(y[0] == -3.5f);
  CHECK(y[1] == -3.5f);
  CHECK(y[2] == -3.5f);
  CHECK(y[3] == -3.5f);
  p.activation = CAPS_ACT_RELU;
  ref::conv2d_f32(p, x, w, b, y);
  CHECK(y[0] == 0.0f);
  // stride 2 over the same image: a single output at (0,0)
  p = {1, 3, 3, 1, 1, 1, 2, 2, 2, 2, 0, 0, CAPS_ACT_NONE};
  ref::conv2d_f32(p, x, w, b, y);
  CHECK(y[0] == -3.5f);
}

// Direct formula: y[o,oy,ox] = b[o] + sum_{c,ky,kx} w[o,c,ky,kx] * x[c, oy*s+ky-p, ox*s+kx-p]
static double conv_at(const kernels::Conv2DParams& p, const std::vector<float>& x,
                      const std::vector<float>& w, const std::vector<float>& b, int o, int oy, int ox) {
  double acc = b[o];
  for (int c = 0; c < p.in_channels; ++c)
    for (int ky = 0; ky < p.kernel_h; ++ky)
      for (int kx = 0; kx < p.kernel_w; ++kx) {
        const int iy = oy * p.stride_h + ky - p.pad_h, ix = ox * p.stride_w + kx - p.pad_w;
        if (iy < 0 || ix < 0 || iy >= p.in_height || ix >= p.in_width) continue;
        acc += double(w[((o * p.in_channels + c) * p.kernel_h + ky) * p.kernel_w + kx]) *
               x[(c * p.in_height + iy) * p.in_width + ix];
      }
  return acc;
}

TEST_CASE("conv2d with stride, padding and odd sizes matches the direct formula") {
  struct Case {
    int c, h, w, o, kh, kw, sh, sw, ph, pw, eh = 0, ew = 0;  // eh, ew: extra zero rows/columns after
  };
  const Case cases[] = {{2, 7, 5, 3, 3, 3, 2, 2, 1, 1},  {3, 9, 11, 5, 5, 3, 2, 1, 0, 0},
                        {1, 28, 28, 4, 9, 9, 1, 1, 0, 0}, {4, 20, 20, 6, 9, 9, 2, 2, 0, 0},
                        {1, 5, 5, 2, 1, 1, 3, 3, 0, 0},  {2, 6, 7, 3, 4, 2, 3, 2, 2, 1},
                        // TensorFlow's 'same', stride 2 on even sizes: 0 before, 1 after
                        {3, 8, 6, 2, 3, 3, 2, 2, 0, 0, 1, 1}, {1, 10, 9, 2, 5, 4, 2, 1, 1, 1, 1, 0}};
  uint32_t seed = 1;
  for (const Case& k : cases) {
    kernels::Conv2DParams p{k.c, k.h, k.w, k.o,
                            (k.h + 2 * k.ph + k.eh - k.kh) / k.sh + 1, (k.w + 2 * k.pw + k.ew - k.kw) / k.sw + 1,
                            k.kh, k.kw, k.sh, k.sw, k.ph, k.pw, CAPS_ACT_RELU};
    p.pad_h_extra = k.eh;
    p.pad_w_extra = k.ew;
    const auto x = testutil::random_floats(size_t(k.c) * k.h * k.w, seed++);
    const auto w = testutil::random_floats(size_t(k.o) * k.c * k.kh * k.kw, seed++);
    const auto b = testutil::random_floats(size_t(k.o), seed++);
    std::vector<float> y(size_t(k.o) * p.out_height * p.out_width);
    ref::conv2d_f32(p, x.data(), w.data(), b.data(), y.data());
    for (int o = 0; o < k.o; ++o)
      for (int oy = 0; oy < p.out_height; ++oy)
        for (int ox = 0; ox < p.out_width; ++ox) {
          const double want = std::max(0.0, conv_at(p, x, w, b, o, oy, ox));
          REQUIRE(y[(o * p.out_height + oy) * p.out_width + ox] == Approx(want).margin(1e-4));
        }
  }
}

TEST_CASE("capsule grouping follows each framework's memory order") {
  // conv output: 4 channels, 1x2 pixels; value = 10*channel + pixel
  float conv[8];
  for (int c = 0; c < 4; ++c)
    for (int px = 0; px < 2; ++px) conv[c * 2 + px] = float(10 * c + px);
  float caps[8];
  // PyTorch view(-1, 2) on NCHW: capsules are consecutive pairs of the flat buffer.
  ref::group_capsules_f32({CAPS_GROUPING_NCHW_VIEW, 4, 1, 2, 2}, conv, caps);
  const float want_view[8] = {0, 1, 10, 11, 20, 21, 30, 31};
  for (int n = 0; n < 8; ++n) CHECK(caps[n] == want_view[n]);
  // Keras NHWC: capsule (pixel*G + g), component k = channel g*2+k, G = 2.
  ref::group_capsules_f32({CAPS_GROUPING_NHWC_CHANNELS, 4, 1, 2, 2}, conv, caps);
  const float want_nhwc[8] = {0, 10, 20, 30, 1, 11, 21, 31};
  for (int n = 0; n < 8; ++n) CHECK(caps[n] == want_nhwc[n]);
  // gram-ai: conv k's channel g is channel k*G+g; capsule g*HW + pixel, component k.
  ref::group_capsules_f32({CAPS_GROUPING_PER_DIM_CONV, 4, 1, 2, 2}, conv, caps);
  const float want_dim[8] = {0, 20, 1, 21, 10, 30, 11, 31};
  for (int n = 0; n < 8; ++n) CHECK(caps[n] == want_dim[n]);
}

TEST_CASE("a capsule's components lie capsule_component_stride apart in every grouping") {
  // {mode, channels, height, width, dim}: 4 capsule dimensions, 3 groups, 2 x 5 pixels
  for (caps_grouping mode : {CAPS_GROUPING_NCHW_VIEW, CAPS_GROUPING_NHWC_CHANNELS, CAPS_GROUPING_PER_DIM_CONV}) {
    const kernels::GroupingParams g{mode, 12, 2, 5, 4};
    const size_t stride = kernels::capsule_component_stride(g);
    for (int i = 0; i < 30; ++i)
      for (int k = 0; k < 4; ++k)
        REQUIRE(kernels::capsule_source_index(g, i, k) == kernels::capsule_source_index(g, i, 0) + k * stride);
  }
}

TEST_CASE("capsule prediction u_hat = W u") {
  // 1 input capsule (1,2), 1 output capsule of 3 dims, W = [[1,0],[0,1],[1,1]]
  const float u[2] = {1, 2};
  const float w[6] = {1, 0, 0, 1, 1, 1};
  float u_hat[3];
  ref::caps_predict_f32({1, 2, 1, 3}, u, w, u_hat);
  CHECK(u_hat[0] == 1.0f);
  CHECK(u_hat[1] == 2.0f);
  CHECK(u_hat[2] == 3.0f);
}

namespace {
double squash_len(double n) { return n * n / (1 + n * n); }
}  // namespace

TEST_CASE("dynamic routing on a tiny case worked out by hand") {
  // J=2 outputs, I=2 inputs, D=2. u_hat[j][i]:
  //   j=0: (1,0), (1,0)      both inputs agree on output 0
  //   j=1: (0,1), (0,-1)     the inputs cancel on output 1
  const float u_hat[8] = {1, 0, 1, 0, 0, 1, 0, -1};
  float b[4], c[4], v[4];
  kernels::RoutingParams p{2, 2, 2, 1, CAPS_SOFTMAX_OVER_OUTPUTS, {CAPS_SQUASH_EPS_ADD_TO_NORM, 0.0f}};

  // One iteration: c = 1/2 everywhere; s0 = (1,0) -> v0 = (1/2, 0); s1 = 0 -> v1 = 0.
  ref::dynamic_routing_f32(p, u_hat, b, c, v);
  CHECK(v[0] == Approx(0.5));
  CHECK(v[1] == 0.0f);
  CHECK(v[2] == 0.0f);
  CHECK(v[3] == 0.0f);

  // Two iterations: b[0,i] = u_hat[0,i].v0 = 1/2, b[1,i] = 0.
  // Softmax over outputs: c[0,i] = e^.5/(e^.5+1). s0 = (2 c0, 0); s1 = c1 (0,1) + c1 (0,-1) = 0.
  p.iterations = 2;
  ref::dynamic_routing_f32(p, u_hat, b, c, v);
  const double c0 = std::exp(0.5) / (std::exp(0.5) + 1.0);
  CHECK(b[0] == Approx(0.5));
  CHECK(b[1] == Approx(0.5));
  CHECK(b[2] == 0.0f);
  CHECK(c[0] == Approx(c0));
  CHECK(c[2] == Approx(1 - c0));
  CHECK(v[0] == Approx(squash_len(2 * c0)));
  CHECK(v[1] == 0.0f);
  CHECK(v[2] == 0.0f);

  // Softmax over inputs (gram-ai): each row of b is constant (1/2 or 0), so c = 1/2 again and
  // the outputs equal the one-iteration result.
  p.softmax_axis = CAPS_SOFTMAX_OVER_INPUTS;
  ref::dynamic_routing_f32(p, u_hat, b, c, v);
  CHECK(c[0] == Approx(0.5));
  CHECK(c[3] == Approx(0.5));
  CHECK(v[0] == Approx(0.5));
}

TEST_CASE("routing axes differ when inputs disagree in strength") {
  // J=2, I=2, D=1. u_hat[0] = (2, 0.5), u_hat[1] = (0, 1)
  const float u_hat[4] = {2, 0.5f, 0, 1};
  float b[4], c[4], v[2];
  kernels::RoutingParams p{2, 2, 1, 2, CAPS_SOFTMAX_OVER_INPUTS, {CAPS_SQUASH_EPS_ADD_TO_NORM, 0.0f}};
  ref::dynamic_routing_f32(p, u_hat, b, c, v);
  // iteration 1: c = 1/2: s0 = 1.25, s1 = 0.5 -> v0 = squash_len(1.25), v1 = squash_len(0.5)
  const double v0 = squash_len(1.25), v1 = squash_len(0.5);
  // b = [2 v0, 0.5 v0; 0, v1]; iteration 2, softmax over inputs per output j
  const double e00 = std::exp(2 * v0), e01 = std::exp(0.5 * v0);
  const double s0 = (2 * e00 + 0.5 * e01) / (e00 + e01);
  const double e10 = 1.0, e11 = std::exp(v1);
  const double s1 = (0 * e10 + 1 * e11) / (e10 + e11);
  CHECK(v[0] == Approx(squash_len(s0)).epsilon(1e-5));
  CHECK(v[1] == Approx(squash_len(s1)).epsilon(1e-5));
  // Softmax over outputs per input i instead
  p.softmax_axis = CAPS_SOFTMAX_OVER_OUTPUTS;
  ref::dynamic_routing_f32(p, u_hat, b, c, v);
  const double f00 = std::exp(2 * v0), f10 = 1.0;           // input 0: b = (2 v0, 0)
  const double f01 = std::exp(0.5 * v0), f11 = std::exp(v1);  // input 1: b = (0.5 v0, v1)
  const double t0 = 2 * f00 / (f00 + f10) + 0.5 * f01 / (f01 + f11);
  const double t1 = 0 * f10 / (f00 + f10) + 1 * f11 / (f01 + f11);
  CHECK(v[0] == Approx(squash_len(t0)).epsilon(1e-5));
  CHECK(v[1] == Approx(squash_len(t1)).epsilon(1e-5));
}

TEST_CASE("softmax is stable for large logits and sums to one") {
  const float x[3] = {1000, 1001, 1002};
  float y[3];
  ref::softmax_f32(x, y, 3, 1);
  const double z = 1 + std::exp(1.0) + std::exp(2.0);
  CHECK(y[0] == Approx(1 / z));
  CHECK(y[2] == Approx(std::exp(2.0) / z));
  // strided: every second element
  const float xs[6] = {0, 9, 0, 9, std::log(2.0f), 9};
  float ys[6] = {};
  ref::softmax_f32(xs, ys, 3, 2);
  CHECK(ys[0] == Approx(0.25));
  CHECK(ys[4] == Approx(0.5));
}

TEST_CASE("vector length, mask and dense") {
  const float v[6] = {3, 4, 0, 0, 1, 1};
  float len[3];
  ref::vector_length_f32(v, len, 3, 2, 0.0f);
  CHECK(len[0] == 5.0f);
  CHECK(len[1] == 0.0f);
  CHECK(len[2] == Approx(std::sqrt(2.0)));
  ref::vector_length_f32(v, len, 3, 2, 1e-7f);  // Keras: sqrt(sum + eps)
  CHECK(len[1] == Approx(std::sqrt(1e-7)));

  float m[6];
  ref::mask_f32(v, m, 3, 2, 2);
  const float want[6] = {0, 0, 0, 0, 1, 1};
  for (int n = 0; n < 6; ++n) CHECK(m[n] == want[n]);

  // y = W x + b with W = [[1,2],[−1,1]], x = (1,1), b = (0, −1)
  const float x[2] = {1, 1}, w[4] = {1, 2, -1, 1}, b[2] = {0, -1};
  float y[2];
  ref::dense_f32({2, 2, CAPS_ACT_NONE}, x, w, b, y);
  CHECK(y[0] == 3.0f);
  CHECK(y[1] == -1.0f);
  ref::dense_f32({2, 2, CAPS_ACT_RELU}, x, w, b, y);
  CHECK(y[1] == 0.0f);
  ref::dense_f32({2, 2, CAPS_ACT_SIGMOID}, x, w, b, y);
  CHECK(y[0] == Approx(1 / (1 + std::exp(-3.0))));
  CHECK(y[1] == Approx(1 / (1 + std::exp(1.0))));
}
