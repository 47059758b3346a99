// The tools' input readers: image files in each format and the model-input rule, IDX datasets
// raw and gzipped, and the errors for corrupt or unreadable files.
#include <zlib.h>

#include <catch2/catch.hpp>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <stdexcept>
#include <system_error>
#include <fstream>

#include "idx.hpp"
#include "npy.hpp"
#include "image.hpp"
#include "preprocess.hpp"
#include "io.hpp"
#include "test_util.hpp"

using namespace capsrt::tools;

namespace {

std::string fixture(const std::string& name) { return testutil::source_path("tests/data/images/" + name); }

// A directory of this process's own under the system's temporary directory (TMPDIR), removed
// at exit: the tests never write into the directory they run in.
class TempDir {
 public:
  TempDir() {
    std::string tmpl = (std::filesystem::temp_directory_path() / "capsrt_test_XXXXXX").string();
    if (mkdtemp(tmpl.data()) == nullptr) throw std::runtime_error("mkdtemp failed: " + tmpl);
    path_ = tmpl;
  }
  ~TempDir() {
    std::error_code ec;
    std::filesystem::remove_all(path_, ec);
  }
  const std::string& path() const { return path_; }

 private:
  std::string path_;
};

std::string temp_path(const std::string& name) {
  static const TempDir dir;
  return dir.path() + "/" + name;
}

void write_bytes(const std::string& path, const std::vector<uint8_t>& b) {
  std::ofstream f(path, std::ios::binary);
  f.write(reinterpret_cast<const char*>(b.data()), static_cast<std::streamsize>(b.size()));
}

std::string error_of(const std::function<void()>& f) {
  try {
    f();
  } catch (const IoError& e) {
    return e.what();
  }
  return "";
}

// MNIST test image k straight from the IDX file (28x28, the reference for the fixtures).
std::vector<uint8_t> mnist_image(size_t k) {
  const IdxImages ds = read_idx_images(testutil::source_path("data/mnist/t10k-images-idx3-ubyte"));
  REQUIRE(ds.count == 10000);
  return std::vector<uint8_t>(ds.pixels.begin() + static_cast<long>(k * 784),
                              ds.pixels.begin() + static_cast<long>((k + 1) * 784));
}

}  // namespace

TEST_CASE("PNG, BMP and PGM load bit-exact, JPEG close, 28x28 inputs pass through the rule unchanged") {
  const struct {
    const char* file;
    size_t index;
    int max_error;
  } cases[] = {{"mnist_0_label7.png", 0, 0}, {"mnist_1_label2.bmp", 1, 0}, {"mnist_2_label1.pgm", 2, 0},
               {"mnist_3_label0.jpg", 3, 48}};
  for (const auto& c : cases) {
    INFO(c.file);
    const Image img = load_image(fixture(c.file), 1);
    REQUIRE(img.width == 28);
    REQUIRE(img.height == 28);
    bool inverted = true;
    const auto x = to_model_input(img, 1, 28, 28, Invert::Auto, &inverted);
    CHECK_FALSE(inverted);  // light digit on a dark background, as MNIST
    const auto want = mnist_image(c.index);
    int worst = 0;
    long total = 0;
    for (size_t k = 0; k < 784; ++k) {
      worst = std::max(worst, std::abs(int(x[k]) - int(want[k])));
      total += std::abs(int(x[k]) - int(want[k]));
    }
    CHECK(worst <= c.max_error);
    CHECK(total / 784.0 < 3.0);  // JPEG: small mean error
  }
}

TEST_CASE("a dark-on-light photo is inverted and fitted, keeping its aspect ratio, centred") {
  const Image img = load_image(fixture("photo_label4.jpg"), 1);
  REQUIRE(img.width == 90);
  REQUIRE(img.height == 120);
  bool inverted = false;
  const auto x = to_model_input(img, 1, 28, 28, Invert::Auto, &inverted);
  CHECK(inverted);
  // 90x120 scaled by 28/120 is 21 wide: columns 0..2 and 25..27 are canvas (black)
  for (int y = 0; y < 28; ++y)
    for (int c : {0, 1, 2, 25, 26, 27}) REQUIRE(x[size_t(y) * 28 + c] == 0);
  // the ink is bright after inversion: some pixel well above the paper's level
  CHECK(*std::max_element(x.begin(), x.end()) > 150);
  // forcing no inversion keeps the light paper light
  const auto y = to_model_input(img, 1, 28, 28, Invert::No, &inverted);
  CHECK_FALSE(inverted);
  CHECK(y[14 * 28 + 5] > 150);
}

