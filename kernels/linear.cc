#include "kernels/linear.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "kernels/cpu_features.h"
#include "kernels/epilogue.h"
#include "kernels/reference/linear.h"
#include "kernels/reference/quantize.h"

namespace qlinear {
namespace {

absl::Status Invalid(const std::string& what) {
  return absl::InvalidArgumentError(what);
}

bool AllFinite(const std::vector<float>& v) {
  for (float x : v) {
    if (!std::isfinite(x)) return false;
  }
  return true;
}

// Per-thread scratch arrays that only grow, so the hot path allocates only
// the first time a thread sees a larger shape. One slot per use.
enum ScratchSlot {
  kTileSlot,
  kUnpackSlot,
  kCodesSlot,
  kGroupSumsSlot,
  kRowsSlot,
  kAsumSlot,
  kNumSlots
};

template <typename T>
T* Scratch(ScratchSlot slot, size_t count) {
  thread_local AlignedBytes buffers[kNumSlots];
  thread_local size_t capacity[kNumSlots] = {};
  const size_t bytes = count * sizeof(T);
  if (bytes > capacity[slot]) {
    buffers[slot] = AllocateAligned(bytes);
    capacity[slot] = bytes;
  }
  return reinterpret_cast<T*>(buffers[slot].get());
}

// Runs row_fn(r) for r in [0, m): on the calling thread for a few rows, split
// over the pool for many (rows are independent).
template <typename RowFn>
void ForEachRow(size_t m, ThreadPool* pool, const RowFn& row_fn) {
  constexpr size_t kRowsPerTask = 4;
  if (m < 2 * kRowsPerTask || pool->num_threads() == 1) {
    for (size_t r = 0; r < m; ++r) row_fn(r);
    return;
  }
  pool->ParallelFor((m + kRowsPerTask - 1) / kRowsPerTask, [&](size_t task) {
    const size_t end = std::min(m, (task + 1) * kRowsPerTask);
    for (size_t r = task * kRowsPerTask; r < end; ++r) row_fn(r);
  });
}

// Groups per chunk of the int8 tiled path: the unpacked chunk of
// kW4Dq8TileMaxBlocks blocks fills about half of the L1 data cache, so it
// stays there while every row tile streams its activations past it.
size_t Dq8TiledChunkGroups(size_t group_size) {
  const size_t budget = DataCaches().l1d / 2;
  return std::max<size_t>(
      1, budget / (kW4Dq8TileMaxBlocks * W4Dq8UnpackedGroupBytes(group_size)));
}

// The direct paths compute kDirectPanelBlocks blocks (64 columns) per task
// step, so the epilogue runs on 64-column row segments: one call per row
// and 16 columns cost up to a quarter of a K = 1024 block's compute.
constexpr size_t kDirectPanelBlocks = 4;

// Calls fn(r0, rows) over m rows cut into ceil(m / kW4MaxRows) row tiles of
// nearly equal size (41 rows: 7, 7, 7, 7, 7, 6 rather than five 8s and a 1):
// a kernel call on 1-3 rows has too few independent chains to keep its
// pipes busy. Each row's result is the same in any tile.
template <typename Fn>
void ForEachRowTile(size_t m, const Fn& fn) {
  static_assert(kW4MaxRows == kWxMaxRows);
  const size_t tiles = (m + kW4MaxRows - 1) / kW4MaxRows;
  if (tiles == 0) return;
  const size_t rows = m / tiles, longer = m % tiles;
  size_t r0 = 0;
  for (size_t t = 0; t < tiles; ++t) {
    const size_t count = rows + (t < longer ? 1 : 0);
    fn(r0, count);
    r0 += count;
  }
}

// The direct paths over a panel of nb blocks and rows [m_begin, m_end): per
// row tile, one kernel call per block, or one for all nb blocks when a
// weight-only tile has 1-2 rows (the kernel then interleaves the blocks'
// independent FMA chains). call(r0, count, i, blocks, c, c_stride) computes
// rows [r0, r0 + count) of the panel's blocks [i, i + blocks) into c.
template <typename Fn>
void ForEachDirectCall(size_t m_begin, size_t m_end, size_t nb,
                       bool weight_only, float* acc, const Fn& call) {
  static_assert(kW4BlockColumns == kWxBlockColumns);
  const size_t c_stride = nb * kW4BlockColumns;
  ForEachRowTile(m_end - m_begin, [&](size_t t0, size_t count) {
    const size_t step = weight_only && count <= 2 ? nb : 1;
    for (size_t i = 0; i < nb; i += step) {
      call(m_begin + t0, count, i, step,
           acc + t0 * c_stride + i * kW4BlockColumns, c_stride);
    }
  });
}

// The tiled paths unpack a chunk of groups of `nb` blocks, then run every row
// over it; the packed bytes of the chunk after it (the next groups of the
// same blocks, or the first chunk of the next `nb` blocks) are only read by
// the next unpack. Asking for them into L2 before the rows run lets them
// stream in under the compute instead of stalling that unpack.
void PrefetchNextChunk(const PackedW4& p, size_t block, size_t nb,
                       size_t next_group, size_t chunk_groups) {
  const size_t groups = p.k / p.group_size;
  if (next_group >= groups) {
    block += nb;
    next_group = 0;
    if (block >= p.blocks) return;
    nb = std::min(nb, p.blocks - block);
  }
  const size_t segment = W4SegmentBytes(p.group_size);
  const size_t bytes = std::min(chunk_groups, groups - next_group) * segment;
  for (size_t i = 0; i < nb; ++i) {
    const uint8_t* next = p.block(block + i) + next_group * segment;
    for (size_t off = 0; off < bytes; off += 64) {
      __builtin_prefetch(next + off, /*rw=*/0, /*locality=*/2);
    }
  }
}

double SecondsSince(std::chrono::steady_clock::time_point start) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - start)
      .count();
}

