#include "kernels/types.h"

#include <cmath>
#include <limits>

#include "gtest/gtest.h"

namespace qlinear {
namespace {

TEST(TypesTest, Bf16RoundsToNearestEven) {
  EXPECT_EQ(FloatToBf16(1.0f), 0x3F80u);
  // 1 + 2^-8 is halfway between bf16 1.0 and 1.0078125: ties to even (1.0).
  EXPECT_EQ(FloatToBf16(1.00390625f), 0x3F80u);
  // 1 + 3 * 2^-8 is halfway between 1.0078125 and 1.015625: to even (1.015625).
  EXPECT_EQ(FloatToBf16(1.01171875f), 0x3F82u);
  EXPECT_EQ(Bf16ToFloat(0x3DD3u), 0.10302734375f);
  EXPECT_TRUE(std::isnan(Bf16ToFloat(FloatToBf16(std::nanf("")))));
  EXPECT_EQ(Bf16ToFloat(FloatToBf16(INFINITY)), INFINITY);
}

TEST(TypesTest, Fp16RoundTripsEveryHalf) {
  for (uint32_t h = 0; h < 0x10000u; ++h) {
    const uint16_t bits = static_cast<uint16_t>(h);
    const float f = Fp16ToFloat(bits);
    if (std::isnan(f)) continue;
    EXPECT_EQ(FloatToFp16(f), bits) << std::hex << h;
  }
}

TEST(TypesTest, Fp16RoundsToNearestEvenAndSaturatesToInf) {
  EXPECT_EQ(FloatToFp16(1.0f), 0x3C00u);
  EXPECT_EQ(FloatToFp16(65504.0f), 0x7BFFu);
  EXPECT_EQ(FloatToFp16(65519.0f), 0x7BFFu);
  EXPECT_EQ(FloatToFp16(65520.0f), 0x7C00u);
  EXPECT_EQ(FloatToFp16(1.0f + 1.0f / 2048.0f), 0x3C00u);  // tie to even
  EXPECT_EQ(FloatToFp16(1.0f + 3.0f / 2048.0f), 0x3C02u);  // tie to even (up)
  EXPECT_EQ(FloatToFp16(5.9604644775390625e-08f),
            0x0001u);  // smallest subnormal
  EXPECT_EQ(FloatToFp16(2.98023223876953125e-08f),
            0x0000u);  // half of it: to even (0)
  EXPECT_EQ(FloatToFp16(-0.0f), 0x8000u);
  EXPECT_EQ(Fp16ToFloat(0x7C00u), INFINITY);
}

TEST(TypesTest, NamesRoundTrip) {
  for (DType t : {DType::kF32, DType::kBF16, DType::kF16}) {
    EXPECT_EQ(ParseDType(DTypeName(t)), t);
  }
  for (Activation a : {Activation::kNone, Activation::kRelu, Activation::kGelu,
                       Activation::kGeluTanh, Activation::kSilu}) {
    EXPECT_EQ(ParseActivation(ActivationName(a)), a);
  }
  EXPECT_EQ(ParseWeightFormat("int4_opaque"), WeightFormat::kInt4Opaque);
  EXPECT_EQ(ParseActQuant("int8_asym_per_token"), ActQuant::kInt8AsymPerToken);
  EXPECT_EQ(ParseMapping("symmetric_no_clipping_err"),
            Mapping::kSymmetricNoClippingErr);
  EXPECT_FALSE(ParseDType("float32").has_value());
}

TEST(TypesTest, ScaleFloors) {
  EXPECT_EQ(ScaleFloorValue(DType::kF32, ScaleFloor::kSmallestNormal),
            std::numeric_limits<float>::min());
  EXPECT_EQ(ScaleFloorValue(DType::kBF16, ScaleFloor::kFinfoEps), 0.0078125f);
  EXPECT_EQ(ScaleFloorValue(DType::kF16, ScaleFloor::kSmallestNormal),
            6.103515625e-05f);
}

}  // namespace
}  // namespace qlinear
