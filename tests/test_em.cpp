// Matrix capsules with EM routing (issue 25): the reference kernels against the PyTorch module in
// yl-1993's layout (tests/golden/make_em.py: tools/train/em_modules.py in float64), and the
// routing's invariants.
#include <catch2/catch.hpp>
#include <algorithm>
#include <cmath>
#include <cstring>
#include <memory>
#include <random>
#include <vector>

#include "checkpoint.hpp"
#include "em.hpp"
#include "em_capsnet.hpp"
#include "json_util.hpp"
#include "kernel_set.h"
#include "reference.h"
#include "test_util.hpp"

using namespace capsrt;
using nlohmann::json;

namespace {

struct Routed {
  std::vector<float> mu, a_out, r;  // r: the couplings after a final E-step, when asked
};

// votes [C, I, 16]
Routed route(const kernels::EmRoutingParams& p, const std::vector<float>& votes, const std::vector<float>& a_in,
             const std::vector<float>& beta_u, const std::vector<float>& beta_a) {
  Routed out;
  out.mu.assign(static_cast<size_t>(p.out_caps) * 16, -1.0f);
  out.a_out.assign(static_cast<size_t>(p.out_caps), -1.0f);
  std::vector<float> scratch(ref::em_routing_f32_scratch_size(p) / sizeof(float) + 16, NAN);
  ref::em_routing_f32(p, votes.data(), a_in.data(), beta_u.data(), beta_a.data(), out.mu.data(), out.a_out.data(),
                      scratch.data());
  if (p.e_step_after_last) out.r.assign(scratch.begin(), scratch.begin() + static_cast<long>(p.out_caps) * p.in_caps);
  return out;
}

kernels::EmRoutingParams yl1993(int I, int C, int iterations) {
  kernels::EmRoutingParams p{};
  p.in_caps = I;
  p.out_caps = C;
  p.iterations = iterations;
  p.lambda = 1e-3f;
  p.eps = 1e-8f;
  p.m_step = kernels::kEmMStepRenormalised;
  return p;
}

}  // namespace

TEST_CASE("EM routing matches yl-1993's module: poses, activations and the couplings of every E-step") {
  const json golden = testutil::read_json(testutil::source_path("tests/data/em/routing.golden.json"));
  for (const json& cs : golden["cases"]) {
    const int I = cs["inputs"], C = cs["outputs"], iters = cs["iterations"];
    INFO("I " << I << ", C " << C << ", " << iters << " iterations");
    const auto v_ic = cs["votes"].get<std::vector<double>>();  // [I, C, 16], the module's order
    std::vector<float> votes(v_ic.size());
    for (int i = 0; i < I; ++i)
      for (int c = 0; c < C; ++c)
        for (int h = 0; h < 16; ++h) votes[(size_t(c) * I + i) * 16 + h] = float(v_ic[(size_t(i) * C + c) * 16 + h]);
    const auto a_in = cs["a_in"].get<std::vector<float>>();
    const auto beta_u = cs["beta_u"].get<std::vector<float>>(), beta_a = cs["beta_a"].get<std::vector<float>>();
    const Routed got = route(yl1993(I, C, iters), votes, a_in, beta_u, beta_a);
    const auto mu = cs["mu"].get<std::vector<double>>(), a_out = cs["a_out"].get<std::vector<double>>();
    for (size_t k = 0; k < mu.size(); ++k) CHECK(got.mu[k] == Approx(mu[k]).margin(1e-5));
    for (size_t k = 0; k < a_out.size(); ++k) CHECK(got.a_out[k] == Approx(a_out[k]).margin(1e-6));
    // r after E-step k: the routing of k + 1 iterations with its final E-step
    for (size_t k = 0; k < cs["r_after_e_step"].size(); ++k) {
      auto p = yl1993(I, C, static_cast<int>(k) + 1);
      p.e_step_after_last = true;
      const Routed rk = route(p, votes, a_in, beta_u, beta_a);
      const auto want = cs["r_after_e_step"][k].get<std::vector<double>>();  // [I, C]
      for (int i = 0; i < I; ++i)
        for (int c = 0; c < C; ++c) CHECK(rk.r[size_t(c) * I + i] == Approx(want[size_t(i) * C + c]).margin(1e-5));
    }
  }
}

