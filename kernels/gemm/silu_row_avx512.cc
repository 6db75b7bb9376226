// SiLU over a row for AVX-512, bit for bit the reference's
// x / (1 + std::exp(-x)) (docs/numerics.md, "Per-output operation sequence").
//
// exp(-x) is evaluated in double to a relative error below 2^-46 (a range
// reduction by ln 2 with FMA, a degree-11 Taylor polynomial, an exact
// scaling by 2^k) and rounded once to float. The C library's expf rounds a
// double approximation too, with a relative error below 2^-33 (glibc), so
// the two round to the same float unless the exact value lies within about
// 2^-33 of a rounding boundary. A lane whose rounding could flip within
// 2^-31 of our value, or whose result is not a normal float, is recomputed
// with std::exp: about 1 lane in 60.
#include <immintrin.h>

#include <cmath>
#include <cstdint>

#include "kernels/gemm/gemm.h"

namespace qlinear {
namespace {

// exp(v) for 8 doubles, |v| < 100 (no overflow or underflow in double).
inline __m512d ExpPd(__m512d v) {
  const __m512d kLog2e = _mm512_set1_pd(1.4426950408889634);
  const __m512d kLn2Hi = _mm512_set1_pd(0.6931471805599453);  // double(ln 2)
  const __m512d kLn2Lo = _mm512_set1_pd(2.3190468138462996e-17);  // ln 2 - hi
  const __m512d k = _mm512_roundscale_pd(
      _mm512_mul_pd(v, kLog2e), _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
  // r = v - k ln 2, |r| <= 0.35.
  __m512d r = _mm512_fnmadd_pd(k, kLn2Hi, v);
  r = _mm512_fnmadd_pd(k, kLn2Lo, r);
  // Taylor to r^11 / 11!: truncation below 0.35^12 / 12! < 2^-47 absolute
  // on a result >= 0.7.
  __m512d p = _mm512_set1_pd(1.0 / 39916800.0);
  p = _mm512_fmadd_pd(p, r, _mm512_set1_pd(1.0 / 3628800.0));
  p = _mm512_fmadd_pd(p, r, _mm512_set1_pd(1.0 / 362880.0));
  p = _mm512_fmadd_pd(p, r, _mm512_set1_pd(1.0 / 40320.0));
  p = _mm512_fmadd_pd(p, r, _mm512_set1_pd(1.0 / 5040.0));
  p = _mm512_fmadd_pd(p, r, _mm512_set1_pd(1.0 / 720.0));
  p = _mm512_fmadd_pd(p, r, _mm512_set1_pd(1.0 / 120.0));
  p = _mm512_fmadd_pd(p, r, _mm512_set1_pd(1.0 / 24.0));
  p = _mm512_fmadd_pd(p, r, _mm512_set1_pd(1.0 / 6.0));
  p = _mm512_fmadd_pd(p, r, _mm512_set1_pd(0.5));
  p = _mm512_fmadd_pd(p, r, _mm512_set1_pd(1.0));
  p = _mm512_fmadd_pd(p, r, _mm512_set1_pd(1.0));
  return _mm512_scalef_pd(p, k);
}

// expf(-x) for 8 floats, and the lanes that must be recomputed.
inline __m256 ExpNegPs(__m256 x, __mmask8* recompute) {
  const __m512d v = _mm512_sub_pd(_mm512_setzero_pd(), _mm512_cvtps_pd(x));
  // Results from FLT_MIN (e^-87.33) up to FLT_MAX (e^88.72); NaN fails both.
  const __mmask8 in_range =
      _mm512_cmp_pd_mask(v, _mm512_set1_pd(-87.0), _CMP_GE_OQ) &
      _mm512_cmp_pd_mask(v, _mm512_set1_pd(88.5), _CMP_LE_OQ);
  const __m512d y =
      ExpPd(_mm512_maskz_mov_pd(in_range, v));  // out-of-range lanes: exp(0)
  const __m256 f = _mm512_cvtpd_ps(y);
  const __m256 lo =
      _mm512_cvtpd_ps(_mm512_mul_pd(y, _mm512_set1_pd(1.0 - 0x1p-31)));
  const __m256 hi =
      _mm512_cvtpd_ps(_mm512_mul_pd(y, _mm512_set1_pd(1.0 + 0x1p-31)));
  const __mmask8 stable = _mm256_cmp_ps_mask(lo, f, _CMP_EQ_OQ) &
                          _mm256_cmp_ps_mask(hi, f, _CMP_EQ_OQ);
  *recompute = static_cast<__mmask8>(~(in_range & stable));
  return f;
}

inline float SiluScalar(float x) { return x / (1.0f + std::exp(-x)); }

}  // namespace

void silu_row_avx512(const float* x, size_t n, float* out) {
  const __m256 one = _mm256_set1_ps(1.0f);
  size_t j = 0;
  for (; j + 8 <= n; j += 8) {
    const __m256 v = _mm256_loadu_ps(x + j);
    __mmask8 recompute;
    const __m256 e = ExpNegPs(v, &recompute);
    if (recompute == 0) {
      _mm256_storeu_ps(out + j, _mm256_div_ps(v, _mm256_add_ps(one, e)));
      continue;
    }
    // `out` may be `x`: the inputs are kept apart before the store.
    alignas(32) float in[8];
    _mm256_store_ps(in, v);
    _mm256_storeu_ps(out + j, _mm256_div_ps(v, _mm256_add_ps(one, e)));
    for (unsigned bits = recompute; bits != 0; bits &= bits - 1) {
      const int lane = __builtin_ctz(bits);
      out[j + lane] = SiluScalar(in[lane]);
    }
  }
  for (; j < n; ++j) out[j] = SiluScalar(x[j]);
}

}  // namespace qlinear