// The checks of the shape and the bias.
absl::Status ValidateShapeAndBias(const LinearWeights& w) {
  if (w.n == 0 || w.k == 0)
    return Invalid("in_features and out_features must be positive");
  if (!w.bias.empty() && w.bias.size() != w.n) {
    return Invalid(
        absl::StrCat("bias has ", w.bias.size(), " values, expected ", w.n));
  }
  if (!AllFinite(w.bias)) return Invalid("bias has a non-finite value");
  return absl::OkStatus();
}

}  // namespace

absl::Status ValidateLinearWeights(const LinearWeights& w) {
  absl::Status shape = ValidateShapeAndBias(w);
  if (!shape.ok()) return shape;
  switch (w.format) {
    case WeightFormat::kInt4Opaque: {
      const Int4PlainWeights& p = w.int4;
      if (p.n != w.n || p.k != w.k)
        return Invalid("int4 weights shape mismatch");
      if (p.group_size != 32 && p.group_size != 64 && p.group_size != 128 &&
          p.group_size != 256) {
        return Invalid(absl::StrCat("int4_opaque group_size ", p.group_size,
                                    " is not one of 32, 64, 128, 256"));
      }
      if (p.k % p.group_size != 0) {
        return Invalid(absl::StrCat("in_features ", p.k,
                                    " is not a multiple of group_size ",
                                    p.group_size));
      }
      const size_t gcount = p.n * (p.k / p.group_size);
      if (p.q.size() != p.n * p.k || p.scale.size() != gcount ||
          p.zero.size() != gcount) {
        return Invalid("int4 weights: tensor sizes do not match the shape");
      }
      for (uint8_t q : p.q) {
        if (q > 15)
          return Invalid(absl::StrCat("int4 code ", q, " out of range 0..15"));
      }
      if (!AllFinite(p.scale) || !AllFinite(p.zero)) {
        return Invalid("int4 weights: non-finite scale or zero");
      }
      return absl::OkStatus();
    }
    case WeightFormat::kIntxOpaque: {
      const IntxPlainWeights& p = w.intx;
      if (p.n != w.n || p.k != w.k)
        return Invalid("intx weights shape mismatch");
      if (p.bits < 1 || p.bits > 8)
        return Invalid(absl::StrCat("bits ", p.bits, " not in 1..8"));
      const bool per_channel = p.group_size == p.k;
      if (!per_channel &&
          (p.group_size < 16 || p.group_size > 256 || p.group_size % 16 != 0)) {
        return Invalid(absl::StrCat(
            "intx_opaque group_size ", p.group_size,
            " must be a multiple of 16 in 16..256, or in_features"));
      }
      if (p.k % p.group_size != 0) {
        return Invalid(absl::StrCat("in_features ", p.k,
                                    " is not a multiple of group_size ",
                                    p.group_size));
      }
      const size_t gcount = p.n * (p.k / p.group_size);
      if (p.q.size() != p.n * p.k || p.scale.size() != gcount ||
          p.zero_point.size() != gcount) {
        return Invalid("intx weights: tensor sizes do not match the shape");
      }
      const int qmin = reference::IntxQMin(p.bits),
                qmax = reference::IntxQMax(p.bits);
      for (int8_t q : p.q) {
        if (q < qmin || q > qmax) {
          return Invalid(absl::StrCat("intx code ", q, " out of range ", qmin,
                                      "..", qmax));
        }
      }
      for (int8_t z : p.zero_point) {
        if (z < qmin || z > qmax) {
          return Invalid(absl::StrCat("intx zero point ", z, " out of range ",
                                      qmin, "..", qmax));
        }
      }
      if (!AllFinite(p.scale)) return Invalid("intx weights: non-finite scale");
      return absl::OkStatus();
    }
    case WeightFormat::kFp32:
      if (w.fp32.size() != w.n * w.k)
        return Invalid("fp32 weights: size does not match shape");
      if (!AllFinite(w.fp32)) return Invalid("fp32 weights: non-finite value");
      return absl::OkStatus();
  }
  return Invalid("unknown weight format");
}

