#include "capsnet_int8.hpp"

#include <algorithm>
#include <cmath>
#include <map>

#include "kernel_set.h"
#include "model_writer.hpp"
#include "reference.h"

namespace capsrt {
namespace tools {

namespace {

const WeightTensor& get(const Weights& w, const std::string& name) {
  auto it = w.find(name);
  if (it == w.end()) throw WriterError("missing tensor " + name);
  return it->second;
}

float max_abs(const float* v, size_t n) {
  float m = 0;
  for (size_t k = 0; k < n; ++k) m = std::max(m, std::fabs(v[k]));
  return m;
}

// Stem conv n (n = stem.size(): PrimaryCaps' conv, no activation) as kernel parameters.
kernels::Conv2DParams conv_geometry(const CapsNetSpec& s, size_t n) {
  const ConvSpec& c = n < s.stem.size() ? s.stem[n] : s.primary;
  const uint32_t h = stem_in_h(s, n), w = stem_in_w(s, n);
  kernels::Conv2DParams p;
  p.in_channels = static_cast<int>(stem_in_channels(s, n));
  p.in_height = static_cast<int>(h);
  p.in_width = static_cast<int>(w);
  p.out_channels = static_cast<int>(c.channels);
  p.kernel_h = static_cast<int>(c.kernel_h);
  p.kernel_w = static_cast<int>(c.kernel_w);
  p.stride_h = static_cast<int>(c.stride_h);
  p.stride_w = static_cast<int>(c.stride_w);
  p.pad_h = static_cast<int>(c.pad_h);
  p.pad_w = static_cast<int>(c.pad_w);
  p.pad_h_extra = static_cast<int>(c.pad_h_extra);
  p.pad_w_extra = static_cast<int>(c.pad_w_extra);
  p.out_height = static_cast<int>(conv_out_h(c, h));
  p.out_width = static_cast<int>(conv_out_w(c, w));
  p.activation = n < s.stem.size() && c.relu ? CAPS_ACT_RELU : CAPS_ACT_NONE;
  p.weight_layout = CAPS_LAYOUT_CONV_IHWO;
  return p;
}

// [O,C,KH,KW] row-major -> CONV_IHWO (the layout the SIMD convolutions read).
std::vector<float> to_ihwo(const WeightTensor& t) {
  const size_t O = t.shape[0], rest = t.data.size() / O;
  std::vector<float> out(t.data.size());
  for (size_t o = 0; o < O; ++o)
    for (size_t k = 0; k < rest; ++k) out[k * O + o] = t.data[o * rest + k];
  return out;
}

// One convolution with the best kernel set here (calibration speed; the result is the float
// model's to within the kernel sets' tolerance).
struct Conv {
  kernels::Conv2DParams p;
  std::vector<float> w, b, scratch;
  const kernels::KernelSet* ks;
  void run(const float* in, float* out) {
    ks->conv2d_f32(p, in, w.data(), b.data(), out, scratch.data());
  }
};

Conv make_conv(const kernels::Conv2DParams& p, const WeightTensor& w, const WeightTensor& b) {
  const kernels::KernelSet& ks =
      kernels::conv_kernels(*kernels::kernel_set(kernels::kernel_set_default()), CAPS_LAYOUT_CONV_IHWO);
  Conv c{p, to_ihwo(w), b.data, {}, &ks};
  c.scratch.resize(static_cast<size_t>(ks.conv2d_f32_scratch_size(p) / sizeof(float) + 16));
  return c;
}

// Symmetric int8 per output channel (axis 0): q = round(w / scale[o]), scale = max|w[o]| / 127.
void quantize_per_channel(const std::vector<float>& w, size_t channels, std::vector<int32_t>* q,
                          std::vector<float>* scales) {
  const size_t per = w.size() / channels;
  q->assign(w.size(), 0);
  scales->assign(channels, 1.0f);
  for (size_t o = 0; o < channels; ++o) {
    const float m = max_abs(w.data() + o * per, per);
    const float s = m > 0 ? m / 127.0f : 1.0f;
    (*scales)[o] = s;
    for (size_t k = 0; k < per; ++k)
      (*q)[o * per + k] = static_cast<int32_t>(
          std::max(-127.0, std::min(127.0, std::nearbyint(static_cast<double>(w[o * per + k]) / s))));
  }
}

// The Q format F for values up to `range` in an integer of `limit`: the largest F <= max_f with
// range * 2^F <= limit (max_f when the range is 0).
int32_t q_format(double range, double limit, int32_t min_f, int32_t max_f) {
  if (!(range > 0)) return max_f;
  const int32_t f = static_cast<int32_t>(std::floor(std::log2(limit / range)));
  return std::max(min_f, std::min(max_f, f));
}

void split_eps(uint64_t eps_q32, uint32_t* lo, uint32_t* hi) {
  *lo = static_cast<uint32_t>(eps_q32 & 0xFFFFFFFFu);
  *hi = static_cast<uint32_t>(eps_q32 >> 32);
}

}  // namespace

void encode_multiplier(double m, int32_t* mult, int32_t* shift) {
  if (!(m > 0) || !std::isfinite(m)) throw WriterError("requantisation multiplier is not positive");
  int e = 0;
  const double f = std::frexp(m, &e);  // m = f 2^e, f in [0.5, 1)
  int64_t q = std::llround(f * 2147483648.0);
  int32_t sh = 31 - e;
  if (q == (int64_t{1} << 31)) {
    q >>= 1;
    --sh;
  }
  if (sh > 62) {  // below 2^-32: contributes nothing an int8 output can show
    q = int64_t{1} << 30;
    sh = 62;
  }
  if (sh < 1) throw WriterError("requantisation multiplier too large for the int8 path");
  *mult = static_cast<int32_t>(q);
  *shift = sh;
}

Calibration calibrate_capsnet(const CapsNetSpec& s, const Weights& w, const uint8_t* pixels,
                              uint32_t count,
                              const std::function<void(uint32_t, uint32_t)>& progress) {
  Calibration cal;
  check_capsnet_geometry(s);
  const uint32_t C = s.input_channels, H = s.input_height, W = s.input_width;
  std::vector<Conv> stem;
  std::vector<std::vector<float>> stem_out;
  for (size_t n = 0; n < s.stem.size(); ++n) {
    stem.push_back(make_conv(conv_geometry(s, n), get(w, stem_name(n) + ".weight"), get(w, stem_name(n) + ".bias")));
    const kernels::Conv2DParams& g = stem.back().p;
    stem_out.emplace_back(static_cast<size_t>(g.out_channels) * g.out_height * g.out_width);
  }
  Conv conv2 = make_conv(conv_geometry(s, s.stem.size()), get(w, "primarycaps.conv2d.weight"),
                         get(w, "primarycaps.conv2d.bias"));
  const int I = static_cast<int>(primary_capsules(s)), DI = static_cast<int>(s.primary_dim);
  const int J = static_cast<int>(s.classes), DO = static_cast<int>(s.class_dim);
  const kernels::SquashParams squash{s.squash_eps_mode, s.squash_eps};
  const kernels::CapsPredictParams predict{I, DI, J, DO, CAPS_LAYOUT_ROW_MAJOR};
  const kernels::GroupingParams group{s.grouping, static_cast<int>(s.primary.channels),
                                      conv2.p.out_height, conv2.p.out_width, DI};

  std::vector<float> x(static_cast<size_t>(C) * H * W);
  std::vector<float> pc(static_cast<size_t>(s.primary.channels) * conv2.p.out_height * conv2.p.out_width);
  std::vector<float> u(pc.size()), u_hat(static_cast<size_t>(J) * I * DO);
  std::vector<float> logits(static_cast<size_t>(J) * I), coupling(logits.size()), v(static_cast<size_t>(J) * DO);
  std::vector<float> lengths(static_cast<size_t>(J));
  cal.predictions.assign(static_cast<size_t>(J), 0.0f);
  cal.decoder.assign(s.decoder_hidden.size(), 0.0f);
  cal.stem.assign(s.stem.size(), 0.0f);

  for (uint32_t n = 0; n < count; ++n) {
    const uint8_t* px = pixels + static_cast<size_t>(n) * x.size();
    for (size_t k = 0; k < x.size(); ++k) x[k] = static_cast<float>(px[k]) * s.input_scale + s.input_offset;
    const float* act = x.data();
    for (size_t k = 0; k < stem.size(); ++k) {
      stem[k].run(act, stem_out[k].data());
      cal.stem[k] = std::max(cal.stem[k], max_abs(stem_out[k].data(), stem_out[k].size()));
      act = stem_out[k].data();
    }
    conv2.run(act, pc.data());
    cal.primary = std::max(cal.primary, max_abs(pc.data(), pc.size()));
    ref::group_capsules_f32(group, pc.data(), u.data());
    ref::squash_f32(squash, u.data(), u.data(), I, DI);
    ref::caps_predict_f32(predict, u.data(), get(w, "digitcaps.weight").data.data(), u_hat.data());
    for (int j = 0; j < J; ++j)
      cal.predictions[static_cast<size_t>(j)] =
          std::max(cal.predictions[static_cast<size_t>(j)],
                   max_abs(u_hat.data() + static_cast<size_t>(j) * I * DO, static_cast<size_t>(I) * DO));
    // The squash input s_j of every iteration r: routing run for r iterations gives v = squash(s);
    // |s| = sqrt(|v| / (1 - |v|)) undoes it (|v| = |s|^2 / (1 + |s|^2)).
    for (uint32_t r = 1; r <= s.routings; ++r) {
      const kernels::RoutingParams rp{I, J, DO, static_cast<int>(r), s.softmax_axis, squash};
      ref::dynamic_routing_f32(rp, u_hat.data(), logits.data(), coupling.data(), v.data());
      for (int j = 0; j < J; ++j) {
        double len2 = 0;
        for (int d = 0; d < DO; ++d) len2 += double(v[static_cast<size_t>(j * DO + d)]) * v[static_cast<size_t>(j * DO + d)];
        const double len = std::sqrt(len2);
        if (len <= 0) continue;
        const double norm = std::sqrt(len / std::max(1e-12, 1.0 - len));
        for (int d = 0; d < DO; ++d)
          cal.routing = std::max(cal.routing, static_cast<float>(std::fabs(v[static_cast<size_t>(j * DO + d)]) / len * norm));
      }
    }
    // Decoder, on the poses masked to the predicted class.
    if (!s.decoder_hidden.empty()) {
      ref::vector_length_f32(v.data(), lengths.data(), J, DO, s.length_eps);
      const int keep = static_cast<int>(std::max_element(lengths.begin(), lengths.end()) - lengths.begin());
      std::vector<float> in(v.size(), 0.0f);
      for (int d = 0; d < DO; ++d) in[static_cast<size_t>(keep * DO + d)] = v[static_cast<size_t>(keep * DO + d)];
      for (size_t k = 0; k < s.decoder_hidden.size(); ++k) {
        const std::string prefix = "decoder." + std::to_string(2 * k);
        std::vector<float> out(s.decoder_hidden[k]);
        ref::dense_f32(kernels::DenseParams{static_cast<int>(in.size()), static_cast<int>(out.size()), CAPS_ACT_RELU},
                       in.data(), get(w, prefix + ".weight").data.data(), get(w, prefix + ".bias").data.data(),
                       out.data());
        cal.decoder[k] = std::max(cal.decoder[k], max_abs(out.data(), out.size()));
        in.swap(out);
      }
    }
    ++cal.images;
    if (progress) progress(n + 1, count);
  }
  return cal;
}

std::vector<uint8_t> build_capsnet_int8(const CapsNetSpec& s, const Weights& w,
                                        const Calibration& cal,
                                        std::vector<OpReport>* report,
                                        std::vector<std::string>* notes) {
  auto note = [&](const std::string& text) {
    if (notes) notes->push_back(text);
  };
  ModelWriter mw;
  set_capsnet_attributes(s, &mw);
  mw.set_description(s.name + " int8" +
                     (s.low_memory_routing ? ", low-memory routing" : ""));

  // The input: q = pixel - 128 stands for input_scale * pixel + input_offset, so the zero point
  // is -128 - offset / scale (rounded when the offset is not a whole number of steps).
  const double z_exact = -128.0 - static_cast<double>(s.input_offset) / s.input_scale;
  const int32_t z_in = static_cast<int32_t>(std::lround(z_exact));
  if (std::fabs(z_exact - z_in) > 1e-3)
    note("the input offset is not a whole number of pixel steps: the int8 input's zero point is "
         "rounded from " + std::to_string(z_exact) + " to " + std::to_string(z_in));
  const uint32_t x = mw.add_input("input", s.input_channels, s.input_height, s.input_width, CAPS_DTYPE_I8);
  mw.set_quant(x, s.input_scale, z_in);

  // A conv or dense layer: int8 weights per output channel, int32 bias (with the input's zero
  // point folded in), the requantisation table for the real multipliers out_scale[o].
  auto layer = [&](const std::string& prefix, double in_scale, int32_t in_zero,
                   const std::function<double(uint32_t)>& out_mult) {
    const WeightTensor& wt = get(w, prefix + ".weight");
    const WeightTensor& bt = get(w, prefix + ".bias");
    const uint32_t O = wt.shape[0];
    const size_t K = wt.data.size() / O;
    std::vector<int32_t> q;
    std::vector<float> scales;
    quantize_per_channel(wt.data, O, &q, &scales);
    Shape ws;
    ws.rank = static_cast<uint32_t>(wt.shape.size());
    for (size_t k = 0; k < wt.shape.size(); ++k) ws.dims[k] = wt.shape[k];
    const uint32_t wid = mw.add_const_int(prefix + ".weight", ws, CAPS_DTYPE_I8, q);
    const uint32_t sid = mw.add_const(prefix + ".weight_scales", make_shape({O}), scales);
    mw.set_quant_per_channel(wid, 0, sid);
    std::vector<int32_t> bias(O), rq(2 * static_cast<size_t>(O));
    const double bound = static_cast<double>(q_bias_bound(K));
    for (uint32_t o = 0; o < O; ++o) {
      int64_t wsum = 0;
      for (size_t k = 0; k < K; ++k) wsum += q[o * K + k];
      const double acc_scale = in_scale * scales[o];
      const double b = std::nearbyint(bt.data[o] / acc_scale) - static_cast<double>(in_zero) * wsum;
      if (std::fabs(b) > bound)
        throw WriterError(prefix + ".bias: channel " + std::to_string(o) +
                          " too large for the int8 path's int32 sums");
      bias[o] = static_cast<int32_t>(b);
      encode_multiplier(acc_scale * out_mult(o), &rq[2 * o], &rq[2 * o + 1]);
    }
    const uint32_t bid = mw.add_const_int(prefix + ".bias", make_shape({O}), CAPS_DTYPE_I32, bias);
    const uint32_t rid = mw.add_const_int(prefix + ".requant", make_shape({O, 2}), CAPS_DTYPE_I32, rq);
    return std::array<uint32_t, 3>{wid, bid, rid};
  };

  // The stem: each conv's output int8 with scale = calibrated max / 127 and zero point 0: 0..127
  // after a ReLU, -127..127 without one.
  if (cal.stem.size() != s.stem.size())
    throw WriterError("the calibration has " + std::to_string(cal.stem.size()) + " stem ranges for " +
                      std::to_string(s.stem.size()) + " convs");
  uint32_t h = x;
  double h_scale = s.input_scale;
  int32_t h_zero = z_in;
  for (size_t n = 0; n < s.stem.size(); ++n) {
    const double out_scale = cal.stem[n] > 0 ? cal.stem[n] / 127.0 : 1.0;
    const auto cw = layer(stem_name(n), h_scale, h_zero, [&](uint32_t) { return 1.0 / out_scale; });
    const ConvSpec& c = s.stem[n];
    h = mw.add_op(CAPS_OP_CONV2D, {h, cw[0], cw[1], cw[2]},
                  conv_op_params(c, c.relu ? uint32_t{CAPS_ACT_RELU} : uint32_t{CAPS_ACT_NONE}), stem_name(n));
    mw.set_quant(h, static_cast<float>(out_scale), 0);
    h_scale = out_scale;
    h_zero = 0;
  }

  // PrimaryCaps: the conv output in int16 Q F_p, squashed into int8 Q7 capsules.
  const int32_t f_p = q_format(cal.primary, 32767.0, 0, 16);
  const auto pcw = layer("primarycaps.conv2d", h_scale, h_zero, [&](uint32_t) { return std::ldexp(1.0, f_p); });
  auto eps_q32 = [&](int32_t f) {
    const double e = s.squash_eps_mode == CAPS_SQUASH_EPS_IN_SQRT ? std::ldexp(s.squash_eps, 2 * f + 32)
                                                                  : std::ldexp(s.squash_eps, f + 32);
    if (e >= std::ldexp(1.0, 62)) throw WriterError("squash eps too large for the int8 path");
    return static_cast<uint64_t>(std::llround(e));
  };
  uint32_t eps_lo = 0, eps_hi = 0;
  split_eps(eps_q32(f_p), &eps_lo, &eps_hi);
  std::array<uint32_t, 8> pc_params = conv_op_params(s.primary, s.primary_dim);
  pc_params[CAPS_PRIMARY_CAPS_Q_FRAC] = static_cast<uint32_t>(f_p);
  pc_params[CAPS_PRIMARY_CAPS_Q_EPS_LO] = eps_lo;
  pc_params[CAPS_PRIMARY_CAPS_Q_EPS_HI] = eps_hi;
  const uint32_t pc = mw.add_op(CAPS_OP_PRIMARY_CAPS, {h, pcw[0], pcw[1], pcw[2]}, pc_params, "primarycaps");
  mw.set_quant(pc, 1.0f / 128.0f, 0);

  // CapsDense: W int8 per class j; predictions int16 in Q F_u[j]; routing squash input Q F_s.
  const WeightTensor& W = get(w, "digitcaps.weight");
  const uint32_t J = s.classes;
  std::vector<int32_t> wq;
  std::vector<float> wscales;
  quantize_per_channel(W.data, J, &wq, &wscales);
  Shape Ws;
  Ws.rank = 4;
  for (size_t k = 0; k < 4; ++k) Ws.dims[k] = W.shape[k];
  const uint32_t wid = mw.add_const_int("digitcaps.weight", Ws, CAPS_DTYPE_I8, wq);
  const uint32_t wsid = mw.add_const("digitcaps.weight_scales", make_shape({J}), wscales);
  mw.set_quant_per_channel(wid, 0, wsid);
  std::vector<int32_t> crq(3 * static_cast<size_t>(J));
  for (uint32_t j = 0; j < J; ++j) {
    const float range = j < cal.predictions.size() ? cal.predictions[j] : 0.0f;
    const int32_t f_u = q_format(range, 32767.0, 1, 30);
    encode_multiplier(static_cast<double>(wscales[j]) / 128.0 * std::ldexp(1.0, f_u), &crq[3 * j], &crq[3 * j + 1]);
    crq[3 * j + 2] = f_u;
  }
  const uint32_t crid = mw.add_const_int("digitcaps.requant", make_shape({J, 3}), CAPS_DTYPE_I32, crq);
  const int32_t f_s = q_format(cal.routing, 16777216.0, 0, 16);
  split_eps(eps_q32(f_s), &eps_lo, &eps_hi);
  const uint32_t v = mw.add_op(CAPS_OP_CAPS_DENSE, {pc, wid, crid},
                               {static_cast<uint32_t>(f_s), eps_lo, eps_hi,
                                s.low_memory_routing ? 1u : 0u},
                               "digitcaps");
  mw.set_quant(v, 1.0f / 32768.0f, 0);
  const double len_eps = std::ldexp(static_cast<double>(s.length_eps), 30);
  if (len_eps >= std::ldexp(1.0, 30)) throw WriterError("length eps too large for the int8 path");
  const uint32_t scores = mw.add_op(CAPS_OP_LENGTH, {v}, {static_cast<uint32_t>(std::llround(len_eps))}, "scores");
  mw.set_quant(scores, 1.0f / 32768.0f, 0);

  uint32_t recon = CAPS_NONE;
  if (!s.decoder_hidden.empty()) {
    mw.begin_decoder();
    uint32_t hid = mw.add_op(CAPS_OP_MASK, {v, scores}, {}, "masked");
    mw.set_quant(hid, 1.0f / 128.0f, 0);
    double in_scale = 1.0 / 128.0;
    for (size_t k = 0; k <= s.decoder_hidden.size(); ++k) {
      const std::string prefix = "decoder." + std::to_string(2 * k);
      const bool last = k == s.decoder_hidden.size();
      // Hidden layers: ReLU into 0..127 of the calibrated range; the last: Q16 logits.
      const double out_scale = last ? std::ldexp(1.0, -16)
                                    : (k < cal.decoder.size() && cal.decoder[k] > 0 ? cal.decoder[k] / 127.0 : 1.0);
      const auto dw = layer(prefix, in_scale, 0, [&](uint32_t) { return 1.0 / out_scale; });
      hid = mw.add_op(CAPS_OP_DENSE, {hid, dw[0], dw[1], dw[2]},
                      {last ? uint32_t{CAPS_ACT_SIGMOID} : uint32_t{CAPS_ACT_RELU}},
                      last ? "reconstruction" : prefix);
      if (last)
        mw.set_quant(hid, 1.0f / 255.0f, -128);
      else
        mw.set_quant(hid, static_cast<float>(out_scale), 0);
      in_scale = out_scale;
    }
    recon = hid;
  }
  mw.set_outputs(scores, v, recon);
  std::vector<uint8_t> bytes = mw.finish();
  if (report) *report = mw.report();
  return bytes;
}

}  // namespace tools
}  // namespace capsrt
