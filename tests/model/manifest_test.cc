#include "model/manifest.h"

#include <functional>
#include <string>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "nlohmann/json.hpp"
#include "tests/testing/status_matchers.h"

namespace qlinear::model {
namespace {

using ::qlinear::testing::IsOk;
using ::qlinear::testing::StatusIs;
using ::testing::HasSubstr;
using json = nlohmann::json;

// Uses every key, with non-default values where there is a choice.
const char kFullManifest[] = R"({
  "dtype": "bf16",
  "default_act_quant": "int8_asym_per_token",
  "scale_floor": "finfo_eps",
  "layers": [
    {"name": "fc1", "in_features": 256, "out_features": 512, "bias": true,
     "activation": "silu", "format": "int4_opaque", "group_size": 128,
     "source": "int4_plain"},
    {"name": "fc2", "in_features": 512, "out_features": 96, "bias": false,
     "activation": "gelu_tanh", "format": "intx_opaque", "group_size": 512,
     "bits": 3, "mapping": "asymmetric", "source": "torchao_intx"},
    {"name": "head.out-1", "in_features": 96, "out_features": 10,
     "activation": "gelu", "format": "fp32", "source": "float"}
  ],
  "batching": {"max_batch_rows": 64, "max_queue_delay_us": 500,
               "adaptive_delay": true, "max_queue_rows": 1024},
  "quality_sample_rate": 0.25
})";

void ExpectLayerEq(const LayerSpec& a, const LayerSpec& b) {
  EXPECT_EQ(a.name, b.name);
  EXPECT_EQ(a.in_features, b.in_features);
  EXPECT_EQ(a.out_features, b.out_features);
  EXPECT_EQ(a.bias, b.bias);
  EXPECT_EQ(a.activation, b.activation);
  EXPECT_EQ(a.format, b.format);
  EXPECT_EQ(a.group_size, b.group_size);
  EXPECT_EQ(a.bits, b.bits);
  EXPECT_EQ(a.mapping, b.mapping);
  EXPECT_EQ(a.source, b.source);
}

void ExpectManifestEq(const Manifest& a, const Manifest& b) {
  EXPECT_EQ(a.dtype, b.dtype);
  EXPECT_EQ(a.default_act_quant, b.default_act_quant);
  EXPECT_EQ(a.scale_floor, b.scale_floor);
  ASSERT_EQ(a.layers.size(), b.layers.size());
  for (size_t i = 0; i < a.layers.size(); ++i) {
    SCOPED_TRACE(i);
    ExpectLayerEq(a.layers[i], b.layers[i]);
  }
  EXPECT_EQ(a.batching.max_batch_rows, b.batching.max_batch_rows);
  EXPECT_EQ(a.batching.max_queue_delay_us, b.batching.max_queue_delay_us);
  EXPECT_EQ(a.batching.adaptive_delay, b.batching.adaptive_delay);
  EXPECT_EQ(a.batching.max_queue_rows, b.batching.max_queue_rows);
  EXPECT_EQ(a.quality_sample_rate, b.quality_sample_rate);
}

