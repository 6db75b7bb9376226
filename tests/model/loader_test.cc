// Loading models from safetensors + manifest: the three weight sources, the
// LinearStack forward, the default model, the repository scan, and a table
// of corrupt files that must be rejected with the tensor and problem named.
#include "model/loader.h"

#include <malloc.h>
#include <unistd.h>

#include <cctype>
#include <cmath>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <functional>
#include <map>
#include <random>
#include <string>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "kernels/linear.h"
#include "kernels/reference/linear.h"
#include "kernels/reference/quantize.h"
#include "model/default_model.h"
#include "model/repository.h"
#include "model/tensor_set.h"
#include "tests/testing/proc_status.h"
#include "tests/testing/status_matchers.h"

namespace qlinear::model {
namespace {

using ::qlinear::testing::IsOk;
using ::qlinear::testing::StatusIs;
using ::testing::HasSubstr;
using ::testing::StartsWith;

absl::StatusOr<std::unique_ptr<LinearStack>> Build(const Manifest& m,
                                                   const std::string& bytes) {
  auto file = SafetensorsFile::Parse(
      reinterpret_cast<const uint8_t*>(bytes.data()), bytes.size());
  if (!file.ok()) return file.status();
  return BuildLinearStack(m, **file);
}

std::vector<float> Random(size_t count, uint32_t seed, float scale) {
  std::mt19937 rng(seed);
  std::uniform_real_distribution<float> dist(-scale, scale);
  std::vector<float> v(count);
  for (float& x : v) x = dist(rng);
  return v;
}

// A one-layer manifest: 64 -> 16.
Manifest OneLayer(WeightFormat format, WeightSource source, size_t gs = 32,
                  int bits = 4) {
  Manifest m;
  m.dtype = DType::kF32;
  LayerSpec l;
  l.name = "fc";
  l.in_features = 64;
  l.out_features = 16;
  l.bias = true;
  l.activation = Activation::kRelu;
  l.format = format;
  l.group_size = format == WeightFormat::kFp32 ? 0 : gs;
  l.bits = bits;
  l.mapping = Mapping::kAsymmetric;
  l.source = source;
  m.layers.push_back(l);
  return m;
}

const std::vector<float> kWeight = Random(16 * 64, 1, 0.2f);
const std::vector<float> kBias = Random(16, 2, 0.1f);
const std::vector<float> kInput = Random(3 * 64, 3, 1.0f);

std::vector<float> ForwardAll(const LinearStack& s, ActQuant mode) {
  std::vector<float> y;
  EXPECT_THAT(s.Forward(kInput.data(), 3, 0, s.num_layers(), mode, &y), IsOk());
  return y;
}

TEST(LoaderTest, Int4PlainSourceEqualsFloatSource) {
  TensorSet floats;
  floats.AddFloats("fc.weight", DType::kF32, {16, 64}, kWeight);
  floats.AddFloats("fc.bias", DType::kF32, {16}, kBias);
  auto from_float =
      Build(OneLayer(WeightFormat::kInt4Opaque, WeightSource::kFloat),
            floats.Serialize());
  ASSERT_THAT(from_float, IsOk());

  const Int4PlainWeights q =
      reference::QuantizeInt4Weights(kWeight.data(), 16, 64, 32, DType::kF32);
  std::vector<uint8_t> packed(16 * 32);
  for (size_t i = 0; i < packed.size(); ++i) {
    packed[i] = static_cast<uint8_t>(q.q[2 * i] | (q.q[2 * i + 1] << 4));
  }
  TensorSet plain;
  plain.AddBytes("fc.qweight", TensorDType::kU8, {16, 32}, packed);
  plain.AddFloats("fc.scales", DType::kF32, {16, 2}, q.scale);
  plain.AddFloats("fc.zeros", DType::kF32, {16, 2}, q.zero);
  plain.AddFloats("fc.bias", DType::kF32, {16}, kBias);
  auto from_plain =
      Build(OneLayer(WeightFormat::kInt4Opaque, WeightSource::kInt4Plain),
            plain.Serialize());
  ASSERT_THAT(from_plain, IsOk());

  for (ActQuant mode : {ActQuant::kNone, ActQuant::kInt8AsymPerToken}) {
    const std::vector<float> a = ForwardAll(**from_float, mode);
    EXPECT_EQ(a, ForwardAll(**from_plain, mode));
    // And both equal the reference linear with the layer's epilogue.
    std::vector<float> ref(3 * 16);
    reference::Linear((*from_float)->layer(0).PlainWeights(), kInput.data(), 3,
                      mode, Activation::kRelu, ref.data());
    EXPECT_EQ(a, ref);
  }
}

// The loader quantizes float weights a slab of rows at a time; the result
// equals quantizing the whole matrix at once (several slabs here).
TEST(LoaderTest, SlabwiseQuantizationEqualsWholeMatrix) {
  const size_t n = 600, k = 4096;  // 256 rows per slab
  const std::vector<float> weight = Random(n * k, 7, 0.3f);
  TensorSet floats;
  floats.AddFloats("fc.weight", DType::kF32,
                   {static_cast<int64_t>(n), static_cast<int64_t>(k)}, weight);
  for (WeightFormat format :
       {WeightFormat::kInt4Opaque, WeightFormat::kIntxOpaque}) {
    Manifest m = OneLayer(format, WeightSource::kFloat, 128, 3);
    m.layers[0].in_features = k;
    m.layers[0].out_features = n;
    m.layers[0].bias = false;
    auto stack = Build(m, floats.Serialize());
    ASSERT_THAT(stack, IsOk());
    const LinearWeights plain = (*stack)->layer(0).PlainWeights();
    if (format == WeightFormat::kInt4Opaque) {
      const Int4PlainWeights whole =
          reference::QuantizeInt4Weights(weight.data(), n, k, 128, DType::kF32);
      EXPECT_EQ(plain.int4.q, whole.q);
      EXPECT_EQ(plain.int4.scale, whole.scale);
      EXPECT_EQ(plain.int4.zero, whole.zero);
    } else {
      const IntxPlainWeights whole = reference::QuantizeIntxWeights(
          weight.data(), n, k, 128, 3, Mapping::kAsymmetric, DType::kF32,
          m.scale_floor);
      EXPECT_EQ(plain.intx.q, whole.q);
      EXPECT_EQ(plain.intx.scale, whole.scale);
      EXPECT_EQ(plain.intx.zero_point, whole.zero_point);
    }
  }
}

TEST(LoaderTest, TorchaoIntxSourceEqualsFloatSource) {
  TensorSet floats;
  floats.AddFloats("fc.weight", DType::kF32, {16, 64}, kWeight);
  floats.AddFloats("fc.bias", DType::kF32, {16}, kBias);
  auto from_float =
      Build(OneLayer(WeightFormat::kIntxOpaque, WeightSource::kFloat, 16, 3),
            floats.Serialize());
  ASSERT_THAT(from_float, IsOk());

  const IntxPlainWeights q = reference::QuantizeIntxWeights(
      kWeight.data(), 16, 64, 16, 3, Mapping::kAsymmetric, DType::kF32,
      ScaleFloor::kSmallestNormal);
  TensorSet torchao;
  torchao.AddBytes("fc._weight_qdata", TensorDType::kI8, {16, 64}, q.q);
  torchao.AddFloats("fc._weight_scale", DType::kF32, {16, 4}, q.scale);
  torchao.AddBytes("fc._weight_zero_point", TensorDType::kI8, {16, 4},
                   q.zero_point);
  torchao.AddFloats("fc.bias", DType::kF32, {16}, kBias);
  auto from_torchao = Build(
      OneLayer(WeightFormat::kIntxOpaque, WeightSource::kTorchaoIntx, 16, 3),
      torchao.Serialize());
  ASSERT_THAT(from_torchao, IsOk());
  for (ActQuant mode : {ActQuant::kNone, ActQuant::kInt8AsymPerToken}) {
    EXPECT_EQ(ForwardAll(**from_float, mode), ForwardAll(**from_torchao, mode));
  }
}

// The __metadata__ torchao's flatten_tensor_state_dict writes for one
// IntxUnpackedToInt8Tensor weight (docs/manifest.md, "torchao_intx").
std::string TorchaoWeightMetadata(const std::string& target_dtype,
                                  const std::string& block_size,
                                  const std::string& dtype = "float32") {
  return R"({"_type": "IntxUnpackedToInt8Tensor", "_data": {"target_dtype": )"
         R"({"_type": "torch.dtype", "_data": ")" +
         target_dtype + R"("}, "block_size": )" + block_size +
         R"(, "dtype": {"_type": "torch.dtype", "_data": ")" + dtype +
         R"("}, "activation_quantization": "int8_asym_per_token"}, )"
         R"("_tensor_data_names": ["qdata", "scale", "zero_point"]})";
}

