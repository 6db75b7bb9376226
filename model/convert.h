// Conversion of a float checkpoint into a qlinear model directory with
// quantized plain tensors: the library behind qlinear-convert
// (tools/convert/). Pure functions of their arguments; thread-safe.
//
// The spec is a small JSON object. Every key is optional except that each
// layer needs a format (given once for all layers, or per layer):
//
//   {
//     "dtype": "bf16",                  model dtype (default: the dtype of
//                                       the first weight tensor)
//     "default_act_quant": "none",      as in model.json
//     "scale_floor": "smallest_normal", as in model.json
//     "format": "intx_opaque",          defaults for every layer: format,
//     "group_size": 32,                 group_size (an integer, or
//     "bits": 4,                        "per_channel"), bits, mapping,
//     "mapping": "asymmetric",          activation
//     "activation": "none",
//     "layers": [                       the stack, in order (default: every
//       {"name": "fc1", "format": "int4_opaque", "group_size": 128,
//        "activation": "silu"},         2-D "<name>.weight" tensor, names in
//       {"name": "fc2"}                 natural order: "2" before "10")
//     ]
//   }
//
// Defaults: group_size 128 for int4_opaque and 32 for intx_opaque, bits 4,
// mapping symmetric, activation none. Layer `L` reads "L.weight" [N, K] and,
// when present, "L.bias" [N]. The output holds, per layer: int4_opaque ->
// source int4_plain (L.qweight U8 [N, K/2], L.scales, L.zeros); intx_opaque
// -> source torchao_intx (L._weight_qdata, L._weight_scale,
// L._weight_zero_point, with torchao's __metadata__); fp32 -> source float
// (L.weight in the model dtype). The quantizers are the ones the loader uses
// for float sources, so the converted model computes exactly what the float
// model quantized at load does.
#ifndef QLINEAR_MODEL_CONVERT_H_
#define QLINEAR_MODEL_CONVERT_H_

#include <cstddef>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "model/manifest.h"
#include "model/safetensors.h"

namespace qlinear::model {

// The quantization choices of one layer, before shapes are known.
struct ConvertLayerSpec {
  std::string name;
  WeightFormat format = WeightFormat::kInt4Opaque;
  bool per_channel = false;  // group_size = in_features
  size_t group_size = 0;     // 0: the format's default
  int bits = 4;
  Mapping mapping = Mapping::kSymmetric;
  Activation activation = Activation::kNone;
};

struct ConvertSpec {
  bool has_dtype = false;
  DType dtype = DType::kF32;
  ActQuant default_act_quant = ActQuant::kNone;
  ScaleFloor scale_floor = ScaleFloor::kSmallestNormal;
  // Empty: every "<name>.weight" of the input, each with `defaults`.
  std::vector<ConvertLayerSpec> layers;
  bool has_default_format = false;
  ConvertLayerSpec defaults;  // name unused
};

// Parses the spec text. Errors: INVALID_ARGUMENT naming the key ("spec:
// layers[1].bits: ...").
absl::StatusOr<ConvertSpec> ParseConvertSpec(std::string_view json_text);

// What was written for one layer.
struct ConvertedLayer {
  std::string name;
  LayerSpec spec;             // as in the output manifest
  size_t float_bytes = 0;     // weight (and bias) bytes of the input
  size_t bytes = 0;           // bytes of the layer's output tensors
  size_t packed_bytes = 0;    // bytes the server holds (Linear::packed_bytes)
  double weight_sqnr_db = 0;  // dequantized vs input weight; +inf if equal
};

struct ConvertResult {
  Manifest manifest;        // model.json
  std::string safetensors;  // model.safetensors
  // The manifest of the same stack with every layer's source "float": what
  // the input file serves as when quantized at load.
  Manifest float_manifest;
  std::vector<ConvertedLayer> layers;
};

// Quantizes the layers of `spec` from `input`. Errors: INVALID_ARGUMENT
// naming the tensor or layer (missing or non-2-D weight, non-finite value,
// shapes that do not chain, a group size that does not divide K, ...).
absl::StatusOr<ConvertResult> Convert(const SafetensorsFile& input,
                                      const ConvertSpec& spec);

// The per-layer summary table qlinear-convert prints.
std::string FormatConvertSummary(const ConvertResult& result);

// Writes <dir>/model.json and <dir>/model.safetensors, creating `dir`.
// Errors: INTERNAL (I/O failure, with the path).
absl::Status WriteModelDirectory(const std::string& dir,
                                 const ConvertResult& result);

// Loads the model directory `dir` and the float model (`float_manifest` over
// `input`), runs both on `rows` random rows in both activation modes and
// checks that every output bit agrees. Errors: those of the loaders, or
// INTERNAL naming the first differing output.
absl::Status VerifyConvertedModel(const std::string& dir,
                                  const Manifest& float_manifest,
                                  const SafetensorsFile& input,
                                  size_t rows = 4);

}  // namespace qlinear::model

#endif  // QLINEAR_MODEL_CONVERT_H_