Linear::Linear(const LinearWeights& w)
    : format_(w.format),
      dtype_(w.dtype),
      n_(w.n),
      k_(w.k),
      activation_(w.activation),
      act_scale_floor_(w.act_scale_floor) {}

absl::StatusOr<std::unique_ptr<Linear>> Linear::Create(LinearWeights weights) {
  absl::Status s = ValidateLinearWeights(weights);
  if (!s.ok()) return s;
  std::unique_ptr<Linear> linear(new Linear(weights));
  linear->bias_ = std::move(weights.bias);
  const Isa isa = ActiveIsa();
  switch (weights.format) {
    case WeightFormat::kInt4Opaque:
      linear->w4_ = &W4KernelsFor(isa);
      linear->packed_w4_ = PackW4(weights.int4);
      break;
    case WeightFormat::kIntxOpaque:
      linear->wx_ = &WxKernelsFor(isa);
      linear->packed_wx_ = PackWx(weights.intx);
      break;
    case WeightFormat::kFp32:
      linear->fp32_ = std::move(weights.fp32);
      break;
  }
  // `weights`, with the plain tensors, is released here.
  return linear;
}

absl::StatusOr<std::unique_ptr<Linear>> Linear::CreateStreamed(
    const LinearWeights& layer, size_t slab_rows, const RowSource& rows) {
  absl::Status s = ValidateShapeAndBias(layer);
  if (!s.ok()) return s;
  if (layer.format == WeightFormat::kFp32) {
    return Invalid("fp32 layers are not packed: use Create");
  }
  slab_rows =
      std::max<size_t>(1, (slab_rows + kW4BlockColumns - 1) / kW4BlockColumns) *
      kW4BlockColumns;
  static_assert(kW4BlockColumns == kWxBlockColumns);
  std::unique_ptr<Linear> linear(new Linear(layer));
  linear->bias_ = layer.bias;
  const Isa isa = ActiveIsa();
  for (size_t row_begin = 0; row_begin < layer.n; row_begin += slab_rows) {
    const size_t count = std::min(slab_rows, layer.n - row_begin);
    LinearWeights slab;
    slab.format = layer.format;
    slab.dtype = layer.dtype;
    slab.n = count;
    slab.k = layer.k;
    slab.int4.group_size = layer.int4.group_size;
    slab.intx.group_size = layer.intx.group_size;
    slab.intx.bits = layer.intx.bits;
    s = rows(row_begin, count, &slab);
    if (!s.ok()) return s;
    if (slab.n != count || slab.k != layer.k) {
      return Invalid("a slab of rows does not have the layer's shape");
    }
    // The group size (and bits) are checked with the first slab, before
    // the packed buffer is sized from them.
    s = ValidateLinearWeights(slab);
    if (!s.ok()) return s;
    if (layer.format == WeightFormat::kInt4Opaque) {
      if (slab.int4.group_size != layer.int4.group_size) {
        return Invalid("a slab of rows has another group size");
      }
      if (row_begin == 0) {
        linear->w4_ = &W4KernelsFor(isa);
        linear->packed_w4_ =
            AllocateW4(layer.n, layer.k, layer.int4.group_size);
      }
      PackW4Rows(slab.int4, row_begin, &linear->packed_w4_);
    } else {
      if (slab.intx.group_size != layer.intx.group_size ||
          slab.intx.bits != layer.intx.bits) {
        return Invalid("a slab of rows has another group size or bit width");
      }
      if (row_begin == 0) {
        linear->wx_ = &WxKernelsFor(isa);
        linear->packed_wx_ = AllocateWx(layer.n, layer.k, layer.intx.group_size,
                                        layer.intx.bits);
      }
      PackWxRows(slab.intx, row_begin, &linear->packed_wx_);
    }
  }
  return linear;
}

