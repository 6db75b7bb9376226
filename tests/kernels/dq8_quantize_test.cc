// The per-row int8 activation quantizers of every ISA path against
// reference::QuantizeActivationRow: the same codes, scale and zero point bit
// for bit, and the group sums of those codes.
#include <cmath>
#include <random>
#include <string>
#include <vector>

#include "gtest/gtest.h"
#include "kernels/cpu_features.h"
#include "kernels/gemm/gemm.h"
#include "kernels/reference/quantize.h"

namespace qlinear {
namespace {

struct Quantizer {
  const char* name;
  Isa isa;
  Dq8QuantizeRowFn fn;
};

std::vector<Quantizer> Quantizers() {
  std::vector<Quantizer> out;
#define QL_DQ8_QUANTIZE_ROW(fn, min_isa) out.push_back({#fn, Isa::min_isa, fn});
#include "kernels/gemm/gemm_kernels.inc"
#undef QL_DQ8_QUANTIZE_ROW
  return out;
}

// Rows that exercise the range (all positive, all negative, zero, constant),
// exact ties of x / scale at .5, huge and tiny magnitudes.
std::vector<std::vector<float>> Rows(size_t k, uint32_t seed) {
  std::mt19937 rng(seed);
  std::normal_distribution<float> normal(0.0f, 1.0f);
  std::vector<std::vector<float>> rows(8, std::vector<float>(k));
  for (size_t i = 0; i < k; ++i) {
    rows[0][i] = normal(rng);
    rows[1][i] = std::fabs(normal(rng)) * 3.0f;   // min >= 0
    rows[2][i] = -std::fabs(normal(rng)) - 1.0f;  // max < 0
    rows[3][i] = 0.0f;
    rows[4][i] = 2.5f;
    // Range [-1.5, 1.5]: scale 3/255, x / scale = 85 x; 0.5 * 85 = 42.5.
    rows[5][i] = static_cast<float>(static_cast<int>(i % 7) - 3) * 0.5f;
    rows[6][i] = normal(rng) * 6e4f;
    rows[7][i] = normal(rng) * 1e-30f;  // below the scale floor
  }
  rows[3][k / 2] = -0.0f;
  return rows;
}

TEST(Dq8QuantizeRowTest, EveryIsaEqualsTheReference) {
  for (const Quantizer& qz : Quantizers()) {
    if (!IsaSupported(qz.isa)) continue;
    for (ScaleFloor floor :
         {ScaleFloor::kSmallestNormal, ScaleFloor::kFinfoEps}) {
      const float eps = ScaleFloorValue(DType::kF32, floor);
      // Groups of 16..256, and per channel with k not a multiple of 8 or 16.
      for (const auto& [k, group] : {std::pair<size_t, size_t>{16, 16},
                                     {64, 32},
                                     {256, 256},
                                     {1024, 128},
                                     {4096, 4096},
                                     {12, 12},
                                     {100, 100},
                                     {1, 1},
                                     {4103, 4103}}) {
        uint32_t seed = static_cast<uint32_t>(k * 31 + group);
        for (const std::vector<float>& x : Rows(k, seed)) {
          std::vector<int8_t> want(k), got(k, 99);
          std::vector<int32_t> sums(k / group, -1);
          const reference::RowQParams ref =
              reference::QuantizeActivationRow(x.data(), k, floor, want.data());
          const Dq8RowQuant rq =
              qz.fn(x.data(), k, group, eps, got.data(), sums.data());
          ASSERT_EQ(FloatBits(rq.scale), FloatBits(ref.scale))
              << qz.name << " k " << k;
          ASSERT_EQ(rq.zero_point, ref.zero_point) << qz.name << " k " << k;
          for (size_t i = 0; i < k; ++i) {
            ASSERT_EQ(got[i], want[i])
                << qz.name << " k " << k << " i " << i << " x " << x[i];
          }
          for (size_t g = 0; g < k / group; ++g) {
            int32_t sum = 0;
            for (size_t i = g * group; i < (g + 1) * group; ++i) sum += want[i];
            ASSERT_EQ(sums[g], sum) << qz.name << " k " << k << " group " << g;
          }
        }
      }
    }
  }
}

TEST(Dq8QuantizeRowTest, ListCoversEveryIsaPath) {
  std::vector<std::string> names;
  for (const Quantizer& q : Quantizers()) names.push_back(q.name);
  EXPECT_EQ(names, (std::vector<std::string>{"dq8_quantize_row_scalar",
                                             "dq8_quantize_row_avx2",
                                             "dq8_quantize_row_avx512"}));
}

}  // namespace
}  // namespace qlinear
