// Reference quantization math of docs/numerics.md, scalar and literal.
//
// Every function emulates eager PyTorch: each arithmetic op is done in fp32
// and its result rounded to the weight dtype T (R_T). Values stored as float
// below are always exactly representable in T. Thread-safe (pure functions).
#ifndef QLINEAR_KERNELS_REFERENCE_QUANTIZE_H_
#define QLINEAR_KERNELS_REFERENCE_QUANTIZE_H_

#include <cstddef>
#include <cstdint>
#include <vector>

#include "kernels/types.h"
#include "kernels/weights.h"

namespace qlinear::reference {

// --- int4 tinygemm (docs/numerics.md, "Weights: int4_opaque") -------------
// q in 0..15, float scale and zero.

struct Int4GroupQParams {
  float scale;  // in T
  float zero;   // in T; dequant = (q - 8) * scale + zero
};

// Scale and zero of one group of `n` values (already in T).
Int4GroupQParams ChooseInt4QParams(const float* group, size_t n, DType t);

// Code of one value under `qp`.
int8_t QuantizeInt4(float w, Int4GroupQParams qp, DType t);

// The dequantized weight every int4 kernel uses, in fp32 arithmetic:
// (q - 8) * scale + zero, two roundings (no FMA).
inline float DequantizeInt4(int q, float scale, float zero) {
  return static_cast<float>(q - 8) * scale + zero;
}

// --- intx (docs/numerics.md, "Weights: intx_opaque") ----------------------
// q in [qmin, qmax], integer zero point.

inline int IntxQMin(int bits) { return -(1 << (bits - 1)); }
inline int IntxQMax(int bits) { return (1 << (bits - 1)) - 1; }

struct IntxGroupQParams {
  float scale;         // in T
  int32_t zero_point;  // in [qmin, qmax]; 0 for the symmetric mappings
};

// REQUIRES: 1 <= bits <= 8; not (bits == 1 and kSymmetricNoClippingErr).
IntxGroupQParams ChooseIntxQParams(const float* group, size_t n, int bits,
                                   Mapping mapping, DType t, ScaleFloor floor);

int8_t QuantizeIntx(float w, IntxGroupQParams qp, int bits, DType t);

// R_T(R_T(q - zp) * scale): the dequantized weight in T.
inline float DequantizeIntx(int q, int zero_point, float scale, DType t) {
  return RoundTo(t, RoundTo(t, static_cast<float>(q - zero_point)) * scale);
}

// --- int8 asymmetric per-token activations -------------------------------
// The project quantizes activations in fp32 arithmetic whatever the model
// dtype (docs/numerics.md, "Activations: int8_asym_per_token").

struct RowQParams {
  float scale;         // s_a
  int32_t zero_point;  // zp_a in [-128, 127]
};

// Quantizes one row of `k` fp32 values into `q` (k entries).
RowQParams QuantizeActivationRow(const float* x, size_t k, ScaleFloor floor,
                                 int8_t* q);

// --- Whole-matrix helpers: plain weights of one layer ----------------------

// Quantizes a row-major [n, k] matrix whose values are in T.
// REQUIRES: k % group_size == 0.
Int4PlainWeights QuantizeInt4Weights(const float* w, size_t n, size_t k,
                                     size_t group_size, DType t);
IntxPlainWeights QuantizeIntxWeights(const float* w, size_t n, size_t k,
                                     size_t group_size, int bits,
                                     Mapping mapping, DType t,
                                     ScaleFloor floor);

}  // namespace qlinear::reference

#endif  // QLINEAR_KERNELS_REFERENCE_QUANTIZE_H_
