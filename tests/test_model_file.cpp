// The model file: writer round trip and every field the runtime reads.
#include <catch2/catch.hpp>
#include <cstring>

#include "capsnet_int8.hpp"
#include "kernel_params.h"
#include "ops/op_record.hpp"
#include "test_util.hpp"

using namespace capsrt;
using testutil::ModelBytes;

TEST_CASE("CRC-32 is the standard IEEE one") {
  // The check value of CRC-32/ISO-HDLC (zlib's crc32) for "123456789".
  CHECK(crc32_update(0, "123456789", 9) == 0xCBF43926u);
  CHECK(crc32_update(0, "", 0) == 0u);
  // chaining gives the same result as one call
  CHECK(crc32_update(crc32_update(0, "1234", 4), "56789", 5) == 0xCBF43926u);
}

TEST_CASE("a written model loads, and every header and attribute field reads back") {
  const auto spec = testutil::tiny_spec();
  ModelBytes mb(tools::build_capsnet(spec, testutil::tiny_weights(spec, 3)));
  Model m;
  REQUIRE(m.load(mb.data(), mb.size) == CAPS_OK);
  const caps_file_header& h = m.header();
  CHECK(std::memcmp(h.magic, "CAPS", 4) == 0);
  CHECK(h.version_major == CAPS_FORMAT_MAJOR);
  CHECK(h.total_size == mb.size);
  CHECK(h.total_size % CAPS_ALIGN == 0);
  CHECK(h.checksum == model_checksum(mb.data(), mb.size));
  const caps_model_attributes& a = m.attributes();
  CHECK(a.input_channels == 1);
  CHECK(a.input_height == 12);
  CHECK(a.input_width == 12);
  CHECK(a.num_classes == 3);
  CHECK(a.routing_iterations == 3);
  CHECK(a.squash_eps == 1e-8f);
  CHECK(std::string(m.class_name(0)) == "cat");
  CHECK(std::string(m.class_name(2)) == "bird");
  CHECK(m.class_name(3) == nullptr);
  CHECK(std::string(m.description()) == "tiny");
  CHECK(m.op_count() == 7);  // conv1, primary, digit, length, mask, dense, dense
  CHECK(a.decoder_first_op == 4);
  // Weights are stored bit-exact and 64-byte aligned, W with the input capsule fastest
  // (CAPS_JDKI): element (j,i,d,k) at ((j*DO + d)*DI + k)*I + i.
  const auto w = testutil::tiny_weights(spec, 3);
  const uint32_t id = testutil::find_tensor(m, "digitcaps.weight");
  REQUIRE(id != CAPS_NONE);
  CHECK(m.tensor(id).offset % 64 == 0);
  CHECK(m.tensor(id).layout == CAPS_LAYOUT_CAPS_JDKI);
  const Shape s = m.tensor_shape(id);
  REQUIRE(s == tools::make_shape({3, 32, 5, 4}));
  const float* stored = static_cast<const float*>(m.const_data(id));
  const std::vector<float>& rows = w.at("digitcaps.weight").data;  // row-major [J,I,DO,DI]
  size_t mismatches = 0;
  for (size_t j = 0; j < 3; ++j)
    for (size_t i = 0; i < 32; ++i)
      for (size_t d = 0; d < 5; ++d)
        for (size_t k = 0; k < 4; ++k)
          mismatches += std::memcmp(&stored[((j * 5 + d) * 4 + k) * 32 + i],
                                    &rows[((j * 32 + i) * 5 + d) * 4 + k], 4) != 0;
  CHECK(mismatches == 0);
  // Conv weights with the output channel fastest (CAPS_LAYOUT_CONV_IHWO): (o,c,ky,kx) at
  // ((c*KH + ky)*KW + kx)*O + o.
  const uint32_t cw = testutil::find_tensor(m, "conv1.weight");
  REQUIRE(cw != CAPS_NONE);
  CHECK(m.tensor(cw).layout == CAPS_LAYOUT_CONV_IHWO);
  const Shape cs = m.tensor_shape(cw);
  const float* cstored = static_cast<const float*>(m.const_data(cw));
  const std::vector<float>& crows = w.at("conv1.weight").data;
  mismatches = 0;
  for (size_t o = 0; o < cs.dims[0]; ++o)
    for (size_t t = 0; t < size_t{cs.dims[1]} * cs.dims[2] * cs.dims[3]; ++t)
      mismatches += std::memcmp(&cstored[t * cs.dims[0] + o], &crows[o * cs.dims[1] * cs.dims[2] * cs.dims[3] + t], 4) != 0;
  CHECK(mismatches == 0);
}

