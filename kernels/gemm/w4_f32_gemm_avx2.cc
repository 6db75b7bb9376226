// int4_opaque weight-only kernels for AVX2 + FMA: a 16-column block is two
// 8-lane halves; the first 32 bytes of an octet hold columns 0..7. The tiled
// pair keeps the shared [k][16] fp32 unpacked layout (gemm.h) and reads each
// row of it as two ymm halves.
#include <immintrin.h>

#include <cassert>

#include "kernels/gemm/gemm.h"

namespace qlinear {
namespace {

template <int t>
inline __m256 CodeMinus8(__m256i octet_half) {
  constexpr int kShift = 8 * (t % 4) + 4 * (t / 4);
  const __m256i q = _mm256_and_si256(_mm256_srli_epi32(octet_half, kShift),
                                     _mm256_set1_epi32(0x0f));
  return _mm256_sub_ps(_mm256_cvtepi32_ps(q), _mm256_set1_ps(8.0f));
}

// ŵ = (q - 8) * scale + zero with two roundings, as the reference.
template <int t>
inline __m256 Dequant(__m256i octet_half, __m256 scale, __m256 zero) {
  return _mm256_add_ps(_mm256_mul_ps(CodeMinus8<t>(octet_half), scale), zero);
}

template <size_t MR, int t>
inline void FmaCode(__m256i lo_cols, __m256i hi_cols, const __m256* scale,
                    const __m256* zero, const float* x, size_t a_stride,
                    __m256 (*acc)[2]) {
  const __m256 w0 = Dequant<t>(lo_cols, scale[0], zero[0]);
  const __m256 w1 = Dequant<t>(hi_cols, scale[1], zero[1]);
  for (size_t r = 0; r < MR; ++r) {
    const __m256 xv = _mm256_set1_ps(x[r * a_stride + t]);
    acc[r][0] = _mm256_fmadd_ps(xv, w0, acc[r][0]);
    acc[r][1] = _mm256_fmadd_ps(xv, w1, acc[r][1]);
  }
}

template <size_t MR>
void F32Gemm(size_t k, size_t group_size, const float* a, size_t a_stride,
             const uint8_t* packed_block, float* c, size_t c_stride) {
  __m256 acc[MR][2];
  for (size_t r = 0; r < MR; ++r) acc[r][0] = acc[r][1] = _mm256_setzero_ps();
  const size_t segment = W4SegmentBytes(group_size);
  for (size_t g = 0; g < k / group_size; ++g) {
    const uint8_t* seg = packed_block + g * segment;
    const float* sf = reinterpret_cast<const float*>(seg);
    const __m256 scale[2] = {_mm256_loadu_ps(sf), _mm256_loadu_ps(sf + 8)};
    const __m256 zero[2] = {_mm256_loadu_ps(sf + 16), _mm256_loadu_ps(sf + 24)};
    for (size_t o = 0; o < group_size / 8; ++o) {
      const uint8_t* codes = seg + 128 + o * 64;
      const __m256i lo =
          _mm256_loadu_si256(reinterpret_cast<const __m256i*>(codes));
      const __m256i hi =
          _mm256_loadu_si256(reinterpret_cast<const __m256i*>(codes + 32));
      const float* x = a + g * group_size + o * 8;
      FmaCode<MR, 0>(lo, hi, scale, zero, x, a_stride, acc);
      FmaCode<MR, 1>(lo, hi, scale, zero, x, a_stride, acc);
      FmaCode<MR, 2>(lo, hi, scale, zero, x, a_stride, acc);
      FmaCode<MR, 3>(lo, hi, scale, zero, x, a_stride, acc);
      FmaCode<MR, 4>(lo, hi, scale, zero, x, a_stride, acc);
      FmaCode<MR, 5>(lo, hi, scale, zero, x, a_stride, acc);
      FmaCode<MR, 6>(lo, hi, scale, zero, x, a_stride, acc);
      FmaCode<MR, 7>(lo, hi, scale, zero, x, a_stride, acc);
    }
  }
  for (size_t r = 0; r < MR; ++r) {
    _mm256_storeu_ps(c + r * c_stride, acc[r][0]);
    _mm256_storeu_ps(c + r * c_stride + 8, acc[r][1]);
  }
}

// Rows 0..MR-1 over the unpacked weights: 2·MR accumulators, the two halves
// of one k's weights and a broadcast (MR <= 6 fits the 16 ymm registers).
// Each output's chain runs k ascending, so `accumulate` continues it
// bit-identically. The accumulators are named variables: GCC 12 keeps a copy
// of a __m256 array in memory and stores it every iteration.
template <size_t MR>
void TileGemm(size_t k, const float* a, size_t a_stride, const float* w,
              float* c, size_t c_stride, bool accumulate) {
  static_assert(MR >= 1 && MR <= 6);
  __m256 l0, h0, l1, h1, l2, h2, l3, h3, l4, h4, l5, h5;
  l0 = h0 = l1 = h1 = l2 = h2 = l3 = h3 = l4 = h4 = l5 = h5 =
      _mm256_setzero_ps();
#define QL_ROW_LOAD(r)                            \
  if (MR > r) {                                   \
    l##r = _mm256_loadu_ps(c + r * c_stride);     \
    h##r = _mm256_loadu_ps(c + r * c_stride + 8); \
  }
#define QL_ROW_FMA(r)                                             \
  if (MR > r) {                                                   \
    const __m256 xv = _mm256_broadcast_ss(a + r * a_stride + kk); \
    l##r = _mm256_fmadd_ps(xv, w0, l##r);                         \
    h##r = _mm256_fmadd_ps(xv, w1, h##r);                         \
  }
#define QL_ROW_STORE(r)                           \
  if (MR > r) {                                   \
    _mm256_storeu_ps(c + r * c_stride, l##r);     \
    _mm256_storeu_ps(c + r * c_stride + 8, h##r); \
  }
#define QL_EACH_ROW(op) op(0) op(1) op(2) op(3) op(4) op(5)
  if (accumulate) {
    QL_EACH_ROW(QL_ROW_LOAD)
  }
  for (size_t kk = 0; kk < k; ++kk) {
    const __m256 w0 = _mm256_load_ps(w + kk * kW4BlockColumns);
    const __m256 w1 = _mm256_load_ps(w + kk * kW4BlockColumns + 8);
    QL_EACH_ROW(QL_ROW_FMA)
  }
  QL_EACH_ROW(QL_ROW_STORE)
#undef QL_EACH_ROW
#undef QL_ROW_LOAD
#undef QL_ROW_FMA
#undef QL_ROW_STORE
}

}  // namespace

void w4_f32_unpack_avx2(size_t groups, size_t group_size,
                        const uint8_t* segments, float* w) {
  assert(group_size % 8 == 0);
  const size_t segment = W4SegmentBytes(group_size);
  for (size_t g = 0; g < groups; ++g) {
    const uint8_t* seg = segments + g * segment;
    const float* sf = reinterpret_cast<const float*>(seg);
    float* out = w + g * group_size * kW4BlockColumns;
    for (size_t h = 0; h < 2; ++h) {
      const __m256 scale = _mm256_loadu_ps(sf + 8 * h);
      const __m256 zero = _mm256_loadu_ps(sf + 16 + 8 * h);
      for (size_t o = 0; o < group_size / 8; ++o) {
        const __m256i octet = _mm256_loadu_si256(
            reinterpret_cast<const __m256i*>(seg + 128 + o * 64 + 32 * h));
        float* dst = out + o * 8 * kW4BlockColumns + 8 * h;
        // Same ŵ as FmaCode.
        _mm256_store_ps(dst + 0 * 16, Dequant<0>(octet, scale, zero));
        _mm256_store_ps(dst + 1 * 16, Dequant<1>(octet, scale, zero));
        _mm256_store_ps(dst + 2 * 16, Dequant<2>(octet, scale, zero));
        _mm256_store_ps(dst + 3 * 16, Dequant<3>(octet, scale, zero));
        _mm256_store_ps(dst + 4 * 16, Dequant<4>(octet, scale, zero));
        _mm256_store_ps(dst + 5 * 16, Dequant<5>(octet, scale, zero));
        _mm256_store_ps(dst + 6 * 16, Dequant<6>(octet, scale, zero));
        _mm256_store_ps(dst + 7 * 16, Dequant<7>(octet, scale, zero));
      }
    }
  }
}

void f32_tile_gemm_avx2(size_t m, size_t k, const float* a, size_t a_stride,
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
    default:
      // 7 or 8 rows: two tiles of 4 and 3 or 4 (at least 6 FMA chains each).
      TileGemm<4>(k, a, a_stride, w, c, c_stride, accumulate);
      return f32_tile_gemm_avx2(m - 4, k, a + 4 * a_stride, a_stride, w,
                                c + 4 * c_stride, c_stride, accumulate);
  }
}

namespace {

void OneBlock(size_t m, size_t k, size_t group_size, const float* a,
              size_t a_stride, const uint8_t* packed_block, float* c,
              size_t c_stride) {
  // Sixteen ymm registers hold at most four rows of accumulators.
  if (m > 4) {
    F32Gemm<4>(k, group_size, a, a_stride, packed_block, c, c_stride);
    return OneBlock(m - 4, k, group_size, a + 4 * a_stride, a_stride,
                    packed_block, c + 4 * c_stride, c_stride);
  }
  switch (m) {
    case 1:
      return F32Gemm<1>(k, group_size, a, a_stride, packed_block, c, c_stride);
    case 2:
      return F32Gemm<2>(k, group_size, a, a_stride, packed_block, c, c_stride);
    case 3:
      return F32Gemm<3>(k, group_size, a, a_stride, packed_block, c, c_stride);
    default:
      return F32Gemm<4>(k, group_size, a, a_stride, packed_block, c, c_stride);
  }
}

}  // namespace

void w4_f32_gemm_avx2(size_t m, size_t blocks, size_t k, size_t group_size,
                      const float* a, size_t a_stride,
                      const uint8_t* packed_block, float* c, size_t c_stride) {
  assert(m >= 1 && m <= kW4MaxRows && blocks >= 1 && k % group_size == 0 &&
         group_size % 8 == 0);
  const size_t block_bytes = k / group_size * W4SegmentBytes(group_size);
  for (size_t b = 0; b < blocks; ++b) {
    OneBlock(m, k, group_size, a, a_stride, packed_block + b * block_bytes,
             c + b * kW4BlockColumns, c_stride);
  }
}

}  // namespace qlinear