std::string_view Linear::kernel_name(ActQuant mode) const {
  const bool dq8 = mode == ActQuant::kInt8AsymPerToken;
  switch (format_) {
    case WeightFormat::kInt4Opaque:
      return dq8 ? w4_->dq8_name : w4_->f32_name;
    case WeightFormat::kIntxOpaque:
      return dq8 ? wx_->dq8_name : wx_->f32_name;
    case WeightFormat::kFp32:
      break;
  }
  return "reference";
}

void Linear::Run(const float* x, size_t m, ActQuant mode, bool apply_activation,
                 float* y, ThreadPool* pool, double* act_quant_seconds) const {
  const Activation activation =
      apply_activation ? activation_ : Activation::kNone;
  if (format_ == WeightFormat::kInt4Opaque) {
    RunW4(x, m, mode, activation, y, pool != nullptr ? pool : &ComputePool(),
          act_quant_seconds);
    return;
  }
  if (format_ == WeightFormat::kIntxOpaque) {
    RunWx(x, m, mode, activation, y, pool != nullptr ? pool : &ComputePool(),
          act_quant_seconds);
    return;
  }
  reference::Fp32Linear(fp32_.data(), n_, k_,
                        bias_.empty() ? nullptr : bias_.data(), dtype_, x, m,
                        activation, y);
}

template <typename BlockFn>
void Linear::RunBlocks(size_t m, size_t blocks, size_t blocks_per_call,
                       Activation activation, float* y, ThreadPool* pool,
                       const BlockFn& block_fn) const {
  static_assert(kW4BlockColumns == kWxBlockColumns && kW4MaxRows == kWxMaxRows);
  const size_t n = n_;
  const float* bias = bias_.empty() ? nullptr : bias_.data();
  const Isa isa = w4_ != nullptr ? w4_->isa : wx_->isa;
  // Tasks split N into block ranges and, when there are few blocks, M into
  // row ranges. A row's outputs never depend on the split. A layer call of
  // fewer than kMinParallelMacs multiply-adds is one task on the calling
  // thread: waking the pool's sleeping workers costs tens of microseconds on
  // a VM, more than such a call computes.
  constexpr size_t kMinParallelMacs = size_t{1} << 18;
  const bool one_task = m * n * k_ < kMinParallelMacs;
  const size_t threads = static_cast<size_t>(pool->num_threads());
  const size_t blocks_per_task =
      ((one_task ? blocks : std::max<size_t>(1, blocks / (4 * threads))) +
       blocks_per_call - 1) /
      blocks_per_call * blocks_per_call;
  const size_t block_tasks = (blocks + blocks_per_task - 1) / blocks_per_task;
  size_t rows_per_task = m;
  if (!one_task && block_tasks < 2 * threads && m > 2 * kW4MaxRows) {
    const size_t splits = (2 * threads + block_tasks - 1) / block_tasks;
    rows_per_task =
        ((m + splits - 1) / splits + kW4MaxRows - 1) / kW4MaxRows * kW4MaxRows;
  }
  const size_t row_tasks = (m + rows_per_task - 1) / rows_per_task;

  pool->ParallelFor(block_tasks * row_tasks, [&](size_t task) {
    const size_t b_begin = (task / row_tasks) * blocks_per_task;
    const size_t b_end = std::min(blocks, b_begin + blocks_per_task);
    const size_t m_begin = (task % row_tasks) * rows_per_task;
    const size_t m_end = std::min(m, m_begin + rows_per_task);
    float* acc = Scratch<float>(
        kTileSlot, (m_end - m_begin) * blocks_per_call * kW4BlockColumns);
    for (size_t b = b_begin; b < b_end; b += blocks_per_call) {
      const size_t nb = std::min(blocks_per_call, b_end - b);
      block_fn(b, nb, m_begin, m_end, acc);
      const size_t n0 = b * kW4BlockColumns;
      const size_t cols = std::min(nb * kW4BlockColumns, n - n0);
      for (size_t r = m_begin; r < m_end; ++r) {
        EpilogueRow(acc + (r - m_begin) * nb * kW4BlockColumns, bias, n0, cols,
                    activation, dtype_, isa, y + r * n + n0);
      }
    }
  });
}

