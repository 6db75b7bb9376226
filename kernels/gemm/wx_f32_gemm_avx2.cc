// intx_opaque weight-only kernel for AVX2 + FMA + F16C: a 16-column block is
// two 8-column halves; codes are unpacked one unit at a time and dequantized
// with the reference's exact roundings.
#include <immintrin.h>

#include <algorithm>
#include <cassert>

#include "kernels/gemm/gemm.h"
#include "kernels/gemm/wx_unpack_avx2.h"

namespace qlinear {
namespace {

// R_T of an fp32 vector, round to nearest even (the scalar RoundTo).
template <DType T>
inline __m256 RoundToT(__m256 w) {
  if constexpr (T == DType::kBF16) {
    const __m256i u = _mm256_castps_si256(w);
    const __m256i lsb =
        _mm256_and_si256(_mm256_srli_epi32(u, 16), _mm256_set1_epi32(1));
    const __m256i r =
        _mm256_add_epi32(u, _mm256_add_epi32(lsb, _mm256_set1_epi32(0x7fff)));
    return _mm256_castsi256_ps(
        _mm256_and_si256(r, _mm256_set1_epi32(static_cast<int>(0xffff0000u))));
  } else if constexpr (T == DType::kF16) {
    return _mm256_cvtph_ps(
        _mm256_cvtps_ph(w, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC));
  } else {
    return w;
  }
}

template <DType T, int i>
inline __m256 Dequant(__m256i quad, __m256 zero, __m256 scale) {
  __m256i code = i == 0 ? quad : _mm256_srli_epi32(quad, 8 * i);
  if constexpr (i < 3) code = _mm256_and_si256(code, _mm256_set1_epi32(0xff));
  return RoundToT<T>(
      _mm256_mul_ps(_mm256_sub_ps(_mm256_cvtepi32_ps(code), zero), scale));
}

// Code i of quad t for both halves, accumulated into rows 0..MR-1.
template <size_t MR, DType T, int i>
inline void FmaCode(__m256i q0, __m256i q1, const __m256* zero,
                    const __m256* scale, const float* x, size_t a_stride,
                    __m256 (*acc)[2]) {
  const __m256 w0 = Dequant<T, i>(q0, zero[0], scale[0]);
  const __m256 w1 = Dequant<T, i>(q1, zero[1], scale[1]);
  for (size_t r = 0; r < MR; ++r) {
    const __m256 xv = _mm256_set1_ps(x[r * a_stride + i]);
    acc[r][0] = _mm256_fmadd_ps(xv, w0, acc[r][0]);
    acc[r][1] = _mm256_fmadd_ps(xv, w1, acc[r][1]);
  }
}

// Rows 0..MR-1 of one block; both 8-column halves advance together (two
// independent FMA chains per row).
template <size_t MR, DType T>
void F32Gemm(const float* a, size_t a_stride, const uint8_t* packed_block,
             const WxGeometry& geo, float* c, size_t c_stride) {
  __m256 acc[MR][2];
  for (size_t r = 0; r < MR; ++r) acc[r][0] = acc[r][1] = _mm256_setzero_ps();
  const size_t unit_bytes = WxUnitBytes(geo.bits);
  for (size_t g = 0; g < geo.groups; ++g) {
    const uint8_t* seg = packed_block + g * geo.segment_bytes;
    const float* sf = reinterpret_cast<const float*>(seg);
    const __m256 scale[2] = {_mm256_loadu_ps(sf), _mm256_loadu_ps(sf + 8)};
    __m256 zero[2];
    for (int h = 0; h < 2; ++h) {
      zero[h] = _mm256_cvtepi32_ps(_mm256_cvtepu8_epi32(_mm_loadl_epi64(
          reinterpret_cast<const __m128i*>(seg + 128 + 8 * h))));
    }
    const float* xg = a + g * geo.group_size;
    for (size_t u = 0; u < geo.group_units; ++u) {
      const uint8_t* unit = seg + kWxHeaderBytes + u * unit_bytes;
      __m256i q[2][4];
      WxUnpackHalf(unit, geo.bits, 0, q[0]);
      WxUnpackHalf(unit, geo.bits, 1, q[1]);
      const float* x = xg + u * kWxUnitK;
      const size_t count = std::min(kWxUnitK, geo.group_size - u * kWxUnitK);
      if (count == kWxUnitK) {
        for (int t = 0; t < 4; ++t) {
          FmaCode<MR, T, 0>(q[0][t], q[1][t], zero, scale, x + 4 * t, a_stride,
                            acc);
          FmaCode<MR, T, 1>(q[0][t], q[1][t], zero, scale, x + 4 * t, a_stride,
                            acc);
          FmaCode<MR, T, 2>(q[0][t], q[1][t], zero, scale, x + 4 * t, a_stride,
                            acc);
          FmaCode<MR, T, 3>(q[0][t], q[1][t], zero, scale, x + 4 * t, a_stride,
                            acc);
        }
      } else {
        // Last unit of a per-channel group: only the real k.
        for (size_t kk = 0; kk < count; ++kk) {
          switch (kk % 4) {
            case 0:
              FmaCode<MR, T, 0>(q[0][kk / 4], q[1][kk / 4], zero, scale, x + kk,
                                a_stride, acc);
              break;
            case 1:
              FmaCode<MR, T, 1>(q[0][kk / 4], q[1][kk / 4], zero, scale,
                                x + kk - 1, a_stride, acc);
              break;
            case 2:
              FmaCode<MR, T, 2>(q[0][kk / 4], q[1][kk / 4], zero, scale,
                                x + kk - 2, a_stride, acc);
              break;
            default:
              FmaCode<MR, T, 3>(q[0][kk / 4], q[1][kk / 4], zero, scale,
                                x + kk - 3, a_stride, acc);
              break;
          }
        }
      }
    }
  }
  for (size_t r = 0; r < MR; ++r) {
    _mm256_storeu_ps(c + r * c_stride, acc[r][0]);
    _mm256_storeu_ps(c + r * c_stride + 8, acc[r][1]);
  }
}

template <DType T>
void F32GemmRows(size_t m, const float* a, size_t a_stride,
                 const uint8_t* packed_block, const WxGeometry& geo, float* c,
                 size_t c_stride) {
  // Sixteen ymm registers hold four rows of accumulators plus the codes.
  while (m > 4) {
    F32Gemm<4, T>(a, a_stride, packed_block, geo, c, c_stride);
    m -= 4;
    a += 4 * a_stride;
    c += 4 * c_stride;
  }
  switch (m) {
    case 1:
      return F32Gemm<1, T>(a, a_stride, packed_block, geo, c, c_stride);
    case 2:
      return F32Gemm<2, T>(a, a_stride, packed_block, geo, c, c_stride);
    case 3:
      return F32Gemm<3, T>(a, a_stride, packed_block, geo, c, c_stride);
    default:
      return F32Gemm<4, T>(a, a_stride, packed_block, geo, c, c_stride);
  }
}

}  // namespace

void wx_f32_gemm_avx2(size_t m, size_t blocks, const float* a, size_t a_stride,
                      const uint8_t* packed_block, const WxGeometry& geometry,
                      DType dtype, float* c, size_t c_stride) {
  assert(m >= 1 && m <= kWxMaxRows && blocks >= 1);
  const size_t block_bytes = geometry.groups * geometry.segment_bytes;
  for (size_t b = 0; b < blocks; ++b) {
    const uint8_t* block = packed_block + b * block_bytes;
    float* cb = c + b * kWxBlockColumns;
    switch (dtype) {
      case DType::kF32:
        F32GemmRows<DType::kF32>(m, a, a_stride, block, geometry, cb, c_stride);
        break;
      case DType::kBF16:
        F32GemmRows<DType::kBF16>(m, a, a_stride, block, geometry, cb,
                                  c_stride);
        break;
      case DType::kF16:
        F32GemmRows<DType::kF16>(m, a, a_stride, block, geometry, cb, c_stride);
        break;
    }
  }
}

}  // namespace qlinear
