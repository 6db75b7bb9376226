// A minimal reader and writer of NumPy .npy files (format versions 1.0, 2.0
// and 3.0): little-endian float32 ('<f4') and float16 ('<f2') arrays in C
// order, of rank 1 or 2. Enough to feed model inputs from Python
// (`numpy.save`) and to save outputs for it. Stateless: thread-safe.
#ifndef QLINEAR_CLIENTS_COMMON_NPY_H_
#define QLINEAR_CLIENTS_COMMON_NPY_H_

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace qlinear::clients {

// An array read from a .npy file.
struct NpyArray {
  // "<f4" or "<f2".
  std::string descr;
  // Dimensions, outermost first; rank 1 or 2.
  std::vector<int64_t> shape;
  // The raw little-endian elements, row-major: product(shape) * item size
  // bytes.
  std::string data;
};

// Parses the bytes of a .npy file. INVALID_ARGUMENT, with the reason, for a
// bad magic or version, a malformed header, a dtype other than '<f4'/'<f2',
// Fortran order, a rank other than 1 or 2, or a data size that does not
// match the shape.
absl::StatusOr<NpyArray> ParseNpy(absl::string_view bytes);

// The bytes of a version 1.0 .npy file of a C-order '<f4' array of `shape`
// holding `values`. REQUIRES: values.size() == product(shape).
std::string MakeNpyFloat32(const std::vector<int64_t>& shape,
                           const std::vector<float>& values);

}  // namespace qlinear::clients

#endif  // QLINEAR_CLIENTS_COMMON_NPY_H_
