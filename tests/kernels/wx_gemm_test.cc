// The intx_opaque kernels of every ISA path this machine can run, through
// the Linear operator, against the reference: bit-exact in both modes for
// every bit width, mapping, group size and shape class, independent of
// batch-mates and thread count, and above the SQNR bar of docs/numerics.md,
// "Accuracy bars". Also the
// packed layout itself (kernels/PACKING.md) read back code by code.
#include <cmath>
#include <cstring>
#include <random>
#include <vector>

#include "gtest/gtest.h"
#include "kernels/cpu_features.h"
#include "kernels/epilogue.h"
#include "kernels/linear.h"
#include "kernels/reference/linear.h"
#include "kernels/reference/quantize.h"
#include "kernels/wx_packing.h"
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
using reference::IntxQMax;
using reference::IntxQMin;

constexpr Mapping kMappings[] = {Mapping::kSymmetric, Mapping::kAsymmetric,
                                 Mapping::kSymmetricNoClippingErr};

struct Shape {
  size_t m, n, k, gs;
  int bits;
};

// 1-bit symmetric_no_clipping_err divides by qmax = 0; the manifest rejects
// it, so the kernels never see it.
bool Valid(int bits, Mapping mapping) {
  return !(bits == 1 && mapping == Mapping::kSymmetricNoClippingErr);
}

LinearWeights IntxLayer(size_t n, size_t k, size_t gs, int bits,
                        Mapping mapping, DType t, uint32_t seed,
                        Activation activation = Activation::kNone) {
  const std::vector<float> w = Gaussian(n * k, seed, t, 0.05f);
  LinearWeights layer;
  layer.format = WeightFormat::kIntxOpaque;
  layer.dtype = t;
  layer.n = n;
  layer.k = k;
  layer.intx = reference::QuantizeIntxWeights(w.data(), n, k, gs, bits, mapping,
                                              t, ScaleFloor::kSmallestNormal);
  layer.bias = Gaussian(n, seed + 1, t, 0.1f);
  layer.activation = activation;
  return layer;
}

class WxGemmTest : public IsaTest {};

TEST_P(WxGemmTest, EveryBitWidthAndMappingMatchesReferenceBitwise) {
  uint32_t seed = 1;
  for (int bits = 1; bits <= 8; ++bits) {
    for (Mapping mapping : kMappings) {
      if (!Valid(bits, mapping)) continue;
      // Groups of 16 and 32, and per channel (k = 48, three units).
      for (size_t gs : {16, 32, 48}) {
        const size_t k = gs == 48 ? 48 : 96;
        const LinearWeights layer =
            IntxLayer(17, k, gs, bits, mapping, DType::kF32, seed++);
        ExpectMatchesReference(GetParam(), layer,
                               Gaussian(3 * k, seed++, DType::kF32, 1.0f), 3,
                               &pool_);
      }
    }
  }
}

TEST_P(WxGemmTest, ShapeClassesMatchReferenceBitwise) {
  const std::vector<Shape> shapes = {
      // N tails and groups of every size class.
      {1, 16, 32, 16, 4},
      {2, 1, 64, 32, 2},
      {3, 15, 128, 64, 3},
      {4, 17, 256, 128, 8},
      {5, 63, 256, 256, 5},
      {7, 65, 512, 32, 6},
      {9, 1071, 256, 64, 4},
      {8, 1071, 128, 128, 8},
      {1, 1071, 1024, 128, 2},
      // Per channel, also with k not a multiple of 16 (a partial last unit).
      {6, 20, 100, 100, 7},
      {1, 33, 12, 12, 1},
      {3, 16, 4096, 4096, 4},
      {1, 17, 16384, 16384, 8},
      // Large M: the tiled weight-only path, across k chunks and a k tail.
      {33, 48, 128, 128, 4},
      {64, 33, 256, 32, 2},
      {20, 17, 3000, 3000, 5},
      {40, 31, 2048, 256, 8},
  };
  uint32_t seed = 1000;
  for (const Shape& s : shapes) {
    const LinearWeights layer =
        IntxLayer(s.n, s.k, s.gs, s.bits, Mapping::kAsymmetric, DType::kF32,
                  seed++, Activation::kGeluTanh);
    ExpectMatchesReference(GetParam(), layer,
                           Gaussian(s.m * s.k, seed++, DType::kF32, 1.0f), s.m,
                           &pool_);
  }
}

