// Linear: one layer's weights packed for this machine, and the operator that
// runs them: model/ calls this, never a kernel directly (docs/architecture.md).
//
// Immutable after Create(); Run() is thread-safe and may be called
// concurrently from any number of threads.
#ifndef QLINEAR_KERNELS_LINEAR_H_
#define QLINEAR_KERNELS_LINEAR_H_

#include <cstddef>
#include <functional>
#include <memory>
#include <string_view>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "kernels/gemm/gemm.h"
#include "kernels/layer_kernels.h"
#include "kernels/thread_pool.h"
#include "kernels/w4_packing.h"
#include "kernels/weights.h"
#include "kernels/wx_packing.h"

namespace qlinear {

class Linear {
 public:
  // Validates `weights`, packs them for the kernels of ActiveIsa() and
  // releases the plain int4/intx tensors: the Linear keeps only what Run()
  // reads (an fp32 layer keeps its fp32 weights, which it computes with).
  // Returns INVALID_ARGUMENT naming the inconsistency (sizes, group size,
  // code range, non-finite scale).
  static absl::StatusOr<std::unique_ptr<Linear>> Create(LinearWeights weights);

  // Fills `slab` (a layer of `rows` rows: n = rows, everything else as the
  // layer's) with the plain weights of rows [row_begin, row_begin + rows).
  using RowSource = std::function<absl::Status(size_t row_begin, size_t rows,
                                               LinearWeights* slab)>;

  // Create() for a layer whose plain weights arrive a slab of `slab_rows`
  // rows (rounded up to whole blocks) at a time: each slab is validated,
  // packed and dropped, so that the plain layer is never whole in memory.
  // `layer` holds everything but the plain tensors: format (int4_opaque or
  // intx_opaque), dtype, n, k, bias, activation, act_scale_floor, and the
  // group size (and bits) in layer.int4 or layer.intx.
  // Errors: those of Create(), and any error `rows` returns.
  static absl::StatusOr<std::unique_ptr<Linear>> CreateStreamed(
      const LinearWeights& layer, size_t slab_rows, const RowSource& rows);

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

  size_t n() const { return n_; }
  size_t k() const { return k_; }
  WeightFormat format() const { return format_; }
  DType dtype() const { return dtype_; }
  Activation activation() const { return activation_; }
  // Name of the kernel Run() uses in `mode` (a metric label; stable).
  std::string_view kernel_name(ActQuant mode) const;
  // Bytes of weight data Run() computes with: the packed buffer (fp32
  // weights for an fp32 layer) and the bias.
  size_t packed_bytes() const;
  // Every byte this object holds on the heap and inline: packed_bytes()
  // plus the object itself. A test keeps it within a few hundred bytes of
  // packed_bytes().
  size_t held_bytes() const;
  // The plain weights this layer was created from, rebuilt from the packed
  // layout (bit-identical to the input of Create). For tests and tools; it
  // allocates the whole plain layer.
  LinearWeights PlainWeights() const;

 private:
  explicit Linear(const LinearWeights& w);

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

  const WeightFormat format_;
  const DType dtype_;
  const size_t n_, k_;
  const Activation activation_;
  const ScaleFloor act_scale_floor_;
  std::vector<float> bias_;  // [N] or empty
  std::vector<float> fp32_;  // fp32 layers only: [N, K]
  // int4_opaque only: the packed weights and the kernels of the ISA path
  // chosen at Create().
  PackedW4 packed_w4_;
  const W4Kernels* w4_ = nullptr;
  // intx_opaque only: the same.
  PackedWx packed_wx_;
  const WxKernels* wx_ = nullptr;
};

// Checks the internal consistency of `w` (what Create() validates).
absl::Status ValidateLinearWeights(const LinearWeights& w);

}  // namespace qlinear

#endif  // QLINEAR_KERNELS_LINEAR_H_
