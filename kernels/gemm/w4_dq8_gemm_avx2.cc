// int4_opaque kernel with int8 activations for AVX2: vpdpbusd emulated with
// vpmaddubsw (u8 x s8 pairs, at most 2 * 255 * 15, so never saturating) and
// vpmaddwd against ones, which gives the same exact dword sums.
#include <immintrin.h>

#include <cassert>

#include "kernels/gemm/gemm.h"

namespace qlinear {
namespace {

inline __m256i DotBytes(__m256i acc, __m256i u8, __m256i s8) {
  const __m256i pairs = _mm256_maddubs_epi16(u8, s8);
  return _mm256_add_epi32(acc, _mm256_madd_epi16(pairs, _mm256_set1_epi16(1)));
}

inline __m256i Broadcast4Bytes(const uint8_t* p) {
  int32_t v;
  __builtin_memcpy(&v, p, 4);
  return _mm256_set1_epi32(v);
}

template <size_t MR>
void Dq8Gemm(size_t k, size_t group_size, const uint8_t* a, size_t a_stride,
             const Dq8Row* rows, const uint8_t* packed_block, float* c,
             size_t c_stride) {
  __m256 acc[MR][2];
  for (size_t r = 0; r < MR; ++r) acc[r][0] = acc[r][1] = _mm256_setzero_ps();
  const size_t segment = W4SegmentBytes(group_size);
  const __m256i nibble = _mm256_set1_epi8(0x0f);
  const __m256i ones = _mm256_set1_epi8(1);
  const int32_t gs = static_cast<int32_t>(group_size);
  for (size_t g = 0; g < k / group_size; ++g) {
    const uint8_t* seg = packed_block + g * segment;
    __m256i dot[MR][2];
    for (size_t r = 0; r < MR; ++r)
      dot[r][0] = dot[r][1] = _mm256_setzero_si256();
    __m256i code_sum[2] = {_mm256_setzero_si256(), _mm256_setzero_si256()};
    for (size_t o = 0; o < group_size / 8; ++o) {
      const uint8_t* ua = a + g * group_size + o * 8;
      for (int half = 0; half < 2; ++half) {
        const __m256i octet = _mm256_loadu_si256(
            reinterpret_cast<const __m256i*>(seg + 128 + o * 64 + 32 * half));
        const __m256i lo = _mm256_and_si256(octet, nibble);
        const __m256i hi =
            _mm256_and_si256(_mm256_srli_epi16(octet, 4), nibble);
        code_sum[half] = DotBytes(code_sum[half], lo, ones);
        code_sum[half] = DotBytes(code_sum[half], hi, ones);
        for (size_t r = 0; r < MR; ++r) {
          dot[r][half] =
              DotBytes(dot[r][half], Broadcast4Bytes(ua + r * a_stride), lo);
          dot[r][half] = DotBytes(dot[r][half],
                                  Broadcast4Bytes(ua + r * a_stride + 4), hi);
        }
      }
    }
    const float* sf = reinterpret_cast<const float*>(seg);
    for (size_t r = 0; r < MR; ++r) {
      const int32_t asum = rows[r].group_sums[g] - rows[r].offset * gs;
      const __m256 asum_f = _mm256_set1_ps(static_cast<float>(asum));
      for (int half = 0; half < 2; ++half) {
        __m256i isum = _mm256_sub_epi32(
            dot[r][half], _mm256_mullo_epi32(_mm256_set1_epi32(rows[r].offset),
                                             code_sum[half]));
        isum = _mm256_sub_epi32(isum, _mm256_set1_epi32(8 * asum));
        acc[r][half] = _mm256_fmadd_ps(_mm256_loadu_ps(sf + 8 * half),
                                       _mm256_cvtepi32_ps(isum), acc[r][half]);
        acc[r][half] = _mm256_fmadd_ps(_mm256_loadu_ps(sf + 16 + 8 * half),
                                       asum_f, acc[r][half]);
      }
    }
  }
  for (size_t r = 0; r < MR; ++r) {
    const __m256 s = _mm256_set1_ps(rows[r].scale);
    _mm256_storeu_ps(c + r * c_stride, _mm256_mul_ps(acc[r][0], s));
    _mm256_storeu_ps(c + r * c_stride + 8, _mm256_mul_ps(acc[r][1], s));
  }
}

}  // namespace

void w4_dq8_gemm_avx2(size_t m, size_t k, size_t group_size, const uint8_t* a,
                      size_t a_stride, const Dq8Row* rows,
                      const uint8_t* packed_block, float* c, size_t c_stride) {
  assert(m >= 1 && m <= kW4MaxRows && k % group_size == 0 &&
         group_size % 8 == 0);
  // Sixteen ymm registers hold at most four rows of accumulators.
  if (m > 4) {
    Dq8Gemm<4>(k, group_size, a, a_stride, rows, packed_block, c, c_stride);
    return w4_dq8_gemm_avx2(m - 4, k, group_size, a + 4 * a_stride, a_stride,
                            rows + 4, packed_block, c + 4 * c_stride, c_stride);
  }
  switch (m) {
    case 1:
      return Dq8Gemm<1>(k, group_size, a, a_stride, rows, packed_block, c,
                        c_stride);
    case 2:
      return Dq8Gemm<2>(k, group_size, a, a_stride, rows, packed_block, c,
                        c_stride);
    case 3:
      return Dq8Gemm<3>(k, group_size, a, a_stride, rows, packed_block, c,
                        c_stride);
    default:
      return Dq8Gemm<4>(k, group_size, a, a_stride, rows, packed_block, c,
                        c_stride);
  }
}

}  // namespace qlinear
