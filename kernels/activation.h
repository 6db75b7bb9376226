// Scalar activation functions of the layer epilogue, in fp32.
// These definitions are the reference; vectorized epilogues must match them
// within a few ulps. Thread-safe (pure functions).
#ifndef QLINEAR_KERNELS_ACTIVATION_H_
#define QLINEAR_KERNELS_ACTIVATION_H_

#include <cmath>

#include "kernels/types.h"

namespace qlinear {

inline float ApplyActivation(Activation a, float x) {
  switch (a) {
    case Activation::kNone:
      return x;
    case Activation::kRelu:
      return x > 0.0f ? x : 0.0f;
    case Activation::kGelu:
      return 0.5f * x * (1.0f + std::erf(x * 0.70710678118654752f));
    case Activation::kGeluTanh: {
      const float inner = 0.79788456080286536f * (x + 0.044715f * x * x * x);
      return 0.5f * x * (1.0f + std::tanh(inner));
    }
    case Activation::kSilu:
      return x / (1.0f + std::exp(-x));
  }
  return x;
}

}  // namespace qlinear

#endif  // QLINEAR_KERNELS_ACTIVATION_H_