void AddTorchaoMetadata(TensorSet* s, const std::string& target_dtype,
                        const std::string& block_size,
                        const std::string& dtype = "float32") {
  s->AddMetadata("fc.weight",
                 TorchaoWeightMetadata(target_dtype, block_size, dtype));
  s->AddMetadata("fc.bias", R"({"_type": "Tensor"})");
  s->AddMetadata("tensor_names", R"(["fc.weight", "fc.bias"])");
}

// A torchao_intx tensor set for OneLayer(kIntxOpaque, kTorchaoIntx, gs, bits).
void AddTorchaoTensors(TensorSet* s, size_t gs, int bits) {
  const IntxPlainWeights q = reference::QuantizeIntxWeights(
      kWeight.data(), 16, 64, gs, bits, Mapping::kAsymmetric, DType::kF32,
      ScaleFloor::kSmallestNormal);
  const int64_t groups = static_cast<int64_t>(64 / gs);
  s->AddBytes("fc._weight_qdata", TensorDType::kI8, {16, 64}, q.q);
  s->AddFloats("fc._weight_scale", DType::kF32, {16, groups}, q.scale);
  s->AddBytes("fc._weight_zero_point", TensorDType::kI8, {16, groups},
              q.zero_point);
  s->AddFloats("fc.bias", DType::kF32, {16}, kBias);
}

TEST(LoaderTest, TorchaoIntxSourceWithTorchaoMetadata) {
  for (const auto& [gs, bits] :
       {std::pair<size_t, int>{16, 3}, {32, 8}, {64, 1}, {64, 5}}) {
    TensorSet floats;
    floats.AddFloats("fc.weight", DType::kF32, {16, 64}, kWeight);
    floats.AddFloats("fc.bias", DType::kF32, {16}, kBias);
    auto from_float = Build(
        OneLayer(WeightFormat::kIntxOpaque, WeightSource::kFloat, gs, bits),
        floats.Serialize());
    ASSERT_THAT(from_float, IsOk());
    TensorSet torchao;
    AddTorchaoTensors(&torchao, gs, bits);
    AddTorchaoMetadata(&torchao, "int" + std::to_string(bits),
                       "[1, " + std::to_string(gs) + "]");
    auto from_torchao = Build(OneLayer(WeightFormat::kIntxOpaque,
                                       WeightSource::kTorchaoIntx, gs, bits),
                              torchao.Serialize());
    ASSERT_THAT(from_torchao, IsOk()) << gs << " " << bits;
    EXPECT_EQ(
        (*from_torchao)->layer(0).kernel_name(ActQuant::kNone).substr(0, 7),
        "wx_f32_");
    for (ActQuant mode : {ActQuant::kNone, ActQuant::kInt8AsymPerToken}) {
      EXPECT_EQ(ForwardAll(**from_float, mode),
                ForwardAll(**from_torchao, mode));
    }
  }
  // Older torchao spelled the activation mode as a boolean attribute.
  TensorSet old;
  AddTorchaoTensors(&old, 32, 4);
  old.AddMetadata(
      "fc.weight",
      R"({"_type": "IntxUnpackedToInt8Tensor", "_data": {"target_dtype": )"
      R"({"_type": "torch.dtype", "_data": "int4"}, "block_size": [1, 32], )"
      R"("dtype": {"_type": "torch.dtype", "_data": "float32"}, )"
      R"("apply_int8_act_asym_per_token_quant": false}, )"
      R"("_tensor_data_names": ["qdata", "scale", "zero_point"]})");
  EXPECT_THAT(
      Build(OneLayer(WeightFormat::kIntxOpaque, WeightSource::kTorchaoIntx),
            old.Serialize()),
      IsOk());
}

