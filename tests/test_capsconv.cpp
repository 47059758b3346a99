// capsconv against PyTorch: every layout and file kind converts, and the runtime reproduces
// PyTorch's scores (1e-5), poses and reconstructions (1e-4). Golden data: tests/golden/
// make_checkpoints.py (small fixtures committed in tests/data/checkpoints, canonical-size ones
// made during the test run). Malformed and refused checkpoints get their specific errors.
#include <algorithm>
#include <catch2/catch.hpp>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <functional>
#include <iterator>
#include <nlohmann/json.hpp>
#include <random>

#include "convert.hpp"
#include "infer.hpp"
#include "keras.hpp"
#include "capsnet_int8.hpp"
#include "kernel_set.h"
#include "pickle.hpp"
#include "json_util.hpp"
#include "test_util.hpp"

using namespace capsrt;
using nlohmann::json;

namespace {

std::string env_dir(const char* var) {
  if (std::string(var) == "CAPSRT_CHECKPOINTS") return testutil::source_path("tests/data/checkpoints/");
  const char* v = std::getenv(var);
  REQUIRE(v != nullptr);  // set by CTest (tests/CMakeLists.txt)
  return std::string(v) + "/";
}

using testutil::read_json;

// Converts `file` with the golden set's architecture (or, with `inferred`, the one its shapes
// give) and checks every golden case; returns the number of values compared.
size_t check_against_pytorch(const std::string& dir, const json& golden, const std::string& file,
                             bool inferred = false) {
  INFO("checkpoint " << file << (inferred ? ", architecture inferred" : ""));
  const conv::Checkpoint ck = conv::read_checkpoint(dir + file);
  const conv::Architecture arch = inferred ? conv::infer_architecture(ck, conv::Layout::Auto, {}).arch
                                           : conv::architecture_from_json(golden["arch"].dump(), "golden arch");
  const conv::Conversion c = conv::convert(ck, arch, conv::Layout::Auto, 0);
  CHECK(conv::layout_name(c.layout) == golden["layout"].get<std::string>());
  testutil::ModelBytes mb(c.model);
  Model m;
  REQUIRE(m.load(mb.data(), mb.size) == CAPS_OK);
  CHECK(m.arena_size() == c.arena_size);
  tools::AlignedBuffer arena(m.arena_size());
  Interpreter it;
  REQUIRE(it.init(m, arena.data(), arena.size(), testutil::test_kernels()) == CAPS_OK);
  size_t compared = 0;
  for (const json& cs : golden["cases"]) {
    const std::vector<float> x = cs["input"].get<std::vector<float>>();
    REQUIRE(it.set_input(x.data(), x.size()) == CAPS_OK);
    REQUIRE(it.invoke() == CAPS_OK);
    const auto scores = cs["scores"].get<std::vector<double>>();
    const auto poses = cs["poses"].get<std::vector<double>>();
    const auto recon = cs["recon"].get<std::vector<double>>();
    REQUIRE(scores.size() == m.num_classes());
    REQUIRE(poses.size() == m.num_classes() * it.pose_dim());
    for (size_t j = 0; j < scores.size(); ++j) REQUIRE(it.output<float>(CAPS_TENSOR_SCORES)[j] == Approx(scores[j]).margin(1e-5));
    for (size_t k = 0; k < poses.size(); ++k) REQUIRE(it.output<float>(CAPS_TENSOR_POSES)[k] == Approx(poses[k]).margin(1e-4));
    const float* image = nullptr;
    REQUIRE(testutil::reconstruct(it, cs["mask"].get<int>(), &image) == CAPS_OK);
    REQUIRE(recon.size() == m.input_size());
    for (size_t k = 0; k < recon.size(); ++k) REQUIRE(image[k] == Approx(recon[k]).margin(1e-4));
    compared += scores.size() + poses.size() + recon.size();
  }
  return compared;
}

void check_golden_set(const std::string& dir, const std::string& stem) {
  const json golden = read_json(dir + stem + ".golden.json");
  REQUIRE(!golden["files"].empty());
  for (auto it = golden["files"].begin(); it != golden["files"].end(); ++it) {
    SECTION(stem + " as " + it.key()) { CHECK(check_against_pytorch(dir, golden, it.value()) > 0); }
  }
}

}  // namespace

TEST_CASE("tiny checkpoints of all three layouts in all three file kinds match PyTorch") {
  const std::string dir = env_dir("CAPSRT_CHECKPOINTS");
  for (const char* stem : {"tiny_xifengguo", "tiny_flat5d", "tiny_gram-ai"}) check_golden_set(dir, stem);
}

TEST_CASE("deeper stems with 'same' padding (a CIFAR-10 kind with RGB and four convs, a smallNORB kind with two channels) match PyTorch") {
  const std::string dir = env_dir("CAPSRT_CHECKPOINTS");
  for (const char* stem : {"tiny_cifar", "tiny_norb"}) check_golden_set(dir, stem);
  // 'same' with stride 2 on an even size pads one more row after the input than before it.
  const conv::Architecture a = conv::load_architecture(dir + "tiny_cifar_arch.json");
  REQUIRE(a.spec.stem.size() == 4);
  CHECK(a.spec.stem[1].pad_h == 0);
  CHECK(a.spec.stem[1].pad_h_extra == 1);
  CHECK(tools::stem_in_h(a.spec, 2) == 8);
  CHECK(tools::stem_in_w(a.spec, 2) == 9);
}

// A checkpoint of shapes only: what the architecture inference reads.
conv::Checkpoint shapes_only(const std::vector<std::pair<std::string, std::vector<int64_t>>>& tensors) {
  conv::Checkpoint ck;
  for (const auto& [name, shape] : tensors) {
    conv::RawTensor t;
    t.name = name;
    t.dtype = "float32";
    t.element_size = 4;
    t.shape = shape;
    ck.tensors.push_back(t);
  }
  return ck;
}

std::string infer_error(const conv::Checkpoint& ck, const conv::InputSize& in = {}) {
  try {
    conv::infer_architecture(ck, conv::Layout::Auto, in);
  } catch (const conv::ArchError& e) {
    return e.what();
  }
  return "";
}

