// The int4_opaque kernels of every ISA path this machine can run, through
// the Linear operator, against the reference: bit-exact in both modes, for
// every shape class, and independent of batch-mates and thread count.
#include <cmath>
#include <vector>

#include "gtest/gtest.h"
#include "kernels/cpu_features.h"
#include "kernels/linear.h"
#include "kernels/reference/quantize.h"
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

INSTANTIATE_TEST_SUITE_P(Isas, W4GemmTest, ::testing::ValuesIn(kAllIsas),
                         IsaTestName);

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
