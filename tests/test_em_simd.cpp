// The SIMD EM kernels (kernels/simd/em_caps_f32.hpp) of every SIMD set this build and CPU run,
// against the reference kernels (em_caps_f32.cpp, em_routing_f32.cpp) on random shapes with fixed
// seeds: capsule types, outputs and kernel sizes that fill no vector or tile evenly, both
// M-steps, every coordinate addition, 1 to 3 iterations.
//
// Tolerance. Both compute the same formulas in float32, in different orders (FMAs, sums split
// across lanes, the E-step's division by 2 sigma^2 taken as a product with its reciprocal), so they
// differ by rounding, which each iteration's exp, log and divisions carry on: a few ulps per step,
// amplified where the couplings' softmax is steep. The test allows 2e-5 absolute plus 2e-4
// relative on poses and 2e-5 on activations (which lie in (0, 1)), and prints the worst seen;
// a wrong index or coordinate is off by the size of a pose value (about 1).
//
// Some random shapes are ill-conditioned: with 2 inputs for 7 outputs a variance can come out
// near eps, the E-step's log-likelihoods are then huge and a rounding in them moves the
// couplings. There the reference itself moves by more than that bound when its input poses move
// by one ulp (1.4e-5 on ClassCaps' trial 20, where NEON's order of sums differed from the
// reference by 4.4e-5). So each trial also runs the reference on inputs one ulp up, and its
// largest change (its float uncertainty on that trial) times 8 is added to the bounds. The test
// requires that change to stay below 1e-3, so that no trial's bound can hide a wrong index.
#include <catch2/catch.hpp>
#include <cmath>
#include <cstdio>
#include <random>
#include <vector>

#include "kernel_set.h"
#include "reference.h"
#include "simd_sets.hpp"

using namespace capsrt;
using namespace capsrt::kernels;

namespace {

std::vector<float> capsules(std::mt19937& rng, int h, int w, int types) {
  std::normal_distribution<float> pose(0.0f, 0.5f);
  std::uniform_real_distribution<float> act(0.05f, 1.0f);
  std::vector<float> x(static_cast<size_t>(h) * w * 17 * types);
  for (size_t pos = 0; pos < static_cast<size_t>(h) * w; ++pos)
    for (int k = 0; k < 17 * types; ++k) x[pos * 17 * types + k] = k < 16 * types ? pose(rng) : act(rng);
  return x;
}

std::vector<float> normals(std::mt19937& rng, size_t n, float sd) {
  std::normal_distribution<float> d(0.0f, sd);
  std::vector<float> v(n);
  for (float& x : v) x = d(rng);
  return v;
}

EmRoutingParams routing(std::mt19937& rng, int I, int C) {
  EmRoutingParams r{};
  r.in_caps = I;
  r.out_caps = C;
  r.iterations = 1 + static_cast<int>(rng() % 3);
  r.lambda = 1e-3f * static_cast<float>(1 + rng() % 100);
  r.eps = 1e-8f;
  r.m_step = rng() % 2 ? kEmMStepScaled : kEmMStepRenormalised;
  return r;
}

struct Worst {
  double pose = 0, act = 0, uncertainty = 0;
};

// x with every value moved one ulp up
std::vector<float> ulp_up(std::vector<float> x) {
  for (float& v : x) v = std::nextafter(v, INFINITY);
  return x;
}

// outputs laid out as the kernels write them; `is_act(k)` says which are activations; `nudged`:
// the reference's outputs on the inputs one ulp up
template <typename IsAct>
void compare(const std::vector<float>& got, const std::vector<float>& want, const std::vector<float>& nudged,
             IsAct is_act, Worst* worst) {
  REQUIRE(got.size() == want.size());
  REQUIRE(nudged.size() == want.size());
  double uncertainty = 0;
  for (size_t k = 0; k < want.size(); ++k) uncertainty = std::max(uncertainty, std::fabs(double(nudged[k]) - want[k]));
  INFO("the reference moves by " << uncertainty << " under a one-ulp change of its input poses");
  REQUIRE(uncertainty < 1e-3);
  worst->uncertainty = std::max(worst->uncertainty, uncertainty);
  for (size_t k = 0; k < got.size(); ++k) {
    INFO("element " << k << ": got " << got[k] << ", want " << want[k]);
    const double d = std::fabs(double(got[k]) - want[k]);
    if (is_act(k)) {
      const double bound = 2e-5 + 8 * uncertainty;
      worst->act = std::max(worst->act, d / bound);
      REQUIRE(d <= bound);
    } else {
      const double bound = 2e-5 + 2e-4 * std::fabs(want[k]) + 8 * uncertainty;
      worst->pose = std::max(worst->pose, d / bound);
      REQUIRE(d <= bound);
    }
  }
}

}  // namespace