TEST_CASE("the fit rule worked by hand: a 4x2 white image into 2x2") {
  Image img;
  img.width = 4;
  img.height = 2;
  img.channels = 1;
  img.pixels.assign(8, 255);
  // scale 1/2: the image becomes 2x1, centred vertically: each output row is half image, half canvas
  const auto x = to_model_input(img, 1, 2, 2, Invert::No, nullptr);
  for (uint8_t v : x) CHECK(v == 128);
  // the same image 4x4 into 2x2: plain 2x2 averaging
  img.height = 4;
  img.pixels = {0, 0, 255, 255, 0, 0, 255, 255, 255, 255, 0, 0, 255, 255, 0, 0};
  const auto z = to_model_input(img, 1, 2, 2, Invert::No, nullptr);
  CHECK(z == std::vector<uint8_t>{0, 255, 255, 0});
  const auto inv = to_model_input(img, 1, 2, 2, Invert::Yes, nullptr);
  CHECK(inv == std::vector<uint8_t>{255, 0, 0, 255});
}

TEST_CASE("corrupt, empty, missing and non-image files give clear errors") {
  const auto png = testutil::read_binary(fixture("mnist_0_label7.png"));
  write_bytes(temp_path("truncated.png"), std::vector<uint8_t>(png.begin(), png.begin() + 60));
  // (cut inside its IDAT chunk: refused from the chunk table, before stb decodes anything)
  CHECK_THAT(error_of([] { load_image(temp_path("truncated.png"), 1); }),
             Catch::Contains("truncated.png") && Catch::Contains("truncated PNG"));
  write_bytes(temp_path("empty.png"), {});
  CHECK_THAT(error_of([] { load_image(temp_path("empty.png"), 1); }), Catch::Contains("empty file"));
  write_bytes(temp_path("text.jpg"), {'h', 'e', 'l', 'l', 'o', '\n'});
  CHECK_THAT(error_of([] { load_image(temp_path("text.jpg"), 1); }), Catch::Contains("not a readable PNG, JPEG"));
  CHECK_THAT(error_of([] { load_image("/nonexistent/x.png", 1); }), Catch::Contains("cannot open /nonexistent/x.png"));
  CHECK_THAT(error_of([] { load_image(fixture("mnist_0_label7.png"), 2); }), Catch::Contains("2 input channels"));
}

TEST_CASE("IDX images and labels, raw and gzipped, malformed files refused") {
  std::vector<uint8_t> idx = {0, 0, 8, 3, 0, 0, 0, 2, 0, 0, 0, 2, 0, 0, 0, 3};
  for (int k = 0; k < 12; ++k) idx.push_back(uint8_t(k * 20));
  write_bytes(temp_path("images.idx"), idx);
  gzFile gz = gzopen(temp_path("images.idx.gz").c_str(), "wb");
  gzwrite(gz, idx.data(), unsigned(idx.size()));
  gzclose(gz);
  for (const std::string& p : {temp_path("images.idx"), temp_path("images.idx.gz")}) {
    const IdxImages ds = read_idx_images(p);
    CHECK(ds.count == 2);
    CHECK(ds.rows == 2);
    CHECK(ds.cols == 3);
    CHECK(ds.pixels[11] == 220);
  }
  write_bytes(temp_path("labels.idx"), {0, 0, 8, 1, 0, 0, 0, 3, 7, 2, 1});
  CHECK(read_idx_labels(temp_path("labels.idx")) == std::vector<uint8_t>{7, 2, 1});

  auto damaged = idx;
  damaged.pop_back();
  write_bytes(temp_path("short.idx"), damaged);
  CHECK_THAT(error_of([] { read_idx_images(temp_path("short.idx")); }),
             Catch::Contains("holds 11 bytes of pixels, the header says 12"));
  write_bytes(temp_path("magic.idx"), {0, 0, 8, 1, 0, 0, 0, 0});
  CHECK_THAT(error_of([] { read_idx_images(temp_path("magic.idx")); }), Catch::Contains("not an IDX image file"));
  CHECK_THAT(error_of([] { read_idx_labels(temp_path("images.idx")); }), Catch::Contains("not an IDX label file"));
  auto gzb = testutil::read_binary(temp_path("images.idx.gz"));
  gzb.resize(gzb.size() - 12);  // cut the gzip stream
  write_bytes(temp_path("cut.idx.gz"), gzb);
  CHECK_FALSE(error_of([] { read_idx_images(temp_path("cut.idx.gz")); }).empty());
  CHECK_THAT(error_of([] { read_idx_images("/nonexistent.idx"); }), Catch::Contains("cannot open"));
}

