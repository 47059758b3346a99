// Malformed models and bad calls: each gets its own status, none crashes. This binary also runs
// under AddressSanitizer and UndefinedBehaviorSanitizer in CI.
#include <catch2/catch.hpp>
#include <cmath>
#include <limits>
#include <random>

#include "fuzz/model_shapes.hpp"
#include "em_capsnet.hpp"
#include "kernel_params.h"
#include "test_util.hpp"

using namespace capsrt;
using testutil::ModelBytes;

namespace {

const std::vector<uint8_t>& tiny_model() {
  static const std::vector<uint8_t> bytes = [] {
    const auto spec = testutil::tiny_spec();
    return tools::build_capsnet(spec, testutil::tiny_weights(spec, 7));
  }();
  return bytes;
}

uint32_t id_of(const ModelBytes& mb, const char* name) {
  Model m;
  REQUIRE(m.load(mb.data(), mb.size) == CAPS_OK);
  return testutil::find_tensor(m, name);
}

}  // namespace

TEST_CASE("the unmodified tiny model loads") {
  ModelBytes mb(tiny_model());
  CHECK(mb.load() == CAPS_OK);
}

TEST_CASE("truncated model") {
  ModelBytes mb(tiny_model());
  Model m;
  CHECK(m.load(mb.data(), 0) == CAPS_ERR_TRUNCATED);
  CHECK(m.load(mb.data(), 3) == CAPS_ERR_TRUNCATED);
  CHECK(m.load(mb.data(), sizeof(caps_file_header) - 1) == CAPS_ERR_TRUNCATED);
  CHECK(m.load(mb.data(), mb.size - 1) == CAPS_ERR_TRUNCATED);
  CHECK(m.load(mb.data(), mb.size - 64) == CAPS_ERR_TRUNCATED);
  CHECK_FALSE(m.loaded());
  // every prefix is refused with TRUNCATED
  for (size_t n = 4; n < mb.size; n += 37) REQUIRE(m.load(mb.data(), n) == CAPS_ERR_TRUNCATED);
}

TEST_CASE("wrong magic") {
  ModelBytes mb(tiny_model());
  mb.data()[0] = 'P';  // e.g. a zip file
  mb.data()[1] = 'K';
  CHECK(mb.load() == CAPS_ERR_BAD_MAGIC);
}

TEST_CASE("unsupported version") {
  ModelBytes mb(tiny_model());
  caps_file_header h = mb.header();
  h.version_major = 2;
  mb.set_header(h);
  CHECK(mb.load() == CAPS_ERR_UNSUPPORTED_VERSION);
  h.version_major = CAPS_FORMAT_MAJOR;
  h.version_minor = CAPS_FORMAT_MINOR + 1;
  mb.set_header(h);
  CHECK(mb.load() == CAPS_ERR_UNSUPPORTED_VERSION);
}

TEST_CASE("checksum mismatch") {
  ModelBytes mb(tiny_model());
  mb.data()[mb.header().data_offset + 5] ^= 0x10;  // one bit of one weight
  CHECK(mb.load() == CAPS_ERR_CHECKSUM);
  // a verified-at-flash-time image can skip the check (and the damage then goes unnoticed)
  CHECK(mb.load(CAPS_LOAD_SKIP_CHECKSUM) == CAPS_OK);
  ModelBytes mb2(tiny_model());
  caps_file_header h = mb2.header();
  h.checksum ^= 1;
  mb2.set(0, h);
  CHECK(mb2.load() == CAPS_ERR_CHECKSUM);
}

TEST_CASE("inconsistent header fields") {
  ModelBytes mb(tiny_model());
  const caps_file_header good = mb.header();
  caps_file_header h = good;
  h.flags = 1;
  mb.set_header(h);
  CHECK(mb.load() == CAPS_ERR_BAD_HEADER);
  h = good;
  h.reserved[3] = 9;
  mb.set_header(h);
  CHECK(mb.load() == CAPS_ERR_BAD_HEADER);
  h = good;
  h.attributes_size = 80;
  mb.set_header(h);
  CHECK(mb.load() == CAPS_ERR_BAD_HEADER);
  h = good;
  h.tensor_count = 0;
  mb.set_header(h);
  CHECK(mb.load() == CAPS_ERR_BAD_HEADER);
  h = good;
  h.op_count = CAPS_MAX_OPS + 1;
  mb.set_header(h);
  CHECK(mb.load() == CAPS_ERR_BAD_HEADER);
  h = good;
  h.op_table_offset = h.tensor_table_offset;  // sections overlap
  mb.set_header(h);
  CHECK(mb.load() == CAPS_ERR_BAD_HEADER);
}

TEST_CASE("offsets or lengths past the end") {
  ModelBytes mb(tiny_model());
  const caps_file_header good = mb.header();
  caps_file_header h = good;
  h.data_size += 64;  // data section runs past the file
  mb.set_header(h);
  CHECK(mb.load() == CAPS_ERR_OUT_OF_BOUNDS);
  h = good;
  h.tensor_table_offset = 0xFFFFFFC0u;  // aligned, far past the end (no 32-bit wrap-around)
  mb.set_header(h);
  CHECK(mb.load() == CAPS_ERR_OUT_OF_BOUNDS);

  ModelBytes mt(tiny_model());
  const uint32_t w = id_of(mt, "digitcaps.weight");
  caps_tensor_entry t = mt.tensor(w);
  t.offset = good.total_size;  // weight data past the end
  mt.set_tensor(w, t);
  CHECK(mt.load() == CAPS_ERR_OUT_OF_BOUNDS);
  t.offset = good.data_offset - 64;  // before the data section (inside the string table)
  mt.set_tensor(w, t);
  CHECK(mt.load() == CAPS_ERR_OUT_OF_BOUNDS);

  ModelBytes ms(tiny_model());
  const uint32_t c1 = id_of(ms, "conv1");
  t = ms.tensor(c1);
  t.name_offset = good.strings_size + 10;  // name past the string table
  ms.set_tensor(c1, t);
  CHECK(ms.load() == CAPS_ERR_OUT_OF_BOUNDS);
}

