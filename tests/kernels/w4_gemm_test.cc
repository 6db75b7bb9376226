// The int4_opaque kernels of every ISA path this machine can run, through
// the Linear operator, against the reference: bit-exact in both modes, for
// every shape class, and independent of batch-mates and thread count.
#include <algorithm>
#include <cmath>
#include <string>
#include <vector>

#include "gtest/gtest.h"
#include "kernels/cpu_features.h"
#include "kernels/gemm/gemm.h"
#include "kernels/layer_kernels.h"
#include "kernels/linear.h"
#include "kernels/reference/linear.h"
#include "kernels/reference/quantize.h"
#include "kernels/thread_pool.h"
#include "kernels/w4_packing.h"
#include "tests/testing/gemm_test_util.h"

namespace qlinear {
namespace {

using ::qlinear::testing::ExpectedKernels;
using ::qlinear::testing::ExpectKernelNames;
using ::qlinear::testing::ExpectMatchesReference;
using ::qlinear::testing::ExpectRowsIndependentOfBatchAndThreads;
using ::qlinear::testing::Gaussian;
using ::qlinear::testing::IsaTest;
using ::qlinear::testing::IsaTestName;
using ::qlinear::testing::kAllIsas;

struct Shape {
  size_t m, n, k, gs;
};

LinearWeights Int4Layer(size_t n, size_t k, size_t gs, DType t, uint32_t seed,
                        Activation activation = Activation::kNone) {
  const std::vector<float> w = Gaussian(n * k, seed, t, 0.05f);
  LinearWeights layer;
  layer.format = WeightFormat::kInt4Opaque;
  layer.dtype = t;
  layer.n = n;
  layer.k = k;
  layer.int4 = reference::QuantizeInt4Weights(w.data(), n, k, gs, t);
  layer.bias = Gaussian(n, seed + 1, t, 0.1f);
  layer.activation = activation;
  return layer;
}

class W4GemmTest : public IsaTest {};

TEST_P(W4GemmTest, ShapeClassesMatchReferenceBitwise) {
  const std::vector<Shape> shapes = {
      {1, 16, 32, 32},    {2, 1, 64, 32},     {3, 15, 128, 64},
      {4, 17, 256, 128},  {5, 63, 256, 256},  {7, 65, 512, 32},
      {9, 1071, 256, 64}, {33, 48, 128, 128}, {1, 1071, 1024, 128},
      {64, 33, 256, 32},
  };
  uint32_t seed = 1;
  for (const Shape& s : shapes) {
    const LinearWeights layer = Int4Layer(s.n, s.k, s.gs, DType::kF32, seed++);
    ExpectMatchesReference(GetParam(), layer,
                           Gaussian(s.m * s.k, seed++, DType::kF32, 1.0f), s.m,
                           &pool_);
  }
}

TEST_P(W4GemmTest, Bf16AndFp16ActivationsWithActivationFunctions) {
  uint32_t seed = 100;
  for (DType t : {DType::kBF16, DType::kF16}) {
    for (Activation a :
         {Activation::kSilu, Activation::kGelu, Activation::kRelu}) {
      const LinearWeights layer = Int4Layer(40, 256, 64, t, seed++, a);
      ExpectMatchesReference(GetParam(), layer,
                             Gaussian(6 * 256, seed++, t, 1.0f), 6, &pool_);
    }
  }
}

TEST_P(W4GemmTest, Extremes) {
  const size_t n = 20, k = 128, gs = 32, m = 5;
  // Constant groups (the scale floor), codes 0 and 15, large magnitudes.
  std::vector<float> w(n * k);
  for (size_t i = 0; i < n; ++i) {
    for (size_t j = 0; j < k; ++j) {
      const size_t g = j / gs;
      w[i * k + j] =
          g == 0 ? 0.75f
                 : (g == 1 ? ((j % 2) ? 1000.0f : -1000.0f) : 1e-3f * j);
    }
  }
  LinearWeights layer;
  layer.format = WeightFormat::kInt4Opaque;
  layer.n = n;
  layer.k = k;
  layer.int4 = reference::QuantizeInt4Weights(w.data(), n, k, gs, DType::kF32);
  std::vector<float> x = Gaussian(m * k, 7, DType::kF32, 100.0f);
  for (size_t j = 0; j < k; ++j) x[2 * k + j] = 0.0f;  // a zero row
  for (size_t j = 0; j < k; ++j) x[3 * k + j] = 3.5f;  // a constant row
  ExpectMatchesReference(GetParam(), layer, x, m, &pool_);
}

TEST_P(W4GemmTest, RowsIndependentOfBatchAndThreads) {
  const LinearWeights layer =
      Int4Layer(100, 512, 128, DType::kF32, 9, Activation::kSilu);
  const size_t m = 11;
  ExpectRowsIndependentOfBatchAndThreads(
      GetParam(), layer, Gaussian(m * 512, 10, DType::kF32, 1.0f), m);
}

// Every row count from 1 to 64 and within 16 rows of each tiled threshold
// the ISA has, then twice the larger one, so both sides of both thresholds
// and every row-tile remainder: bit for bit the reference in both modes, on
// 2 threads. N is ragged (2.5 blocks), K spans two weight-only chunks and
// several int8 chunks, every group size. A row's reference output depends
// only on that row, so the prefix check is also the batch-invariance check
// (row r alike in every batch of m > r rows).
TEST_P(W4GemmTest, EveryRowCountAcrossTheTiledThresholds) {
  const W4Kernels& kernels = W4KernelsFor(GetParam());
  std::vector<size_t> thresholds;
  if (kernels.f32_tile_gemm != nullptr) {
    thresholds.push_back(kernels.f32_tiled_min_rows);
  }
  if (kernels.dq8_tile_gemm != nullptr) {
    thresholds.push_back(kernels.dq8_tiled_min_rows);
  }
  size_t max_m = 64;
  for (size_t t : thresholds) max_m = std::max(max_m, 2 * t);
  const auto tested = [&](size_t m) {
    if (m <= 64 || m == max_m) return true;
    for (size_t t : thresholds) {
      if (m + 16 >= t && m <= t + 16) return true;
    }
    return false;
  };
  const size_t n = 40, k = 1280;
  for (size_t gs : {32, 64, 128, 256}) {
    const LinearWeights layer = Int4Layer(
        n, k, gs, DType::kF32, static_cast<uint32_t>(gs), Activation::kSilu);
    const std::vector<float> x =
        Gaussian(max_m * k, static_cast<uint32_t>(gs + 1), DType::kF32, 1.0f);
    ScopedIsaOverrideForTest force(GetParam());
    auto linear = Linear::Create(layer);
    ASSERT_TRUE(linear.ok()) << linear.status();
    for (ActQuant mode : {ActQuant::kNone, ActQuant::kInt8AsymPerToken}) {
      std::vector<float> want(max_m * n);
      reference::Linear(layer, x.data(), max_m, mode, layer.activation,
                        want.data());
      for (size_t m = 1; m <= max_m; ++m) {
        if (!tested(m)) continue;
        std::vector<float> got(m * n);
        (*linear)->Run(x.data(), m, mode, /*apply_activation=*/true, got.data(),
                       &pool_);
        for (size_t i = 0; i < got.size(); ++i) {
          ASSERT_EQ(FloatBits(got[i]), FloatBits(want[i]))
              << (*linear)->kernel_name(mode) << " m=" << m << " gs=" << gs
              << " row " << i / n << " col " << i % n;
        }
      }
    }
  }
}

INSTANTIATE_TEST_SUITE_P(Isas, W4GemmTest, ::testing::ValuesIn(kAllIsas),
                         IsaTestName);

// The weight-only tiled pairs of gemm_kernels.inc: unpacking K in chunks of
// 1, 2 or all groups and running the tile over each (accumulate after the
// first) equals the scalar direct kernel bit for bit, for every row count a
// tile call takes, every group size and an odd activation stride.
TEST(W4F32TiledKernelTest, TileEqualsDirectKernelForEveryChunking) {
  struct Pair {
    const char* name;
    Isa isa;
    W4F32UnpackFn unpack;
    F32TileGemmFn tile;
  };
  const Pair pairs[] = {
#define QL_W4_F32_TILED(unpack, gemm, min_isa, min_rows) \
  {#gemm, Isa::min_isa, unpack, gemm},
#include "kernels/gemm/gemm_kernels.inc"
#undef QL_W4_F32_TILED
  };
  for (const Pair& pair : pairs) {
    if (!IsaSupported(pair.isa)) continue;
    for (size_t gs : {32, 64, 128, 256}) {
      const size_t groups = 3, k = groups * gs, a_stride = k + 7;
      const std::vector<float> w = Gaussian(
          kW4BlockColumns * k, static_cast<uint32_t>(gs), DType::kF32, 0.05f);
      const PackedW4 packed = PackW4(reference::QuantizeInt4Weights(
          w.data(), kW4BlockColumns, k, gs, DType::kF32));
      const std::vector<float> a =
          Gaussian(kW4MaxRows * a_stride, 3, DType::kF32, 1.0f);
      for (size_t m = 1; m <= kW4MaxRows; ++m) {
        std::vector<float> want(m * kW4BlockColumns);
        w4_f32_gemm_scalar(m, 1, k, gs, a.data(), a_stride, packed.block(0),
                           want.data(), kW4BlockColumns);
        for (size_t chunk : {size_t{1}, size_t{2}, groups}) {
          AlignedBytes buf =
              AllocateAligned(chunk * gs * kW4BlockColumns * sizeof(float));
          float* unpacked = reinterpret_cast<float*>(buf.get());
          std::vector<float> got(m * kW4BlockColumns);
          for (size_t g0 = 0; g0 < groups; g0 += chunk) {
            const size_t count = std::min(chunk, groups - g0);
            pair.unpack(count, gs, packed.block(0) + g0 * W4SegmentBytes(gs),
                        unpacked);
            pair.tile(m, count * gs, a.data() + g0 * gs, a_stride, unpacked,
                      got.data(), kW4BlockColumns, /*accumulate=*/g0 > 0);
          }
          for (size_t i = 0; i < got.size(); ++i) {
            ASSERT_EQ(FloatBits(got[i]), FloatBits(want[i]))
                << pair.name << " gs=" << gs << " m=" << m << " chunk=" << chunk
                << " row " << i / kW4BlockColumns << " col "
                << i % kW4BlockColumns;
          }
        }
      }
    }
  }
}

// Each ISA path runs its own tiled pairs from its own thresholds, so the
// tests above that force an ISA exercise that ISA's tiles.
TEST(W4KernelSelectionTest, TiledPairsFollowTheForcedIsa) {
  const W4Kernels& scalar = W4KernelsFor(Isa::kScalar);
  EXPECT_EQ(scalar.f32_tile_gemm, nullptr);
  EXPECT_EQ(scalar.dq8_tile_gemm, nullptr);
  const W4Kernels& avx2 = W4KernelsFor(Isa::kAvx2);
  EXPECT_EQ(avx2.f32_unpack, &w4_f32_unpack_avx2);
  EXPECT_EQ(avx2.f32_tile_gemm, &f32_tile_gemm_avx2);
  EXPECT_EQ(avx2.f32_tiled_min_rows, kW4TiledMinRowsAvx2);
  EXPECT_EQ(avx2.dq8_unpack, &w4_dq8_unpack_avx2);
  EXPECT_EQ(avx2.dq8_tile_gemm, &w4_dq8_tile_gemm_avx2);
  EXPECT_EQ(avx2.dq8_tiled_min_rows, kW4Dq8TiledMinRowsAvx2);
  const W4Kernels& avx512 = W4KernelsFor(Isa::kAvx512);
  EXPECT_EQ(avx512.f32_tile_gemm, &f32_tile_gemm_avx512);
  EXPECT_EQ(avx512.f32_tiled_min_rows, kW4TiledMinRows);
  EXPECT_EQ(avx512.dq8_tile_gemm, &w4_dq8_tile_gemm_avx2);
  EXPECT_EQ(avx512.dq8_tiled_min_rows, kW4Dq8TiledMinRowsAvx2);
  const W4Kernels& vnni = W4KernelsFor(Isa::kAvx512Vnni);
  EXPECT_EQ(vnni.f32_tile_gemm, &f32_tile_gemm_avx512);
  // No int8 tile on VNNI: the direct kernel at every M.
  EXPECT_EQ(vnni.dq8_unpack, nullptr);
  EXPECT_EQ(vnni.dq8_tile_gemm, nullptr);
}

TEST(W4KernelSelectionTest, NamesFollowTheForcedIsa) {
  ExpectKernelNames(
      Int4Layer(16, 32, 32, DType::kF32, 1),
      {ExpectedKernels{Isa::kScalar, "w4_f32_gemm_scalar",
                       "w4_dq8_gemm_scalar"},
       ExpectedKernels{Isa::kAvx2, "w4_f32_gemm_avx2", "w4_dq8_gemm_avx2"},
       ExpectedKernels{Isa::kAvx512, "w4_f32_gemm_avx512", "w4_dq8_gemm_avx2"},
       ExpectedKernels{Isa::kAvx512Vnni, "w4_f32_gemm_avx512",
                       "w4_dq8_gemm_avx512vnni"}});
}

TEST(CpuFeaturesTest, NamesAndOrder) {
  for (Isa isa : {Isa::kScalar, Isa::kAvx2, Isa::kAvx512, Isa::kAvx512Vnni}) {
    EXPECT_EQ(ParseIsa(IsaName(isa)), isa);
  }
  EXPECT_TRUE(IsaSupported(Isa::kScalar));
  EXPECT_LE(static_cast<int>(ActiveIsa()), static_cast<int>(DetectedIsa()));
}

}  // namespace
}  // namespace qlinear
