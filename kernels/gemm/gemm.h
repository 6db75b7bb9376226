// Microkernel families for int4_opaque layers (kernels/NAMING.md explains the
// names, kernels/PACKING.md the packed layout).
//
// Every kernel computes one block of kW4BlockColumns output columns for
// 1 <= m <= kW4MaxRows rows over the whole K, and writes the pre-epilogue fp32
// sums to `c` (row r at c + r * c_stride, kW4BlockColumns floats per row).
// The per-output operation sequence is the one of docs/numerics.md, so every
// kernel's results equal the reference bit for bit.
//
// Contract for all kernels: k is a multiple of group_size; `packed_block`
// points at one block of a PackedW4 buffer; strides count elements; no
// allocation, locks, logging or exceptions. Preconditions are assert()ed.
#ifndef QLINEAR_KERNELS_GEMM_GEMM_H_
#define QLINEAR_KERNELS_GEMM_GEMM_H_

#include <cstddef>
#include <cstdint>

namespace qlinear {

inline constexpr size_t kW4BlockColumns = 16;
inline constexpr size_t kW4MaxRows = 8;

// Weight-only mode ("f32" activations: fp32 values, also holding bf16/fp16).
using W4F32GemmFn = void (*)(size_t m, size_t k, size_t group_size,
                             const float* a, size_t a_stride,
                             const uint8_t* packed_block, float* c,
                             size_t c_stride);

// Per-row parameters of int8_asym_per_token activations, as the dq8 kernels
// take them: a row's codes are stored as ua = qa + 128 (u8).
struct Dq8Row {
  float scale;     // s_a
  int32_t offset;  // c = zp_a + 128, so qa - zp_a = ua - c
  const int32_t*
      group_sums;  // Σ ua over each group of K (K / group_size values)
};

// int8_asym_per_token mode: a holds ua codes (u8).
using W4Dq8GemmFn = void (*)(size_t m, size_t k, size_t group_size,
                             const uint8_t* a, size_t a_stride,
                             const Dq8Row* rows, const uint8_t* packed_block,
                             float* c, size_t c_stride);

// Bytes of one (block, group) segment: 16 fp32 scales, 16 fp32 zeros, then
// group_size * 8 bytes of codes.
inline constexpr size_t W4SegmentBytes(size_t group_size) {
  return 128 + group_size * 8;
}

// Large-M path of the weight-only mode: a block's weights are dequantized once
// into a buffer ([k][16] fp32, 64-byte aligned; the same ŵ values as the
// direct kernels), then a plain fp32 tile kernel runs every row over it.
// With `accumulate`, c already holds the sums of the previous k and the new
// products continue each output's chain in k order (bit-identical to one
// pass).
using W4F32UnpackFn = void (*)(size_t groups, size_t group_size,
                               const uint8_t* segments, float* w);
using F32TileGemmFn = void (*)(size_t m, size_t k, const float* a,
                               size_t a_stride, const float* w, float* c,
                               size_t c_stride, bool accumulate);

// --- Kernels, one family per ISA (kernels/gemm/<name>.cc) -------------------
void w4_f32_gemm_scalar(size_t m, size_t k, size_t group_size, const float* a,
                        size_t a_stride, const uint8_t* packed_block, float* c,
                        size_t c_stride);
void w4_f32_gemm_avx2(size_t m, size_t k, size_t group_size, const float* a,
                      size_t a_stride, const uint8_t* packed_block, float* c,
                      size_t c_stride);
void w4_f32_gemm_avx512(size_t m, size_t k, size_t group_size, const float* a,
                        size_t a_stride, const uint8_t* packed_block, float* c,
                        size_t c_stride);

void w4_f32_unpack_avx512(size_t groups, size_t group_size,
                          const uint8_t* segments, float* w);
void f32_tile_gemm_avx512(size_t m, size_t k, const float* a, size_t a_stride,
                          const float* w, float* c, size_t c_stride,
                          bool accumulate);

void w4_dq8_gemm_scalar(size_t m, size_t k, size_t group_size, const uint8_t* a,
                        size_t a_stride, const Dq8Row* rows,
                        const uint8_t* packed_block, float* c, size_t c_stride);
void w4_dq8_gemm_avx2(size_t m, size_t k, size_t group_size, const uint8_t* a,
                      size_t a_stride, const Dq8Row* rows,
                      const uint8_t* packed_block, float* c, size_t c_stride);
void w4_dq8_gemm_avx512vnni(size_t m, size_t k, size_t group_size,
                            const uint8_t* a, size_t a_stride,
                            const Dq8Row* rows, const uint8_t* packed_block,
                            float* c, size_t c_stride);

}  // namespace qlinear

#endif  // QLINEAR_KERNELS_GEMM_GEMM_H_
