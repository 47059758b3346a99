// NumPy's .npy files (format versions 1.0, 2.0 and 3.0), as capsrun's inputs: C-order arrays of
// little-endian float32 or of uint8, written by numpy.save. Everything else (Fortran order,
// big-endian or other dtypes, object arrays, a size that disagrees with the shape) is refused.
#ifndef CAPSRT_TOOLS_NPY_HPP
#define CAPSRT_TOOLS_NPY_HPP

#include <cstdint>
#include <string>
#include <vector>

namespace capsrt {
namespace tools {

struct NpyArray {
  enum class DType { U8, F32 } dtype = DType::U8;
  std::vector<uint64_t> shape;  // empty: a scalar
  std::vector<uint8_t> u8;      // DType::U8: the elements
  std::vector<float> f32;       // DType::F32: the elements
  uint64_t count() const;       // elements
};

// "(2, 3, 32, 32) float32" for messages.
std::string npy_describe(const NpyArray& a);

// Does the file start with NumPy's magic string?
bool looks_like_npy(const uint8_t* bytes, size_t size);

// Parses a whole .npy file (at most max_bytes); IoError naming `path` and what is wrong.
NpyArray parse_npy(const uint8_t* bytes, size_t size, const std::string& path);
NpyArray read_npy(const std::string& path, uint64_t max_bytes = uint64_t{1} << 31);

}  // namespace tools
}  // namespace capsrt

#endif
