// Plain (unpacked) weights of one linear layer: what the model loader hands
// to the kernels, and what the reference kernels compute on.
//
// Plain data, thread-compatible. Float values that stand for dtype-T tensors
// (scales, zeros, bias) hold values exactly representable in T.
#ifndef QLINEAR_KERNELS_WEIGHTS_H_
#define QLINEAR_KERNELS_WEIGHTS_H_

#include <cstddef>
#include <cstdint>
#include <vector>

#include "kernels/types.h"

namespace qlinear {

// int4 tinygemm weights (docs/numerics.md, "Weights: int4_opaque"):
// w = (q - 8) * scale + zero.
struct Int4PlainWeights {
  size_t n = 0, k = 0, group_size = 0;
  std::vector<uint8_t> q;    // [N, K], values 0..15
  std::vector<float> scale;  // [N, K / group_size]
  std::vector<float> zero;   // [N, K / group_size]
};

// intx weights (docs/numerics.md, "Weights: intx_opaque"):
// w = (q - zero_point) * scale, rounded to T.
struct IntxPlainWeights {
  size_t n = 0, k = 0, group_size = 0;  // group_size == k: per channel
  int bits = 8;
  std::vector<int8_t> q;     // [N, K], values in [-2^(bits-1), 2^(bits-1)-1]
  std::vector<float> scale;  // [N, K / group_size]
  std::vector<int8_t> zero_point;  // [N, K / group_size]
};

// One layer: y = activation(x · Wᵀ + bias), rounded to `dtype`.
struct LinearWeights {
  WeightFormat format = WeightFormat::kFp32;
  DType dtype = DType::kF32;  // T: activation, output, scale/zero/bias dtype
  size_t n = 0, k = 0;
  Int4PlainWeights int4;    // format == kInt4Opaque
  IntxPlainWeights intx;    // format == kIntxOpaque
  std::vector<float> fp32;  // format == kFp32: [N, K], values in T
  std::vector<float> bias;  // [N] or empty (no bias)
  Activation activation = Activation::kNone;
  // Floor of the activation scale in int8_asym_per_token mode.
  ScaleFloor act_scale_floor = ScaleFloor::kSmallestNormal;
};

}  // namespace qlinear

#endif  // QLINEAR_KERNELS_WEIGHTS_H_
