// The large-M path of int4_opaque layers in the int8 mode (unpack a chunk of
// K once, then a register-blocked tile over every row: VNNI on AVX-512,
// vpmaddubsw on AVX2): bit for bit the direct kernel and the reference, for M
// across each ISA's threshold, N tails, every group size and several K
// chunks, whatever the chunking, tile or threads.
#include <algorithm>
#include <cstdint>
#include <random>
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

namespace qlinear {
namespace {

std::vector<float> Gaussian(size_t count, uint32_t seed, float scale) {
  std::mt19937 rng(seed);
  std::normal_distribution<float> dist(0.0f, scale);
  std::vector<float> v(count);
  for (float& x : v) x = dist(rng);
  return v;
}

LinearWeights Int4Layer(size_t n, size_t k, size_t gs, uint32_t seed) {
  const std::vector<float> w = Gaussian(n * k, seed, 0.05f);
  LinearWeights layer;
  layer.format = WeightFormat::kInt4Opaque;
  layer.dtype = DType::kF32;
  layer.n = n;
  layer.k = k;
  layer.int4 = reference::QuantizeInt4Weights(w.data(), n, k, gs, DType::kF32);
  layer.bias = Gaussian(n, seed + 1, 0.1f);
  layer.activation = Activation::kSilu;
  return layer;
}

std::string Describe(size_t m, size_t n, size_t k, size_t gs) {
  return "m=" + std::to_string(m) + " n=" + std::to_string(n) +
         " k=" + std::to_string(k) + " gs=" + std::to_string(gs);
}

// The microkernels themselves, every tiled pair of gemm_kernels.inc: the
// tile over unpacked chunks of 1, 2 or all groups equals the scalar direct
// kernel, for every row count up to 13 (each remainder of the 3- and 4-row
// tiles), 1..3 blocks and an odd activation stride. Every direct kernel
// equals it too. Offsets span 0..255 (0 and 255 included) and two rows hold
// extreme codes (all 0, all 255).
TEST(W4Dq8TiledKernelTest, TileEqualsDirectKernelForEveryChunking) {
  struct Pair {
    const char* name;
    Isa isa;
    W4Dq8UnpackFn unpack;
    W4Dq8TileGemmFn tile;
  };
  const Pair pairs[] = {
#define QL_W4_DQ8_TILED(unpack, gemm, min_isa, min_rows) \
  {#gemm, Isa::min_isa, unpack, gemm},
#include "kernels/gemm/gemm_kernels.inc"
#undef QL_W4_DQ8_TILED
  };
  struct Direct {
    const char* name;
    Isa isa;
    W4Dq8GemmFn gemm;
  };
  const Direct directs[] = {
#define QL_W4_DQ8_KERNEL(gemm, min_isa) {#gemm, Isa::min_isa, gemm},
#include "kernels/gemm/gemm_kernels.inc"
#undef QL_W4_DQ8_KERNEL
  };
  constexpr size_t kBlocks = kW4Dq8TileMaxBlocks;
  constexpr size_t kRows = 13;
  std::mt19937 rng(5);
  for (size_t gs : {32, 64, 128, 256}) {
    const size_t k = 3 * gs, groups = 3, a_stride = k + 5;
    const size_t n = kBlocks * kW4BlockColumns;
    const std::vector<float> w = Gaussian(n * k, 7 + gs, 0.05f);
    const PackedW4 packed =
        PackW4(reference::QuantizeInt4Weights(w.data(), n, k, gs, DType::kF32));
    // Random activation codes, offsets and scales, with the sums the
    // quantizer would give.
    std::vector<uint8_t> ua(kRows * a_stride);
    for (uint8_t& u : ua) u = static_cast<uint8_t>(rng());
    std::fill(ua.begin() + 3 * a_stride, ua.begin() + 4 * a_stride, 255);
    std::fill(ua.begin() + 4 * a_stride, ua.begin() + 5 * a_stride, 0);
    std::vector<int32_t> sums(kRows * groups, 0);
    std::vector<float> asum(kRows * groups);
    std::vector<Dq8Row> rows(kRows);
    for (size_t r = 0; r < kRows; ++r) {
      const int32_t c = r == 3   ? 0
                        : r == 4 ? 255
                                 : static_cast<int32_t>(rng() % 256);
      for (size_t g = 0; g < groups; ++g) {
        for (size_t i = 0; i < gs; ++i)
          sums[r * groups + g] += ua[r * a_stride + g * gs + i];
        asum[r * groups + g] = static_cast<float>(sums[r * groups + g] -
                                                  c * static_cast<int32_t>(gs));
      }
      rows[r] = {0.001f * static_cast<float>(1 + rng() % 1000), c,
                 sums.data() + r * groups, asum.data() + r * groups};
    }
    for (size_t m = 1; m <= kRows; ++m) {
      std::vector<float> want(m * n);
      for (size_t b = 0; b < kBlocks; ++b) {
        for (size_t r0 = 0; r0 < m; r0 += kW4MaxRows) {
          std::vector<float> c(kW4MaxRows * kW4BlockColumns);
          const size_t rows_here = std::min(kW4MaxRows, m - r0);
          w4_dq8_gemm_scalar(rows_here, k, gs, ua.data() + r0 * a_stride,
                             a_stride, rows.data() + r0, packed.block(b),
                             c.data(), kW4BlockColumns);
          for (size_t r = 0; r < rows_here; ++r) {
            for (size_t j = 0; j < kW4BlockColumns; ++j) {
              want[(r0 + r) * n + b * kW4BlockColumns + j] =
                  c[r * kW4BlockColumns + j];
            }
          }
        }
      }
      for (const Direct& direct : directs) {
        if (!IsaSupported(direct.isa)) continue;
        for (size_t b = 0; b < kBlocks; ++b) {
          for (size_t r0 = 0; r0 < m; r0 += kW4MaxRows) {
            std::vector<float> c(kW4MaxRows * kW4BlockColumns);
            const size_t rows_here = std::min(kW4MaxRows, m - r0);
            direct.gemm(rows_here, k, gs, ua.data() + r0 * a_stride, a_stride,
                        rows.data() + r0, packed.block(b), c.data(),
                        kW4BlockColumns);
            for (size_t r = 0; r < rows_here; ++r) {
              for (size_t j = 0; j < kW4BlockColumns; ++j) {
                ASSERT_EQ(
                    FloatBits(c[r * kW4BlockColumns + j]),
                    FloatBits(want[(r0 + r) * n + b * kW4BlockColumns + j]))
                    << direct.name << " gs=" << gs << " m=" << m << " row "
                    << r0 + r << " col " << b * kW4BlockColumns + j;
              }
            }
          }
        }
      }
      for (const Pair& pair : pairs) {
        if (!IsaSupported(pair.isa)) continue;
        for (size_t nb = 1; nb <= kBlocks; ++nb) {
          for (size_t chunk : {size_t{1}, size_t{2}, groups}) {
            const size_t block_bytes = chunk * W4Dq8UnpackedGroupBytes(gs);
            AlignedBytes buf = AllocateAligned(kBlocks * block_bytes);
            std::vector<float> got(m * nb * kW4BlockColumns);
            for (size_t g0 = 0; g0 < groups; g0 += chunk) {
              const size_t count = std::min(chunk, groups - g0);
              for (size_t b = 0; b < nb; ++b) {
                pair.unpack(count, gs,
                            packed.block(b) + g0 * W4SegmentBytes(gs),
                            buf.get() + b * block_bytes);
              }
              pair.tile(m, nb, count, gs, ua.data() + g0 * gs, a_stride,
                        rows.data(), asum.data() + g0, groups, buf.get(),
                        block_bytes, got.data(), nb * kW4BlockColumns, g0 > 0,
                        g0 + count == groups);
            }
            for (size_t r = 0; r < m; ++r) {
              for (size_t j = 0; j < nb * kW4BlockColumns; ++j) {
                ASSERT_EQ(FloatBits(got[r * nb * kW4BlockColumns + j]),
                          FloatBits(want[r * n + j]))
                    << pair.name << " gs=" << gs << " m=" << m << " nb=" << nb
                    << " chunk=" << chunk << " row " << r << " col " << j;
              }
            }
          }
        }
      }
    }
  }
}

class W4Dq8TiledTest : public ::testing::TestWithParam<Isa> {
 protected:
  void SetUp() override {
    if (!IsaSupported(GetParam()))
      GTEST_SKIP() << "CPU lacks " << IsaName(GetParam());
  }
};

// Linear in the int8 mode against the reference, bit for bit: M across the
// tiled threshold, N tails, every group size, K over several chunks
// (sized from the L1 data cache) including a short last one.
TEST_P(W4Dq8TiledTest, MatchesReferenceBitwise) {
  struct Shape {
    size_t m, n, k, gs;
  };
  const size_t t = W4KernelsFor(GetParam()).dq8_tiled_min_rows;
  const std::vector<Shape> shapes = {
      {t - 1, 65, 1536, 32},  {t, 17, 1536, 32},   {t + 1, 1, 1536, 64},
      {33, 15, 1536, 128},    {64, 63, 1536, 256}, {37, 1071, 1024, 32},
      {t, 65, 1280, 256},     {70, 17, 640, 128},  {t + 3, 1071, 256, 64},
      {2 * t, 48, 2560, 128}, {100, 65, 512, 32},  {t + 2, 33, 768, 256},
  };
  ThreadPool one(1), two(2);
  ScopedIsaOverrideForTest force(GetParam());
  for (const Shape& s : shapes) {
    const LinearWeights layer =
        Int4Layer(s.n, s.k, s.gs, static_cast<uint32_t>(s.n + s.k + s.gs));
    const std::vector<float> x =
        Gaussian(s.m * s.k, static_cast<uint32_t>(s.m), 1.0f);
    auto linear = Linear::Create(layer);
    ASSERT_TRUE(linear.ok()) << linear.status();
    std::vector<float> want(s.m * s.n);
    reference::Linear(layer, x.data(), s.m, ActQuant::kInt8AsymPerToken,
                      layer.activation, want.data());
    for (ThreadPool* pool : {&one, &two}) {
      std::vector<float> got(s.m * s.n);
      (*linear)->Run(x.data(), s.m, ActQuant::kInt8AsymPerToken,
                     /*apply_activation=*/true, got.data(), pool);
      for (size_t i = 0; i < got.size(); ++i) {
        ASSERT_EQ(FloatBits(got[i]), FloatBits(want[i]))
            << (*linear)->kernel_name(ActQuant::kInt8AsymPerToken) << " "
            << Describe(s.m, s.n, s.k, s.gs) << " threads "
            << pool->num_threads() << " row " << i / s.n << " col " << i % s.n;
      }
    }
  }
}

// The same rows through the tiled path (a large batch, 1 and 3 threads) and
// the untiled one (each row alone, and a batch below the threshold) give
// the same bits.
TEST_P(W4Dq8TiledTest, TiledAndUntiledRowsAreBitIdentical) {
  ThreadPool one(1), three(3);
  ScopedIsaOverrideForTest force(GetParam());
  const size_t threshold = W4KernelsFor(GetParam()).dq8_tiled_min_rows;
  for (size_t gs : {32, 64, 128, 256}) {
    const size_t n = 65, k = 2048, m = 2 * threshold + 5;
    const LinearWeights layer = Int4Layer(n, k, gs, static_cast<uint32_t>(gs));
    const std::vector<float> x = Gaussian(m * k, 3, 1.0f);
    auto linear = Linear::Create(layer);
    ASSERT_TRUE(linear.ok()) << linear.status();
    const ActQuant mode = ActQuant::kInt8AsymPerToken;
    std::vector<float> batch1(m * n), batch3(m * n);
    (*linear)->Run(x.data(), m, mode, true, batch1.data(), &one);
    (*linear)->Run(x.data(), m, mode, true, batch3.data(), &three);
    const size_t small = threshold - 1;
    std::vector<float> below(small * n);
    (*linear)->Run(x.data() + 5 * k, small, mode, true, below.data(), &three);
    for (size_t r = 0; r < m; ++r) {
      std::vector<float> solo(n);
      (*linear)->Run(x.data() + r * k, 1, mode, true, solo.data(), &one);
      for (size_t j = 0; j < n; ++j) {
        ASSERT_EQ(FloatBits(solo[j]), FloatBits(batch1[r * n + j]))
            << "gs=" << gs << " row " << r << " col " << j;
        ASSERT_EQ(FloatBits(solo[j]), FloatBits(batch3[r * n + j]))
            << "gs=" << gs << " row " << r << " col " << j;
        if (r >= 5 && r < 5 + small) {
          ASSERT_EQ(FloatBits(solo[j]), FloatBits(below[(r - 5) * n + j]))
              << "gs=" << gs << " row " << r << " col " << j;
        }
      }
    }
  }
}

INSTANTIATE_TEST_SUITE_P(Isas, W4Dq8TiledTest,
                         ::testing::Values(Isa::kScalar, Isa::kAvx2,
                                           Isa::kAvx512, Isa::kAvx512Vnni),
                         [](const ::testing::TestParamInfo<Isa>& info) {
                           return std::string(IsaName(info.param));
                         });

}  // namespace
}  // namespace qlinear