TEST_CASE("misaligned data") {
  ModelBytes mb(tiny_model());
  const uint32_t w = id_of(mb, "conv1.weight");
  caps_tensor_entry t = mb.tensor(w);
  t.offset += 4;
  mb.set_tensor(w, t);
  CHECK(mb.load() == CAPS_ERR_MISALIGNED);

  ModelBytes ma(tiny_model());
  const uint32_t act = id_of(ma, "conv1");
  t = ma.tensor(act);
  t.offset += 8;  // arena offset
  ma.set_tensor(act, t);
  CHECK(ma.load() == CAPS_ERR_MISALIGNED);

  ModelBytes mh(tiny_model());
  caps_file_header h = mh.header();
  h.op_table_offset += 16;
  mh.set_header(h);
  CHECK(mh.load() == CAPS_ERR_MISALIGNED);

  // the caller's buffer itself off by 4 bytes
  ModelBytes good(tiny_model());
  std::vector<uint8_t> shifted(good.size + 68);
  uint8_t* base = shifted.data() + (64 - reinterpret_cast<uintptr_t>(shifted.data()) % 64) % 64 + 4;
  std::memcpy(base, good.data(), good.size);
  Model m;
  CHECK(m.load(base, good.size) == CAPS_ERR_MISALIGNED);
}

TEST_CASE("invalid tensor entries") {
  const ModelBytes orig(tiny_model());
  const uint32_t w = id_of(orig, "conv1.weight");
  auto expect = [&](auto&& mutate) {
    ModelBytes mb(tiny_model());
    caps_tensor_entry t = mb.tensor(w);
    mutate(t);
    mb.set_tensor(w, t);
    return mb.load();
  };
  CHECK(expect([](caps_tensor_entry& t) { t.dtype = 9; }) == CAPS_ERR_BAD_TENSOR);
  CHECK(expect([](caps_tensor_entry& t) { t.rank = 0; }) == CAPS_ERR_BAD_TENSOR);
  CHECK(expect([](caps_tensor_entry& t) { t.rank = 5; }) == CAPS_ERR_BAD_TENSOR);
  CHECK(expect([](caps_tensor_entry& t) { t.dims[1] = 0; }) == CAPS_ERR_BAD_TENSOR);
  CHECK(expect([](caps_tensor_entry& t) { t.byte_length += 4; }) == CAPS_ERR_BAD_TENSOR);
  CHECK(expect([](caps_tensor_entry& t) { t.kind = 7; }) == CAPS_ERR_BAD_TENSOR);
  CHECK(expect([](caps_tensor_entry& t) { t.layout = 3; }) == CAPS_ERR_BAD_TENSOR);
  CHECK(expect([](caps_tensor_entry& t) { t.quant_kind = CAPS_QUANT_PER_TENSOR; }) ==
        CAPS_ERR_BAD_TENSOR);  // float tensors carry no quantisation
  CHECK(expect([](caps_tensor_entry& t) { t.reserved[2] = 1; }) == CAPS_ERR_BAD_TENSOR);
  CHECK(expect([](caps_tensor_entry& t) {  // huge dims whose product overflows 32 bits
          t.dims[0] = 0x10000;
          t.dims[1] = 0x10000;
          t.dims[2] = 0x10000;
        }) == CAPS_ERR_BAD_TENSOR);
  // An int8 tensor with a per-tensor scale is a valid entry; a float op refuses it as an input
  // of the wrong dtype (the int8 form of an op is chosen by its first input, docs/fixed-point.md).
  CHECK(expect([](caps_tensor_entry& t) {
          t.dtype = CAPS_DTYPE_I8;
          t.byte_length /= 4;
          t.quant_kind = CAPS_QUANT_PER_TENSOR;
          t.quant_scale = 0.01f;
        }) == CAPS_ERR_BAD_TENSOR);
  CHECK(expect([](caps_tensor_entry& t) {
          t.dtype = CAPS_DTYPE_I8;
          t.byte_length /= 4;
          t.quant_kind = CAPS_QUANT_PER_TENSOR;
          t.quant_scale = -1.0f;
        }) == CAPS_ERR_BAD_TENSOR);
  CHECK(expect([](caps_tensor_entry& t) {  // per-channel scales must name a float tensor
          t.dtype = CAPS_DTYPE_I8;
          t.byte_length /= 4;
          t.quant_kind = CAPS_QUANT_PER_CHANNEL;
          t.quant_params_tensor = CAPS_NONE;
        }) == CAPS_ERR_BAD_TENSOR);
}

TEST_CASE("shape mismatch between ops") {
  {  // conv1 weight [4,1,3,3] relabelled [1,4,3,3]: same bytes, wrong input channels
    ModelBytes mb(tiny_model());
    const uint32_t w = id_of(mb, "conv1.weight");
    caps_tensor_entry t = mb.tensor(w);
    std::swap(t.dims[0], t.dims[1]);
    mb.set_tensor(w, t);
    CHECK(mb.load() == CAPS_ERR_SHAPE_MISMATCH);
  }
  {  // the conv1 activation declared smaller than the conv produces
    ModelBytes mb(tiny_model());
    const uint32_t c1 = id_of(mb, "conv1");
    caps_tensor_entry t = mb.tensor(c1);
    t.dims[1] -= 1;
    t.byte_length = t.dims[0] * t.dims[1] * t.dims[2] * 4;
    mb.set_tensor(c1, t);
    CHECK(mb.load() == CAPS_ERR_SHAPE_MISMATCH);
  }
  {  // the input tensor disagrees with the input geometry attributes
    ModelBytes mb(tiny_model());
    caps_model_attributes a = mb.attrs();
    a.input_height = 13;
    mb.set_attrs(a);
    CHECK(mb.load() == CAPS_ERR_SHAPE_MISMATCH);
  }
}

