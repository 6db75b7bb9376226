// Per-row activation quantization for AVX2: the range, then the codes and
// their group sums, 8 values at a time (the tail of a row in scalar code with
// the same expressions). The scalar steps (scale, zero point) are the
// reference's, so the codes are the reference's.
#include <immintrin.h>

#include <cassert>

#include "kernels/gemm/gemm.h"

namespace qlinear {
namespace {

// std::min / std::max semantics, with internal linkage: a template
// instantiated in this file must not stand in for other files' copies.
inline float MinF(float a, float b) { return b < a ? b : a; }
inline float MaxF(float a, float b) { return a < b ? b : a; }
// Round half to even (std::nearbyint in the default rounding mode).
inline float RneF(float v) {
  const __m128 x = _mm_set_ss(v);
  return _mm_cvtss_f32(
      _mm_round_ss(x, x, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC));
}

inline float HorizontalMin(__m256 v) {
  __m128 m = _mm_min_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
  m = _mm_min_ps(m, _mm_movehl_ps(m, m));
  m = _mm_min_ss(m, _mm_shuffle_ps(m, m, 1));
  return _mm_cvtss_f32(m);
}

inline float HorizontalMax(__m256 v) {
  __m128 m = _mm_max_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
  m = _mm_max_ps(m, _mm_movehl_ps(m, m));
  m = _mm_max_ss(m, _mm_shuffle_ps(m, m, 1));
  return _mm_cvtss_f32(m);
}

inline int32_t HorizontalSum(__m256i v) {
  __m128i s =
      _mm_add_epi32(_mm256_castsi256_si128(v), _mm256_extracti128_si256(v, 1));
  s = _mm_add_epi32(s, _mm_shuffle_epi32(s, 0x4e));
  s = _mm_add_epi32(s, _mm_shuffle_epi32(s, 0xb1));
  return _mm_cvtsi128_si32(s);
}

}  // namespace

Dq8RowQuant dq8_quantize_row_avx2(const float* x, size_t k, size_t group,
                                  float eps, int8_t* q, int32_t* group_sums) {
  assert(group >= 1 && k % group == 0);
  // The range always includes 0.
  __m256 vmin = _mm256_setzero_ps(), vmax = _mm256_setzero_ps();
  size_t i = 0;
  for (; i + 8 <= k; i += 8) {
    const __m256 v = _mm256_loadu_ps(x + i);
    vmin = _mm256_min_ps(vmin, v);
    vmax = _mm256_max_ps(vmax, v);
  }
  float mn = MinF(0.0f, HorizontalMin(vmin));
  float mx = MaxF(0.0f, HorizontalMax(vmax));
  for (; i < k; ++i) {
    mn = MinF(mn, x[i]);
    mx = MaxF(mx, x[i]);
  }
  const float scale = MaxF((mx - mn) / 255.0f, eps);
  const float zp_f = MinF(127.0f, MaxF(-128.0f, -128.0f - RneF(mn / scale)));
  const float inv = 1.0f / scale;

  const __m256 vinv = _mm256_set1_ps(inv), vzp = _mm256_set1_ps(zp_f);
  const __m256 lo = _mm256_set1_ps(-128.0f), hi = _mm256_set1_ps(127.0f);
  for (size_t g0 = 0; g0 < k; g0 += group) {
    const size_t g_end = g0 + group;
    __m256i sum = _mm256_setzero_si256();
    size_t j = g0;
    for (; j + 8 <= g_end; j += 8) {
      // clamp(rne(x * inv) + zp, -128, 127), as the reference.
      __m256 r = _mm256_add_ps(
          _mm256_round_ps(_mm256_mul_ps(_mm256_loadu_ps(x + j), vinv),
                          _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC),
          vzp);
      r = _mm256_min_ps(_mm256_max_ps(r, lo), hi);
      const __m256i codes = _mm256_cvtps_epi32(r);
      sum = _mm256_add_epi32(sum, codes);
      // Eight int32 -> eight int8 (in range, so saturation never applies).
      const __m128i w16 = _mm_packs_epi32(_mm256_castsi256_si128(codes),
                                          _mm256_extracti128_si256(codes, 1));
      _mm_storel_epi64(reinterpret_cast<__m128i*>(q + j),
                       _mm_packs_epi16(w16, w16));
    }
    int32_t tail = 0;
    for (; j < g_end; ++j) {
      const float r = MinF(127.0f, MaxF(-128.0f, RneF(x[j] * inv) + zp_f));
      q[j] = static_cast<int8_t>(r);
      tail += q[j];
    }
    group_sums[g0 / group] = HorizontalSum(sum) + tail;
  }
  return {scale, static_cast<int32_t>(zp_f)};
}

}  // namespace qlinear
