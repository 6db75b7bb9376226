// Portable int4_opaque weight-only kernel: the packed layout read one code
// at a time, in the reference order.
#include <cassert>
#include <cmath>

#include "kernels/gemm/gemm.h"
#include "kernels/gemm/w4_layout_scalar.h"

namespace qlinear {

using w4_layout::Code;
using w4_layout::LoadFloat;

namespace {

void OneBlock(size_t m, size_t k, size_t group_size, const float* a,
              size_t a_stride, const uint8_t* packed_block, float* c,
              size_t c_stride) {
  const size_t groups = k / group_size;
  const size_t segment = W4SegmentBytes(group_size);
  for (size_t r = 0; r < m; ++r) {
    for (size_t j = 0; j < kW4BlockColumns; ++j) {
      float acc = 0.0f;
      for (size_t g = 0; g < groups; ++g) {
        const uint8_t* seg = packed_block + g * segment;
        const float scale = LoadFloat(seg, j);
        const float zero = LoadFloat(seg + 64, j);
        const float* x = a + r * a_stride + g * group_size;
        for (size_t kk = 0; kk < group_size; ++kk) {
          const float w =
              static_cast<float>(Code(seg + 128, j, kk) - 8) * scale + zero;
          acc = std::fma(x[kk], w, acc);
        }
      }
      c[r * c_stride + j] = acc;
    }
  }
}

}  // namespace

void w4_f32_gemm_scalar(size_t m, size_t blocks, size_t k, size_t group_size,
                        const float* a, size_t a_stride,
                        const uint8_t* packed_block, float* c,
                        size_t c_stride) {
  assert(m >= 1 && m <= kW4MaxRows && blocks >= 1 && k % group_size == 0);
  const size_t block_bytes = k / group_size * W4SegmentBytes(group_size);
  for (size_t b = 0; b < blocks; ++b) {
    OneBlock(m, k, group_size, a, a_stride, packed_block + b * block_bytes,
             c + b * kW4BlockColumns, c_stride);
  }
}

}  // namespace qlinear