TEST_CASE("out-of-range attributes") {
  auto expect = [](auto&& mutate) {
    ModelBytes mb(tiny_model());
    caps_model_attributes a = mb.attrs();
    mutate(a);
    mb.set_attrs(a);
    return mb.load();
  };
  CHECK(expect([](caps_model_attributes& a) { a.routing_iterations = 0; }) == CAPS_ERR_BAD_ATTRIBUTE);
  CHECK(expect([](caps_model_attributes& a) { a.routing_iterations = 33; }) == CAPS_ERR_BAD_ATTRIBUTE);
  CHECK(expect([](caps_model_attributes& a) { a.capsule_grouping = 3; }) == CAPS_ERR_BAD_ATTRIBUTE);
  CHECK(expect([](caps_model_attributes& a) { a.routing_softmax_axis = 2; }) == CAPS_ERR_BAD_ATTRIBUTE);
  CHECK(expect([](caps_model_attributes& a) { a.squash_eps_mode = 2; }) == CAPS_ERR_BAD_ATTRIBUTE);
  CHECK(expect([](caps_model_attributes& a) { a.squash_eps = -1e-8f; }) == CAPS_ERR_BAD_ATTRIBUTE);
  CHECK(expect([](caps_model_attributes& a) {
          a.squash_eps = std::numeric_limits<float>::quiet_NaN();
        }) == CAPS_ERR_BAD_ATTRIBUTE);
  CHECK(expect([](caps_model_attributes& a) { a.score_kind = 2; }) == CAPS_ERR_BAD_ATTRIBUTE);
  CHECK(expect([](caps_model_attributes& a) { a.length_eps = INFINITY; }) == CAPS_ERR_BAD_ATTRIBUTE);
  CHECK(expect([](caps_model_attributes& a) { a.input_scale = 0.0f; }) == CAPS_ERR_BAD_ATTRIBUTE);
  CHECK(expect([](caps_model_attributes& a) { a.input_channels = 0; }) == CAPS_ERR_BAD_ATTRIBUTE);
  CHECK(expect([](caps_model_attributes& a) { a.num_classes = 0; }) == CAPS_ERR_BAD_ATTRIBUTE);
  CHECK(expect([](caps_model_attributes& a) { a.scores_tensor = 500; }) == CAPS_ERR_BAD_ATTRIBUTE);
  CHECK(expect([](caps_model_attributes& a) { a.decoder_first_op = 99; }) == CAPS_ERR_BAD_ATTRIBUTE);
  CHECK(expect([](caps_model_attributes& a) { a.reserved[0] = 1; }) == CAPS_ERR_BAD_ATTRIBUTE);
  // the input preprocessing (1.3): the three known rules load, the next value does not
  for (uint32_t p = 0; p <= CAPS_PREPROCESS_FASHION_MNIST; ++p)
    CHECK(expect([p](caps_model_attributes& a) { a.input_preprocess = p; }) == CAPS_OK);
  CHECK(expect([](caps_model_attributes& a) { a.input_preprocess = 3; }) == CAPS_ERR_BAD_ATTRIBUTE);
  {  // before 1.3 the field was reserved: a 1.2 file with it set is refused, with it zero read
    ModelBytes mb(tiny_model());
    caps_file_header h = mb.header();
    h.version_minor = 2;
    mb.set_header(h);
    caps_model_attributes a = mb.attrs();
    a.input_preprocess = CAPS_PREPROCESS_NONE;
    mb.set_attrs(a);
    CHECK(mb.load() == CAPS_OK);
    a.input_preprocess = CAPS_PREPROCESS_MNIST;
    mb.set_attrs(a);
    CHECK(mb.load() == CAPS_ERR_BAD_ATTRIBUTE);
  }
  // class count that disagrees with the scores tensor
  CHECK(expect([](caps_model_attributes& a) { a.num_classes = 2; }) == CAPS_ERR_SHAPE_MISMATCH);
  // a grouping whose divisibility the primary capsules' channels do not meet is still in range
  // and valid here (8 channels, D=4): all three groupings load
  for (uint32_t g = 0; g <= CAPS_GROUPING_PER_DIM_CONV; ++g)
    CHECK(expect([g](caps_model_attributes& a) { a.capsule_grouping = g; }) == CAPS_OK);
}

TEST_CASE("invalid strings") {
  ModelBytes mb(tiny_model());
  const caps_file_header h = mb.header();
  const caps_model_attributes a = mb.attrs();
  mb.data()[h.strings_offset + a.class_names_offset + 1] = '\n';  // "c\nt"
  mb.fix_checksum();
  CHECK(mb.load() == CAPS_ERR_BAD_STRING);
  // unterminated: the last string runs to the end of the section
  ModelBytes mu(tiny_model());
  mu.data()[h.strings_offset + h.strings_size - 1] = 'x';
  mu.fix_checksum();
  CHECK(mu.load() == CAPS_ERR_BAD_STRING);
}

