// The model manifest (model.json): the public contract of docs/manifest.md.
// Parsing is strict: unknown keys, wrong types and values out of
// range are rejected with the key's path and the problem.
#ifndef QLINEAR_MODEL_MANIFEST_H_
#define QLINEAR_MODEL_MANIFEST_H_

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"
#include "kernels/types.h"

namespace qlinear::model {

// How a layer's tensors are stored in model.safetensors. Names are a public
// contract: do not rename.
enum class WeightSource { kFloat, kInt4Plain, kTorchaoIntx };

std::string_view WeightSourceName(
    WeightSource s);  // "float", "int4_plain", ...

struct LayerSpec {
  std::string name;
  size_t in_features = 0;
  size_t out_features = 0;
  bool bias = false;
  Activation activation = Activation::kNone;
  WeightFormat format = WeightFormat::kInt4Opaque;
  size_t group_size = 0;  // quantized formats; == in_features means per channel
  int bits = 4;           // intx_opaque only
  Mapping mapping = Mapping::kSymmetric;  // intx_opaque only
  WeightSource source = WeightSource::kFloat;
};

struct BatchingConfig {
  int64_t max_batch_rows = 256;
  int64_t max_queue_delay_us = 0;
  // Wait (up to max_queue_delay_us) only while the cost curve measured at
  // warm-up predicts that the wait pays (docs/manifest.md, "batching").
  bool adaptive_delay = false;
  int64_t max_queue_rows = 4096;
};

struct Manifest {
  DType dtype = DType::kF32;
  ActQuant default_act_quant = ActQuant::kNone;
  ScaleFloor scale_floor = ScaleFloor::kSmallestNormal;
  std::vector<LayerSpec> layers;
  BatchingConfig batching;
  // The share of this model's int8-mode requests the quality sampler
  // compares with the weight-only mode, in [0, 1] (docs/manifest.md,
  // docs/operations.md "Quality telemetry"); absent: the server's
  // --quality-sample-rate.
  std::optional<double> quality_sample_rate;
};

// The largest model.json LoadModelDir reads (1 MiB, thousands of layers): a
// larger file, or one that is not a regular file (a FIFO, /dev/zero), fails
// the load with INVALID_ARGUMENT "<path>: ..." naming the limit, before
// anything is read into memory. docs/operations.md lists it.
inline constexpr size_t kMaxManifestBytes = size_t{1} << 20;

// Parses and validates model.json text. Errors: INVALID_ARGUMENT with the
// key path, e.g. "layers[2].group_size: 100 is not one of 32, 64, 128, 256".
absl::StatusOr<Manifest> ParseManifest(std::string_view json_text);

// Canonical JSON text of `manifest` (ParseManifest(ToJson(m)) == m).
std::string ManifestToJson(const Manifest& manifest);

}  // namespace qlinear::model

#endif  // QLINEAR_MODEL_MANIFEST_H_
