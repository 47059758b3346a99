#include "em.hpp"

#include <cmath>
#include <set>
#include <sstream>

#include "convert.hpp"

namespace capsrt {
namespace conv {

namespace {

constexpr int64_t kMaxTypes = 4096;
constexpr float kBatchNormEps = 1e-3f;  // yl-1993's bn1

struct Reader {
  const Checkpoint& ck;
  std::set<std::string> used;

  const RawTensor& need(const std::string& name, size_t rank) {
    const RawTensor* t = find_shaped(ck, name, rank, "yl-1993 EM checkpoint");
    if (t == nullptr)
      throw ArchError("yl-1993 EM checkpoint: no tensor " + name + " (the network needs conv1, bn1, primary_caps, "
                      "conv_caps1, conv_caps2 and class_caps)");
    used.insert(name);
    return *t;
  }
  // The tensor as float32, checked against `shape`.
  std::vector<float> values(const std::string& name, const std::vector<int64_t>& shape) {
    const RawTensor& t = need(name, shape.size());
    if (t.shape != shape)
      throw ArchError("yl-1993 EM checkpoint: " + named(t) + ", expected " + shape_string(shape) +
                      " from the other tensors' shapes");
    return to_float32(t);
  }
};

uint32_t u32(int64_t v) { return static_cast<uint32_t>(v); }

std::string num(float v) {
  std::ostringstream s;
  s << v;
  return s.str();
}

}  // namespace

bool is_em_checkpoint(const Checkpoint& ck) { return ck.find("conv_caps1.weights") != nullptr; }

std::pair<float, float> parse_input_norm(const std::string& text) {
  std::istringstream in(text);
  float mean = 0, sd = 0;
  char comma = 0;
  if (!(in >> mean >> comma >> sd) || comma != ',' || !in.eof() || !std::isfinite(mean) || !std::isfinite(sd) ||
      !(sd > 0))
    throw ArchError("--input-norm must be MEAN,STD (of pixels / 255, STD > 0), e.g. 0.1307,0.3081; not '" + text +
                    "'");
  return {mean, sd};
}

EmConversion read_em(const Checkpoint& ck, const EmOptions& opt) {
  EmConversion r;
  tools::EmSpec& s = r.spec;
  Reader rd{ck, {}};
  auto assume = [&](const std::string& text) { r.assumptions.push_back(text); };

  // conv1 [A, Cin, k, k] + bn1, folded: w' = w g / sqrt(var + eps), b' = (b - mean) g / sqrt(var + eps) + beta
  const RawTensor& c1 = rd.need("conv1.weight", 4);
  const int64_t A = c1.shape[0], cin = c1.shape[1], k = c1.shape[2];
  if (c1.shape[3] != k) throw ArchError("yl-1993 EM checkpoint: " + named(c1) + " is not a square kernel");
  if (cin > 4096 || k > 64 || A > 65536) throw ArchError("yl-1993 EM checkpoint: " + named(c1) + " is implausibly large");
  std::vector<float> w1 = rd.values("conv1.weight", c1.shape), b1 = rd.values("conv1.bias", {A});
  const std::vector<float> gamma = rd.values("bn1.weight", {A}), beta = rd.values("bn1.bias", {A}),
                           mean = rd.values("bn1.running_mean", {A}), var = rd.values("bn1.running_var", {A});
  if (ck.find("bn1.num_batches_tracked") != nullptr) rd.used.insert("bn1.num_batches_tracked");
  const size_t per_channel = static_cast<size_t>(cin * k * k);
  for (int64_t a = 0; a < A; ++a) {
    if (!(var[a] >= 0.0f) || !std::isfinite(var[a]))
      throw ArchError("yl-1993 EM checkpoint: bn1.running_var[" + std::to_string(a) + "] is " + num(var[a]) +
                      ", not a variance");
    const float scale = gamma[a] / std::sqrt(var[a] + kBatchNormEps);
    for (size_t n = 0; n < per_channel; ++n) w1[a * per_channel + n] *= scale;
    b1[a] = (b1[a] - mean[a]) * scale + beta[a];
  }
  s.A = u32(A);
  s.input_channels = u32(cin);
  s.conv_kernel = u32(k);
  s.conv_stride = 2;
  s.conv_pad = u32(k / 2);
  assume("conv1: stride 2, padding " + std::to_string(k / 2) + ", then BatchNorm (eps 1e-3, folded into the conv) "
         "and ReLU, as yl-1993's model builds it");

  // PrimaryCaps: pose [16B, A, 1, 1] and activation [B, A, 1, 1] convs -> one [17B, A] matrix
  const RawTensor& pose = rd.need("primary_caps.pose.weight", 4);
  if (pose.shape[0] % 16 != 0 || pose.shape[0] / 16 > kMaxTypes)
    throw ArchError("yl-1993 EM checkpoint: " + named(pose) + ": its outputs must be 16 per capsule type (16B)");
  const int64_t B = pose.shape[0] / 16;
  std::vector<float> pw = rd.values("primary_caps.pose.weight", {16 * B, A, 1, 1});
  const std::vector<float> aw = rd.values("primary_caps.a.weight", {B, A, 1, 1});
  std::vector<float> pb = rd.values("primary_caps.pose.bias", {16 * B});
  const std::vector<float> ab = rd.values("primary_caps.a.bias", {B});
  pw.insert(pw.end(), aw.begin(), aw.end());
  pb.insert(pb.end(), ab.begin(), ab.end());
  s.B = u32(B);

  // ConvCaps: weights [1, K K in, out, 4, 4], beta_u and beta_a [out]
  const auto conv_caps = [&](const std::string& name, int64_t in_types, uint32_t* out_types, uint32_t* kernel) {
    const RawTensor& t = rd.need(name + ".weights", 5);
    if (t.shape[0] != 1 || t.shape[3] != 4 || t.shape[4] != 4 || t.shape[1] % in_types != 0)
      throw ArchError("yl-1993 EM checkpoint: " + named(t) + ", expected [1, K*K*" + std::to_string(in_types) +
                      ", outputs, 4, 4]");
    const int64_t kk = t.shape[1] / in_types, kside = static_cast<int64_t>(std::lround(std::sqrt(double(kk))));
    if (kside * kside != kk || kside > 15 || t.shape[2] > kMaxTypes)
      throw ArchError("yl-1993 EM checkpoint: " + named(t) + ": " + std::to_string(t.shape[1]) + " inputs is not K*K*" +
                      std::to_string(in_types) + " for a square kernel K <= 15");
    if (kernel) *kernel = u32(kside);
    const int64_t out = t.shape[2];
    *out_types = u32(out);
    tools::WeightTensor w{{u32(t.shape[1]), u32(out), 4, 4}, rd.values(name + ".weights", t.shape)};
    r.weights[name + ".weights"] = std::move(w);
    r.weights[name + ".beta_u"] = {{u32(out)}, rd.values(name + ".beta_u", {out})};
    r.weights[name + ".beta_a"] = {{u32(out)}, rd.values(name + ".beta_a", {out})};
  };
  uint32_t k2 = 0;
  conv_caps("conv_caps1", B, &s.C, &s.K);
  conv_caps("conv_caps2", s.C, &s.D, &k2);
  if (k2 != s.K)
    throw ArchError("yl-1993 EM checkpoint: conv_caps1 has a " + std::to_string(s.K) + "x" + std::to_string(s.K) +
                    " kernel and conv_caps2 " + std::to_string(k2) + "x" + std::to_string(k2) +
                    "; that code uses one K for both");
  s.stride1 = 2;
  s.stride2 = 1;
  // ClassCaps: [1, D, E, 4, 4] (K 1, shared weights)
  const RawTensor& cc = rd.need("class_caps.weights", 5);
  if (cc.shape[0] != 1 || cc.shape[1] != s.D || cc.shape[3] != 4 || cc.shape[4] != 4 || cc.shape[2] > CAPS_MAX_CLASSES)
    throw ArchError("yl-1993 EM checkpoint: " + named(cc) + ", expected [1, " + std::to_string(s.D) +
                    " (conv_caps2's outputs), classes, 4, 4]");
  s.E = u32(cc.shape[2]);
  r.weights["class_caps.weights"] = {{s.D, s.E, 4, 4}, rd.values("class_caps.weights", cc.shape)};
  r.weights["class_caps.beta_u"] = {{s.E}, rd.values("class_caps.beta_u", {cc.shape[2]})};
  r.weights["class_caps.beta_a"] = {{s.E}, rd.values("class_caps.beta_a", {cc.shape[2]})};
  r.weights["conv1.weight"] = {{s.A, s.input_channels, s.conv_kernel, s.conv_kernel}, std::move(w1)};
  r.weights["conv1.bias"] = {{s.A}, std::move(b1)};
  r.weights["primary_caps.weight"] = {{17 * s.B, s.A}, std::move(pw)};
  r.weights["primary_caps.bias"] = {{17 * s.B}, std::move(pb)};
  assume("conv_caps1 stride 2, conv_caps2 stride 1; class_caps shares its weights across positions and adds the "
         "scaled coordinates to pose elements 0 and 1");

  // The routing: not in a state_dict
  s.iterations = opt.iterations > 0 ? static_cast<uint32_t>(opt.iterations) : 2;
  if (opt.iterations == 0) assume("2 EM iterations (that code's default; --routings to change)");
  assume("EM routing as that code's: lambda 1e-3, eps 1e-8, couplings times input activations renormalised over "
         "the outputs in the M-step, no E-step after the last");

  // The input
  if (opt.input.given()) {
    if (opt.input.c != s.input_channels)
      throw ArchError("--input " + std::to_string(opt.input.c) + "x...: conv1.weight reads " +
                      std::to_string(s.input_channels) + " channels");
    s.input_height = opt.input.h;
    s.input_width = opt.input.w;
  } else {
    s.input_height = s.input_width = 28;
    assume("input " + std::to_string(s.input_channels) + "x28x28 (MNIST's; --input CxHxW for another)");
  }
  const std::pair<float, float> norm = opt.norm ? *opt.norm : std::pair<float, float>{0.1307f, 0.3081f};
  s.input_scale = 1.0f / (255.0f * norm.second);
  s.input_offset = -norm.first / norm.second;
  assume("input = (pixel / 255 - " + num(norm.first) + ") / " + num(norm.second) +
         (opt.norm ? " (--input-norm)" : " (that code's MNIST normalisation; --input-norm MEAN,STD for another)"));
  if (opt.preprocess) {
    s.preprocess = *opt.preprocess;
  } else if (s.input_channels == 1 && s.input_height == 28 && s.input_width == 28) {
    s.preprocess = CAPS_PREPROCESS_MNIST;
    assume("photos prepared as MNIST's digits (--preprocess to change)");
  }
  s.class_names = opt.class_names;
  if (!s.class_names.empty() && s.class_names.size() != s.E)
    throw ArchError(std::to_string(s.class_names.size()) + " class names for " + std::to_string(s.E) + " classes");
  for (const RawTensor& t : ck.tensors)
    if (!rd.used.count(t.name)) r.ignored.push_back(t.name);
  return r;
}

}  // namespace conv
}  // namespace capsrt