TEST(LoaderTest, Int4PlainUnpackedCodesEqualPackedNibbles) {
  const Int4PlainWeights q =
      reference::QuantizeInt4Weights(kWeight.data(), 16, 64, 32, DType::kF32);
  std::vector<uint8_t> packed(16 * 32);
  for (size_t i = 0; i < packed.size(); ++i) {
    packed[i] = static_cast<uint8_t>(q.q[2 * i] | (q.q[2 * i + 1] << 4));
  }
  std::vector<int8_t> codes(q.q.begin(), q.q.end());
  std::vector<std::string> outputs;
  for (int variant = 0; variant < 3; ++variant) {
    TensorSet plain;
    if (variant == 0) {
      plain.AddBytes("fc.qweight", TensorDType::kU8, {16, 32}, packed);
    } else {
      plain.AddBytes("fc.qweight",
                     variant == 1 ? TensorDType::kU8 : TensorDType::kI8,
                     {16, 64}, codes);
    }
    plain.AddFloats("fc.scales", DType::kF32, {16, 2}, q.scale);
    plain.AddFloats("fc.zeros", DType::kF32, {16, 2}, q.zero);
    plain.AddFloats("fc.bias", DType::kF32, {16}, kBias);
    auto stack =
        Build(OneLayer(WeightFormat::kInt4Opaque, WeightSource::kInt4Plain),
              plain.Serialize());
    ASSERT_THAT(stack, IsOk()) << variant;
    const std::vector<float> y = ForwardAll(**stack, ActQuant::kNone);
    outputs.emplace_back(reinterpret_cast<const char*>(y.data()),
                         y.size() * sizeof(float));
  }
  EXPECT_EQ(outputs[0], outputs[1]);
  EXPECT_EQ(outputs[0], outputs[2]);
}

// A pre-quantized layer of several slabs (256 rows of k = 4096 each) loads
// streamed into exactly the layer Linear::Create makes of the whole plain
// weights: the same plain weights back, the same output bits in both modes;
// a bad code in a later slab is reported at its place in the whole tensor.
TEST(LoaderTest, PlainSourcesStreamedEqualCreateOfTheWholeLayer) {
  const size_t n = 600, k = 4096;
  const std::vector<float> weight = Random(n * k, 21, 0.3f);
  const std::vector<float> bias = Random(n, 22, 0.1f);
  const std::vector<float> x = Random(5 * k, 23, 1.0f);
  const int64_t rows = static_cast<int64_t>(n), cols = static_cast<int64_t>(k);
  const auto expect_same = [&](const LinearStack& stack,
                               const LinearWeights& whole) {
    auto created = Linear::Create(whole);
    ASSERT_THAT(created, IsOk());
    const Linear& streamed = stack.layer(0);
    const LinearWeights back = streamed.PlainWeights();
    EXPECT_EQ(back.int4.q, whole.int4.q);
    EXPECT_EQ(back.int4.scale, whole.int4.scale);
    EXPECT_EQ(back.int4.zero, whole.int4.zero);
    EXPECT_EQ(back.intx.q, whole.intx.q);
    EXPECT_EQ(back.intx.scale, whole.intx.scale);
    EXPECT_EQ(back.intx.zero_point, whole.intx.zero_point);
    EXPECT_EQ(streamed.packed_bytes(), (*created)->packed_bytes());
    for (ActQuant mode : {ActQuant::kNone, ActQuant::kInt8AsymPerToken}) {
      std::vector<float> a(5 * n), b(5 * n);
      streamed.Run(x.data(), 5, mode, true, a.data());
      (*created)->Run(x.data(), 5, mode, true, b.data());
      EXPECT_EQ(0, std::memcmp(a.data(), b.data(), a.size() * sizeof(float)))
          << ActQuantName(mode);
    }
  };
  LinearWeights whole;
  whole.dtype = DType::kF32;
  whole.n = n;
  whole.k = k;
  whole.bias = bias;
  whole.activation = Activation::kRelu;

  // int4_plain: nibble pairs, and one code per byte as U8 and as I8.
  Manifest m4 =
      OneLayer(WeightFormat::kInt4Opaque, WeightSource::kInt4Plain, 128);
  m4.layers[0].in_features = k;
  m4.layers[0].out_features = n;
  whole.format = WeightFormat::kInt4Opaque;
  whole.int4 =
      reference::QuantizeInt4Weights(weight.data(), n, k, 128, DType::kF32);
  const Int4PlainWeights& q4 = whole.int4;
  std::vector<uint8_t> pairs(n * k / 2);
  for (size_t i = 0; i < pairs.size(); ++i) {
    pairs[i] = static_cast<uint8_t>(q4.q[2 * i] | (q4.q[2 * i + 1] << 4));
  }
  std::vector<int8_t> codes(q4.q.begin(), q4.q.end());
  const auto int4_set = [&](int variant, const std::vector<int8_t>& c) {
    TensorSet s;
    if (variant == 0) {
      s.AddBytes("fc.qweight", TensorDType::kU8, {rows, cols / 2}, pairs);
    } else {
      s.AddBytes("fc.qweight",
                 variant == 1 ? TensorDType::kU8 : TensorDType::kI8,
                 {rows, cols}, c);
    }
    s.AddFloats("fc.scales", DType::kF32, {rows, cols / 128}, q4.scale);
    s.AddFloats("fc.zeros", DType::kF32, {rows, cols / 128}, q4.zero);
    s.AddFloats("fc.bias", DType::kF32, {rows}, bias);
    return s.Serialize();
  };
  for (int variant = 0; variant < 3; ++variant) {
    SCOPED_TRACE(variant);
    auto stack = Build(m4, int4_set(variant, codes));
    ASSERT_THAT(stack, IsOk());
    expect_same(**stack, whole);
  }
  std::vector<int8_t> bad = codes;
  bad[500 * k + 7] = 16;
  EXPECT_THAT(Build(m4, int4_set(1, bad)),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("tensor 'fc.qweight': code 16 at [500, 7] is "
                                 "out of range 0..15")));

  // torchao_intx, 5 bits in groups of 64.
  Manifest mx =
      OneLayer(WeightFormat::kIntxOpaque, WeightSource::kTorchaoIntx, 64, 5);
  mx.layers[0].in_features = k;
  mx.layers[0].out_features = n;
  whole.format = WeightFormat::kIntxOpaque;
  whole.int4 = Int4PlainWeights();
  whole.intx = reference::QuantizeIntxWeights(weight.data(), n, k, 64, 5,
                                              Mapping::kAsymmetric, DType::kF32,
                                              ScaleFloor::kSmallestNormal);
  const IntxPlainWeights& qx = whole.intx;
  const auto intx_set = [&](const std::vector<int8_t>& zero_point) {
    TensorSet s;
    s.AddBytes("fc._weight_qdata", TensorDType::kI8, {rows, cols}, qx.q);
    s.AddFloats("fc._weight_scale", DType::kF32, {rows, cols / 64}, qx.scale);
    s.AddBytes("fc._weight_zero_point", TensorDType::kI8, {rows, cols / 64},
               zero_point);
    s.AddFloats("fc.bias", DType::kF32, {rows}, bias);
    return s.Serialize();
  };
  auto stack = Build(mx, intx_set(qx.zero_point));
  ASSERT_THAT(stack, IsOk());
  expect_same(**stack, whole);
  std::vector<int8_t> bad_zero = qx.zero_point;
  bad_zero[590 * 64 + 1] = 16;
  EXPECT_THAT(Build(mx, intx_set(bad_zero)),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("tensor 'fc._weight_zero_point': zero point "
                                 "16 at index 37761 is out of range -16..15")));
}