TEST_CASE("invalid ops") {
  auto expect = [](uint32_t k, auto&& mutate) {
    ModelBytes mb(tiny_model());
    caps_op_entry o = mb.op(k);
    mutate(o);
    mb.set_op(k, o);
    return mb.load();
  };
  CHECK(expect(0, [](caps_op_entry& o) { o.opcode = 99; }) == CAPS_ERR_BAD_OP);
  CHECK(expect(0, [](caps_op_entry& o) { o.n_inputs = 2; }) == CAPS_ERR_BAD_OP);
  CHECK(expect(0, [](caps_op_entry& o) { o.n_outputs = 2; }) == CAPS_ERR_BAD_OP);
  CHECK(expect(0, [](caps_op_entry& o) { o.inputs[1] = 4000; }) == CAPS_ERR_BAD_OP);
  CHECK(expect(0, [](caps_op_entry& o) { o.inputs[3] = 0; }) == CAPS_ERR_BAD_OP);
  CHECK(expect(0, [](caps_op_entry& o) { o.output = 4000; }) == CAPS_ERR_BAD_OP);
  CHECK(expect(0, [](caps_op_entry& o) { o.params[CAPS_CONV_STRIDE_H] = 0; }) == CAPS_ERR_BAD_OP);
  CHECK(expect(0, [](caps_op_entry& o) { o.params[CAPS_CONV_ACTIVATION] = 2; }) == CAPS_ERR_BAD_OP);
  CHECK(expect(0, [](caps_op_entry& o) { o.params[7] = 1; }) == CAPS_ERR_BAD_OP);
  CHECK(expect(0, [](caps_op_entry& o) { std::swap(o.inputs[0], o.inputs[1]); }) == CAPS_ERR_BAD_OP);
  // padding after the input (1.4, the padding params' high half): within the kernel it loads
  // (conv1 is 3x3 on 12x12, so one extra row makes the output 11 rows: the graph then disagrees
  // with PrimaryCaps' recorded output, a shape mismatch); a whole kernel of padding, or more than
  // 64, is a bad op, and so is any in a file of an older minor version.
  CHECK(expect(0, [](caps_op_entry& o) { o.params[CAPS_CONV_PAD_H] = CAPS_CONV_PAD_PARAM(0, 1); }) ==
        CAPS_ERR_SHAPE_MISMATCH);
  CHECK(expect(0, [](caps_op_entry& o) { o.params[CAPS_CONV_PAD_H] = CAPS_CONV_PAD_PARAM(1, 2); }) == CAPS_ERR_BAD_OP);
  CHECK(expect(0, [](caps_op_entry& o) { o.params[CAPS_CONV_PAD_W] = CAPS_CONV_PAD_PARAM(0, 3); }) == CAPS_ERR_BAD_OP);
  CHECK(expect(1, [](caps_op_entry& o) { o.params[CAPS_CONV_PAD_W] = CAPS_CONV_PAD_PARAM(0, 65); }) == CAPS_ERR_BAD_OP);
  {
    ModelBytes mb(tiny_model());
    caps_file_header h = mb.header();
    h.version_minor = 3;
    mb.set_header(h);
    CHECK(mb.load() == CAPS_OK);
    caps_op_entry o = mb.op(1);
    o.params[CAPS_CONV_PAD_W] = CAPS_CONV_PAD_PARAM(0, 1);
    mb.set_op(1, o);
    CHECK(mb.load() == CAPS_ERR_BAD_OP);
  }
  // scratch size not what the runtime computes
  CHECK(expect(1, [](caps_op_entry& o) { o.scratch_size -= 64; }) == CAPS_ERR_BAD_ARENA_PLAN);
}

TEST_CASE("invalid graph") {
  ModelBytes mb(tiny_model());
  // ops 0 and 1 swapped: PrimaryCaps reads conv1 before Conv2D has produced it
  const caps_op_entry o0 = mb.op(0), o1 = mb.op(1);
  mb.set_op(0, o1);
  mb.set_op(1, o0);
  CHECK(mb.load() == CAPS_ERR_BAD_GRAPH);

  ModelBytes m2(tiny_model());  // two ops write conv1
  caps_op_entry p1 = m2.op(1);
  p1.output = m2.op(0).output;
  m2.set_op(1, p1);
  CHECK(m2.load() != CAPS_OK);

  ModelBytes m3(tiny_model());  // scores must come from a Length op
  caps_model_attributes a = m3.attrs();
  a.scores_tensor = id_of(m3, "masked");
  m3.set_attrs(a);
  CHECK(m3.load() == CAPS_ERR_BAD_GRAPH);
}

TEST_CASE("arena plan that overlaps live buffers or leaves the arena") {
  ModelBytes mb(tiny_model());
  const uint32_t c1 = id_of(mb, "conv1"), in = id_of(mb, "input");
  caps_tensor_entry t = mb.tensor(c1);
  t.offset = mb.tensor(in).offset;  // conv1 output on top of the input it reads
  mb.set_tensor(c1, t);
  CHECK(mb.load() == CAPS_ERR_BAD_ARENA_PLAN);

  ModelBytes m2(tiny_model());
  caps_file_header h = m2.header();
  uint32_t end = 0;  // of the file's activation plan
  for (uint32_t id = 0; id < h.tensor_count; ++id)
    if (m2.tensor(id).kind == CAPS_TENSOR_ACTIVATION)
      end = std::max(end, m2.tensor(id).offset + m2.tensor(id).byte_length);
  h.arena_size = static_cast<uint32_t>(capsrt::kernels::align_up(end) - 64);  // the plan no longer fits in the declared arena
  m2.set_header(h);
  CHECK(m2.load() == CAPS_ERR_BAD_ARENA_PLAN);
}

TEST_CASE("arena too small, misaligned or missing") {
  ModelBytes mb(tiny_model());
  Model m;
  REQUIRE(m.load(mb.data(), mb.size) == CAPS_OK);
  std::vector<uint8_t> arena(m.arena_size() + 64);
  uint8_t* base = arena.data() + (64 - reinterpret_cast<uintptr_t>(arena.data()) % 64) % 64;
  Interpreter it;
  CHECK(it.init(m, base, m.arena_size() - 1, testutil::test_kernels()) == CAPS_ERR_ARENA_TOO_SMALL);
  CHECK(it.invoke() == CAPS_ERR_NOT_READY);
  CHECK(it.init(m, base + 4, m.arena_size(), testutil::test_kernels()) == CAPS_ERR_MISALIGNED);
  CHECK(it.init(m, nullptr, m.arena_size(), testutil::test_kernels()) == CAPS_ERR_NULL_ARGUMENT);
  Model unloaded;
  CHECK(it.init(unloaded, base, m.arena_size(), testutil::test_kernels()) == CAPS_ERR_NOT_READY);
  REQUIRE(it.init(m, base, m.arena_size(), testutil::test_kernels()) == CAPS_OK);
  const float* image = nullptr;
  CHECK(testutil::reconstruct(it, -1, &image) == CAPS_ERR_NOT_READY);  // before invoke
  std::vector<float> x(m.input_size(), 0.5f);
  CHECK(it.set_input(x.data(), x.size() - 1) == CAPS_ERR_BAD_ARGUMENT);
  REQUIRE(it.set_input(x.data(), x.size()) == CAPS_OK);
  REQUIRE(it.invoke() == CAPS_OK);
  CHECK(testutil::reconstruct(it, 3, &image) == CAPS_ERR_BAD_ARGUMENT);
  CHECK(testutil::reconstruct(it, -2, &image) == CAPS_ERR_BAD_ARGUMENT);
  CHECK(testutil::reconstruct(it, 2, &image) == CAPS_OK);
}