TEST_CASE("EM routing's invariants: couplings sum to 1 over the outputs, activations in (0, 1), and the input activations cancel in yl-1993's M-step") {
  std::mt19937 rng(11);
  std::normal_distribution<float> normal;
  std::uniform_real_distribution<float> unit(0.1f, 1.0f);
  for (const auto& [I, C] : {std::pair<int, int>{72, 16}, {9, 5}, {256, 10}}) {
    INFO("I " << I << ", C " << C);
    std::vector<float> votes(size_t(C) * I * 16), a_in(I), beta_u(C), beta_a(C);
    for (float& x : votes) x = normal(rng);
    for (float& x : a_in) x = unit(rng);
    for (float& x : beta_u) x = normal(rng);
    for (float& x : beta_a) x = normal(rng);
    auto p = yl1993(I, C, 3);
    p.e_step_after_last = true;
    const Routed base = route(p, votes, a_in, beta_u, beta_a);
    for (int i = 0; i < I; ++i) {
      double sum = 0;
      for (int c = 0; c < C; ++c) sum += base.r[size_t(c) * I + i];
      CHECK(sum == Approx(1.0).margin(1e-5));
    }
    for (float a : base.a_out) {
      CHECK(a > 0.0f);
      CHECK(a < 1.0f);
    }
    // Each input's activation scaled by its own factor: yl-1993's renormalised M-step cancels it
    // (up to eps); the paper's scaled one does not.
    std::vector<float> scaled = a_in;
    for (float& x : scaled) x *= unit(rng);
    const Routed same = route(p, votes, scaled, beta_u, beta_a);
    for (size_t k = 0; k < base.mu.size(); ++k) CHECK(same.mu[k] == Approx(base.mu[k]).margin(1e-5));
    for (size_t k = 0; k < base.a_out.size(); ++k) CHECK(same.a_out[k] == Approx(base.a_out[k]).margin(1e-6));
    p.m_step = kernels::kEmMStepScaled;
    const Routed paper = route(p, votes, a_in, beta_u, beta_a), paper_scaled = route(p, votes, scaled, beta_u, beta_a);
    double moved = 0;
    for (size_t k = 0; k < paper.mu.size(); ++k) moved = std::max(moved, double(std::fabs(paper.mu[k] - paper_scaled.mu[k])));
    CHECK(moved > 1e-3);
  }
}

namespace {

std::vector<float> weights_of(const conv::Checkpoint& ck, const std::string& name) {
  const conv::RawTensor* t = ck.find(name);
  REQUIRE(t != nullptr);
  return conv::to_float32(*t);
}

std::vector<float> concat(std::vector<float> a, const std::vector<float>& b) {
  a.insert(a.end(), b.begin(), b.end());
  return a;
}

void check_close(const std::vector<float>& got, const std::vector<double>& want, double margin) {
  REQUIRE(got.size() == want.size());
  double worst = 0;
  for (size_t k = 0; k < got.size(); ++k) worst = std::max(worst, std::fabs(double(got[k]) - want[k]));
  INFO("largest difference " << worst);
  CHECK(worst <= margin);
}

kernels::EmRoutingParams routing_of(int I, int C, int iterations) { return yl1993(I, C, iterations); }

}  // namespace

