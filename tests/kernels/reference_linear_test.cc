// Randomized checks of the reference linear layers: the integer identity of
// docs/numerics.md ("Reference linear and the integer identity") against a
// float64 fake-quant evaluation, the weight-only path against float64, and
// the SQNR bars of "Accuracy bars".
#include <cmath>
#include <random>
#include <vector>

#include "gtest/gtest.h"
#include "kernels/activation.h"
#include "kernels/linear.h"
#include "kernels/reference/linear.h"
#include "kernels/reference/quantize.h"
#include "tests/testing/gemm_test_util.h"

namespace qlinear::reference {
namespace {

using ::qlinear::testing::Gaussian;

LinearWeights MakeLayer(WeightFormat format, DType t, size_t n, size_t k,
                        size_t gs, int bits, Mapping mapping, uint32_t seed,
                        bool bias = false) {
  const std::vector<float> w = Gaussian(n * k, seed, t, 0.05f);
  LinearWeights layer;
  layer.format = format;
  layer.dtype = t;
  layer.n = n;
  layer.k = k;
  if (format == WeightFormat::kInt4Opaque) {
    layer.int4 = QuantizeInt4Weights(w.data(), n, k, gs, t);
  } else if (format == WeightFormat::kIntxOpaque) {
    layer.intx = QuantizeIntxWeights(w.data(), n, k, gs, bits, mapping, t,
                                     ScaleFloor::kSmallestNormal);
  } else {
    layer.fp32 = w;
  }
  if (bias) layer.bias = Gaussian(n, seed + 1, t, 0.1f);
  return layer;
}

// F.linear(x_hat, w_hat) in float64, with x_hat the fake-quantized row
// (pre-epilogue).
std::vector<double> FakeQuantDouble(const LinearWeights& layer,
                                    const std::vector<float>& x, size_t m) {
  std::vector<float> w_hat(layer.n * layer.k);
  DequantizeWeights(layer, w_hat.data());
  std::vector<double> out(m * layer.n);
  std::vector<int8_t> qa(layer.k);
  for (size_t i = 0; i < m; ++i) {
    const RowQParams rq = QuantizeActivationRow(
        x.data() + i * layer.k, layer.k, layer.act_scale_floor, qa.data());
    for (size_t n = 0; n < layer.n; ++n) {
      double s = 0.0;
      for (size_t k = 0; k < layer.k; ++k) {
        const double x_hat =
            static_cast<double>(qa[k] - rq.zero_point) * rq.scale;
        s += x_hat * w_hat[n * layer.k + k];
      }
      out[i * layer.n + n] = s;
    }
  }
  return out;
}

double Sqnr(const std::vector<double>& ref, const std::vector<float>& out) {
  double num = 0.0, den = 0.0;
  for (size_t i = 0; i < ref.size(); ++i) {
    num += ref[i] * ref[i];
    den += (ref[i] - out[i]) * (ref[i] - out[i]);
  }
  return 10.0 * std::log10(num / den);
}

struct IdentityCase {
  WeightFormat format;
  int bits;
  Mapping mapping;
  size_t gs;
};

void PrintTo(const IdentityCase& c, std::ostream* os) {
  *os << WeightFormatName(c.format) << " bits " << c.bits << " "
      << MappingName(c.mapping) << " gs " << c.gs;
}

class IntegerIdentityTest : public ::testing::TestWithParam<IdentityCase> {};

TEST_P(IntegerIdentityTest, MatchesFloat64FakeQuant) {
  const IdentityCase c = GetParam();
  const size_t m = 5, n = 37, k = 256;
  for (uint32_t seed = 1; seed <= 4; ++seed) {
    const LinearWeights layer =
        MakeLayer(c.format, DType::kF32, n, k, c.gs == 0 ? k : c.gs, c.bits,
                  c.mapping, seed);
    const std::vector<float> x = Gaussian(m * k, 100 + seed, DType::kF32, 1.0f);
    std::vector<float> y(m * n);
    Linear(layer, x.data(), m, ActQuant::kInt8AsymPerToken, Activation::kNone,
           y.data());
    const std::vector<double> ref = FakeQuantDouble(layer, x, m);
    for (size_t i = 0; i < y.size(); ++i) {
      // Exact integer sums, then a few fp32 roundings per group.
      const double tol = 1e-5 * (1.0 + std::abs(ref[i])) + 1e-6;
      EXPECT_NEAR(y[i], ref[i], tol) << "seed " << seed << " index " << i;
    }
  }
}

INSTANTIATE_TEST_SUITE_P(
    Formats, IntegerIdentityTest,
    ::testing::Values(
        IdentityCase{WeightFormat::kInt4Opaque, 4, Mapping::kSymmetric, 32},
        IdentityCase{WeightFormat::kInt4Opaque, 4, Mapping::kSymmetric, 128},
        IdentityCase{WeightFormat::kIntxOpaque, 1, Mapping::kSymmetric, 32},
        IdentityCase{WeightFormat::kIntxOpaque, 2, Mapping::kAsymmetric, 64},
        IdentityCase{WeightFormat::kIntxOpaque, 4, Mapping::kSymmetric, 32},
        IdentityCase{WeightFormat::kIntxOpaque, 4,
                     Mapping::kSymmetricNoClippingErr, 16},
        IdentityCase{WeightFormat::kIntxOpaque, 8, Mapping::kAsymmetric, 0},
        IdentityCase{WeightFormat::kIntxOpaque, 6, Mapping::kSymmetric, 256}));

TEST(WeightOnlyTest, WithinFewUlpsOfFloat64) {
  for (WeightFormat f : {WeightFormat::kInt4Opaque, WeightFormat::kIntxOpaque,
                         WeightFormat::kFp32}) {
    for (DType t : {DType::kF32, DType::kBF16, DType::kF16}) {
      const size_t m = 3, n = 17, k = 512;
      const LinearWeights layer =
          MakeLayer(f, t, n, k, 64, 5, Mapping::kAsymmetric, 7);
      const std::vector<float> x = Gaussian(m * k, 8, t, 1.0f);
      std::vector<float> y(m * n);
      Linear(layer, x.data(), m, ActQuant::kNone, Activation::kNone, y.data());
      std::vector<double> ref(m * n);
      LinearDouble(layer, x.data(), m, ref.data());
      for (size_t i = 0; i < y.size(); ++i) {
        const double ulp =
            std::abs(RoundTo(t, static_cast<float>(ref[i]))) *
            (t == DType::kF32 ? 0x1p-23
                              : (t == DType::kBF16 ? 0x1p-7 : 0x1p-10));
        // fp32 accumulation error over K terms is bounded relative to Σ|x·w|.
        EXPECT_NEAR(y[i], ref[i], 4 * ulp + 1e-4)
            << static_cast<int>(f) << " " << i;
      }
    }
  }
}

TEST(SqnrTest, Int4AboveTwentyDbAgainstFloatLinear) {
  for (size_t gs : {32, 64, 128}) {
    // nn.Linear's init, as in the upstream test: U(-1/sqrt(K), 1/sqrt(K)).
    const size_t m = 8, n = 64, k = 512;
    std::mt19937 rng(11);
    std::uniform_real_distribution<float> uniform(-1.0f / std::sqrt(512.0f),
                                                  1.0f / std::sqrt(512.0f));
    std::vector<float> w(n * k);
    for (float& v : w) v = uniform(rng);
    LinearWeights layer;
    layer.format = WeightFormat::kInt4Opaque;
    layer.n = n;
    layer.k = k;
    layer.int4 = QuantizeInt4Weights(w.data(), n, k, gs, DType::kF32);
    const std::vector<float> x = Gaussian(m * k, 12, DType::kF32, 1.0f);
    std::vector<double> ref(m * n, 0.0);
    for (size_t i = 0; i < m; ++i) {
      for (size_t j = 0; j < n; ++j) {
        for (size_t kk = 0; kk < k; ++kk)
          ref[i * n + j] += double(x[i * k + kk]) * w[j * k + kk];
      }
    }
    for (ActQuant mode : {ActQuant::kNone, ActQuant::kInt8AsymPerToken}) {
      std::vector<float> y(m * n);
      Linear(layer, x.data(), m, mode, Activation::kNone, y.data());
      EXPECT_GT(Sqnr(ref, y), 20.0) << "gs " << gs;
    }
  }
}

TEST(SqnrTest, IntxInt8ModeAboveThirtyDbAgainstFakeQuant) {
  for (int bits = 2; bits <= 8; ++bits) {
    const LinearWeights layer =
        MakeLayer(WeightFormat::kIntxOpaque, DType::kF32, 48, 256, 32, bits,
                  Mapping::kSymmetric, 3);
    const std::vector<float> x = Gaussian(4 * 256, 4, DType::kF32, 1.0f);
    std::vector<float> y(4 * 48);
    Linear(layer, x.data(), 4, ActQuant::kInt8AsymPerToken, Activation::kNone,
           y.data());
    EXPECT_GT(Sqnr(FakeQuantDouble(layer, x, 4), y), 30.0) << bits;
  }
}

TEST(EpilogueTest, BiasThenActivationThenRounding) {
  LinearWeights layer = MakeLayer(WeightFormat::kFp32, DType::kBF16, 9, 32, 0,
                                  0, Mapping::kSymmetric, 5, /*bias=*/true);
  const std::vector<float> x = Gaussian(2 * 32, 6, DType::kBF16, 1.0f);
  std::vector<float> plain(2 * 9), activated(2 * 9);
  for (Activation a : {Activation::kRelu, Activation::kGelu,
                       Activation::kGeluTanh, Activation::kSilu}) {
    LinearWeights no_bias = layer;
    no_bias.bias.clear();
    std::vector<double> acc(2 * 9);
    LinearDouble(no_bias, x.data(), 2, acc.data());
    Linear(layer, x.data(), 2, ActQuant::kNone, a, activated.data());
    for (size_t i = 0; i < acc.size(); ++i) {
      const float pre = static_cast<float>(acc[i]) + layer.bias[i % 9];
      EXPECT_NEAR(activated[i], ApplyActivation(a, pre),
                  0.02 * std::abs(pre) + 1e-3);
      EXPECT_EQ(activated[i],
                RoundTo(DType::kBF16, activated[i]));  // output is bf16-exact
    }
  }
  EXPECT_EQ(ApplyActivation(Activation::kRelu, -1.5f), 0.0f);
  EXPECT_NEAR(ApplyActivation(Activation::kSilu, 1.0f), 0.7310586f, 1e-6f);
  EXPECT_NEAR(ApplyActivation(Activation::kGelu, 1.0f), 0.8413447f, 1e-6f);
  EXPECT_NEAR(ApplyActivation(Activation::kGeluTanh, 1.0f), 0.8411920f, 1e-6f);
}

TEST(BatchInvarianceTest, RowBitsDoNotDependOnBatchMates) {
  const LinearWeights layer =
      MakeLayer(WeightFormat::kInt4Opaque, DType::kF32, 33, 256, 64, 4,
                Mapping::kSymmetric, 9, true);
  const std::vector<float> x = Gaussian(7 * 256, 10, DType::kF32, 1.0f);
  for (ActQuant mode : {ActQuant::kNone, ActQuant::kInt8AsymPerToken}) {
    std::vector<float> batch(7 * 33);
    Linear(layer, x.data(), 7, mode, Activation::kNone, batch.data());
    for (size_t i = 0; i < 7; ++i) {
      std::vector<float> solo(33);
      Linear(layer, x.data() + i * 256, 1, mode, Activation::kNone,
             solo.data());
      for (size_t j = 0; j < 33; ++j)
        EXPECT_EQ(FloatBits(solo[j]), FloatBits(batch[i * 33 + j]));
    }
  }
}

}  // namespace
}  // namespace qlinear::reference