TEST_CASE("without --arch the architecture comes from the tensor shapes, and converts as PyTorch runs it") {
  const std::string dir = env_dir("CAPSRT_CHECKPOINTS");
  // The tiny sets of the three layouts: every geometry field as the golden architecture says.
  for (const char* stem : {"tiny_xifengguo", "tiny_gram-ai"}) {
    const json golden = read_json(dir + stem + ".golden.json");
    const conv::Inferred got = conv::infer_architecture(conv::read_checkpoint(dir + stem + ".pt"), conv::Layout::Auto, {});
    const tools::CapsNetSpec want = conv::architecture_from_json(golden["arch"].dump(), "golden").spec;
    const tools::CapsNetSpec& s = got.arch.spec;
    CHECK(s.input_channels == want.input_channels);
    CHECK(s.input_height == want.input_height);
    CHECK(s.input_width == want.input_width);
    REQUIRE(s.stem.size() == 1);
    CHECK(s.stem[0].channels == want.stem[0].channels);
    CHECK(s.stem[0].kernel_h == want.stem[0].kernel_h);
    CHECK(s.stem[0].stride_h == want.stem[0].stride_h);
    CHECK(s.primary.channels == want.primary.channels);
    CHECK(s.primary.stride_h == want.primary.stride_h);
    CHECK(s.primary_dim == want.primary_dim);
    CHECK(s.classes == want.classes);
    CHECK(s.class_dim == want.class_dim);
    CHECK(s.decoder_hidden == want.decoder_hidden);
    CHECK(!got.assumptions.empty());  // the strides, the routings, the input size: said
    CHECK(check_against_pytorch(dir, golden, std::string(stem) + ".pt", true) > 0);
  }
  // flat5d keeps classes x dimensions as one axis: 15 is not ten classes, and the message says so.
  CHECK(infer_error(conv::read_checkpoint(dir + "tiny_flat5d.pt")).find("[1,32,15,4,1] holds classes x dimensions = 15") !=
        std::string::npos);
}

TEST_CASE("architecture inference: the input size without a decoder, strides, and shapes that disagree") {
  // Canonical shapes without a decoder: 27 and 28 rows both give 1,152 capsules; --input decides.
  std::vector<std::pair<std::string, std::vector<int64_t>>> canonical = {
      {"conv1.weight", {256, 1, 9, 9}}, {"conv1.bias", {256}}, {"primarycaps.conv2d.weight", {256, 256, 9, 9}},
      {"primarycaps.conv2d.bias", {256}}, {"digitcaps.weight", {10, 1152, 16, 8}}};
  const std::string ambiguous = infer_error(shapes_only(canonical));
  CHECK(ambiguous.find("square inputs of 27, 28 all do") != std::string::npos);
  CHECK(ambiguous.find("--input") != std::string::npos);
  const conv::Inferred given = conv::infer_architecture(shapes_only(canonical), conv::Layout::Auto, conv::parse_input_size("1x28x28"));
  CHECK(given.arch.spec.input_height == 28);
  CHECK(given.arch.spec.preprocess == CAPS_PREPROCESS_MNIST);
  CHECK(infer_error(shapes_only(canonical), conv::parse_input_size("3x28x28")).find("conv1.weight reads 1") != std::string::npos);
  CHECK_THROWS_AS(conv::parse_input_size("28x28"), conv::ArchError);
  CHECK_THROWS_AS(conv::parse_input_size("1x28x28x"), conv::ArchError);
  CHECK_THROWS_AS(conv::parse_input_size("0x28x28"), conv::ArchError);

  // A smallNORB-like stem (2x20x20, decoder of 800 values): only conv1 2, conv2 1, primary 2 gives 8 capsules.
  std::vector<std::pair<std::string, std::vector<int64_t>>> norb = {
      {"conv1.weight", {8, 2, 5, 5}}, {"conv2.weight", {8, 8, 3, 3}}, {"primarycaps.conv2d.weight", {8, 8, 3, 3}},
      {"digitcaps.weight", {5, 8, 4, 4}}, {"decoder.0.weight", {6, 20}}, {"decoder.2.weight", {800, 6}}};
  const conv::Inferred n = conv::infer_architecture(shapes_only(norb), conv::Layout::Auto, {});
  REQUIRE(n.arch.spec.stem.size() == 2);
  CHECK(n.arch.spec.input_channels == 2);
  CHECK(n.arch.spec.input_height == 20);
  CHECK(n.arch.spec.stem[0].stride_h == 2);
  CHECK(n.arch.spec.stem[1].stride_h == 1);
  CHECK(n.arch.spec.primary.stride_h == 2);
  CHECK(n.arch.spec.preprocess == CAPS_PREPROCESS_NONE);

  // Shapes that disagree: each message names both tensors.
  auto broken = norb;
  broken[1].second = {8, 6, 3, 3};  // conv2 reads 6 channels, conv1 makes 8
  CHECK(infer_error(shapes_only(broken)).find("conv2.weight [8,6,3,3] reads 6 channels, but conv1.weight [8,2,5,5] makes 8") !=
        std::string::npos);
  broken = norb;
  broken[3].second = {5, 8, 4, 3};  // 3D capsules from 8 channels
  CHECK(infer_error(shapes_only(broken)).find("not a whole number of the 3D capsules") != std::string::npos);
  broken = norb;
  broken[5].second = {800, 5};  // the decoder's second layer reads 5 of the first's 6
  CHECK(infer_error(shapes_only(broken)).find("decoder.2.weight [800,5] reads 5 values, but decoder.0.weight [6,20] make 6") !=
        std::string::npos);
  broken = norb;
  broken[3].second = {5, 9, 4, 4};  // 9 capsules: no stride of 1 or 2 per conv makes them
  CHECK(infer_error(shapes_only(broken)).find("no stride of 1 or 2 per conv makes 9") != std::string::npos);
  broken = norb;
  broken[5].second = {801, 6};  // not a square image of 2 channels
  CHECK(infer_error(shapes_only(broken)).find("not a square image of 2 channels") != std::string::npos);
  CHECK(infer_error(shapes_only({{"primarycaps.conv2d.weight", {8, 8, 3, 3}}, {"digitcaps.weight", {5, 8, 4, 4}}}))
            .find("no conv1.weight") != std::string::npos);
}

TEST_CASE("float16, bfloat16 and float64 weights are converted to float32") {
  const std::string dir = env_dir("CAPSRT_CHECKPOINTS");
  for (const char* stem : {"tiny_xifengguo_f16", "tiny_xifengguo_bf16", "tiny_xifengguo_f64"})
    check_golden_set(dir, stem);
}

TEST_CASE("training checkpoints: wrapper dict, module. prefix, optimizer state, GPU storages, views") {
  const std::string dir = env_dir("CAPSRT_CHECKPOINTS");
  for (const char* stem : {"tiny_wrapped", "tiny_cuda", "tiny_views"}) check_golden_set(dir, stem);
  const conv::Checkpoint ck = conv::read_checkpoint(dir + "tiny_wrapped.pt");
  using Notes = std::vector<std::string>;
  CHECK(ck.notes == Notes{"under 'state_dict'", "'module.' prefix removed"});
  CHECK(conv::read_checkpoint(dir + "tiny_cuda.pt").notes == Notes{"saved on cuda:0, read as CPU tensors"});
}

