// Microkernel families for int4_opaque (w4) and intx_opaque (wx) layers
// (kernels/NAMING.md explains the names, kernels/PACKING.md the packed
// layouts).
//
// Every w4 kernel computes one block of kW4BlockColumns output columns for
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

#include "kernels/types.h"

namespace qlinear {

inline constexpr size_t kW4BlockColumns = 16;
inline constexpr size_t kW4MaxRows = 8;

// Weight-only mode ("f32" activations: fp32 values, also holding bf16/fp16).
// Computes `blocks` >= 1 consecutive blocks (packed_block, then every
// (k / group_size) * W4SegmentBytes(group_size) bytes): row r's sums of block
// b go to c + r * c_stride + 16 * b. Several blocks at once let kernels
// interleave independent FMA chains when m is small; results do not depend
// on it.
using W4F32GemmFn = void (*)(size_t m, size_t blocks, size_t k,
                             size_t group_size, const float* a, size_t a_stride,
                             const uint8_t* packed_block, float* c,
                             size_t c_stride);

// Per-row parameters of int8_asym_per_token activations, as the dq8 kernels
// take them: a row's codes are stored as ua = qa + 128 (u8).
struct Dq8Row {
  float scale;     // s_a
  int32_t offset;  // c = zp_a + 128, so qa - zp_a = ua - c
  const int32_t*
      group_sums;     // Σ ua over each group of K (K / group_size values)
  const float* asum;  // float(Σ ua - c·group_size) over each group
};

// int8_asym_per_token mode: a holds ua codes (u8).
//
// With 2 or more rows, the direct int8 kernels (w4 and wx) read a
// block's codes too slowly for the hardware prefetchers to run ahead (a
// 64-byte line feeds 2·m dot products, and the stream crosses a 4 KiB page
// every few µs), so they ask for the line kDq8PrefetchBytes ahead of the one
// they load: two pages, the next block's first lines at a block's end
// (docs/benchmarks.md, "Prefetch in the direct int8 kernels").
inline constexpr size_t kDq8PrefetchBytes = 8192;
inline constexpr size_t kDq8PrefetchMinRows = 2;
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

// Large-M path of the int8 mode on AVX2 (VNNI has none: its direct kernel is
// faster at every M): the codes of a chunk of groups of one block are
// unpacked once (W4Dq8UnpackFn) into a 64-byte aligned buffer, then a
// register-blocked tile kernel (W4Dq8TileGemmFn, vpmaddubsw, which reads
// every 64-byte row below as two 32-byte halves) runs every row over up to
// kW4Dq8TileMaxBlocks such blocks. Unpacked layout, one group after
// the other, W4Dq8UnpackedGroupBytes(group_size) bytes each:
//
//   0 .. 63     scale[j] fp32, j = 0..15 (copied from the segment)
//   64 .. 127   zero[j] fp32
//   128 .. 191  wsum[j] = Σ_k∈g (q[j][k] - 8) as int32 with wsum in the low
//               int16 and 0 in the high one (an operand pair of vpdpwssd)
//   192 ..      group_size / 4 quads of 64 bytes: byte 4j + i of quad t is
//               q[j][g·gs + 4t + i] - 8 as int8 (the vpdpbusd operand)
//
// The tile kernel computes isum = Σua·(q - 8) - c·wsum = Σ(qa - zp_a)(q - 8)
// exactly, then the per-group sequence of docs/numerics.md, so it equals the
// direct kernels bit for bit whatever the chunking.
inline constexpr size_t kW4Dq8TileMaxBlocks = 3;
inline constexpr size_t kW4Dq8TileRowsAvx2 = 3;  // rows per register tile
inline constexpr size_t W4Dq8UnpackedGroupBytes(size_t group_size) {
  return 192 + group_size * 16;
}
// Unpacks `groups` consecutive segments of one block (segments, then every
// W4SegmentBytes(group_size)) to `out` (64-byte aligned).
using W4Dq8UnpackFn = void (*)(size_t groups, size_t group_size,
                               const uint8_t* segments, uint8_t* out);
// m >= 1 rows x `blocks` (1..kW4Dq8TileMaxBlocks) unpacked blocks of
// `groups` groups each (block b at unpacked + b * block_bytes). Row r's ua
// codes of the chunk start at a + r * a_stride; its per-row parameters are
// rows[r] (scale and offset; its group_sums and asum are not read) and its
// asum of the chunk's group g, float(Σua - c·gs), is
// asum[r * asum_stride + g]. Sums of
// row r, block b go to c + r * c_stride + 16 * b. With `accumulate`, c holds
// the unscaled fp32 sums of the previous groups and the chain continues;
// with `finish`, the final s_a· is applied (the last chunk).
using W4Dq8TileGemmFn = void (*)(size_t m, size_t blocks, size_t groups,
                                 size_t group_size, const uint8_t* a,
                                 size_t a_stride, const Dq8Row* rows,
                                 const float* asum, size_t asum_stride,
                                 const uint8_t* unpacked, size_t block_bytes,
                                 float* c, size_t c_stride, bool accumulate,
                                 bool finish);

// --- Kernels, one family per ISA (kernels/gemm/<name>.cc) -------------------
void w4_f32_gemm_scalar(size_t m, size_t blocks, size_t k, size_t group_size,
                        const float* a, size_t a_stride,
                        const uint8_t* packed_block, float* c, size_t c_stride);
void w4_f32_gemm_avx2(size_t m, size_t blocks, size_t k, size_t group_size,
                      const float* a, size_t a_stride,
                      const uint8_t* packed_block, float* c, size_t c_stride);
void w4_f32_gemm_avx512(size_t m, size_t blocks, size_t k, size_t group_size,
                        const float* a, size_t a_stride,
                        const uint8_t* packed_block, float* c, size_t c_stride);

void w4_f32_unpack_avx2(size_t groups, size_t group_size,
                        const uint8_t* segments, float* w);
void f32_tile_gemm_avx2(size_t m, size_t k, const float* a, size_t a_stride,
                        const float* w, float* c, size_t c_stride,
                        bool accumulate);
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

void w4_dq8_unpack_avx2(size_t groups, size_t group_size,
                        const uint8_t* segments, uint8_t* out);
void w4_dq8_tile_gemm_avx2(size_t m, size_t blocks, size_t groups,
                           size_t group_size, const uint8_t* a, size_t a_stride,
                           const Dq8Row* rows, const float* asum,
                           size_t asum_stride, const uint8_t* unpacked,
                           size_t block_bytes, float* c, size_t c_stride,
                           bool accumulate, bool finish);

// --- int8_asym_per_token activations (dq8) ----------------------------------

// The per-row parameters of the quantized activations.
struct Dq8RowQuant {
  float scale;         // s_a
  int32_t zero_point;  // zp_a in [-128, 127]
};

// Quantizes one row of k fp32 values in fp32 arithmetic with scale floor
// `eps` (docs/numerics.md, "Activations: int8_asym_per_token": bit for bit
// the codes of reference::QuantizeActivationRow) into q[0..k), and writes Σq
// over each run of `group` values to group_sums[0 .. k / group). REQUIRES: k %
// group == 0; x finite.
using Dq8QuantizeRowFn = Dq8RowQuant (*)(const float* x, size_t k, size_t group,
                                         float eps, int8_t* q,
                                         int32_t* group_sums);

Dq8RowQuant dq8_quantize_row_scalar(const float* x, size_t k, size_t group,
                                    float eps, int8_t* q, int32_t* group_sums);
Dq8RowQuant dq8_quantize_row_avx2(const float* x, size_t k, size_t group,
                                  float eps, int8_t* q, int32_t* group_sums);
Dq8RowQuant dq8_quantize_row_avx512(const float* x, size_t k, size_t group,
                                    float eps, int8_t* q, int32_t* group_sums);

// --- epilogue ---------------------------------------------------------------

// out[j] = x[j] / (1 + std::exp(-x[j])) for j < n, bit for bit the
// reference's SiLU in fp32 (kernels/activation.h) with the C library's expf:
// lanes that a libm within 2^-33 of exp could round differently are computed
// with std::exp. `out` may equal `x`. ActiveIsa() >= kAvx512 only.
void silu_row_avx512(const float* x, size_t n, float* out);

// --- intx_opaque (wx) -------------------------------------------------------
//
// A wx kernel computes one block (the weight-only kernels: `blocks`
// consecutive blocks) of kWxBlockColumns output columns for
// 1 <= m <= kWxMaxRows rows over the whole K and writes the pre-epilogue fp32
// sums to `c` (row r at c + r * c_stride, kWxBlockColumns floats per block),
// with the per-output operation sequence of docs/numerics.md: every kernel
// equals the reference bit for bit. `packed_block` points at one block of a
// PackedWx buffer (kernels/PACKING.md) described by `geometry`. Strides count
// elements. Nothing is read past the block or past row r's a_stride elements
// (the dq8 kernels read padded_k() codes per row). No allocation, locks,
// logging or exceptions; preconditions are assert()ed.

inline constexpr size_t kWxBlockColumns = 16;
inline constexpr size_t kWxMaxRows = 8;
// k per unit: codes are packed in units of 16 k x 16 columns.
inline constexpr size_t kWxUnitK = 16;
// Per-(block, group) header: fp32 scale[16], int32 code_sum[16], u8 zero[16].
inline constexpr size_t kWxHeaderBytes = 144;

// Bytes of one unit of b-bit codes (16 x 16 codes of `bits` bits).
inline constexpr size_t WxUnitBytes(int bits) {
  return 32 * static_cast<size_t>(bits);
}

// The shape of one packed intx_opaque layer, as the kernels read it.
struct WxGeometry {
  size_t k = 0;              // in_features
  size_t group_size = 0;     // k for per channel
  size_t groups = 0;         // k / group_size
  size_t group_units = 0;    // ceil(group_size / kWxUnitK)
  int bits = 0;              // 1..8
  size_t segment_bytes = 0;  // kWxHeaderBytes + group_units * WxUnitBytes(bits)

