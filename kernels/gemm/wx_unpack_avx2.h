// AVX2 helpers of the intx_opaque kernels: unpacking one half (8 columns) of
// a unit of b-bit codes (kernels/PACKING.md, "Unit") into four 32-byte
// quads. Included only by AVX2 kernel files; everything here has internal
// linkage, so no AVX2 code can be picked by the linker for a scalar caller.
#ifndef QLINEAR_KERNELS_GEMM_WX_UNPACK_AVX2_H_
#define QLINEAR_KERNELS_GEMM_WX_UNPACK_AVX2_H_

#include <immintrin.h>

#include <cstdint>

namespace qlinear {
namespace {

inline __m256i WxLoad256(const uint8_t* p) {
  return _mm256_loadu_si256(reinterpret_cast<const __m256i*>(p));
}

// Quad t (0..3) of columns 8h..8h+7 of a unit: byte 4j + i is the unsigned
// code of column 8h + j at k = 4t + i.
template <int kBits>
inline void WxUnpackHalfT(const uint8_t* unit, int h, __m256i* q) {
  if constexpr (kBits == 8) {
    for (int t = 0; t < 4; ++t) q[t] = WxLoad256(unit + 64 * t + 32 * h);
  } else {
    constexpr int kShift2 = (kBits & 4) ? 4 : 0;
    constexpr int kShift1 = kShift2 + ((kBits & 2) ? 2 : 0);
    const uint8_t* p = unit;
    if constexpr ((kBits & 4) != 0) {
      const __m256i m4 = _mm256_set1_epi8(0x0f);
      const __m256i v0 = WxLoad256(p + 32 * h);
      const __m256i v1 = WxLoad256(p + 64 + 32 * h);
      q[0] = _mm256_and_si256(v0, m4);
      q[1] = _mm256_and_si256(_mm256_srli_epi16(v0, 4), m4);
      q[2] = _mm256_and_si256(v1, m4);
      q[3] = _mm256_and_si256(_mm256_srli_epi16(v1, 4), m4);
      p += 128;
    } else {
      for (int t = 0; t < 4; ++t) q[t] = _mm256_setzero_si256();
    }
    if constexpr ((kBits & 2) != 0) {
      const __m256i m2 = _mm256_set1_epi8(3);
      const __m256i v = WxLoad256(p + 32 * h);
      for (int t = 0; t < 4; ++t) {
        __m256i piece = _mm256_and_si256(_mm256_srli_epi16(v, 2 * t), m2);
        if constexpr (kShift2 != 0) piece = _mm256_slli_epi16(piece, kShift2);
        q[t] = _mm256_or_si256(q[t], piece);
      }
      p += 64;
    }
    if constexpr ((kBits & 1) != 0) {
      // Bit t of byte x is position x, bit t + 4 position x + 32.
      const __m256i v = _mm256_srli_epi16(WxLoad256(p), 4 * h);
      const __m256i m1 = _mm256_set1_epi8(1);
      for (int t = 0; t < 4; ++t) {
        __m256i piece = _mm256_and_si256(_mm256_srli_epi16(v, t), m1);
        if constexpr (kShift1 != 0) piece = _mm256_slli_epi16(piece, kShift1);
        q[t] = _mm256_or_si256(q[t], piece);
      }
    }
  }
}

inline void WxUnpackHalf(const uint8_t* unit, int bits, int h, __m256i* q) {
  switch (bits) {
    case 1:
      return WxUnpackHalfT<1>(unit, h, q);
    case 2:
      return WxUnpackHalfT<2>(unit, h, q);
    case 3:
      return WxUnpackHalfT<3>(unit, h, q);
    case 4:
      return WxUnpackHalfT<4>(unit, h, q);
    case 5:
      return WxUnpackHalfT<5>(unit, h, q);
    case 6:
      return WxUnpackHalfT<6>(unit, h, q);
    case 7:
      return WxUnpackHalfT<7>(unit, h, q);
    default:
      return WxUnpackHalfT<8>(unit, h, q);
  }
}

}  // namespace
}  // namespace qlinear

#endif  // QLINEAR_KERNELS_GEMM_WX_UNPACK_AVX2_H_
