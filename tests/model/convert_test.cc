// qlinear-convert's library: spec parsing, conversion of a float checkpoint
// into quantized plain tensors (with torchao metadata for intx layers), and
// the round trip through a model directory, which must compute exactly what
// the float checkpoint quantized at load computes.
#include "model/convert.h"

#include <unistd.h>

#include <cmath>
#include <filesystem>
#include <random>
#include <string>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "model/loader.h"
#include "model/tensor_set.h"
#include "tests/testing/status_matchers.h"

namespace qlinear::model {
namespace {

using ::qlinear::testing::IsOk;
using ::qlinear::testing::StatusIs;
using ::testing::HasSubstr;

// Owns tensor bytes of a float checkpoint.
class Checkpoint {
 public:
  void AddFloats(const std::string& name, DType t, std::vector<int64_t> shape,
                 uint32_t seed, float scale) {
    size_t count = 1;
    for (int64_t d : shape) count *= static_cast<size_t>(d);
    std::mt19937 rng(seed);
    std::normal_distribution<float> dist(0.0f, scale);
    std::vector<float> v(count);
    for (float& x : v) x = dist(rng);
    tensors_.AddFloats(name, t, std::move(shape), v);
  }
  std::unique_ptr<SafetensorsFile> Open() {
    text_ = tensors_.Serialize();
    auto file = SafetensorsFile::Parse(
        reinterpret_cast<const uint8_t*>(text_.data()), text_.size());
    EXPECT_TRUE(file.ok()) << file.status();
    return std::move(*file);
  }

 private:
  TensorSet tensors_;
  std::string text_;
};

class TempDir {
 public:
  TempDir()
      : path_(std::filesystem::temp_directory_path() /
              ("qlinear_convert_test_" + std::to_string(::getpid()) + "_" +
               std::to_string(counter_++))) {}
  ~TempDir() { std::filesystem::remove_all(path_); }
  std::string path() const { return path_.string(); }

 private:
  static inline int counter_ = 0;
  std::filesystem::path path_;
};

// Layers "2" (64 -> 96), "10" (96 -> 40, no bias), "11" (40 -> 24).
std::unique_ptr<SafetensorsFile> ThreeLayers(Checkpoint* c, DType t) {
  c->AddFloats("10.weight", t, {40, 96}, 2, 0.1f);
  c->AddFloats("2.weight", t, {96, 64}, 1, 0.1f);
  c->AddFloats("2.bias", t, {96}, 3, 0.1f);
  c->AddFloats("11.weight", t, {24, 40}, 4, 0.1f);
  c->AddFloats("11.bias", t, {24}, 5, 0.1f);
  return c->Open();
}

TEST(ConvertSpecTest, ParsesDefaultsAndPerLayerOverrides) {
  auto spec = ParseConvertSpec(R"({
      "dtype": "bf16", "format": "intx_opaque", "bits": 3,
      "mapping": "asymmetric", "activation": "relu",
      "layers": [{"name": "a", "group_size": "per_channel"},
                 {"name": "b", "format": "int4_opaque", "group_size": 64,
                  "activation": "none"}]})");
  ASSERT_THAT(spec, IsOk());
  EXPECT_TRUE(spec->has_dtype);
  EXPECT_EQ(spec->dtype, DType::kBF16);
  ASSERT_EQ(spec->layers.size(), 2u);
  EXPECT_EQ(spec->layers[0].format, WeightFormat::kIntxOpaque);
  EXPECT_TRUE(spec->layers[0].per_channel);
  EXPECT_EQ(spec->layers[0].bits, 3);
  EXPECT_EQ(spec->layers[0].activation, Activation::kRelu);
  EXPECT_EQ(spec->layers[1].format, WeightFormat::kInt4Opaque);
  EXPECT_EQ(spec->layers[1].group_size, 64u);
  EXPECT_EQ(spec->layers[1].activation, Activation::kNone);
}

TEST(ConvertSpecTest, RejectsBadSpecsNamingTheKey) {
  const std::pair<const char*, const char*> cases[] = {
      {R"({"format": "int4_opaque", "colour": 1})", "unknown key 'colour'"},
      {R"({"format": "intx_opaque", "bits": 0})", "spec: bits: expected an"},
      {R"({"format": "int5"})", "spec: format: 'int5' is not one of"},
      {R"({"group_size": 32})", "spec: format: missing"},
      {R"({"layers": [{"name": "a"}]})", "spec: layers[0].format: missing"},
      {R"({"format": "fp32", "group_size": "rows"})",
       "spec: group_size: expected a positive integer"},
      {R"({"format": "fp32", "layers": []})", "spec: layers: expected a"},
      {R"([1])", "spec: expected a JSON object"},
      {R"({"format": "fp32",)", "spec: not valid JSON"},
  };
  for (const auto& [text, message] : cases) {
    EXPECT_THAT(
        ParseConvertSpec(text),
        StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr(message)))
        << text;
  }
}