TEST(LoaderTest, Fp32LayerIgnoresActQuantMode) {
  TensorSet floats;
  floats.AddFloats("fc.weight", DType::kF32, {16, 64}, kWeight);
  floats.AddFloats("fc.bias", DType::kF32, {16}, kBias);
  auto stack = Build(OneLayer(WeightFormat::kFp32, WeightSource::kFloat),
                     floats.Serialize());
  ASSERT_THAT(stack, IsOk());
  EXPECT_EQ(ForwardAll(**stack, ActQuant::kNone),
            ForwardAll(**stack, ActQuant::kInt8AsymPerToken));
}

struct CorruptCase {
  std::string label;
  WeightFormat format;
  WeightSource source;
  std::function<void(TensorSet*)> fill;
  std::string message;
  size_t group_size = 32;
  int bits = 4;
};

std::vector<int8_t> Codes(int8_t fill_value, int8_t bad_value, size_t bad_index,
                          size_t count) {
  std::vector<int8_t> v(count, fill_value);
  v[bad_index] = bad_value;
  return v;
}

class CorruptTensorsTest : public ::testing::TestWithParam<CorruptCase> {};

TEST_P(CorruptTensorsTest, RejectedWithTensorAndProblemNamed) {
  const CorruptCase& c = GetParam();
  TensorSet set;
  c.fill(&set);
  auto stack = Build(OneLayer(c.format, c.source, c.group_size, c.bits),
                     set.Serialize());
  EXPECT_THAT(
      stack, StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr(c.message)))
      << c.label;
}