TEST(ManifestTest, ParsesFullManifest) {
  auto m = ParseManifest(kFullManifest);
  ASSERT_THAT(m, IsOk());
  EXPECT_EQ(m->dtype, DType::kBF16);
  EXPECT_EQ(m->default_act_quant, ActQuant::kInt8AsymPerToken);
  EXPECT_EQ(m->scale_floor, ScaleFloor::kFinfoEps);
  ASSERT_EQ(m->layers.size(), 3u);

  const LayerSpec& fc1 = m->layers[0];
  EXPECT_EQ(fc1.name, "fc1");
  EXPECT_EQ(fc1.in_features, 256u);
  EXPECT_EQ(fc1.out_features, 512u);
  EXPECT_TRUE(fc1.bias);
  EXPECT_EQ(fc1.activation, Activation::kSilu);
  EXPECT_EQ(fc1.format, WeightFormat::kInt4Opaque);
  EXPECT_EQ(fc1.group_size, 128u);
  EXPECT_EQ(fc1.bits, 4);
  EXPECT_EQ(fc1.source, WeightSource::kInt4Plain);

  const LayerSpec& fc2 = m->layers[1];
  EXPECT_FALSE(fc2.bias);
  EXPECT_EQ(fc2.activation, Activation::kGeluTanh);
  EXPECT_EQ(fc2.format, WeightFormat::kIntxOpaque);
  EXPECT_EQ(fc2.group_size, 512u);  // per channel
  EXPECT_EQ(fc2.bits, 3);
  EXPECT_EQ(fc2.mapping, Mapping::kAsymmetric);
  EXPECT_EQ(fc2.source, WeightSource::kTorchaoIntx);

  const LayerSpec& head = m->layers[2];
  EXPECT_EQ(head.name, "head.out-1");
  EXPECT_EQ(head.activation, Activation::kGelu);
  EXPECT_EQ(head.format, WeightFormat::kFp32);
  EXPECT_EQ(head.group_size, 0u);
  EXPECT_EQ(head.source, WeightSource::kFloat);

  EXPECT_EQ(m->batching.max_batch_rows, 64);
  EXPECT_EQ(m->batching.max_queue_delay_us, 500);
  EXPECT_TRUE(m->batching.adaptive_delay);
  EXPECT_EQ(m->batching.max_queue_rows, 1024);
  EXPECT_EQ(m->quality_sample_rate, 0.25);
}

TEST(ManifestTest, AppliesDefaults) {
  auto m = ParseManifest(R"({"dtype": "fp16", "layers": [
      {"name": "a", "in_features": 64, "out_features": 8,
       "format": "intx_opaque", "group_size": 32, "bits": 1}]})");
  ASSERT_THAT(m, IsOk());
  EXPECT_EQ(m->default_act_quant, ActQuant::kNone);
  EXPECT_EQ(m->scale_floor, ScaleFloor::kSmallestNormal);
  const LayerSpec& a = m->layers[0];
  EXPECT_FALSE(a.bias);
  EXPECT_EQ(a.activation, Activation::kNone);
  EXPECT_EQ(a.bits, 1);
  EXPECT_EQ(a.mapping, Mapping::kSymmetric);
  EXPECT_EQ(a.source, WeightSource::kFloat);
  EXPECT_EQ(m->batching.max_batch_rows, 256);
  EXPECT_EQ(m->batching.max_queue_delay_us, 0);
  EXPECT_FALSE(m->batching.adaptive_delay);
  EXPECT_EQ(m->batching.max_queue_rows, 4096);
  EXPECT_FALSE(m->quality_sample_rate.has_value());
}

TEST(ManifestTest, AcceptsLimits) {
  auto m = ParseManifest(R"({"dtype": "fp32", "layers": [
      {"name": "A-z_0.9", "in_features": 1048576, "out_features": 1,
       "format": "intx_opaque", "group_size": 256, "bits": 8,
       "mapping": "symmetric_no_clipping_err"},
      {"name": "b", "in_features": 1, "out_features": 1048576,
       "format": "intx_opaque", "group_size": 1, "bits": 2,
       "mapping": "symmetric_no_clipping_err"}],
      "batching": {"max_batch_rows": 65536, "max_queue_delay_us": 10000000,
                   "max_queue_rows": 16777216}})");
  ASSERT_THAT(m, IsOk());
  EXPECT_EQ(m->layers[1].group_size, 1u);  // per channel, K = 1
}