TEST(ConvertTest, DiscoversLayersInNaturalOrderAndRoundTrips) {
  for (DType t : {DType::kF32, DType::kBF16, DType::kF16}) {
    Checkpoint c;
    auto input = ThreeLayers(&c, t);
    auto spec = ParseConvertSpec(
        R"({"format": "intx_opaque", "group_size": 8, "bits": 2})");
    ASSERT_THAT(spec, IsOk());
    // 8 is not a valid intx group size: the manifest's rules apply.
    EXPECT_THAT(Convert(*input, *spec),
                StatusIs(absl::StatusCode::kInvalidArgument,
                         HasSubstr("layers[0].group_size: 8 is neither")));
    spec = ParseConvertSpec(
        R"({"format": "intx_opaque", "group_size": "per_channel", "bits": 2,
            "default_act_quant": "int8_asym_per_token"})");
    ASSERT_THAT(spec, IsOk());
    auto result = Convert(*input, *spec);
    ASSERT_THAT(result, IsOk());
    ASSERT_EQ(result->manifest.layers.size(), 3u);
    EXPECT_EQ(result->manifest.dtype, t);  // from the weights
    EXPECT_EQ(result->manifest.layers[0].name, "2");
    EXPECT_EQ(result->manifest.layers[1].name, "10");
    EXPECT_EQ(result->manifest.layers[2].name, "11");
    EXPECT_FALSE(result->manifest.layers[1].bias);
    for (const LayerSpec& l : result->manifest.layers) {
      EXPECT_EQ(l.source, WeightSource::kTorchaoIntx);
      EXPECT_EQ(l.group_size, l.in_features);
    }
    TempDir dir;
    ASSERT_THAT(WriteModelDirectory(dir.path(), *result), IsOk());
    EXPECT_THAT(
        VerifyConvertedModel(dir.path(), result->float_manifest, *input),
        IsOk());
    // The file carries torchao's metadata, which the loader cross-checks.
    auto written = SafetensorsFile::Open(dir.path() + "/model.safetensors");
    ASSERT_THAT(written, IsOk());
    const auto& meta = (*written)->metadata();
    ASSERT_EQ(meta.count("10.weight"), 1u);
    EXPECT_THAT(meta.at("10.weight"), HasSubstr(R"("block_size":[1,96])"));
    EXPECT_THAT(meta.at("10.weight"), HasSubstr(R"("_data":"int2")"));
    EXPECT_THAT(meta.at("tensor_names"),
                HasSubstr(R"(["2.weight","2.bias","10.weight")"));
    EXPECT_EQ(meta.count("10.bias"), 0u);
  }
}

