// int4_opaque weight-only kernels for AVX-512 (F, BW, DQ, VL).
#include <immintrin.h>

#include <cassert>

#include "kernels/gemm/gemm.h"

namespace qlinear {
namespace {

// Code t (0..7) of an octet for all 16 columns: byte t % 4 of each 32-bit
// lane, low nibble for t < 4, high nibble otherwise.
template <int t>
inline __m512 CodeMinus8(__m512i octet) {
  constexpr int kShift = 8 * (t % 4) + 4 * (t / 4);
  const __m512i q = _mm512_and_si512(_mm512_srli_epi32(octet, kShift),
                                     _mm512_set1_epi32(0x0f));
  return _mm512_sub_ps(_mm512_cvtepi32_ps(q), _mm512_set1_ps(8.0f));
}

template <size_t MR, int t>
inline void FmaCode(__m512i octet, __m512 scale, __m512 zero, const float* x,
                    size_t a_stride, __m512* acc) {
  // ŵ = (q - 8) * scale + zero with two roundings, as the reference.
  const __m512 w =
      _mm512_add_ps(_mm512_mul_ps(CodeMinus8<t>(octet), scale), zero);
  for (size_t r = 0; r < MR; ++r) {
    acc[r] = _mm512_fmadd_ps(_mm512_set1_ps(x[r * a_stride + t]), w, acc[r]);
  }
}

template <size_t MR>
void F32Gemm(size_t k, size_t group_size, const float* a, size_t a_stride,
             const uint8_t* packed_block, float* c, size_t c_stride) {
  __m512 acc[MR];
  for (size_t r = 0; r < MR; ++r) acc[r] = _mm512_setzero_ps();
  const size_t segment = W4SegmentBytes(group_size);
  for (size_t g = 0; g < k / group_size; ++g) {
    const uint8_t* seg = packed_block + g * segment;
    const __m512 scale = _mm512_loadu_ps(seg);
    const __m512 zero = _mm512_loadu_ps(seg + 64);
    for (size_t o = 0; o < group_size / 8; ++o) {
      const __m512i octet = _mm512_loadu_si512(seg + 128 + o * 64);
      const float* x = a + g * group_size + o * 8;
      FmaCode<MR, 0>(octet, scale, zero, x, a_stride, acc);
      FmaCode<MR, 1>(octet, scale, zero, x, a_stride, acc);
      FmaCode<MR, 2>(octet, scale, zero, x, a_stride, acc);
      FmaCode<MR, 3>(octet, scale, zero, x, a_stride, acc);
      FmaCode<MR, 4>(octet, scale, zero, x, a_stride, acc);
      FmaCode<MR, 5>(octet, scale, zero, x, a_stride, acc);
      FmaCode<MR, 6>(octet, scale, zero, x, a_stride, acc);
      FmaCode<MR, 7>(octet, scale, zero, x, a_stride, acc);
    }
  }
  for (size_t r = 0; r < MR; ++r) _mm512_storeu_ps(c + r * c_stride, acc[r]);
}

template <size_t MR>
void TileGemm(size_t k, const float* a, size_t a_stride, const float* w,
              float* c, size_t c_stride, bool accumulate) {
  __m512 acc[MR];
  for (size_t r = 0; r < MR; ++r) {
    acc[r] =
        accumulate ? _mm512_loadu_ps(c + r * c_stride) : _mm512_setzero_ps();
  }
  for (size_t kk = 0; kk < k; ++kk) {
    const __m512 wv = _mm512_load_ps(w + kk * kW4BlockColumns);
    for (size_t r = 0; r < MR; ++r) {
      acc[r] =
          _mm512_fmadd_ps(_mm512_set1_ps(a[r * a_stride + kk]), wv, acc[r]);
    }
  }
  for (size_t r = 0; r < MR; ++r) _mm512_storeu_ps(c + r * c_stride, acc[r]);
}

}  // namespace

void w4_f32_unpack_avx512(size_t groups, size_t group_size,
                          const uint8_t* segments, float* w) {
  assert(group_size % 8 == 0);
  const size_t segment = W4SegmentBytes(group_size);
  for (size_t g = 0; g < groups; ++g) {
    const uint8_t* seg = segments + g * segment;
    const __m512 scale = _mm512_loadu_ps(seg);
    const __m512 zero = _mm512_loadu_ps(seg + 64);
    float* out = w + g * group_size * kW4BlockColumns;
    for (size_t o = 0; o < group_size / 8; ++o) {
      const __m512i octet = _mm512_loadu_si512(seg + 128 + o * 64);
      float* dst = out + o * 8 * kW4BlockColumns;
      // Same ŵ as FmaCode: (q - 8) * scale + zero, two roundings.
      _mm512_store_ps(
          dst + 0 * 16,
          _mm512_add_ps(_mm512_mul_ps(CodeMinus8<0>(octet), scale), zero));
      _mm512_store_ps(
          dst + 1 * 16,
          _mm512_add_ps(_mm512_mul_ps(CodeMinus8<1>(octet), scale), zero));
      _mm512_store_ps(
          dst + 2 * 16,
          _mm512_add_ps(_mm512_mul_ps(CodeMinus8<2>(octet), scale), zero));
      _mm512_store_ps(
          dst + 3 * 16,
          _mm512_add_ps(_mm512_mul_ps(CodeMinus8<3>(octet), scale), zero));
      _mm512_store_ps(
          dst + 4 * 16,
          _mm512_add_ps(_mm512_mul_ps(CodeMinus8<4>(octet), scale), zero));
      _mm512_store_ps(
          dst + 5 * 16,
          _mm512_add_ps(_mm512_mul_ps(CodeMinus8<5>(octet), scale), zero));
      _mm512_store_ps(
          dst + 6 * 16,
          _mm512_add_ps(_mm512_mul_ps(CodeMinus8<6>(octet), scale), zero));
      _mm512_store_ps(
          dst + 7 * 16,
          _mm512_add_ps(_mm512_mul_ps(CodeMinus8<7>(octet), scale), zero));
    }
  }
}

void f32_tile_gemm_avx512(size_t m, size_t k, const float* a, size_t a_stride,
                          const float* w, float* c, size_t c_stride,
                          bool accumulate) {
  assert(m >= 1 && m <= kW4MaxRows);
  switch (m) {
    case 1:
      return TileGemm<1>(k, a, a_stride, w, c, c_stride, accumulate);
    case 2:
      return TileGemm<2>(k, a, a_stride, w, c, c_stride, accumulate);
    case 3:
      return TileGemm<3>(k, a, a_stride, w, c, c_stride, accumulate);
    case 4:
      return TileGemm<4>(k, a, a_stride, w, c, c_stride, accumulate);
    case 5:
      return TileGemm<5>(k, a, a_stride, w, c, c_stride, accumulate);
    case 6:
      return TileGemm<6>(k, a, a_stride, w, c, c_stride, accumulate);
    case 7:
      return TileGemm<7>(k, a, a_stride, w, c, c_stride, accumulate);
    default:
      return TileGemm<8>(k, a, a_stride, w, c, c_stride, accumulate);
  }
}

void w4_f32_gemm_avx512(size_t m, size_t k, size_t group_size, const float* a,
                        size_t a_stride, const uint8_t* packed_block, float* c,
                        size_t c_stride) {
  assert(m >= 1 && m <= kW4MaxRows && k % group_size == 0 &&
         group_size % 8 == 0);
  switch (m) {
    case 1:
      return F32Gemm<1>(k, group_size, a, a_stride, packed_block, c, c_stride);
    case 2:
      return F32Gemm<2>(k, group_size, a, a_stride, packed_block, c, c_stride);
    case 3:
      return F32Gemm<3>(k, group_size, a, a_stride, packed_block, c, c_stride);
    case 4:
      return F32Gemm<4>(k, group_size, a, a_stride, packed_block, c, c_stride);
    case 5:
      return F32Gemm<5>(k, group_size, a, a_stride, packed_block, c, c_stride);
    case 6:
      return F32Gemm<6>(k, group_size, a, a_stride, packed_block, c, c_stride);
    case 7:
      return F32Gemm<7>(k, group_size, a, a_stride, packed_block, c, c_stride);
    default:
      return F32Gemm<8>(k, group_size, a, a_stride, packed_block, c, c_stride);
  }
}

}  // namespace qlinear