TEST_CASE("canonical-size checkpoints of all layouts and file kinds match PyTorch", "[canonical]") {
  const std::string dir = env_dir("CAPSRT_CANONICAL_CHECKPOINTS");
  for (const char* stem : {"canonical_xifengguo", "canonical_flat5d", "canonical_gram-ai"})
    check_golden_set(dir, stem);
}

TEST_CASE("malformed and refused checkpoints: a clear error each") {
  const std::string dir = env_dir("CAPSRT_CHECKPOINTS");
  const conv::Architecture tiny = conv::load_architecture(dir + "tiny_arch.json");
  struct Case {
    const char* file;
    const char* message;
  };
  const Case cases[] = {
      {"bad_truncated.pt", "not a readable zip archive"},
      {"bad_central_directory.pt", "not a readable zip archive"},
      {"bad_lying_size.pt", "zip entry tiny_xifengguo/data/0 claims 1144 bytes, more than the 144 it may hold"},
      {"bad_forbidden_global.pt", "refused pickle global 'os.system'"},
      {"bad_offset_past_storage.pt", "tensor conv1.weight: storage offset 4 and strides [9,9,3,1] reach element 39 of a storage of 36"},
      {"bad_stride_past_storage.pt", "strides [10,9,3,1] reach element 38 of a storage of 36"},
      {"bad_storage_too_short.pt", "should hold 36 elements of 4 bytes but has 100 bytes"},
      {"bad_unknown_dtype.pt", "tensor conv1.weight: unsupported dtype torch.ComplexFloatStorage"},
      {"bad_st_overlap.safetensors", "tensor b overlaps"},
      {"bad_st_out_of_range.safetensors", "data_offsets [0, 144] outside the 100-byte data buffer"},
      {"bad_st_wrong_length.safetensors", "span 140 bytes, its shape and dtype need 144"},
      {"bad_st_fp8.safetensors", "unsupported safetensors dtype F8_E4M3"},
      {"bad_st_json.safetensors", "header is not valid JSON"},
      {"bad_st_header_length.safetensors", "header length 1152921504606846976 is absurd"},
      {"refuse_whole_module.pt", "save model.state_dict() instead"},
      {"refuse_torchscript.pt", "TorchScript archive"},
  };
  for (const Case& c : cases) {
    INFO(c.file);
    std::string message;
    try {
      const conv::Checkpoint ck = conv::read_checkpoint(dir + c.file);
      try {
        conv::convert(ck, tiny, conv::Layout::Auto, 0);  // tensors are checked when used
      } catch (const conv::CheckpointError& e) {
        message = std::string(c.file) + ": " + e.what();  // as capsconv prints it
      }
    } catch (const conv::CheckpointError& e) {
      message = e.what();
      CHECK_THAT(message, Catch::Contains(dir + c.file));  // the reader names the path
    }
    CHECK_THAT(message, Catch::Contains(c.message));
  }
}

TEST_CASE("an architecture that does not match the tensors names the tensor and both shapes") {
  const std::string dir = env_dir("CAPSRT_CHECKPOINTS");
  const conv::Checkpoint ck = conv::read_checkpoint(dir + "tiny_xifengguo.pt");
  REQUIRE_THROWS_WITH(conv::convert(ck, conv::load_architecture("canonical"), conv::Layout::Auto, 0),
                      Catch::Contains("tensor conv1.weight: expected shape [256,1,9,9]") &&
                          Catch::Contains("found [4,1,3,3]"));
  // the layout forced to one the file is not in: the tensor the layout needs is missing
  REQUIRE_THROWS_WITH(conv::convert(ck, conv::load_architecture(dir + "tiny_arch.json"), conv::Layout::GramAI, 0),
                      Catch::Contains("missing tensor primary_capsules.capsules.0.weight (expected shape [2,4,3,3]"));
  REQUIRE_THROWS_WITH(conv::convert(ck, conv::load_architecture(dir + "tiny_arch.json"), conv::Layout::Flat5d, 0),
                      Catch::Contains("tensor digitcaps.weight: expected shape [1,32,15,4,1]") &&
                          Catch::Contains("found [3,32,5,4]"));
}

TEST_CASE("architecture files: unknown fields and bad values are refused") {
  auto bad = [](const std::string& text) {
    try {
      conv::architecture_from_json(text, "arch");
    } catch (const conv::ArchError& e) {
      return std::string(e.what());
    }
    return std::string();
  };
  const std::string base = R"("input":[1,28,28],"conv1":{"channels":256,"kernel":9},"primary":{"channels":256,"dim":8,"kernel":9,"stride":2},"classes":10,"class_dim":16)";
  CHECK(bad("{" + base + "}").empty());
  CHECK_THAT(bad("{" + base + R"(,"routing":3})"), Catch::Contains("unknown field \"routing\""));
  CHECK_THAT(bad("{" + base + R"(,"routings":0})"), Catch::Contains("\"routings\" must be an integer in [1, 32]"));
  CHECK_THAT(bad("{" + base + R"(,"grouping":"nhwc"})"), Catch::Contains("\"grouping\" must be one of"));
  CHECK_THAT(bad("{" + base + R"(,"class_names":["a"]})"), Catch::Contains("must list 10 names"));
  CHECK_THAT(bad(R"({"input":[1,5,5],"conv1":{"channels":4,"kernel":9},"primary":{"channels":8,"dim":4,"kernel":3},"classes":2,"class_dim":4})"),
             Catch::Contains("too small"));
  CHECK_THAT(bad("[1,2]"), Catch::Contains("not a JSON object"));
  CHECK_THAT(bad("{" + base + R"(,"preprocess":"digits"})"),
             Catch::Contains("\"preprocess\" must be one of: none, mnist, fashion-mnist"));
  CHECK_THAT(bad(R"({"input":[3,28,28],"conv1":{"channels":4,"kernel":9},"primary":{"channels":8,"dim":4,"kernel":9,"stride":2},"classes":2,"class_dim":4,"preprocess":"mnist"})"),
             Catch::Contains("takes 1-channel inputs"));
}