TEST_CASE("hostile images and datasets (fuzz regressions) are refused from their headers") {
  const std::string dir = testutil::source_path("tests/fuzz/regressions/");
  CHECK_THAT(error_of([&] { load_image(dir + "image/png-16bit-rgb-7000x7000.png", 1); }),
             Catch::Contains("a 7000x7000 image of 3 channels of 16 bits is more than capsrun decodes"));
  CHECK_THAT(error_of([&] { load_image(dir + "image/png-16bit-rgba-8192x8192.png", 3); }),
             Catch::Contains("more than capsrun decodes"));
  CHECK_THAT(error_of([&] { load_image(dir + "image/radiance-hdr-17000x17000.hdr", 1); }),
             Catch::Contains("not a readable PNG, JPEG, BMP or PGM/PPM image"));
  const std::string idx = dir + "idx/gzip-claims-2g-images.idx.gz";
  CHECK_THAT(error_of([&] { read_idx_images(idx); }), Catch::Contains("are more than 2048 MiB: read fewer"));
  const IdxImages one = read_idx_images(idx, 0, 1);  // capsrun --limit 1 reads one image
  CHECK(one.count == 0x7FFFFFFFu);
  CHECK(one.loaded == 1);
  CHECK(one.pixels.size() == 784);
  CHECK_THAT(error_of([&] { read_idx_labels(dir + "idx/gzip-labels-claim-4g.idx.gz"); }),
             Catch::Contains("holds 16777216 labels, the header says 4294967295"));
}

TEST_CASE("IDX images read from an offset, and a file longer than its header says") {
  std::vector<uint8_t> idx = {0, 0, 8, 3, 0, 0, 0, 3, 0, 0, 0, 1, 0, 0, 0, 2};
  for (int k = 0; k < 6; ++k) idx.push_back(uint8_t(k + 1));
  write_bytes(temp_path("three.idx"), idx);
  const IdxImages mid = read_idx_images(temp_path("three.idx"), 1, 1);
  CHECK(mid.first == 1);
  CHECK(mid.loaded == 1);
  CHECK(mid.pixels == std::vector<uint8_t>{3, 4});
  CHECK(read_idx_images(temp_path("three.idx"), 2, 0).pixels == std::vector<uint8_t>{5, 6});
  CHECK_THAT(error_of([] { read_idx_images(temp_path("three.idx"), 4, 0); }), Catch::Contains("image 4 asked for, the file has 3"));
  idx.push_back(7);
  write_bytes(temp_path("long.idx"), idx);
  CHECK_THAT(error_of([] { read_idx_images(temp_path("long.idx")); }),
             Catch::Contains("holds more than the 6 bytes of pixels the header says"));
}