void Linear::RunW4(const float* x, size_t m, ActQuant mode,
                   Activation activation, float* y, ThreadPool* pool,
                   double* act_quant_seconds) const {
  const PackedW4& p = packed_w4_;
  const size_t groups = p.k / p.group_size;
  const bool dq8 = mode == ActQuant::kInt8AsymPerToken;

  // Per-row activation quantization (docs/numerics.md): ua = qa + 128.
  const auto quant_start = std::chrono::steady_clock::now();
  const bool dq8_tiled =
      dq8 && w4_->dq8_tile_gemm != nullptr && m >= w4_->dq8_tiled_min_rows;
  uint8_t* ua = nullptr;
  Dq8Row* rows = nullptr;
  float* asum = nullptr;  // float(Σ(qa - zp_a)) per row and group
  if (dq8) {
    ua = Scratch<uint8_t>(kCodesSlot, m * p.k);
    int32_t* group_sums = Scratch<int32_t>(kGroupSumsSlot, m * groups);
    rows = Scratch<Dq8Row>(kRowsSlot, m);
    asum = Scratch<float>(kAsumSlot, m * groups);
    const float eps = ScaleFloorValue(DType::kF32, act_scale_floor_);
    const int32_t shift = 128 * static_cast<int32_t>(p.group_size);
    ForEachRow(m, pool, [&](size_t r) {
      // A local k: stores through `row` (uint8_t) may alias p.k or a captured
      // reference, which would keep the shift below from being vectorized.
      const size_t k = p.k;
      // Quantize into the row's slot of `ua` as int8, then shift in place.
      uint8_t* row = ua + r * k;
      int32_t* sums = group_sums + r * groups;
      const Dq8RowQuant rq =
          w4_->quantize_row(x + r * k, k, p.group_size, eps,
                            reinterpret_cast<int8_t*>(row), sums);
      for (size_t i = 0; i < k; ++i) row[i] ^= 0x80;  // qa + 128
      for (size_t g = 0; g < groups; ++g) sums[g] += shift;
      float* row_asum = asum + r * groups;
      const int32_t c_gs =
          (rq.zero_point + 128) * static_cast<int32_t>(p.group_size);
      for (size_t g = 0; g < groups; ++g) {
        row_asum[g] = static_cast<float>(sums[g] - c_gs);
      }
      rows[r] = {rq.scale, rq.zero_point + 128, sums, row_asum};
    });
  }

  if (dq8 && act_quant_seconds != nullptr) {
    *act_quant_seconds += SecondsSince(quant_start);
  }
  const bool tiled =
      !dq8 && w4_->f32_tile_gemm != nullptr && m >= w4_->f32_tiled_min_rows;
  // The int8 tiled path: up to three blocks per register tile. The direct
  // paths: kDirectPanelBlocks blocks per epilogue call.
  const size_t blocks_per_call = dq8_tiled ? kW4Dq8TileMaxBlocks
                                 : tiled   ? 1
                                           : kDirectPanelBlocks;
  RunBlocks(m, p.blocks, blocks_per_call, activation, y, pool,
            [&](size_t b, size_t nb, size_t m_begin, size_t m_end, float* acc) {
              if (tiled) {
                RunW4TiledBlock(b, x + m_begin * p.k, m_end - m_begin, acc);
                return;
              }
              if (dq8_tiled) {
                RunW4Dq8TiledBlocks(b, nb, ua + m_begin * p.k, rows + m_begin,
                                    asum + m_begin * groups, m_end - m_begin,
                                    acc);
                return;
              }
              ForEachDirectCall(
                  m_begin, m_end, nb, !dq8, acc,
                  [&](size_t r0, size_t count, size_t i, size_t blocks,
                      float* c, size_t c_stride) {
                    if (dq8) {
                      w4_->dq8(count, p.k, p.group_size, ua + r0 * p.k, p.k,
                               rows + r0, p.block(b + i), c, c_stride);
                    } else {
                      w4_->f32(count, blocks, p.k, p.group_size, x + r0 * p.k,
                               p.k, p.block(b + i), c, c_stride);
                    }
                  });
            });
}