TEST_CASE("the photo preprocessing: mnist for the presets, the file's field, none without one, recorded in the model") {
  const std::string base = R"({"input":[1,28,28],"conv1":{"channels":256,"kernel":9},"primary":{"channels":256,"dim":8,"kernel":9,"stride":2},"classes":10,"class_dim":16)";
  CHECK(conv::load_architecture("canonical").spec.preprocess == CAPS_PREPROCESS_MNIST);
  CHECK(conv::load_architecture("small").spec.preprocess == CAPS_PREPROCESS_MNIST);
  CHECK(conv::architecture_from_json(base + "}", "arch").spec.preprocess == CAPS_PREPROCESS_NONE);
  CHECK(conv::architecture_from_json(base + R"(,"preprocess":"fashion-mnist"})", "arch").spec.preprocess ==
        CAPS_PREPROCESS_FASHION_MNIST);
  CHECK(conv::architecture_from_json(base + R"(,"preprocess":"mnist"})", "arch").spec.preprocess ==
        CAPS_PREPROCESS_MNIST);
  // the shipped Fashion-MNIST architecture says so, and the converted model records it
  CHECK(conv::load_architecture(testutil::source_path("tools/train/arch/small_fashion.json")).spec.preprocess ==
        CAPS_PREPROCESS_FASHION_MNIST);
  const std::string dir = env_dir("CAPSRT_CHECKPOINTS");
  json a = read_json(dir + "tiny_arch.json");
  a["preprocess"] = "fashion-mnist";
  const conv::Conversion c = conv::convert(conv::read_checkpoint(dir + "tiny_xifengguo.pt"),
                                           conv::architecture_from_json(a.dump(), "arch"), conv::Layout::Auto, 0);
  testutil::ModelBytes mb(c.model);
  Model m;
  REQUIRE(m.load(mb.data(), mb.size) == CAPS_OK);
  CHECK(m.header().version_minor >= 3);  // the field is new in 1.3; the writer writes the current minor
  CHECK(m.attributes().input_preprocess == CAPS_PREPROCESS_FASHION_MNIST);
}

TEST_CASE("the Keras variant attributes can be set from the architecture file") {
  const std::string dir = env_dir("CAPSRT_CHECKPOINTS");
  json a = read_json(dir + "tiny_arch.json");
  a["grouping"] = "nhwc_channels";
  a["squash_eps_mode"] = "in_sqrt";
  a["squash_eps"] = 1e-7;
  a["length_eps"] = 1e-7;
  const conv::Conversion c = conv::convert(conv::read_checkpoint(dir + "tiny_xifengguo.pt"),
                                           conv::architecture_from_json(a.dump(), "arch"), conv::Layout::Auto, 2);
  testutil::ModelBytes mb(c.model);
  Model m;
  REQUIRE(m.load(mb.data(), mb.size) == CAPS_OK);
  CHECK(m.attributes().capsule_grouping == CAPS_GROUPING_NHWC_CHANNELS);
  CHECK(m.attributes().squash_eps_mode == CAPS_SQUASH_EPS_IN_SQRT);
  CHECK(m.attributes().squash_eps == 1e-7f);
  CHECK(m.attributes().length_eps == 1e-7f);
  CHECK(m.attributes().routing_iterations == 2);  // --routings overrides
  CHECK(std::string(m.class_name(1)) == "dog");
}

TEST_CASE("random damage to checkpoints gives errors, never a crash (ASan/UBSan run this too)") {
  const std::string dir = env_dir("CAPSRT_CHECKPOINTS");
  const conv::Architecture tiny = conv::load_architecture(dir + "tiny_arch.json");
  std::mt19937 rng(99);
  int refused = 0, converted = 0;
  for (const char* file : {"tiny_xifengguo.legacy.pt", "tiny_gram-ai.safetensors", "tiny_wrapped.pt",
                           "tiny_flat5d.pt"}) {
    std::ifstream f(dir + file, std::ios::binary);
    const std::vector<uint8_t> good((std::istreambuf_iterator<char>(f)), std::istreambuf_iterator<char>());
    REQUIRE(good.size() > 1000);
    for (int trial = 0; trial < 400; ++trial) {
      auto bytes = std::make_shared<std::vector<uint8_t>>(good);
      // Damage concentrates on the structure: pickles and headers sit in the first ~2 KB
      // (legacy, safetensors) or at the end (a zip's central directory).
      const int flips = 1 + int(rng() % 3);
      for (int k = 0; k < flips; ++k) {
        const size_t region = rng() % 2 ? std::min<size_t>(bytes->size(), 2048) : bytes->size();
        (*bytes)[rng() % region] = static_cast<uint8_t>(rng());
      }
      if (rng() % 8 == 0) bytes->resize(rng() % bytes->size());
      try {
        const conv::Checkpoint ck = conv::read_checkpoint(bytes);
        conv::convert(ck, tiny, conv::Layout::Auto, 0);
        ++converted;
      } catch (const conv::CheckpointError&) {
        ++refused;
      } catch (const conv::ArchError&) {
        ++refused;
      }
    }
  }
  INFO("refused " << refused << ", converted " << converted);
  CHECK(refused > 800);
}

TEST_CASE("hostile checkpoints (fuzz regressions) are refused with their reason") {
  const std::string dir = testutil::source_path("tests/fuzz/regressions/");
  const struct {
    const char* file;
    const char* message;
  } cases[] = {
      {"torch_zip/zip-stated-size-fffffffe.pt", "claims 4294967294 bytes, more than the 268435456 it may hold"},
      {"torch_zip/zip-stated-size-200m.pt", "zip entry tiny_xifengguo/data.pkl: Zip archive inconsistent"},
      {"torch_zip/pickle-memo-chain-1m.pt", "a container modified after it was stored in another"},
      {"torch_zip/pickle-ordereddict-depth.pt", "objects nested too deeply"},
      {"torch_zip/pickle-ordereddict-quadratic.pt", "references in containers"},
      {"torch_legacy/pickle-memo-chain-4k.legacy.pt", "a container modified after it was stored in another"},
      {"torch_zip/zip-bomb-storage-100m.pt", "zip entry archive/data/0 claims 104857600 bytes, more than the 16 it may hold"},
      {"torch_zip/zip-bomb-storage-100m-stated-16.pt", "Zip archive inconsistent"},
  };
  for (const auto& c : cases) {
    INFO(c.file);
    CHECK_THROWS_WITH(conv::read_checkpoint(dir + c.file), Catch::Contains(c.message));
  }
  const auto self = testutil::read_binary(dir + "pickle/list-holds-itself.pkl");
  CHECK_THROWS_WITH(conv::unpickle(self.data(), self.size(), nullptr), Catch::Contains("a container that holds itself"));
}

