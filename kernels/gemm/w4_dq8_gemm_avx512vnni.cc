// int4_opaque kernels with int8 activations for AVX-512 VNNI (vpdpbusd).
#include <immintrin.h>

#include <cassert>
#include <cstdint>

#include "kernels/gemm/gemm.h"

namespace qlinear {
namespace {

inline __m512i Broadcast4Bytes(const uint8_t* p) {
  int32_t v;
  __builtin_memcpy(&v, p, 4);
  return _mm512_set1_epi32(v);
}

// Independent int32 accumulators per row, so that consecutive vpdpbusd do
// not wait for each other's result (4-5 cycles of latency): with few rows
// the dot products are split by nibble (lo/hi) and by octet parity. The
// integer sums are exact, so the split changes no bit of the result.
constexpr size_t ChainsPerRow(size_t mr) {
  return mr <= 2 ? 4 : mr <= 4 ? 2 : 1;
}

template <size_t MR>
void Dq8Gemm(size_t k, size_t group_size, const uint8_t* a, size_t a_stride,
             const Dq8Row* rows, const uint8_t* packed_block, float* c,
             size_t c_stride) {
  constexpr size_t kChains = ChainsPerRow(MR);
  constexpr bool kSignedCodes = MR >= 4;
  __m512 acc[MR];
  for (size_t r = 0; r < MR; ++r) acc[r] = _mm512_setzero_ps();
  const size_t segment = W4SegmentBytes(group_size);
  const int32_t gs = static_cast<int32_t>(group_size);
  const __m512i nibble = _mm512_set1_epi8(0x0f);
  const __m512i eight = _mm512_set1_epi8(8);
  const __m512i ones = _mm512_set1_epi8(1);
  const __m512i low16 = _mm512_set1_epi32(0xffff);
  const __m512i eight_gs = _mm512_set1_epi32(8 * gs);
  const size_t octets = group_size / 8;
  // The int16 pair (-c, 0) of each row, for vpdpwssd: in registers with
  // few rows, broadcast from memory with many.
  int32_t neg_offset[MR];
  __m512i neg_offset_v[MR];
  for (size_t r = 0; r < MR; ++r) {
    neg_offset[r] = (-rows[r].offset) & 0xffff;
    neg_offset_v[r] = _mm512_set1_epi32(neg_offset[r]);
  }
  for (size_t g = 0; g < k / group_size; ++g) {
    const uint8_t* seg = packed_block + g * segment;
    // With few rows, the codes stay unsigned (q) and each row's first chain
    // starts at -8·asum instead: Σua·q - 8·asum = Σua·(q - 8). With more,
    // one q - 8 per code, shared by the rows, is cheaper.
    __m512i dot[MR][kChains];
    int32_t asum[MR];  // Σua - c·gs, with unsigned codes
    for (size_t r = 0; r < MR; ++r) {
      for (size_t j = 0; j < kChains; ++j) dot[r][j] = _mm512_setzero_si512();
      if constexpr (!kSignedCodes) {
        asum[r] = rows[r].group_sums[g] - rows[r].offset * gs;
        dot[r][0] = _mm512_set1_epi32(-8 * asum[r]);
      }
    }
    // Σq per column: lo + hi bytes summed in u8 over up to 8 octets (at most
    // 8 * 2 * 15 = 240), then widened with one vpdpbusd.
    __m512i code_sum = _mm512_setzero_si512();
    __m512i byte_sum = _mm512_setzero_si512();
    // Two octets per step (group_size / 8 is even); with 4 chains the second
    // octet feeds chains 2 and 3. Indices stay compile-time constants so the
    // accumulators live in registers.
    constexpr size_t kLo = 0, kHi = kChains >= 2 ? 1 : 0;
    constexpr size_t kNext = kChains == 4 ? 2 : 0;
    for (size_t o = 0; o < octets; o += 2) {
      if (MR >= kDq8PrefetchMinRows) {
        const uint8_t* ahead = seg + 128 + o * 64 + kDq8PrefetchBytes;
        _mm_prefetch(reinterpret_cast<const char*>(ahead), _MM_HINT_T0);
        _mm_prefetch(reinterpret_cast<const char*>(ahead + 64), _MM_HINT_T0);
      }
      const __m512i octet0 = _mm512_loadu_si512(seg + 128 + o * 64);
      const __m512i octet1 = _mm512_loadu_si512(seg + 128 + (o + 1) * 64);
      const __m512i lo0 = _mm512_and_si512(octet0, nibble);  // k + 0..3
      const __m512i hi0 =
          _mm512_and_si512(_mm512_srli_epi16(octet0, 4), nibble);  // k + 4..7
      const __m512i lo1 = _mm512_and_si512(octet1, nibble);        // k + 8..11
      const __m512i hi1 =
          _mm512_and_si512(_mm512_srli_epi16(octet1, 4), nibble);  // k + 12..15
      byte_sum =
          _mm512_add_epi8(byte_sum, _mm512_add_epi8(_mm512_add_epi8(lo0, hi0),
                                                    _mm512_add_epi8(lo1, hi1)));
      if (o % 8 == 6 || o + 2 == octets) {
        code_sum = _mm512_dpbusd_epi32(code_sum, byte_sum, ones);
        byte_sum = _mm512_setzero_si512();
      }
      // q - 8 as int8 (or q), the signed operand of vpdpbusd.
      const __m512i w_lo0 = kSignedCodes ? _mm512_sub_epi8(lo0, eight) : lo0;
      const __m512i w_hi0 = kSignedCodes ? _mm512_sub_epi8(hi0, eight) : hi0;
      const __m512i w_lo1 = kSignedCodes ? _mm512_sub_epi8(lo1, eight) : lo1;
      const __m512i w_hi1 = kSignedCodes ? _mm512_sub_epi8(hi1, eight) : hi1;
      const uint8_t* ua = a + g * group_size + o * 8;
      for (size_t r = 0; r < MR; ++r) {
        const uint8_t* ur = ua + r * a_stride;
        dot[r][kLo] =
            _mm512_dpbusd_epi32(dot[r][kLo], Broadcast4Bytes(ur), w_lo0);
        dot[r][kHi] =
            _mm512_dpbusd_epi32(dot[r][kHi], Broadcast4Bytes(ur + 4), w_hi0);
        dot[r][kLo + kNext] = _mm512_dpbusd_epi32(
            dot[r][kLo + kNext], Broadcast4Bytes(ur + 8), w_lo1);
        dot[r][kHi + kNext] = _mm512_dpbusd_epi32(
            dot[r][kHi + kNext], Broadcast4Bytes(ur + 12), w_hi1);
      }
    }
    const __m512 scale = _mm512_loadu_ps(seg);
    const __m512 zero = _mm512_loadu_ps(seg + 64);
    // wsum = Σq - 8·gs in [-2048, 1792] (or Σq <= 3840 with unsigned
    // codes): the low int16 of each lane, 0 in the high one (vpdpwssd's
    // pair (wsum, 0)).
    const __m512i wsum =
        kSignedCodes
            ? _mm512_and_si512(_mm512_sub_epi32(code_sum, eight_gs), low16)
            : code_sum;
    for (size_t r = 0; r < MR; ++r) {
      __m512i dot_sum = dot[r][0];
      for (size_t j = 1; j < kChains; ++j)
        dot_sum = _mm512_add_epi32(dot_sum, dot[r][j]);
      // isum = Σua·(q - 8) - c·Σ(q - 8) = Σ(qa - zp_a)(q - 8), exact
      // (with unsigned codes: Σua·q - 8·asum - c·Σq, the same integer)
      // (docs/numerics.md); then acc = fma(scale, isum, acc),
      // acc = fma(zero, asum, acc).
      const __m512i isum = _mm512_dpwssd_epi32(
          dot_sum, wsum,
          kSignedCodes ? _mm512_set1_epi32(neg_offset[r]) : neg_offset_v[r]);
      acc[r] = _mm512_fmadd_ps(scale, _mm512_cvtepi32_ps(isum), acc[r]);
      const float asum_f =
          kSignedCodes ? rows[r].asum[g] : static_cast<float>(asum[r]);
      acc[r] = _mm512_fmadd_ps(zero, _mm512_set1_ps(asum_f), acc[r]);
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
         group_size % 16 == 0 && group_size <= 256);
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