TEST_CASE("the arena plan reuses memory and the runtime accepts exactly the planned size") {
  const auto spec = tools::capsnet_preset("canonical");
  ModelBytes mb(tools::build_capsnet(spec, tools::capsnet_random_weights(spec, 1)));
  Model m;
  REQUIRE(m.load(mb.data(), mb.size) == CAPS_OK);
  // Sum of all activations and the reference kernels' scratch if nothing were shared (the
  // version 1.0 plan's figure, 1,693,760 bytes); the reference set's arena also holds the
  // prepared op table, 256 bytes per op.
  uint64_t unshared = 0;
  for (uint32_t id = 0; id < m.tensor_count(); ++id)
    if (m.tensor(id).kind == CAPS_TENSOR_ACTIVATION) unshared += m.tensor(id).byte_length;
  unshared += 256 * 20 * 20 * 4 + 829440;  // PrimaryCaps' conv output, CapsDense's u_hat & logits
  CHECK(m.arena_size_for(CAPS_KERNELS_REFERENCE) < unshared);
  CHECK(m.arena_size_for(CAPS_KERNELS_REFERENCE) == 873280u + 8 * 256);
  // The largest single need: conv1 output (409,600 B) live with PrimaryCaps' scratch and output,
  // or u_hat scratch live with the capsule inputs and outputs: the plan is at least that.
  CHECK(m.arena_size() >= 829440u + 1152u * 8 * 4);
  std::vector<uint8_t> arena(m.arena_size() + 64);
  uint8_t* base = arena.data() + (64 - reinterpret_cast<uintptr_t>(arena.data()) % 64) % 64;
  Interpreter it;
  CHECK(it.init(m, base, m.arena_size() - 1, testutil::test_kernels()) == CAPS_ERR_ARENA_TOO_SMALL);
  CHECK(it.init(m, base, m.arena_size(), testutil::test_kernels()) == CAPS_OK);
}

TEST_CASE("the writer refuses a missing or mis-shaped weight, naming it") {
  const auto spec = testutil::tiny_spec();
  auto w = testutil::tiny_weights(spec, 1);
  w.erase("conv1.bias");
  REQUIRE_THROWS_WITH(tools::build_capsnet(spec, w),
                      Catch::Contains("missing tensor conv1.bias") && Catch::Contains("[4]"));
  w = testutil::tiny_weights(spec, 1);
  w["digitcaps.weight"].shape = {3, 32, 4, 5};
  REQUIRE_THROWS_WITH(tools::build_capsnet(spec, w),
                      Catch::Contains("digitcaps.weight") && Catch::Contains("expected shape [3,32,5,4]") &&
                          Catch::Contains("found [3,32,4,5]"));
}

TEST_CASE("a version 1.0 file (row-major weights, reference scratch in the file) loads and runs on every kernel set") {
  auto spec = testutil::tiny_spec();
  spec.preprocess = CAPS_PREPROCESS_NONE;  // 1.3's attribute: a 1.0 file has none
  const auto w = testutil::tiny_weights(spec, 5);
  ModelBytes packed(tools::build_capsnet(spec, w));
  // The same network as a 1.0 writer laid it out: row-major weights, minor version 0, and each
  // op's reference scratch recorded in the op table (placed after everything else).
  ModelBytes old(tools::build_capsnet(spec, w, nullptr, /*pack_weights=*/false));
  caps_file_header h = old.header();
  h.version_minor = 0;
  uint64_t cursor = capsrt::kernels::align_up(h.arena_size);
  {
    Model m;
    REQUIRE(m.load(old.data(), old.size) == CAPS_OK);  // as 1.1 first, to read shapes and attrs
    for (uint32_t k = 0; k < m.op_count(); ++k) {
      caps_op_entry op = m.op(k);
      Shape in[CAPS_MAX_OP_INPUTS];
      for (uint32_t s = 0; s < op.n_inputs; ++s) in[s] = m.tensor_shape(op.inputs[s]);
      OpInfo info;
      REQUIRE(op_infer(op, in, m.attributes(), &info) == CAPS_OK);
      const uint64_t scratch = op_reference_scratch(op, in, info.output, m.attributes());
      op.scratch_size = static_cast<uint32_t>(scratch);
      op.scratch_offset = op.scratch_size ? static_cast<uint32_t>(cursor) : 0;
      cursor += capsrt::kernels::align_up(scratch);
      old.set(old.op_offset(k), op);
    }
  }
  h.arena_size = static_cast<uint32_t>(cursor);
  old.set_header(h);
  Model m_old, m_new;
  REQUIRE(m_old.load(old.data(), old.size) == CAPS_OK);
  REQUIRE(m_new.load(packed.data(), packed.size) == CAPS_OK);
  CHECK(m_old.header().version_minor == 0);
  const uint32_t w_id = testutil::find_tensor(m_old, "primarycaps.conv2d.weight");
  REQUIRE(w_id != CAPS_NONE);
  CHECK(m_old.tensor(w_id).layout == CAPS_LAYOUT_ROW_MAJOR);

  const auto x = testutil::random_floats(m_new.input_size(), 17, 0.0f, 1.0f);
  std::vector<float> want;  // the 1.1 packed file on the reference kernels
  {
    tools::AlignedBuffer arena(m_new.arena_size_for(CAPS_KERNELS_REFERENCE));
    Interpreter it;
    REQUIRE(it.init(m_new, arena.data(), arena.size(), CAPS_KERNELS_REFERENCE) == CAPS_OK);
    REQUIRE(it.set_input(x.data(), x.size()) == CAPS_OK);
    REQUIRE(it.invoke() == CAPS_OK);
    want.assign(it.output<float>(CAPS_TENSOR_POSES), it.output<float>(CAPS_TENSOR_POSES) + m_new.num_classes() * it.pose_dim());
  }
  for (uint32_t id = CAPS_KERNELS_REFERENCE; id < CAPS_KERNELS_COUNT; ++id) {
    if (!caps_kernels_available(id)) continue;
    INFO("kernel set " << caps_kernels_name(id));
    tools::AlignedBuffer arena(m_old.arena_size_for(id));
    Interpreter it;
    REQUIRE(it.init(m_old, arena.data(), arena.size(), id) == CAPS_OK);
    REQUIRE(it.set_input(x.data(), x.size()) == CAPS_OK);
    REQUIRE(it.invoke() == CAPS_OK);
    for (size_t k = 0; k < want.size(); ++k) REQUIRE(it.output<float>(CAPS_TENSOR_POSES)[k] == Approx(want[k]).margin(1e-6).epsilon(1e-5));
    const float* image = nullptr;
    REQUIRE(testutil::reconstruct(it, -1, &image) == CAPS_OK);
  }
  // 1.0's recorded scratch is still checked.
  caps_op_entry op = old.op(1);
  op.scratch_size -= 64;
  old.set_op(1, op);
  CHECK(old.load() == CAPS_ERR_BAD_ARENA_PLAN);
}