TEST_P(WxGemmTest, EveryRowCountOfATile) {
  const LinearWeights layer =
      IntxLayer(40, 160, 32, 3, Mapping::kSymmetric, DType::kF32, 77);
  for (size_t m : {1, 2, 3, 4, 5, 6, 7, 8, 15, 16, 17, 23}) {
    ExpectMatchesReference(GetParam(), layer,
                           Gaussian(m * 160, 78 + m, DType::kF32, 1.0f), m,
                           &pool_);
  }
}

TEST_P(WxGemmTest, Bf16AndFp16ModelsWithActivationFunctions) {
  uint32_t seed = 100;
  for (DType t : {DType::kBF16, DType::kF16, DType::kF32}) {
    for (Activation a :
         {Activation::kSilu, Activation::kGelu, Activation::kRelu}) {
      for (int bits : {2, 4, 8}) {
        const LinearWeights layer =
            IntxLayer(40, 256, bits == 8 ? 256 : 64, bits, Mapping::kAsymmetric,
                      t, seed++, a);
        ExpectMatchesReference(GetParam(), layer,
                               Gaussian(6 * 256, seed++, t, 1.0f), 6, &pool_);
        // And the tiled path.
        ExpectMatchesReference(GetParam(), layer,
                               Gaussian(18 * 256, seed++, t, 1.0f), 18, &pool_);
      }
    }
  }
}

// Codes and zero points over their whole range (|q - zp| up to 255 at 8
// bits), random scales, and awkward inputs: zero, constant and huge rows.
LinearWeights ExtremeLayer(size_t n, size_t k, size_t gs, int bits, DType t,
                           uint32_t seed) {
  std::mt19937 rng(seed);
  const int qmin = IntxQMin(bits), qmax = IntxQMax(bits);
  std::uniform_int_distribution<int> code(qmin, qmax);
  std::uniform_real_distribution<float> log_scale(-12.0f, 4.0f);
  LinearWeights layer;
  layer.format = WeightFormat::kIntxOpaque;
  layer.dtype = t;
  layer.n = n;
  layer.k = k;
  IntxPlainWeights& p = layer.intx;
  p.n = n;
  p.k = k;
  p.group_size = gs;
  p.bits = bits;
  const size_t groups = n * (k / gs);
  for (size_t i = 0; i < n * k; ++i) {
    // Mostly the end points of the range.
    const int r = code(rng);
    p.q.push_back(
        static_cast<int8_t>(r % 3 == 0 ? qmin : (r % 3 == 1 ? qmax : r)));
  }
  for (size_t g = 0; g < groups; ++g) {
    const int z = code(rng);
    p.zero_point.push_back(static_cast<int8_t>(
        g % 4 == 0 ? qmin : (g % 4 == 1 ? qmax : (g % 4 == 2 ? 0 : z))));
    p.scale.push_back(g % 7 == 0 ? 0.0f
                                 : RoundTo(t, std::exp2(log_scale(rng))));
  }
  layer.bias = Gaussian(n, seed + 1, t, 10.0f);
  return layer;
}

TEST_P(WxGemmTest, Extremes) {
  const size_t m = 6;
  uint32_t seed = 300;
  for (DType t : {DType::kF32, DType::kBF16, DType::kF16}) {
    for (int bits = 1; bits <= 8; ++bits) {
      for (size_t gs : {16, 64}) {
        const size_t k = 128;
        const LinearWeights layer = ExtremeLayer(20, k, gs, bits, t, seed++);
        std::vector<float> x = Gaussian(m * k, seed++, t, 100.0f);
        for (size_t j = 0; j < k; ++j) x[1 * k + j] = 0.0f;    // zero row
        for (size_t j = 0; j < k; ++j) x[2 * k + j] = 3.5f;    // constant row
        for (size_t j = 0; j < k; ++j) x[3 * k + j] = -0.25f;  // all negative
        for (size_t j = 0; j < k; ++j)
          x[4 * k + j] = RoundTo(t, (j % 2 ? 1.0f : -1.0f) * 6e4f);  // huge
        ExpectMatchesReference(GetParam(), layer, x, m, &pool_);
      }
    }
  }
}

TEST_P(WxGemmTest, RowsIndependentOfBatchAndThreads) {
  for (int bits : {1, 4, 8}) {
    const LinearWeights layer =
        IntxLayer(100, 512, 128, bits, Mapping::kAsymmetric, DType::kF32,
                  9 + bits, Activation::kSilu);
    const size_t m = 20;  // the tiled path for the weight-only mode
    ExpectRowsIndependentOfBatchAndThreads(
        GetParam(), layer, Gaussian(m * 512, 10, DType::kF32, 1.0f), m);
  }
}