std::vector<CorruptCase> CorruptCases() {
  const auto bias = [](TensorSet* s) {
    s->AddFloats("fc.bias", DType::kF32, {16}, kBias);
  };
  std::vector<float> nan_weight = kWeight;
  nan_weight[5] = std::nanf("");
  return {
      {"missing weight", WeightFormat::kInt4Opaque, WeightSource::kFloat, bias,
       "tensor 'fc.weight': missing (needed by layer 'fc')"},
      {"missing bias", WeightFormat::kInt4Opaque, WeightSource::kFloat,
       [](TensorSet* s) {
         s->AddFloats("fc.weight", DType::kF32, {16, 64}, kWeight);
       },
       "tensor 'fc.bias': missing"},
      {"transposed weight", WeightFormat::kInt4Opaque, WeightSource::kFloat,
       [=](TensorSet* s) {
         s->AddFloats("fc.weight", DType::kF32, {64, 16}, kWeight);
         bias(s);
       },
       "tensor 'fc.weight': shape [64, 16], expected [16, 64]"},
      {"integer weight", WeightFormat::kInt4Opaque, WeightSource::kFloat,
       [=](TensorSet* s) {
         s->AddBytes("fc.weight", TensorDType::kI8, {16, 64},
                     std::vector<int8_t>(1024, 1));
         bias(s);
       },
       "tensor 'fc.weight': dtype I8, expected F32 or BF16 or F16"},
      {"NaN weight", WeightFormat::kInt4Opaque, WeightSource::kFloat,
       [=](TensorSet* s) {
         s->AddFloats("fc.weight", DType::kF32, {16, 64}, nan_weight);
         bias(s);
       },
       "tensor 'fc.weight': element 5 is not finite"},
      {"int4 qweight as I8", WeightFormat::kInt4Opaque,
       WeightSource::kInt4Plain,
       [=](TensorSet* s) {
         s->AddBytes("fc.qweight", TensorDType::kI8, {16, 32},
                     std::vector<int8_t>(512, 0));
         bias(s);
       },
       "tensor 'fc.qweight': dtype I8, expected U8"},
      {"int4 scales in bf16 for an fp32 model", WeightFormat::kInt4Opaque,
       WeightSource::kInt4Plain,
       [=](TensorSet* s) {
         s->AddBytes("fc.qweight", TensorDType::kU8, {16, 32},
                     std::vector<uint8_t>(512, 0));
         s->AddFloats("fc.scales", DType::kBF16, {16, 2},
                      std::vector<float>(32, 1.0f));
         bias(s);
       },
       "tensor 'fc.scales': dtype BF16, expected F32"},
      {"int4 zeros missing", WeightFormat::kInt4Opaque,
       WeightSource::kInt4Plain,
       [=](TensorSet* s) {
         s->AddBytes("fc.qweight", TensorDType::kU8, {16, 32},
                     std::vector<uint8_t>(512, 0));
         s->AddFloats("fc.scales", DType::kF32, {16, 2},
                      std::vector<float>(32, 1.0f));
         bias(s);
       },
       "tensor 'fc.zeros': missing"},
      {"intx code out of range", WeightFormat::kIntxOpaque,
       WeightSource::kTorchaoIntx,
       [=](TensorSet* s) {
         s->AddBytes("fc._weight_qdata", TensorDType::kI8, {16, 64},
                     Codes(1, 9, 67, 1024));
         s->AddFloats("fc._weight_scale", DType::kF32, {16, 2},
                      std::vector<float>(32, 0.1f));
         s->AddBytes("fc._weight_zero_point", TensorDType::kI8, {16, 2},
                     std::vector<int8_t>(32, 0));
         bias(s);
       },
       "tensor 'fc._weight_qdata': code 9 at [1, 3] is out of range -8..7 for "
       "4 bits"},
      {"intx zero point out of range", WeightFormat::kIntxOpaque,
       WeightSource::kTorchaoIntx,
       [=](TensorSet* s) {
         s->AddBytes("fc._weight_qdata", TensorDType::kI8, {16, 64},
                     std::vector<int8_t>(1024, 0));
         s->AddFloats("fc._weight_scale", DType::kF32, {16, 2},
                      std::vector<float>(32, 0.1f));
         s->AddBytes("fc._weight_zero_point", TensorDType::kI8, {16, 2},
                     Codes(0, -9, 4, 32));
         bias(s);
       },
       "tensor 'fc._weight_zero_point': zero point -9 at index 4 is out of "
       "range"},
      {"intx scale shape for another group size", WeightFormat::kIntxOpaque,
       WeightSource::kTorchaoIntx,
       [=](TensorSet* s) {
         s->AddBytes("fc._weight_qdata", TensorDType::kI8, {16, 64},
                     std::vector<int8_t>(1024, 0));
         s->AddFloats("fc._weight_scale", DType::kF32, {16, 4},
                      std::vector<float>(64, 0.1f));
         bias(s);
       },
       "tensor 'fc._weight_scale': shape [16, 4], expected [16, 2]"},
      {"intx infinite scale", WeightFormat::kIntxOpaque,
       WeightSource::kTorchaoIntx,
       [=](TensorSet* s) {
         s->AddBytes("fc._weight_qdata", TensorDType::kI8, {16, 64},
                     std::vector<int8_t>(1024, 0));
         std::vector<float> scale(32, 0.1f);
         scale[7] = INFINITY;
         s->AddFloats("fc._weight_scale", DType::kF32, {16, 2}, scale);
         s->AddBytes("fc._weight_zero_point", TensorDType::kI8, {16, 2},
                     std::vector<int8_t>(32, 0));
         bias(s);
       },
       "tensor 'fc._weight_scale': element 7 is not finite"},
      {"intx 1-bit code out of range", WeightFormat::kIntxOpaque,
       WeightSource::kTorchaoIntx,
       [=](TensorSet* s) {
         s->AddBytes("fc._weight_qdata", TensorDType::kI8, {16, 64},
                     Codes(-1, 1, 130, 1024));
         s->AddFloats("fc._weight_scale", DType::kF32, {16, 2},
                      std::vector<float>(32, 0.1f));
         s->AddBytes("fc._weight_zero_point", TensorDType::kI8, {16, 2},
                     std::vector<int8_t>(32, 0));
         bias(s);
       },
       "tensor 'fc._weight_qdata': code 1 at [2, 2] is out of range -1..0 "
       "for 1 bits",
       32, 1},
      {"intx 8-bit layer with codes as U8", WeightFormat::kIntxOpaque,
       WeightSource::kTorchaoIntx,
       [=](TensorSet* s) {
         s->AddBytes("fc._weight_qdata", TensorDType::kU8, {16, 64},
                     std::vector<uint8_t>(1024, 200));
         bias(s);
       },
       "tensor 'fc._weight_qdata': dtype U8, expected I8", 32, 8},
      {"intx zero point shape for another group size",
       WeightFormat::kIntxOpaque, WeightSource::kTorchaoIntx,
       [=](TensorSet* s) {
         s->AddBytes("fc._weight_qdata", TensorDType::kI8, {16, 64},
                     std::vector<int8_t>(1024, 0));
         s->AddFloats("fc._weight_scale", DType::kF32, {16, 2},
                      std::vector<float>(32, 0.1f));
         s->AddBytes("fc._weight_zero_point", TensorDType::kI8, {16, 1},
                     std::vector<int8_t>(16, 0));
         bias(s);
       },
       "tensor 'fc._weight_zero_point': shape [16, 1], expected [16, 2]"},
      {"intx per-channel scale given per group", WeightFormat::kIntxOpaque,
       WeightSource::kTorchaoIntx,
       [=](TensorSet* s) {
         s->AddBytes("fc._weight_qdata", TensorDType::kI8, {16, 64},
                     std::vector<int8_t>(1024, 0));
         s->AddFloats("fc._weight_scale", DType::kF32, {16, 2},
                      std::vector<float>(32, 0.1f));
         bias(s);
       },
       "tensor 'fc._weight_scale': shape [16, 2], expected [16, 1]", 64, 4},
      {"torchao metadata block size", WeightFormat::kIntxOpaque,
       WeightSource::kTorchaoIntx,
       [=](TensorSet* s) {
         AddTorchaoTensors(s, 32, 4);
         AddTorchaoMetadata(s, "int4", "[1, 16]");
       },
       "tensor 'fc.weight': __metadata__ block_size [1, 16] does not match "
       "group_size 32 of layer 'fc'"},
      {"torchao metadata per-channel block size", WeightFormat::kIntxOpaque,
       WeightSource::kTorchaoIntx,
       [=](TensorSet* s) {
         AddTorchaoTensors(s, 32, 4);
         AddTorchaoMetadata(s, "int4", "[1, 64]");
       },
       "__metadata__ block_size [1, 64] does not match group_size 32"},
      {"torchao metadata target dtype", WeightFormat::kIntxOpaque,
       WeightSource::kTorchaoIntx,
       [=](TensorSet* s) {
         AddTorchaoTensors(s, 32, 4);
         AddTorchaoMetadata(s, "int3", "[1, 32]");
       },
       "tensor 'fc.weight': __metadata__ target_dtype 'int3' does not match "
       "bits 4 of layer 'fc'"},
      {"torchao metadata dtype", WeightFormat::kIntxOpaque,
       WeightSource::kTorchaoIntx,
       [=](TensorSet* s) {
         AddTorchaoTensors(s, 32, 4);
         AddTorchaoMetadata(s, "int4", "[1, 32]", "bfloat16");
       },
       "tensor 'fc.weight': __metadata__ dtype 'bfloat16' does not match the "
       "model dtype fp32"},
      {"torchao metadata of another class", WeightFormat::kIntxOpaque,
       WeightSource::kTorchaoIntx,
       [=](TensorSet* s) {
         AddTorchaoTensors(s, 32, 4);
         AddTorchaoMetadata(s, "int4", "[1, 32]");
         s->AddMetadata("fc.weight", R"({"_type": "Int4Tensor", "_data": {}})");
       },
       "tensor 'fc.weight': __metadata__ _type is 'Int4Tensor', expected "
       "'IntxUnpackedToInt8Tensor'"},
      {"torchao metadata not JSON", WeightFormat::kIntxOpaque,
       WeightSource::kTorchaoIntx,
       [=](TensorSet* s) {
         AddTorchaoTensors(s, 32, 4);
         AddTorchaoMetadata(s, "int4", "[1, 32]");
         s->AddMetadata("fc.weight", "{\"_type\": ");
       },
       "tensor 'fc.weight': __metadata__ value is not valid JSON"},
      {"torchao metadata lists a tensor it does not describe",
       WeightFormat::kIntxOpaque, WeightSource::kTorchaoIntx,
       [=](TensorSet* s) {
         AddTorchaoTensors(s, 32, 4);
         AddTorchaoMetadata(s, "int4", "[1, 32]");
         s->AddMetadata("tensor_names", R"(["fc.weight", "fc.bias", "x.w"])");
       },
       "tensor 'x.w': listed in __metadata__ 'tensor_names' but has no "
       "__metadata__ entry"},
      {"torchao metadata quantized bias", WeightFormat::kIntxOpaque,
       WeightSource::kTorchaoIntx,
       [=](TensorSet* s) {
         AddTorchaoTensors(s, 32, 4);
         AddTorchaoMetadata(s, "int4", "[1, 32]");
         s->AddMetadata("fc.bias", TorchaoWeightMetadata("int4", "[1, 32]"));
       },
       "tensor 'fc.bias': __metadata__ _type is 'IntxUnpackedToInt8Tensor', "
       "expected 'Tensor'"},
      {"int4 unpacked code out of range", WeightFormat::kInt4Opaque,
       WeightSource::kInt4Plain,
       [=](TensorSet* s) {
         std::vector<uint8_t> codes(1024, 3);
         codes[70] = 16;
         s->AddBytes("fc.qweight", TensorDType::kU8, {16, 64}, codes);
         bias(s);
       },
       "tensor 'fc.qweight': code 16 at [1, 6] is out of range 0..15"},
      {"int4 negative unpacked code", WeightFormat::kInt4Opaque,
       WeightSource::kInt4Plain,
       [=](TensorSet* s) {
         s->AddBytes("fc.qweight", TensorDType::kI8, {16, 64},
                     Codes(8, -8, 3, 1024));
         s->AddFloats("fc.scales", DType::kF32, {16, 2},
                      std::vector<float>(32, 1.0f));
         s->AddFloats("fc.zeros", DType::kF32, {16, 2},
                      std::vector<float>(32, 0.0f));
         bias(s);
       },
       "tensor 'fc.qweight': code -8 at [0, 3] is out of range 0..15"},
      {"int4 qweight of another width", WeightFormat::kInt4Opaque,
       WeightSource::kInt4Plain,
       [=](TensorSet* s) {
         s->AddBytes("fc.qweight", TensorDType::kU8, {16, 16},
                     std::vector<uint8_t>(256, 0));
         bias(s);
       },
       "tensor 'fc.qweight': shape [16, 16], expected [16, 32]"},
      {"int4 scales for another group size", WeightFormat::kInt4Opaque,
       WeightSource::kInt4Plain,
       [=](TensorSet* s) {
         s->AddBytes("fc.qweight", TensorDType::kU8, {16, 32},
                     std::vector<uint8_t>(512, 0));
         s->AddFloats("fc.scales", DType::kF32, {16, 1},
                      std::vector<float>(16, 1.0f));
         bias(s);
       },
       "tensor 'fc.scales': shape [16, 1], expected [16, 2]"},
      {"int4 zeros for another group size", WeightFormat::kInt4Opaque,
       WeightSource::kInt4Plain,
       [=](TensorSet* s) {
         s->AddBytes("fc.qweight", TensorDType::kU8, {16, 32},
                     std::vector<uint8_t>(512, 0));
         s->AddFloats("fc.scales", DType::kF32, {16, 2},
                      std::vector<float>(32, 1.0f));
         s->AddFloats("fc.zeros", DType::kF32, {16, 4},
                      std::vector<float>(64, 1.0f));
         bias(s);
       },
       "tensor 'fc.zeros': shape [16, 4], expected [16, 2]"},
      {"int4 NaN scale", WeightFormat::kInt4Opaque, WeightSource::kInt4Plain,
       [=](TensorSet* s) {
         s->AddBytes("fc.qweight", TensorDType::kU8, {16, 32},
                     std::vector<uint8_t>(512, 0));
         std::vector<float> scales(32, 1.0f);
         scales[9] = std::nanf("");
         s->AddFloats("fc.scales", DType::kF32, {16, 2}, scales);
         s->AddFloats("fc.zeros", DType::kF32, {16, 2},
                      std::vector<float>(32, 0.0f));
         bias(s);
       },
       "tensor 'fc.scales': element 9 is not finite"},
  };
}

