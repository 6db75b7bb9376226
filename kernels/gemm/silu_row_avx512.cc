// SiLU over a row for AVX-512, bit for bit the reference's
// x / (1 + std::exp(-x)) (docs/numerics.md, "Per-output operation sequence").
//
// exp(-x) is evaluated in double to a relative error below 2^-46 (a range
// reduction by ln 2 with FMA, a degree-11 Taylor polynomial, an exact
// scaling by 2^k) and rounded once to float. The C library's expf rounds a
// double approximation too, with a relative error below 2^-33 (glibc), so
// the two round to the same float unless the exact value lies within about
// 2^-33 of a rounding boundary. A lane whose rounding could flip within
// 2^-31 of our value, or that is NaN, is recomputed with std::exp: about 1
// lane in 90. Where exp(-x) < 2^-25 (x > 18) both results vanish in 1 + e,
// and where it overflows both are inf, so no magnitude of x leaves the
// vector path.
#include <immintrin.h>

#include <cmath>
#include <cstdint>

#include "kernels/gemm/gemm.h"

namespace qlinear {
namespace {

// exp(v) for 8 doubles, |v| <= 100 (no overflow or underflow in double).
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
  // exp of [-100, 100] is a normal double; rounded to float it is 0, a
  // subnormal, a normal float or inf, as expf's result is (a NaN becomes
  // 100 here and is recomputed).
  const __m512d clamped = _mm512_max_pd(_mm512_min_pd(v, _mm512_set1_pd(100.0)),
                                        _mm512_set1_pd(-100.0));
  const __m512d y = ExpPd(clamped);
  const __m256 f = _mm512_cvtpd_ps(y);
  const __m256 lo =
      _mm512_cvtpd_ps(_mm512_mul_pd(y, _mm512_set1_pd(1.0 - 0x1p-31)));
  const __m256 hi =
      _mm512_cvtpd_ps(_mm512_mul_pd(y, _mm512_set1_pd(1.0 + 0x1p-31)));
  const __mmask8 stable = _mm256_cmp_ps_mask(lo, f, _CMP_EQ_OQ) &
                          _mm256_cmp_ps_mask(hi, f, _CMP_EQ_OQ);
  // Below e^-18 < 2^-25 both ours and expf's result vanish in 1 + e.
  const __mmask8 vanishes =
      _mm512_cmp_pd_mask(v, _mm512_set1_pd(-18.0), _CMP_LT_OQ);
  const __mmask8 nan = _mm512_cmp_pd_mask(v, v, _CMP_UNORD_Q);
  *recompute = static_cast<__mmask8>(~(stable | vanishes) | nan);
  return f;
}

// x / (1 + expf(-x)) for 16 floats: two independent double chains.
inline __m512 SiluPs(__m512 x, __mmask16* recompute) {
  __mmask8 redo_lo, redo_hi;
  const __m256 e_lo = ExpNegPs(_mm512_castps512_ps256(x), &redo_lo);
  const __m256 e_hi = ExpNegPs(_mm512_extractf32x8_ps(x, 1), &redo_hi);
  const __m512 e = _mm512_insertf32x8(_mm512_castps256_ps512(e_lo), e_hi, 1);
  *recompute = static_cast<__mmask16>(redo_lo | (unsigned{redo_hi} << 8));
  return _mm512_div_ps(x, _mm512_add_ps(_mm512_set1_ps(1.0f), e));
}

inline float SiluScalar(float x) { return x / (1.0f + std::exp(-x)); }

}  // namespace

void silu_row_avx512(const float* x, size_t n, float* out) {
  for (size_t j = 0; j < n; j += 16) {
    const __mmask16 valid = n - j >= 16
                                ? __mmask16{0xffff}
                                : static_cast<__mmask16>((1u << (n - j)) - 1);
    // Lanes past the end are 0: a value that needs no recomputing.
    const __m512 v = _mm512_maskz_loadu_ps(valid, x + j);
    __mmask16 recompute;
    const __m512 y = SiluPs(v, &recompute);
    _mm512_mask_storeu_ps(out + j, valid, y);
    recompute &= valid;
    // About one vector in six has a lane to recompute.
    if (recompute == 0) continue;
    // `out` may be `x`: the inputs are kept apart.
    alignas(64) float in[16];
    _mm512_store_ps(in, v);
    for (unsigned bits = recompute; bits != 0; bits &= bits - 1) {
      const int lane = __builtin_ctz(bits);
      out[j + lane] = SiluScalar(in[lane]);
    }
  }
}

}  // namespace qlinear