TEST(ManifestTest, QualitySampleRateTakesIntegersAndFractionsInRange) {
  for (const auto& [text, rate] : {std::pair<const char*, double>{"0", 0.0},
                                   {"1", 1.0},
                                   {"1.0", 1.0},
                                   {"0.001", 0.001}}) {
    SCOPED_TRACE(text);
    json j = json::parse(kFullManifest);
    j["quality_sample_rate"] = json::parse(text);
    auto m = ParseManifest(j.dump());
    ASSERT_THAT(m, IsOk());
    EXPECT_EQ(m->quality_sample_rate, rate);
  }
}

TEST(ManifestTest, RoundTripsThroughCanonicalJson) {
  auto m = ParseManifest(kFullManifest);
  ASSERT_THAT(m, IsOk());
  const std::string text = ManifestToJson(*m);
  auto again = ParseManifest(text);
  ASSERT_THAT(again, IsOk()) << text;
  ExpectManifestEq(*m, *again);
  EXPECT_EQ(ManifestToJson(*again), text);

  // Every key is explicit (the sample rate when the manifest sets it), and
  // only the keys that apply to the format.
  const json j = json::parse(text);
  EXPECT_EQ(j.size(), 6u);
  EXPECT_EQ(j["quality_sample_rate"], 0.25);
  EXPECT_EQ(j["default_act_quant"], "int8_asym_per_token");
  EXPECT_EQ(j["batching"]["max_queue_delay_us"], 500);
  EXPECT_EQ(j["batching"]["adaptive_delay"], true);
  const json& layers = j["layers"];
  EXPECT_EQ(layers[0].size(), 8u);
  EXPECT_FALSE(layers[0].contains("bits"));
  EXPECT_FALSE(layers[0].contains("mapping"));
  EXPECT_EQ(layers[1].size(), 10u);
  EXPECT_EQ(layers[1]["mapping"], "asymmetric");
  EXPECT_EQ(layers[2].size(), 7u);
  EXPECT_FALSE(layers[2].contains("group_size"));
  EXPECT_EQ(layers[2]["bias"], false);
}

TEST(ManifestTest, RoundTripsEveryEnumValue) {
  Manifest m;
  m.dtype = DType::kF16;
  m.scale_floor = ScaleFloor::kFinfoEps;
  const Activation activations[] = {Activation::kNone, Activation::kRelu,
                                    Activation::kGelu, Activation::kGeluTanh,
                                    Activation::kSilu};
  const Mapping mappings[] = {Mapping::kSymmetric, Mapping::kAsymmetric,
                              Mapping::kSymmetricNoClippingErr};
  for (int i = 0; i < 5; ++i) {
    LayerSpec layer;
    layer.name = "l" + std::to_string(i);
    layer.in_features = 64;
    layer.out_features = 64;
    layer.bias = i % 2 == 0;
    layer.activation = activations[i];
    layer.format = WeightFormat::kIntxOpaque;
    layer.group_size =
        16 * (i + 1) <= 64 && 64 % (16 * (i + 1)) == 0 ? 16 * (i + 1) : 64;
    layer.bits = 2 + i;
    layer.mapping = mappings[i % 3];
    layer.source = WeightSource::kTorchaoIntx;
    m.layers.push_back(layer);
  }
  m.batching.max_batch_rows = 1;
  m.batching.max_queue_delay_us = 7;
  m.batching.adaptive_delay = true;
  m.batching.max_queue_rows = 1;
  m.quality_sample_rate = 0.01;
  auto again = ParseManifest(ManifestToJson(m));
  ASSERT_THAT(again, IsOk()) << ManifestToJson(m);
  ExpectManifestEq(m, *again);
}

TEST(ManifestTest, WeightSourceNames) {
  EXPECT_EQ(WeightSourceName(WeightSource::kFloat), "float");
  EXPECT_EQ(WeightSourceName(WeightSource::kInt4Plain), "int4_plain");
  EXPECT_EQ(WeightSourceName(WeightSource::kTorchaoIntx), "torchao_intx");
}

struct BadCase {
  const char* label;
  std::function<void(json&)> mutate;  // applied to kFullManifest
  const char* message;                // expected substring
};