void PrintTo(const CorruptCase& c, std::ostream* os) { *os << c.label; }

INSTANTIATE_TEST_SUITE_P(Table, CorruptTensorsTest,
                         ::testing::ValuesIn(CorruptCases()),
                         [](const ::testing::TestParamInfo<CorruptCase>& info) {
                           std::string name;
                           for (char ch : info.param.label) {
                             name +=
                                 std::isalnum(static_cast<unsigned char>(ch))
                                     ? ch
                                     : '_';
                           }
                           return name;
                         });

class TempDir {
 public:
  TempDir() {
    path_ = std::filesystem::temp_directory_path() /
            ("qlinear_loader_test_" + std::to_string(::getpid()) + "_" +
             std::to_string(counter_++));
    std::filesystem::create_directories(path_);
  }
  ~TempDir() { std::filesystem::remove_all(path_); }
  std::string path() const { return path_.string(); }
  void Write(const std::string& rel, const std::string& content) const {
    const auto p = path_ / rel;
    std::filesystem::create_directories(p.parent_path());
    std::ofstream(p, std::ios::binary) << content;
  }

 private:
  static inline int counter_ = 0;
  std::filesystem::path path_;
};

TEST(LoadModelDirTest, LoadsAndReportsFileErrors) {
  SyntheticModelSpec spec;
  spec.widths = {64, 32, 16};
  spec.group_size = 32;
  const SyntheticModelFiles files = MakeSyntheticModelFiles(spec);
  TempDir dir;
  dir.Write("good/model.json", ManifestToJson(files.manifest));
  dir.Write("good/model.safetensors", files.safetensors);
  auto stack = LoadModelDir(dir.path() + "/good");
  ASSERT_THAT(stack, IsOk());
  EXPECT_EQ((*stack)->num_layers(), 2u);

  EXPECT_THAT(LoadModelDir(dir.path() + "/absent"),
              StatusIs(absl::StatusCode::kNotFound, HasSubstr("model.json")));

  dir.Write("truncated/model.json", ManifestToJson(files.manifest));
  dir.Write("truncated/model.safetensors",
            files.safetensors.substr(0, files.safetensors.size() / 2));
  EXPECT_THAT(LoadModelDir(dir.path() + "/truncated"),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("model.safetensors")));

  dir.Write("badjson/model.json", "{\"dtype\": \"fp32\", \"layerz\": []}");
  dir.Write("badjson/model.safetensors", files.safetensors);
  EXPECT_THAT(
      LoadModelDir(dir.path() + "/badjson"),
      StatusIs(absl::StatusCode::kInvalidArgument,
               ::testing::AllOf(HasSubstr("model.json"), HasSubstr("layerz"))));

  // A manifest whose layer is wider than the tensors in the file.
  Manifest wider = files.manifest;
  wider.layers[1].out_features = 24;
  dir.Write("mismatch/model.json", ManifestToJson(wider));
  dir.Write("mismatch/model.safetensors", files.safetensors);
  EXPECT_THAT(
      LoadModelDir(dir.path() + "/mismatch"),
      StatusIs(absl::StatusCode::kInvalidArgument,
               ::testing::AllOf(
                   StartsWith(dir.path() + "/mismatch/model.safetensors"),
                   HasSubstr("tensor 'fc2.weight': shape [16, 32], "
                             "expected [24, 32]"))));
}