double Sqnr(const std::vector<double>& ref, const std::vector<float>& out) {
  double signal = 0.0, noise = 0.0;
  for (size_t i = 0; i < ref.size(); ++i) {
    signal += ref[i] * ref[i];
    noise += (ref[i] - out[i]) * (ref[i] - out[i]);
  }
  return noise == 0.0 ? 1e9 : 10.0 * std::log10(signal / noise);
}

// docs/numerics.md, "Accuracy bars": SQNR > 30 dB against the fake-quant
// reference
// F.linear(x_hat, w_hat, bias), evaluated here in double precision, on a
// layer shaped like the second one of the torchao test (1071 outputs; K 1024
// here), every width and mapping, group 128 and per channel.
TEST_P(WxGemmTest, AccuracyBarAgainstFakeQuantReference) {
  const size_t n = 1071, k = 1024, m = 3;
  uint32_t seed = 500;
  for (DType t : {DType::kF32, DType::kBF16}) {
    const std::vector<float> w = Gaussian(n * k, seed++, t, 0.02f);
    const std::vector<float> x = Gaussian(m * k, seed++, t, 1.0f);
    for (int bits = 1; bits <= 8; ++bits) {
      for (Mapping mapping : kMappings) {
        if (!Valid(bits, mapping)) continue;
        for (size_t gs : {size_t{128}, k}) {
          LinearWeights layer;
          layer.format = WeightFormat::kIntxOpaque;
          layer.dtype = t;
          layer.n = n;
          layer.k = k;
          layer.intx =
              reference::QuantizeIntxWeights(w.data(), n, k, gs, bits, mapping,
                                             t, ScaleFloor::kSmallestNormal);
          layer.bias = Gaussian(n, seed++, t, 0.1f);
          std::vector<float> w_hat(n * k);
          reference::DequantizeWeights(layer, w_hat.data());
          ScopedIsaOverrideForTest force(GetParam());
          auto linear = Linear::Create(layer);
          ASSERT_TRUE(linear.ok());
          for (ActQuant mode : {ActQuant::kNone, ActQuant::kInt8AsymPerToken}) {
            // x_hat: x itself, or its per-token fake quantization.
            std::vector<double> x_hat(x.begin(), x.end());
            if (mode == ActQuant::kInt8AsymPerToken) {
              std::vector<int8_t> qa(k);
              for (size_t r = 0; r < m; ++r) {
                const reference::RowQParams rq =
                    reference::QuantizeActivationRow(
                        x.data() + r * k, k, ScaleFloor::kSmallestNormal,
                        qa.data());
                for (size_t j = 0; j < k; ++j) {
                  x_hat[r * k + j] =
                      static_cast<double>(qa[j] - rq.zero_point) *
                      static_cast<double>(rq.scale);
                }
              }
            }
            std::vector<double> ref(m * n);
            for (size_t r = 0; r < m; ++r) {
              for (size_t j = 0; j < n; ++j) {
                double s = layer.bias[j];
                for (size_t i = 0; i < k; ++i) {
                  s += x_hat[r * k + i] * static_cast<double>(w_hat[j * k + i]);
                }
                ref[r * n + j] = s;
              }
            }
            std::vector<float> out(m * n);
            (*linear)->Run(x.data(), m, mode, true, out.data(), &pool_);
            const double sqnr = Sqnr(ref, out);
            EXPECT_GT(sqnr, 30.0) << (*linear)->kernel_name(mode) << " bits "
                                  << bits << " mapping " << MappingName(mapping)
                                  << " gs " << gs << " dtype " << DTypeName(t);
          }
        }
      }
    }
  }
}

INSTANTIATE_TEST_SUITE_P(Isas, WxGemmTest, ::testing::ValuesIn(kAllIsas),
                         IsaTestName);

TEST(WxKernelSelectionTest, NamesFollowTheForcedIsa) {
  ExpectKernelNames(
      IntxLayer(16, 32, 32, 4, Mapping::kSymmetric, DType::kF32, 1),
      {ExpectedKernels{Isa::kScalar, "wx_f32_gemm_scalar",
                       "wx_dq8_gemm_scalar"},
       ExpectedKernels{Isa::kAvx2, "wx_f32_gemm_avx2", "wx_dq8_gemm_avx2"},
       ExpectedKernels{Isa::kAvx512, "wx_f32_gemm_avx512", "wx_dq8_gemm_avx2"},
       ExpectedKernels{Isa::kAvx512Vnni, "wx_f32_gemm_avx512",
                       "wx_dq8_gemm_avx512vnni"}});
}

