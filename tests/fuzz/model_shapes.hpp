// A structure-aware generator of model files with extreme shapes, for the fuzz target
// fuzz_model_shapes and the regression tests (tests/test_bad_input.cpp).
//
// Coverage-guided fuzzing of raw .caps bytes rarely gets a model past the checksum and the
// graph checks with shapes large enough to overflow size arithmetic: such a model needs a file
// and an arena of gigabytes. This generator builds the CapsNet graph
//
//   input [C,H,W] -Conv2D-> a1 [O1,H1,W1] -PrimaryCaps-> u [I,D] -CapsDense-> v [J,DO]
//   -Length-> scores [J];  v, scores -Mask-> m [J*DO] -Dense-> h [N] -Dense-> recon [C*H*W]
//
// with every dim, stride and pad taken from the fuzzer's bytes (small values or extremes such
// as 2^24, 2^31, 2^32-1), each shape derived the way a careless writer would (64-bit products
// truncated to 32 bits, byte lengths wrapped), then lets the remaining bytes overwrite single
// dims. It places the file in an anonymous mapping: the constant data are untouched zero pages
// except the first 64 KiB, filled with a chosen pattern (zeros, ones, NaN, infinities, huge,
// denormal), so a 4 GiB file costs no memory and is loaded with CAPS_LOAD_SKIP_CHECKSUM.
#ifndef CAPSRT_TESTS_FUZZ_MODEL_SHAPES_HPP
#define CAPSRT_TESTS_FUZZ_MODEL_SHAPES_HPP

#include <sys/mman.h>

#include <cmath>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <initializer_list>
#include <limits>

#include "capsrt/capsrt.hpp"
#include "capsrt/ops.hpp"
#include "kernel_params.h"

namespace fuzzgen {

// The fuzzer's bytes, read front to back; zeros once they run out.
class ByteReader {
 public:
  ByteReader(const uint8_t* data, size_t size) : p_(data), n_(size) {}
  uint8_t byte() { return at_ < n_ ? p_[at_++] : 0; }
  uint32_t u32() {
    uint32_t v = 0;
    for (int k = 0; k < 4; ++k) v |= uint32_t{byte()} << (8 * k);
    return v;
  }
  bool done() const { return at_ >= n_; }
  // 1..small_max mostly; one byte in 16 picks an extreme instead.
  uint32_t dim(uint32_t small_max) {
    const uint8_t b = byte();
    if (b < 0xF0) return 1 + b % small_max;
    static const uint32_t kExtreme[16] = {0u,          128u,     1u << 12,    1u << 16,
                                          1u << 20,    1u << 24,    1u << 26,    1u << 28,
                                          1u << 29,    1u << 30,    0x7FFFFFFFu, 1u << 31,
                                          0x80000001u, 0xFFFFFFFFu, 4097u,       65537u};
    return kExtreme[b & 0x0F];
  }
  // 0..3 mostly; else the largest pad the format allows, one past it, or absurd ones.
  uint32_t pad() {
    const uint8_t b = byte();
    if (b < 0xF0) return b % 4;
    static const uint32_t kExtreme[4] = {64u, 63u, 65u, 0x80000000u};
    return kExtreme[b & 3];
  }

