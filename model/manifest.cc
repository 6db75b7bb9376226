#include "model/manifest.h"

#include <initializer_list>
#include <limits>
#include <map>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "common/status_macros.h"
#include "model/internal/strict_json.h"
#include "nlohmann/json.hpp"

namespace qlinear::model {
namespace {

using internal::AbslView;
using internal::Describe;
using internal::Quote;
using json = nlohmann::json;

constexpr int64_t kMaxFeatures = int64_t{1} << 20;
constexpr int64_t kMaxBatchRows = 65536;
constexpr int64_t kMaxQueueDelayUs = 10'000'000;
constexpr int64_t kMaxQueueRows = int64_t{1} << 24;
constexpr int64_t kMinBits = 1;
constexpr int64_t kMaxBits = 8;

constexpr std::pair<WeightSource, std::string_view> kWeightSourceNames[] = {
    {WeightSource::kFloat, "float"},
    {WeightSource::kInt4Plain, "int4_plain"},
    {WeightSource::kTorchaoIntx, "torchao_intx"}};

std::optional<WeightSource> ParseWeightSource(std::string_view s) {
  for (const auto& [value, name] : kWeightSourceNames) {
    if (name == s) return value;
  }
  return std::nullopt;
}

template <typename... Args>
absl::Status Error(const std::string& path, const Args&... args) {
  return absl::InvalidArgumentError(
      absl::StrCat(path.empty() ? "manifest" : path, ": ", args...));
}

std::string Child(const std::string& path, std::string_view key) {
  return path.empty() ? std::string(key)
                      : absl::StrCat(path, ".", AbslView(key));
}

absl::StatusOr<json> ParseStrictJson(std::string_view text) {
  return internal::ParseStrictJson(
      text, [](const internal::StrictJsonError& e) {
        switch (e.kind) {
          case internal::StrictJsonError::Kind::kNotJson:
            return absl::StrCat("manifest: not valid JSON: ", e.syntax_error);
          case internal::StrictJsonError::Kind::kTooDeep:
            return absl::StrCat("manifest: JSON nests deeper than ",
                                internal::kMaxJsonDepth, " levels");
          case internal::StrictJsonError::Kind::kDuplicateKey:
            break;
        }
        const std::string path = internal::JsonPath(e.path);
        return absl::StrCat(path.empty() ? "manifest" : path,
                            ": duplicate key ", Quote(e.key));
      });
}

absl::Status CheckKeys(const json& object, const std::string& path,
                       std::initializer_list<std::string_view> allowed) {
  for (auto it = object.begin(); it != object.end(); ++it) {
    bool known = false;
    for (std::string_view key : allowed) known = known || it.key() == key;
    if (!known) return Error(path, "unknown key ", Quote(it.key()));
  }
  return absl::OkStatus();
}

// The value of `key` in `object`, or nullptr when absent.
const json* Find(const json& object, const char* key) {
  const auto it = object.find(key);
  return it == object.end() ? nullptr : &*it;
}

absl::StatusOr<int64_t> ReadInt(const json& v, const std::string& path,
                                int64_t lo, int64_t hi) {
  if (!v.is_number_integer()) {  // also false for floats such as 1.0
    return Error(path, "expected an integer, got ", Describe(v));
  }
  if (v.is_number_unsigned() &&
      v.get<uint64_t>() >
          static_cast<uint64_t>(std::numeric_limits<int64_t>::max())) {
    return Error(path, v.get<uint64_t>(), " is out of range [", lo, ", ", hi,
                 "]");
  }
  const int64_t i = v.get<int64_t>();
  if (i < lo || i > hi) {
    return Error(path, i, " is out of range [", lo, ", ", hi, "]");
  }
  return i;
}

// A number (integer or not) in [lo, hi].
absl::StatusOr<double> ReadNumber(const json& v, const std::string& path,
                                  double lo, double hi) {
  if (!v.is_number()) {
    return Error(path, "expected a number, got ", Describe(v));
  }
  const double d = v.get<double>();
  if (!(d >= lo && d <= hi)) {
    return Error(path, v.dump(), " is out of range [", lo, ", ", hi, "]");
  }
  return d;
}

absl::StatusOr<bool> ReadBool(const json& v, const std::string& path) {
  if (!v.is_boolean()) {
    return Error(path, "expected a boolean, got ", Describe(v));
  }
  return v.get<bool>();
}

// Reads a string naming one enum value, via `parse` (e.g. ParseDType).
template <typename E>
absl::StatusOr<E> ReadEnum(const json& v, const std::string& path,
                           std::optional<E> (*parse)(std::string_view),
                           const char* choices) {
  if (!v.is_string()) {
    return Error(path, "expected a string, got ", Describe(v));
  }
  const std::string& s = v.get_ref<const std::string&>();
  const std::optional<E> value = parse(s);
  if (!value.has_value()) {
    return Error(path, Quote(s), " is not one of ", choices);
  }
  return *value;
}

bool IsNameChar(char c) {
  return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') ||
         (c >= '0' && c <= '9') || c == '_' || c == '.' || c == '-';
}

absl::StatusOr<LayerSpec> ParseLayer(const json& v, const std::string& path) {
  if (!v.is_object()) {
    return Error(path, "expected an object, got ", Describe(v));
  }
  QL_RETURN_IF_ERROR(
      CheckKeys(v, path,
                {"name", "in_features", "out_features", "bias", "activation",
                 "format", "group_size", "bits", "mapping", "source"}));
  LayerSpec layer;

  const std::string name_path = Child(path, "name");
  const json* name = Find(v, "name");
  if (name == nullptr) return Error(name_path, "missing");
  if (!name->is_string()) {
    return Error(name_path, "expected a string, got ", Describe(*name));
  }
  layer.name = name->get<std::string>();
  if (layer.name.empty()) return Error(name_path, "empty");
  for (char c : layer.name) {
    if (!IsNameChar(c)) {
      return Error(name_path, Quote(layer.name),
                   " has a character outside [A-Za-z0-9_.-]");
    }
  }

  for (const auto& [key, field] :
       {std::pair<const char*, size_t*>{"in_features", &layer.in_features},
        std::pair<const char*, size_t*>{"out_features", &layer.out_features}}) {
    const json* value = Find(v, key);
    if (value == nullptr) return Error(Child(path, key), "missing");
    QL_ASSIGN_OR_RETURN(const int64_t n,
                        ReadInt(*value, Child(path, key), 1, kMaxFeatures));
    *field = static_cast<size_t>(n);
  }

  if (const json* bias = Find(v, "bias")) {
    QL_ASSIGN_OR_RETURN(layer.bias, ReadBool(*bias, Child(path, "bias")));
  }
  if (const json* activation = Find(v, "activation")) {
    QL_ASSIGN_OR_RETURN(
        layer.activation,
        ReadEnum(*activation, Child(path, "activation"), &ParseActivation,
                 "none, relu, gelu, gelu_tanh, silu"));
  }

  const std::string format_path = Child(path, "format");
  const json* format = Find(v, "format");
  if (format == nullptr) return Error(format_path, "missing");
  QL_ASSIGN_OR_RETURN(layer.format,
                      ReadEnum(*format, format_path, &ParseWeightFormat,
                               "int4_opaque, intx_opaque, fp32"));
  const std::string format_name(WeightFormatName(layer.format));

  const std::string group_path = Child(path, "group_size");
  const json* group_size = Find(v, "group_size");
  if (layer.format == WeightFormat::kFp32) {
    if (group_size != nullptr) {
      return Error(group_path, "not allowed for format fp32");
    }
    layer.group_size = 0;
  } else {
    if (group_size == nullptr) {
      return Error(group_path, "missing (required for format ", format_name,
                   ")");
    }
    QL_ASSIGN_OR_RETURN(
        const int64_t g,
        ReadInt(*group_size, group_path, std::numeric_limits<int64_t>::min(),
                std::numeric_limits<int64_t>::max()));
    if (layer.format == WeightFormat::kInt4Opaque) {
      if (g != 32 && g != 64 && g != 128 && g != 256) {
        return Error(group_path, g, " is not one of 32, 64, 128, 256");
      }
    } else if (g != static_cast<int64_t>(layer.in_features) &&
               (g < 16 || g > 256 || g % 16 != 0)) {
      return Error(
          group_path, g,
          " is neither a multiple of 16 in [16, 256] nor in_features (",
          layer.in_features, ", per channel)");
    }
    layer.group_size = static_cast<size_t>(g);
    if (layer.in_features % layer.group_size != 0) {
      return Error(group_path, "in_features ", layer.in_features,
                   " is not a multiple of group_size ", layer.group_size);
    }
  }

  const std::string bits_path = Child(path, "bits");
  const json* bits = Find(v, "bits");
  const std::string mapping_path = Child(path, "mapping");
  const json* mapping = Find(v, "mapping");
  if (layer.format == WeightFormat::kIntxOpaque) {
    if (bits == nullptr) {
      return Error(bits_path, "missing (required for format intx_opaque)");
    }
    QL_ASSIGN_OR_RETURN(const int64_t b,
                        ReadInt(*bits, bits_path, kMinBits, kMaxBits));
    layer.bits = static_cast<int>(b);
    if (mapping != nullptr) {
      QL_ASSIGN_OR_RETURN(
          layer.mapping,
          ReadEnum(*mapping, mapping_path, &ParseMapping,
                   "symmetric, asymmetric, symmetric_no_clipping_err"));
    }
    if (layer.bits == 1 && layer.mapping == Mapping::kSymmetricNoClippingErr) {
      return Error(mapping_path,
                   "symmetric_no_clipping_err needs bits >= 2 (at bits 1 "
                   "qmax is 0 and the scale divides by zero)");
    }
  } else {
    if (bits != nullptr) {
      return Error(bits_path, "only allowed for format intx_opaque, not ",
                   format_name);
    }
    if (mapping != nullptr) {
      return Error(mapping_path, "only allowed for format intx_opaque, not ",
                   format_name);
    }
    layer.bits = 4;
    layer.mapping = Mapping::kSymmetric;
  }

  if (const json* source = Find(v, "source")) {
    const std::string source_path = Child(path, "source");
    QL_ASSIGN_OR_RETURN(layer.source,
                        ReadEnum(*source, source_path, &ParseWeightSource,
                                 "float, int4_plain, torchao_intx"));
    if (layer.source == WeightSource::kInt4Plain &&
        layer.format != WeightFormat::kInt4Opaque) {
      return Error(source_path, "int4_plain needs format int4_opaque, not ",
                   format_name);
    }
    if (layer.source == WeightSource::kTorchaoIntx &&
        layer.format != WeightFormat::kIntxOpaque) {
      return Error(source_path, "torchao_intx needs format intx_opaque, not ",
                   format_name);
    }
  }
  return layer;
}

absl::StatusOr<BatchingConfig> ParseBatching(const json& v) {
  const std::string path = "batching";
  if (!v.is_object()) {
    return Error(path, "expected an object, got ", Describe(v));
  }
  QL_RETURN_IF_ERROR(CheckKeys(v, path,
                               {"max_batch_rows", "max_queue_delay_us",
                                "adaptive_delay", "max_queue_rows"}));
  BatchingConfig batching;
  if (const json* rows = Find(v, "max_batch_rows")) {
    QL_ASSIGN_OR_RETURN(
        batching.max_batch_rows,
        ReadInt(*rows, Child(path, "max_batch_rows"), 1, kMaxBatchRows));
  }
  if (const json* delay = Find(v, "max_queue_delay_us")) {
    QL_ASSIGN_OR_RETURN(batching.max_queue_delay_us,
                        ReadInt(*delay, Child(path, "max_queue_delay_us"), 0,
                                kMaxQueueDelayUs));
  }
  if (const json* adaptive = Find(v, "adaptive_delay")) {
    const std::string adaptive_path = Child(path, "adaptive_delay");
    QL_ASSIGN_OR_RETURN(batching.adaptive_delay,
                        ReadBool(*adaptive, adaptive_path));
    // The delay is the adaptive wait's bound: without one it could not wait.
    if (batching.adaptive_delay && batching.max_queue_delay_us == 0) {
      return Error(adaptive_path,
                   "true needs max_queue_delay_us > 0 (its bound)");
    }
  }
  const std::string queue_path = Child(path, "max_queue_rows");
  const json* queue = Find(v, "max_queue_rows");
  if (queue != nullptr) {
    QL_ASSIGN_OR_RETURN(batching.max_queue_rows,
                        ReadInt(*queue, queue_path, 1, kMaxQueueRows));
  }
  if (batching.max_queue_rows < batching.max_batch_rows) {
    return Error(queue_path, batching.max_queue_rows,
                 queue == nullptr ? " (the default)" : "",
                 " is less than max_batch_rows ", batching.max_batch_rows);
  }
  return batching;
}

}  // namespace

std::string_view WeightSourceName(WeightSource s) {
  for (const auto& [value, name] : kWeightSourceNames) {
    if (value == s) return name;
  }
  return "unknown";
}

absl::StatusOr<Manifest> ParseManifest(std::string_view json_text) {
  QL_ASSIGN_OR_RETURN(const json root, ParseStrictJson(json_text));
  if (!root.is_object()) {
    return Error("", "expected a JSON object, got ", Describe(root));
  }
  QL_RETURN_IF_ERROR(CheckKeys(root, "",
                               {"dtype", "default_act_quant", "scale_floor",
                                "layers", "batching", "quality_sample_rate"}));
  Manifest manifest;

  const json* dtype = Find(root, "dtype");
  if (dtype == nullptr) return Error("dtype", "missing");
  QL_ASSIGN_OR_RETURN(manifest.dtype, ReadEnum(*dtype, "dtype", &ParseDType,
                                               "fp32, bf16, fp16"));
  if (const json* act_quant = Find(root, "default_act_quant")) {
    QL_ASSIGN_OR_RETURN(manifest.default_act_quant,
                        ReadEnum(*act_quant, "default_act_quant",
                                 &ParseActQuant, "none, int8_asym_per_token"));
  }
  if (const json* floor = Find(root, "scale_floor")) {
    QL_ASSIGN_OR_RETURN(manifest.scale_floor,
                        ReadEnum(*floor, "scale_floor", &ParseScaleFloor,
                                 "smallest_normal, finfo_eps"));
  }

  const json* layers = Find(root, "layers");
  if (layers == nullptr) return Error("layers", "missing");
  if (!layers->is_array()) {
    return Error("layers", "expected an array, got ", Describe(*layers));
  }
  if (layers->empty()) return Error("layers", "empty (a model needs a layer)");
  std::map<std::string, size_t> index_of_name;
  for (size_t i = 0; i < layers->size(); ++i) {
    const std::string path = absl::StrCat("layers[", i, "]");
    QL_ASSIGN_OR_RETURN(LayerSpec layer, ParseLayer((*layers)[i], path));
    const auto [it, inserted] = index_of_name.emplace(layer.name, i);
    if (!inserted) {
      return Error(Child(path, "name"), Quote(layer.name),
                   " duplicates layers[", it->second, "].name");
    }
    if (i > 0 && layer.in_features != manifest.layers.back().out_features) {
      return Error(Child(path, "in_features"), layer.in_features,
                   " does not match layers[", i - 1, "].out_features ",
                   manifest.layers.back().out_features);
    }
    manifest.layers.push_back(std::move(layer));
  }

  if (const json* batching = Find(root, "batching")) {
    QL_ASSIGN_OR_RETURN(manifest.batching, ParseBatching(*batching));
  } else {
    manifest.batching = BatchingConfig();
  }
  if (const json* rate = Find(root, "quality_sample_rate")) {
    QL_ASSIGN_OR_RETURN(manifest.quality_sample_rate,
                        ReadNumber(*rate, "quality_sample_rate", 0.0, 1.0));
  }
  return manifest;
}

std::string ManifestToJson(const Manifest& manifest) {
  using ordered_json = nlohmann::ordered_json;
  ordered_json root = ordered_json::object();
  root["dtype"] = std::string(DTypeName(manifest.dtype));
  root["default_act_quant"] =
      std::string(ActQuantName(manifest.default_act_quant));
  root["scale_floor"] = std::string(ScaleFloorName(manifest.scale_floor));
  ordered_json layers = ordered_json::array();
  for (const LayerSpec& layer : manifest.layers) {
    ordered_json l = ordered_json::object();
    l["name"] = layer.name;
    l["in_features"] = layer.in_features;
    l["out_features"] = layer.out_features;
    l["bias"] = layer.bias;
    l["activation"] = std::string(ActivationName(layer.activation));
    l["format"] = std::string(WeightFormatName(layer.format));
    if (layer.format != WeightFormat::kFp32) l["group_size"] = layer.group_size;
    if (layer.format == WeightFormat::kIntxOpaque) {
      l["bits"] = layer.bits;
      l["mapping"] = std::string(MappingName(layer.mapping));
    }
    l["source"] = std::string(WeightSourceName(layer.source));
    layers.push_back(std::move(l));
  }
  root["layers"] = std::move(layers);
  ordered_json batching = ordered_json::object();
  batching["max_batch_rows"] = manifest.batching.max_batch_rows;
  batching["max_queue_delay_us"] = manifest.batching.max_queue_delay_us;
  batching["adaptive_delay"] = manifest.batching.adaptive_delay;
  batching["max_queue_rows"] = manifest.batching.max_queue_rows;
  root["batching"] = std::move(batching);
  if (manifest.quality_sample_rate.has_value())
    root["quality_sample_rate"] = *manifest.quality_sample_rate;
  return root.dump(2, ' ', /*ensure_ascii=*/false,
                   ordered_json::error_handler_t::replace) +
         "\n";
}

}  // namespace qlinear::model