  // k rounded up to whole units: the row length of dq8 activation codes.
  size_t padded_k() const { return groups * group_units * kWxUnitK; }
};

// Weight-only mode: a holds fp32 values (also bf16/fp16 ones); ŵ is
// R_T(R_T(q - zp) * scale) with T = `dtype`, exactly as the reference.
// Computes `blocks` >= 1 consecutive blocks (packed_block, then every
// geometry.groups * geometry.segment_bytes bytes): row r's sums of block b go
// to c + r * c_stride + 16 * b. Several blocks at once let kernels interleave
// independent FMA chains when m is small; results do not depend on it.
using WxF32GemmFn = void (*)(size_t m, size_t blocks, const float* a,
                             size_t a_stride, const uint8_t* packed_block,
                             const WxGeometry& geometry, DType dtype, float* c,
                             size_t c_stride);

// Per-row parameters of int8_asym_per_token activations for the wx dq8
// kernels, which take the int8 codes qa themselves.
struct WxDq8Row {
  float scale;          // s_a
  int32_t zero_point;   // zp_a
  const int32_t* asum;  // Σ (qa - zp_a) over each group (geometry.groups)
};

// int8_asym_per_token mode: row r's codes at a + r * a_stride, padded_k() of
// them, zero past k.
using WxDq8GemmFn = void (*)(size_t m, const int8_t* a, size_t a_stride,
                             const WxDq8Row* rows, const uint8_t* packed_block,
                             const WxGeometry& geometry, float* c,
                             size_t c_stride);

// Large-M path of the weight-only mode: writes ŵ for k in
// [k_begin, k_begin + k_count) of one block as [k_count][16] fp32 (the same
// values the direct kernels use), for F32TileGemmFn.
// REQUIRES: k_begin % kWxUnitK == 0, k_begin + k_count <= geometry.k.
using WxF32UnpackFn = void (*)(const uint8_t* packed_block,
                               const WxGeometry& geometry, DType dtype,
                               size_t k_begin, size_t k_count, float* w);

void wx_f32_gemm_scalar(size_t m, size_t blocks, const float* a,
                        size_t a_stride, const uint8_t* packed_block,
                        const WxGeometry& geometry, DType dtype, float* c,
                        size_t c_stride);
void wx_f32_gemm_avx2(size_t m, size_t blocks, const float* a, size_t a_stride,
                      const uint8_t* packed_block, const WxGeometry& geometry,
                      DType dtype, float* c, size_t c_stride);
void wx_f32_gemm_avx512(size_t m, size_t blocks, const float* a,
                        size_t a_stride, const uint8_t* packed_block,
                        const WxGeometry& geometry, DType dtype, float* c,
                        size_t c_stride);
void wx_f32_unpack_avx512(const uint8_t* packed_block,
                          const WxGeometry& geometry, DType dtype,
                          size_t k_begin, size_t k_count, float* w);

void wx_dq8_gemm_scalar(size_t m, const int8_t* a, size_t a_stride,
                        const WxDq8Row* rows, const uint8_t* packed_block,
                        const WxGeometry& geometry, float* c, size_t c_stride);
void wx_dq8_gemm_avx2(size_t m, const int8_t* a, size_t a_stride,
                      const WxDq8Row* rows, const uint8_t* packed_block,
                      const WxGeometry& geometry, float* c, size_t c_stride);
void wx_dq8_gemm_avx512vnni(size_t m, const int8_t* a, size_t a_stride,
                            const WxDq8Row* rows, const uint8_t* packed_block,
                            const WxGeometry& geometry, float* c,
                            size_t c_stride);

}  // namespace qlinear

#endif  // QLINEAR_KERNELS_GEMM_GEMM_H_
