// Helpers shared by the tests: a tiny CapsNet, byte patching of model files.
#ifndef CAPSRT_TESTS_TEST_UTIL_HPP
#define CAPSRT_TESTS_TEST_UTIL_HPP

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <stdexcept>
#include <string>
#include <random>
#include <vector>

#include "capsnet.hpp"
#include "capsrt/capsrt.hpp"
#include "capsrt/ops.hpp"
#include "io.hpp"
#include "kernels_choice.hpp"

namespace testutil {

// The kernel set the test programs run their interpreters on: CAPSRT_KERNELS (a set's name),
// else the best this CPU runs. The library has no process-wide choice, so each test names it;
// catch_main.cpp refuses an unknown or unavailable name before any test runs.
inline uint32_t test_kernels() {
  static const uint32_t id = capsrt::tools::choose_kernels("");
  return id;
}

using capsrt::tools::CapsNetSpec;
using capsrt::tools::Weights;

// 1x12x12 input; conv1 4 x 3x3; primary 8 channels 3x3 stride 2 -> 8x4x4 -> 32 capsules of 4;
// 3 classes x 5D; decoder 15 -> 8 -> 144. Small enough to check against a naive forward.
inline CapsNetSpec tiny_spec() {
  CapsNetSpec s;
  s.name = "tiny";
  s.input_height = s.input_width = 12;
  s.stem = {capsrt::tools::conv_spec(4, 3, 1)};
  s.primary = capsrt::tools::conv_spec(8, 3, 2, false);
  s.primary_dim = 4;
  s.classes = 3;
  s.class_dim = 5;
  s.decoder_hidden = {8};
  s.class_names = {"cat", "dog", "bird"};
  return s;
}

// Deeper stems with padding, as tests/golden/make_checkpoints.py's tiny_cifar and tiny_norb: a
// CIFAR-10 kind (3x16x18, four convs: 'same' of stride 1 and of stride 2 (0 zero rows before, 1
// after), a 3x5 kernel without ReLU, one zero row on each side of the height only; PrimaryCaps
// 'same' of stride 2) and a smallNORB kind (2x20x20, a 5x5 'same' of stride 2, a valid 3x3).
inline CapsNetSpec cifar_kind_spec() {
  using capsrt::tools::conv_spec;
  CapsNetSpec s;
  s.name = "tiny_cifar";
  s.input_channels = 3;
  s.input_height = 16;
  s.input_width = 18;
  s.stem = {conv_spec(6, 3, 1), conv_spec(6, 3, 2), conv_spec(8, 3, 1, false), conv_spec(8, 2, 1)};
  capsrt::tools::set_same_padding(&s.stem[0], 16, 18);
  capsrt::tools::set_same_padding(&s.stem[1], 16, 18);
  s.stem[2].kernel_w = 5;
  s.stem[3].pad_h = 1;
  s.primary = conv_spec(8, 3, 2, false);
  capsrt::tools::set_same_padding(&s.primary, 7, 4);  // the stem's output
  s.primary_dim = 4;
  s.classes = 3;
  s.class_dim = 5;
  s.decoder_hidden = {8};
  return s;
}
inline CapsNetSpec norb_kind_spec() {
  using capsrt::tools::conv_spec;
  CapsNetSpec s;
  s.name = "tiny_norb";
  s.input_channels = 2;
  s.input_height = s.input_width = 20;
  s.stem = {conv_spec(8, 5, 2), conv_spec(8, 3, 1)};
  capsrt::tools::set_same_padding(&s.stem[0], 20, 20);
  s.primary = conv_spec(8, 3, 2, false);
  s.primary_dim = 4;
  s.classes = 5;
  s.class_dim = 4;
  s.decoder_hidden = {6};
  return s;
}

// Random weights with a transform matrix large enough that routing does real work.
inline Weights tiny_weights(const CapsNetSpec& s, uint64_t seed) {
  Weights w = capsrt::tools::capsnet_random_weights(s, seed);
  for (float& v : w["digitcaps.weight"].data) v *= 100.0f;
  return w;
}

// A model file in a 64-byte aligned buffer, with helpers to damage it field by field.
struct ModelBytes {
  capsrt::tools::AlignedBuffer buf;
  size_t size = 0;
  explicit ModelBytes(const std::vector<uint8_t>& bytes) : buf(bytes.size()), size(bytes.size()) {
    std::copy(bytes.begin(), bytes.end(), buf.data());
  }
  uint8_t* data() { return buf.data(); }
  const uint8_t* data() const { return buf.data(); }

