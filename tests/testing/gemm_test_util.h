// Helpers of the GEMM kernel tests (tests/kernels/*_gemm_test.cc): random
// inputs, a fixture parameterized over the ISA paths, and checks of a Linear
// against the reference, bit for bit. Header-only; gtest failures are
// reported in the calling test.
#ifndef QLINEAR_TESTS_TESTING_GEMM_TEST_UTIL_H_
#define QLINEAR_TESTS_TESTING_GEMM_TEST_UTIL_H_

#include <cstdint>
#include <initializer_list>
#include <ostream>
#include <random>
#include <string>
#include <vector>

#include "gtest/gtest.h"
#include "kernels/cpu_features.h"
#include "kernels/linear.h"
#include "kernels/reference/linear.h"
#include "kernels/thread_pool.h"

namespace qlinear {

// Test names and failure messages print an Isa by name (gtest finds this by
// argument-dependent lookup).
inline void PrintTo(Isa isa, std::ostream* os) { *os << IsaName(isa); }

namespace testing {

// `count` values of N(0, scale²) from a generator seeded with `seed`, each
// rounded to `t`. The same arguments give the same values.
inline std::vector<float> Gaussian(size_t count, uint32_t seed, DType t,
                                   float scale) {
  std::mt19937 rng(seed);
  std::normal_distribution<float> dist(0.0f, scale);
  std::vector<float> v(count);
  for (float& x : v) x = RoundTo(t, dist(rng));
  return v;
}

// "m=.. n=.. k=.." and the format's group size and bits, and the dtype: the
// case a failure message is about.
inline std::string DescribeLayer(const LinearWeights& layer, size_t m) {
  std::string s = "m=" + std::to_string(m) + " n=" + std::to_string(layer.n) +
                  " k=" + std::to_string(layer.k);
  if (layer.format == WeightFormat::kInt4Opaque) {
    s += " gs=" + std::to_string(layer.int4.group_size);
  } else if (layer.format == WeightFormat::kIntxOpaque) {
    s += " gs=" + std::to_string(layer.intx.group_size) +
         " bits=" + std::to_string(layer.intx.bits);
  }
  return s + " dtype=" + std::string(DTypeName(layer.dtype));
}

// Runs `layer` on the kernels of `isa` over the m x k input `x`, in both
// activation modes with the activation function, on `pool`, and checks every
// output bit against reference::Linear.
// REQUIRES: IsaSupported(isa); x.size() == m * layer.k.
inline void ExpectMatchesReference(Isa isa, const LinearWeights& layer,
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
          << (*linear)->kernel_name(mode) << " " << DescribeLayer(layer, m)
          << " row " << i / layer.n << " col " << i % layer.n << ": " << got[i]
          << " vs " << want[i];
    }
  }
}

// Runs `layer` on the kernels of `isa` over the m x k input `x`, in both
// modes: as one batch on 3 threads and on 1 thread, and row by row, and
// checks that every row's output bits are the same each way.
// REQUIRES: IsaSupported(isa); x.size() == m * layer.k.
inline void ExpectRowsIndependentOfBatchAndThreads(Isa isa,
                                                   const LinearWeights& layer,
                                                   const std::vector<float>& x,
                                                   size_t m) {
  ScopedIsaOverrideForTest force(isa);
  auto linear = Linear::Create(layer);
  ASSERT_TRUE(linear.ok()) << linear.status();
  const size_t n = layer.n, k = layer.k;
  ThreadPool one(1), three(3);
  for (ActQuant mode : {ActQuant::kNone, ActQuant::kInt8AsymPerToken}) {
    std::vector<float> batch(m * n), batch1(m * n);
    (*linear)->Run(x.data(), m, mode, true, batch.data(), &three);
    (*linear)->Run(x.data(), m, mode, true, batch1.data(), &one);
    for (size_t r = 0; r < m; ++r) {
      std::vector<float> solo(n);
      (*linear)->Run(x.data() + r * k, 1, mode, true, solo.data(), &one);
      for (size_t j = 0; j < n; ++j) {
        ASSERT_EQ(FloatBits(solo[j]), FloatBits(batch[r * n + j]))
            << DescribeLayer(layer, m) << " row " << r << " col " << j;
        ASSERT_EQ(FloatBits(solo[j]), FloatBits(batch1[r * n + j]))
            << DescribeLayer(layer, m) << " row " << r << " col " << j;
      }
    }
  }
}

// The kernels a Linear picks under a forced ISA, per activation mode.
struct ExpectedKernels {
  Isa isa;
  const char* f32;  // ActQuant::kNone
  const char* dq8;  // ActQuant::kInt8AsymPerToken
};

// For each entry whose ISA this CPU supports: forces the ISA, creates a
// Linear of `layer` and checks its kernel names.
inline void ExpectKernelNames(const LinearWeights& layer,
                              std::initializer_list<ExpectedKernels> expected) {
  for (const ExpectedKernels& e : expected) {
    if (!IsaSupported(e.isa)) continue;
    ScopedIsaOverrideForTest force(e.isa);
    auto linear = Linear::Create(layer);
    ASSERT_TRUE(linear.ok()) << linear.status();
    EXPECT_EQ((*linear)->kernel_name(ActQuant::kNone), e.f32);
    EXPECT_EQ((*linear)->kernel_name(ActQuant::kInt8AsymPerToken), e.dq8);
  }
}

// Every ISA path, lowest first: the parameters of IsaTest suites.
inline constexpr Isa kAllIsas[] = {Isa::kScalar, Isa::kAvx2, Isa::kAvx512,
                                   Isa::kAvx512Vnni};

// Names a test instance by its ISA ("scalar", "avx2", ...).
inline std::string IsaTestName(const ::testing::TestParamInfo<Isa>& info) {
  return std::string(IsaName(info.param));
}

// A fixture over the ISA paths; a test of an ISA this CPU lacks is skipped.
// Derive a suite from it, and instantiate with
//   INSTANTIATE_TEST_SUITE_P(Isas, MySuite, ::testing::ValuesIn(kAllIsas),
//                            IsaTestName);
class IsaTest : public ::testing::TestWithParam<Isa> {
 protected:
  void SetUp() override {
    if (!IsaSupported(GetParam()))
      GTEST_SKIP() << "CPU lacks " << IsaName(GetParam());
  }
  // A pool of 2 threads for the test's Linear::Run calls.
  ThreadPool pool_{2};
};

}  // namespace testing
}  // namespace qlinear

#endif  // QLINEAR_TESTS_TESTING_GEMM_TEST_UTIL_H_
