// Portable intx_opaque weight-only kernel: the packed layout read one code at
// a time through WxUnitCode, in the reference order.
#include <cassert>
#include <cmath>
#include <cstring>

#include "kernels/gemm/gemm.h"
#include "kernels/wx_packing.h"

namespace qlinear {

void wx_f32_gemm_scalar(size_t m, size_t blocks, const float* a,
                        size_t a_stride, const uint8_t* packed_blocks,
                        const WxGeometry& geometry, DType dtype, float* c,
                        size_t c_stride) {
  assert(m >= 1 && m <= kWxMaxRows && blocks >= 1);
  const WxGeometry& geo = geometry;
  const size_t unit_bytes = WxUnitBytes(geo.bits);
  for (size_t r = 0; r < m; ++r) {
    for (size_t col = 0; col < blocks * kWxBlockColumns; ++col) {
      const size_t j = col % kWxBlockColumns;
      const uint8_t* packed_block = packed_blocks + (col / kWxBlockColumns) *
                                                        geo.groups *
                                                        geo.segment_bytes;
      float acc = 0.0f;
      for (size_t g = 0; g < geo.groups; ++g) {
        const uint8_t* seg = packed_block + g * geo.segment_bytes;
        float scale;
        std::memcpy(&scale, seg + 4 * j, 4);
        const int zero = seg[128 + j];
        const float* x = a + r * a_stride + g * geo.group_size;
        for (size_t i = 0; i < geo.group_size; ++i) {
          const int u =
              WxUnitCode(seg + kWxHeaderBytes + (i / kWxUnitK) * unit_bytes,
                         geo.bits, j, i % kWxUnitK);
          // R_T(R_T(q - zp) * scale); q - zp = u - zero (kernels/PACKING.md).
          const float w = RoundTo(
              dtype, RoundTo(dtype, static_cast<float>(u - zero)) * scale);
          acc = std::fma(x[i], w, acc);
        }
      }
      c[r * c_stride + col] = acc;
    }
  }
}

}  // namespace qlinear