// Each layer is fed the golden output of the layer before it, so that a fault shows in the layer
// that made it.
TEST_CASE("EM layers match yl-1993's module layer by layer on the tiny checkpoint") {
  const conv::Checkpoint ck = conv::read_checkpoint(testutil::source_path("tests/data/em/tiny_em.pt"));
  const json golden = testutil::read_json(testutil::source_path("tests/data/em/tiny_em.golden.json"));
  const int A = golden["config"]["A"], B = golden["config"]["B"], C = golden["config"]["C"], D = golden["config"]["D"],
            E = golden["config"]["E"], K = golden["config"]["K"], iters = golden["config"]["iters"];
  for (const json& cs : golden["cases"]) {
    const json& layers = cs["layers"];
    const auto shape = [&](const char* layer) { return cs["shapes"][layer].get<std::vector<int>>(); };
    const auto as_float = [&](const char* layer) {
      const auto d = layers[layer].get<std::vector<double>>();
      return std::vector<float>(d.begin(), d.end());
    };

    // PrimaryCaps on conv1's output (NHWC in the golden data, [A,H,W] for the kernel)
    const auto s1 = shape("conv1");
    const int H = s1[0], W = s1[1];
    REQUIRE(s1[2] == A);
    const auto conv1 = as_float("conv1");
    std::vector<float> chw(conv1.size());
    for (int y = 0; y < H; ++y)
      for (int x = 0; x < W; ++x)
        for (int a = 0; a < A; ++a) chw[(size_t(a) * H + y) * W + x] = conv1[(size_t(y) * W + x) * A + a];
    kernels::EmPrimaryCapsParams pp{A, H, W, B};
    std::vector<float> primary(size_t(H) * W * 17 * B, NAN);
    ref::em_primary_caps_f32(pp, chw.data(),
                             concat(weights_of(ck, "primary_caps.pose.weight"), weights_of(ck, "primary_caps.a.weight")).data(),
                             concat(weights_of(ck, "primary_caps.pose.bias"), weights_of(ck, "primary_caps.a.bias")).data(),
                             primary.data());
    check_close(primary, layers["primary_caps"].get<std::vector<double>>(), 1e-5);

    // ConvCaps1 (stride 2) and ConvCaps2 (stride 1), each on the golden input
    const auto conv_caps = [&](const char* in_layer, const char* out_layer, const char* prefix, int in_types,
                               int out_types, int stride) {
      const auto si = shape(in_layer), so = shape(out_layer);
      kernels::EmConvCapsParams cp{};
      cp.in_height = si[0];
      cp.in_width = si[1];
      cp.in_types = in_types;
      cp.out_height = so[0];
      cp.out_width = so[1];
      cp.out_types = out_types;
      cp.kernel = K;
      cp.stride = stride;
      cp.routing = routing_of(K * K * in_types, out_types, iters);
      REQUIRE(cp.out_height == (cp.in_height - K) / stride + 1);
      std::vector<float> out(static_cast<size_t>(so[0]) * so[1] * so[2], NAN);
      std::vector<float> scratch(ref::em_conv_caps_f32_scratch_size(cp) / sizeof(float) + 16, NAN);
      const std::string pre = prefix;
      ref::em_conv_caps_f32(cp, as_float(in_layer).data(), weights_of(ck, pre + ".weights").data(),
                            weights_of(ck, pre + ".beta_u").data(), weights_of(ck, pre + ".beta_a").data(), out.data(),
                            scratch.data());
      INFO(out_layer);
      check_close(out, layers[out_layer].get<std::vector<double>>(), 1e-5);
    };
    conv_caps("primary_caps", "conv_caps1", "conv_caps1", B, C, 2);
    conv_caps("conv_caps1", "conv_caps2", "conv_caps2", C, D, 1);

    // ClassCaps with coordinate addition: the scores are the activations
    const auto s3 = shape("conv_caps2");
    kernels::EmClassCapsParams ep{};
    ep.in_height = s3[0];
    ep.in_width = s3[1];
    ep.in_types = D;
    ep.classes = E;
    ep.coord_add = CAPS_EM_COORD_ELEMENTS_0_1;
    ep.routing = routing_of(s3[0] * s3[1] * D, E, iters);
    std::vector<float> scores(size_t(E), NAN), poses(size_t(E) * 16, NAN);
    std::vector<float> scratch(ref::em_class_caps_f32_scratch_size(ep) / sizeof(float) + 16, NAN);
    const auto in = as_float("conv_caps2");
    const auto w = weights_of(ck, "class_caps.weights"), bu = weights_of(ck, "class_caps.beta_u"),
               ba = weights_of(ck, "class_caps.beta_a");
    ref::em_class_caps_f32(ep, in.data(), w.data(), bu.data(), ba.data(), scores.data(), nullptr, scratch.data());
    check_close(scores, layers["class_caps"].get<std::vector<double>>(), 1e-5);
    // asking for the poses changes nothing else
    std::vector<float> again(size_t(E), NAN);
    ref::em_class_caps_f32(ep, in.data(), w.data(), bu.data(), ba.data(), again.data(), poses.data(), scratch.data());
    CHECK(again == scores);
    for (float v : poses) CHECK(std::isfinite(v));
    // without coordinate addition, or with the paper's elements, the answer moves
    for (const caps_em_coord_add other : {CAPS_EM_COORD_NONE, CAPS_EM_COORD_ELEMENTS_3_7}) {
      ep.coord_add = other;
      ref::em_class_caps_f32(ep, in.data(), w.data(), bu.data(), ba.data(), again.data(), nullptr, scratch.data());
      CHECK(again != scores);
    }
  }
}

