// Model: a validated, zero-copy view over the bytes of a model file. Every field that
// docs/model-format.md describes is checked here, once, before anything runs.
#include <atomic>
#include <cstring>
#include <new>

#include "arena_plan.hpp"
#include "ops/op_record.hpp"
#include "capsrt/capsrt.hpp"
#include "capsrt/file_format.h"
#include "capsrt/ops.hpp"

#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ != __ORDER_LITTLE_ENDIAN__
#error "capsrt reads little-endian model files in place: big-endian targets are not supported"
#endif

namespace capsrt {
namespace {

constexpr uint32_t kBufferAlign = 16;

template <typename T>
T read_at(const uint8_t* base, uint64_t offset) {
  T v;
  std::memcpy(&v, base + offset, sizeof v);
  return v;
}

bool aligned(uint64_t v, uint64_t a) { return v % a == 0; }

// [offset, offset+len) inside [0, limit)?
bool within(uint64_t offset, uint64_t len, uint64_t limit) {
  return offset <= limit && len <= limit - offset;
}

struct Section {
  uint64_t offset, size;
};

bool overlap(uint64_t a0, uint64_t a1, uint64_t b0, uint64_t b1) { return a0 < b1 && b0 < a1; }

// Float fields are checked on their bits, with integer operations only: loading a model needs no
// FPU (the int8 path runs on cores without one; tests/check_no_float.cmake).
bool finite(float f) { return (caps_f32_bits(f) & 0x7F800000u) != 0x7F800000u; }
bool is_zero(float f) { return (caps_f32_bits(f) & 0x7FFFFFFFu) == 0; }  // +0 or -0
bool positive(float f) { return finite(f) && (caps_f32_bits(f) >> 31) == 0 && !is_zero(f); }
// 0 <= f < 1 (also -0), not NaN: below 1.0f's bits, or -0.
bool in_unit_interval(float f) { return caps_f32_bits(f) < 0x3F800000u || caps_f32_bits(f) == 0x80000000u; }

// Process-wide, so that a caps_model reconstructed in place by caps_model_load also gets a new
// one. Never 0 (wraps after 2^32 loads; an interpreter would have to sleep through all of them).
uint32_t next_generation() {
  static std::atomic<uint32_t> counter{0};
  uint32_t g = counter.fetch_add(1, std::memory_order_relaxed) + 1;
  while (g == 0) g = counter.fetch_add(1, std::memory_order_relaxed) + 1;
  return g;
}

// Buffers live at the same time must not share bytes. The buffers live during op k: the
// activations walk_live_sets names (the graph is checked first), and in version 1.0 files the
// scratch op k records. Its own frame, apart from validate's (docs/design.md, "Stack").
__attribute__((noinline)) caps_status check_arena_plan(const Model& m) {
  return walk_live_sets(m, [&m](uint32_t k, const TensorSet& live) {
    const caps_op_entry op = m.op(k);
    const uint32_t tensors = m.tensor_count();
    // Buffer x < tensors is tensor x; x == tensors is op k's scratch.
    auto extent = [&](uint32_t x, uint64_t* begin, uint64_t* end) {
      if (x == tensors) {
        *begin = op.scratch_offset;
        *end = uint64_t{op.scratch_offset} + op.scratch_size;
      } else {
        const caps_tensor_entry t = m.tensor(x);
        *begin = t.offset;
        *end = uint64_t{t.offset} + t.byte_length;
      }
      return x == tensors || live.has(x);
    };
    for (uint32_t x = 0; x <= tensors; ++x) {
      uint64_t x0, x1;
      if (!extent(x, &x0, &x1) || x0 == x1) continue;
      for (uint32_t y = x + 1; y <= tensors; ++y) {
        uint64_t y0, y1;
        if (extent(y, &y0, &y1) && overlap(x0, x1, y0, y1)) return CAPS_ERR_BAD_ARENA_PLAN;
      }
    }
    return CAPS_OK;
  });
}

// A version 1.0 file records each op's scratch: the reference kernels' (row-major weights, as
// every 1.0 file has). Checked, then not used: the runtime places each set's scratch itself.
__attribute__((noinline)) caps_status check_recorded_scratch(const Model& m, uint32_t k) {
  caps_op_entry storage;
  const uint64_t need = op_scratch_bytes(op_view(m, k, &storage), m.attributes(),
                                         *kernels::kernel_set(CAPS_KERNELS_REFERENCE));
  return need == storage.scratch_size ? CAPS_OK : CAPS_ERR_BAD_ARENA_PLAN;
}

}  // namespace

static_assert(sizeof(caps_file_header) == 96 && alignof(caps_file_header) <= 8, "Model::header_ storage");

const caps_file_header& Model::header() const {
  return *std::launder(reinterpret_cast<const caps_file_header*>(header_));
}
uint32_t Model::tensor_count() const { return header().tensor_count; }
uint32_t Model::op_count() const { return header().op_count; }
caps_file_header& Model::header_mut() { return *std::launder(reinterpret_cast<caps_file_header*>(header_)); }

caps_status Model::load(const void* data, size_t size, uint32_t flags) {
  bytes_ = nullptr;
  header_mut() = caps_file_header{};
  attrs_ = caps_model_attributes{};
  arena_need_ = 0;
  generation_ = next_generation();
  if (data == nullptr) return CAPS_ERR_NULL_ARGUMENT;
  if ((flags & ~CAPS_LOAD_SKIP_CHECKSUM) != 0) return CAPS_ERR_BAD_ARGUMENT;
  const caps_status s = validate(static_cast<const uint8_t*>(data), size, flags);
  if (s != CAPS_OK) {
    bytes_ = nullptr;
    header_mut() = caps_file_header{};
      attrs_ = caps_model_attributes{};
    arena_need_ = 0;
    return s;
  }
  bytes_ = static_cast<const uint8_t*>(data);
  return CAPS_OK;
}

caps_status Model::validate(const uint8_t* p, size_t size, uint32_t flags) {
  // Each part has its own frame, so that the stack load() needs is the largest part's, not their
  // sum (under 1 KiB, docs/design.md "Stack"; tests/check_stack_usage.py).
  caps_status st = CAPS_OK;
  if ((st = validate_header(p, size, flags)) != CAPS_OK) return st;
  if ((st = validate_attributes()) != CAPS_OK) return st;
  for (uint32_t id = 0; id < header().tensor_count; ++id)
    if ((st = validate_tensor(id)) != CAPS_OK) return st;
  for (uint32_t k = 0; k < header().op_count; ++k) {
    if ((st = validate_op(k)) != CAPS_OK) return st;
    if (header().version_minor == 0 && (st = check_recorded_scratch(*this, k)) != CAPS_OK) return st;
  }
  if ((st = validate_graph()) != CAPS_OK) return st;
  if ((st = check_arena_plan(*this)) != CAPS_OK) return st;
  // The arena an interpreter needs with any kernel set this build runs.
  for (uint32_t id = CAPS_KERNELS_REFERENCE; id < CAPS_KERNELS_COUNT; ++id) {
    if (!kernels::kernel_set_runnable(id)) continue;
    ArenaPlan plan;
    if ((st = plan_arena(*this, *kernels::kernel_set(id), &plan)) != CAPS_OK) return st;
    if (plan.total > arena_need_) arena_need_ = static_cast<uint32_t>(plan.total);
  }
  return CAPS_OK;
}

__attribute__((noinline)) caps_status Model::validate_header(const uint8_t* p, size_t size,
                                                          uint32_t flags) {
  // --- header -------------------------------------------------------------------------------
  if (size < 4) return CAPS_ERR_TRUNCATED;
  if (p[0] != CAPS_MAGIC_0 || p[1] != CAPS_MAGIC_1 || p[2] != CAPS_MAGIC_2 || p[3] != CAPS_MAGIC_3)
    return CAPS_ERR_BAD_MAGIC;
  if (size < sizeof(caps_file_header)) return CAPS_ERR_TRUNCATED;
  if (!aligned(reinterpret_cast<uintptr_t>(p), kBufferAlign)) return CAPS_ERR_MISALIGNED;
  const caps_file_header h = read_at<caps_file_header>(p, 0);
  if (h.version_major != CAPS_FORMAT_MAJOR || h.version_minor > CAPS_FORMAT_MINOR)
    return CAPS_ERR_UNSUPPORTED_VERSION;
  if (h.header_size != sizeof(caps_file_header) || h.flags != 0) return CAPS_ERR_BAD_HEADER;
  for (uint32_t r : h.reserved)
    if (r != 0) return CAPS_ERR_BAD_HEADER;
  if (h.total_size > size) return CAPS_ERR_TRUNCATED;
  if (h.total_size < sizeof(caps_file_header) || !aligned(h.total_size, CAPS_ALIGN))
    return CAPS_ERR_BAD_HEADER;
  if ((flags & CAPS_LOAD_SKIP_CHECKSUM) == 0 && model_checksum(p, h.total_size) != h.checksum)
    return CAPS_ERR_CHECKSUM;

  // --- sections -------------------------------------------------------------------------------
  if (h.tensor_count < 1 || h.tensor_count > CAPS_MAX_TENSORS || h.op_count < 1 ||
      h.op_count > CAPS_MAX_OPS || h.attributes_size != sizeof(caps_model_attributes))
    return CAPS_ERR_BAD_HEADER;
  const Section sections[] = {
      {0, sizeof(caps_file_header)},
      {h.tensor_table_offset, uint64_t{h.tensor_count} * sizeof(caps_tensor_entry)},
      {h.op_table_offset, uint64_t{h.op_count} * sizeof(caps_op_entry)},
      {h.attributes_offset, h.attributes_size},
      {h.strings_offset, h.strings_size},
      {h.data_offset, h.data_size},
  };
  for (const Section& s : sections) {
    if (!aligned(s.offset, CAPS_ALIGN)) return CAPS_ERR_MISALIGNED;
    if (!within(s.offset, s.size, h.total_size)) return CAPS_ERR_OUT_OF_BOUNDS;
  }
  for (size_t a = 0; a < 6; ++a)
    for (size_t b = a + 1; b < 6; ++b)
      if (overlap(sections[a].offset, sections[a].offset + sections[a].size, sections[b].offset,
                  sections[b].offset + sections[b].size))
        return CAPS_ERR_BAD_HEADER;
  header_mut() = h;
  bytes_ = p;  // provisional: lets the accessors read the tables; load() resets it on failure
  return CAPS_OK;

}

caps_status Model::check_string(uint32_t offset) const {
  if (offset >= header().strings_size) return CAPS_ERR_OUT_OF_BOUNDS;
  const uint8_t* s = bytes_ + header().strings_offset + offset;
  const uint64_t room = header().strings_size - offset;
  for (uint64_t n = 0; n < room && n <= CAPS_MAX_STRING; ++n) {
    if (s[n] == 0) return CAPS_OK;
    if (s[n] < 0x20 || s[n] == 0x7F) return CAPS_ERR_BAD_STRING;  // UTF-8 bytes >= 0x80 pass
  }
  return CAPS_ERR_BAD_STRING;  // unterminated within the section, or longer than the limit
}

__attribute__((noinline)) caps_status Model::validate_attributes() {
  // --- attributes and their strings --------------------------------------------------------------------------------
  const caps_file_header& h = header();
  const caps_model_attributes a = read_at<caps_model_attributes>(bytes_, h.attributes_offset);
  attrs_ = a;
  caps_status st = CAPS_OK;
  const bool attrs_ok =
      a.input_channels >= 1 && a.input_channels <= CAPS_MAX_INPUT_DIM && a.input_height >= 1 &&
      a.input_height <= CAPS_MAX_INPUT_DIM && a.input_width >= 1 &&
      a.input_width <= CAPS_MAX_INPUT_DIM && finite(a.input_scale) && finite(a.input_offset) &&
      !is_zero(a.input_scale) && a.num_classes >= 1 && a.num_classes <= CAPS_MAX_CLASSES &&
      a.capsule_grouping <= CAPS_GROUPING_PER_DIM_CONV && a.routing_iterations >= 1 &&
      a.routing_iterations <= CAPS_MAX_ROUTING_ITERATIONS &&
      a.routing_softmax_axis <= CAPS_SOFTMAX_OVER_INPUTS &&
      a.squash_eps_mode <= CAPS_SQUASH_EPS_IN_SQRT && in_unit_interval(a.squash_eps) &&
      a.score_kind <= (h.version_minor >= 5 ? uint32_t{CAPS_SCORE_EM_ACTIVATION} : uint32_t{CAPS_SCORE_SOFTMAX_LENGTH}) &&
      in_unit_interval(a.length_eps) && a.input_tensor < h.tensor_count && a.scores_tensor < h.tensor_count &&
      // an EM model has no class poses (docs/em-routing.md)
      (a.score_kind == CAPS_SCORE_EM_ACTIVATION ? a.poses_tensor == CAPS_NONE : a.poses_tensor < h.tensor_count) &&
      (a.recon_tensor < h.tensor_count || a.recon_tensor == CAPS_NONE) &&
      a.decoder_first_op <= h.op_count &&
      (a.recon_tensor != CAPS_NONE || a.decoder_first_op == h.op_count) &&
      (a.recon_tensor == CAPS_NONE || a.decoder_first_op < h.op_count) &&
      a.input_preprocess <= (h.version_minor >= 3 ? uint32_t{CAPS_PREPROCESS_FASHION_MNIST} : 0u) &&
      a.reserved[0] == 0 && a.reserved[1] == 0 && a.reserved[2] == 0;
  if (!attrs_ok) return CAPS_ERR_BAD_ATTRIBUTE;
  {
    uint32_t offset = a.class_names_offset;
    for (uint32_t c = 0; c < a.num_classes; ++c) {
      if ((st = check_string(offset)) != CAPS_OK) return st;
      offset += static_cast<uint32_t>(std::strlen(string_at(offset))) + 1;
    }
  }
  if (a.description_offset != CAPS_NONE && (st = check_string(a.description_offset)) != CAPS_OK)
    return st;
  return CAPS_OK;
}

__attribute__((noinline)) caps_status Model::validate_tensor(uint32_t id) const {
  const caps_file_header& h = header();
  caps_status st = CAPS_OK;
  const caps_tensor_entry t = tensor(id);
  const uint32_t esize = dtype_size(t.dtype);
  if (esize == 0 || t.rank < 1 || t.rank > CAPS_MAX_RANK || t.kind > CAPS_TENSOR_ACTIVATION ||
      t.layout > CAPS_LAYOUT_K4O || t.reserved0 != 0)
    return CAPS_ERR_BAD_TENSOR;
  // Packed layouts: since version 1.1, for weights only (which op slot may read which layout
  // is checked with the ops).
  if (t.layout != CAPS_LAYOUT_ROW_MAJOR && (h.version_minor < 1 || t.kind != CAPS_TENSOR_CONST))
    return CAPS_ERR_BAD_TENSOR;
  // K4O (since 1.2): int8 weights [O,K] or [O,C,KH,KW], K padded to a multiple of 4.
  if (t.layout == CAPS_LAYOUT_K4O &&
      (h.version_minor < 2 || t.dtype != CAPS_DTYPE_I8 || (t.rank != 2 && t.rank != 4)))
    return CAPS_ERR_BAD_TENSOR;
  for (uint32_t r : t.reserved)
    if (r != 0) return CAPS_ERR_BAD_TENSOR;
  for (uint32_t k = 0; k < CAPS_MAX_RANK; ++k)
    if ((k < t.rank) != (t.dims[k] != 0)) return CAPS_ERR_BAD_TENSOR;
  // numel() saturates instead of wrapping; the bound keeps every index inside an int.
  const uint64_t numel = tensor_shape(id).numel();
  const uint64_t bytes = t.layout == CAPS_LAYOUT_K4O && numel != UINT64_MAX
                            ? kernels::k4o_bytes(t.dims[0], numel / t.dims[0])
                            : mul_sat(numel, esize);
  if (!fits_buffer(bytes, 1) || !fits_buffer(numel, esize) || bytes != t.byte_length)
    return CAPS_ERR_BAD_TENSOR;
  // Quantisation slot: float tensors carry none; integer tensors one of the two schemes.
  if (t.dtype == CAPS_DTYPE_F32 || t.quant_kind == CAPS_QUANT_NONE) {
    if (t.quant_kind != CAPS_QUANT_NONE || t.quant_axis != 0 || !is_zero(t.quant_scale) ||
        t.quant_zero_point != 0 || t.quant_params_tensor != CAPS_NONE)
      return CAPS_ERR_BAD_TENSOR;
  } else if (t.quant_kind == CAPS_QUANT_PER_TENSOR) {
    if (!positive(t.quant_scale) || t.quant_axis != 0 ||
        t.quant_params_tensor != CAPS_NONE)
      return CAPS_ERR_BAD_TENSOR;
  } else if (t.quant_kind == CAPS_QUANT_PER_CHANNEL) {
    if (t.quant_axis >= t.rank || t.quant_params_tensor >= h.tensor_count ||
        t.quant_params_tensor == id || !is_zero(t.quant_scale))
      return CAPS_ERR_BAD_TENSOR;
    const caps_tensor_entry q = tensor(t.quant_params_tensor);
    if (q.dtype != CAPS_DTYPE_F32 || q.kind != CAPS_TENSOR_CONST || q.rank != 1 ||
        q.dims[0] != t.dims[t.quant_axis])
      return CAPS_ERR_BAD_TENSOR;
  } else {
    return CAPS_ERR_BAD_TENSOR;
  }
  if (t.name_offset != CAPS_NONE && (st = check_string(t.name_offset)) != CAPS_OK) return st;
  if (t.kind == CAPS_TENSOR_CONST) {
    if (!aligned(t.offset, CAPS_ALIGN)) return CAPS_ERR_MISALIGNED;
    if (t.offset < h.data_offset ||
        !within(t.offset - uint64_t{h.data_offset}, t.byte_length, h.data_size))
      return CAPS_ERR_OUT_OF_BOUNDS;
  } else {
    if (!aligned(t.offset, CAPS_ALIGN)) return CAPS_ERR_MISALIGNED;
    if (!within(t.offset, t.byte_length, h.arena_size)) return CAPS_ERR_BAD_ARENA_PLAN;
  }
  return CAPS_OK;
}

__attribute__((noinline)) caps_status Model::validate_op(uint32_t k) const {
  const caps_file_header& h = header();
  caps_status st = CAPS_OK;
  const caps_op_entry op = this->op(k);
  const OpRecord* r = op_record(op.opcode);
  if (r == nullptr || h.version_minor < r->since_minor || op.n_outputs != 1 || op.n_inputs < 1 ||
      op.inputs[0] >= h.tensor_count)
    return CAPS_ERR_BAD_OP;
  const OpDesc* d = &r->desc;
  // The int8 form (since 1.2) when the first input is not float32; its slots' dtypes are fixed.
  const bool quantized = tensor(op.inputs[0]).dtype != CAPS_DTYPE_F32;
  if (quantized && h.version_minor < 2) return CAPS_ERR_UNSUPPORTED;
  if (!quantized && !CAPSRT_FLOAT) return CAPS_ERR_UNSUPPORTED;  // an int8-only build
  // The low-memory routing flag of a float CapsDense is new in 1.2.
  if (!quantized && op.opcode == CAPS_OP_CAPS_DENSE && h.version_minor < 2 &&
      op.params[CAPS_CAPS_DENSE_LOW_MEMORY] != 0)
    return CAPS_ERR_BAD_OP;
  // A conv's padding after the input (the high half of its padding params) is new in 1.4.
  if ((op.opcode == CAPS_OP_CONV2D || op.opcode == CAPS_OP_PRIMARY_CAPS) && h.version_minor < 4 &&
      (CAPS_CONV_PAD_EXTRA_AFTER(op.params[CAPS_CONV_PAD_H]) != 0 ||
       CAPS_CONV_PAD_EXTRA_AFTER(op.params[CAPS_CONV_PAD_W]) != 0))
    return CAPS_ERR_BAD_OP;
  if (op.n_inputs != (quantized ? d->n_inputs_q : d->n_inputs)) return CAPS_ERR_BAD_OP;
  Shape in[CAPS_MAX_OP_INPUTS];
  for (uint32_t s = 0; s < CAPS_MAX_OP_INPUTS; ++s) {
    if (s >= op.n_inputs) {
      if (op.inputs[s] != CAPS_NONE) return CAPS_ERR_BAD_OP;
      continue;
    }
    if (op.inputs[s] >= h.tensor_count) return CAPS_ERR_BAD_OP;
    const caps_tensor_entry t = tensor(op.inputs[s]);
    if ((t.kind == CAPS_TENSOR_CONST) != op_input_is_const(*d, s)) return CAPS_ERR_BAD_OP;
    if (t.dtype != (quantized ? d->dtypes_q[s] : uint8_t{CAPS_DTYPE_F32})) return CAPS_ERR_BAD_TENSOR;
    // Weight layouts (the op's record): slot 1 may be packed for the kernels, K4O must be; all
    // else is row-major.
    const caps_layout packed = s == 1 ? op_weight_layout(op.opcode, quantized) : CAPS_LAYOUT_ROW_MAJOR;
    const bool must_pack = packed == CAPS_LAYOUT_K4O;
    if (t.layout != packed && (must_pack || t.layout != CAPS_LAYOUT_ROW_MAJOR))
      return CAPS_ERR_BAD_TENSOR;
    in[s] = tensor_shape(op.inputs[s]);
  }
  if (op.output >= h.tensor_count) return CAPS_ERR_BAD_OP;
  const caps_tensor_entry out = tensor(op.output);
  if (out.kind != CAPS_TENSOR_ACTIVATION) return CAPS_ERR_BAD_OP;
  if (out.dtype != (quantized ? d->output_dtype_q : uint8_t{CAPS_DTYPE_F32})) return CAPS_ERR_BAD_TENSOR;
  OpInfo info;
  if ((st = op_infer(op, in, attrs_, &info, quantized)) != CAPS_OK) return st;
  if (info.output != tensor_shape(op.output)) return CAPS_ERR_SHAPE_MISMATCH;
  if (quantized && (st = op_check_q_constants(*this, op)) != CAPS_OK) return st;
  // 1.0 files record the reference kernels' scratch plan (checked, then not used); since 1.1
  // the runtime places each kernel set's scratch itself (arena_plan.cpp) and the file has none.
  if (h.version_minor >= 1 && (op.scratch_size != 0 || op.scratch_offset != 0))
    return CAPS_ERR_BAD_ARENA_PLAN;
  // (1.0: the recorded size is checked by check_recorded_scratch, in its own frame.)
  if (op.scratch_size == 0) {
    if (op.scratch_offset != 0) return CAPS_ERR_BAD_ARENA_PLAN;
  } else {
    if (!aligned(op.scratch_offset, CAPS_ALIGN)) return CAPS_ERR_MISALIGNED;
    if (!within(op.scratch_offset, op.scratch_size, h.arena_size)) return CAPS_ERR_BAD_ARENA_PLAN;
  }
  return CAPS_OK;
}

__attribute__((noinline)) caps_status Model::validate_graph() const {
  const caps_file_header& h = header();
  const caps_model_attributes& a = attrs_;
  // --- graph ----------------------------------------------------------------------------------
  // Each activation is written by exactly one op (the input by none) before any op reads it.
  auto producer_of = [&](uint32_t id, uint32_t* index) {
    uint32_t count = 0;
    for (uint32_t k = 0; k < h.op_count; ++k)
      if (this->op(k).output == id) {
        *index = k;
        ++count;
      }
    return count;
  };
  auto first_reader_of = [&](uint32_t id) -> uint32_t {
    for (uint32_t k = 0; k < h.op_count; ++k) {
      const caps_op_entry op = this->op(k);
      for (uint32_t s = 0; s < op.n_inputs; ++s)
        if (op.inputs[s] == id) return k;
    }
    return CAPS_NONE;
  };
  const caps_tensor_entry input = tensor(a.input_tensor);
  Shape expect_input;
  expect_input.rank = 3;
  expect_input.dims[0] = a.input_channels;
  expect_input.dims[1] = a.input_height;
  expect_input.dims[2] = a.input_width;
  // A float model's input is float32, an int8 model's (since 1.2) int8.
  if (input.kind != CAPS_TENSOR_ACTIVATION ||
      (input.dtype != CAPS_DTYPE_F32 && !(input.dtype == CAPS_DTYPE_I8 && h.version_minor >= 2)))
    return CAPS_ERR_BAD_GRAPH;
  if (tensor_shape(a.input_tensor) != expect_input) return CAPS_ERR_SHAPE_MISMATCH;

  for (uint32_t id = 0; id < h.tensor_count; ++id) {
    const caps_tensor_entry t = tensor(id);
    if (t.kind != CAPS_TENSOR_ACTIVATION) continue;
    uint32_t made = 0;
    const uint32_t producers = producer_of(id, &made);
    const uint32_t first_read = first_reader_of(id);
    if (id == a.input_tensor) {
      if (producers != 0) return CAPS_ERR_BAD_GRAPH;
    } else {
      if (producers != 1) return CAPS_ERR_BAD_GRAPH;
      if (first_read != CAPS_NONE && first_read <= made) return CAPS_ERR_BAD_GRAPH;
    }
  }
  // Outputs: produced by the right op, in the right part, with the right shape.
  // Dynamic routing: scores from Length, poses from CapsDense. EM routing (since 1.5): scores
  // from EmClassCaps, no poses.
  uint32_t k_scores = 0, k_poses = 0, k_recon = 0;
  const bool em = a.score_kind == CAPS_SCORE_EM_ACTIVATION;
  if (tensor(a.scores_tensor).kind != CAPS_TENSOR_ACTIVATION || producer_of(a.scores_tensor, &k_scores) != 1 ||
      op(k_scores).opcode != (em ? CAPS_OP_EM_CLASS_CAPS : CAPS_OP_LENGTH) || k_scores >= a.decoder_first_op)
    return CAPS_ERR_BAD_GRAPH;
  if (tensor_shape(a.scores_tensor).dims[0] != a.num_classes) return CAPS_ERR_SHAPE_MISMATCH;
  if (!em) {
    if (tensor(a.poses_tensor).kind != CAPS_TENSOR_ACTIVATION || producer_of(a.poses_tensor, &k_poses) != 1 ||
        op(k_poses).opcode != CAPS_OP_CAPS_DENSE || k_poses >= a.decoder_first_op)
      return CAPS_ERR_BAD_GRAPH;
    if (tensor_shape(a.poses_tensor).dims[0] != a.num_classes) return CAPS_ERR_SHAPE_MISMATCH;
  }
  if (a.recon_tensor != CAPS_NONE) {
    if (tensor(a.recon_tensor).kind != CAPS_TENSOR_ACTIVATION ||
        producer_of(a.recon_tensor, &k_recon) != 1 || k_recon < a.decoder_first_op)
      return CAPS_ERR_BAD_GRAPH;
    if (tensor_shape(a.recon_tensor).numel() != expect_input.numel())
      return CAPS_ERR_SHAPE_MISMATCH;
  }
  return CAPS_OK;
}

size_t Model::arena_size_for(uint32_t kernels, uint32_t max_threads) const {
  if (!loaded() || max_threads < 1 || max_threads > CAPS_MAX_THREADS) return 0;
  if (kernels == CAPS_KERNELS_AUTO) kernels = kernels::kernel_set_default();
  const kernels::KernelSet* ks = kernels::kernel_set(kernels);
  if (ks == nullptr) return 0;
  ArenaPlan plan;
  if (plan_arena(*this, *ks, &plan, nullptr, static_cast<int>(max_threads)) != CAPS_OK) return 0;
  return static_cast<size_t>(plan.total);
}

bool Model::quantized() const {
  return loaded() && tensor(attrs_.input_tensor).dtype == CAPS_DTYPE_I8;
}

uint32_t Model::input_size() const {
  return attrs_.input_channels * attrs_.input_height * attrs_.input_width;
}

caps_tensor_entry Model::tensor(uint32_t id) const {
  return read_at<caps_tensor_entry>(bytes_, header().tensor_table_offset +
                                                uint64_t{id} * sizeof(caps_tensor_entry));
}

caps_op_entry Model::op(uint32_t index) const {
  return read_at<caps_op_entry>(bytes_,
                                header().op_table_offset + uint64_t{index} * sizeof(caps_op_entry));
}

Shape Model::tensor_shape(uint32_t id) const {
  const caps_tensor_entry t = tensor(id);
  Shape s;
  s.rank = t.rank;
  for (uint32_t k = 0; k < CAPS_MAX_RANK; ++k) s.dims[k] = t.dims[k];
  return s;
}

const char* Model::string_at(uint32_t offset) const {
  return reinterpret_cast<const char*>(bytes_ + header().strings_offset + offset);
}

const char* Model::tensor_name(uint32_t id) const {
  const caps_tensor_entry t = tensor(id);
  return t.name_offset == CAPS_NONE ? "" : string_at(t.name_offset);
}

const void* Model::const_data(uint32_t id) const { return bytes_ + tensor(id).offset; }

const char* Model::class_name(uint32_t index) const {
  if (!loaded() || index >= attrs_.num_classes) return nullptr;
  const char* s = string_at(attrs_.class_names_offset);
  for (uint32_t c = 0; c < index; ++c) s += std::strlen(s) + 1;
  return s;
}

const char* Model::description() const {
  if (!loaded() || attrs_.description_offset == CAPS_NONE) return "";
  return string_at(attrs_.description_offset);
}

}  // namespace capsrt