TEST_CASE("pickle limits: depth, objects, and a deep tree is freed without deep recursion") {
  // 64 nested lists load, 65 do not
  auto nested = [](int n) {
    std::vector<uint8_t> p = {0x80, 0x02};
    for (int k = 0; k < n; ++k) p.push_back(']');
    for (int k = 0; k < n - 1; ++k) p.push_back('a');
    p.push_back('.');
    return p;
  };
  const auto ok = nested(65), deep = nested(66);  // the innermost list has depth 0
  CHECK(conv::unpickle(ok.data(), ok.size(), nullptr)->depth == 64);
  CHECK_THROWS_WITH(conv::unpickle(deep.data(), deep.size(), nullptr), Catch::Contains("nested too deeply"));
  // objects: a MARK, 2^19 + 1 Nones, a tuple
  std::vector<uint8_t> many = {0x80, 0x02, '('};
  many.insert(many.end(), (1u << 19) + 1, 'N');
  many.push_back('t');
  many.push_back('.');
  CHECK_THROWS_WITH(conv::unpickle(many.data(), many.size(), nullptr), Catch::Contains("objects"));
  // freeing: a chain a million lists long, built by hand (the unpickler would refuse it)
  conv::PyRef head = std::make_shared<conv::PyObj>();
  head->kind = conv::PyKind::List;
  conv::PyRef cur = head;
  for (int k = 0; k < 1000000; ++k) {
    auto next = std::make_shared<conv::PyObj>();
    next->kind = conv::PyKind::List;
    cur->items.push_back(next);
    cur = next;
  }
  cur.reset();
  head.reset();  // recursing a million destructors deep would overflow the stack
  SUCCEED("freed");
}

TEST_CASE("safetensors headers: nesting depth and value count are capped while parsing") {
  auto file = [](const std::string& header) {
    std::vector<uint8_t> b(8);
    const uint64_t n = header.size();
    std::memcpy(b.data(), &n, 8);
    b.insert(b.end(), header.begin(), header.end());
    return std::make_shared<const std::vector<uint8_t>>(b);
  };
  // the header object is level 0: arrays nested 8 deep in it are fine, 9 are not
  const std::string deep8 = "{\"__metadata__\":" + std::string(8, '[') + std::string(8, ']') + "}";
  const std::string deep9 = "{\"__metadata__\":" + std::string(9, '[') + std::string(9, ']') + "}";
  CHECK_NOTHROW(conv::read_safetensors(file(deep8)));
  CHECK_THROWS_WITH(conv::read_safetensors(file(deep9)), Catch::Contains("nested too deeply"));
  std::string many = "{\"__metadata__\":[";
  for (int k = 0; k < (1 << 20) + 1; ++k) many += k ? ",0" : "0";
  many += "]}";
  CHECK_THROWS_WITH(conv::read_safetensors(file(many)), Catch::Contains("more than 1048576 values"));
}

TEST_CASE("a layout row stacks its parts and permutes its axes: an HWIO kernel becomes OIHW") {
  // src[h][w][i][o] = 1000h + 100w + 10i + o, as Keras stores a conv kernel.
  const int H = 2, W = 3, Cin = 4, Cout = 5;
  std::vector<float> hwio;
  for (int h = 0; h < H; ++h)
    for (int w = 0; w < W; ++w)
      for (int i = 0; i < Cin; ++i)
        for (int o = 0; o < Cout; ++o) hwio.push_back(1000.0f * h + 100.0f * w + 10.0f * i + o);
  const conv::LayoutRow row{"conv1.weight", "kernel", {H, W, Cin, Cout}, {}, {3, 2, 0, 1}, 1};
  const std::vector<float> oihw = conv::apply_row(row, {hwio});
  REQUIRE(oihw.size() == hwio.size());
  size_t n = 0;
  for (int o = 0; o < Cout; ++o)
    for (int i = 0; i < Cin; ++i)
      for (int h = 0; h < H; ++h)
        for (int w = 0; w < W; ++w) CHECK(oihw[n++] == 1000.0f * h + 100.0f * w + 10.0f * i + o);
  // Two parts of [2] stacked, no permutation: concatenated in part order.
  const conv::LayoutRow bias{"b", "p.{k}.bias", {2}, {}, {}, 2};
  CHECK(conv::apply_row(bias, {{1, 2}, {3, 4}}) == std::vector<float>{1, 2, 3, 4});
}

TEST_CASE("a checkpoint of no known layout: the markers each layout looks for are named") {
  const std::string dir = env_dir("CAPSRT_CHECKPOINTS");
  conv::Checkpoint ck = conv::read_checkpoint(dir + "tiny_xifengguo.pt");
  for (conv::RawTensor& t : ck.tensors)
    if (t.name == "digitcaps.weight") t.name = "caps.W";
  REQUIRE_THROWS_WITH(conv::convert(ck, conv::load_architecture(dir + "tiny_arch.json"), conv::Layout::Auto, 0),
                      Catch::Contains("cannot detect the layout: none of digitcaps.weight of rank 4 (xifengguo)") &&
                          Catch::Contains("digit_capsules.route_weights (gram-ai)") &&
                          Catch::Contains("caps.W [3,32,5,4]") && Catch::Contains("name it with --layout"));
}

namespace {
// A full Keras model of tests/data/keras (tests/golden/make_keras.py) converted as capsconv does
// without --arch.
conv::Conversion convert_keras(const std::string& file) {
  const conv::Checkpoint ck = conv::read_checkpoint(testutil::source_path("tests/data/keras/" + file));
  REQUIRE(conv::is_keras_model(ck));
  const conv::KerasModel km = conv::keras_model(ck);
  CHECK(!km.assumptions.empty());
  return conv::convert(km.renamed, km.arch, conv::Layout::Keras, 0);
}
// Golden case pixels (height x width x channels) in the model's order (channels first).
std::vector<uint8_t> chw_pixels(const json& golden, const json& cs) {
  const auto hwc = cs["pixels_hwc"].get<std::vector<int>>();
  const int H = golden["input_hwc"][0], W = golden["input_hwc"][1], C = golden["input_hwc"][2];
  std::vector<uint8_t> out(hwc.size());
  for (int y = 0; y < H; ++y)
    for (int x = 0; x < W; ++x)
      for (int c = 0; c < C; ++c) out[(size_t(c) * H + y) * W + x] = static_cast<uint8_t>(hwc[(size_t(y) * W + x) * C + c]);
  return out;
}
}  // namespace

