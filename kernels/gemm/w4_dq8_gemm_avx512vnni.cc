// int4_opaque kernels with int8 activations for AVX-512 VNNI (vpdpbusd).
#include <immintrin.h>

#include <cassert>

#include "kernels/gemm/gemm.h"

namespace qlinear {
namespace {

inline __m512i Broadcast4Bytes(const uint8_t* p) {
  int32_t v;
  __builtin_memcpy(&v, p, 4);
  return _mm512_set1_epi32(v);
}

template <size_t MR>
void Dq8Gemm(size_t k, size_t group_size, const uint8_t* a, size_t a_stride,
             const Dq8Row* rows, const uint8_t* packed_block, float* c,
             size_t c_stride) {
  __m512 acc[MR];
  for (size_t r = 0; r < MR; ++r) acc[r] = _mm512_setzero_ps();
  const size_t segment = W4SegmentBytes(group_size);
  const __m512i nibble = _mm512_set1_epi8(0x0f);
  const __m512i ones = _mm512_set1_epi8(1);
  const int32_t gs = static_cast<int32_t>(group_size);
  for (size_t g = 0; g < k / group_size; ++g) {
    const uint8_t* seg = packed_block + g * segment;
    __m512i dot[MR];
    for (size_t r = 0; r < MR; ++r) dot[r] = _mm512_setzero_si512();
    __m512i code_sum = _mm512_setzero_si512();
    for (size_t o = 0; o < group_size / 8; ++o) {
      const __m512i octet = _mm512_loadu_si512(seg + 128 + o * 64);
      const __m512i lo = _mm512_and_si512(octet, nibble);  // k + 0..3
      const __m512i hi =
          _mm512_and_si512(_mm512_srli_epi16(octet, 4), nibble);  // k + 4..7
      code_sum = _mm512_dpbusd_epi32(code_sum, lo, ones);
      code_sum = _mm512_dpbusd_epi32(code_sum, hi, ones);
      const uint8_t* ua = a + g * group_size + o * 8;
      for (size_t r = 0; r < MR; ++r) {
        dot[r] =
            _mm512_dpbusd_epi32(dot[r], Broadcast4Bytes(ua + r * a_stride), lo);
        dot[r] = _mm512_dpbusd_epi32(
            dot[r], Broadcast4Bytes(ua + r * a_stride + 4), hi);
      }
    }
    const __m512 scale = _mm512_loadu_ps(seg);
    const __m512 zero = _mm512_loadu_ps(seg + 64);
    for (size_t r = 0; r < MR; ++r) {
      // isum = Σua·q - c·Σq - 8·asum, asum = Σua - c·gs (docs/numerics.md).
      const int32_t asum = rows[r].group_sums[g] - rows[r].offset * gs;
      __m512i isum = _mm512_sub_epi32(
          dot[r],
          _mm512_mullo_epi32(_mm512_set1_epi32(rows[r].offset), code_sum));
      isum = _mm512_sub_epi32(isum, _mm512_set1_epi32(8 * asum));
      acc[r] = _mm512_fmadd_ps(scale, _mm512_cvtepi32_ps(isum), acc[r]);
      acc[r] = _mm512_fmadd_ps(zero, _mm512_set1_ps(static_cast<float>(asum)),
                               acc[r]);
    }
  }
  for (size_t r = 0; r < MR; ++r) {
    _mm512_storeu_ps(c + r * c_stride,
                     _mm512_mul_ps(acc[r], _mm512_set1_ps(rows[r].scale)));
  }
}

}  // namespace

void w4_dq8_gemm_avx512vnni(size_t m, size_t k, size_t group_size,
                            const uint8_t* a, size_t a_stride,
                            const Dq8Row* rows, const uint8_t* packed_block,
                            float* c, size_t c_stride) {
  assert(m >= 1 && m <= kW4MaxRows && k % group_size == 0 &&
         group_size % 8 == 0);
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
    case 4:
      return Dq8Gemm<4>(k, group_size, a, a_stride, rows, packed_block, c,
                        c_stride);
    case 5:
      return Dq8Gemm<5>(k, group_size, a, a_stride, rows, packed_block, c,
                        c_stride);
    case 6:
      return Dq8Gemm<6>(k, group_size, a, a_stride, rows, packed_block, c,
                        c_stride);
    case 7:
      return Dq8Gemm<7>(k, group_size, a, a_stride, rows, packed_block, c,
                        c_stride);
    default:
      return Dq8Gemm<8>(k, group_size, a, a_stride, rows, packed_block, c,
                        c_stride);
  }
}

}  // namespace qlinear
