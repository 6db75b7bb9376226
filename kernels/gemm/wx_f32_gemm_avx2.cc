// intx_opaque weight-only kernel for AVX2 + FMA + F16C: a 16-column block is
// two 8-column halves, each run over the whole K; codes are unpacked one unit
// at a time and dequantized with the reference's exact roundings.
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

template <DType T>
inline __m256 Dequant(__m256i quad, int i, __m256 zero, __m256 scale) {
  __m256i code = _mm256_srli_epi32(quad, 8 * i);
  if (i < 3) code = _mm256_and_si256(code, _mm256_set1_epi32(0xff));
  return RoundToT<T>(
      _mm256_mul_ps(_mm256_sub_ps(_mm256_cvtepi32_ps(code), zero), scale));
}

// One 8-column half of the block, rows 0..MR-1.
template <size_t MR, DType T>
void F32GemmHalf(const float* a, size_t a_stride, const uint8_t* packed_block,
                 const WxGeometry& geo, int h, float* c, size_t c_stride) {
  __m256 acc[MR];
  for (size_t r = 0; r < MR; ++r) acc[r] = _mm256_setzero_ps();
  const size_t unit_bytes = WxUnitBytes(geo.bits);
  for (size_t g = 0; g < geo.groups; ++g) {
    const uint8_t* seg = packed_block + g * geo.segment_bytes;
    const __m256 scale =
        _mm256_loadu_ps(reinterpret_cast<const float*>(seg) + 8 * h);
    const __m256 zero = _mm256_cvtepi32_ps(_mm256_cvtepu8_epi32(
        _mm_loadl_epi64(reinterpret_cast<const __m128i*>(seg + 128 + 8 * h))));
    const float* xg = a + g * geo.group_size;
    for (size_t u = 0; u < geo.group_units; ++u) {
      __m256i q[4];
      WxUnpackHalf(seg + kWxHeaderBytes + u * unit_bytes, geo.bits, h, q);
      const float* x = xg + u * kWxUnitK;
      const size_t count = std::min(kWxUnitK, geo.group_size - u * kWxUnitK);
      if (count == kWxUnitK) {
        for (int t = 0; t < 4; ++t) {
          for (int i = 0; i < 4; ++i) {
            const __m256 w = Dequant<T>(q[t], i, zero, scale);
            for (size_t r = 0; r < MR; ++r) {
              acc[r] = _mm256_fmadd_ps(
                  _mm256_set1_ps(x[r * a_stride + 4 * t + i]), w, acc[r]);
            }
          }
        }
      } else {
        // Last unit of a per-channel group: only the real k.
        for (size_t kk = 0; kk < count; ++kk) {
          const __m256 w =
              Dequant<T>(q[kk / 4], static_cast<int>(kk % 4), zero, scale);
          for (size_t r = 0; r < MR; ++r) {
            acc[r] = _mm256_fmadd_ps(_mm256_set1_ps(x[r * a_stride + kk]), w,
                                     acc[r]);
          }
        }
      }
    }
  }
  for (size_t r = 0; r < MR; ++r) {
    _mm256_storeu_ps(c + r * c_stride + 8 * h, acc[r]);
  }
}

template <size_t MR, DType T>
void F32Gemm(const float* a, size_t a_stride, const uint8_t* packed_block,
             const WxGeometry& geo, float* c, size_t c_stride) {
  F32GemmHalf<MR, T>(a, a_stride, packed_block, geo, 0, c, c_stride);
  F32GemmHalf<MR, T>(a, a_stride, packed_block, geo, 1, c, c_stride);
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