// Both quantized plain sources through the model directory path: a two-layer
// model (int4_plain, then torchao_intx with torchao's metadata) loads and
// computes exactly what the same model quantized at load from floats does.
TEST(LoadModelDirTest, PlainSourcesEndToEnd) {
  const std::vector<float> w1 = Random(32 * 64, 11, 0.2f);
  const std::vector<float> w2 = Random(16 * 32, 12, 0.2f);
  const std::vector<float> b2 = Random(16, 13, 0.1f);
  Manifest m;
  m.dtype = DType::kF32;
  LayerSpec l1;
  l1.name = "fc1";
  l1.in_features = 64;
  l1.out_features = 32;
  l1.activation = Activation::kSilu;
  l1.format = WeightFormat::kInt4Opaque;
  l1.group_size = 32;
  LayerSpec l2;
  l2.name = "fc2";
  l2.in_features = 32;
  l2.out_features = 16;
  l2.bias = true;
  l2.format = WeightFormat::kIntxOpaque;
  l2.group_size = 32;  // per channel
  l2.bits = 6;
  l2.mapping = Mapping::kSymmetricNoClippingErr;
  m.layers = {l1, l2};

  TensorSet floats;
  floats.AddFloats("fc1.weight", DType::kF32, {32, 64}, w1);
  floats.AddFloats("fc2.weight", DType::kF32, {16, 32}, w2);
  floats.AddFloats("fc2.bias", DType::kF32, {16}, b2);

  const Int4PlainWeights q1 =
      reference::QuantizeInt4Weights(w1.data(), 32, 64, 32, DType::kF32);
  std::vector<uint8_t> packed(32 * 32);
  for (size_t i = 0; i < packed.size(); ++i) {
    packed[i] = static_cast<uint8_t>(q1.q[2 * i] | (q1.q[2 * i + 1] << 4));
  }
  const IntxPlainWeights q2 = reference::QuantizeIntxWeights(
      w2.data(), 16, 32, 32, 6, Mapping::kSymmetricNoClippingErr, DType::kF32,
      ScaleFloor::kSmallestNormal);
  TensorSet plain;
  plain.AddBytes("fc1.qweight", TensorDType::kU8, {32, 32}, packed);
  plain.AddFloats("fc1.scales", DType::kF32, {32, 2}, q1.scale);
  plain.AddFloats("fc1.zeros", DType::kF32, {32, 2}, q1.zero);
  plain.AddBytes("fc2._weight_qdata", TensorDType::kI8, {16, 32}, q2.q);
  plain.AddFloats("fc2._weight_scale", DType::kF32, {16, 1}, q2.scale);
  plain.AddBytes("fc2._weight_zero_point", TensorDType::kI8, {16, 1},
                 q2.zero_point);
  plain.AddFloats("fc2.bias", DType::kF32, {16}, b2);
  plain.AddMetadata("fc2.weight", TorchaoWeightMetadata("int6", "[1, 32]"));
  plain.AddMetadata("fc2.bias", R"({"_type": "Tensor"})");
  plain.AddMetadata("tensor_names", R"(["fc2.weight", "fc2.bias"])");
  Manifest plain_manifest = m;
  plain_manifest.layers[0].source = WeightSource::kInt4Plain;
  plain_manifest.layers[1].source = WeightSource::kTorchaoIntx;

  TempDir dir;
  dir.Write("float/model.json", ManifestToJson(m));
  dir.Write("float/model.safetensors", floats.Serialize());
  dir.Write("plain/model.json", ManifestToJson(plain_manifest));
  dir.Write("plain/model.safetensors", plain.Serialize());
  auto from_float = LoadModelDir(dir.path() + "/float");
  auto from_plain = LoadModelDir(dir.path() + "/plain");
  ASSERT_THAT(from_float, IsOk());
  ASSERT_THAT(from_plain, IsOk());
  const std::vector<float> x = Random(5 * 64, 14, 1.0f);
  for (ActQuant mode : {ActQuant::kNone, ActQuant::kInt8AsymPerToken}) {
    std::vector<float> a, b;
    ASSERT_THAT((*from_float)->Forward(x.data(), 5, 0, 2, mode, &a), IsOk());
    ASSERT_THAT((*from_plain)->Forward(x.data(), 5, 0, 2, mode, &b), IsOk());
    EXPECT_EQ(a, b);
  }
}