void Linear::RunW4TiledBlock(size_t block, const float* x, size_t m,
                             float* acc) const {
  const PackedW4& p = packed_w4_;
  const size_t groups = p.k / p.group_size;
  // Dequantize about 1024 k at a time (64 KiB of fp32), reused by every row.
  const size_t chunk_groups =
      std::max<size_t>(1, kW4TiledChunkK / p.group_size);
  float* w = Scratch<float>(kUnpackSlot,
                            chunk_groups * p.group_size * kW4BlockColumns);
  for (size_t g0 = 0; g0 < groups; g0 += chunk_groups) {
    const size_t g_count = std::min(chunk_groups, groups - g0);
    w4_->f32_unpack(g_count, p.group_size,
                    p.block(block) + g0 * W4SegmentBytes(p.group_size), w);
    PrefetchNextChunk(p, block, 1, g0 + g_count, chunk_groups);
    ForEachRowTile(m, [&](size_t r0, size_t count) {
      w4_->f32_tile_gemm(count, g_count * p.group_size,
                         x + r0 * p.k + g0 * p.group_size, p.k, w,
                         acc + r0 * kW4BlockColumns, kW4BlockColumns,
                         /*accumulate=*/g0 > 0);
    });
  }
}

void Linear::RunW4Dq8TiledBlocks(size_t block, size_t nb, const uint8_t* ua,
                                 const Dq8Row* rows, const float* asum,
                                 size_t m, float* acc) const {
  const PackedW4& p = packed_w4_;
  const size_t groups = p.k / p.group_size;
  const size_t chunk_groups = Dq8TiledChunkGroups(p.group_size);
  const size_t block_bytes =
      chunk_groups * W4Dq8UnpackedGroupBytes(p.group_size);
  uint8_t* w = Scratch<uint8_t>(kUnpackSlot, kW4Dq8TileMaxBlocks * block_bytes);
  for (size_t g0 = 0; g0 < groups; g0 += chunk_groups) {
    const size_t g_count = std::min(chunk_groups, groups - g0);
    for (size_t i = 0; i < nb; ++i) {
      w4_->dq8_unpack(g_count, p.group_size,
                      p.block(block + i) + g0 * W4SegmentBytes(p.group_size),
                      w + i * block_bytes);
    }
    PrefetchNextChunk(p, block, nb, g0 + g_count, chunk_groups);
    w4_->dq8_tile_gemm(m, nb, g_count, p.group_size, ua + g0 * p.group_size,
                       p.k, rows, asum + g0, groups, w, block_bytes, acc,
                       nb * kW4BlockColumns, /*accumulate=*/g0 > 0,
                       /*finish=*/g0 + g_count == groups);
  }
}

