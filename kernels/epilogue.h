// The layer epilogue shared by the reference and the fast kernels:
// y = R_T(activation(acc + bias)), one rounding to the output dtype.
#ifndef QLINEAR_KERNELS_EPILOGUE_H_
#define QLINEAR_KERNELS_EPILOGUE_H_

#include <cstddef>

#include "kernels/activation.h"
#include "kernels/cpu_features.h"
#include "kernels/types.h"

namespace qlinear {

// `bias` may be null (no bias).
inline float EpilogueValue(float acc, const float* bias, size_t n,
                           Activation activation, DType out) {
  if (bias != nullptr) acc = acc + bias[n];
  return RoundTo(out, ApplyActivation(activation, acc));
}

// y[j] = EpilogueValue(acc[j], bias, n0 + j, activation, out) for j < count,
// bit for bit, with the activation and dtype resolved once per call: fp32
// outputs without an activation or with ReLU are vector loops, and SiLU uses
// silu_row_avx512 when `isa` has AVX-512. `y` may equal `acc`.
void EpilogueRow(const float* acc, const float* bias, size_t n0, size_t count,
                 Activation activation, DType out, Isa isa, float* y);

}  // namespace qlinear

#endif  // QLINEAR_KERNELS_EPILOGUE_H_
