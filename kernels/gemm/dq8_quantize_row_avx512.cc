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
  // The range always includes 0.
  __m512 vmin = _mm512_setzero_ps(), vmax = _mm512_setzero_ps();
  for (size_t i = 0; i < k; i += 16) {
    const __mmask16 mask = k - i >= 16
                               ? __mmask16{0xffff}
                               : static_cast<__mmask16>((1u << (k - i)) - 1);
    const __m512 v = _mm512_maskz_loadu_ps(mask, x + i);  // zeros past k
    vmin = _mm512_min_ps(vmin, v);
    vmax = _mm512_max_ps(vmax, v);
  }
  const float mn = MinF(0.0f, ReduceMin(vmin));
  const float mx = MaxF(0.0f, ReduceMax(vmax));
  const float scale = MaxF((mx - mn) / 255.0f, eps);
  const float zp_f = MinF(127.0f, MaxF(-128.0f, -128.0f - RneF(mn / scale)));
  const float inv = 1.0f / scale;

  const __m512 vinv = _mm512_set1_ps(inv), vzp = _mm512_set1_ps(zp_f);
  const __m512 lo = _mm512_set1_ps(-128.0f), hi = _mm512_set1_ps(127.0f);
  const __m128i bias = _mm_set1_epi8(static_cast<char>(0x80));
  for (size_t g0 = 0; g0 < k; g0 += group) {
    // Σq from byte sums: psadbw of q + 128 (q ^ 0x80), minus 128 per byte.
    __m128i sum = _mm_setzero_si128();
    int64_t bytes = 0;
    for (size_t i = g0; i < g0 + group; i += 16) {
      const size_t n = g0 + group - i < 16 ? g0 + group - i : 16;
      const __mmask16 mask =
          n == 16 ? __mmask16{0xffff} : static_cast<__mmask16>((1u << n) - 1);
      const __m512 v = _mm512_maskz_loadu_ps(mask, x + i);
      // clamp(rne(x * inv) + zp, -128, 127), as the reference.
      __m512 r = _mm512_add_ps(
          _mm512_roundscale_ps(_mm512_mul_ps(v, vinv),
                               _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC),
          vzp);
      r = _mm512_min_ps(_mm512_max_ps(r, lo), hi);
      // Lanes past the group are 0.
      const __m128i codes =
          _mm512_cvtepi32_epi8(_mm512_maskz_cvtps_epi32(mask, r));
      _mm_mask_storeu_epi8(q + i, mask, codes);
      sum = _mm_add_epi64(
          sum, _mm_sad_epu8(_mm_xor_si128(codes, bias), _mm_setzero_si128()));
      bytes += 16;
    }
    group_sums[g0 / group] = static_cast<int32_t>(
        _mm_cvtsi128_si64(sum) + _mm_extract_epi64(sum, 1) - 128 * bytes);
  }
  return {scale, static_cast<int32_t>(zp_f)};
}

}  // namespace qlinear