void Linear::RunWx(const float* x, size_t m, ActQuant mode,
                   Activation activation, float* y, ThreadPool* pool,
                   double* act_quant_seconds) const {
  const PackedWx& p = packed_wx_;
  const WxGeometry& geo = p.geometry;
  const bool dq8 = mode == ActQuant::kInt8AsymPerToken;

  // Per-row activation quantization (docs/numerics.md): int8 codes, rows
  // padded with zeros to whole units, and Σ(qa - zp_a) per group.
  const size_t padded_k = geo.padded_k();
  const auto quant_start = std::chrono::steady_clock::now();
  int8_t* qa = nullptr;
  WxDq8Row* rows = nullptr;
  if (dq8) {
    qa = Scratch<int8_t>(kCodesSlot, m * padded_k);
    int32_t* asum = Scratch<int32_t>(kGroupSumsSlot, m * geo.groups);
    rows = Scratch<WxDq8Row>(kRowsSlot, m);
    const float eps = ScaleFloorValue(DType::kF32, act_scale_floor_);
    ForEachRow(m, pool, [&](size_t r) {
      // Group-wise rows are exactly k long; a per-channel row (one group) is
      // padded with zero codes to whole units.
      int8_t* row_codes = qa + r * padded_k;
      int32_t* sums = asum + r * geo.groups;
      const Dq8RowQuant rq = wx_->quantize_row(
          x + r * geo.k, geo.k, geo.group_size, eps, row_codes, sums);
      std::fill(row_codes + geo.k, row_codes + padded_k, int8_t{0});
      for (size_t g = 0; g < geo.groups; ++g) {
        sums[g] -= static_cast<int32_t>(geo.group_size) * rq.zero_point;
      }
      rows[r] = {rq.scale, rq.zero_point, sums};
    });
  }

  if (dq8 && act_quant_seconds != nullptr) {
    *act_quant_seconds += SecondsSince(quant_start);
  }
  const bool tiled =
      !dq8 && wx_->f32_tile_gemm != nullptr && m >= wx_->f32_tiled_min_rows;
  const size_t blocks_per_call = tiled ? 1 : kDirectPanelBlocks;
  RunBlocks(m, p.blocks, blocks_per_call, activation, y, pool,
            [&](size_t b, size_t nb, size_t m_begin, size_t m_end, float* acc) {
              if (tiled) {
                RunWxTiledBlock(b, x + m_begin * geo.k, m_end - m_begin, acc);
                return;
              }
              ForEachDirectCall(
                  m_begin, m_end, nb, !dq8, acc,
                  [&](size_t r0, size_t count, size_t i, size_t blocks,
                      float* c, size_t c_stride) {
                    if (dq8) {
                      wx_->dq8(count, qa + r0 * padded_k, padded_k, rows + r0,
                               p.block(b + i), geo, c, c_stride);
                    } else {
                      wx_->f32(count, blocks, x + r0 * geo.k, geo.k,
                               p.block(b + i), geo, dtype_, c, c_stride);
                    }
                  });
            });
}

void Linear::RunWxTiledBlock(size_t block, const float* x, size_t m,
                             float* acc) const {
  const PackedWx& p = packed_wx_;
  const WxGeometry& geo = p.geometry;
  float* w = Scratch<float>(kUnpackSlot, kW4TiledChunkK * kWxBlockColumns);
  for (size_t k0 = 0; k0 < geo.k; k0 += kW4TiledChunkK) {
    const size_t k_count = std::min(kW4TiledChunkK, geo.k - k0);
    wx_->f32_unpack(p.block(block), geo, dtype_, k0, k_count, w);
    ForEachRowTile(m, [&](size_t r0, size_t count) {
      wx_->f32_tile_gemm(count, k_count, x + r0 * geo.k + k0, geo.k, w,
                         acc + r0 * kWxBlockColumns, kWxBlockColumns,
                         /*accumulate=*/k0 > 0);
    });
  }
}

size_t Linear::packed_bytes() const {
  size_t bytes = bias_.size() * sizeof(float);
  switch (format_) {
    case WeightFormat::kInt4Opaque:
      bytes += packed_w4_.bytes();
      break;
    case WeightFormat::kIntxOpaque:
      bytes += packed_wx_.bytes();
      break;
    case WeightFormat::kFp32:
      bytes += fp32_.size() * sizeof(float);
      break;
  }
  return bytes;
}

size_t Linear::held_bytes() const {
  // Capacities, not sizes: what the allocator holds for this layer.
  return sizeof(Linear) +
         (bias_.capacity() + fp32_.capacity()) * sizeof(float) +
         packed_w4_.bytes() + packed_wx_.bytes();
}

LinearWeights Linear::PlainWeights() const {
  LinearWeights w;
  w.format = format_;
  w.dtype = dtype_;
  w.n = n_;
  w.k = k_;
  w.bias = bias_;
  w.activation = activation_;
  w.act_scale_floor = act_scale_floor_;
  switch (format_) {
    case WeightFormat::kInt4Opaque:
      w.int4 = UnpackW4(packed_w4_);
      break;
    case WeightFormat::kIntxOpaque:
      w.intx = UnpackWx(packed_wx_);
      break;
    case WeightFormat::kFp32:
      w.fp32 = fp32_;
      break;
  }
  return w;
}

}  // namespace qlinear