namespace {
// Runs a converted Keras model on its golden cases: scores (1e-5), poses (1e-4), and where the
// golden has it the decoder's image for the predicted class, Keras's [H, W, C] read as the
// runtime's [C, H, W] (1e-5). Returns the values compared.
size_t check_keras_golden(const conv::Conversion& c, const json& golden) {
  testutil::ModelBytes mb(c.model);
  Model m;
  REQUIRE(m.load(mb.data(), mb.size) == CAPS_OK);
  tools::AlignedBuffer arena(m.arena_size());
  Interpreter it;
  REQUIRE(it.init(m, arena.data(), arena.size(), testutil::test_kernels()) == CAPS_OK);
  const int H = golden["input_hwc"][0], W = golden["input_hwc"][1], C = golden["input_hwc"][2];
  size_t compared = 0;
  for (const json& cs : golden["cases"]) {
    const std::vector<uint8_t> px = chw_pixels(golden, cs);
    REQUIRE(it.set_input_u8(px.data(), px.size()) == CAPS_OK);
    REQUIRE(it.invoke() == CAPS_OK);
    const auto scores = cs["scores"].get<std::vector<double>>();
    const auto poses = cs["poses"].get<std::vector<double>>();
    REQUIRE(scores.size() == m.num_classes());
    for (size_t j = 0; j < scores.size(); ++j) CHECK(it.output<float>(CAPS_TENSOR_SCORES)[j] == Approx(scores[j]).margin(1e-5));
    for (size_t k = 0; k < poses.size(); ++k) CHECK(it.output<float>(CAPS_TENSOR_POSES)[k] == Approx(poses[k]).margin(1e-4));
    compared += scores.size() + poses.size();
    if (!cs.contains("reconstruction_hwc")) continue;
    const auto hwc = cs["reconstruction_hwc"].get<std::vector<double>>();
    const int32_t best = static_cast<int32_t>(std::max_element(scores.begin(), scores.end()) - scores.begin());
    const float* image = nullptr;
    REQUIRE(testutil::reconstruct(it, best, &image) == CAPS_OK);
    REQUIRE(hwc.size() == m.input_size());
    for (int y = 0; y < H; ++y)
      for (int x = 0; x < W; ++x)
        for (int ch = 0; ch < C; ++ch)
          CHECK(image[(size_t(ch) * H + y) * W + x] == Approx(hwc[(size_t(y) * W + x) * C + ch]).margin(1e-5));
    compared += hwc.size();
  }
  return compared;
}

bool mentions(const std::vector<std::string>& texts, const std::string& what) {
  return std::any_of(texts.begin(), texts.end(), [&](const std::string& t) { return t.find(what) != std::string::npos; });
}
}  // namespace

TEST_CASE("full Keras models of Q7-CapsNets' three kinds (MNIST, CIFAR-10 RGB with four convs, smallNORB pairs) convert without --arch and match the Keras layers' forward") {
  for (const char* kind : {"mnist", "cifar", "norb"}) {
    INFO(kind);
    const json golden = read_json(testutil::source_path(std::string("tests/data/keras/q7_") + kind + ".golden.json"));
    const conv::Conversion c = convert_keras(golden["file"].get<std::string>());
    CHECK(c.spec.grouping == CAPS_GROUPING_NHWC_CHANNELS);
    CHECK(c.spec.squash_eps == 0.0f);
    CHECK(check_keras_golden(c, golden) > 0);
  }
}

TEST_CASE("CapsNet-Keras full models (its training model with the label input, its evaluation model on RGB) convert with their Mask and decoder and match its layers' forward") {
  for (const char* kind : {"mnist", "rgb"}) {
    INFO(kind);
    const json golden = read_json(testutil::source_path(std::string("tests/data/keras/capsnet_keras_") + kind + ".golden.json"));
    const conv::Checkpoint ck = conv::read_checkpoint(testutil::source_path("tests/data/keras/" + golden["file"].get<std::string>()));
    const conv::KerasModel km = conv::keras_model(ck);
    CHECK(km.arch.spec.decoder_hidden == std::vector<uint32_t>{16, 24});
    CHECK(mentions(km.assumptions, "CapsNet-Keras's: squash"));
    CHECK(mentions(km.assumptions, "the Mask 'mask_1' takes the predicted class, not its label input 'input_2'") ==
          (std::string(kind) == "mnist"));
    const conv::Conversion c = conv::convert(km.renamed, km.arch, conv::Layout::Keras, 0);
    CHECK(c.spec.squash_eps == 1e-7f);
    CHECK(c.spec.length_eps == 1e-7f);
    CHECK(check_keras_golden(c, golden) > 0);
  }
}

TEST_CASE("a CapsNet-Keras weights-only file (save_weights) converts with its architecture given, its weights found by rank") {
  const json golden = read_json(testutil::source_path("tests/data/keras/capsnet_keras_mnist.golden.json"));
  const conv::Checkpoint ck = conv::read_checkpoint(testutil::source_path("tests/data/keras/capsnet_keras_weights.h5"));
  REQUIRE_FALSE(conv::is_keras_model(ck));
  const conv::KerasWeights kw = conv::keras_weights_only(ck);
  CHECK(kw.taken == std::vector<std::string>{"conv1/conv1/kernel:0 -> stem conv 1",
                                             "primarycap_conv2d/primarycap_conv2d/kernel:0 -> the primary capsules' conv",
                                             "digitcaps/digitcaps/W:0 -> the class capsules' transform [J, I, DO, DI]",
                                             "decoder/dense_1/kernel:0 -> decoder layer 1", "decoder/dense_2/kernel:0 -> decoder layer 2",
                                             "decoder/dense_3/kernel:0 -> decoder layer 3"});
  const conv::Architecture a = conv::load_architecture(testutil::source_path("tests/data/keras/capsnet_keras_weights.arch.json"));
  CHECK(check_keras_golden(conv::convert(kw.renamed, a, conv::Layout::Keras, 0), golden) > 0);
  // An architecture that disagrees: the tensor and both shapes named.
  conv::Architecture wrong = a;
  wrong.spec.class_dim = 8;
  CHECK_THROWS_WITH(conv::convert(kw.renamed, wrong, conv::Layout::Keras, 0),
                    Catch::Contains("keras.caps.W") && Catch::Contains("[10,72,8,8]") && Catch::Contains("[10,72,6,8]"));
}

TEST_CASE("the Keras CIFAR-10 and smallNORB kinds and CapsNet-Keras's RGB model in int8 give the same bits on every kernel set", "[int8]") {
  for (const char* file : {"q7_cifar", "q7_norb", "capsnet_keras_rgb"}) {
    INFO(file);
    const json golden = read_json(testutil::source_path(std::string("tests/data/keras/") + file + ".golden.json"));
    const conv::Conversion c = convert_keras(golden["file"].get<std::string>());
    std::vector<uint8_t> calib;
    for (const json& cs : golden["cases"]) {
      const std::vector<uint8_t> px = chw_pixels(golden, cs);
      calib.insert(calib.end(), px.begin(), px.end());
    }
    const std::vector<uint8_t> bytes = tools::build_capsnet_int8(
        c.spec, c.weights, tools::calibrate_capsnet(c.spec, c.weights, calib.data(), static_cast<uint32_t>(golden["cases"].size())));
    testutil::ModelBytes mb(bytes);
    Model m;
    REQUIRE(m.load(mb.data(), mb.size) == CAPS_OK);
    const size_t n = m.input_size();
    std::vector<int32_t> want;
    for (uint32_t id = CAPS_KERNELS_REFERENCE; id < CAPS_KERNELS_COUNT; ++id) {
      if (!kernels::kernel_set_runnable(id)) continue;
      INFO(caps_kernels_name(id));
      tools::AlignedBuffer arena(m.arena_size_for(id));
      Interpreter it;
      REQUIRE(it.init(m, arena.data(), arena.size(), id) == CAPS_OK);
      std::vector<int32_t> got;
      for (size_t k = 0; k * n < calib.size(); ++k) {
        REQUIRE(it.set_input_u8(calib.data() + k * n, n) == CAPS_OK);
        REQUIRE(it.invoke() == CAPS_OK);
        const int32_t* s = it.output<int32_t>(CAPS_TENSOR_SCORES);
        got.insert(got.end(), s, s + m.num_classes());
      }
      if (want.empty()) want = got;
      CHECK(got == want);
      CHECK(*std::max_element(got.begin(), got.end()) > 0);
    }
  }
}