TEST_CASE("C API: null pointers and calls out of order") {
  ModelBytes mb(tiny_model());
  caps_model model;
  caps_interpreter it;
  const float* f = nullptr;
  uint32_t n = 0;
  caps_tensor_view v;
  CHECK(caps_model_load(nullptr, mb.data(), mb.size, 0) == CAPS_ERR_NULL_ARGUMENT);
  CHECK(caps_model_load(&model, nullptr, mb.size, 0) == CAPS_ERR_NULL_ARGUMENT);
  CHECK(caps_model_load(&model, mb.data(), mb.size, 0x80) == CAPS_ERR_BAD_ARGUMENT);
  CHECK(caps_model_arena_size(&model) == 0);  // failed load leaves it unloaded
  CHECK(caps_model_arena_size(nullptr) == 0);
  CHECK(caps_model_attributes_get(nullptr) == nullptr);
  CHECK(caps_model_attributes_get(&model) == nullptr);
  CHECK(caps_model_class_name(nullptr, 0) == nullptr);
  CHECK(caps_interpreter_init_kernels(&it, &model, nullptr, 0, testutil::test_kernels()) == CAPS_ERR_NULL_ARGUMENT);
  REQUIRE(caps_model_load(&model, mb.data(), mb.size, 0) == CAPS_OK);
  std::vector<uint8_t> arena(caps_model_arena_size(&model) + 64);
  uint8_t* base = arena.data() + (64 - reinterpret_cast<uintptr_t>(arena.data()) % 64) % 64;
  CHECK(caps_interpreter_init_kernels(nullptr, &model, base, arena.size() - 64, testutil::test_kernels()) == CAPS_ERR_NULL_ARGUMENT);
  CHECK(caps_interpreter_init_kernels(&it, nullptr, base, arena.size() - 64, testutil::test_kernels()) == CAPS_ERR_NULL_ARGUMENT);
  CHECK(caps_interpreter_init_kernels(&it, &model, base, 16, testutil::test_kernels()) == CAPS_ERR_ARENA_TOO_SMALL);
  CHECK(caps_invoke(&it) == CAPS_ERR_NOT_READY);
  REQUIRE(caps_interpreter_init_kernels(&it, &model, base, arena.size() - 64, testutil::test_kernels()) == CAPS_OK);
  CHECK(caps_get_tensor(&it, CAPS_TENSOR_SCORES, &v) == CAPS_ERR_NOT_READY);  // not invoked yet
  CHECK(caps_get_tensor(&it, CAPS_TENSOR_POSES, &v) == CAPS_ERR_NOT_READY);
  CHECK(caps_get_predicted_class(&it, &n) == CAPS_ERR_NOT_READY);
  CHECK(caps_reconstruct(&it, -1) == CAPS_ERR_NOT_READY);
  CHECK(caps_set_input_f32(nullptr, f, 0) == CAPS_ERR_NULL_ARGUMENT);
  CHECK(caps_set_input_f32(&it, nullptr, 144) == CAPS_ERR_NULL_ARGUMENT);
  CHECK(caps_set_input_u8(&it, nullptr, 144) == CAPS_ERR_NULL_ARGUMENT);
  CHECK(caps_set_input_u8(nullptr, nullptr, 144) == CAPS_ERR_NULL_ARGUMENT);
  CHECK(caps_invoke(nullptr) == CAPS_ERR_NULL_ARGUMENT);
  CHECK(caps_get_tensor(nullptr, CAPS_TENSOR_SCORES, &v) == CAPS_ERR_NULL_ARGUMENT);
  CHECK(caps_get_tensor(&it, CAPS_TENSOR_SCORES, nullptr) == CAPS_ERR_NULL_ARGUMENT);
  CHECK(caps_get_predicted_class(&it, nullptr) == CAPS_ERR_NULL_ARGUMENT);
  CHECK(caps_get_predicted_class(nullptr, &n) == CAPS_ERR_NULL_ARGUMENT);
  CHECK(caps_reconstruct(nullptr, -1) == CAPS_ERR_NULL_ARGUMENT);
  CHECK(caps_reconstruct_pose(nullptr, 0, f, 5) == CAPS_ERR_NULL_ARGUMENT);
  std::vector<uint8_t> pixels(144, 200);
  REQUIRE(caps_set_input_u8(&it, pixels.data(), pixels.size()) == CAPS_OK);
  REQUIRE(caps_invoke(&it) == CAPS_OK);
  REQUIRE(caps_get_tensor(&it, CAPS_TENSOR_SCORES, &v) == CAPS_OK);
  CHECK((v.dtype == CAPS_DTYPE_F32 && v.rank == 1 && v.count == 3));
  REQUIRE(caps_get_tensor(&it, CAPS_TENSOR_POSES, &v) == CAPS_OK);
  CHECK((v.rank == 2 && v.dims[0] == 3 && v.dims[1] == 5));
  const float pose[5] = {};
  CHECK(caps_reconstruct_pose(&it, 0, nullptr, 5) == CAPS_ERR_NULL_ARGUMENT);
  CHECK(caps_reconstruct_pose(&it, 0, pose, 4) == CAPS_ERR_BAD_ARGUMENT);  // a pose of 5
  CHECK(caps_reconstruct_pose(&it, 3, pose, 5) == CAPS_ERR_BAD_ARGUMENT);  // 3 classes
  CHECK(caps_get_tensor(&it, CAPS_TENSOR_RECONSTRUCTION, &v) == CAPS_ERR_NOT_READY);  // none ran
  REQUIRE(caps_reconstruct(&it, -1) == CAPS_OK);
  REQUIRE(caps_get_tensor(&it, CAPS_TENSOR_RECONSTRUCTION, &v) == CAPS_OK);
  CHECK(v.count == 144);
  REQUIRE(caps_invoke(&it) == CAPS_OK);  // a new run: the old reconstruction is gone
  CHECK(caps_get_tensor(&it, CAPS_TENSOR_RECONSTRUCTION, &v) == CAPS_ERR_NOT_READY);
}