// capsconv's path: the tiny checkpoint, plain and wrapped, converted (BatchNorm folded, the
// input normalisation in the model) and run from pixels on every kernel set this CPU runs.
TEST_CASE("a yl-1993 EM checkpoint converts and its model gives PyTorch's scores from pixels on every kernel set") {
  const json golden = testutil::read_json(testutil::source_path("tests/data/em/tiny_em.golden.json"));
  const auto input = golden["input"].get<std::vector<uint32_t>>();
  for (const char* file : {"tiny_em.pt", "tiny_em_wrapped.pt"}) {
    INFO(file);
    const conv::Checkpoint ck = conv::read_checkpoint(testutil::source_path(std::string("tests/data/em/") + file));
    REQUIRE(conv::is_em_checkpoint(ck));
    conv::EmOptions opt;
    opt.input.c = input[0];
    opt.input.h = input[1];
    opt.input.w = input[2];
    opt.iterations = golden["config"]["iters"];
    const conv::EmConversion c = conv::read_em(ck, opt);
    CHECK(c.ignored.empty());
    const std::vector<uint8_t> bytes = tools::build_em_capsnet(c.spec, c.weights);
    testutil::ModelBytes mb(bytes);
    Model m;
    REQUIRE(m.load(mb.data(), mb.size) == CAPS_OK);
    for (uint32_t ks = CAPS_KERNELS_REFERENCE; ks < CAPS_KERNELS_COUNT; ++ks) {
      if (!kernels::kernel_set_runnable(ks)) continue;
      INFO("kernel set " << caps_kernels_name(ks));
      tools::AlignedBuffer arena(m.arena_size_for(ks));
      Interpreter it;
      REQUIRE(it.init(m, arena.data(), arena.size(), ks) == CAPS_OK);
      for (const json& cs : golden["cases"]) {
        const auto px = cs["pixels"].get<std::vector<uint8_t>>();
        REQUIRE(it.set_input_u8(px.data(), px.size()) == CAPS_OK);
        REQUIRE(it.invoke() == CAPS_OK);
        const auto want = cs["scores"].get<std::vector<double>>();
        REQUIRE(want.size() == m.num_classes());
        std::vector<float> got(it.output<float>(CAPS_TENSOR_SCORES), it.output<float>(CAPS_TENSOR_SCORES) + want.size());
        check_close(got, want, 1e-5);
        caps_tensor_view view;
        CHECK(it.tensor_view(CAPS_TENSOR_POSES, &view) == CAPS_ERR_UNSUPPORTED);  // an EM model has no class poses
        CHECK(it.pose_dim() == 0);
      }
    }
  }
}

namespace {

// read_em's message for the tiny checkpoint after `edit`; empty when it converts.
template <typename Edit>
std::string em_error(Edit&& edit) {
  conv::Checkpoint ck = conv::read_checkpoint(testutil::source_path("tests/data/em/tiny_em.pt"));
  edit(ck);
  conv::EmOptions opt;
  opt.input = conv::InputSize{1, 20, 20};
  try {
    const conv::EmConversion c = conv::read_em(ck, opt);
    tools::build_em_capsnet(c.spec, c.weights);
  } catch (const conv::ArchError& e) {
    return e.what();
  } catch (const tools::WriterError& e) {
    return std::string("writer: ") + e.what();
  }
  return "";
}

conv::RawTensor& tensor(conv::Checkpoint& ck, const std::string& name) {
  for (conv::RawTensor& t : ck.tensors)
    if (t.name == name) return t;
  FAIL("no tensor " << name);
  return ck.tensors.front();
}

}  // namespace

