#include "npy.hpp"

#include <cstring>

#include "io.hpp"

namespace capsrt {
namespace tools {

namespace {

const char kMagic[] = "\x93NUMPY";
constexpr size_t kMagicLen = 6;
constexpr size_t kMaxHeader = 1u << 16;  // numpy's own limit for a header it reads

[[noreturn]] void fail(const std::string& path, const std::string& what) { throw IoError(path + ": " + what); }

// The header is a Python dict literal: {'descr': '<f4', 'fortran_order': False, 'shape': (2, 3), }
// (numpy writes the keys in this order, but any order is read). A small strict reader of it.
struct HeaderReader {
  const std::string& text;
  const std::string& path;
  size_t at = 0;
  void skip_space() {
    while (at < text.size() && (text[at] == ' ' || text[at] == '\n' || text[at] == '\t')) ++at;
  }
  bool eat(char c) {
    skip_space();
    if (at < text.size() && text[at] == c) {
      ++at;
      return true;
    }
    return false;
  }
  void expect(char c) {
    if (!eat(c)) fail(path, std::string("malformed .npy header: expected '") + c + "' at offset " + std::to_string(at));
  }
  std::string string_literal() {
    skip_space();
    if (at >= text.size() || (text[at] != '\'' && text[at] != '"')) fail(path, "malformed .npy header: expected a string");
    const char quote = text[at++];
    const size_t end = text.find(quote, at);
    if (end == std::string::npos || end - at > 64) fail(path, "malformed .npy header: unterminated string");
    std::string s = text.substr(at, end - at);
    at = end + 1;
    return s;
  }
  std::string word() {
    skip_space();
    size_t end = at;
    while (end < text.size() && ((text[end] >= 'A' && text[end] <= 'Z') || (text[end] >= 'a' && text[end] <= 'z'))) ++end;
    std::string w = text.substr(at, end - at);
    at = end;
    return w;
  }
  uint64_t integer() {
    skip_space();
    uint64_t v = 0;
    size_t digits = 0;
    while (at < text.size() && text[at] >= '0' && text[at] <= '9') {
      if (++digits > 12) fail(path, "a dimension of the .npy shape is too large");
      v = v * 10 + static_cast<uint64_t>(text[at++] - '0');
    }
    if (digits == 0) fail(path, "malformed .npy header: expected a dimension");
    return v;
  }
};

}  // namespace

uint64_t NpyArray::count() const {
  uint64_t n = 1;
  for (uint64_t d : shape) n *= d;
  return n;
}

std::string npy_describe(const NpyArray& a) {
  std::string s = "(";
  for (size_t k = 0; k < a.shape.size(); ++k) s += (k ? ", " : "") + std::to_string(a.shape[k]);
  if (a.shape.size() == 1) s += ",";
  return s + ") " + (a.dtype == NpyArray::DType::F32 ? "float32" : "uint8");
}

bool looks_like_npy(const uint8_t* bytes, size_t size) {
  return size >= kMagicLen && std::memcmp(bytes, kMagic, kMagicLen) == 0;
}

NpyArray parse_npy(const uint8_t* bytes, size_t size, const std::string& path) {
  if (!looks_like_npy(bytes, size)) fail(path, "not a .npy file (no \\x93NUMPY magic)");
  if (size < 10) fail(path, "truncated .npy header");
  const uint8_t major = bytes[6];
  if (major < 1 || major > 3) fail(path, ".npy format version " + std::to_string(major) + " (1, 2 and 3 are read)");
  size_t header_len = 0, header_at = 0;
  if (major == 1) {
    header_len = bytes[8] | static_cast<size_t>(bytes[9]) << 8;
    header_at = 10;
  } else {
    if (size < 12) fail(path, "truncated .npy header");
    header_len = bytes[8] | static_cast<size_t>(bytes[9]) << 8 | static_cast<size_t>(bytes[10]) << 16 |
                 static_cast<size_t>(bytes[11]) << 24;
    header_at = 12;
  }
  if (header_len > kMaxHeader || header_at + header_len > size) fail(path, "truncated .npy header");
  const std::string text(reinterpret_cast<const char*>(bytes) + header_at, header_len);
  HeaderReader r{text, path};
  NpyArray a;
  std::string descr;
  bool have_descr = false, have_order = false, have_shape = false, fortran = false;
  r.expect('{');
  while (!r.eat('}')) {
    const std::string key = r.string_literal();
    r.expect(':');
    if (key == "descr") {
      descr = r.string_literal();
      have_descr = true;
    } else if (key == "fortran_order") {
      const std::string w = r.word();
      if (w != "True" && w != "False") fail(path, "malformed .npy header: fortran_order is " + w);
      fortran = w == "True";
      have_order = true;
    } else if (key == "shape") {
      r.expect('(');
      while (!r.eat(')')) {
        if (a.shape.size() >= 8) fail(path, "a .npy array of more than 8 dimensions");
        a.shape.push_back(r.integer());
        if (!r.eat(',')) {
          r.expect(')');
          break;
        }
      }
      have_shape = true;
    } else {
      fail(path, "unknown key '" + key + "' in the .npy header");
    }
    if (!r.eat(',')) {
      r.expect('}');
      break;
    }
  }
  if (!have_descr || !have_order || !have_shape) fail(path, "the .npy header lacks descr, fortran_order or shape");
  if (fortran) fail(path, "a Fortran-order .npy array (save it C-ordered: numpy.ascontiguousarray)");
  size_t item = 0;
  if (descr == "<f4") {
    a.dtype = NpyArray::DType::F32;
    item = 4;
  } else if (descr == "|u1" || descr == "<u1" || descr == "u1") {
    a.dtype = NpyArray::DType::U8;
    item = 1;
  } else {
    fail(path, "a .npy array of dtype '" + descr + "' (capsrun reads little-endian float32 '<f4' and uint8 '|u1')");
  }
  // The element count, checked against the bytes present before anything is allocated.
  const uint64_t body = size - header_at - header_len;
  uint64_t n = 1;
  for (uint64_t d : a.shape)
    if (d != 0 && __builtin_mul_overflow(n, d, &n)) fail(path, "the .npy shape overflows");
  if (a.count() == 0) fail(path, "an empty .npy array");
  if (n > body / item || n * item != body)
    fail(path, "the .npy data is " + std::to_string(body) + " bytes, but its shape " + npy_describe(a) + " needs " +
                   std::to_string(n) + " x " + std::to_string(item));
  const uint8_t* data = bytes + header_at + header_len;
  if (item == 1) {
    a.u8.assign(data, data + n);
  } else {
    a.f32.resize(n);
    for (uint64_t k = 0; k < n; ++k) {
      const uint32_t w = data[4 * k] | uint32_t{data[4 * k + 1]} << 8 | uint32_t{data[4 * k + 2]} << 16 |
                         uint32_t{data[4 * k + 3]} << 24;
      std::memcpy(&a.f32[k], &w, 4);
    }
  }
  return a;
}

NpyArray read_npy(const std::string& path, uint64_t max_bytes) {
  const AlignedBuffer file = read_file(path, max_bytes);
  return parse_npy(file.data(), file.size(), path);
}

}  // namespace tools
}  // namespace capsrt