  template <typename T>
  T get(size_t offset) const {
    T v;
    std::memcpy(&v, data() + offset, sizeof v);
    return v;
  }
  template <typename T>
  void set(size_t offset, const T& v) {
    std::memcpy(data() + offset, &v, sizeof v);
  }
  caps_file_header header() const { return get<caps_file_header>(0); }
  // Recomputes the checksum so that a test reaches the check it aims at.
  void fix_checksum() {
    caps_file_header h = header();
    // over the header's total size, as the format says, unless that field is itself damaged
    const size_t n = h.total_size <= size && h.total_size >= sizeof h ? h.total_size : size;
    h.checksum = capsrt::model_checksum(data(), n);
    set(0, h);
  }
  size_t tensor_offset(uint32_t id) const {
    return header().tensor_table_offset + id * sizeof(caps_tensor_entry);
  }
  size_t op_offset(uint32_t k) const { return header().op_table_offset + k * sizeof(caps_op_entry); }
  caps_tensor_entry tensor(uint32_t id) const { return get<caps_tensor_entry>(tensor_offset(id)); }
  caps_op_entry op(uint32_t k) const { return get<caps_op_entry>(op_offset(k)); }
  caps_model_attributes attrs() const { return get<caps_model_attributes>(header().attributes_offset); }
  void set_tensor(uint32_t id, const caps_tensor_entry& t) { set(tensor_offset(id), t); fix_checksum(); }
  void set_op(uint32_t k, const caps_op_entry& o) { set(op_offset(k), o); fix_checksum(); }
  void set_attrs(const caps_model_attributes& a) { set(header().attributes_offset, a); fix_checksum(); }
  void set_header(const caps_file_header& h) { set(0, h); fix_checksum(); }
  caps_status load(uint32_t flags = 0) const {
    capsrt::Model m;
    return m.load(data(), size, flags);
  }
};

// A folder of the source tree (tests/data/..., data/mnist) from CAPSRT_SOURCE_DIR, set by CTest.
inline std::string source_path(const std::string& relative) {
  const char* root = std::getenv("CAPSRT_SOURCE_DIR");
  if (root == nullptr) throw std::runtime_error("CAPSRT_SOURCE_DIR is not set (run the tests through ctest)");
  return std::string(root) + "/" + relative;
}

inline std::vector<uint8_t> read_binary(const std::string& path) {
  std::FILE* f = std::fopen(path.c_str(), "rb");
  if (f == nullptr) throw std::runtime_error("cannot open " + path);
  std::vector<uint8_t> out;
  uint8_t buf[1 << 16];
  size_t n;
  while ((n = std::fread(buf, 1, sizeof buf, f)) > 0) out.insert(out.end(), buf, buf + n);
  std::fclose(f);
  return out;
}

inline uint32_t find_tensor(const capsrt::Model& m, const char* name) {
  for (uint32_t id = 0; id < m.tensor_count(); ++id)
    if (std::strcmp(m.tensor_name(id), name) == 0) return id;
  return CAPS_NONE;
}

inline std::vector<float> random_floats(size_t n, uint32_t seed, float lo = -1.0f, float hi = 1.0f) {
  std::mt19937 rng(seed);
  std::uniform_real_distribution<float> d(lo, hi);
  std::vector<float> v(n);
  for (float& x : v) x = d(rng);
  return v;
}

// The decoder's image after it.reconstruct(c) (NULL when it failed): float for a float model,
// int8 (pixel - 128) for an int8 one, read through the tensor view.
template <typename T>
caps_status reconstruct(capsrt::Interpreter& it, int32_t c, const T** image) {
  const caps_status s = it.reconstruct(c);
  *image = it.output<T>(CAPS_TENSOR_RECONSTRUCTION);
  return s;
}
template <typename T, typename P>
caps_status reconstruct_pose(capsrt::Interpreter& it, uint32_t c, const P* pose, const T** image) {
  const caps_status s = it.reconstruct_pose(c, pose);
  *image = it.output<T>(CAPS_TENSOR_RECONSTRUCTION);
  return s;
}

}  // namespace testutil

#endif