TEST_CASE("image bytes that trip stb 2.27's known defects are refused before stb decodes them") {
  auto error_for = [](const std::string& bytes) {
    return error_of([&] { decode_image(reinterpret_cast<const uint8_t*>(bytes.data()), bytes.size(), "x", 1); });
  };
  // 16-bit PGM asked for as another channel count: CVE-2021-42716
  CHECK_THAT(error_for(std::string("P5\n2 2\n65535\n") + std::string(8, '\x10')),
             Catch::Contains("16-bit PGM/PPM files are not supported"));
  CHECK_THAT(error_for(std::string("P5\n# a comment\n2 2147483648\n255\n") + std::string(4, '\x10')),
             Catch::Contains("a number of ten digits or more"));
  // a PGM whose samples are cut short: stb 2.27 handed out uninitialised memory as its pixels
  CHECK_THAT(error_for(std::string("P5\n4 4\n255\n") + std::string(15, '\x10')),
             Catch::Contains("truncated PGM/PPM file"));
  CHECK_THAT(error_of([] {
               load_image(testutil::source_path("tests/fuzz/regressions/image/pnm-truncated-uninitialised-timeout-03935ccc"), 1);
             }),
             Catch::Contains("truncated PGM/PPM file"));
  // an 8-bit PGM with a comment still decodes
  const Image ok = decode_image(reinterpret_cast<const uint8_t*>("P5\n# c\n2 1\n255\n\x01\x02"), 17, "x", 1);
  CHECK(ok.pixels == std::vector<uint8_t>{1, 2});
  // a DHT segment whose 16 counts add up to 257
  std::string jpeg = "\xff\xd8\xff\xc4";
  jpeg += std::string("\x01\x14", 2);  // length 276: 2 + 17 + 257
  jpeg += '\x00';                      // DC table 0
  jpeg += std::string(15, '\x10');     // 15 x 16 = 240 codes
  jpeg += '\x11';                      // + 17 = 257
  jpeg += std::string(257, '\x00');
  CHECK_THAT(error_for(jpeg), Catch::Contains("a Huffman table of more than 256 codes"));
  // a PNG chunk declaring more bytes than the file has left: stb 2.27 grew its buffer to the
  // declared 1.46 GB before reading (found by fuzz_image); the file from the long run, and a
  // minimal one
  CHECK_THAT(error_of([] {
               load_image(testutil::source_path("tests/fuzz/regressions/image/png-idat-claims-2g-oom-29e9a8c0"), 1);
             }),
             Catch::Contains("truncated PNG: a chunk longer than the rest of the file"));
  std::string png("\x89PNG\r\n\x1a\n", 8);
  png += std::string("\x00\x00\x00\x0dIHDR\x00\x00\x00\x01\x00\x00\x00\x01\x08\x00\x00\x00\x00", 21);
  png += std::string("\x00\x00\x00\x00", 4);  // IHDR's CRC (not checked by stb)
  png += std::string("\x7f\xff\xff\xffIDAT", 8);  // 2 GB of data that are not there
  CHECK_THAT(error_for(png), Catch::Contains("truncated PNG"));
  // a real PNG with its IEND still decodes (the shipped test image)
  CHECK(load_image(testutil::source_path("tests/data/images/mnist_0_label7.png"), 1).width == 28);
}

namespace {
// A .npy file of format `major` with this header text (padded as numpy pads it) and data.
std::vector<uint8_t> npy_file(int major, const std::string& header, const std::vector<uint8_t>& data) {
  std::string h = header;
  const size_t prefix = major == 1 ? 10 : 12;
  while ((prefix + h.size() + 1) % 64 != 0) h += ' ';
  h += '\n';
  std::vector<uint8_t> f = {0x93, 'N', 'U', 'M', 'P', 'Y', static_cast<uint8_t>(major), 0};
  const uint32_t n = static_cast<uint32_t>(h.size());
  f.push_back(static_cast<uint8_t>(n & 0xFF));
  f.push_back(static_cast<uint8_t>(n >> 8));
  if (major != 1) {
    f.push_back(static_cast<uint8_t>(n >> 16));
    f.push_back(static_cast<uint8_t>(n >> 24));
  }
  f.insert(f.end(), h.begin(), h.end());
  f.insert(f.end(), data.begin(), data.end());
  return f;
}
std::string npy_error(const std::vector<uint8_t>& f) {
  try {
    parse_npy(f.data(), f.size(), "x.npy");
  } catch (const IoError& e) {
    return e.what();
  }
  return "";
}
}  // namespace

