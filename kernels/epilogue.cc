#include "kernels/epilogue.h"

#include "kernels/gemm/gemm.h"

namespace qlinear {
namespace {

// y = acc (+ bias), then ReLU if asked: the vectorizable fp32 cases.
template <bool kRelu>
void BiasRelu(const float* acc, const float* bias, size_t count, float* y) {
  for (size_t j = 0; j < count; ++j) {
    float v = bias != nullptr ? acc[j] + bias[j] : acc[j];
    if (kRelu) v = v > 0.0f ? v : 0.0f;
    y[j] = v;
  }
}

}  // namespace

void EpilogueRow(const float* acc, const float* bias, size_t n0, size_t count,
                 Activation activation, DType out, Isa isa, float* y) {
  const float* row_bias = bias != nullptr ? bias + n0 : nullptr;
  if (out == DType::kF32) {
    switch (activation) {
      case Activation::kNone:
        BiasRelu<false>(acc, row_bias, count, y);
        return;
      case Activation::kRelu:
        BiasRelu<true>(acc, row_bias, count, y);
        return;
      case Activation::kSilu:
        if (isa >= Isa::kAvx512) {
          BiasRelu<false>(acc, row_bias, count, y);
          silu_row_avx512(y, count, y);
          return;
        }
        break;
      default:
        break;
    }
  }
  for (size_t j = 0; j < count; ++j) {
    y[j] = EpilogueValue(acc[j], bias, n0 + j, activation, out);
  }
}

}  // namespace qlinear
