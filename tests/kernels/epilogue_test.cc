// EpilogueRow against EpilogueValue, and the AVX-512 SiLU against the
// reference's std::exp, bit for bit (docs/numerics.md, "Per-output operation
// sequence").
#include "kernels/epilogue.h"

#include <gtest/gtest.h>

#include <cmath>
#include <cstdint>
#include <cstring>
#include <limits>
#include <random>
#include <vector>

#include "kernels/gemm/gemm.h"

namespace qlinear {
namespace {

uint32_t Bits(float f) {
  uint32_t u;
  std::memcpy(&u, &f, sizeof(u));
  return u;
}

float FromBits(uint32_t u) {
  float f;
  std::memcpy(&f, &u, sizeof(f));
  return f;
}

// Equal bits, or both NaN.
bool Same(float a, float b) {
  return Bits(a) == Bits(b) || (std::isnan(a) && std::isnan(b));
}

float ReferenceSilu(float x) { return ApplyActivation(Activation::kSilu, x); }

// Values around every edge the kernels treat apart: zeros, the range limits
// of expf, and its overflow and underflow.
std::vector<float> EdgeValues() {
  const float inf = std::numeric_limits<float>::infinity();
  std::vector<float> v = {0.0f,   -0.0f,   1.0f,     -1.0f,   87.0f,  -87.0f,
                          87.33f, -87.33f, 88.5f,    -88.5f,  88.72f, -88.72f,
                          89.0f,  -89.0f,  103.9f,   -103.9f, 200.0f, -200.0f,
                          inf,    -inf,    1e-40f,   -1e-40f, 1e-30f, -1e-30f,
                          3e38f,  -3e38f,  0x1p-126f};
  v.push_back(std::numeric_limits<float>::quiet_NaN());
  return v;
}

// Runs silu_row_avx512 over the floats whose bit patterns are first,
// first + stride, ... <= last (and their negations with `both_signs`), a
// chunk at a time, and counts the results that differ from the reference.
size_t SiluMismatches(uint64_t first, uint64_t last, uint64_t stride,
                      bool both_signs) {
  constexpr size_t kChunk = size_t{1} << 16;
  std::vector<float> x, y(kChunk);
  x.reserve(kChunk);
  size_t mismatches = 0;
  auto flush = [&] {
    silu_row_avx512(x.data(), x.size(), y.data());
    for (size_t i = 0; i < x.size(); ++i) {
      if (Same(y[i], ReferenceSilu(x[i]))) continue;
      if (++mismatches <= 5) {
        ADD_FAILURE() << "x=" << x[i] << " (0x" << std::hex << Bits(x[i])
                      << std::dec << "): " << y[i]
                      << " != " << ReferenceSilu(x[i]);
      }
    }
    x.clear();
  };
  for (uint64_t u = first; u <= last; u += stride) {
    x.push_back(FromBits(static_cast<uint32_t>(u)));
    if (both_signs) x.push_back(-x.back());
    if (x.size() + 2 > kChunk) flush();
  }
  flush();
  return mismatches;
}

TEST(SiluRowAvx512Test, MatchesTheReferenceOverASweepOfEveryExponent) {
  if (!IsaSupported(Isa::kAvx512)) GTEST_SKIP() << "no AVX-512";
  // Every 1021st bit pattern of the whole float range (4.2 million values,
  // both signs, every exponent, NaNs included), then the edges.
  EXPECT_EQ(SiluMismatches(0, 0xffffffffu, 1021, false), 0u);
  const std::vector<float> edges = EdgeValues();
  std::vector<float> y(edges.size());
  silu_row_avx512(edges.data(), edges.size(), y.data());
  for (size_t i = 0; i < edges.size(); ++i) {
    EXPECT_TRUE(Same(y[i], ReferenceSilu(edges[i]))) << edges[i];
  }
}

TEST(SiluRowAvx512Test, DenseWhereActivationsLive) {
  if (!IsaSupported(Isa::kAvx512)) GTEST_SKIP() << "no AVX-512";
  // [-16, 16] with a stride of 127 ulps in the bit pattern (17 million
  // values), and every float in [-1, -0.999] and [0.999, 1].
  EXPECT_EQ(SiluMismatches(0, Bits(16.0f), 127, true), 0u);
  EXPECT_EQ(SiluMismatches(Bits(0.999f), Bits(1.0f), 1, true), 0u);
}

TEST(SiluRowAvx512Test, DenseAroundTheRangesThatSkipTheCheck) {
  if (!IsaSupported(Isa::kAvx512)) GTEST_SKIP() << "no AVX-512";
  // Where exp(-x) vanishes in 1 + e (x > 18) and where it overflows
  // (x < -88.73, and past the clamp at -100): every 13th float of [15, 25]
  // and of +-[80, 120].
  EXPECT_EQ(SiluMismatches(Bits(15.0f), Bits(25.0f), 13, false), 0u);
  EXPECT_EQ(SiluMismatches(Bits(80.0f), Bits(120.0f), 13, true), 0u);
}

TEST(SiluRowAvx512Test, InPlaceAndEveryTailLength) {
  if (!IsaSupported(Isa::kAvx512)) GTEST_SKIP() << "no AVX-512";
  std::mt19937 rng(7);
  std::normal_distribution<float> normal(0.0f, 30.0f);
  for (size_t n = 0; n <= 40; ++n) {
    std::vector<float> x(n);
    for (float& v : x) v = normal(rng);
    // A recomputed lane in mid-vector.
    if (n > 3) x[n / 2] = std::numeric_limits<float>::quiet_NaN();
    std::vector<float> y = x;
    silu_row_avx512(y.data(), n, y.data());
    for (size_t i = 0; i < n; ++i) {
      EXPECT_TRUE(Same(y[i], ReferenceSilu(x[i]))) << "n=" << n << " i=" << i;
    }
  }
}

// Every ISA path this machine runs, every activation and dtype, with and
// without bias, every count up to a few vectors, against EpilogueValue.
TEST(EpilogueRowTest, EqualsEpilogueValueOnEveryPath) {
  std::mt19937 rng(11);
  std::normal_distribution<float> normal(0.0f, 4.0f);
  std::vector<float> acc(75), bias(90);
  for (float& v : acc) v = normal(rng);
  for (float& v : bias) v = normal(rng);
  const std::vector<float> edges = EdgeValues();
  for (size_t i = 0; i < edges.size(); ++i) acc[3 + 2 * i] = edges[i];
  for (Isa isa : {Isa::kScalar, Isa::kAvx2, Isa::kAvx512, Isa::kAvx512Vnni}) {
    if (!IsaSupported(isa)) continue;
    for (Activation a :
         {Activation::kNone, Activation::kRelu, Activation::kGelu,
          Activation::kGeluTanh, Activation::kSilu}) {
      for (DType t : {DType::kF32, DType::kBF16, DType::kF16}) {
        for (const float* b : {static_cast<const float*>(nullptr),
                               static_cast<const float*>(bias.data())}) {
          for (size_t count :
               {size_t{1}, size_t{7}, size_t{16}, size_t{33}, size_t{75}}) {
            const size_t n0 = 9;
            std::vector<float> y(count);
            EpilogueRow(acc.data(), b, n0, count, a, t, isa, y.data());
            for (size_t j = 0; j < count; ++j) {
              ASSERT_TRUE(Same(y[j], EpilogueValue(acc[j], b, n0 + j, a, t)))
                  << IsaName(isa) << " activation " << static_cast<int>(a)
                  << " dtype " << static_cast<int>(t) << " bias "
                  << (b != nullptr) << " count " << count << " j " << j;
            }
          }
        }
      }
    }
  }
}

// The whole float range, 2^32 values: too slow for every run (about 20 s).
// Run by hand: --gtest_also_run_disabled_tests --gtest_filter='*AllFloats*'.
TEST(SiluRowAvx512Test, DISABLED_AllFloats) {
  if (!IsaSupported(Isa::kAvx512)) GTEST_SKIP() << "no AVX-512";
  EXPECT_EQ(SiluMismatches(0, 0xffffffffu, 1, false), 0u);
}

}  // namespace
}  // namespace qlinear