TEST_CASE("SIMD EM ConvCaps matches the reference on random shapes") {
  for (const KernelSet* ks : testutil::simd_sets_here()) {
    INFO("kernel set " << ks->name);
    std::mt19937 rng(41);
    Worst worst;
    for (int trial = 0; trial < 40; ++trial) {
      EmConvCapsParams p{};
      p.kernel = 1 + static_cast<int>(rng() % 3);
      p.stride = 1 + static_cast<int>(rng() % 2);
      p.in_height = p.kernel + static_cast<int>(rng() % 5);
      p.in_width = p.kernel + static_cast<int>(rng() % 5);
      p.in_types = 1 + static_cast<int>(rng() % 9);
      p.out_types = 1 + static_cast<int>(rng() % 17);
      p.out_height = (p.in_height - p.kernel) / p.stride + 1;
      p.out_width = (p.in_width - p.kernel) / p.stride + 1;
      const int I = p.kernel * p.kernel * p.in_types, C = p.out_types;
      p.routing = routing(rng, I, C);
      INFO("trial " << trial << ": " << p.in_height << "x" << p.in_width << "x" << p.in_types << " K " << p.kernel
                    << " s " << p.stride << " -> " << C << ", " << p.routing.iterations << " iterations, m-step "
                    << p.routing.m_step);
      const std::vector<float> x = capsules(rng, p.in_height, p.in_width, p.in_types),
                               w = normals(rng, static_cast<size_t>(I) * C * 16, 0.5f), bu = normals(rng, C, 1.0f),
                               ba = normals(rng, C, 1.0f);
      const size_t n_out = static_cast<size_t>(p.out_height) * p.out_width * 17 * C;
      std::vector<float> want(n_out, NAN), got(n_out, NAN);
      std::vector<float> s_ref(ref::em_conv_caps_f32_scratch_size(p) / 4 + 16, NAN);
      std::vector<float> s_simd(ks->em_conv_caps_f32_scratch_size(p) / 4 + 16, NAN);
      std::vector<float> nudged(n_out, NAN);
      ref::em_conv_caps_f32(p, x.data(), w.data(), bu.data(), ba.data(), want.data(), s_ref.data());
      ref::em_conv_caps_f32(p, ulp_up(x).data(), w.data(), bu.data(), ba.data(), nudged.data(), s_ref.data());
      ks->em_conv_caps_f32(p, x.data(), w.data(), bu.data(), ba.data(), got.data(), s_simd.data());
      compare(got, want, nudged,
              [&](size_t k) { return k % (17 * static_cast<size_t>(C)) >= 16 * static_cast<size_t>(C); }, &worst);
    }
    std::printf("%s ConvCaps: worst difference %.2f of the bound on poses, %.2f on activations; the reference's "
                "largest one-ulp change %.2g\n", ks->name, worst.pose, worst.act, worst.uncertainty);
  }
}

