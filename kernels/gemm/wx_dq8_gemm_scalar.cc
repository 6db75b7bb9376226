// Portable intx_opaque kernel with int8 activations: exact integer sums.
#include <cassert>
#include <cmath>
#include <cstring>

#include "kernels/gemm/gemm.h"
#include "kernels/wx_packing.h"

namespace qlinear {

void wx_dq8_gemm_scalar(size_t m, const int8_t* a, size_t a_stride,
                        const WxDq8Row* rows, const uint8_t* packed_block,
                        const WxGeometry& geometry, float* c, size_t c_stride) {
  assert(m >= 1 && m <= kWxMaxRows);
  const WxGeometry& geo = geometry;
  const size_t unit_bytes = WxUnitBytes(geo.bits);
  const size_t group_k = geo.group_units * kWxUnitK;  // padded
  for (size_t r = 0; r < m; ++r) {
    const WxDq8Row& row = rows[r];
    for (size_t j = 0; j < kWxBlockColumns; ++j) {
      float acc = 0.0f;
      for (size_t g = 0; g < geo.groups; ++g) {
        const uint8_t* seg = packed_block + g * geo.segment_bytes;
        float scale;
        int32_t code_sum;
        std::memcpy(&scale, seg + 4 * j, 4);
        std::memcpy(&code_sum, seg + 64 + 4 * j, 4);
        const int64_t zero = seg[128 + j];
        const int8_t* qa = a + r * a_stride + g * group_k;
        int64_t dot = 0;
        for (size_t i = 0; i < geo.group_size; ++i) {
          dot += qa[i] *
                 WxUnitCode(seg + kWxHeaderBytes + (i / kWxUnitK) * unit_bytes,
                            geo.bits, j, i % kWxUnitK);
        }
        // Σ(qa - zp_a)(q - zp_w) = Σqa·u - zp_a·Σu - zero·Σ(qa - zp_a), with
        // u = q - qmin and zero = zp_w - qmin (docs/numerics.md).
        const int64_t isum = dot -
                             row.zero_point * static_cast<int64_t>(code_sum) -
                             zero * row.asum[g];
        acc = std::fma(row.scale * scale,
                       static_cast<float>(static_cast<int32_t>(isum)), acc);
      }
      c[r * c_stride + j] = acc;
    }
  }
}

}  // namespace qlinear
