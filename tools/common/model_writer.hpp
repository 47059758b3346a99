// ModelWriter: builds a capsrt model file (docs/model-format.md) from tensors and ops.
// Used by capsgen, the tests and (later) capsconv. Output shapes, scratch sizes and costs come
// from the runtime's own op_infer, and the arena plan is checked by loading the result.
#ifndef CAPSRT_TOOLS_MODEL_WRITER_HPP
#define CAPSRT_TOOLS_MODEL_WRITER_HPP

#include <array>
#include <cstdint>
#include <stdexcept>
#include <string>
#include <vector>

#include "capsrt/ops.hpp"

namespace capsrt {
namespace tools {

// Thrown for anything the writer cannot turn into a valid model; the message says what.
struct WriterError : std::runtime_error {
  using std::runtime_error::runtime_error;
};

Shape make_shape(std::initializer_list<uint32_t> dims);
std::string shape_str(const Shape& s);

struct OpReport {  // one row of a model summary
  std::string name;  // op kind
  std::string output;  // output tensor name
  Shape output_shape;
  uint64_t params = 0;  // weight elements read by the op (not an int8 op's requantisation table)
  uint64_t macs = 0;
  uint64_t weight_bytes = 0;  // the op's constants' bytes in the file (all of them), by finish()
};

class ModelWriter {
 public:
  ModelWriter();

  // A float32 weight tensor; `data` has shape.numel() elements.
  uint32_t add_const(const std::string& name, const Shape& shape, std::vector<float> data);
  // An integer constant (CAPS_DTYPE_I8, I16 or I32), values in row-major order; each must fit
  // the dtype.
  uint32_t add_const_int(const std::string& name, const Shape& shape, caps_dtype dtype,
                         std::vector<int32_t> values);
  // The graph input [C,H,W] (sets the input geometry attributes); int8 for an int8 model.
  uint32_t add_input(const std::string& name, uint32_t channels, uint32_t height, uint32_t width,
                     caps_dtype dtype = CAPS_DTYPE_F32);
  // Appends an op; its output activation tensor is created with the shape op_infer computes (and,
  // for an op's int8 form, chosen by its first input's dtype, the dtype the op writes).
  uint32_t add_op(caps_opcode opcode, const std::vector<uint32_t>& inputs,
                  const std::array<uint32_t, 8>& params, const std::string& output_name);
  // Quantisation metadata of an integer tensor (docs/fixed-point.md): real = scale x (q - zp);
  // or one scale per index of `axis`, in the float32 const tensor `scales`.
  void set_quant(uint32_t id, float scale, int32_t zero_point);
  void set_quant_per_channel(uint32_t id, uint32_t axis, uint32_t scales);

  // Attributes other than the tensor ids and the decoder split, which the writer fills.
  caps_model_attributes& attributes() { return attrs_; }
  void set_class_names(const std::vector<std::string>& names);
  void set_description(const std::string& text);
  void set_outputs(uint32_t scores, uint32_t poses, uint32_t recon /* CAPS_NONE: none */);
  void begin_decoder();  // ops added from now on form the decoder

  const Shape& shape(uint32_t id) const { return tensors_.at(id).shape; }
  const std::vector<OpReport>& report() const { return report_; }

  // Weights are stored in the layouts the SIMD kernels read (conv weights CONV_IHWO, capsule
  // transforms CAPS_JDKI; docs/model-format.md) unless this is turned off, which writes every
  // tensor row-major, as version 1.0 files were (they still run, on the reference conv and
  // CapsDense kernels).
  void set_pack_weights(bool pack) { pack_weights_ = pack; }

  // Plans the arena, lays out the file, checksums it, and loads it back through the runtime
  // as a final check. Throws WriterError with the runtime's message if that fails.
  std::vector<uint8_t> finish();

  // After finish(): the arena an interpreter needs with each kernel set (CAPS_KERNELS_* order,
  // reference first); the file's header records the largest.
  struct KernelSetArena {
    uint32_t kernels;
    std::string name;
    uint64_t arena_bytes;
  };
  const std::vector<KernelSetArena>& arena_per_kernel_set() const { return arenas_; }

 private:
  struct Tensor {
    Tensor(std::string n, const Shape& s, caps_tensor_kind k, std::vector<float> d = {})
        : name(std::move(n)), shape(s), kind(k), data(std::move(d)) {}
    std::string name;
    Shape shape;
    caps_tensor_kind kind;
    std::vector<float> data;  // float const tensors, row-major
    caps_dtype dtype = CAPS_DTYPE_F32;
    std::vector<int32_t> ints;  // integer const tensors, row-major
    uint32_t arena_offset = 0;
    caps_layout layout = CAPS_LAYOUT_ROW_MAJOR;
    uint8_t quant_kind = CAPS_QUANT_NONE, quant_axis = 0;
    float quant_scale = 0.0f;
    int32_t quant_zero_point = 0;
    uint32_t quant_params = CAPS_NONE;
  };
  uint64_t byte_length(const Tensor& t) const;
  struct Op {
    caps_op_entry entry;
  };
  uint32_t add_string(const std::string& s);
  void choose_layouts();
  std::vector<uint8_t> stored_bytes(const Tensor& t) const;
  void plan_arena(uint32_t* arena_size);

  std::vector<Tensor> tensors_;
  std::vector<Op> ops_;
  std::vector<OpReport> report_;
  std::string strings_;
  caps_model_attributes attrs_{};
  bool have_outputs_ = false;
  bool decoder_started_ = false;
  bool pack_weights_ = true;
  std::vector<KernelSetArena> arenas_;
  std::vector<std::string> class_names_;
};

}  // namespace tools
}  // namespace capsrt

#endif
