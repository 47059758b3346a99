// The model file: writer round trip and every field the runtime reads.
#include <catch2/catch.hpp>
#include <cstring>

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
  // Weights are stored bit-exact and 64-byte aligned.
  const auto w = testutil::tiny_weights(spec, 3);
  const uint32_t id = testutil::find_tensor(m, "digitcaps.weight");
  REQUIRE(id != CAPS_NONE);
  CHECK(m.tensor(id).offset % 64 == 0);
  CHECK(std::memcmp(m.const_data(id), w.at("digitcaps.weight").data.data(),
                    w.at("digitcaps.weight").data.size() * 4) == 0);
  const Shape s = m.tensor_shape(id);
  CHECK(s == tools::make_shape({3, 32, 5, 4}));
}

TEST_CASE("the arena plan reuses memory and the runtime accepts exactly the planned size") {
  const auto spec = tools::capsnet_preset("canonical");
  ModelBytes mb(tools::build_capsnet(spec, tools::capsnet_random_weights(spec, 1)));
  Model m;
  REQUIRE(m.load(mb.data(), mb.size) == CAPS_OK);
  // Sum of all activations and scratch if nothing were shared:
  uint64_t unshared = 0;
  for (uint32_t id = 0; id < m.tensor_count(); ++id)
    if (m.tensor(id).kind == CAPS_TENSOR_ACTIVATION) unshared += m.tensor(id).byte_length;
  for (uint32_t k = 0; k < m.op_count(); ++k) unshared += m.op(k).scratch_size;
  CHECK(m.arena_size() < unshared);
  // The largest single need: conv1 output (409,600 B) live with PrimaryCaps' scratch and output,
  // or u_hat scratch live with the capsule inputs and outputs: the plan is at least that.
  CHECK(m.arena_size() >= 829440u + 1152u * 8 * 4);
  std::vector<uint8_t> arena(m.arena_size() + 64);
  uint8_t* base = arena.data() + (64 - reinterpret_cast<uintptr_t>(arena.data()) % 64) % 64;
  Interpreter it;
  CHECK(it.init(m, base, m.arena_size() - 1) == CAPS_ERR_ARENA_TOO_SMALL);
  CHECK(it.init(m, base, m.arena_size()) == CAPS_OK);
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