TEST(ConvertTest, PerLayerFormatsToEverySource) {
  Checkpoint c;
  auto input = ThreeLayers(&c, DType::kF32);
  auto spec = ParseConvertSpec(R"({
      "dtype": "bf16",
      "layers": [
        {"name": "2", "format": "int4_opaque", "group_size": 32,
         "activation": "silu"},
        {"name": "10", "format": "intx_opaque", "group_size": 32, "bits": 7,
         "mapping": "symmetric_no_clipping_err", "activation": "gelu"},
        {"name": "11", "format": "fp32"}]})");
  ASSERT_THAT(spec, IsOk());
  auto result = Convert(*input, *spec);
  ASSERT_THAT(result, IsOk());
  const Manifest& m = result->manifest;
  EXPECT_EQ(m.dtype, DType::kBF16);
  EXPECT_EQ(m.layers[0].source, WeightSource::kInt4Plain);
  EXPECT_EQ(m.layers[0].activation, Activation::kSilu);
  EXPECT_EQ(m.layers[1].source, WeightSource::kTorchaoIntx);
  EXPECT_EQ(m.layers[1].bits, 7);
  EXPECT_EQ(m.layers[2].source, WeightSource::kFloat);
  for (const LayerSpec& l : result->float_manifest.layers) {
    EXPECT_EQ(l.source, WeightSource::kFloat);
  }
  ASSERT_EQ(result->layers.size(), 3u);
  // int4: 0.5 byte per weight + scales and zeros + bias, all bf16.
  EXPECT_EQ(result->layers[0].bytes, 96u * 32 + 2 * 96 * 2 * 2 + 96 * 2);
  EXPECT_GT(result->layers[0].weight_sqnr_db, 15.0);
  EXPECT_GT(result->layers[1].weight_sqnr_db, 35.0);
  EXPECT_GT(result->layers[2].weight_sqnr_db, 40.0);  // bf16 rounding only
  EXPECT_GT(result->layers[1].packed_bytes, 0u);
  const std::string summary = FormatConvertSummary(*result);
  EXPECT_THAT(summary, HasSubstr("int4_opaque gs32"));
  EXPECT_THAT(summary,
              HasSubstr("intx_opaque b7 gs32 symmetric_no_clipping_err"));
  EXPECT_THAT(summary, HasSubstr("[40, 96]"));
  EXPECT_THAT(summary, HasSubstr("dtype bf16"));
  TempDir dir;
  ASSERT_THAT(WriteModelDirectory(dir.path(), *result), IsOk());
  EXPECT_THAT(VerifyConvertedModel(dir.path(), result->float_manifest, *input,
                                   /*rows=*/9),
              IsOk());
}

TEST(ConvertTest, RejectsBadCheckpoints) {
  Checkpoint c;
  auto input = ThreeLayers(&c, DType::kF32);
  const std::pair<const char*, const char*> cases[] = {
      {R"({"layers": [{"name": "3", "format": "fp32"}]})",
       "tensor '3.weight': missing (needed by layer '3')"},
      {R"({"layers": [{"name": "11", "format": "fp32"},
                      {"name": "2", "format": "fp32"}]})",
       "layers[1].in_features: 64 does not match layers[0].out_features 24"},
      {R"({"layers": [{"name": "2", "format": "int4_opaque",
                       "group_size": "per_channel"}]})",
       "int4_opaque has no per-channel group size"},
      {R"({"layers": [{"name": "10", "format": "int4_opaque",
                       "group_size": 64}]})",
       "in_features 96 is not a multiple of group_size 64"},
  };
  for (const auto& [text, message] : cases) {
    auto spec = ParseConvertSpec(text);
    ASSERT_THAT(spec, IsOk()) << text;
    EXPECT_THAT(
        Convert(*input, *spec),
        StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr(message)))
        << text;
  }
  Checkpoint vector;
  vector.AddFloats("a.weight", DType::kF32, {16}, 1, 1.0f);
  auto one_d = vector.Open();
  auto spec = ParseConvertSpec(R"({"format": "fp32"})");
  ASSERT_THAT(spec, IsOk());
  EXPECT_THAT(Convert(*one_d, *spec),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("tensor 'a.weight': F32 [16], expected a "
                                 "float [out_features, in_features] matrix")));
}

}  // namespace
}  // namespace qlinear::model
