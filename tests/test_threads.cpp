// Threads inside an op (docs/threads.md): an interpreter given a parallel_for (tests/thread_pool.hpp,
// a std::thread pool) gives the same bits as one without, for every thread count, kernel set,
// network (the canonical and small CapsNets, the canonical one with gram-ai's grouping and
// softmax, the tiny one in its three variants) and numeric path; the SIMD sets really hand tasks to the pool; the arena grows by the tasks' scratch and
// the arguments are checked. Tagged [threads]: the CI runs these under ThreadSanitizer too.
#include <catch2/catch.hpp>

#include <cstring>
#include <random>
#include <vector>

#include "capsnet.hpp"
#include "capsnet_int8.hpp"
#include "capsrt/capsrt.hpp"
#include "kernel_set.h"
#include "test_util.hpp"
#include "em_capsnet.hpp"
#include "thread_pool.hpp"

using namespace capsrt;

namespace {

struct Outputs {
  std::vector<uint8_t> scores, poses, image;
  bool operator==(const Outputs& o) const { return scores == o.scores && poses == o.poses && image == o.image; }
};

std::vector<uint8_t> view_bytes(Interpreter& it, uint32_t which) {
  caps_tensor_view v;
  if (it.tensor_view(which, &v) != CAPS_OK) return {};
  const size_t bytes = v.count * (v.dtype == CAPS_DTYPE_F32 || v.dtype == CAPS_DTYPE_I32 ? 4 : v.dtype == CAPS_DTYPE_I16 ? 2 : 1);
  const uint8_t* at = static_cast<const uint8_t*>(v.data);
  return std::vector<uint8_t>(at, at + bytes);
}

// Classifies `pixels` and reconstructs the predicted class, with or without threads.
Outputs run(const Model& m, uint32_t kernels, const caps_threading* threading, const std::vector<uint8_t>& pixels) {
  const uint32_t threads = threading != nullptr && threading->parallel_for != nullptr ? threading->max_threads : 1;
  const size_t need = m.arena_size_for(kernels, threads);
  REQUIRE(need != 0);
  std::vector<uint8_t> arena(need + 64);
  uint8_t* at = arena.data() + (64 - reinterpret_cast<uintptr_t>(arena.data()) % 64) % 64;
  Interpreter it;
  REQUIRE(it.init(m, at, need, kernels, threading) == CAPS_OK);
  CHECK(it.max_threads() == threads);
  REQUIRE(it.set_input_u8(pixels.data(), pixels.size()) == CAPS_OK);
  REQUIRE(it.invoke() == CAPS_OK);
  Outputs o;
  o.scores = view_bytes(it, CAPS_TENSOR_SCORES);
  o.poses = view_bytes(it, CAPS_TENSOR_POSES);
  if (m.attributes().recon_tensor != CAPS_NONE) {  // (an EM model has no decoder)
    REQUIRE(it.reconstruct(-1) == CAPS_OK);
    o.image = view_bytes(it, CAPS_TENSOR_RECONSTRUCTION);
  }
  REQUIRE(!o.scores.empty());
  return o;
}

std::vector<uint8_t> random_pixels(size_t n, unsigned seed) {
  std::mt19937 rng(seed);
  std::uniform_int_distribution<int> px(0, 255);
  std::vector<uint8_t> v(n);
  for (uint8_t& p : v) p = static_cast<uint8_t>(px(rng));
  return v;
}

struct Net {
  const char* name;
  std::vector<uint8_t> bytes;
  size_t pixels;
  bool simd_only;  // too slow on the reference kernels for the test (which do not split anyway)
};

std::vector<Net> networks(bool int8) {
  std::vector<Net> nets;
  auto add = [&](const char* name, const tools::CapsNetSpec& s, const tools::Weights& w, bool simd_only) {
    const size_t pixels = static_cast<size_t>(s.input_height) * s.input_width;
    if (!int8) {
      nets.push_back({name, tools::build_capsnet(s, w), pixels, simd_only});
      return;
    }
    const std::vector<uint8_t> calib = random_pixels(3 * pixels, 5);
    nets.push_back({name, tools::build_capsnet_int8(s, w, tools::calibrate_capsnet(s, w, calib.data(), 3)), pixels,
                    simd_only});
  };
  for (const char* preset : {"canonical", "small"}) {
    const tools::CapsNetSpec s = tools::capsnet_preset(preset);
    add(preset, s, tools::capsnet_random_weights(s, 21), std::strcmp(preset, "canonical") == 0);
  }
  // The other softmax axis and grouping at a size whose routing passes split (the small nets'
  // are below kParallelMinCapsMacs, and so are their predictions).
  tools::CapsNetSpec gram = tools::capsnet_preset("canonical");
  gram.grouping = CAPS_GROUPING_PER_DIM_CONV;
  gram.softmax_axis = CAPS_SOFTMAX_OVER_INPUTS;
  add("canonical gram-ai", gram, tools::capsnet_random_weights(gram, 22), true);
  for (int variant = 0; variant < 3; ++variant) {
    tools::CapsNetSpec s = testutil::tiny_spec();
    if (variant == 1) {
      s.grouping = CAPS_GROUPING_NHWC_CHANNELS;
      s.squash_eps_mode = CAPS_SQUASH_EPS_IN_SQRT;
    } else if (variant == 2) {
      s.grouping = CAPS_GROUPING_PER_DIM_CONV;
      s.softmax_axis = CAPS_SOFTMAX_OVER_INPUTS;
    }
    add(variant == 0 ? "tiny" : variant == 1 ? "tiny keras" : "tiny gram-ai", s, testutil::tiny_weights(s, 7 + variant), false);
  }
  // Matrix capsules with EM routing (float only): the shipped EM models' network, whose ConvCaps
  // positions split across the tasks.
  if (!int8) {
    tools::EmSpec em;
    em.A = 64;
    em.B = em.C = em.D = 8;
    nets.push_back({"EM", tools::build_em_capsnet(em, tools::em_random_weights(em, 23)), 28 * 28, false});
  }
  return nets;
}

void check_same_bits_for_every_thread_count(bool int8) {
  testutil::ThreadPool pool2(2), pool3(3), pool4(4);
  const caps_threading two = pool2.threading(), three = pool3.threading(), four = pool4.threading();
  const caps_threading four_capped{&testutil::ThreadPool::parallel_for, &pool4, 2};  // max_threads below the pool's
  const caps_threading no_hook{nullptr, nullptr, 4};                                 // counts as none
  bool simd_ran = false;
  for (const Net& net : networks(int8)) {
    const testutil::ModelBytes mb(net.bytes);  // 64-byte aligned (a vector's data is not, on 32-bit hosts)
    Model m;
    REQUIRE(m.load(mb.data(), mb.size) == CAPS_OK);
    const std::vector<uint8_t> pixels = random_pixels(net.pixels, 9);
    for (uint32_t id = CAPS_KERNELS_REFERENCE; id < CAPS_KERNELS_COUNT; ++id) {
      if (!kernels::kernel_set_runnable(id) || (net.simd_only && id == CAPS_KERNELS_REFERENCE)) continue;
      simd_ran = simd_ran || id != CAPS_KERNELS_REFERENCE;
      INFO(net.name << (int8 ? " int8" : " float") << ", kernels " << caps_kernels_name(id));
      const Outputs want = run(m, id, nullptr, pixels);
      for (const caps_threading* t : {&two, &three, &four, &four_capped, &no_hook}) {
        INFO("max_threads " << t->max_threads << (t->parallel_for == nullptr ? " without a hook" : ""));
        CHECK(run(m, id, t, pixels) == want);
      }
    }
  }
  // The SIMD kernels really handed tasks to the pools (a worker, not the caller, ran some).
  if (simd_ran) {
    CHECK(pool2.ran_on_workers() > 0);
    CHECK(pool4.ran_on_workers() > 0);
  }
}

}  // namespace

