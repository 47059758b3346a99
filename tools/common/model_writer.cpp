#include "model_writer.hpp"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <sstream>

#include "capsrt/capsrt.hpp"
#include "capsrt/live_sets.hpp"
#include "io.hpp"
#include "kernel_params.h"

namespace capsrt {
namespace tools {

namespace {
using kernels::align_up;
template <typename T>
void put(std::vector<uint8_t>& out, uint64_t offset, const T& v) {
  std::memcpy(out.data() + offset, &v, sizeof v);
}
}  // namespace

Shape make_shape(std::initializer_list<uint32_t> dims) {
  if (dims.size() < 1 || dims.size() > CAPS_MAX_RANK) throw WriterError("bad rank");
  Shape s;
  s.rank = static_cast<uint32_t>(dims.size());
  uint32_t k = 0;
  for (uint32_t d : dims) s.dims[k++] = d;
  return s;
}

std::string shape_str(const Shape& s) {
  std::ostringstream o;
  o << '[';
  for (uint32_t k = 0; k < s.rank; ++k) o << (k ? "," : "") << s.dims[k];
  o << ']';
  return o.str();
}

ModelWriter::ModelWriter() {
  attrs_.input_scale = 1.0f / 255.0f;
  attrs_.input_offset = 0.0f;
  attrs_.num_classes = 0;
  attrs_.capsule_grouping = CAPS_GROUPING_NCHW_VIEW;
  attrs_.routing_iterations = 3;
  attrs_.routing_softmax_axis = CAPS_SOFTMAX_OVER_OUTPUTS;
  attrs_.squash_eps_mode = CAPS_SQUASH_EPS_ADD_TO_NORM;
  attrs_.squash_eps = 1e-8f;
  attrs_.score_kind = CAPS_SCORE_LENGTH;
  attrs_.length_eps = 0.0f;
  attrs_.input_tensor = CAPS_NONE;
  attrs_.recon_tensor = CAPS_NONE;
  attrs_.description_offset = CAPS_NONE;
}

uint32_t ModelWriter::add_string(const std::string& s) {
  if (s.size() > CAPS_MAX_STRING) throw WriterError("string longer than 255 bytes: " + s);
  for (unsigned char ch : s)
    if (ch < 0x20 || ch == 0x7F) throw WriterError("string with control characters: " + s);
  const uint32_t offset = static_cast<uint32_t>(strings_.size());
  strings_ += s;
  strings_.push_back('\0');
  return offset;
}

uint32_t ModelWriter::add_const(const std::string& name, const Shape& shape,
                                std::vector<float> data) {
  if (data.size() != shape.numel())
    throw WriterError("tensor " + name + ": " + std::to_string(data.size()) +
                      " values for shape " + shape_str(shape));
  tensors_.push_back(Tensor(name, shape, CAPS_TENSOR_CONST, std::move(data)));
  return static_cast<uint32_t>(tensors_.size() - 1);
}

uint32_t ModelWriter::add_const_int(const std::string& name, const Shape& shape, caps_dtype dtype,
                                    std::vector<int32_t> values) {
  if (values.size() != shape.numel())
    throw WriterError("tensor " + name + ": " + std::to_string(values.size()) +
                      " values for shape " + shape_str(shape));
  const int64_t hi = dtype == CAPS_DTYPE_I8 ? 127 : dtype == CAPS_DTYPE_I16 ? 32767 : INT32_MAX;
  if (dtype != CAPS_DTYPE_I8 && dtype != CAPS_DTYPE_I16 && dtype != CAPS_DTYPE_I32)
    throw WriterError("tensor " + name + ": not an integer dtype");
  for (int32_t v : values)
    if (v > hi || v < -hi - 1) throw WriterError("tensor " + name + ": value out of its dtype's range");
  Tensor t(name, shape, CAPS_TENSOR_CONST);
  t.dtype = dtype;
  t.ints = std::move(values);
  tensors_.push_back(std::move(t));
  return static_cast<uint32_t>(tensors_.size() - 1);
}

void ModelWriter::set_quant(uint32_t id, float scale, int32_t zero_point) {
  Tensor& t = tensors_.at(id);
  if (t.dtype == CAPS_DTYPE_F32) throw WriterError("tensor " + t.name + " is float32");
  if (!(scale > 0.0f) || !std::isfinite(scale)) throw WriterError("tensor " + t.name + ": bad scale");
  t.quant_kind = CAPS_QUANT_PER_TENSOR;
  t.quant_scale = scale;
  t.quant_zero_point = zero_point;
}

void ModelWriter::set_quant_per_channel(uint32_t id, uint32_t axis, uint32_t scales) {
  Tensor& t = tensors_.at(id);
  const Tensor& q = tensors_.at(scales);
  if (t.dtype == CAPS_DTYPE_F32 || axis >= t.shape.rank || q.dtype != CAPS_DTYPE_F32 ||
      q.kind != CAPS_TENSOR_CONST || q.shape.rank != 1 || q.shape.dims[0] != t.shape.dims[axis])
    throw WriterError("tensor " + t.name + ": bad per-channel quantisation");
  t.quant_kind = CAPS_QUANT_PER_CHANNEL;
  t.quant_axis = static_cast<uint8_t>(axis);
  t.quant_params = scales;
}

uint32_t ModelWriter::add_input(const std::string& name, uint32_t channels, uint32_t height,
                                uint32_t width, caps_dtype dtype) {
  if (attrs_.input_tensor != CAPS_NONE) throw WriterError("the model already has an input");
  tensors_.push_back(
      Tensor(name, make_shape({channels, height, width}), CAPS_TENSOR_ACTIVATION));
  tensors_.back().dtype = dtype;
  attrs_.input_tensor = static_cast<uint32_t>(tensors_.size() - 1);
  attrs_.input_channels = channels;
  attrs_.input_height = height;
  attrs_.input_width = width;
  return attrs_.input_tensor;
}

uint32_t ModelWriter::add_op(caps_opcode opcode, const std::vector<uint32_t>& inputs,
                             const std::array<uint32_t, 8>& params,
                             const std::string& output_name) {
  const OpDesc* d = op_desc(opcode);
  if (d == nullptr) throw WriterError("unknown opcode " + std::to_string(opcode));
  if (inputs.empty() || inputs[0] >= tensors_.size()) throw WriterError("op input is not a tensor id");
  const bool quantized = tensors_[inputs[0]].dtype != CAPS_DTYPE_F32;
  const uint32_t arity = quantized ? d->n_inputs_q : d->n_inputs;
  if (inputs.size() != arity)
    throw WriterError(std::string(d->name) + " takes " + std::to_string(arity) + " inputs");
  caps_op_entry e{};
  e.opcode = static_cast<uint16_t>(opcode);
  e.n_inputs = static_cast<uint8_t>(arity);
  e.n_outputs = 1;
  Shape in[CAPS_MAX_OP_INPUTS];
  uint64_t weights = 0;
  for (uint32_t s = 0; s < CAPS_MAX_OP_INPUTS; ++s) {
    e.inputs[s] = s < inputs.size() ? inputs[s] : CAPS_NONE;
    if (s >= inputs.size()) continue;
    if (inputs[s] >= tensors_.size()) throw WriterError("op input is not a tensor id");
    in[s] = tensors_[inputs[s]].shape;
    if (tensors_[inputs[s]].kind == CAPS_TENSOR_CONST && s < d->n_inputs) weights += in[s].numel();
  }
  std::copy(params.begin(), params.end(), e.params);
  OpInfo info;
  const caps_status st = op_infer(e, in, attrs_, &info, quantized);
  if (st != CAPS_OK) {
    std::string shapes;
    for (uint32_t s = 0; s < inputs.size(); ++s)
      shapes += (s ? ", " : "") + tensors_[inputs[s]].name + " " + shape_str(in[s]);
    throw WriterError(std::string(d->name) + " -> " + output_name + ": " +
                      caps_status_message(st) + " (inputs: " + shapes + ")");
  }
  // Version 1.1: no scratch in the file; the runtime places each kernel set's scratch.
  tensors_.push_back(Tensor(output_name, info.output, CAPS_TENSOR_ACTIVATION));
  if (quantized) tensors_.back().dtype = static_cast<caps_dtype>(d->output_dtype_q);
  e.output = static_cast<uint32_t>(tensors_.size() - 1);
  ops_.push_back(Op{e});
  report_.push_back(
      OpReport{d->name, output_name, info.output, weights, info.macs});
  return e.output;
}

void ModelWriter::set_class_names(const std::vector<std::string>& names) {
  class_names_ = names;
  attrs_.num_classes = static_cast<uint32_t>(names.size());
}

void ModelWriter::set_description(const std::string& text) {
  attrs_.description_offset = add_string(text);
}

void ModelWriter::set_outputs(uint32_t scores, uint32_t poses, uint32_t recon) {
  attrs_.scores_tensor = scores;
  attrs_.poses_tensor = poses;
  attrs_.recon_tensor = recon;
  have_outputs_ = true;
}

void ModelWriter::begin_decoder() {
  attrs_.decoder_first_op = static_cast<uint32_t>(ops_.size());
  decoder_started_ = true;
}

// Weight layouts: each op's record says the packed layout its kernels read
// (op_weight_layout). K4O is the only layout int8 conv and dense weights have; the others are
// written only when packing (pack_weights_: a 1.0-style file keeps them row-major).
void ModelWriter::choose_layouts() {
  for (Tensor& t : tensors_) t.layout = CAPS_LAYOUT_ROW_MAJOR;
  for (const Op& op : ops_) {
    const bool quantized = tensors_[op.entry.inputs[0]].dtype != CAPS_DTYPE_F32;
    const caps_layout want = op_weight_layout(op.entry.opcode, quantized);
    if (want == CAPS_LAYOUT_ROW_MAJOR || (want != CAPS_LAYOUT_K4O && !pack_weights_)) continue;
    Tensor& w = tensors_[op.entry.inputs[1]];
    if (w.layout != CAPS_LAYOUT_ROW_MAJOR && w.layout != want)
      throw WriterError("tensor " + w.name + " is read as weights by ops of different kinds");
    w.layout = want;
  }
}

uint64_t ModelWriter::byte_length(const Tensor& t) const {
  if (t.layout == CAPS_LAYOUT_K4O)
    return kernels::k4o_bytes(t.shape.dims[0], t.shape.numel() / t.shape.dims[0]);
  return t.shape.numel() * dtype_size(t.dtype);
}

// A const tensor's bytes, in the order its layout stores the values.
std::vector<uint8_t> ModelWriter::stored_bytes(const Tensor& t) const {
  const uint64_t n = t.shape.numel();
  const uint32_t* d = t.shape.dims;
  // Where row-major element n goes, in elements.
  auto place = [&](uint64_t idx) -> uint64_t {
    if (t.layout == CAPS_LAYOUT_ROW_MAJOR) return idx;
    if (t.layout == CAPS_LAYOUT_K4O) {
      const uint64_t k = n / d[0];
      return kernels::k4o_index(static_cast<int>(d[0]), static_cast<int>(idx / k), static_cast<int>(idx % k));
    }
    const uint64_t e = idx % d[3], c = idx / d[3] % d[2], b = idx / d[3] / d[2] % d[1],
                   a = idx / d[3] / d[2] / d[1];
    if (t.layout == CAPS_LAYOUT_CONV_IHWO) return kernels::conv_ihwo_index(d[0], d[2], d[3], a, b, c, e);
    return kernels::caps_jdki_index(d[1], d[2], d[3], a, b, c, e);  // CAPS_LAYOUT_CAPS_JDKI
  };
  const uint32_t es = dtype_size(t.dtype);
  std::vector<uint8_t> out(byte_length(t), 0);
  for (uint64_t idx = 0; idx < n; ++idx) {
    uint8_t* at = out.data() + place(idx) * es;
    if (t.dtype == CAPS_DTYPE_F32) {
      std::memcpy(at, &t.data[idx], 4);
    } else if (t.dtype == CAPS_DTYPE_I8) {
      *at = static_cast<uint8_t>(static_cast<int8_t>(t.ints[idx]));
    } else if (t.dtype == CAPS_DTYPE_I16) {
      const int16_t v = static_cast<int16_t>(t.ints[idx]);
      std::memcpy(at, &v, 2);
    } else {
      std::memcpy(at, &t.ints[idx], 4);
    }
  }
  return out;
}

// Greedy plan over lifetimes: biggest buffers first, each at the lowest aligned offset that
// does not collide with an already placed buffer live at the same time. The lifetimes are the
// runtime's (walk_live_sets, the rule its loader checks the plan with).
void ModelWriter::plan_arena(uint32_t* arena_size) {
  struct Buf {
    uint64_t size;
    uint32_t first, last;
    uint32_t* offset;
  };
  const uint32_t n_ops = static_cast<uint32_t>(ops_.size());
  struct Graph {  // the ops as walk_live_sets reads a graph
    const std::vector<Op>& ops;
    uint32_t op_count() const { return static_cast<uint32_t>(ops.size()); }
    void op_io(uint32_t k, OpIo* io) const {
      io->n_inputs = ops[k].entry.n_inputs;
      std::copy(ops[k].entry.inputs, ops[k].entry.inputs + CAPS_MAX_OP_INPUTS, io->inputs);
      io->output = ops[k].entry.output;
    }
  };
  std::vector<uint32_t> first(tensors_.size(), UINT32_MAX), last(tensors_.size(), 0);
  walk_live_sets(Graph{ops_}, attrs_, [&](uint32_t k, const TensorSet& live) {
    for (uint32_t id = 0; id < tensors_.size(); ++id) {
      if (!live.has(id)) continue;
      first[id] = std::min(first[id], k);
      last[id] = std::max(last[id], k);
    }
    return CAPS_OK;
  });
  std::vector<Buf> bufs;
  for (uint32_t id = 0; id < tensors_.size(); ++id) {
    Tensor& t = tensors_[id];
    if (t.kind != CAPS_TENSOR_ACTIVATION) continue;
    if (first[id] == UINT32_MAX) throw WriterError("activation " + t.name + " is never used");
    bufs.push_back(Buf{t.shape.numel() * dtype_size(t.dtype), first[id], last[id], &t.arena_offset});
  }
  // Each op's scratch: the runtime places it at init for the kernel set it runs (docs/design.md);
  // the plan reserves the largest any set needs, so the runtime's first fit always finds room.
  std::vector<uint32_t> reserved(n_ops, 0);
  for (uint32_t k = 0; k < n_ops; ++k) {
    const caps_op_entry& e = ops_[k].entry;
    Shape in[CAPS_MAX_OP_INPUTS];
    uint8_t layouts[CAPS_MAX_OP_INPUTS] = {0, 0, 0, 0};
    for (uint32_t s = 0; s < e.n_inputs; ++s) {
      in[s] = tensors_[e.inputs[s]].shape;
      layouts[s] = static_cast<uint8_t>(tensors_[e.inputs[s]].layout);
    }
    const bool quantized = tensors_[e.inputs[0]].dtype != CAPS_DTYPE_F32;
    uint64_t most = 0;
    for (uint32_t ks = CAPS_KERNELS_REFERENCE; ks < CAPS_KERNELS_COUNT; ++ks)
      most = std::max(most, op_scratch_for(e, in, layouts, tensors_[e.output].shape, attrs_, ks,
                                           quantized));
    if (most > UINT32_MAX) throw WriterError("op scratch larger than 4 GiB");
    reserved[k] = static_cast<uint32_t>(most);
  }
  std::vector<uint32_t> reserved_offset(n_ops, 0);
  for (uint32_t k = 0; k < n_ops; ++k)
    if (reserved[k]) bufs.push_back(Buf{reserved[k], k, k, &reserved_offset[k]});
  std::stable_sort(bufs.begin(), bufs.end(),
                   [](const Buf& a, const Buf& b) { return a.size > b.size; });
  std::vector<const Buf*> placed;
  uint64_t top = 0;
  for (Buf& b : bufs) {
    // Candidate offsets: 0 and the aligned end of every conflicting placed buffer.
    std::vector<uint64_t> candidates{0};
    for (const Buf* p : placed)
      if (p->first <= b.last && b.first <= p->last) candidates.push_back(align_up(*p->offset + p->size));
    std::sort(candidates.begin(), candidates.end());
    for (uint64_t c : candidates) {
      bool clash = false;
      for (const Buf* p : placed)
        if (p->first <= b.last && b.first <= p->last && c < *p->offset + p->size &&
            *p->offset < c + b.size)
          clash = true;
      if (!clash) {
        if (c + b.size > UINT32_MAX) throw WriterError("arena larger than 4 GiB");
        *b.offset = static_cast<uint32_t>(c);
        break;
      }
    }
    placed.push_back(&b);
    top = std::max(top, align_up(*b.offset + b.size));
  }
  *arena_size = static_cast<uint32_t>(top);
}

std::vector<uint8_t> ModelWriter::finish() {
  if (attrs_.input_tensor == CAPS_NONE) throw WriterError("the model has no input");
  if (!have_outputs_) throw WriterError("the model's outputs are not set");
  if (ops_.empty()) throw WriterError("the model has no ops");
  if (tensors_.size() > CAPS_MAX_TENSORS || ops_.size() > CAPS_MAX_OPS)
    throw WriterError("too many tensors or ops for format v1");
  if (class_names_.size() != attrs_.num_classes || class_names_.empty())
    throw WriterError("class names not set");
  if (!decoder_started_) attrs_.decoder_first_op = static_cast<uint32_t>(ops_.size());
  attrs_.class_names_offset = add_string(class_names_[0]);
  for (size_t c = 1; c < class_names_.size(); ++c) add_string(class_names_[c]);
  std::vector<uint32_t> name_offsets;
  for (const Tensor& t : tensors_) name_offsets.push_back(add_string(t.name));

  caps_file_header h{};
  h.magic[0] = CAPS_MAGIC_0;
  h.magic[1] = CAPS_MAGIC_1;
  h.magic[2] = CAPS_MAGIC_2;
  h.magic[3] = CAPS_MAGIC_3;
  h.version_major = CAPS_FORMAT_MAJOR;
  h.version_minor = CAPS_FORMAT_MINOR;
  h.header_size = sizeof(caps_file_header);
  choose_layouts();
  plan_arena(&h.arena_size);
  h.tensor_count = static_cast<uint32_t>(tensors_.size());
  h.op_count = static_cast<uint32_t>(ops_.size());
  uint64_t pos = align_up(sizeof(caps_file_header));
  h.tensor_table_offset = static_cast<uint32_t>(pos);
  pos = align_up(pos + h.tensor_count * sizeof(caps_tensor_entry));
  h.op_table_offset = static_cast<uint32_t>(pos);
  pos = align_up(pos + h.op_count * sizeof(caps_op_entry));
  h.attributes_offset = static_cast<uint32_t>(pos);
  h.attributes_size = sizeof(caps_model_attributes);
  pos = align_up(pos + sizeof(caps_model_attributes));
  h.strings_offset = static_cast<uint32_t>(pos);
  h.strings_size = static_cast<uint32_t>(strings_.size());
  pos = align_up(pos + strings_.size());
  h.data_offset = static_cast<uint32_t>(pos);
  std::vector<uint32_t> data_offsets(tensors_.size(), 0);
  for (size_t id = 0; id < tensors_.size(); ++id) {
    if (tensors_[id].kind != CAPS_TENSOR_CONST) continue;
    data_offsets[id] = static_cast<uint32_t>(pos);
    pos = align_up(pos + byte_length(tensors_[id]));
  }
  if (pos > UINT32_MAX) throw WriterError("model larger than 4 GiB");
  h.data_size = static_cast<uint32_t>(pos - h.data_offset);
  h.total_size = static_cast<uint32_t>(pos);

  std::vector<uint8_t> out(h.total_size, 0);
  for (uint32_t id = 0; id < h.tensor_count; ++id) {
    const Tensor& t = tensors_[id];
    caps_tensor_entry e{};
    e.dtype = static_cast<uint8_t>(t.dtype);
    e.rank = static_cast<uint8_t>(t.shape.rank);
    e.kind = static_cast<uint8_t>(t.kind);
    e.layout = static_cast<uint8_t>(t.layout);
    for (uint32_t k = 0; k < CAPS_MAX_RANK; ++k) e.dims[k] = t.shape.dims[k];
    e.byte_length = static_cast<uint32_t>(byte_length(t));
    e.offset = t.kind == CAPS_TENSOR_CONST ? data_offsets[id] : t.arena_offset;
    e.name_offset = name_offsets[id];
    e.quant_kind = t.quant_kind;
    e.quant_axis = t.quant_axis;
    e.quant_scale = t.quant_scale;
    e.quant_zero_point = t.quant_zero_point;
    e.quant_params_tensor = t.quant_params;
    put(out, h.tensor_table_offset + uint64_t{id} * sizeof e, e);
    if (t.kind == CAPS_TENSOR_CONST)
      std::memcpy(out.data() + e.offset, stored_bytes(t).data(), e.byte_length);
  }
  for (uint32_t k = 0; k < h.op_count; ++k) {
    put(out, h.op_table_offset + uint64_t{k} * sizeof(caps_op_entry), ops_[k].entry);
    report_[k].weight_bytes = 0;
    for (uint32_t s = 0; s < ops_[k].entry.n_inputs; ++s) {
      const Tensor& t = tensors_[ops_[k].entry.inputs[s]];
      if (t.kind == CAPS_TENSOR_CONST) report_[k].weight_bytes += byte_length(t);
    }
  }
  put(out, h.attributes_offset, attrs_);
  std::memcpy(out.data() + h.strings_offset, strings_.data(), strings_.size());
  // The runtime checks everything but the checksum (not computed yet) and sizes the arena of
  // every kernel set; the header's arena_size is the largest (a larger arena_size than the plan's
  // relaxes no check that passed). Then the checksum, once.
  put(out, 0, h);
  {
    VerifiedModel v;
    try {
      v = load_verified(out, CAPS_LOAD_SKIP_CHECKSUM);
    } catch (const IoError& e) {
      throw WriterError(std::string("the runtime rejects the written model: ") + e.what());
    }
    arenas_.clear();
    uint64_t most = 0;
    for (uint32_t ks = CAPS_KERNELS_REFERENCE; ks < CAPS_KERNELS_COUNT; ++ks) {
      const uint64_t need = v.model.arena_size_for(ks);
      arenas_.push_back(KernelSetArena{ks, caps_kernels_name(ks), need});
      most = std::max(most, need);
    }
    h.arena_size = static_cast<uint32_t>(most);
  }
  put(out, 0, h);
  h.checksum = model_checksum(out.data(), out.size());
  put(out, 0, h);
  return out;
}

}  // namespace tools
}  // namespace capsrt
