// The int4_opaque kernels of every ISA path this machine can run, through
// the Linear operator, against the reference: bit-exact in both modes, for
// every shape class, and independent of batch-mates and thread count.
#include <cmath>
#include <random>
#include <string>
#include <vector>

#include "gtest/gtest.h"
#include "kernels/cpu_features.h"
#include "kernels/linear.h"
#include "kernels/reference/linear.h"
#include "kernels/reference/quantize.h"
#include "kernels/thread_pool.h"

namespace qlinear {
namespace {}  // namespace

void PrintTo(Isa isa, std::ostream* os) { *os << IsaName(isa); }

namespace {

struct Shape {
  size_t m, n, k, gs;
};

std::vector<float> Gaussian(size_t count, uint32_t seed, DType t, float scale) {
  std::mt19937 rng(seed);
  std::normal_distribution<float> dist(0.0f, scale);
  std::vector<float> v(count);
  for (float& x : v) x = RoundTo(t, dist(rng));
  return v;
}

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

// Runs `layer` on the kernels of `isa` and checks every output bit against
// the reference.
void ExpectMatchesReference(Isa isa, const LinearWeights& layer,
                            const std::vector<float>& x, size_t m,
                            ThreadPool* pool) {
  ScopedIsaOverrideForTest force(isa);
  auto linear = Linear::Create(layer);
  ASSERT_TRUE(linear.ok()) << linear.status();
  for (ActQuant mode : {ActQuant::kNone, ActQuant::kInt8AsymPerToken}) {
    std::vector<float> got(m * layer.n), want(m * layer.n);
    (*linear)->Run(x.data(), m, mode, /*apply_activation=*/true, got.data(),
                   pool);
    reference::Linear(layer, x.data(), m, mode, layer.activation, want.data());
    for (size_t i = 0; i < got.size(); ++i) {
      ASSERT_EQ(FloatBits(got[i]), FloatBits(want[i]))
          << (*linear)->kernel_name(mode) << " m=" << m << " n=" << layer.n
          << " k=" << layer.k << " row " << i / layer.n << " col "
          << i % layer.n << ": " << got[i] << " vs " << want[i];
    }
  }
}

class W4GemmTest : public ::testing::TestWithParam<Isa> {
 protected:
  void SetUp() override {
    if (!IsaSupported(GetParam()))
      GTEST_SKIP() << "CPU lacks " << IsaName(GetParam());
  }
  ThreadPool pool_{2};
};

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
  const std::vector<float> x = Gaussian(m * 512, 10, DType::kF32, 1.0f);
  ScopedIsaOverrideForTest force(GetParam());
  auto linear = Linear::Create(layer);
  ASSERT_TRUE(linear.ok());
  ThreadPool one(1), three(3);
  for (ActQuant mode : {ActQuant::kNone, ActQuant::kInt8AsymPerToken}) {
    std::vector<float> batch(m * 100);
    (*linear)->Run(x.data(), m, mode, true, batch.data(), &three);
    for (size_t r = 0; r < m; ++r) {
      std::vector<float> solo(100);
      (*linear)->Run(x.data() + r * 512, 1, mode, true, solo.data(), &one);
      for (size_t j = 0; j < 100; ++j) {
        ASSERT_EQ(FloatBits(solo[j]), FloatBits(batch[r * 100 + j]))
            << r << " " << j;
      }
    }
  }
}

INSTANTIATE_TEST_SUITE_P(Isas, W4GemmTest,
                         ::testing::Values(Isa::kScalar, Isa::kAvx2,
                                           Isa::kAvx512, Isa::kAvx512Vnni),
                         [](const ::testing::TestParamInfo<Isa>& info) {
                           return std::string(IsaName(info.param));
                         });

TEST(W4KernelSelectionTest, NamesFollowTheForcedIsa) {
  const LinearWeights layer = Int4Layer(16, 32, 32, DType::kF32, 1);
  struct Expect {
    Isa isa;
    const char* f32;
    const char* dq8;
  };
  for (const Expect& e :
       {Expect{Isa::kScalar, "w4_f32_gemm_scalar", "w4_dq8_gemm_scalar"},
        Expect{Isa::kAvx2, "w4_f32_gemm_avx2", "w4_dq8_gemm_avx2"},
        Expect{Isa::kAvx512, "w4_f32_gemm_avx512", "w4_dq8_gemm_avx2"},
        Expect{Isa::kAvx512Vnni, "w4_f32_gemm_avx512",
               "w4_dq8_gemm_avx512vnni"}}) {
    if (!IsaSupported(e.isa)) continue;
    ScopedIsaOverrideForTest force(e.isa);
    auto linear = Linear::Create(layer);
    ASSERT_TRUE(linear.ok());
    EXPECT_EQ((*linear)->kernel_name(ActQuant::kNone), e.f32);
    EXPECT_EQ((*linear)->kernel_name(ActQuant::kInt8AsymPerToken), e.dq8);
  }
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