// The arena regression test (TFLite Micro's memory_arena_threshold_test): the arena each kernel
// set needs for the shipped architectures, pinned. The figures are those of the commit that
// added this test (capsgen --summary prints the same table); a change of more than 3% either way
// fails, so that a growth is seen and a saving is recorded here. The arena depends on the shapes
// only: seeded weights (and, for int8, seeded calibration images) stand for the trained models.
TEST_CASE("arena sizes per kernel set stay within 3% of the pinned figures", "[arena]") {
  struct Pin {
    const char* preset;
    bool int8, low_memory;
    uint64_t bytes;  // every kernel set's, at the pinning commit
  };
  const Pin pins[] = {
      {"canonical", false, false, 875328},
      {"small", false, false, 352704},
      {"canonical", true, false, 414464},
      {"small", true, true, 29440},  // the 32 KiB microcontroller target (docs/fixed-point.md)
  };
  for (const Pin& pin : pins) {
    tools::CapsNetSpec s = tools::capsnet_preset(pin.preset);
    s.low_memory_routing = pin.low_memory;
    const tools::Weights w = tools::capsnet_random_weights(s, 5);
    std::vector<uint8_t> bytes;
    if (pin.int8) {
      std::vector<uint8_t> calib(4 * 784);
      for (size_t k = 0; k < calib.size(); ++k) calib[k] = static_cast<uint8_t>(k * 37 % 256);
      bytes = tools::build_capsnet_int8(s, w, tools::calibrate_capsnet(s, w, calib.data(), 4));
    } else {
      bytes = tools::build_capsnet(s, w);
    }
    const tools::VerifiedModel v = tools::load_verified(bytes);
    for (uint32_t id = CAPS_KERNELS_REFERENCE; id < CAPS_KERNELS_COUNT; ++id) {
      const uint64_t got = v.model.arena_size_for(id);
      INFO(pin.preset << (pin.int8 ? " int8" : " float") << (pin.low_memory ? " low-memory" : "")
                      << ", kernels " << caps_kernels_name(id) << ": " << got << " bytes, pinned "
                      << pin.bytes);
      CHECK(got * 100 <= pin.bytes * 103);
      CHECK(got * 100 >= pin.bytes * 97);
    }
  }
}

TEST_CASE("the op table: the record found for each opcode of format.h is that opcode's") {
  const uint32_t opcodes[] = {CAPS_OP_CONV2D, CAPS_OP_PRIMARY_CAPS,    CAPS_OP_CAPS_DENSE,   CAPS_OP_LENGTH,
                              CAPS_OP_MASK,   CAPS_OP_DENSE,           CAPS_OP_EM_PRIMARY_CAPS,
                              CAPS_OP_EM_CONV_CAPS, CAPS_OP_EM_CLASS_CAPS};
  for (uint32_t opcode : opcodes) {
    INFO("opcode " << opcode);
    const capsrt::OpRecord* r = capsrt::op_record(opcode);
    REQUIRE(r != nullptr);
    CHECK(r->opcode == opcode);
    CHECK(r->infer != nullptr);
    // every dynamic-routing op has an int8 form; the EM ops (1.5) are float only
    CHECK((r->q.prepare != nullptr) == (opcode <= CAPS_OP_DENSE));
    CHECK(r->since_minor == (opcode <= CAPS_OP_DENSE ? 0 : 5));
  }
  CHECK(capsrt::op_record(0) == nullptr);
  CHECK(capsrt::op_record(CAPS_OP_EM_CLASS_CAPS + 1) == nullptr);
}