TEST_CASE("every status has its own message") {
  for (int s = 0; s < CAPS_STATUS_COUNT; ++s) {
    REQUIRE(caps_status_message(static_cast<caps_status>(s)) != nullptr);
    for (int t = 0; t < s; ++t)
      CHECK(std::string(caps_status_message(static_cast<caps_status>(s))) !=
            caps_status_message(static_cast<caps_status>(t)));
  }
  CHECK(std::string(caps_status_message(static_cast<caps_status>(1000))) == "unknown status code");
}

TEST_CASE("random damage with a fixed-up checksum never crashes the loader or a run") {
  // Flips random bytes in the header and tables (where the structure is), recomputes the
  // checksum so the validator sees the damage, and runs every model that still loads.
  const ModelBytes orig(tiny_model());
  const uint32_t struct_end = orig.header().data_offset;
  std::mt19937 rng(12345);
  int loaded = 0, refused = 0;
  std::vector<uint8_t> arena;
  for (int trial = 0; trial < 3000; ++trial) {
    ModelBytes mb(tiny_model());
    const int flips = 1 + static_cast<int>(rng() % 4);
    for (int f = 0; f < flips; ++f) {
      const uint32_t at = rng() % struct_end;
      mb.data()[at] = static_cast<uint8_t>(rng() % 3 == 0 ? 0xFF : rng());
    }
    mb.fix_checksum();
    Model m;
    if (m.load(mb.data(), mb.size) != CAPS_OK) {
      ++refused;
      continue;
    }
    ++loaded;
    arena.assign(m.arena_size() + 64, 0);
    uint8_t* base = arena.data() + (64 - reinterpret_cast<uintptr_t>(arena.data()) % 64) % 64;
    Interpreter it;
    REQUIRE(it.init(m, base, m.arena_size(), testutil::test_kernels()) == CAPS_OK);
    std::vector<float> x(m.input_size(), 0.25f);
    REQUIRE(it.set_input(x.data(), x.size()) == CAPS_OK);
    REQUIRE(it.invoke() == CAPS_OK);
    const float* image = nullptr;
    if (m.attributes().recon_tensor != CAPS_NONE) REQUIRE(testutil::reconstruct(it, -1, &image) == CAPS_OK);
  }
  CHECK(refused > 2000);  // most damage is caught
  INFO("loaded " << loaded << " refused " << refused);
}

TEST_CASE("weight layouts: only conv and capsule weights are packed, each in its own layout") {
  auto with_layout = [](const char* name, uint8_t layout) {
    ModelBytes mb(tiny_model());
    const uint32_t id = id_of(mb, name);
    caps_tensor_entry t = mb.tensor(id);
    t.layout = layout;
    mb.set_tensor(id, t);
    return mb.load();
  };
  // The writer's own choice loads.
  CHECK(with_layout("conv1.weight", CAPS_LAYOUT_CONV_IHWO) == CAPS_OK);
  CHECK(with_layout("digitcaps.weight", CAPS_LAYOUT_CAPS_JDKI) == CAPS_OK);
  // Row-major weights still load (version 1.0's only layout; the reference kernels run them).
  CHECK(with_layout("conv1.weight", CAPS_LAYOUT_ROW_MAJOR) == CAPS_OK);
  CHECK(with_layout("digitcaps.weight", CAPS_LAYOUT_ROW_MAJOR) == CAPS_OK);
  // A layout for the other kind of weight, an unknown one, or one on a bias or activation.
  CHECK(with_layout("conv1.weight", CAPS_LAYOUT_CAPS_JDKI) == CAPS_ERR_BAD_TENSOR);
  CHECK(with_layout("digitcaps.weight", CAPS_LAYOUT_CONV_IHWO) == CAPS_ERR_BAD_TENSOR);
  CHECK(with_layout("conv1.weight", 3) == CAPS_ERR_BAD_TENSOR);
  CHECK(with_layout("conv1.bias", CAPS_LAYOUT_CONV_IHWO) == CAPS_ERR_BAD_TENSOR);
  CHECK(with_layout("conv1", CAPS_LAYOUT_CONV_IHWO) == CAPS_ERR_BAD_TENSOR);
}

TEST_CASE("version 1.0 files: no packed layouts, version 1.1 files: no scratch in the op table") {
  ModelBytes mb(tiny_model());  // packed weights: a 1.0 reader's file cannot have them
  caps_file_header h = mb.header();
  h.version_minor = 0;
  mb.set_header(h);
  caps_model_attributes a = mb.attrs();
  a.input_preprocess = CAPS_PREPROCESS_NONE;  // (1.3's attribute: a 1.0 file has none)
  mb.set_attrs(a);
  CHECK(mb.load() == CAPS_ERR_BAD_TENSOR);

  ModelBytes m2(tiny_model());  // 1.1: the runtime places scratch, the file records none
  caps_op_entry o = m2.op(1);
  o.scratch_size = 64;
  o.scratch_offset = 0;
  m2.set_op(1, o);
  CHECK(m2.load() == CAPS_ERR_BAD_ARENA_PLAN);
}

// --- sizes past the buffer bound (issue 12; tests/fuzz/regressions/model_shapes/) ------------

