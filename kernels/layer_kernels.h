// The kernels a layer family runs on one ISA path: one constant object per
// (family, ISA), built once from the list in kernels/gemm/gemm_kernels.inc and
// shared by every Linear of that family (which holds a pointer to it).
//
// Thread-safe: the objects are immutable and live for the whole process.
#ifndef QLINEAR_KERNELS_LAYER_KERNELS_H_
#define QLINEAR_KERNELS_LAYER_KERNELS_H_

#include <cstddef>
#include <string_view>

#include "kernels/cpu_features.h"
#include "kernels/gemm/gemm.h"
#include "kernels/w4_packing.h"
#include "kernels/wx_packing.h"

namespace qlinear {

// From this many rows on, weight-only int4 and intx layers dequantize each
// weight block once and reuse it for every row (when the ISA has a tiled
// kernel: AVX-512 for both, AVX2 for int4).
inline constexpr size_t kW4TiledMinRows = 16;
// The AVX2 int4 tile's own threshold, measured on Zen 4 with AVX2 forced
// (docs/benchmarks.md, "Issue 12: the AVX2 tiles"): the tile is level with
// the direct kernel at 8 to 10 rows and 10 % faster at 12.
inline constexpr size_t kW4TiledMinRowsAvx2 = 12;
// k dequantized per step of that path.
inline constexpr size_t kW4TiledChunkK = 1024;
// From this many rows on, int4 layers in the int8 mode on the AVX2 path
// unpack each chunk of up to kW4Dq8TileMaxBlocks blocks once (a chunk fills
// about half the L1 data cache, DataCaches()) and run every row over it with
// a register-blocked tile (vpmaddubsw). Measured on Zen 4 with AVX2 forced
// (docs/benchmarks.md, "Prefetch in the direct int8 kernels"): level with
// the direct kernel at 10 to 12 rows, 7-11 % faster at 14. The VNNI path has
// no int8 tile: its direct kernel is faster at every M measured, 1 to 1024.
inline constexpr size_t kW4Dq8TiledMinRowsAvx2 = 14;

// int4_opaque layers.
struct W4Kernels {
  Isa isa = Isa::kScalar;
  // Activation quantizer of the int8 mode.
  Dq8QuantizeRowFn quantize_row = nullptr;
  // Direct kernels (any M, up to kW4MaxRows rows per call); the names are
  // the kernel metric label.
  W4F32GemmFn f32 = nullptr;
  std::string_view f32_name;
  W4Dq8GemmFn dq8 = nullptr;
  std::string_view dq8_name;
  // Tiled pairs for many rows; null when the ISA has none. Used from
  // *_tiled_min_rows rows on (without a pair, the count is only a batch
  // size that the tests and the model warm-up run).
  W4F32UnpackFn f32_unpack = nullptr;
  F32TileGemmFn f32_tile_gemm = nullptr;
  size_t f32_tiled_min_rows = kW4TiledMinRows;
  W4Dq8UnpackFn dq8_unpack = nullptr;
  W4Dq8TileGemmFn dq8_tile_gemm = nullptr;
  size_t dq8_tiled_min_rows = kW4Dq8TiledMinRowsAvx2;
};

// intx_opaque layers.
struct WxKernels {
  Isa isa = Isa::kScalar;
  Dq8QuantizeRowFn quantize_row = nullptr;
  WxF32GemmFn f32 = nullptr;
  std::string_view f32_name;
  WxDq8GemmFn dq8 = nullptr;
  std::string_view dq8_name;
  WxF32UnpackFn f32_unpack = nullptr;  // null: no tiled weight-only path
  F32TileGemmFn f32_tile_gemm = nullptr;
  size_t f32_tiled_min_rows = kW4TiledMinRows;
};

// For each kernel slot, the last entry of the list that `isa` runs.
const W4Kernels& W4KernelsFor(Isa isa);
const WxKernels& WxKernelsFor(Isa isa);

}  // namespace qlinear

#endif  // QLINEAR_KERNELS_LAYER_KERNELS_H_