TEST_CASE("threads inside the ops give the same bits for every thread count: float", "[threads]") {
  check_same_bits_for_every_thread_count(false);
}

TEST_CASE("threads inside the ops give the same bits for every thread count: int8", "[threads]") {
  check_same_bits_for_every_thread_count(true);
}

TEST_CASE("the arena grows with max_threads where the kernels split, and bad threading is refused", "[threads]") {
  const tools::CapsNetSpec s = tools::capsnet_preset("small");
  const testutil::ModelBytes bytes(tools::build_capsnet(s, tools::capsnet_random_weights(s, 3)));
  Model m;
  REQUIRE(m.load(bytes.data(), bytes.size) == CAPS_OK);
  caps_model cm;
  REQUIRE(caps_model_load(&cm, bytes.data(), bytes.size, 0) == CAPS_OK);
  for (uint32_t id = CAPS_KERNELS_REFERENCE; id < CAPS_KERNELS_COUNT; ++id) {
    INFO(caps_kernels_name(id));
    const size_t one = m.arena_size_for(id, 1);
    CHECK(one == m.arena_size_for(id));
    CHECK(caps_model_arena_size_threads(&cm, id, 1) == caps_model_arena_size_for(&cm, id));
    CHECK(caps_model_arena_size_threads(&cm, id, 4) == m.arena_size_for(id, 4));
    CHECK(m.arena_size_for(id, 4) >= m.arena_size_for(id, 2));
    CHECK(m.arena_size_for(id, 2) >= one);
    CHECK(m.arena_size_for(id, 0) == 0);
    CHECK(m.arena_size_for(id, CAPS_MAX_THREADS + 1) == 0);
    // The reference kernels run on the calling thread: no room for tasks.
    if (id == CAPS_KERNELS_REFERENCE) CHECK(m.arena_size_for(id, 4) == one);
  }
  // The SIMD convs have a scratch per task: with low-memory routing the small network's arena
  // peaks at its PrimaryCaps conv, and grows with the tasks.
  tools::CapsNetSpec low = s;
  low.low_memory_routing = true;
  const testutil::ModelBytes low_bytes(tools::build_capsnet(low, tools::capsnet_random_weights(low, 3)));
  Model lm;
  REQUIRE(lm.load(low_bytes.data(), low_bytes.size) == CAPS_OK);
  for (const uint32_t id : {CAPS_KERNELS_AVX2_FMA, CAPS_KERNELS_AVX512, CAPS_KERNELS_NEON64})
    CHECK(lm.arena_size_for(id, 4) > lm.arena_size_for(id, 1));
  testutil::ThreadPool pool(2);
  const uint32_t id = testutil::test_kernels();
  const size_t need = m.arena_size_for(id, 2);
  std::vector<uint8_t> arena(need + 64);
  uint8_t* at = arena.data() + (64 - reinterpret_cast<uintptr_t>(arena.data()) % 64) % 64;
  caps_threading t = pool.threading();
  Interpreter it;
  CHECK(it.init(m, at, need, id, &t) == CAPS_OK);
  if (need > m.arena_size_for(id, 1)) CHECK(it.init(m, at, m.arena_size_for(id, 1), id, &t) == CAPS_ERR_ARENA_TOO_SMALL);
  t.max_threads = 0;
  CHECK(it.init(m, at, need, id, &t) == CAPS_ERR_BAD_ARGUMENT);
  t.max_threads = CAPS_MAX_THREADS + 1;
  CHECK(it.init(m, at, need, id, &t) == CAPS_ERR_BAD_ARGUMENT);
  // The C API.
  caps_interpreter ci;
  t.max_threads = 2;
  CHECK(caps_interpreter_init_threads(&ci, &cm, at, need, id, &t) == CAPS_OK);
  CHECK(caps_interpreter_init_threads(nullptr, &cm, at, need, id, &t) == CAPS_ERR_NULL_ARGUMENT);
  CHECK(caps_model_arena_size_threads(nullptr, id, 2) == 0);
}