TEST_CASE("weights whose byte length wraps in 64 bits are refused (fuzz regression numel-wrap-primarycaps-2e62)") {
  // PrimaryCaps weights of 2^20 x 2^28 x 128 x 128 = 2^62 elements: 4 x 2^62 bytes wraps to 0, the
  // byte length the file gives. The model is built in a 1 GB anonymous mapping (zero pages).
  const std::vector<uint8_t> input = testutil::read_binary(
      testutil::source_path("tests/fuzz/regressions/model_shapes/numel-wrap-primarycaps-2e62"));
  fuzzgen::GeneratedModel g;
  if (!fuzzgen::generate_model(input.data(), input.size(), &g)) {
    WARN("no 1 GB mapping on this target: skipped");
    return;
  }
  const caps_tensor_entry w = *reinterpret_cast<const caps_tensor_entry*>(
      g.bytes + reinterpret_cast<const caps_file_header*>(g.bytes)->tensor_table_offset +
      fuzzgen::kW2 * sizeof(caps_tensor_entry));
  REQUIRE(w.byte_length == 0);  // the wrapped length, as crafted
  REQUIRE(uint64_t{w.dims[0]} * w.dims[1] * w.dims[2] * w.dims[3] == uint64_t{1} << 62);
  Model m;
  CHECK(m.load(g.bytes, g.size, CAPS_LOAD_SKIP_CHECKSUM) == CAPS_ERR_BAD_TENSOR);
  CHECK_FALSE(m.loaded());
}

TEST_CASE("Shape::numel saturates and the buffer bound is checked in 64 bits") {
  Shape s;
  s.rank = 4;
  s.dims[0] = s.dims[1] = s.dims[2] = s.dims[3] = 0xFFFFFFFFu;
  CHECK(s.numel() == UINT64_MAX);
  s.dims[0] = s.dims[1] = 1u << 31;
  s.dims[2] = s.dims[3] = 1;
  CHECK(s.numel() == uint64_t{1} << 62);
  CHECK_FALSE(fits_buffer(s.numel(), 4));  // 4 x 2^62 would wrap to 0
  CHECK(fits_buffer(CAPS_MAX_BUFFER_BYTES / 4, 4));
  CHECK_FALSE(fits_buffer(CAPS_MAX_BUFFER_BYTES / 4 + 1, 4));
  CHECK(mul_sat(uint64_t{1} << 63, 2) == UINT64_MAX);
}

TEST_CASE("a PrimaryCaps conv whose padded input or output passes the buffer bound is refused") {
  caps_model_attributes attrs{};
  attrs.capsule_grouping = CAPS_GROUPING_NCHW_VIEW;
  caps_op_entry op{};
  op.opcode = CAPS_OP_PRIMARY_CAPS;
  op.n_inputs = 3;
  op.params[CAPS_CONV_STRIDE_H] = op.params[CAPS_CONV_STRIDE_W] = 1;
  op.params[CAPS_PRIMARY_CAPS_DIM] = 8;
  Shape in[3];
  in[0].rank = 3;  // x [C,H,W] = 2^16 x 32 x 32 floats: 256 MiB, within the bound
  in[0].dims[0] = 1u << 16;
  in[0].dims[1] = in[0].dims[2] = 32;
  in[1].rank = 4;
  in[1].dims[0] = 8;
  in[1].dims[1] = 1u << 16;
  in[1].dims[2] = in[1].dims[3] = 65;
  in[2].rank = 1;
  in[2].dims[0] = 8;
  OpInfo info;
  op.params[CAPS_CONV_PAD_H] = op.params[CAPS_CONV_PAD_W] = 0;
  in[1].dims[2] = in[1].dims[3] = 9;
  CHECK(op_infer(op, in, attrs, &info) == CAPS_OK);  // 2^16 x 32 x 32 x 4 B = 256 MiB: fine
  op.params[CAPS_CONV_PAD_H] = op.params[CAPS_CONV_PAD_W] = 64;
  in[1].dims[2] = in[1].dims[3] = 65;
  CHECK(op_infer(op, in, attrs, &info) == CAPS_ERR_SHAPE_MISMATCH);  // padded 160 x 160: 6.25 GiB
  // the conv output kept in scratch: 2^24 channels of 16 x 16 floats, 16 GiB
  op.params[CAPS_CONV_PAD_H] = op.params[CAPS_CONV_PAD_W] = 0;
  in[0].dims[0] = 1;
  in[1].dims[0] = 1u << 24;
  in[1].dims[1] = 1;
  in[1].dims[2] = in[1].dims[3] = 17;
  in[2].dims[0] = 1u << 24;
  CHECK(op_infer(op, in, attrs, &info) == CAPS_ERR_SHAPE_MISMATCH);
}

namespace {

// A small EM network (tools/common/em_capsnet.hpp) on a 1x16x16 input: conv1 4 x 5x5 stride 2 ->
// 8x8, PrimaryCaps 3 types, ConvCaps 3x3 stride 2 -> 3x3 of 4, stride 1 -> 1x1 of 4, 5 classes.
tools::EmSpec small_em_spec() {
  tools::EmSpec s;
  s.input_height = s.input_width = 16;
  s.A = 4;
  s.B = 3;
  s.C = 4;
  s.D = 4;
  s.E = 5;
  return s;
}

const std::vector<uint8_t>& em_model() {
  static const std::vector<uint8_t> bytes = [] {
    const tools::EmSpec s = small_em_spec();
    return tools::build_em_capsnet(s, tools::em_random_weights(s, 3));
  }();
  return bytes;
}

}  // namespace

