// Scalar readers of the packed int4_opaque layout (kernels/PACKING.md).
// Included only by the scalar kernel files: inline code compiled with ISA
// flags could otherwise be kept by the linker for every caller.
#ifndef QLINEAR_KERNELS_GEMM_W4_LAYOUT_SCALAR_H_
#define QLINEAR_KERNELS_GEMM_W4_LAYOUT_SCALAR_H_

#include <cstddef>
#include <cstdint>
#include <cstring>

namespace qlinear::w4_layout {

// Code of column j at offset kk inside a group, from the group's code bytes.
inline int Code(const uint8_t* codes, size_t j, size_t kk) {
  const uint8_t byte = codes[(kk / 8) * 64 + j * 4 + (kk % 4)];
  return (kk % 8) < 4 ? (byte & 0x0f) : (byte >> 4);
}

// The i-th float of a possibly unaligned array.
inline float LoadFloat(const uint8_t* p, size_t i) {
  float v;
  std::memcpy(&v, p + 4 * i, 4);
  return v;
}

}  // namespace qlinear::w4_layout

#endif  // QLINEAR_KERNELS_GEMM_W4_LAYOUT_SCALAR_H_
