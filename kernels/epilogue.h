// The layer epilogue shared by the reference and the fast kernels:
// y = R_T(activation(acc + bias)), one rounding to the output dtype.
#ifndef QLINEAR_KERNELS_EPILOGUE_H_
#define QLINEAR_KERNELS_EPILOGUE_H_

#include <cstddef>

#include "kernels/activation.h"
#include "kernels/types.h"

namespace qlinear {

// `bias` may be null (no bias).
inline float EpilogueValue(float acc, const float* bias, size_t n,
                           Activation activation, DType out) {
  if (bias != nullptr) acc = acc + bias[n];
  return RoundTo(out, ApplyActivation(activation, acc));
}

}  // namespace qlinear

#endif  // QLINEAR_KERNELS_EPILOGUE_H_
