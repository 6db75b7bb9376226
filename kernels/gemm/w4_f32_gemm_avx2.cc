// int4_opaque weight-only kernel for AVX2 + FMA: a 16-column block is two
// 8-lane halves; the first 32 bytes of an octet hold columns 0..7.
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

template <size_t MR, int t>
inline void FmaCode(__m256i lo_cols, __m256i hi_cols, const __m256* scale,
                    const __m256* zero, const float* x, size_t a_stride,
                    __m256 (*acc)[2]) {
  const __m256 w0 =
      _mm256_add_ps(_mm256_mul_ps(CodeMinus8<t>(lo_cols), scale[0]), zero[0]);
  const __m256 w1 =
      _mm256_add_ps(_mm256_mul_ps(CodeMinus8<t>(hi_cols), scale[1]), zero[1]);
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

}  // namespace

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