std::vector<BadCase> BadCases() {
  return {
      // Top level.
      {"top-level array", [](json& j) { j = json::array({j}); },
       "manifest: expected a JSON object, got an array"},
      {"top-level unknown key", [](json& j) { j["layer"] = json::array(); },
       "manifest: unknown key 'layer'"},
      {"dtype missing", [](json& j) { j.erase("dtype"); }, "dtype: missing"},
      {"dtype wrong type", [](json& j) { j["dtype"] = 32; },
       "dtype: expected a string, got 32"},
      {"dtype unknown", [](json& j) { j["dtype"] = "fp64"; },
       "dtype: 'fp64' is not one of fp32, bf16, fp16"},
      {"dtype wrong case", [](json& j) { j["dtype"] = "FP32"; },
       "dtype: 'FP32' is not one of"},
      {"default_act_quant unknown",
       [](json& j) { j["default_act_quant"] = "int8"; },
       "default_act_quant: 'int8' is not one of none, int8_asym_per_token"},
      {"scale_floor unknown", [](json& j) { j["scale_floor"] = "eps"; },
       "scale_floor: 'eps' is not one of smallest_normal, finfo_eps"},
      {"scale_floor wrong type", [](json& j) { j["scale_floor"] = nullptr; },
       "scale_floor: expected a string, got null"},
      {"layers missing", [](json& j) { j.erase("layers"); }, "layers: missing"},
      {"layers wrong type", [](json& j) { j["layers"] = json::object(); },
       "layers: expected an array, got an object"},
      {"layers empty", [](json& j) { j["layers"] = json::array(); },
       "layers: empty"},
      // Layer keys and types.
      {"layer not an object", [](json& j) { j["layers"][1] = 5; },
       "layers[1]: expected an object, got 5"},
      {"layer unknown key", [](json& j) { j["layers"][1]["formatt"] = "fp32"; },
       "layers[1]: unknown key 'formatt'"},
      {"name missing", [](json& j) { j["layers"][0].erase("name"); },
       "layers[0].name: missing"},
      {"name wrong type", [](json& j) { j["layers"][0]["name"] = 1; },
       "layers[0].name: expected a string, got 1"},
      {"name empty", [](json& j) { j["layers"][0]["name"] = ""; },
       "layers[0].name: empty"},
      {"name with space", [](json& j) { j["layers"][0]["name"] = "fc 1"; },
       "layers[0].name: 'fc 1' has a character outside [A-Za-z0-9_.-]"},
      {"name with slash", [](json& j) { j["layers"][0]["name"] = "a/b"; },
       "layers[0].name: 'a/b' has a character outside"},
      {"name duplicate", [](json& j) { j["layers"][2]["name"] = "fc1"; },
       "layers[2].name: 'fc1' duplicates layers[0].name"},
      {"in_features missing",
       [](json& j) { j["layers"][0].erase("in_features"); },
       "layers[0].in_features: missing"},
      {"out_features missing",
       [](json& j) { j["layers"][2].erase("out_features"); },
       "layers[2].out_features: missing"},
      {"in_features zero", [](json& j) { j["layers"][0]["in_features"] = 0; },
       "layers[0].in_features: 0 is out of range [1, 1048576]"},
      {"in_features negative",
       [](json& j) { j["layers"][0]["in_features"] = -256; },
       "layers[0].in_features: -256 is out of range [1, 1048576]"},
      {"in_features too large",
       [](json& j) { j["layers"][0]["in_features"] = 1048577; },
       "layers[0].in_features: 1048577 is out of range [1, 1048576]"},
      {"in_features above int64",
       [](json& j) { j["layers"][0]["in_features"] = 18446744073709551615ull; },
       "layers[0].in_features: 18446744073709551615 is out of range"},
      {"out_features float",
       [](json& j) { j["layers"][2]["out_features"] = 10.0; },
       "layers[2].out_features: expected an integer, got 10.0"},
      {"out_features huge float",
       [](json& j) { j["layers"][2]["out_features"] = 1e30; },
       "layers[2].out_features: expected an integer, got 1e+30"},
      {"out_features string",
       [](json& j) { j["layers"][2]["out_features"] = "10"; },
       "layers[2].out_features: expected an integer, got \"10\""},
      {"bias string", [](json& j) { j["layers"][0]["bias"] = "yes"; },
       "layers[0].bias: expected a boolean, got \"yes\""},
      {"bias number", [](json& j) { j["layers"][0]["bias"] = 1; },
       "layers[0].bias: expected a boolean, got 1"},
      {"activation unknown",
       [](json& j) { j["layers"][0]["activation"] = "tanh"; },
       "layers[0].activation: 'tanh' is not one of none, relu, gelu, "
       "gelu_tanh, silu"},
      {"format missing", [](json& j) { j["layers"][1].erase("format"); },
       "layers[1].format: missing"},
      {"format unknown", [](json& j) { j["layers"][1]["format"] = "int8"; },
       "layers[1].format: 'int8' is not one of int4_opaque, intx_opaque, "
       "fp32"},
      // Group sizes.
      {"int4 group_size 100",
       [](json& j) { j["layers"][0]["group_size"] = 100; },
       "layers[0].group_size: 100 is not one of 32, 64, 128, 256"},
      {"int4 group_size 16", [](json& j) { j["layers"][0]["group_size"] = 16; },
       "layers[0].group_size: 16 is not one of 32, 64, 128, 256"},
      {"int4 group_size per channel",
       [](json& j) { j["layers"][0]["group_size"] = 256 * 2; },
       "layers[0].group_size: 512 is not one of 32, 64, 128, 256"},
      {"int4 group_size missing",
       [](json& j) { j["layers"][0].erase("group_size"); },
       "layers[0].group_size: missing (required for format int4_opaque)"},
      {"int4 group_size string",
       [](json& j) { j["layers"][0]["group_size"] = "128"; },
       "layers[0].group_size: expected an integer, got \"128\""},
      {"intx group_size missing",
       [](json& j) { j["layers"][1].erase("group_size"); },
       "layers[1].group_size: missing (required for format intx_opaque)"},
      {"intx group_size 24", [](json& j) { j["layers"][1]["group_size"] = 24; },
       "layers[1].group_size: 24 is neither a multiple of 16 in [16, 256] "
       "nor in_features (512, per channel)"},
      {"intx group_size 272",
       [](json& j) { j["layers"][1]["group_size"] = 272; },
       "layers[1].group_size: 272 is neither a multiple of 16"},
      {"intx group_size 0", [](json& j) { j["layers"][1]["group_size"] = 0; },
       "layers[1].group_size: 0 is neither a multiple of 16"},
      {"intx group_size negative",
       [](json& j) { j["layers"][1]["group_size"] = -16; },
       "layers[1].group_size: -16 is neither a multiple of 16"},
      {"intx group_size does not divide",
       [](json& j) {
         j["layers"][0]["out_features"] = 96;
         j["layers"][1]["in_features"] = 96;
         j["layers"][1]["group_size"] = 64;
       },
       "layers[1].group_size: in_features 96 is not a multiple of group_size "
       "64"},
      {"int4 group_size does not divide",
       [](json& j) {
         j["layers"][0]["in_features"] = 96;
         j["layers"][0]["group_size"] = 64;
       },
       "layers[0].group_size: in_features 96 is not a multiple of group_size "
       "64"},
      {"fp32 group_size", [](json& j) { j["layers"][2]["group_size"] = 32; },
       "layers[2].group_size: not allowed for format fp32"},
      // Bits and mapping.
      {"int4 bits", [](json& j) { j["layers"][0]["bits"] = 4; },
       "layers[0].bits: only allowed for format intx_opaque, not int4_opaque"},
      {"fp32 bits", [](json& j) { j["layers"][2]["bits"] = 8; },
       "layers[2].bits: only allowed for format intx_opaque, not fp32"},
      {"int4 mapping", [](json& j) { j["layers"][0]["mapping"] = "symmetric"; },
       "layers[0].mapping: only allowed for format intx_opaque, not "
       "int4_opaque"},
      {"intx bits missing", [](json& j) { j["layers"][1].erase("bits"); },
       "layers[1].bits: missing (required for format intx_opaque)"},
      {"intx bits 0", [](json& j) { j["layers"][1]["bits"] = 0; },
       "layers[1].bits: 0 is out of range [1, 8]"},
      {"intx bits 9", [](json& j) { j["layers"][1]["bits"] = 9; },
       "layers[1].bits: 9 is out of range [1, 8]"},
      {"intx bits bool", [](json& j) { j["layers"][1]["bits"] = true; },
       "layers[1].bits: expected an integer, got true"},
      {"intx mapping unknown",
       [](json& j) { j["layers"][1]["mapping"] = "sym"; },
       "layers[1].mapping: 'sym' is not one of symmetric, asymmetric, "
       "symmetric_no_clipping_err"},
      {"intx bits 1 no clipping err",
       [](json& j) {
         j["layers"][1]["bits"] = 1;
         j["layers"][1]["mapping"] = "symmetric_no_clipping_err";
       },
       "layers[1].mapping: symmetric_no_clipping_err needs bits >= 2"},
      // Sources.
      {"source unknown", [](json& j) { j["layers"][0]["source"] = "int4"; },
       "layers[0].source: 'int4' is not one of float, int4_plain, "
       "torchao_intx"},
      {"int4_plain with intx",
       [](json& j) { j["layers"][1]["source"] = "int4_plain"; },
       "layers[1].source: int4_plain needs format int4_opaque, not "
       "intx_opaque"},
      {"torchao_intx with int4",
       [](json& j) { j["layers"][0]["source"] = "torchao_intx"; },
       "layers[0].source: torchao_intx needs format intx_opaque, not "
       "int4_opaque"},
      {"int4_plain with fp32",
       [](json& j) { j["layers"][2]["source"] = "int4_plain"; },
       "layers[2].source: int4_plain needs format int4_opaque, not fp32"},
      {"torchao_intx with fp32",
       [](json& j) { j["layers"][2]["source"] = "torchao_intx"; },
       "layers[2].source: torchao_intx needs format intx_opaque, not fp32"},
      // Chaining.
      {"chain mismatch", [](json& j) { j["layers"][2]["in_features"] = 95; },
       "layers[2].in_features: 95 does not match layers[1].out_features 96"},
      {"chain mismatch after first",
       [](json& j) { j["layers"][0]["out_features"] = 256; },
       "layers[1].in_features: 512 does not match layers[0].out_features 256"},
      // Batching.
      {"batching wrong type", [](json& j) { j["batching"] = json::array(); },
       "batching: expected an object, got an array"},
      {"batching unknown key",
       [](json& j) { j["batching"]["max_delay_us"] = 5; },
       "batching: unknown key 'max_delay_us'"},
      {"max_batch_rows zero",
       [](json& j) { j["batching"]["max_batch_rows"] = 0; },
       "batching.max_batch_rows: 0 is out of range [1, 65536]"},
      {"max_batch_rows too large",
       [](json& j) { j["batching"]["max_batch_rows"] = 65537; },
       "batching.max_batch_rows: 65537 is out of range [1, 65536]"},
      {"max_queue_delay_us negative",
       [](json& j) { j["batching"]["max_queue_delay_us"] = -1; },
       "batching.max_queue_delay_us: -1 is out of range [0, 10000000]"},
      {"max_queue_delay_us too large",
       [](json& j) { j["batching"]["max_queue_delay_us"] = 10000001; },
       "batching.max_queue_delay_us: 10000001 is out of range [0, 10000000]"},
      {"max_queue_delay_us wrong type",
       [](json& j) { j["batching"]["max_queue_delay_us"] = "0"; },
       "batching.max_queue_delay_us: expected an integer, got \"0\""},
      {"adaptive_delay wrong type",
       [](json& j) { j["batching"]["adaptive_delay"] = 1; },
       "batching.adaptive_delay: expected a boolean, got 1"},
      {"adaptive_delay without a bound",
       [](json& j) {
         j["batching"]["adaptive_delay"] = true;
         j["batching"]["max_queue_delay_us"] = 0;
       },
       "batching.adaptive_delay: true needs max_queue_delay_us > 0 (its "
       "bound)"},
      {"max_queue_rows too large",
       [](json& j) { j["batching"]["max_queue_rows"] = 16777217; },
       "batching.max_queue_rows: 16777217 is out of range [1, 16777216]"},
      {"max_queue_rows below max_batch_rows",
       [](json& j) { j["batching"]["max_queue_rows"] = 32; },
       "batching.max_queue_rows: 32 is less than max_batch_rows 64"},
      {"default max_queue_rows below max_batch_rows",
       [](json& j) {
         j["batching"].erase("max_queue_rows");
         j["batching"]["max_batch_rows"] = 8192;
       },
       "batching.max_queue_rows: 4096 (the default) is less than "
       "max_batch_rows 8192"},
      {"quality_sample_rate wrong type",
       [](json& j) { j["quality_sample_rate"] = "0.1"; },
       "quality_sample_rate: expected a number, got \"0.1\""},
      {"quality_sample_rate above 1",
       [](json& j) { j["quality_sample_rate"] = 1.5; },
       "quality_sample_rate: 1.5 is out of range [0, 1]"},
      {"quality_sample_rate negative",
       [](json& j) { j["quality_sample_rate"] = -1; },
       "quality_sample_rate: -1 is out of range [0, 1]"},
  };
}

