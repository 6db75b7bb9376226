// AVX-512 helpers of the intx_opaque kernels: unpacking one unit of b-bit
// codes (kernels/PACKING.md, "Unit") into four 64-byte quads. Included only
// by AVX-512 kernel files; everything here has internal linkage, so no
// AVX-512 code can be picked by the linker for another ISA's caller.
#ifndef QLINEAR_KERNELS_GEMM_WX_UNPACK_AVX512_H_
#define QLINEAR_KERNELS_GEMM_WX_UNPACK_AVX512_H_

#include <immintrin.h>

#include <cstdint>

namespace qlinear {
namespace {

// Quad t (0..3) of a unit: byte 4j + i is the unsigned code of column j at
// k = 4t + i, so one 32-bit lane holds four consecutive k of one column (the
// operand order of vpdpbusd).
template <int kBits>
inline void WxUnpackUnitT(const uint8_t* unit, __m512i* q) {
  if constexpr (kBits == 8) {
    for (int t = 0; t < 4; ++t) q[t] = _mm512_loadu_si512(unit + 64 * t);
  } else {
    constexpr int kShift2 = (kBits & 4) ? 4 : 0;  // where the 2-bit piece goes
    constexpr int kShift1 = kShift2 + ((kBits & 2) ? 2 : 0);  // the 1-bit one
    const uint8_t* p = unit;
    if constexpr ((kBits & 4) != 0) {
      const __m512i m4 = _mm512_set1_epi8(0x0f);
      const __m512i v0 = _mm512_loadu_si512(p);
      const __m512i v1 = _mm512_loadu_si512(p + 64);
      q[0] = _mm512_and_si512(v0, m4);
      q[1] = _mm512_and_si512(_mm512_srli_epi16(v0, 4), m4);
      q[2] = _mm512_and_si512(v1, m4);
      q[3] = _mm512_and_si512(_mm512_srli_epi16(v1, 4), m4);
      p += 128;
    } else {
      for (int t = 0; t < 4; ++t) q[t] = _mm512_setzero_si512();
    }
    if constexpr ((kBits & 2) != 0) {
      const __m512i m2 = _mm512_set1_epi8(3);
      const __m512i v = _mm512_loadu_si512(p);
      for (int t = 0; t < 4; ++t) {
        __m512i piece = _mm512_and_si512(_mm512_srli_epi16(v, 2 * t), m2);
        if constexpr (kShift2 != 0) piece = _mm512_slli_epi16(piece, kShift2);
        q[t] = _mm512_or_si512(q[t], piece);
      }
      p += 64;
    }
    if constexpr ((kBits & 1) != 0) {
      // 32 bytes: bit t of byte x is position x, bit t + 4 position x + 32.
      const __m256i half =
          _mm256_loadu_si256(reinterpret_cast<const __m256i*>(p));
      const __m512i v = _mm512_inserti64x4(_mm512_castsi256_si512(half),
                                           _mm256_srli_epi16(half, 4), 1);
      const __m512i m1 = _mm512_set1_epi8(1);
      for (int t = 0; t < 4; ++t) {
        __m512i piece = _mm512_and_si512(_mm512_srli_epi16(v, t), m1);
        if constexpr (kShift1 != 0) piece = _mm512_slli_epi16(piece, kShift1);
        q[t] = _mm512_or_si512(q[t], piece);
      }
    }
  }
}

inline void WxUnpackUnit(const uint8_t* unit, int bits, __m512i* q) {
  switch (bits) {
    case 1:
      return WxUnpackUnitT<1>(unit, q);
    case 2:
      return WxUnpackUnitT<2>(unit, q);
    case 3:
      return WxUnpackUnitT<3>(unit, q);
    case 4:
      return WxUnpackUnitT<4>(unit, q);
    case 5:
      return WxUnpackUnitT<5>(unit, q);
    case 6:
      return WxUnpackUnitT<6>(unit, q);
    case 7:
      return WxUnpackUnitT<7>(unit, q);
    default:
      return WxUnpackUnitT<8>(unit, q);
  }
}

}  // namespace
}  // namespace qlinear

#endif  // QLINEAR_KERNELS_GEMM_WX_UNPACK_AVX512_H_
