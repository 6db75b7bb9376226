#include "kernels/reference/quantize.h"

#include <algorithm>
#include <cmath>

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
  const float mn = *std::min_element(group, group + n);
  const float mx = *std::max_element(group, group + n);
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
      for (size_t i = 0; i < group_size; ++i) {
        out.q[r * k + g * group_size + i] =
            static_cast<uint8_t>(QuantizeInt4(src[i], qp, t));
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