 private:
  const uint8_t* p_;
  size_t n_, at_ = 0;
};

enum : uint32_t {
  kInput, kW1, kB1, kA1, kW2, kB2, kU, kWc, kV, kScores, kMasked, kWd1, kBd1, kH, kWd2, kBd2,
  kRecon, kTensorCount
};

struct GeneratedModel {
  uint8_t* bytes = nullptr;  // the mapping (page aligned), total_size bytes
  size_t mapped = 0;
  size_t size = 0;
  GeneratedModel() = default;
  GeneratedModel(const GeneratedModel&) = delete;
  GeneratedModel& operator=(const GeneratedModel&) = delete;
  ~GeneratedModel() {
    if (bytes != nullptr) munmap(bytes, mapped);
  }
};

inline uint32_t trunc32(uint64_t v) { return static_cast<uint32_t>(v); }

// Fills `out` from the fuzzer's bytes. false if no mapping could be made (the caller skips).
inline bool generate_model(const uint8_t* data, size_t size, GeneratedModel* out) {
  ByteReader r(data, size);
  caps_tensor_entry t[kTensorCount];
  std::memset(t, 0, sizeof t);
  auto shape = [&](uint32_t id, uint8_t kind, uint32_t rank, uint32_t d0, uint32_t d1 = 0,
                   uint32_t d2 = 0, uint32_t d3 = 0) {
    t[id].dtype = CAPS_DTYPE_F32;
    t[id].kind = kind;
    t[id].rank = static_cast<uint8_t>(rank);
    const uint32_t d[4] = {d0, d1, d2, d3};
    for (uint32_t k = 0; k < 4; ++k) t[id].dims[k] = k < rank ? d[k] : 0;
    t[id].name_offset = CAPS_NONE;
    t[id].quant_params_tensor = CAPS_NONE;
  };
  const uint8_t C = CAPS_TENSOR_CONST, A = CAPS_TENSOR_ACTIVATION;
  // the graph's numbers
  const uint32_t c = r.dim(3), h = r.dim(40), w = r.dim(40);
  const uint32_t o1 = r.dim(32), k1 = r.dim(9), s1 = r.dim(3), p1 = r.pad();
  const uint32_t o2 = r.dim(64), k2 = r.dim(9), s2 = r.dim(3), p2 = r.pad();
  const uint32_t dim = r.dim(16), j = r.dim(12), dout = r.dim(20), hidden = r.dim(64);
  const uint8_t variant = r.byte(), fill = r.byte();
  const uint32_t e1 = r.byte() % 3;  // conv1's extra zero rows after the input (format 1.4)
  auto conv_out = [](uint32_t in, uint32_t k, uint32_t s, uint32_t p, uint32_t e = 0) {
    const uint64_t padded = uint64_t{in} + 2 * uint64_t{p} + e;
    return padded < k || s == 0 ? 1u : trunc32((padded - k) / s + 1);
  };
  const uint32_t h1 = conv_out(h, k1, s1, p1, e1), w1 = conv_out(w, k1, s1, p1);
  const uint32_t h2 = conv_out(h1, k2, s2, p2), w2 = conv_out(w1, k2, s2, p2);
  const uint32_t caps_in = trunc32(uint64_t{o2} * h2 * w2 / (dim == 0 ? 1 : dim));
  shape(kInput, A, 3, c, h, w);
  shape(kW1, C, 4, o1, c, k1, k1);
  shape(kB1, C, 1, o1);
  shape(kA1, A, 3, o1, h1, w1);
  shape(kW2, C, 4, o2, o1, k2, k2);
  shape(kB2, C, 1, o2);
  shape(kU, A, 2, caps_in, dim);
  shape(kWc, C, 4, j, caps_in, dout, dim);
  shape(kV, A, 2, j, dout);
  shape(kScores, A, 1, j);
  shape(kMasked, A, 1, trunc32(uint64_t{j} * dout));
  shape(kWd1, C, 2, hidden, trunc32(uint64_t{j} * dout));
  shape(kBd1, C, 1, hidden);
  shape(kH, A, 1, hidden);
  shape(kWd2, C, 2, trunc32(uint64_t{c} * h * w), hidden);
  shape(kBd2, C, 1, trunc32(uint64_t{c} * h * w));
  shape(kRecon, A, 1, trunc32(uint64_t{c} * h * w));
  // then single dims overwritten: tensor, dim index, value
  while (!r.done()) {
    const uint8_t id = r.byte() % kTensorCount, k = r.byte() % CAPS_MAX_RANK;
    const uint32_t v = r.byte() < 128 ? r.dim(64) : r.u32();
    if (k < t[id].rank) t[id].dims[k] = v;
  }
  // byte lengths as a 64-bit product wrapped to 32 bits; consts all at the start of the data
  // section (they may share bytes), activations one after another in the arena
  uint64_t data_need = 64, arena = 0;
  for (uint32_t id = 0; id < kTensorCount; ++id) {
    uint64_t n = 4;
    for (uint32_t k = 0; k < t[id].rank; ++k) n *= t[id].dims[k];  // wraps, on purpose
    t[id].byte_length = trunc32(n);
    if (t[id].kind == C) {
      if (capsrt::kernels::align_up(t[id].byte_length) > data_need) data_need = capsrt::kernels::align_up(t[id].byte_length);
    } else {
      t[id].offset = trunc32(arena);
      arena = capsrt::kernels::align_up(arena + t[id].byte_length);
    }
  }
  caps_op_entry ops[8];
  std::memset(ops, 0, sizeof ops);
  auto op = [&](uint32_t k, uint16_t code, std::initializer_list<uint32_t> in, uint32_t output) {
    ops[k].opcode = code;
    ops[k].n_inputs = static_cast<uint8_t>(in.size());
    ops[k].n_outputs = 1;
    uint32_t s = 0;
    for (uint32_t id : in) ops[k].inputs[s++] = id;
    for (; s < CAPS_MAX_OP_INPUTS; ++s) ops[k].inputs[s] = CAPS_NONE;
    ops[k].output = output;
  };
  op(0, CAPS_OP_CONV2D, {kInput, kW1, kB1}, kA1);
  ops[0].params[CAPS_CONV_STRIDE_H] = ops[0].params[CAPS_CONV_STRIDE_W] = s1;
  ops[0].params[CAPS_CONV_PAD_H] = ops[0].params[CAPS_CONV_PAD_W] = p1;
  ops[0].params[CAPS_CONV_PAD_H] = p1 | (e1 << 16);  // p1 past 16 bits is refused either way
  ops[0].params[CAPS_CONV_ACTIVATION] = CAPS_ACT_RELU;
  op(1, CAPS_OP_PRIMARY_CAPS, {kA1, kW2, kB2}, kU);
  ops[1].params[CAPS_CONV_STRIDE_H] = ops[1].params[CAPS_CONV_STRIDE_W] = s2;
  ops[1].params[CAPS_CONV_PAD_H] = ops[1].params[CAPS_CONV_PAD_W] = p2;
  ops[1].params[CAPS_PRIMARY_CAPS_DIM] = dim;
  op(2, CAPS_OP_CAPS_DENSE, {kU, kWc}, kV);
  op(3, CAPS_OP_LENGTH, {kV}, kScores);
  op(4, CAPS_OP_MASK, {kV, kScores}, kMasked);
  op(5, CAPS_OP_DENSE, {kMasked, kWd1, kBd1}, kH);
  ops[5].params[CAPS_DENSE_ACTIVATION] = CAPS_ACT_RELU;
  op(6, CAPS_OP_DENSE, {kH, kWd2, kBd2}, kRecon);
  ops[6].params[CAPS_DENSE_ACTIVATION] = CAPS_ACT_SIGMOID;
  const uint32_t op_count = 7;

  caps_model_attributes a;
  std::memset(&a, 0, sizeof a);
  a.input_channels = c;
  a.input_height = h;
  a.input_width = w;
  a.input_scale = 1.0f / 255.0f;
  a.num_classes = j;
  a.capsule_grouping = variant % 3;
  a.routing_iterations = 1 + (variant >> 2) % 4;
  a.routing_softmax_axis = (variant >> 4) & 1;
  a.squash_eps_mode = (variant >> 5) & 1;
  a.squash_eps = (variant >> 6) & 1 ? 1e-7f : 0.0f;
  a.score_kind = (variant >> 7) & 1;
  a.class_names_offset = 0;
  a.description_offset = CAPS_NONE;
  a.input_tensor = kInput;
  a.scores_tensor = kScores;
  a.poses_tensor = kV;
  a.recon_tensor = kRecon;
  a.decoder_first_op = 4;

  // layout: header | tensors | ops | attributes | strings (class names "c") | data
  caps_file_header hd;
  std::memset(&hd, 0, sizeof hd);
  std::memcpy(hd.magic, "CAPS", 4);
  hd.version_major = CAPS_FORMAT_MAJOR;
  hd.version_minor = CAPS_FORMAT_MINOR;
  hd.header_size = sizeof hd;
  hd.tensor_table_offset = trunc32(capsrt::kernels::align_up(sizeof hd));
  hd.tensor_count = kTensorCount;
  hd.op_table_offset = trunc32(capsrt::kernels::align_up(hd.tensor_table_offset + sizeof t));
  hd.op_count = op_count;
  hd.attributes_offset = trunc32(capsrt::kernels::align_up(hd.op_table_offset + op_count * sizeof(caps_op_entry)));
  hd.attributes_size = sizeof a;
  hd.strings_offset = trunc32(capsrt::kernels::align_up(hd.attributes_offset + sizeof a));
  const uint64_t classes = j <= CAPS_MAX_CLASSES ? j : 1;
  hd.strings_size = trunc32(2 * classes);
  hd.data_offset = trunc32(capsrt::kernels::align_up(hd.strings_offset + hd.strings_size));
  const uint64_t total = hd.data_offset + data_need;
  if (total > UINT32_MAX - 4095 || total > SIZE_MAX / 2) return false;  // (32-bit hosts: 2 GiB)
  hd.data_size = trunc32(data_need);
  hd.total_size = trunc32(capsrt::kernels::align_up(total));
  hd.arena_size = trunc32(arena);
  for (uint32_t id = 0; id < kTensorCount; ++id)
    if (t[id].kind == C) t[id].offset = hd.data_offset;

  const size_t mapped = (static_cast<size_t>(hd.total_size) + 4095) / 4096 * 4096;
  void* m = mmap(nullptr, mapped, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE,
                 -1, 0);
  if (m == MAP_FAILED) return false;
  uint8_t* b = static_cast<uint8_t*>(m);
  std::memcpy(b, &hd, sizeof hd);
  std::memcpy(b + hd.tensor_table_offset, t, sizeof t);
  std::memcpy(b + hd.op_table_offset, ops, op_count * sizeof(caps_op_entry));
  std::memcpy(b + hd.attributes_offset, &a, sizeof a);
  for (uint64_t k = 0; k < classes; ++k) b[hd.strings_offset + 2 * k] = 'c';
  const float patterns[8] = {0.0f, 1.0f, -1.0f, std::numeric_limits<float>::quiet_NaN(),
                             std::numeric_limits<float>::infinity(),
                             -std::numeric_limits<float>::infinity(), 3e38f, 1e-42f};
  const float v = patterns[fill % 8];
  float* f = reinterpret_cast<float*>(b + hd.data_offset);
  const size_t fill_floats = (data_need < 65536 ? data_need : 65536) / 4;
  for (size_t k = 0; k < fill_floats; ++k) f[k] = (fill >> 3) & 1 ? v * (k % 7) : v;
  out->bytes = b;
  out->mapped = mapped;
  out->size = hd.total_size;
  return true;
}

// The invariant the runtime promises for a model it loaded, checked here independently (with
// overflow-checked products, not the runtime's helpers): every tensor's data covers all its
// elements, within the bound of CAPS_MAX_BUFFER_BYTES.
inline bool loaded_model_is_sane(const capsrt::Model& m) {
  for (uint32_t id = 0; id < m.tensor_count(); ++id) {
    const caps_tensor_entry te = m.tensor(id);
    uint64_t n = capsrt::dtype_size(te.dtype);
    for (uint32_t k = 0; k < te.rank; ++k)
      if (__builtin_mul_overflow(n, uint64_t{te.dims[k]}, &n)) return false;
    if (n != te.byte_length || n > CAPS_MAX_BUFFER_BYTES) return false;
  }
  return true;
}

}  // namespace fuzzgen

#endif
