#include "kernels/linear.h"

#include <cmath>
#include <utility>

#include "absl/strings/str_cat.h"
#include "kernels/reference/linear.h"
#include "kernels/reference/quantize.h"

namespace qlinear {
namespace {

absl::Status Invalid(const std::string& what) { return absl::InvalidArgumentError(what); }

bool AllFinite(const std::vector<float>& v) {
  for (float x : v) {
    if (!std::isfinite(x)) return false;
  }
  return true;
}

}  // namespace

absl::Status ValidateLinearWeights(const LinearWeights& w) {
  if (w.n == 0 || w.k == 0) return Invalid("in_features and out_features must be positive");
  if (!w.bias.empty() && w.bias.size() != w.n) {
    return Invalid(absl::StrCat("bias has ", w.bias.size(), " values, expected ", w.n));
  }
  if (!AllFinite(w.bias)) return Invalid("bias has a non-finite value");
  switch (w.format) {
    case WeightFormat::kInt4Opaque: {
      const Int4PlainWeights& p = w.int4;
      if (p.n != w.n || p.k != w.k) return Invalid("int4 weights shape mismatch");
      if (p.group_size != 32 && p.group_size != 64 && p.group_size != 128 &&
          p.group_size != 256) {
        return Invalid(absl::StrCat("int4_opaque group_size ", p.group_size,
                                    " is not one of 32, 64, 128, 256"));
      }
      if (p.k % p.group_size != 0) {
        return Invalid(absl::StrCat("in_features ", p.k, " is not a multiple of group_size ",
                                    p.group_size));
      }
      const size_t gcount = p.n * (p.k / p.group_size);
      if (p.q.size() != p.n * p.k || p.scale.size() != gcount || p.zero.size() != gcount) {
        return Invalid("int4 weights: tensor sizes do not match the shape");
      }
      for (uint8_t q : p.q) {
        if (q > 15) return Invalid(absl::StrCat("int4 code ", q, " out of range 0..15"));
      }
      if (!AllFinite(p.scale) || !AllFinite(p.zero)) {
        return Invalid("int4 weights: non-finite scale or zero");
      }
      return absl::OkStatus();
    }
    case WeightFormat::kIntxOpaque: {
      const IntxPlainWeights& p = w.intx;
      if (p.n != w.n || p.k != w.k) return Invalid("intx weights shape mismatch");
      if (p.bits < 1 || p.bits > 8) return Invalid(absl::StrCat("bits ", p.bits, " not in 1..8"));
      const bool per_channel = p.group_size == p.k;
      if (!per_channel && (p.group_size < 16 || p.group_size > 256 || p.group_size % 16 != 0)) {
        return Invalid(absl::StrCat("intx_opaque group_size ", p.group_size,
                                    " must be a multiple of 16 in 16..256, or in_features"));
      }
      if (p.k % p.group_size != 0) {
        return Invalid(absl::StrCat("in_features ", p.k, " is not a multiple of group_size ",
                                    p.group_size));
      }
      const size_t gcount = p.n * (p.k / p.group_size);
      if (p.q.size() != p.n * p.k || p.scale.size() != gcount || p.zero_point.size() != gcount) {
        return Invalid("intx weights: tensor sizes do not match the shape");
      }
      const int qmin = reference::IntxQMin(p.bits), qmax = reference::IntxQMax(p.bits);
      for (int8_t q : p.q) {
        if (q < qmin || q > qmax) {
          return Invalid(absl::StrCat("intx code ", q, " out of range ", qmin, "..", qmax));
        }
      }
      for (int8_t z : p.zero_point) {
        if (z < qmin || z > qmax) {
          return Invalid(absl::StrCat("intx zero point ", z, " out of range ", qmin, "..", qmax));
        }
      }
      if (!AllFinite(p.scale)) return Invalid("intx weights: non-finite scale");
      return absl::OkStatus();
    }
    case WeightFormat::kFp32:
      if (w.fp32.size() != w.n * w.k) return Invalid("fp32 weights: size does not match shape");
      if (!AllFinite(w.fp32)) return Invalid("fp32 weights: non-finite value");
      return absl::OkStatus();
  }
  return Invalid("unknown weight format");
}

absl::StatusOr<std::unique_ptr<Linear>> Linear::Create(LinearWeights weights) {
  absl::Status s = ValidateLinearWeights(weights);
  if (!s.ok()) return s;
  return std::unique_ptr<Linear>(new Linear(std::move(weights)));
}

void Linear::Run(const float* x, size_t m, ActQuant mode, bool apply_activation,
                 float* y) const {
  reference::Linear(weights_, x, m, mode, apply_activation ? weights_.activation : Activation::kNone,
                    y);
}

size_t Linear::packed_bytes() const {
  const LinearWeights& w = weights_;
  size_t bytes = w.bias.size() * sizeof(float);
  switch (w.format) {
    case WeightFormat::kInt4Opaque:
      bytes += w.int4.q.size() + (w.int4.scale.size() + w.int4.zero.size()) * sizeof(float);
      break;
    case WeightFormat::kIntxOpaque:
      bytes += w.intx.q.size() + w.intx.scale.size() * sizeof(float) + w.intx.zero_point.size();
      break;
    case WeightFormat::kFp32:
      bytes += w.fp32.size() * sizeof(float);
      break;
  }
  return bytes;
}

}  // namespace qlinear