// The packed layout of kernels/PACKING.md, read back with the scalar reader:
// codes, scales, zero points and code sums, padding included.
TEST(WxPackingTest, LayoutRoundTrips) {
  for (int bits = 1; bits <= 8; ++bits) {
    for (size_t gs : {size_t{16}, size_t{64}, size_t{40}}) {
      const size_t n = 19, k = gs == 40 ? 40 : 128;  // 40: per channel
      std::mt19937 rng(bits * 1000 + gs);
      std::uniform_int_distribution<int> code(IntxQMin(bits), IntxQMax(bits));
      IntxPlainWeights w;
      w.n = n;
      w.k = k;
      w.group_size = gs;
      w.bits = bits;
      for (size_t i = 0; i < n * k; ++i)
        w.q.push_back(static_cast<int8_t>(code(rng)));
      for (size_t i = 0; i < n * (k / gs); ++i) {
        w.zero_point.push_back(static_cast<int8_t>(code(rng)));
        w.scale.push_back(0.5f + i);
      }
      const PackedWx p = PackWx(w);
      const WxGeometry& geo = p.geometry;
      ASSERT_EQ(p.blocks, 2u);
      ASSERT_EQ(geo.group_units, (gs + 15) / 16);
      ASSERT_EQ(geo.segment_bytes,
                kWxHeaderBytes + geo.group_units * 32 * bits);
      ASSERT_EQ(p.bytes(), 2 * geo.groups * geo.segment_bytes);
      for (size_t col = 0; col < 32; ++col) {
        const size_t b = col / 16, j = col % 16;
        for (size_t g = 0; g < geo.groups; ++g) {
          const uint8_t* seg = p.block(b) + g * geo.segment_bytes;
          float scale;
          int32_t code_sum;
          std::memcpy(&scale, seg + 4 * j, 4);
          std::memcpy(&code_sum, seg + 64 + 4 * j, 4);
          const int zero = seg[128 + j];
          int32_t want_sum = 0;
          for (size_t kk = 0; kk < geo.group_units * 16; ++kk) {
            const int u = WxUnitCode(
                seg + kWxHeaderBytes + (kk / 16) * 32 * bits, bits, j, kk % 16);
            const bool real = col < n && kk < gs;
            const int want =
                real ? w.q[col * k + g * gs + kk] - IntxQMin(bits) : 0;
            ASSERT_EQ(u, want) << "bits " << bits << " gs " << gs << " col "
                               << col << " k " << g * gs + kk;
            want_sum += want;
          }
          EXPECT_EQ(code_sum, want_sum);
          if (col < n) {
            EXPECT_EQ(scale, w.scale[col * geo.groups + g]);
            EXPECT_EQ(zero,
                      w.zero_point[col * geo.groups + g] - IntxQMin(bits));
          } else {
            EXPECT_EQ(scale, 0.0f);
            EXPECT_EQ(zero, 0);
          }
        }
      }
    }
  }
}

// One layout byte pinned per piece width, so that a change to the documented
// order cannot pass unnoticed: column 1, k = 5 (quad 1, position 5).
TEST(WxPackingTest, DocumentedBitPositions) {
  IntxPlainWeights w;
  w.n = 16;
  w.k = 16;
  w.group_size = 16;
  w.bits = 7;
  w.q.assign(16 * 16, static_cast<int8_t>(IntxQMin(7)));      // u = 0
  w.q[1 * 16 + 5] = static_cast<int8_t>(IntxQMin(7) + 0x7f);  // u = 1111111b
  w.scale.assign(16, 1.0f);
  w.zero_point.assign(16, 0);
  const PackedWx p = PackWx(w);
  const uint8_t* unit = p.block(0) + kWxHeaderBytes;
  // 4-bit piece: vector 0 (quads 0, 1), byte 5, high nibble (quad 1).
  EXPECT_EQ(unit[5], 0xf0);
  // 2-bit piece (at byte 128): byte 5, bits 2..3 (quad 1).
  EXPECT_EQ(unit[128 + 5], 0x0c);
  // 1-bit piece (at byte 192): byte 5, bit 1 (quad 1, position < 32).
  EXPECT_EQ(unit[192 + 5], 0x02);
  int nonzero = 0;
  for (size_t i = 0; i < WxUnitBytes(7); ++i) nonzero += unit[i] != 0;
  EXPECT_EQ(nonzero, 3);
}

}  // namespace
}  // namespace qlinear
