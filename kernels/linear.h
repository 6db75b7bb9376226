// Linear: one layer's weights packed for this machine, and the operator that
// runs them (STYLE.md point 5). model/ calls this, never a kernel directly.
//
// Immutable after Create(); Run() is thread-safe and may be called
// concurrently from any number of threads.
#ifndef QLINEAR_KERNELS_LINEAR_H_
#define QLINEAR_KERNELS_LINEAR_H_

#include <cstddef>
#include <memory>
#include <string_view>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "kernels/gemm/gemm.h"
#include "kernels/thread_pool.h"
#include "kernels/w4_packing.h"
#include "kernels/weights.h"
#include "kernels/wx_packing.h"

namespace qlinear {

// From this many rows on, weight-only int4 and intx layers dequantize each
// weight block once and reuse it for every row (when the ISA has a tiled
// kernel).
inline constexpr size_t kW4TiledMinRows = 16;
// k dequantized per step of that path.
inline constexpr size_t kW4TiledChunkK = 1024;
// From this many rows on, int4 layers in the int8 mode unpack each chunk of
// kW4Dq8TiledChunkK k of up to kW4Dq8TileMaxBlocks blocks once and run every
// row over it with a register-blocked VNNI tile (when the ISA has one).
inline constexpr size_t kW4Dq8TiledMinRows = 64;
inline constexpr size_t kW4Dq8TiledChunkK = 512;

class Linear {
 public:
  // Validates `weights` and packs them for the kernels of ActiveIsa().
  // Returns INVALID_ARGUMENT naming the inconsistency (sizes, group size,
  // code range, non-finite scale).
  static absl::StatusOr<std::unique_ptr<Linear>> Create(LinearWeights weights);

  Linear(const Linear&) = delete;
  Linear& operator=(const Linear&) = delete;

  // y[m, N] = activation(x[m, K] · Wᵀ + bias) rounded to dtype(), in `mode`
  // (fp32 layers ignore the mode). With apply_activation false the
  // activation function is skipped (the Matmul RPC). x holds values
  // representable in dtype(). A row's result bits depend only on that row:
  // never on m, its batch-mates, the thread count or the kernel tile.
  // Work is split over `pool` (nullptr: the process's ComputePool()).
  // REQUIRES: x has m*k() floats, y has room for m*n() floats.
  // With `act_quant_seconds`, adds the time spent quantizing activations
  // (int8 mode) to it, for per-stage metrics.
  void Run(const float* x, size_t m, ActQuant mode, bool apply_activation,
           float* y, ThreadPool* pool = nullptr,
           double* act_quant_seconds = nullptr) const;

  size_t n() const { return weights_.n; }
  size_t k() const { return weights_.k; }
  WeightFormat format() const { return weights_.format; }
  DType dtype() const { return weights_.dtype; }
  Activation activation() const { return weights_.activation; }
  // Name of the kernel Run() uses in `mode` (a metric label; stable).
  std::string_view kernel_name(ActQuant mode) const;
  // Bytes of weight data held for compute.
  size_t packed_bytes() const;
  // The plain weights this layer was created from.
  const LinearWeights& weights() const { return weights_; }

 private:
  explicit Linear(LinearWeights weights) : weights_(std::move(weights)) {}

  // Runs block_fn(block, nb, m_begin, m_end, acc) for every run of nb <=
  // blocks_per_call 16-column blocks and row range of a split over `pool`,
  // then the epilogue of those outputs. acc holds (m_end - m_begin) rows of
  // nb * 16 sums.
  template <typename BlockFn>
  void RunBlocks(size_t m, size_t blocks, size_t blocks_per_call,
                 Activation activation, float* y, ThreadPool* pool,
                 const BlockFn& block_fn) const;

  void RunW4(const float* x, size_t m, ActQuant mode, Activation activation,
             float* y, ThreadPool* pool, double* act_quant_seconds) const;
  // Weight-only large-M path for one block: acc[m][16] = x · ŵᵀ.
  void RunW4TiledBlock(size_t block, const float* x, size_t m,
                       float* acc) const;
  // int8 large-M path for blocks [block, block + nb): acc[m][nb * 16].
  void RunW4Dq8TiledBlocks(size_t block, size_t nb, const uint8_t* ua,
                           const Dq8Row* rows, const float* asum, size_t m,
                           float* acc) const;
  void RunWx(const float* x, size_t m, ActQuant mode, Activation activation,
             float* y, ThreadPool* pool, double* act_quant_seconds) const;
  void RunWxTiledBlock(size_t block, const float* x, size_t m,
                       float* acc) const;

  const LinearWeights weights_;
  // int4_opaque only: packed weights and the kernels chosen at Create().
  PackedW4 packed_w4_;
  W4F32GemmFn w4_f32_ = nullptr;
  W4Dq8GemmFn w4_dq8_ = nullptr;
  W4F32UnpackFn w4_f32_unpack_ = nullptr;  // null: no large-M path
  F32TileGemmFn w4_f32_tile_gemm_ = nullptr;
  W4Dq8UnpackFn w4_dq8_unpack_ = nullptr;  // null: no int8 large-M path
  W4Dq8TileGemmFn w4_dq8_tile_gemm_ = nullptr;
  std::string_view w4_f32_name_;
  std::string_view w4_dq8_name_;
  // Per-row int8 activation quantization (both quantized formats).
  Dq8QuantizeRowFn dq8_quantize_ = nullptr;
  // intx_opaque only: packed weights and the kernels chosen at Create().
  PackedWx packed_wx_;
  WxF32GemmFn wx_f32_ = nullptr;
  WxDq8GemmFn wx_dq8_ = nullptr;
  WxF32UnpackFn wx_f32_unpack_ = nullptr;  // null: no large-M path
  F32TileGemmFn wx_f32_tile_gemm_ = nullptr;
  std::string_view wx_f32_name_;
  std::string_view wx_dq8_name_;
};

// Checks the internal consistency of `w` (what Create() validates).
absl::Status ValidateLinearWeights(const LinearWeights& w);

}  // namespace qlinear

#endif  // QLINEAR_KERNELS_LINEAR_H_
