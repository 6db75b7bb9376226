// intx_opaque kernels with int8 activations for AVX-512 VNNI: vpdpbusd of
// the unsigned weight codes (u8) against the int8 activation codes (s8),
// exact in int32; the zero points are applied per group through the code
// sums of the packed header (docs/numerics.md, kernels/PACKING.md).
#include <immintrin.h>

#include <cassert>
#include <cstring>

#include "kernels/gemm/gemm.h"
#include "kernels/gemm/wx_unpack_avx512.h"

namespace qlinear {
namespace {

inline __m512i Broadcast4Bytes(const int8_t* p) {
  int32_t v;
  std::memcpy(&v, p, 4);
  return _mm512_set1_epi32(v);
}

template <size_t MR, int kBits>
void Dq8Gemm(const int8_t* a, size_t a_stride, const WxDq8Row* rows,
             const uint8_t* packed_block, const WxGeometry& geo, float* c,
             size_t c_stride) {
  __m512 acc[MR];
  for (size_t r = 0; r < MR; ++r) acc[r] = _mm512_setzero_ps();
  constexpr size_t unit_bytes = WxUnitBytes(kBits);
  const size_t group_k = geo.group_units * kWxUnitK;
  const bool pairs_fit_int16 = geo.group_size <= 128;
  for (size_t g = 0; g < geo.groups; ++g) {
    const uint8_t* seg = packed_block + g * geo.segment_bytes;
    // Few rows make few dependency chains: quads then alternate between
    // kChains partial sums per row (integer sums, so the order is free).
    constexpr int kChains = MR >= 4 ? 1 : (MR >= 2 ? 2 : 4);
    __m512i dot[kChains][MR];
    for (int h = 0; h < kChains; ++h) {
      for (size_t r = 0; r < MR; ++r) dot[h][r] = _mm512_setzero_si512();
    }
    for (size_t u = 0; u < geo.group_units; ++u) {
      const uint8_t* unit = seg + kWxHeaderBytes + u * unit_bytes;
      if (MR >= kDq8PrefetchMinRows) {
        for (size_t off = 0; off < unit_bytes; off += 64) {
          _mm_prefetch(
              reinterpret_cast<const char*>(unit + off + kDq8PrefetchBytes),
              _MM_HINT_T0);
        }
      }
      __m512i q[4];
      WxUnpackUnitT<kBits>(unit, q);
      const int8_t* x = a + g * group_k + u * kWxUnitK;
      for (int t = 0; t < 4; ++t) {
        for (size_t r = 0; r < MR; ++r) {
          dot[t % kChains][r] =
              _mm512_dpbusd_epi32(dot[t % kChains][r], q[t],
                                  Broadcast4Bytes(x + r * a_stride + 4 * t));
        }
      }
    }
    for (int h = 1; h < kChains; ++h) {
      for (size_t r = 0; r < MR; ++r) {
        dot[0][r] = _mm512_add_epi32(dot[0][r], dot[h][r]);
      }
    }
    const __m512 scale = _mm512_loadu_ps(seg);
    const __m512i code_sum = _mm512_loadu_si512(seg + 64);
    const __m512i zero = _mm512_cvtepu8_epi32(
        _mm_loadu_si128(reinterpret_cast<const __m128i*>(seg + 128)));
    if (pairs_fit_int16) {
      // zp_a·Σu + zero·Σ(qa - zp_a) in one vpmaddwd: per column the int16
      // pair (Σu, zero), per row (zp_a, Σ(qa - zp_a)); all four fit int16
      // for groups of at most 128 (|Σ(qa - zp_a)|, Σu <= 255·128).
      const __m512i column_pairs =
          _mm512_or_si512(_mm512_and_si512(code_sum, _mm512_set1_epi32(0xffff)),
                          _mm512_slli_epi32(zero, 16));
      for (size_t r = 0; r < MR; ++r) {
        const uint32_t row_pair =
            (static_cast<uint32_t>(rows[r].zero_point) & 0xffffu) |
            (static_cast<uint32_t>(rows[r].asum[g]) << 16);
        const __m512i isum = _mm512_sub_epi32(
            dot[0][r], _mm512_madd_epi16(
                           column_pairs,
                           _mm512_set1_epi32(static_cast<int32_t>(row_pair))));
        acc[r] =
            _mm512_fmadd_ps(_mm512_mul_ps(_mm512_set1_ps(rows[r].scale), scale),
                            _mm512_cvtepi32_ps(isum), acc[r]);
      }
      continue;
    }
    for (size_t r = 0; r < MR; ++r) {
      // isum = Σqa·u - zp_a·Σu - zero·Σ(qa - zp_a) (docs/numerics.md), in
      // wrapping int32 arithmetic: the result itself fits.
      __m512i isum = _mm512_sub_epi32(
          dot[0][r],
          _mm512_mullo_epi32(_mm512_set1_epi32(rows[r].zero_point), code_sum));
      isum = _mm512_sub_epi32(
          isum, _mm512_mullo_epi32(zero, _mm512_set1_epi32(rows[r].asum[g])));
      acc[r] =
          _mm512_fmadd_ps(_mm512_mul_ps(_mm512_set1_ps(rows[r].scale), scale),
                          _mm512_cvtepi32_ps(isum), acc[r]);
    }
  }
  for (size_t r = 0; r < MR; ++r) _mm512_storeu_ps(c + r * c_stride, acc[r]);
}

template <size_t MR>
void Dq8GemmBits(const int8_t* a, size_t a_stride, const WxDq8Row* rows,
                 const uint8_t* packed_block, const WxGeometry& geo, float* c,
                 size_t c_stride) {
  switch (geo.bits) {
    case 1:
      return Dq8Gemm<MR, 1>(a, a_stride, rows, packed_block, geo, c, c_stride);
    case 2:
      return Dq8Gemm<MR, 2>(a, a_stride, rows, packed_block, geo, c, c_stride);
    case 3:
      return Dq8Gemm<MR, 3>(a, a_stride, rows, packed_block, geo, c, c_stride);
    case 4:
      return Dq8Gemm<MR, 4>(a, a_stride, rows, packed_block, geo, c, c_stride);
    case 5:
      return Dq8Gemm<MR, 5>(a, a_stride, rows, packed_block, geo, c, c_stride);
    case 6:
      return Dq8Gemm<MR, 6>(a, a_stride, rows, packed_block, geo, c, c_stride);
    case 7:
      return Dq8Gemm<MR, 7>(a, a_stride, rows, packed_block, geo, c, c_stride);
    default:
      return Dq8Gemm<MR, 8>(a, a_stride, rows, packed_block, geo, c, c_stride);
  }
}

}  // namespace

void wx_dq8_gemm_avx512vnni(size_t m, const int8_t* a, size_t a_stride,
                            const WxDq8Row* rows, const uint8_t* packed_block,
                            const WxGeometry& geometry, float* c,
                            size_t c_stride) {
  assert(m >= 1 && m <= kWxMaxRows);
  switch (m) {
    case 1:
      return Dq8GemmBits<1>(a, a_stride, rows, packed_block, geometry, c,
                            c_stride);
    case 2:
      return Dq8GemmBits<2>(a, a_stride, rows, packed_block, geometry, c,
                            c_stride);
    case 3:
      return Dq8GemmBits<3>(a, a_stride, rows, packed_block, geometry, c,
                            c_stride);
    case 4:
      return Dq8GemmBits<4>(a, a_stride, rows, packed_block, geometry, c,
                            c_stride);
    case 5:
      return Dq8GemmBits<5>(a, a_stride, rows, packed_block, geometry, c,
                            c_stride);
    case 6:
      return Dq8GemmBits<6>(a, a_stride, rows, packed_block, geometry, c,
                            c_stride);
    case 7:
      return Dq8GemmBits<7>(a, a_stride, rows, packed_block, geometry, c,
                            c_stride);
    default:
      return Dq8GemmBits<8>(a, a_stride, rows, packed_block, geometry, c,
                            c_stride);
  }
}

}  // namespace qlinear
