#include "kernels/linear.h"

#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "kernels/reference/linear.h"
#include "kernels/reference/quantize.h"
#include "tests/testing/status_matchers.h"

namespace qlinear {
namespace {

using ::qlinear::testing::IsOk;
using ::qlinear::testing::StatusIs;
using ::testing::HasSubstr;

LinearWeights ValidInt4Layer() {
  std::vector<float> w(8 * 64);
  for (size_t i = 0; i < w.size(); ++i)
    w[i] = static_cast<float>(i % 13) / 7.0f - 0.8f;
  LinearWeights layer;
  layer.format = WeightFormat::kInt4Opaque;
  layer.n = 8;
  layer.k = 64;
  layer.int4 = reference::QuantizeInt4Weights(w.data(), 8, 64, 32, DType::kF32);
  layer.bias.assign(8, 0.5f);
  layer.activation = Activation::kRelu;
  return layer;
}

TEST(LinearTest, RunMatchesReference) {
  const LinearWeights w = ValidInt4Layer();
  auto linear = Linear::Create(w);
  ASSERT_THAT(linear, IsOk());
  EXPECT_EQ((*linear)->n(), 8u);
  EXPECT_EQ((*linear)->k(), 64u);
  EXPECT_THAT(std::string((*linear)->kernel_name(ActQuant::kNone)),
              ::testing::StartsWith("w4_f32_gemm_"));
  EXPECT_THAT(std::string((*linear)->kernel_name(ActQuant::kInt8AsymPerToken)),
              ::testing::StartsWith("w4_dq8_gemm_"));
  std::vector<float> x(2 * 64);
  for (size_t i = 0; i < x.size(); ++i) x[i] = static_cast<float>(i % 5) - 2.0f;
  for (ActQuant mode : {ActQuant::kNone, ActQuant::kInt8AsymPerToken}) {
    std::vector<float> y(16), ref(16), raw(16);
    (*linear)->Run(x.data(), 2, mode, /*apply_activation=*/true, y.data());
    reference::Linear(w, x.data(), 2, mode, Activation::kRelu, ref.data());
    EXPECT_EQ(y, ref);
    (*linear)->Run(x.data(), 2, mode, /*apply_activation=*/false, raw.data());
    for (size_t i = 0; i < 16; ++i) EXPECT_EQ(y[i], raw[i] > 0 ? raw[i] : 0.0f);
  }
}

TEST(LinearTest, CreateRejectsInconsistentWeights) {
  {
    LinearWeights w = ValidInt4Layer();
    w.int4.group_size = 48;
    EXPECT_THAT(Linear::Create(w),
                StatusIs(absl::StatusCode::kInvalidArgument,
                         HasSubstr("group_size 48 is not one of")));
  }
  {
    LinearWeights w = ValidInt4Layer();
    w.int4.q[3] = 16;
    EXPECT_THAT(Linear::Create(w),
                StatusIs(absl::StatusCode::kInvalidArgument,
                         HasSubstr("int4 code 16 out of range")));
  }
  {
    LinearWeights w = ValidInt4Layer();
    w.bias.pop_back();
    EXPECT_THAT(Linear::Create(w), StatusIs(absl::StatusCode::kInvalidArgument,
                                            HasSubstr("bias has 7 values")));
  }
  {
    LinearWeights w = ValidInt4Layer();
    w.int4.scale[0] = std::numeric_limits<float>::infinity();
    EXPECT_THAT(Linear::Create(w), StatusIs(absl::StatusCode::kInvalidArgument,
                                            HasSubstr("non-finite")));
  }
  {
    LinearWeights w;
    w.format = WeightFormat::kIntxOpaque;
    w.n = 1;
    w.k = 32;
    w.intx.n = 1;
    w.intx.k = 32;
    w.intx.group_size = 32;
    w.intx.bits = 2;
    w.intx.q.assign(32, 2);  // 2 bits: -2..1
    w.intx.scale.assign(1, 1.0f);
    w.intx.zero_point.assign(1, 0);
    EXPECT_THAT(Linear::Create(w),
                StatusIs(absl::StatusCode::kInvalidArgument,
                         HasSubstr("intx code 2 out of range -2..1")));
  }
}

}  // namespace
}  // namespace qlinear