TEST_CASE("SIMD EM ClassCaps matches the reference on random shapes, with every coordinate addition") {
  for (const KernelSet* ks : testutil::simd_sets_here()) {
    INFO("kernel set " << ks->name);
    std::mt19937 rng(43);
    Worst worst;
    for (int trial = 0; trial < 40; ++trial) {
      EmClassCapsParams p{};
      p.in_height = 1 + static_cast<int>(rng() % 5);
      p.in_width = 1 + static_cast<int>(rng() % 5);
      p.in_types = 1 + static_cast<int>(rng() % 9);
      p.classes = 1 + static_cast<int>(rng() % 12);
      p.coord_add = static_cast<caps_em_coord_add>(trial % 3);
      const int E = p.classes, I = p.in_height * p.in_width * p.in_types;
      p.routing = routing(rng, I, E);
      INFO("trial " << trial << ": " << p.in_height << "x" << p.in_width << "x" << p.in_types << " -> " << E
                    << ", coordinate addition " << p.coord_add << ", " << p.routing.iterations << " iterations");
      const std::vector<float> x = capsules(rng, p.in_height, p.in_width, p.in_types),
                               w = normals(rng, static_cast<size_t>(p.in_types) * E * 16, 0.5f),
                               bu = normals(rng, E, 1.0f), ba = normals(rng, E, 1.0f);
      std::vector<float> want(static_cast<size_t>(E) * 17, NAN), got(want.size(), NAN);
      std::vector<float> s_ref(ref::em_class_caps_f32_scratch_size(p) / 4 + 16, NAN);
      std::vector<float> s_simd(ks->em_class_caps_f32_scratch_size(p) / 4 + 16, NAN);
      // poses [E,16] then activations [E], from each kernel
      ref::em_class_caps_f32(p, x.data(), w.data(), bu.data(), ba.data(), want.data() + 16 * E, want.data(),
                             s_ref.data());
      std::vector<float> nudged(want.size(), NAN);
      ref::em_class_caps_f32(p, ulp_up(x).data(), w.data(), bu.data(), ba.data(), nudged.data() + 16 * E,
                             nudged.data(), s_ref.data());
      ks->em_class_caps_f32(p, x.data(), w.data(), bu.data(), ba.data(), got.data() + 16 * E, got.data(),
                            s_simd.data());
      compare(got, want, nudged, [&](size_t k) { return k >= 16 * static_cast<size_t>(E); }, &worst);
      // without the poses asked for, the same activations
      std::vector<float> again(static_cast<size_t>(E), NAN);
      ks->em_class_caps_f32(p, x.data(), w.data(), bu.data(), ba.data(), again.data(), nullptr, s_simd.data());
      for (int e = 0; e < E; ++e) CHECK(again[static_cast<size_t>(e)] == got[16 * static_cast<size_t>(E) + e]);
    }
    std::printf("%s ClassCaps: worst difference %.2f of the bound on poses, %.2f on activations; the reference's "
                "largest one-ulp change %.2g\n", ks->name, worst.pose, worst.act, worst.uncertainty);
  }
}

// A sum of A products in another order (FMAs), then a sigmoid (xsimd's exp against std::exp):
// 2 gamma_A sum |w x| plus a few ulps, as test_simd_kernels.cpp's sums.
TEST_CASE("SIMD EM PrimaryCaps matches the reference on random shapes") {
  for (const KernelSet* ks : testutil::simd_sets_here()) {
    INFO("kernel set " << ks->name);
    std::mt19937 rng(47);
    double worst = 0;
    for (int trial = 0; trial < 30; ++trial) {
      EmPrimaryCapsParams p{1 + static_cast<int>(rng() % 70), 1 + static_cast<int>(rng() % 15),
                            1 + static_cast<int>(rng() % 15), 1 + static_cast<int>(rng() % 9)};
      INFO("trial " << trial << ": A " << p.in_channels << ", " << p.height << "x" << p.width << ", B " << p.types);
      const int rows = 17 * p.types, hw = p.height * p.width;
      const std::vector<float> x = normals(rng, static_cast<size_t>(p.in_channels) * hw, 1.0f),
                               w = normals(rng, static_cast<size_t>(rows) * p.in_channels, 0.3f),
                               b = normals(rng, static_cast<size_t>(rows), 0.3f);
      std::vector<float> want(static_cast<size_t>(hw) * rows, NAN), got(want.size(), NAN);
      ref::em_primary_caps_f32(p, x.data(), w.data(), b.data(), want.data());
      ks->em_primary_caps_f32(p, x.data(), w.data(), b.data(), got.data());
      const double gamma = 2.0 * p.in_channels / 16777216.0;
      for (int pos = 0; pos < hw; ++pos)
        for (int r = 0; r < rows; ++r) {
          double mag = std::fabs(b[static_cast<size_t>(r)]);
          for (int a = 0; a < p.in_channels; ++a)
            mag += std::fabs(double(w[static_cast<size_t>(r) * p.in_channels + a]) * x[static_cast<size_t>(a) * hw + pos]);
          const size_t k = static_cast<size_t>(pos) * rows + r;
          const double bound = 2 * gamma * mag + 4e-7 * (1 + std::fabs(want[k]));
          worst = std::max(worst, std::fabs(double(got[k]) - want[k]) / bound);
          REQUIRE(std::fabs(double(got[k]) - want[k]) <= bound);
        }
    }
    std::printf("%s PrimaryCaps: worst difference %.2f of the bound\n", ks->name, worst);
  }
}