// The load of a pre-quantized model holds its packed weights and about one
// slab of source, never a whole layer's tensors or plain codes: the
// high-water mark of the resident set (VmHWM, reset through clear_refs)
// grows by the packed bytes plus less than one layer's source. Two layers of
// 16 MiB of codes each (int4_plain nibble pairs; torchao_intx one code per
// byte).
TEST(LoadModelDirTest, PlainSourceLoadPeakIsThePackedModelAndOneSlab) {
  // The peak is only the load's with glibc's allocator (a sanitizer's
  // keeps freed slabs in quarantine).
  if (!::qlinear::testing::MallocIsGlibcs())
    GTEST_SKIP() << "not glibc's allocator";
  Manifest m;
  m.dtype = DType::kF32;
  LayerSpec l1;
  l1.name = "fc1";
  l1.in_features = 4096;
  l1.out_features = 8192;
  l1.activation = Activation::kSilu;
  l1.format = WeightFormat::kInt4Opaque;
  l1.group_size = 128;
  l1.source = WeightSource::kInt4Plain;
  LayerSpec l2;
  l2.name = "fc2";
  l2.in_features = 8192;
  l2.out_features = 2048;
  l2.bias = true;
  l2.format = WeightFormat::kIntxOpaque;
  l2.group_size = 128;
  l2.bits = 4;
  l2.mapping = Mapping::kSymmetric;
  l2.source = WeightSource::kTorchaoIntx;
  m.layers = {l1, l2};
  TempDir dir;
  {
    TensorSet set;
    std::vector<uint8_t> pairs(8192 * 2048);
    for (size_t i = 0; i < pairs.size(); ++i) {
      pairs[i] = static_cast<uint8_t>(i * 37 + (i >> 11));
    }
    set.AddBytes("fc1.qweight", TensorDType::kU8, {8192, 2048}, pairs);
    set.AddFloats("fc1.scales", DType::kF32, {8192, 32},
                  std::vector<float>(8192 * 32, 0.01f));
    set.AddFloats("fc1.zeros", DType::kF32, {8192, 32},
                  std::vector<float>(8192 * 32, -0.02f));
    std::vector<int8_t> codes(2048 * 8192);
    for (size_t i = 0; i < codes.size(); ++i) {
      codes[i] = static_cast<int8_t>(static_cast<int>((i * 13) % 16) - 8);
    }
    set.AddBytes("fc2._weight_qdata", TensorDType::kI8, {2048, 8192}, codes);
    set.AddFloats("fc2._weight_scale", DType::kF32, {2048, 64},
                  std::vector<float>(2048 * 64, 0.01f));
    set.AddBytes("fc2._weight_zero_point", TensorDType::kI8, {2048, 64},
                 std::vector<int8_t>(2048 * 64, 0));
    set.AddFloats("fc2.bias", DType::kF32, {2048}, Random(2048, 31, 0.1f));
    dir.Write("plain/model.json", ManifestToJson(m));
    dir.Write("plain/model.safetensors", set.Serialize());
  }
  malloc_trim(0);  // the test's own buffers leave the resident set
  const size_t file_bytes =
      std::filesystem::file_size(dir.path() + "/plain/model.safetensors");
  const size_t baseline = ::qlinear::testing::ProcStatusBytes("VmRSS");
  {
    std::ofstream clear_refs("/proc/self/clear_refs");
    clear_refs << "5";  // VmHWM := VmRSS
  }
  if (::qlinear::testing::ProcStatusBytes("VmHWM") >
      ::qlinear::testing::ProcStatusBytes("VmRSS") + (size_t{1} << 20)) {
    GTEST_SKIP() << "cannot reset VmHWM through /proc/self/clear_refs";
  }
  auto stack = LoadModelDir(dir.path() + "/plain");
  ASSERT_THAT(stack, IsOk());
  const size_t peak = ::qlinear::testing::ProcStatusBytes("VmHWM") - baseline;
  const size_t packed = (*stack)->packed_bytes();
  EXPECT_GT(file_bytes, size_t{32} << 20);
  EXPECT_GT(packed, size_t{24} << 20);
  // A layer's source tensors alone are 18 MiB, its plain codes 16 or 32 MiB
  // (whole layers at a time: packed + 48 MiB); streamed, packed + about
  // 7 MiB (slab buffers, the manifest read buffer, allocator slack).
  EXPECT_LT(peak, packed + (size_t{12} << 20))
      << "packed " << packed << ", file " << file_bytes;
}

TEST(LinearStackTest, ForwardChainsLayersAndHonoursRanges) {
  SyntheticModelSpec spec;
  spec.widths = {64, 32, 16};
  spec.group_size = 32;
  auto stack = BuildSyntheticModel(spec);
  ASSERT_THAT(stack, IsOk());
  const std::vector<float> x = Random(2 * 64, 4, 1.0f);
  std::vector<float> hidden, out, direct;
  std::vector<LayerTiming> timings;
  ASSERT_THAT((*stack)->Forward(x.data(), 2, 0, 1, ActQuant::kNone, &hidden),
              IsOk());
  ASSERT_THAT((*stack)->Forward(hidden.data(), 2, 1, 2, ActQuant::kNone, &out),
              IsOk());
  ASSERT_THAT(
      (*stack)->Forward(x.data(), 2, 0, 2, ActQuant::kNone, &direct, &timings),
      IsOk());
  EXPECT_EQ(out, direct);
  ASSERT_EQ(timings.size(), 2u);
  EXPECT_EQ(timings[1].layer, 1u);
  EXPECT_EQ(hidden.size(), 2u * 32);
  EXPECT_EQ(direct.size(), 2u * 16);

  // Matmul skips the activation function of the layer (SiLU on fc1).
  std::vector<float> pre;
  ASSERT_THAT((*stack)->Matmul(0, x.data(), 2, ActQuant::kNone, &pre), IsOk());
  for (size_t i = 0; i < pre.size(); ++i) {
    EXPECT_NEAR(hidden[i], pre[i] / (1.0f + std::exp(-pre[i])), 1e-6f);
  }
  EXPECT_EQ((*stack)->FindLayer("fc2"), 1);
  EXPECT_EQ((*stack)->FindLayer("nope"), -1);
  EXPECT_THAT(
      (*stack)->Forward(x.data(), 2, 1, 1, ActQuant::kNone, &out),
      StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("layer range")));
  EXPECT_THAT(
      (*stack)->Forward(x.data(), 2, 0, 3, ActQuant::kNone, &out),
      StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("layer range")));
}

TEST(DefaultModelTest, ShapeAndDeterminism) {
  const SyntheticModelFiles a = MakeSyntheticModelFiles(SyntheticModelSpec{});
  const SyntheticModelFiles b = MakeSyntheticModelFiles(SyntheticModelSpec{});
  EXPECT_EQ(a.safetensors, b.safetensors);
  ASSERT_EQ(a.manifest.layers.size(), 4u);
  EXPECT_EQ(a.manifest.layers[0].in_features, 1024u);
  EXPECT_EQ(a.manifest.layers[1].in_features, 4096u);
  EXPECT_EQ(a.manifest.layers[2].out_features, 4096u);
  EXPECT_EQ(a.manifest.layers[3].out_features, 1024u);
  EXPECT_EQ(a.manifest.layers[0].activation, Activation::kSilu);
  EXPECT_EQ(a.manifest.layers[3].activation, Activation::kNone);
  for (const LayerSpec& l : a.manifest.layers) {
    EXPECT_EQ(l.format, WeightFormat::kInt4Opaque);
    EXPECT_EQ(l.group_size, 128u);
  }
}

TEST(RepositoryTest, PicksLatestNumericVersion) {
  TempDir dir;
  dir.Write("alpha/1/model.json", "{}");
  dir.Write("alpha/3/model.json", "{}");
  dir.Write("alpha/latest/model.json", "{}");
  dir.Write("beta/2/model.json", "{}");
  dir.Write("stray.txt", "x");
  auto models = ScanRepository(dir.path());
  ASSERT_THAT(models, IsOk());
  ASSERT_EQ(models->size(), 2u);
  EXPECT_EQ((*models)[0].name, "alpha");
  EXPECT_EQ((*models)[0].version, 3);
  EXPECT_EQ((*models)[0].path, dir.path() + "/alpha/3");
  EXPECT_EQ((*models)[1].name, "beta");
  EXPECT_EQ((*models)[1].version, 2);
  EXPECT_THAT(
      ScanRepository(dir.path() + "/nope"),
      StatusIs(absl::StatusCode::kNotFound, HasSubstr("not a directory")));
}

}  // namespace
}  // namespace qlinear::model
