// Reference linear layers: scalar, literal versions of the numeric contract
// (docs/numerics.md, "Project decisions"). Every fast kernel is tested
// against these. Thread-safe (pure functions).
//
// The exact fp32 operation sequence, per output y[m, n]:
//   int4_opaque, none:   acc = fma(x[k], (q-8)*scale + zero, acc), k ascending
//   intx_opaque, none:   acc = fma(x[k], R_T(R_T(q-zp)*scale), acc), k
//   ascending fp32, any mode:      acc = fma(x[k], w[k], acc), k ascending
//   int4_opaque, int8:   per group g ascending, with exact int32 sums
//                          isum = Σ(qa-zp_a)(q-8), asum = Σ(qa-zp_a):
//                        acc = fma(scale, isum, acc); acc = fma(zero, asum,
//                        acc); then acc = s_a * acc
//   intx_opaque, int8:   per group g ascending, isum = Σ(qa-zp_a)(q-zp_w):
//                        acc = fma(s_a * s_w, isum, acc)
//   epilogue (all):      y = R_T(activation(acc + bias[n]))
#ifndef QLINEAR_KERNELS_REFERENCE_LINEAR_H_
#define QLINEAR_KERNELS_REFERENCE_LINEAR_H_

#include <cstddef>

#include "kernels/weights.h"

namespace qlinear::reference {

// y[m, n] for x [m, K] (values in T) and the weights `w`, with `activation`
// in the epilogue (normally w.activation).
// REQUIRES: `w` is consistent (as checked by Linear::Create); y has m*N floats.
void Linear(const LinearWeights& w, const float* x, size_t m, ActQuant mode,
            Activation activation, float* y);

// An fp32 layer: w [n, k] fp32 (values in T), bias [n] or null, y [m, n].
void Fp32Linear(const float* w, size_t n, size_t k, const float* bias,
                DType dtype, const float* x, size_t m, Activation activation,
                float* y);

// The same products evaluated in double precision with no rounding of the
// dequantized weights beyond their definition (for accuracy tests of the
// `none` mode). Returns the pre-epilogue sums x · ŵᵀ as doubles.
void LinearDouble(const LinearWeights& w, const float* x, size_t m,
                  double* acc);

// The fake-quant (dequantized) weight matrix ŵ [N, K] in fp32.
void DequantizeWeights(const LinearWeights& w, float* w_hat);

}  // namespace qlinear::reference

#endif  // QLINEAR_KERNELS_REFERENCE_LINEAR_H_