TEST_CASE("malformed yl-1993 EM checkpoints are refused with the tensor and what it should be") {
  CHECK(em_error([](conv::Checkpoint&) {}).empty());
  const auto drop = [](const std::string& name) {
    return [name](conv::Checkpoint& ck) {
      ck.tensors.erase(std::remove_if(ck.tensors.begin(), ck.tensors.end(),
                                      [&](const conv::RawTensor& t) { return t.name == name; }),
                       ck.tensors.end());
    };
  };
  const auto has = [](const std::string& got, const std::string& want) {
    INFO(got);
    CHECK(got.find(want) != std::string::npos);
  };
  has(em_error(drop("bn1.running_var")), "no tensor bn1.running_var");
  has(em_error(drop("primary_caps.a.weight")), "no tensor primary_caps.a.weight");
  has(em_error(drop("class_caps.beta_a")), "no tensor class_caps.beta_a");
  // shapes that disagree (the storage is larger than the new shape, so only the shape is wrong)
  has(em_error([](conv::Checkpoint& ck) { tensor(ck, "conv1.bias").shape = {7}; }),
      "conv1.bias [7], expected [8]");
  has(em_error([](conv::Checkpoint& ck) { tensor(ck, "primary_caps.pose.weight").shape = {63, 8, 1, 1}; }),
      "16 per capsule type");
  has(em_error([](conv::Checkpoint& ck) { tensor(ck, "conv_caps1.weights").shape = {1, 32, 4, 4, 4}; }),
      "is not K*K*4");
  has(em_error([](conv::Checkpoint& ck) { tensor(ck, "conv_caps1.weights").shape = {1, 36, 4, 4, 3}; }),
      "expected [1, K*K*4, outputs, 4, 4]");
  has(em_error([](conv::Checkpoint& ck) { tensor(ck, "conv_caps2.weights").shape = {1, 16, 4, 4, 4}; }),
      "conv_caps1 has a 3x3 kernel and conv_caps2 2x2");
  has(em_error([](conv::Checkpoint& ck) { tensor(ck, "class_caps.weights").shape = {1, 3, 5, 4, 4}; }),
      "expected [1, 4 (conv_caps2's outputs), classes, 4, 4]");
  has(em_error([](conv::Checkpoint& ck) { tensor(ck, "conv_caps1.beta_u").shape = {5}; }),
      "conv_caps1.beta_u [5], expected [4]");
  has(em_error([](conv::Checkpoint& ck) { tensor(ck, "conv1.weight").shape = {8, 1, 5}; }), "has rank 3, expected 4");
  has(em_error([](conv::Checkpoint& ck) { tensor(ck, "conv1.weight").shape = {8, 1, 5, 3}; }), "not a square kernel");
  // a variance that is not one
  has(em_error([](conv::Checkpoint& ck) {
        conv::RawTensor& t = tensor(ck, "bn1.running_var");
        auto bytes = std::make_shared<std::vector<uint8_t>>(*t.bytes);
        const float bad = -1.0f;
        std::memcpy(bytes->data() + t.region_begin + t.offset * 4, &bad, 4);
        t.bytes = bytes;
      }),
      "bn1.running_var[0] is -1, not a variance");
  // an input too small for the network: the writer says which layer; channels conv1 does not read
  {
    const conv::Checkpoint ck = conv::read_checkpoint(testutil::source_path("tests/data/em/tiny_em.pt"));
    conv::EmOptions opt;
    opt.input = conv::InputSize{1, 8, 8};
    const conv::EmConversion c = conv::read_em(ck, opt);
    CHECK_THROWS_WITH(tools::build_em_capsnet(c.spec, c.weights), Catch::Contains("conv_caps2's input is 1x1 positions"));
    opt.input = conv::InputSize{3, 20, 20};
    CHECK_THROWS_WITH(conv::read_em(ck, opt), Catch::Contains("conv1.weight reads 1 channels"));
  }
  CHECK_THROWS_WITH(conv::parse_input_norm("0.1"), Catch::Contains("MEAN,STD"));
  CHECK_THROWS_WITH(conv::parse_input_norm("0.1,0"), Catch::Contains("MEAN,STD"));
  CHECK(conv::parse_input_norm("0.5,0.25") == std::pair<float, float>{0.5f, 0.25f});
}