TEST_CASE(".npy arrays: float32 and uint8 in every format version, malformed ones refused with the reason") {
  // float32 1.0 and -2.5, little-endian, shape (2,)
  const std::vector<uint8_t> f32 = {0, 0, 0x80, 0x3f, 0, 0, 0x20, 0xc0};
  const NpyArray a = parse_npy(npy_file(1, "{'descr': '<f4', 'fortran_order': False, 'shape': (2,), }", f32).data(),
                               npy_file(1, "{'descr': '<f4', 'fortran_order': False, 'shape': (2,), }", f32).size(), "a");
  REQUIRE(a.dtype == NpyArray::DType::F32);
  CHECK(a.shape == std::vector<uint64_t>{2});
  CHECK(a.f32 == std::vector<float>{1.0f, -2.5f});
  CHECK(npy_describe(a) == "(2,) float32");
  // uint8 (2, 1, 3) in format 2.0 and 3.0, keys in another order
  const std::vector<uint8_t> u8 = {1, 2, 3, 4, 5, 6};
  for (int major : {2, 3}) {
    const auto f = npy_file(major, "{'shape': (2, 1, 3), 'fortran_order': False, 'descr': '|u1'}", u8);
    const NpyArray b = parse_npy(f.data(), f.size(), "b");
    CHECK(b.dtype == NpyArray::DType::U8);
    CHECK(b.shape == std::vector<uint64_t>{2, 1, 3});
    CHECK(b.u8 == u8);
  }
  const std::string ok = "{'descr': '|u1', 'fortran_order': False, 'shape': (2, 1, 3), }";
  CHECK_THAT(npy_error({'P', 'K', 3, 4}), Catch::Contains("not a .npy file"));
  CHECK_THAT(npy_error(npy_file(4, ok, u8)), Catch::Contains("format version 4"));
  auto cut = npy_file(1, ok, u8);
  cut.resize(40);
  CHECK_THAT(npy_error(cut), Catch::Contains("truncated .npy header"));
  CHECK_THAT(npy_error(npy_file(1, "{'descr': '>f4', 'fortran_order': False, 'shape': (2,), }", f32)),
             Catch::Contains("dtype '>f4'"));
  CHECK_THAT(npy_error(npy_file(1, "{'descr': '<f8', 'fortran_order': False, 'shape': (1,), }", f32)),
             Catch::Contains("dtype '<f8'"));
  CHECK_THAT(npy_error(npy_file(1, "{'descr': '|O', 'fortran_order': False, 'shape': (1,), }", f32)),
             Catch::Contains("dtype '|O'"));
  CHECK_THAT(npy_error(npy_file(1, "{'descr': '|u1', 'fortran_order': True, 'shape': (2, 1, 3), }", u8)),
             Catch::Contains("Fortran-order"));
  CHECK_THAT(npy_error(npy_file(1, "{'descr': '|u1', 'fortran_order': False, 'shape': (2, 1, 3), 'x': 1}", u8)),
             Catch::Contains("unknown key 'x'"));
  CHECK_THAT(npy_error(npy_file(1, "{'descr': '|u1', 'shape': (6,), }", u8)), Catch::Contains("lacks"));
  CHECK_THAT(npy_error(npy_file(1, ok, {1, 2, 3, 4, 5})), Catch::Contains("data is 5 bytes"));
  CHECK_THAT(npy_error(npy_file(1, ok, {1, 2, 3, 4, 5, 6, 7})), Catch::Contains("data is 7 bytes"));
  CHECK_THAT(npy_error(npy_file(1, "{'descr': '|u1', 'fortran_order': False, 'shape': (4294967296, 4294967296, 4294967296), }", u8)),
             Catch::Contains("overflows"));
  CHECK_THAT(npy_error(npy_file(1, "{'descr': '|u1', 'fortran_order': False, 'shape': (0, 3), }", {})),
             Catch::Contains("empty"));
  CHECK_THAT(npy_error(npy_file(1, "{'descr': '|u1', 'fortran_order': False, 'shape': (2, 1, 3)", u8)),
             Catch::Contains("malformed"));
}
