#include "kernels/reference/quantize.h"

#include <algorithm>
#include <cmath>
#include <cstring>

#if defined(__SSE2__)
#include <emmintrin.h>
#endif

#include "common/check.h"

namespace qlinear::reference {
namespace {

// Round half to even, as torch.round (the FP environment stays in its default
// round-to-nearest mode).
inline float Rne(float x) { return std::nearbyint(x); }

// Clamps to [lo, hi]; NaN maps to lo.
inline int ClampInt(float v, int lo, int hi) {
  if (!(v >= static_cast<float>(lo))) return lo;
  if (v > static_cast<float>(hi)) return hi;
  return static_cast<int>(v);
}

}  // namespace

Int4GroupQParams ChooseInt4QParams(const float* group, size_t n, DType t) {
  QL_DCHECK(n > 0);
  // The values of std::min_element / std::max_element, in one pass.
  float mn = group[0], mx = group[0];
  for (size_t i = 1; i < n; ++i) {
    mn = group[i] < mn ? group[i] : mn;
    mx = mx < group[i] ? group[i] : mx;
  }
  float scale = RoundTo(t, RoundTo(t, mx - mn) / 15.0f);
  scale = std::max(scale, RoundTo(t, 1e-6f));
  const float zero = RoundTo(t, mn + RoundTo(t, scale * 8.0f));
  return {scale, zero};
}

int8_t QuantizeInt4(float w, Int4GroupQParams qp, DType t) {
  const float base = RoundTo(t, qp.zero - RoundTo(t, qp.scale * 8.0f));
  const float v = RoundTo(t, RoundTo(t, w - base) / qp.scale);
  return static_cast<int8_t>(ClampInt(Rne(v), 0, 15));
}

IntxGroupQParams ChooseIntxQParams(const float* group, size_t n, int bits,
                                   Mapping mapping, DType t, ScaleFloor floor) {
  QL_DCHECK(n > 0 && bits >= 1 && bits <= 8);
  const int qmin = IntxQMin(bits);
  const int qmax = IntxQMax(bits);
  const float mn_neg = std::min(*std::min_element(group, group + n), 0.0f);
  const float mx_pos = std::max(*std::max_element(group, group + n), 0.0f);
  const float eps = ScaleFloorValue(t, floor);
  switch (mapping) {
    case Mapping::kSymmetric: {
      const float amax = std::max(-mn_neg, mx_pos);
      const float half_range = static_cast<float>(qmax - qmin) / 2.0f;  // exact
      const float scale = std::max(RoundTo(t, amax / half_range), eps);
      return {scale, 0};
    }
    case Mapping::kSymmetricNoClippingErr: {
      QL_DCHECK(qmax != 0);
      const float s_min = RoundTo(t, mn_neg / static_cast<float>(qmin));
      const float s_max = RoundTo(t, mx_pos / static_cast<float>(qmax));
      return {std::max(std::max(s_min, s_max), eps), 0};
    }
    case Mapping::kAsymmetric: {
      const float range = RoundTo(t, mx_pos - mn_neg);
      const float scale =
          std::max(RoundTo(t, range / static_cast<float>(qmax - qmin)), eps);
      const float zp =
          static_cast<float>(qmin) - Rne(RoundTo(t, mn_neg / scale));
      return {scale, ClampInt(zp, qmin, qmax)};
    }
  }
  return {eps, 0};
}

int8_t QuantizeIntx(float w, IntxGroupQParams qp, int bits, DType t) {
  const float inv = RoundTo(t, 1.0f / qp.scale);
  const float v = Rne(RoundTo(t, w * inv)) + static_cast<float>(qp.zero_point);
  return static_cast<int8_t>(ClampInt(v, IntxQMin(bits), IntxQMax(bits)));
}

namespace {

// Round half to even without a libm call: adding and subtracting 1.5 * 2^23
// rounds |x| < 2^22 to an integer in the default rounding mode, exactly as
// nearbyint does; larger magnitudes take nearbyint itself.
inline float FastRne(float x) {
  constexpr float kMagic = 12582912.0f;  // 1.5 * 2^23
  if (!(std::fabs(x) < 4194304.0f)) return Rne(x);
  return (x + kMagic) - kMagic;
}

// QuantizeIntx over one group with the inverse scale computed once: the same
// operations, so the same codes.
template <DType T>
void QuantizeIntxGroup(const float* w, size_t n, IntxGroupQParams qp, int bits,
                       int8_t* q) {
  const float inv = RoundTo(T, 1.0f / qp.scale);
  const float zp = static_cast<float>(qp.zero_point);
  const int qmin = IntxQMin(bits), qmax = IntxQMax(bits);
  for (size_t i = 0; i < n; ++i) {
    const float v = FastRne(RoundTo(T, w[i] * inv)) + zp;
    q[i] = static_cast<int8_t>(ClampInt(v, qmin, qmax));
  }
}

// QuantizeInt4 over one group with the base computed once: the same
// operations (the division stays a division), so the same codes. v is first
// limited to [-1, 16] (NaN to -1), which changes no code since rounding is
// monotonic and codes clamp to [0, 15]; then adding 1.5 * 2^23 rounds it to
// an integer held in the low mantissa bits (round half to even, exactly).
// Branch-free, and four at a time with SSE2 for fp32 models.
template <DType T>
void QuantizeInt4Group(const float* w, size_t n, Int4GroupQParams qp,
                       uint8_t* q) {
  constexpr float kMagic = 12582912.0f;  // 1.5 * 2^23
  const float base = RoundTo(T, qp.zero - RoundTo(T, qp.scale * 8.0f));
  size_t i = 0;
#if defined(__SSE2__)
  if (T == DType::kF32) {
    const __m128 vbase = _mm_set1_ps(base), vscale = _mm_set1_ps(qp.scale);
    const __m128 lo = _mm_set1_ps(-1.0f), hi = _mm_set1_ps(16.0f);
    const __m128 magic = _mm_set1_ps(kMagic);
    const __m128i fifteen = _mm_set1_epi8(15);
    for (; i + 4 <= n; i += 4) {
      __m128 v = _mm_div_ps(_mm_sub_ps(_mm_loadu_ps(w + i), vbase), vscale);
      v = _mm_min_ps(_mm_max_ps(v, lo), hi);  // maxps(NaN, lo) is lo
      const __m128i code = _mm_sub_epi32(_mm_castps_si128(_mm_add_ps(v, magic)),
                                         _mm_castps_si128(magic));
      // int32 -1..16 -> u8 0..16 (saturating) -> 0..15.
      const __m128i bytes = _mm_min_epu8(
          _mm_packus_epi16(_mm_packs_epi32(code, code), code), fifteen);
      const int32_t four = _mm_cvtsi128_si32(bytes);
      std::memcpy(q + i, &four, 4);
    }
  }
#endif
  for (; i < n; ++i) {
    float v = RoundTo(T, RoundTo(T, w[i] - base) / qp.scale);
    v = std::min(std::max(-1.0f, v), 16.0f);  // max(-1, NaN) is -1
    const int32_t code = static_cast<int32_t>(FloatBits(v + kMagic)) -
                         static_cast<int32_t>(FloatBits(kMagic));
    q[i] = static_cast<uint8_t>(std::min(std::max(code, 0), 15));
  }
}

}  // namespace

RowQParams QuantizeActivationRow(const float* x, size_t k, ScaleFloor floor,
                                 int8_t* q) {
  float mn = 0.0f, mx = 0.0f;  // the range always includes 0
  for (size_t i = 0; i < k; ++i) {
    mn = std::min(mn, x[i]);
    mx = std::max(mx, x[i]);
  }
  const float eps = ScaleFloorValue(DType::kF32, floor);
  const float scale = std::max((mx - mn) / 255.0f, eps);
  const int zp = ClampInt(-128.0f - Rne(mn / scale), -128, 127);
  const float inv = 1.0f / scale;
  for (size_t i = 0; i < k; ++i) {
    q[i] = static_cast<int8_t>(
        ClampInt(Rne(x[i] * inv) + static_cast<float>(zp), -128, 127));
  }
  return {scale, zp};
}

Int4PlainWeights QuantizeInt4Weights(const float* w, size_t n, size_t k,
                                     size_t group_size, DType t) {
  QL_CHECK(group_size > 0 && k % group_size == 0);
  const size_t groups = k / group_size;
  Int4PlainWeights out;
  out.n = n;
  out.k = k;
  out.group_size = group_size;
  out.q.resize(n * k);
  out.scale.resize(n * groups);
  out.zero.resize(n * groups);
  for (size_t r = 0; r < n; ++r) {
    for (size_t g = 0; g < groups; ++g) {
      const float* src = w + r * k + g * group_size;
      const Int4GroupQParams qp = ChooseInt4QParams(src, group_size, t);
      out.scale[r * groups + g] = qp.scale;
      out.zero[r * groups + g] = qp.zero;
      uint8_t* q = out.q.data() + r * k + g * group_size;
      switch (t) {
        case DType::kF32:
          QuantizeInt4Group<DType::kF32>(src, group_size, qp, q);
          break;
        case DType::kBF16:
          QuantizeInt4Group<DType::kBF16>(src, group_size, qp, q);
          break;
        case DType::kF16:
          QuantizeInt4Group<DType::kF16>(src, group_size, qp, q);
          break;
      }
    }
  }
  return out;
}

IntxPlainWeights QuantizeIntxWeights(const float* w, size_t n, size_t k,
                                     size_t group_size, int bits,
                                     Mapping mapping, DType t,
                                     ScaleFloor floor) {
  QL_CHECK(group_size > 0 && k % group_size == 0);
  const size_t groups = k / group_size;
  IntxPlainWeights out;
  out.n = n;
  out.k = k;
  out.group_size = group_size;
  out.bits = bits;
  out.q.resize(n * k);
  out.scale.resize(n * groups);
  out.zero_point.resize(n * groups);
  for (size_t r = 0; r < n; ++r) {
    for (size_t g = 0; g < groups; ++g) {
      const float* src = w + r * k + g * group_size;
      const IntxGroupQParams qp =
          ChooseIntxQParams(src, group_size, bits, mapping, t, floor);
      out.scale[r * groups + g] = qp.scale;
      out.zero_point[r * groups + g] = static_cast<int8_t>(qp.zero_point);
      int8_t* q = out.q.data() + r * k + g * group_size;
      switch (t) {
        case DType::kF32:
          QuantizeIntxGroup<DType::kF32>(src, group_size, qp, bits, q);
          break;
        case DType::kBF16:
          QuantizeIntxGroup<DType::kBF16>(src, group_size, qp, bits, q);
          break;
        case DType::kF16:
          QuantizeIntxGroup<DType::kF16>(src, group_size, qp, bits, q);
          break;
      }
    }
  }
  return out;
}

}  // namespace qlinear::reference