TEST_CASE("malformed Keras files (tests/data/keras/bad, made by make_keras.py) are refused with their reason, never a crash") {
  const std::string dir = testutil::source_path("tests/data/keras/bad/");
  // What the file reader says (CheckpointError): types, sizes, missing parts.
  const struct {
    const char* file;
    const char* message;
  } unreadable[] = {
      {"int_kernel", "the weight conv2d/kernel:0 is not floating point"},
      {"string_kernel", "the weight conv2d/kernel:0 is not floating point"},
      {"huge_kernel", "the weight conv2d/kernel:0 has more than 2^28 elements"},
      {"rank9_kernel", "the weight conv2d/kernel:0 has rank 9"},
      {"missing_kernel", "the weight conv2d/kernel:0 is listed but not in the file"},
      {"int_weight_names", "the attribute weight_names of layer conv2d is not a string"},
      {"no_layer_names", "no layer_names attribute on model_weights"},
      {"layer_without_group", "the layer activation is listed but has no group"},
      {"int_model_config", "the attribute model_config of the file is not a string"},
      {"weight_name_escapes", "the weight ../capsule/capsule/weights:0 of layer conv2d is listed but not in the file"},
  };
  for (const auto& c : unreadable) {
    INFO(c.file);
    CHECK_THROWS_WITH(conv::read_checkpoint(dir + c.file + ".h5"), Catch::Contains(c.message));
  }
  // What the conversion says (ArchError): the config against itself and against the weights.
  const struct {
    const char* file;
    std::vector<const char*> message;
  } refused[] = {
      {"config_not_json", {"Keras model_config: not valid JSON"}},
      {"filters_absurd", {"layer 'conv2d' (Conv2D): \"filters\" must be an integer in [1, 65536], not 1099511627776"}},
      {"routings_absurd", {"layer 'capsule' (Capsule): \"routings\" must be an integer in [1, 32], not 1000"}},
      {"input_absurd", {"layer 'input_1' (InputLayer): input dimensions must be in [1, 4096]"}},
      {"filters_disagree", {"tensor keras.conv1.kernel (conv2d/conv2d/kernel:0 in the file): expected shape [3,3,1,17]", "found [3,3,1,4]"}},
      {"capsules_disagree", {"tensor keras.caps.W (capsule/capsule/weights:0 in the file): expected shape [3,32,4,4]", "found [3,31,4,4]"}},
      // a 30x28 input: conv 28x26, primary capsules at 13 x 12 positions x 2 types = 312, not the weights' 32
      {"input_disagrees", {"tensor keras.caps.W (capsule/capsule/weights:0 in the file): expected shape [3,312,4,4]", "found [3,32,4,4]"}},
  };
  for (const auto& c : refused) {
    INFO(c.file);
    const conv::Checkpoint ck = conv::read_checkpoint(dir + c.file + ".h5");
    try {
      const conv::KerasModel km = conv::keras_model(ck);
      conv::convert(km.renamed, km.arch, conv::Layout::Keras, 0);
      FAIL("converted");
    } catch (const conv::ArchError& e) {
      for (const char* m : c.message) CHECK_THAT(e.what(), Catch::Contains(m));
    }
  }
  // Truncated anywhere: libhdf5 (in its child process) fails, and the reader says so.
  const auto whole = testutil::read_binary(testutil::source_path("tests/data/keras/capsnet_keras_rgb.h5"));
  for (size_t cut : {size_t{8}, size_t{96}, size_t{2048}, whole.size() / 2, whole.size() - 1}) {
    INFO("cut at " << cut);
    auto bytes = std::make_shared<std::vector<uint8_t>>(whole.begin(), whole.begin() + static_cast<std::ptrdiff_t>(cut));
    CHECK_THROWS_WITH(conv::read_keras_h5(bytes), Catch::Contains("Keras HDF5 file: "));
  }
  // Cut within HDF5's 8-byte signature: no reader takes it, and the error says what it looks like.
  auto stub = std::make_shared<std::vector<uint8_t>>(whole.begin(), whole.begin() + 5);
  CHECK_THROWS_WITH(conv::read_checkpoint(stub), Catch::Contains("a damaged HDF5 file"));
}