TEST_CASE("EM models: bad op params, an int8 EM op, an older minor version and bad attributes are refused") {
  ModelBytes good(em_model());
  REQUIRE(good.load() == CAPS_OK);
  // ops: 0 conv1, 1 primary, 2 conv_caps1, 3 conv_caps2, 4 class_caps
  auto expect = [&](uint32_t k, auto&& edit) {
    ModelBytes mb(em_model());
    caps_op_entry o = mb.op(k);
    edit(o);
    mb.set_op(k, o);
    return mb.load();
  };
  auto bits = [](float f) {
    uint32_t u;
    std::memcpy(&u, &f, sizeof u);
    return u;
  };
  CHECK(expect(1, [](caps_op_entry& o) { o.params[CAPS_EM_PRIMARY_TYPES] = 0; }) == CAPS_ERR_BAD_OP);
  CHECK(expect(1, [](caps_op_entry& o) { o.params[CAPS_EM_PRIMARY_TYPES] = 4; }) == CAPS_ERR_SHAPE_MISMATCH);
  CHECK(expect(1, [](caps_op_entry& o) { o.params[5] = 1; }) == CAPS_ERR_BAD_OP);
  for (uint32_t k : {2u, 3u, 4u}) {
    INFO("op " << k);
    CHECK(expect(k, [](caps_op_entry& o) { o.params[CAPS_EM_ITERATIONS] = 0; }) == CAPS_ERR_BAD_OP);
    CHECK(expect(k, [](caps_op_entry& o) { o.params[CAPS_EM_ITERATIONS] = CAPS_MAX_ROUTING_ITERATIONS + 1; }) ==
          CAPS_ERR_BAD_OP);
    CHECK(expect(k, [](caps_op_entry& o) { o.params[CAPS_EM_M_STEP] = 2; }) == CAPS_ERR_BAD_OP);
    for (float bad : {0.0f, -1e-3f, std::numeric_limits<float>::quiet_NaN(), std::numeric_limits<float>::infinity(), 1e5f}) {
      INFO("lambda/eps " << bad);
      CHECK(expect(k, [&](caps_op_entry& o) { o.params[CAPS_EM_LAMBDA] = bits(bad); }) == CAPS_ERR_BAD_OP);
      CHECK(expect(k, [&](caps_op_entry& o) { o.params[CAPS_EM_EPS] = bits(bad); }) == CAPS_ERR_BAD_OP);
    }
    CHECK(expect(k, [](caps_op_entry& o) { o.params[7] = 1; }) == CAPS_ERR_BAD_OP);
  }
  CHECK(expect(2, [](caps_op_entry& o) { o.params[CAPS_EM_CONV_KERNEL] = 0; }) == CAPS_ERR_BAD_OP);
  CHECK(expect(2, [](caps_op_entry& o) { o.params[CAPS_EM_CONV_KERNEL] = 2; }) == CAPS_ERR_SHAPE_MISMATCH);
  CHECK(expect(2, [](caps_op_entry& o) { o.params[CAPS_EM_CONV_KERNEL] = 9; }) == CAPS_ERR_SHAPE_MISMATCH);
  CHECK(expect(2, [](caps_op_entry& o) { o.params[CAPS_EM_CONV_STRIDE] = 0; }) == CAPS_ERR_BAD_OP);
  CHECK(expect(2, [](caps_op_entry& o) { o.params[CAPS_EM_CONV_STRIDE] = 1; }) == CAPS_ERR_SHAPE_MISMATCH);
  CHECK(expect(4, [](caps_op_entry& o) { o.params[CAPS_EM_CLASS_COORD_ADD] = 3; }) == CAPS_ERR_BAD_OP);
  CHECK(expect(4, [](caps_op_entry& o) { o.params[1] = 1; }) == CAPS_ERR_BAD_OP);
  // the transform of class_caps read as conv_caps2's input (a const where an activation goes)
  CHECK(expect(4, [](caps_op_entry& o) { std::swap(o.inputs[0], o.inputs[1]); }) == CAPS_ERR_BAD_OP);
  // the EM ops are new in 1.5
  {
    ModelBytes mb(em_model());
    caps_file_header h = mb.header();
    h.version_minor = 4;
    mb.set_header(h);
    CHECK(mb.load() == CAPS_ERR_BAD_ATTRIBUTE);  // (its score kind is new in 1.5 too)
  }
  // an EM model's scores come from EmClassCaps and it has no poses
  {
    ModelBytes mb(em_model());
    caps_model_attributes a = mb.attrs();
    a.poses_tensor = a.scores_tensor;
    mb.set_attrs(a);
    CHECK(mb.load() == CAPS_ERR_BAD_ATTRIBUTE);
    a.poses_tensor = CAPS_NONE;
    a.score_kind = CAPS_SCORE_LENGTH;
    mb.set_attrs(a);
    CHECK(mb.load() == CAPS_ERR_BAD_ATTRIBUTE);
    a.score_kind = CAPS_SCORE_EM_ACTIVATION;
    a.scores_tensor = mb.op(3).output;  // conv_caps2's output
    mb.set_attrs(a);
    CHECK(mb.load() == CAPS_ERR_BAD_GRAPH);
  }
  // a dynamic-routing model cannot claim EM scores
  {
    ModelBytes mb(tiny_model());
    caps_model_attributes a = mb.attrs();
    a.score_kind = CAPS_SCORE_EM_ACTIVATION;
    a.poses_tensor = CAPS_NONE;
    mb.set_attrs(a);
    CHECK(mb.load() == CAPS_ERR_BAD_GRAPH);
  }
}

TEST_CASE("EM models run: every activation lies in (0, 1), and an int8 input to an EM op is unsupported") {
  ModelBytes mb(em_model());
  Model m;
  REQUIRE(m.load(mb.data(), mb.size) == CAPS_OK);
  tools::AlignedBuffer arena(m.arena_size());
  Interpreter it;
  REQUIRE(it.init(m, arena.data(), arena.size(), testutil::test_kernels()) == CAPS_OK);
  std::vector<uint8_t> px(16 * 16);
  std::mt19937 rng(5);
  for (uint8_t& p : px) p = static_cast<uint8_t>(rng());
  REQUIRE(it.set_input_u8(px.data(), px.size()) == CAPS_OK);
  REQUIRE(it.invoke() == CAPS_OK);
  for (uint32_t j = 0; j < m.num_classes(); ++j) {
    const float a = it.output<float>(CAPS_TENSOR_SCORES)[j];
    CHECK(a > 0.0f);
    CHECK(a < 1.0f);
  }
  CHECK(it.reconstruct(-1) == CAPS_ERR_UNSUPPORTED);
  CHECK(it.pose_dim() == 0);
  // the primary capsules' input marked int8: the EM ops have no int8 form
  ModelBytes q(em_model());
  const uint32_t conv1_out = q.op(0).output;
  caps_tensor_entry t = q.tensor(conv1_out);
  t.dtype = CAPS_DTYPE_I8;
  q.set_tensor(conv1_out, t);
  CHECK(q.load() != CAPS_OK);
}