TEST(ManifestTest, RejectsBadManifests) {
  for (const BadCase& c : BadCases()) {
    SCOPED_TRACE(c.label);
    json j = json::parse(kFullManifest);
    c.mutate(j);
    EXPECT_THAT(
        ParseManifest(j.dump()),
        StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr(c.message)));
  }
}

// Cases that a json value cannot express: bad text and duplicate keys.
TEST(ManifestTest, RejectsBadText) {
  const struct {
    std::string text;
    const char* message;
  } cases[] = {
      {"", "manifest: not valid JSON"},
      {"{", "manifest: not valid JSON"},
      {R"({"dtype": "fp32",})", "manifest: not valid JSON"},
      {R"({"dtype": "fp32"} {})", "manifest: not valid JSON"},
      {"// comment\n{}", "manifest: not valid JSON"},
      {R"({"dtype": "fp32", "dtype": "bf16", "layers": []})",
       "manifest: duplicate key 'dtype'"},
      {R"({"dtype": "fp32", "layers": [{"name": "a"}, {"name": "b",
          "bits": 2, "bits": 3}]})",
       "layers[1]: duplicate key 'bits'"},
      {R"({"dtype": "fp32", "layers": [], "batching": {"max_batch_rows": 1,
          "max_batch_rows": 2}})",
       "batching: duplicate key 'max_batch_rows'"},
      {R"({"dtype": "fp32", "layers": [{"name": "a\u0000"}]})",
       "layers[0].name: 'a\\x00' has a character outside"},
      {std::string(R"({"layers": )") + std::string(100, '[') +
           std::string(100, ']') + "}",
       "manifest: JSON nests deeper than 64 levels"},
  };
  for (const auto& c : cases) {
    SCOPED_TRACE(c.text);
    EXPECT_THAT(
        ParseManifest(c.text),
        StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr(c.message)));
  }
}

}  // namespace
}  // namespace qlinear::model