TEST_CASE("Keras models capsconv cannot convert are refused with the layer, its class and the attribute named") {
  auto refusal_in = [](const std::string& file, const std::function<void(json&)>& edit) {
    conv::Checkpoint ck = conv::read_checkpoint(testutil::source_path("tests/data/keras/" + file));
    json m = json::parse(ck.model_config);
    edit(m);
    ck.model_config = m.dump();
    try {
      conv::keras_model(ck);
    } catch (const conv::ArchError& e) {
      return std::string(e.what());
    }
    return std::string();
  };
  auto refusal = [&](const std::function<void(json&)>& edit) { return refusal_in("q7_cifar.h5", edit); };
  json& (*layer)(json&, size_t) = [](json& m, size_t k) -> json& { return m["config"]["layers"][k]; };
  CHECK_THAT(refusal([&](json& m) { layer(m, 1)["class_name"] = "SeparableConv2D"; }),
             Catch::Contains("layer 'conv2d' (SeparableConv2D): not a layer capsconv knows"));
  CHECK_THAT(refusal([&](json& m) { layer(m, 1)["config"]["dilation_rate"] = {2, 2}; }),
             Catch::Contains("layer 'conv2d' (Conv2D): a dilated convolution"));
  CHECK_THAT(refusal([&](json& m) { layer(m, 1)["config"]["data_format"] = "channels_first"; }),
             Catch::Contains("data_format 'channels_first'"));
  CHECK_THAT(refusal([&](json& m) { layer(m, 1)["config"]["activation"] = "tanh"; }),
             Catch::Contains("activation 'tanh'"));
  CHECK_THAT(refusal([&](json& m) { layer(m, 3)["inbound_nodes"] = json::parse(R"([[["input_1", 0, 0, {}]]])"); }),
             Catch::Contains("its input is not the layer before it ('activation')"));
  CHECK_THAT(refusal([&](json& m) { layer(m, 0)["config"]["batch_input_shape"] = json::parse("[null, null, null, 3]"); }),
             Catch::Contains("input dimensions must be known"));
  CHECK_THAT(refusal([&](json& m) { m["class_name"] = "Subclassed"; }), Catch::Contains("a model of class 'Subclassed'"));
  // the capsule layers' code is not in the file: an attribute it does not know is refused
  CHECK_THAT(refusal([&](json& m) { layer(m, 10)["config"]["share_weights"] = true; }),
             Catch::Contains("layer 'capsule' (Capsule): attribute \"share_weights\" (true), which capsconv does not know "
                             "for this layer (it knows num_capsule, dim_capsule, routings)"));
  CHECK(refusal([&](json& m) { layer(m, 10)["config"]["kernel_initializer"] = "glorot_uniform"; }).empty());
  CHECK_THAT(refusal([&](json& m) { layer(m, 11)["config"]["axis"] = 1; }),
             Catch::Contains("layer 'length' (Length): attribute \"axis\" (1), which capsconv does not know for this layer"));
  CHECK_THAT(refusal([&](json& m) { m["config"]["layers"].erase(m["config"]["layers"].size() - 1); }),
             Catch::Contains("no class capsules followed by Length"));
  // CapsNet-Keras's heads: the Mask and the decoder (layers 0-5 the classifier, 6 input_2,
  // 7 mask_1, 8 capsnet, 9 the decoder with its Dense layers 0-2 and Reshape 3)
  auto decoder = [](json& m, size_t k) -> json& { return m["config"]["layers"][9]["config"]["layers"][k]; };
  CHECK_THAT(refusal_in("capsnet_keras_mnist.h5", [&](json& m) { decoder(m, 1)["config"]["activation"] = "tanh"; }),
             Catch::Contains("layer 'dense_2' (Dense): activation 'tanh' in the decoder"));
  CHECK_THAT(refusal_in("capsnet_keras_mnist.h5", [&](json& m) { decoder(m, 2)["config"]["units"] = 700; }),
             Catch::Contains("the decoder's sigmoid output has 700 values, but the input image has 28 x 28 x 1 = 784"));
  CHECK_THAT(refusal_in("capsnet_keras_mnist.h5", [&](json& m) { decoder(m, 3)["config"]["target_shape"] = {784}; }),
             Catch::Contains("a Reshape to [784], not the input image's [28,28,1]"));
  CHECK_THAT(refusal_in("capsnet_keras_mnist.h5", [&](json& m) { decoder(m, 0)["class_name"] = "BatchNormalization"; }),
             Catch::Contains("layer 'dense_1' (BatchNormalization): not a decoder layer capsconv knows"));
  CHECK_THAT(refusal_in("capsnet_keras_mnist.h5", [&](json& m) { decoder(m, 0)["config"]["batch_input_shape"] = {nullptr, 50}; }),
             Catch::Contains("the decoder reads 50 values, but the masked class capsules are 10 x 6"));
  CHECK_THAT(refusal_in("capsnet_keras_mnist.h5",
                        [&](json& m) { layer(m, 7)["inbound_nodes"][0][1][0] = "conv1"; }),
             Catch::Contains("a Mask whose second input 'conv1' is not a model input"));
  CHECK_THAT(refusal_in("capsnet_keras_mnist.h5", [&](json& m) { decoder(m, 2)["config"]["activation"] = "relu"; }),
             Catch::Contains("layer 'out_recon' (Reshape): a Reshape before the decoder's sigmoid output layer"));
  CHECK_THAT(refusal_in("capsnet_keras_mnist.h5",
                        [&](json& m) {
                          decoder(m, 2)["config"]["activation"] = "relu";
                          m["config"]["layers"][9]["config"]["layers"].erase(3);
                        }),
             Catch::Contains("the decoder ends without its sigmoid output layer (Dense of 784 units)"));
}

TEST_CASE("a CapsNet-Keras decoder written as the model's own layers converts as the nested one") {
  const conv::Checkpoint ck = conv::read_checkpoint(testutil::source_path("tests/data/keras/capsnet_keras_rgb.h5"));
  json m = json::parse(ck.model_config);
  json& layers = m["config"]["layers"];
  // The nested Sequential 'decoder' (InputLayer, three Dense, Reshape) becomes four layers of the
  // model, each reading the one before, the first the Mask; its weights move to their own groups.
  size_t at = 0;
  while (layers[at]["class_name"] != "Sequential") ++at;
  const json inner = layers[at]["config"]["layers"];
  layers.erase(at);
  std::string prev = "mask_1";
  json flat = json::array();
  for (size_t k = 1; k < inner.size(); ++k) {
    json l = inner[k];
    const std::string name = l["config"]["name"];
    l["name"] = name;
    l["inbound_nodes"] = json::array({json::array({json::array({prev, 0, 0, json::object()})})});
    flat.push_back(l);
    prev = name;
  }
  layers.insert(layers.begin() + static_cast<std::ptrdiff_t>(at), flat.begin(), flat.end());
  conv::Checkpoint moved = ck;
  moved.model_config = m.dump();
  for (conv::RawTensor& t : moved.tensors)
    if (t.name.rfind("decoder/", 0) == 0) {
      const std::string rest = t.name.substr(8), layer = rest.substr(0, rest.find('/'));
      t.name = layer + "/" + rest;
    }
  const conv::KerasModel a = conv::keras_model(ck), b = conv::keras_model(moved);
  CHECK(b.arch.spec.decoder_hidden == a.arch.spec.decoder_hidden);
  CHECK(conv::convert(b.renamed, b.arch, conv::Layout::Keras, 0).model == conv::convert(a.renamed, a.arch, conv::Layout::Keras, 0).model);
}

TEST_CASE("a Keras Sequential model (no InputLayer: the first layer's batch_input_shape) converts as its Functional twin") {
  const conv::Checkpoint ck = conv::read_checkpoint(testutil::source_path("tests/data/keras/q7_cifar.h5"));
  json m = json::parse(ck.model_config);
  json& layers = m["config"]["layers"];
  const json input_shape = layers[0]["config"]["batch_input_shape"];
  layers.erase(0);
  layers[0]["config"]["batch_input_shape"] = input_shape;
  for (json& l : layers) l.erase("inbound_nodes");
  m["class_name"] = "Sequential";
  conv::Checkpoint seq = ck;
  seq.model_config = m.dump();
  const conv::KerasModel a = conv::keras_model(ck), b = conv::keras_model(seq);
  CHECK(b.arch.spec.stem.size() == 4);
  CHECK(conv::convert(b.renamed, b.arch, conv::Layout::Keras, 0).model == conv::convert(a.renamed, a.arch, conv::Layout::Keras, 0).model);
}
