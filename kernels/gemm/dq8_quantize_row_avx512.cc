// Per-row activation quantization for AVX-512: the range, then the codes and
// their group sums, 16 values at a time. The scalar steps (scale, zero point)
// are the reference's expressions, so the codes are the reference's.
#include <immintrin.h>

#include <cassert>

#include "kernels/gemm/gemm.h"

namespace qlinear {
namespace {

// std::min / std::max semantics, with internal linkage: a template
// instantiated in this file must not stand in for other files' copies.
inline float MinF(float a, float b) { return b < a ? b : a; }
inline float MaxF(float a, float b) { return a < b ? b : a; }
// Horizontal reductions through memory, once per row or group (GCC 12's
// 512-to-256-bit extractions trip -Wuninitialized).
inline float ReduceMin(__m512 v) {
  alignas(64) float lanes[16];
  _mm512_store_ps(lanes, v);
  float m = lanes[0];
  for (int i = 1; i < 16; ++i) m = MinF(m, lanes[i]);
  return m;
}
inline float ReduceMax(__m512 v) {
  alignas(64) float lanes[16];
  _mm512_store_ps(lanes, v);
  float m = lanes[0];
  for (int i = 1; i < 16; ++i) m = MaxF(m, lanes[i]);
  return m;
}
// Lane-wise a < b ? a : b (and >). Written with a zero mask: GCC 12's
// _mm512_min_ps / _mm512_max_ps trip -Wuninitialized in some call sites.
inline __m512 MinLanes(__m512 a, __m512 b) {
  return _mm512_maskz_min_ps(0xffff, a, b);
}
inline __m512 MaxLanes(__m512 a, __m512 b) {
  return _mm512_maskz_max_ps(0xffff, a, b);
}
// The lowest min(n, 16) lanes.
inline __mmask16 LowLanes(size_t n) {
  return n >= 16 ? __mmask16{0xffff} : static_cast<__mmask16>((1u << n) - 1);
}
// Round half to even (std::nearbyint in the default rounding mode).
inline float RneF(float v) {
  const __m128 x = _mm_set_ss(v);
  return _mm_cvtss_f32(
      _mm_round_ss(x, x, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC));
}

}  // namespace

Dq8RowQuant dq8_quantize_row_avx512(const float* x, size_t k, size_t group,
                                    float eps, int8_t* q, int32_t* group_sums) {
  assert(group >= 1 && k % group == 0);
  // The range always includes 0. Two chains each; min(v, acc) keeps acc
  // when v is NaN, as the reference's std::min(acc, v) does.
  const __m512 zero = _mm512_setzero_ps();
  __m512 min0 = zero, min1 = zero, max0 = zero, max1 = zero;
  size_t i = 0;
  for (; i + 32 <= k; i += 32) {
    const __m512 v0 = _mm512_loadu_ps(x + i);
    const __m512 v1 = _mm512_loadu_ps(x + i + 16);
    min0 = MinLanes(v0, min0);
    min1 = MinLanes(v1, min1);
    max0 = MaxLanes(v0, max0);
    max1 = MaxLanes(v1, max1);
  }
  for (; i < k; i += 16) {
    const __m512 v = _mm512_maskz_loadu_ps(LowLanes(k - i), x + i);  // 0 past k
    min0 = MinLanes(v, min0);
    max0 = MaxLanes(v, max0);
  }
  const float mn = MinF(0.0f, ReduceMin(MinLanes(min0, min1)));
  const float mx = MaxF(0.0f, ReduceMax(MaxLanes(max0, max1)));
  const float scale = MaxF((mx - mn) / 255.0f, eps);
  const float zp_f = MinF(127.0f, MaxF(-128.0f, -128.0f - RneF(mn / scale)));
  const float inv = 1.0f / scale;

  const __m512 vinv = _mm512_set1_ps(inv), vzp = _mm512_set1_ps(zp_f);
  const __m512 lo = _mm512_set1_ps(-128.0f), hi = _mm512_set1_ps(127.0f);
  const __m128i bias = _mm_set1_epi8(static_cast<char>(0x80));
  // clamp(rne(x * inv) + zp, -128, 127) of 16 values, as the reference.
  const auto codes_of = [&](__m512 v) {
    __m512 r = _mm512_add_ps(
        _mm512_roundscale_ps(_mm512_mul_ps(v, vinv),
                             _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC),
        vzp);
    r = MinLanes(MaxLanes(r, lo), hi);
    return _mm512_cvtepi32_epi8(_mm512_cvtps_epi32(r));
  };
  for (size_t g0 = 0; g0 < k; g0 += group) {
    // Σq from byte sums: psadbw of q + 128 (q ^ 0x80), minus 128 per byte.
    __m128i sum = _mm_setzero_si128();
    size_t j = g0;
    for (; j + 16 <= g0 + group; j += 16) {
      const __m128i codes = codes_of(_mm512_loadu_ps(x + j));
      _mm_storeu_si128(reinterpret_cast<__m128i*>(q + j), codes);
      sum = _mm_add_epi64(
          sum, _mm_sad_epu8(_mm_xor_si128(codes, bias), _mm_setzero_si128()));
    }
    if (j < g0 + group) {
      // The group's last 1..15 values; the lanes past it count as code 0.
      const __mmask16 mask = LowLanes(g0 + group - j);
      const __m128i codes = _mm_maskz_mov_epi8(
          mask, codes_of(_mm512_maskz_loadu_ps(mask, x + j)));
      _mm_mask_storeu_epi8(q + j, mask, codes);
      sum = _mm_add_epi64(
          sum, _mm_sad_epu8(_mm_xor_si128(codes, bias), _mm_setzero_si128()));
      j += 16;
    }
    group_sums[g0 / group] = static_cast<int32_t>(
        _mm_cvtsi128_si64(sum) + _mm_extract_epi64(sum, 1) -
        128 * static_cast<int64_t>(j - g0));
  }
  return {scale, static_cast<int32_t>(zp_f)};
}

}  // namespace qlinear
