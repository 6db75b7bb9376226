// Element conversions of the clients: fp16 and bf16 rounding to nearest
// even, and the deterministic random input.
#include "clients/common/tensor_util.h"

#include <cmath>
#include <string>

#include "gtest/gtest.h"

namespace qlinear::clients {
namespace {

TEST(TensorUtilTest, HalfRoundTripsAndRounding) {
  EXPECT_EQ(FloatToHalf(1.0f), 0x3c00);
  EXPECT_EQ(FloatToHalf(-2.0f), 0xc000);
  EXPECT_EQ(FloatToHalf(0.0f), 0x0000);
  EXPECT_EQ(FloatToHalf(65504.0f), 0x7bff);
  EXPECT_EQ(FloatToHalf(65520.0f), 0x7c00);               // rounds to infinity
  EXPECT_EQ(FloatToHalf(std::ldexp(1.0f, -24)), 0x0001);  // smallest subnormal
  EXPECT_EQ(FloatToHalf(std::ldexp(1.0f, -25)), 0x0000);  // tie to even (0)
  EXPECT_EQ(FloatToHalf(std::ldexp(3.0f, -25)), 0x0002);  // tie to even (2)
  // 1 + 2^-11 is halfway between 1 and 1 + 2^-10: ties to even (1).
  EXPECT_EQ(FloatToHalf(1.0f + std::ldexp(1.0f, -11)), 0x3c00);
  EXPECT_EQ(FloatToHalf(1.0f + 3 * std::ldexp(1.0f, -11)), 0x3c02);
  EXPECT_TRUE(std::isnan(HalfToFloat(FloatToHalf(NAN))));
  for (int h = 0; h < 0x7c00; ++h) {
    ASSERT_EQ(FloatToHalf(HalfToFloat(static_cast<uint16_t>(h))), h);
  }
}

TEST(TensorUtilTest, Bf16RoundsToNearestEven) {
  EXPECT_EQ(FloatToBf16(1.0f), 0x3f80);
  EXPECT_EQ(Bf16ToFloat(0x3f80), 1.0f);
  // 1 + 2^-8 is halfway between 1 and 1 + 2^-7: ties to even.
  EXPECT_EQ(FloatToBf16(1.0f + std::ldexp(1.0f, -8)), 0x3f80);
  EXPECT_EQ(FloatToBf16(1.0f + 3 * std::ldexp(1.0f, -8)), 0x3f82);
  EXPECT_TRUE(std::isnan(Bf16ToFloat(FloatToBf16(NAN))));
}

TEST(TensorUtilTest, RandomInputIsExactAndDeterministic) {
  std::string fp32, fp16, bf16, again;
  FillRandom(v1::DATA_TYPE_FP32, 1000, 7, &fp32);
  FillRandom(v1::DATA_TYPE_FP16, 1000, 7, &fp16);
  FillRandom(v1::DATA_TYPE_BF16, 1000, 7, &bf16);
  FillRandom(v1::DATA_TYPE_FP32, 1000, 7, &again);
  EXPECT_EQ(fp32, again);
  ASSERT_EQ(fp32.size(), 4000u);
  ASSERT_EQ(fp16.size(), 2000u);
  for (size_t i = 0; i < 1000; ++i) {
    const float x = LoadElement(v1::DATA_TYPE_FP32, fp32, i);
    ASSERT_LE(std::fabs(x), 1.0f);
    ASSERT_EQ(x * 256, std::round(x * 256));
    ASSERT_EQ(LoadElement(v1::DATA_TYPE_FP16, fp16, i), x);
    ASSERT_EQ(LoadElement(v1::DATA_TYPE_BF16, bf16, i), x);
  }
}

TEST(TensorUtilTest, NamesAndJson) {
  EXPECT_STREQ(StatusCodeName(grpc::StatusCode::RESOURCE_EXHAUSTED),
               "RESOURCE_EXHAUSTED");
  EXPECT_STREQ(StatusCodeName(99), "UNKNOWN");
  v1::DataType t;
  ASSERT_TRUE(ParseDataType("bf16", &t));
  EXPECT_EQ(t, v1::DATA_TYPE_BF16);
  EXPECT_EQ(DataTypeLabel(t), "BF16");
  EXPECT_FALSE(ParseDataType("int8", &t));
  EXPECT_EQ(JsonString("a\"b\\\n"), "\"a\\\"b\\\\\\u000a\"");
  EXPECT_EQ(JsonNumber(NAN), "null");
  EXPECT_EQ(JsonNumber(0.5), "0.5");
}

}  // namespace
}  // namespace qlinear::clients
