// Pins the worked examples of docs/numerics.md, "Pinned examples", exactly.
#include "kernels/reference/quantize.h"

#include <cstdint>
#include <random>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "kernels/reference/linear.h"
#include "kernels/types.h"

namespace qlinear::reference {
namespace {

using ::testing::ElementsAreArray;

// w_i = fp32(((7i mod 32) - 13) / 20), i = 0..31.
std::vector<float> ExampleWeights() {
  std::vector<float> w(32);
  for (int i = 0; i < 32; ++i)
    w[i] = static_cast<float>((7 * i % 32) - 13) / 20.0f;
  return w;
}

// a_i = fp32(((11i mod 17) - 8) / 4), i = 0..31.
std::vector<float> ExampleActivations() {
  std::vector<float> a(32);
  for (int i = 0; i < 32; ++i)
    a[i] = static_cast<float>((11 * i % 17) - 8) / 4.0f;
  return a;
}

std::vector<float> RoundAll(DType t, std::vector<float> v) {
  for (float& x : v) x = RoundTo(t, x);
  return v;
}

std::vector<int> Int4Codes(const std::vector<float>& w, Int4GroupQParams qp,
                           DType t) {
  std::vector<int> q;
  for (float x : w) q.push_back(QuantizeInt4(x, qp, t));
  return q;
}

std::vector<int> IntxCodes(const std::vector<float>& w, IntxGroupQParams qp,
                           int bits, DType t) {
  std::vector<int> q;
  for (float x : w) q.push_back(QuantizeIntx(x, qp, bits, t));
  return q;
}

// One-output linear layer over the 32 example weights.
LinearWeights OneGroupInt4Layer(DType t) {
  const std::vector<float> w = RoundAll(t, ExampleWeights());
  LinearWeights layer;
  layer.format = WeightFormat::kInt4Opaque;
  layer.dtype = t;
  layer.n = 1;
  layer.k = 32;
  layer.int4 = QuantizeInt4Weights(w.data(), 1, 32, 32, t);
  return layer;
}

TEST(Int4TinygemmTest, F1Fp32) {
  const std::vector<float> w = ExampleWeights();
  const Int4GroupQParams qp =
      ChooseInt4QParams(w.data(), w.size(), DType::kF32);
  EXPECT_EQ(FloatBits(qp.scale), 0x3DD3A06Du);
  EXPECT_EQ(qp.scale, 0.10333333164453506f);
  EXPECT_EQ(FloatBits(qp.zero), 0x3E34E81Cu);
  EXPECT_EQ(qp.zero, 0.17666667699813843f);
  const std::vector<int> expected = {0,  3,  7,  10, 14, 1,  5,  8,  12, 15, 3,
                                     6,  10, 13, 1,  4,  8,  11, 15, 2,  6,  9,
                                     13, 0,  4,  7,  11, 14, 2,  5,  9,  12};
  EXPECT_THAT(Int4Codes(w, qp, DType::kF32), ElementsAreArray(expected));
  EXPECT_NEAR(DequantizeInt4(0, qp.scale, qp.zero), -0.65f, 1e-6f);
  EXPECT_NEAR(DequantizeInt4(15, qp.scale, qp.zero), 0.9f, 1e-6f);
  EXPECT_NEAR(DequantizeInt4(3, qp.scale, qp.zero), -0.34f, 1e-6f);
  EXPECT_NEAR(DequantizeInt4(7, qp.scale, qp.zero), 0.0733333f, 1e-6f);
  float max_err = 0.0f;
  for (size_t i = 0; i < w.size(); ++i) {
    const float err =
        std::abs(DequantizeInt4(expected[i], qp.scale, qp.zero) - w[i]);
    max_err = std::max(max_err, err);
  }
  EXPECT_LE(max_err, 0.05f + 1e-6f);

  // The dot product with the example activations: the FMA variant of F1.
  const LinearWeights layer = OneGroupInt4Layer(DType::kF32);
  const std::vector<float> a = ExampleActivations();
  float y = 0.0f;
  Linear(layer, a.data(), 1, ActQuant::kNone, Activation::kNone, &y);
  EXPECT_EQ(y, 2.365833282470703f);
}

TEST(Int4TinygemmTest, F2Bf16) {
  const std::vector<float> w = RoundAll(DType::kBF16, ExampleWeights());
  EXPECT_EQ(w[0], -0.6484375f);
  EXPECT_EQ(w[1], -0.30078125f);
  EXPECT_EQ(w[2], 0.050048828125f);
  const Int4GroupQParams qp =
      ChooseInt4QParams(w.data(), w.size(), DType::kBF16);
  EXPECT_EQ(qp.scale, 0.10302734375f);
  EXPECT_EQ(FloatToBf16(qp.scale), 0x3DD3u);
  EXPECT_EQ(qp.zero, 0.17578125f);
  EXPECT_EQ(FloatToBf16(qp.zero), 0x3E34u);
  const std::vector<int> expected = {0,  3,  7,  10, 14, 1,  5,  8,  12, 15, 3,
                                     6,  10, 13, 1,  4,  8,  11, 15, 2,  6,  9,
                                     13, 0,  4,  7,  11, 14, 2,  5,  9,  12};
  EXPECT_THAT(Int4Codes(w, qp, DType::kBF16), ElementsAreArray(expected));

  // bf16 activations, fp32 accumulation, bf16 output.
  const LinearWeights layer = OneGroupInt4Layer(DType::kBF16);
  const std::vector<float> a = RoundAll(DType::kBF16, ExampleActivations());
  double acc = 0.0;
  LinearDouble(layer, a.data(), 1, &acc);
  EXPECT_EQ(static_cast<float>(acc), 2.3590087890625f);
  float y = 0.0f;
  Linear(layer, a.data(), 1, ActQuant::kNone, Activation::kNone, &y);
  EXPECT_EQ(y, 2.359375f);
}

TEST(Int4TinygemmTest, ConstantGroupUsesScaleFloor) {
  const std::vector<float> w(32, 0.25f);
  const Int4GroupQParams qp =
      ChooseInt4QParams(w.data(), w.size(), DType::kF32);
  EXPECT_EQ(qp.scale, 1e-6f);
  for (float x : w) {
    const int q = QuantizeInt4(x, qp, DType::kF32);
    EXPECT_NEAR(DequantizeInt4(q, qp.scale, qp.zero), 0.25f, 1e-5f);
  }
}

// The whole-matrix quantizer (which hoists the base out of the group loop)
// gives the per-element definition's codes.
TEST(Int4TinygemmTest, WholeMatrixQuantizerEqualsPerElementDefinition) {
  std::mt19937 rng(5);
  std::normal_distribution<float> dist(0.0f, 1.0f);
  for (DType t : {DType::kF32, DType::kBF16, DType::kF16}) {
    std::vector<float> w(8 * 128);
    for (size_t i = 0; i < w.size(); ++i) {
      // Gaussian, a few large values, a tiny group (the scale floor), a
      // constant group.
      w[i] = RoundTo(t, i < 32        ? dist(rng) * 1e-30f
                        : i < 64      ? 0.75f
                        : i % 61 == 0 ? 300.0f
                                      : dist(rng));
    }
    for (size_t gs : {size_t{32}, size_t{64}, size_t{128}}) {
      const Int4PlainWeights q = QuantizeInt4Weights(w.data(), 8, 128, gs, t);
      for (size_t r = 0; r < 8; ++r) {
        for (size_t g = 0; g < 128 / gs; ++g) {
          const float* group = w.data() + r * 128 + g * gs;
          const Int4GroupQParams qp = ChooseInt4QParams(group, gs, t);
          ASSERT_EQ(q.scale[r * (128 / gs) + g], qp.scale);
          ASSERT_EQ(q.zero[r * (128 / gs) + g], qp.zero);
          for (size_t i = 0; i < gs; ++i) {
            ASSERT_EQ(q.q[r * 128 + g * gs + i], QuantizeInt4(group[i], qp, t))
                << "gs " << gs << " row " << r << " i " << i;
          }
        }
      }
    }
  }
}

TEST(IntxTest, F4SymmetricInt4) {
  const std::vector<float> w = ExampleWeights();
  const IntxGroupQParams qp =
      ChooseIntxQParams(w.data(), w.size(), 4, Mapping::kSymmetric, DType::kF32,
                        ScaleFloor::kSmallestNormal);
  EXPECT_EQ(FloatBits(qp.scale), 0x3DF5C28Fu);
  EXPECT_EQ(qp.scale, 0.11999999731779099f);
  EXPECT_EQ(qp.zero_point, 0);
  EXPECT_THAT(IntxCodes(w, qp, 4, DType::kF32),
              ElementsAreArray({-5, -3, 0,  3,  6,  -4, -1, 2,  5,  7, -3,
                                0,  3,  6,  -5, -2, 1,  4,  7,  -3, 0, 3,
                                5,  -5, -2, 1,  4,  7,  -4, -1, 2,  5}));
}

TEST(IntxTest, F4AsymmetricInt4) {
  const std::vector<float> w = ExampleWeights();
  const IntxGroupQParams qp =
      ChooseIntxQParams(w.data(), w.size(), 4, Mapping::kAsymmetric,
                        DType::kF32, ScaleFloor::kSmallestNormal);
  EXPECT_EQ(qp.scale, 0.10333333164453506f);
  EXPECT_EQ(qp.zero_point, -2);
  EXPECT_THAT(IntxCodes(w, qp, 4, DType::kF32),
              ElementsAreArray({-8, -5, -2, 2,  5,  -7, -3, 0,  3,  7,  -5,
                                -2, 1,  5,  -7, -4, -1, 3,  6,  -6, -2, 1,
                                4,  -8, -4, -1, 2,  6,  -6, -3, 0,  4}));
}

TEST(IntxTest, F4SymmetricNoClippingErrInt4) {
  const std::vector<float> w = ExampleWeights();
  const IntxGroupQParams qp =
      ChooseIntxQParams(w.data(), w.size(), 4, Mapping::kSymmetricNoClippingErr,
                        DType::kF32, ScaleFloor::kSmallestNormal);
  EXPECT_EQ(FloatBits(qp.scale), 0x3E03A83Au);
  EXPECT_EQ(qp.scale, 0.12857142090797424f);
  EXPECT_EQ(qp.zero_point, 0);
  EXPECT_THAT(IntxCodes(w, qp, 4, DType::kF32),
              ElementsAreArray({-5, -2, 0,  3,  6,  -4, -1, 2,  4,  7, -3,
                                0,  3,  5,  -4, -2, 1,  4,  7,  -3, 0, 2,
                                5,  -5, -2, 1,  4,  6,  -4, -1, 2,  5}));
}

const std::vector<float> kF5Group = {0.030029296875f, -0.010986328125f,
                                     0.00518798828125f, -0.021484375f};

TEST(IntxTest, F5Bf16SmallestNormalFloor) {
  const IntxGroupQParams qp = ChooseIntxQParams(
      kF5Group.data(), kF5Group.size(), 4, Mapping::kSymmetric, DType::kBF16,
      ScaleFloor::kSmallestNormal);
  EXPECT_EQ(qp.scale, 0.003997802734375f);
  const std::vector<int> q = IntxCodes(kF5Group, qp, 4, DType::kBF16);
  EXPECT_THAT(q, ElementsAreArray({7, -3, 1, -5}));
  const std::vector<float> expected = {0.0279541015625f, -0.011962890625f,
                                       0.003997802734375f, -0.02001953125f};
  for (size_t i = 0; i < q.size(); ++i) {
    EXPECT_EQ(DequantizeIntx(q[i], 0, qp.scale, DType::kBF16), expected[i])
        << i;
  }
}

TEST(IntxTest, F5Bf16FinfoEpsFloor) {
  const IntxGroupQParams qp = ChooseIntxQParams(
      kF5Group.data(), kF5Group.size(), 4, Mapping::kSymmetric, DType::kBF16,
      ScaleFloor::kFinfoEps);
  EXPECT_EQ(qp.scale, 0.0078125f);
  const std::vector<int> q = IntxCodes(kF5Group, qp, 4, DType::kBF16);
  EXPECT_THAT(q, ElementsAreArray({4, -1, 1, -3}));
  const std::vector<float> expected = {0.03125f, -0.0078125f, 0.0078125f,
                                       -0.0234375f};
  for (size_t i = 0; i < q.size(); ++i) {
    EXPECT_EQ(DequantizeIntx(q[i], 0, qp.scale, DType::kBF16), expected[i])
        << i;
  }
}

TEST(IntxTest, CodesStayInRangeForEveryBitWidthAndMapping) {
  const std::vector<float> w = ExampleWeights();
  for (int bits = 1; bits <= 8; ++bits) {
    for (Mapping m : {Mapping::kSymmetric, Mapping::kAsymmetric,
                      Mapping::kSymmetricNoClippingErr}) {
      if (bits == 1 && m == Mapping::kSymmetricNoClippingErr)
        continue;  // qmax = 0
      const IntxGroupQParams qp =
          ChooseIntxQParams(w.data(), w.size(), bits, m, DType::kF32,
                            ScaleFloor::kSmallestNormal);
      EXPECT_GT(qp.scale, 0.0f);
      EXPECT_GE(qp.zero_point, IntxQMin(bits));
      EXPECT_LE(qp.zero_point, IntxQMax(bits));
      for (int q : IntxCodes(w, qp, bits, DType::kF32)) {
        EXPECT_GE(q, IntxQMin(bits));
        EXPECT_LE(q, IntxQMax(bits));
      }
    }
  }
}

struct F6Case {
  std::vector<float> row;
  uint32_t scale_bits;
  int zero_point;
  std::vector<int8_t> codes;
};

// The whole-matrix quantizer (which hoists the inverse scale out of the
// group loop) gives the per-element definition's codes.
TEST(IntxTest, WholeMatrixQuantizerEqualsPerElementDefinition) {
  std::mt19937 rng(3);
  std::normal_distribution<float> dist(0.0f, 1.0f);
  for (DType t : {DType::kF32, DType::kBF16, DType::kF16}) {
    std::vector<float> w(8 * 64);
    for (size_t i = 0; i < w.size(); ++i) {
      // Gaussian, a few large values, a tiny group (the scale floor).
      w[i] = RoundTo(
          t, i < 64 ? dist(rng) * 1e-30f : (i % 61 == 0 ? 300.0f : dist(rng)));
    }
    for (int bits = 1; bits <= 8; ++bits) {
      for (Mapping mapping : {Mapping::kSymmetric, Mapping::kAsymmetric,
                              Mapping::kSymmetricNoClippingErr}) {
        if (bits == 1 && mapping == Mapping::kSymmetricNoClippingErr) continue;
        for (size_t gs : {size_t{16}, size_t{64}}) {
          const IntxPlainWeights q = QuantizeIntxWeights(
              w.data(), 8, 64, gs, bits, mapping, t, ScaleFloor::kFinfoEps);
          for (size_t r = 0; r < 8; ++r) {
            for (size_t g = 0; g < 64 / gs; ++g) {
              const float* group = w.data() + r * 64 + g * gs;
              const IntxGroupQParams qp = ChooseIntxQParams(
                  group, gs, bits, mapping, t, ScaleFloor::kFinfoEps);
              for (size_t i = 0; i < gs; ++i) {
                ASSERT_EQ(q.q[r * 64 + g * gs + i],
                          QuantizeIntx(group[i], qp, bits, t))
                    << "bits " << bits << " gs " << gs << " row " << r;
              }
            }
          }
        }
      }
    }
  }
}

TEST(ActivationQuantTest, F6Rows) {
  const std::vector<F6Case> cases = {
      {{0.5f, -1.25f, 3.0f, 0.0f, 2.2f, -0.7f, 1.1f, -2.9f},
       0x3CBD8A57u,
       -3,
       {19, -57, 127, -3, 92, -33, 45, -128}},
      {{0.2f, 0.4f, 0.6f, 0.8f},
       FloatBits(0.0031372548546642065f),
       -128,
       {-64, 0, 63, 127}},
      {{0.0f, 0.0f, 0.0f},
       FloatBits(1.1754943508222875e-38f),
       -128,
       {-128, -128, -128}},
  };
  for (const F6Case& c : cases) {
    std::vector<int8_t> q(c.row.size());
    const RowQParams rq = QuantizeActivationRow(
        c.row.data(), c.row.size(), ScaleFloor::kSmallestNormal, q.data());
    EXPECT_EQ(FloatBits(rq.scale), c.scale_bits);
    EXPECT_EQ(rq.zero_point, c.zero_point);
    EXPECT_THAT(q, ElementsAreArray(c.codes));
  }
  EXPECT_EQ(0x3CBD8A57u, FloatBits(0.023137254640460014f));
}

TEST(ActivationQuantTest, F6ZeroRowWithOldFloor) {
  std::vector<float> row(5, 0.0f);
  std::vector<int8_t> q(row.size());
  const RowQParams rq = QuantizeActivationRow(row.data(), row.size(),
                                              ScaleFloor::kFinfoEps, q.data());
  EXPECT_EQ(rq.scale, 1.1920928955078125e-07f);
  EXPECT_EQ(rq.zero_point, -128);
  for (int8_t v : q) EXPECT_EQ(v, -128);
}

TEST(ActivationQuantTest, F6TieSensitivity) {
  const std::vector<float> a = ExampleActivations();
  std::vector<int8_t> q(a.size());
  const RowQParams rq = QuantizeActivationRow(
      a.data(), a.size(), ScaleFloor::kSmallestNormal, q.data());
  EXPECT_EQ(rq.scale, 0.01568627543747425f);
  EXPECT_EQ(rq.zero_point, -1);
  EXPECT_EQ(q[3], 126);  // a_3 = 2.0: 2 * fp32(1/s) = 127.49999237 -> 127, + zp
}

TEST(IntegerMatmulTest, F7) {
  const std::vector<float> a = ExampleActivations();
  std::vector<int8_t> qa(a.size());
  const RowQParams rq = QuantizeActivationRow(
      a.data(), a.size(), ScaleFloor::kSmallestNormal, qa.data());
  EXPECT_THAT(qa, ElementsAreArray<int8_t>(
                      {-128, 47,  -49, 126,  31, -65, 111,  15, -81, 95,  -1,
                       -97,  79,  -17, -113, 63, -33, -128, 47, -49, 126, 31,
                       -65,  111, 15,  -81,  95, -1,  -97,  79, -17, -113}));
  const std::vector<float> w = ExampleWeights();
  LinearWeights layer;
  layer.format = WeightFormat::kIntxOpaque;
  layer.dtype = DType::kF32;
  layer.n = 1;
  layer.k = 32;
  layer.intx = QuantizeIntxWeights(w.data(), 1, 32, 32, 4, Mapping::kSymmetric,
                                   DType::kF32, ScaleFloor::kSmallestNormal);
  int32_t isum = 0;
  for (int k = 0; k < 32; ++k)
    isum += (qa[k] - rq.zero_point) * layer.intx.q[k];
  EXPECT_EQ(isum, 1228);

  float y = 0.0f;
  Linear(layer, a.data(), 1, ActQuant::kInt8AsymPerToken, Activation::kNone,
         &y);
  EXPECT_EQ(y, 2.3115293979644775f);
  // Equal to the fp32 fake-quant dot product.
  float fake = 0.0f;
  for (int k = 0; k < 32; ++k) {
    const float x_hat = static_cast<float>(qa[k] - rq.zero_point) * rq.scale;
    fake += x_hat * DequantizeIntx(layer.intx.q[k], 0, layer.intx.scale[0],
                                   DType::kF32);
  }
  EXPECT_EQ(fake, 2.3115293979644775f);
}

}  // namespace
}  // namespace qlinear::reference
