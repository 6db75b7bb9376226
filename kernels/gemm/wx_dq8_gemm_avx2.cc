// intx_opaque kernel with int8 activations for AVX2: vpdpbusd emulated with
// vpmaddubsw (u8 codes x s8 activations, pairs summed in int16) and vpmaddwd.
// A pair sum reaches at most 2 * 127 * 128 for codes of up to 7 bits, so it
// never saturates; 8-bit codes are split into nibbles (pairs <= 2 * 15 * 128)
// and the high nibble's sums are weighted by 16 in vpmaddwd. Exact in int32.
#include <immintrin.h>

#include <cassert>
#include <cstring>

#include "kernels/gemm/gemm.h"
#include "kernels/gemm/wx_unpack_avx2.h"

namespace qlinear {
namespace {

inline __m256i Broadcast4Bytes(const int8_t* p) {
  int32_t v;
  std::memcpy(&v, p, 4);
  return _mm256_set1_epi32(v);
}

template <bool kSplit>
inline __m256i DotBytes(__m256i acc, __m256i codes, __m256i x) {
  if constexpr (kSplit) {
    const __m256i m4 = _mm256_set1_epi8(0x0f);
    const __m256i lo = _mm256_and_si256(codes, m4);
    const __m256i hi = _mm256_and_si256(_mm256_srli_epi16(codes, 4), m4);
    acc = _mm256_add_epi32(acc, _mm256_madd_epi16(_mm256_maddubs_epi16(lo, x),
                                                  _mm256_set1_epi16(1)));
    return _mm256_add_epi32(acc, _mm256_madd_epi16(_mm256_maddubs_epi16(hi, x),
                                                   _mm256_set1_epi16(16)));
  } else {
    return _mm256_add_epi32(acc,
                            _mm256_madd_epi16(_mm256_maddubs_epi16(codes, x),
                                              _mm256_set1_epi16(1)));
  }
}

// One 8-column half of the block, rows 0..MR-1.
template <size_t MR, int kBits>
void Dq8GemmHalf(const int8_t* a, size_t a_stride, const WxDq8Row* rows,
                 const uint8_t* packed_block, const WxGeometry& geo, int h,
                 float* c, size_t c_stride) {
  __m256 acc[MR];
  for (size_t r = 0; r < MR; ++r) acc[r] = _mm256_setzero_ps();
  constexpr size_t unit_bytes = WxUnitBytes(kBits);
  const size_t group_k = geo.group_units * kWxUnitK;
  const bool pairs_fit_int16 = geo.group_size <= 128;
  for (size_t g = 0; g < geo.groups; ++g) {
    const uint8_t* seg = packed_block + g * geo.segment_bytes;
    __m256i dot[MR];
    for (size_t r = 0; r < MR; ++r) dot[r] = _mm256_setzero_si256();
    for (size_t u = 0; u < geo.group_units; ++u) {
      const uint8_t* unit = seg + kWxHeaderBytes + u * unit_bytes;
      // The first half streams the block; the second finds it in cache.
      if (MR >= kDq8PrefetchMinRows && h == 0) {
        for (size_t off = 0; off < unit_bytes; off += 64) {
          _mm_prefetch(
              reinterpret_cast<const char*>(unit + off + kDq8PrefetchBytes),
              _MM_HINT_T0);
        }
      }
      __m256i q[4];
      WxUnpackHalfT<kBits>(unit, h, q);
      const int8_t* x = a + g * group_k + u * kWxUnitK;
      for (int t = 0; t < 4; ++t) {
        for (size_t r = 0; r < MR; ++r) {
          dot[r] = DotBytes<kBits == 8>(
              dot[r], q[t], Broadcast4Bytes(x + r * a_stride + 4 * t));
        }
      }
    }
    const __m256 scale =
        _mm256_loadu_ps(reinterpret_cast<const float*>(seg) + 8 * h);
    const __m256i code_sum =
        _mm256_loadu_si256(reinterpret_cast<const __m256i*>(seg + 64 + 32 * h));
    const __m256i zero = _mm256_cvtepu8_epi32(
        _mm_loadl_epi64(reinterpret_cast<const __m128i*>(seg + 128 + 8 * h)));
    if (pairs_fit_int16) {
      // zp_a·Σu + zero·Σ(qa - zp_a) in one vpmaddwd, as the AVX-512 kernel.
      const __m256i column_pairs =
          _mm256_or_si256(_mm256_and_si256(code_sum, _mm256_set1_epi32(0xffff)),
                          _mm256_slli_epi32(zero, 16));
      for (size_t r = 0; r < MR; ++r) {
        const uint32_t row_pair =
            (static_cast<uint32_t>(rows[r].zero_point) & 0xffffu) |
            (static_cast<uint32_t>(rows[r].asum[g]) << 16);
        const __m256i isum = _mm256_sub_epi32(
            dot[r], _mm256_madd_epi16(
                        column_pairs,
                        _mm256_set1_epi32(static_cast<int32_t>(row_pair))));
        acc[r] =
            _mm256_fmadd_ps(_mm256_mul_ps(_mm256_set1_ps(rows[r].scale), scale),
                            _mm256_cvtepi32_ps(isum), acc[r]);
      }
      continue;
    }
    for (size_t r = 0; r < MR; ++r) {
      __m256i isum = _mm256_sub_epi32(
          dot[r],
          _mm256_mullo_epi32(_mm256_set1_epi32(rows[r].zero_point), code_sum));
      isum = _mm256_sub_epi32(
          isum, _mm256_mullo_epi32(zero, _mm256_set1_epi32(rows[r].asum[g])));
      acc[r] =
          _mm256_fmadd_ps(_mm256_mul_ps(_mm256_set1_ps(rows[r].scale), scale),
                          _mm256_cvtepi32_ps(isum), acc[r]);
    }
  }
  for (size_t r = 0; r < MR; ++r) {
    _mm256_storeu_ps(c + r * c_stride + 8 * h, acc[r]);
  }
}

template <size_t MR>
void Dq8Gemm(const int8_t* a, size_t a_stride, const WxDq8Row* rows,
             const uint8_t* packed_block, const WxGeometry& geo, float* c,
             size_t c_stride) {
  for (int h = 0; h < 2; ++h) {
    switch (geo.bits) {
      case 1:
        Dq8GemmHalf<MR, 1>(a, a_stride, rows, packed_block, geo, h, c,
                           c_stride);
        break;
      case 2:
        Dq8GemmHalf<MR, 2>(a, a_stride, rows, packed_block, geo, h, c,
                           c_stride);
        break;
      case 3:
        Dq8GemmHalf<MR, 3>(a, a_stride, rows, packed_block, geo, h, c,
                           c_stride);
        break;
      case 4:
        Dq8GemmHalf<MR, 4>(a, a_stride, rows, packed_block, geo, h, c,
                           c_stride);
        break;
      case 5:
        Dq8GemmHalf<MR, 5>(a, a_stride, rows, packed_block, geo, h, c,
                           c_stride);
        break;
      case 6:
        Dq8GemmHalf<MR, 6>(a, a_stride, rows, packed_block, geo, h, c,
                           c_stride);
        break;
      case 7:
        Dq8GemmHalf<MR, 7>(a, a_stride, rows, packed_block, geo, h, c,
                           c_stride);
        break;
      default:
        Dq8GemmHalf<MR, 8>(a, a_stride, rows, packed_block, geo, h, c,
                           c_stride);
        break;
    }
  }
}

}  // namespace

void wx_dq8_gemm_avx2(size_t m, const int8_t* a, size_t a_stride,
                      const WxDq8Row* rows, const uint8_t* packed_block,
                      const WxGeometry& geometry, float* c, size_t c_stride) {
  assert(m >= 1 && m <= kWxMaxRows);
  // Sixteen ymm registers hold four rows of sums plus the codes.
  while (m > 4) {
    Dq8Gemm<4>(a, a_stride, rows, packed_block, geometry, c, c_stride);
    m -= 4;
    a += 4 * a_stride;
    rows += 4;
    c += 4 * c_stride;
  }
  switch (m) {
    case 1:
      return Dq8Gemm<1>(a, a_stride, rows, packed_block, geometry, c, c_stride);
    case 2:
      return Dq8Gemm<2>(a, a_stride, rows, packed_block, geometry, c, c_stride);
    case 3:
      return Dq8Gemm<3>(a, a_stride, rows, packed_block, geometry, c, c_stride);
    default:
      return Dq8Gemm<4>(a, a_stride, rows, packed_block, geometry, c, c_stride);
  }
}

}  // namespace qlinear
