// Portable int4_opaque kernel with int8 activations: exact integer sums.
#include <cassert>
#include <cmath>

#include "kernels/gemm/gemm.h"
#include "kernels/gemm/w4_layout_scalar.h"

namespace qlinear {

using w4_layout::Code;
using w4_layout::LoadFloat;

void w4_dq8_gemm_scalar(size_t m, size_t k, size_t group_size, const uint8_t* a,
                        size_t a_stride, const Dq8Row* rows,
                        const uint8_t* packed_block, float* c,
                        size_t c_stride) {
  assert(m >= 1 && m <= kW4MaxRows && k % group_size == 0);
  const size_t groups = k / group_size;
  const size_t segment = W4SegmentBytes(group_size);
  const int32_t gs = static_cast<int32_t>(group_size);
  for (size_t r = 0; r < m; ++r) {
    const Dq8Row& row = rows[r];
    for (size_t j = 0; j < kW4BlockColumns; ++j) {
      float acc = 0.0f;
      for (size_t g = 0; g < groups; ++g) {
        const uint8_t* seg = packed_block + g * segment;
        const uint8_t* ua = a + r * a_stride + g * group_size;
        int32_t dot = 0, code_sum = 0;
        for (size_t kk = 0; kk < group_size; ++kk) {
          const int32_t q = Code(seg + 128, j, kk);
          dot += static_cast<int32_t>(ua[kk]) * q;
          code_sum += q;
        }
        // Σ(ua - c)(q - 8) and Σ(ua - c), exactly (docs/numerics.md).
        const int32_t asum = row.group_sums[g] - row.offset * gs;
        const int32_t isum = dot - row.offset * code_sum - 8 * asum;
        acc = std::fma(LoadFloat(seg, j), static_cast<float>(isum), acc);
        acc = std::fma(LoadFloat(seg + 64, j), static_cast<float>(asum), acc);
      }
      c[r * c_stride + j] = acc * row.scale;
    }
  }
}

}  // namespace qlinear
