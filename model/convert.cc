#include "model/convert.h"

#include <algorithm>
#include <cctype>
#include <cmath>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <limits>
#include <map>
#include <optional>
#include <random>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "common/status_macros.h"
#include "kernels/linear.h"
#include "kernels/reference/linear.h"
#include "kernels/reference/quantize.h"
#include "model/internal/strict_json.h"
#include "model/loader.h"
#include "model/tensor_set.h"
#include "nlohmann/json.hpp"

namespace qlinear::model {
namespace {

using internal::Describe;
using internal::Quote;
using json = nlohmann::json;

template <typename... Args>
absl::Status SpecError(const std::string& path, const Args&... args) {
  return absl::InvalidArgumentError(
      absl::StrCat("spec: ", path, ": ", args...));
}

absl::Status CheckKeys(const json& object, const std::string& path,
                       std::initializer_list<std::string_view> allowed) {
  for (auto it = object.begin(); it != object.end(); ++it) {
    if (std::find(allowed.begin(), allowed.end(), it.key()) == allowed.end()) {
      return SpecError(path, "unknown key ", Quote(it.key()));
    }
  }
  return absl::OkStatus();
}

template <typename E>
absl::StatusOr<E> ReadEnum(const json& v, const std::string& path,
                           std::optional<E> (*parse)(std::string_view),
                           const char* choices) {
  if (!v.is_string()) {
    return SpecError(path, "expected a string, got ", Describe(v));
  }
  const std::optional<E> value = parse(v.get<std::string>());
  if (!value.has_value()) {
    return SpecError(path, Quote(v.get<std::string>()), " is not one of ",
                     choices);
  }
  return *value;
}

// Reads the per-layer keys present in `v` into `layer`.
absl::Status ReadLayerKeys(const json& v, const std::string& path,
                           ConvertLayerSpec* layer, bool* has_format) {
  const auto child = [&path](const char* key) {
    return path.empty() ? std::string(key) : absl::StrCat(path, ".", key);
  };
  if (const auto it = v.find("format"); it != v.end()) {
    QL_ASSIGN_OR_RETURN(layer->format,
                        ReadEnum(*it, child("format"), &ParseWeightFormat,
                                 "int4_opaque, intx_opaque, fp32"));
    *has_format = true;
  }
  if (const auto it = v.find("group_size"); it != v.end()) {
    if (it->is_string() && *it == "per_channel") {
      layer->per_channel = true;
      layer->group_size = 0;
    } else if (it->is_number_integer() && it->get<int64_t>() > 0 &&
               it->get<int64_t>() <= (int64_t{1} << 20)) {
      layer->per_channel = false;
      layer->group_size = it->get<size_t>();
    } else {
      return SpecError(child("group_size"), "expected a positive integer or ",
                       "\"per_channel\", got ", Describe(*it));
    }
  }
  if (const auto it = v.find("bits"); it != v.end()) {
    if (!it->is_number_integer() || it->get<int64_t>() < 1 ||
        it->get<int64_t>() > 8) {
      return SpecError(child("bits"), "expected an integer in [1, 8], got ",
                       Describe(*it));
    }
    layer->bits = it->get<int>();
  }
  if (const auto it = v.find("mapping"); it != v.end()) {
    QL_ASSIGN_OR_RETURN(
        layer->mapping,
        ReadEnum(*it, child("mapping"), &ParseMapping,
                 "symmetric, asymmetric, symmetric_no_clipping_err"));
  }
  if (const auto it = v.find("activation"); it != v.end()) {
    QL_ASSIGN_OR_RETURN(layer->activation,
                        ReadEnum(*it, child("activation"), &ParseActivation,
                                 "none, relu, gelu, gelu_tanh, silu"));
  }
  return absl::OkStatus();
}

// "2" < "10": digit runs compare as numbers.
bool NaturalLess(const std::string& a, const std::string& b) {
  size_t i = 0, j = 0;
  while (i < a.size() && j < b.size()) {
    const bool da = std::isdigit(static_cast<unsigned char>(a[i]));
    const bool db = std::isdigit(static_cast<unsigned char>(b[j]));
    if (da && db) {
      size_t ie = i, je = j;
      while (ie < a.size() && std::isdigit(static_cast<unsigned char>(a[ie])))
        ++ie;
      while (je < b.size() && std::isdigit(static_cast<unsigned char>(b[je])))
        ++je;
      // Compare without leading zeros by length, then digits.
      std::string_view na(a.data() + i, ie - i), nb(b.data() + j, je - j);
      while (na.size() > 1 && na[0] == '0') na.remove_prefix(1);
      while (nb.size() > 1 && nb[0] == '0') nb.remove_prefix(1);
      if (na.size() != nb.size()) return na.size() < nb.size();
      if (na != nb) return na < nb;
      i = ie;
      j = je;
    } else {
      if (a[i] != b[j]) return a[i] < b[j];
      ++i;
      ++j;
    }
  }
  return a.size() - i < b.size() - j;
}

bool IsFloatTensor(TensorDType t) {
  return t == TensorDType::kF32 || t == TensorDType::kBF16 ||
         t == TensorDType::kF16;
}

std::string TorchDTypeName(DType t) {
  return t == DType::kBF16 ? "bfloat16"
                           : (t == DType::kF16 ? "float16" : "float32");
}

std::string ShapeText(const std::vector<int64_t>& shape) {
  std::string out = "[";
  for (size_t i = 0; i < shape.size(); ++i) {
    absl::StrAppend(&out, i == 0 ? "" : ", ", shape[i]);
  }
  return out + "]";
}

// Input values, checked finite. `exact` keeps them as stored; `rounded` holds
// them rounded to the model dtype.
absl::Status ReadValues(const TensorView& view, DType t,
                        std::vector<float>* exact,
                        std::vector<float>* rounded) {
  const size_t count = static_cast<size_t>(view.num_elements());
  exact->resize(count);
  rounded->resize(count);
  const DType src = FloatDTypeOf(view.dtype);
  for (size_t i = 0; i < count; ++i) {
    const float v = LoadAsFloat(src, view.data, i);
    if (!std::isfinite(v)) {
      return absl::InvalidArgumentError(absl::StrCat(
          "tensor ", Quote(view.name), ": element ", i, " is not finite"));
    }
    (*exact)[i] = v;
    (*rounded)[i] = RoundTo(t, v);
  }
  return absl::OkStatus();
}

double Sqnr(const std::vector<float>& ref, const std::vector<float>& out) {
  double signal = 0.0, noise = 0.0;
  for (size_t i = 0; i < ref.size(); ++i) {
    const double r = ref[i], d = r - static_cast<double>(out[i]);
    signal += r * r;
    noise += d * d;
  }
  if (noise == 0.0) return std::numeric_limits<double>::infinity();
  return 10.0 * std::log10(signal / noise);
}

std::string FormatName(const LayerSpec& l) {
  switch (l.format) {
    case WeightFormat::kInt4Opaque:
      return absl::StrCat("int4_opaque gs", l.group_size);
    case WeightFormat::kIntxOpaque:
      return absl::StrCat("intx_opaque b", l.bits, " ",
                          l.group_size == l.in_features
                              ? std::string("per-channel")
                              : absl::StrCat("gs", l.group_size),
                          " ", std::string(MappingName(l.mapping)));
    case WeightFormat::kFp32:
      break;
  }
  return "fp32";
}

std::string Bytes(size_t b) {
  if (b < 10 * 1024) return absl::StrCat(b, " B");
  if (b < 10 * 1024 * 1024) return absl::StrFormat("%.1f KiB", b / 1024.0);
  return absl::StrFormat("%.1f MiB", b / (1024.0 * 1024.0));
}

}  // namespace

absl::StatusOr<ConvertSpec> ParseConvertSpec(std::string_view json_text) {
  QL_ASSIGN_OR_RETURN(
      const json root,
      internal::ParseStrictJson(
          json_text, [](const internal::StrictJsonError& e) {
            switch (e.kind) {
              case internal::StrictJsonError::Kind::kNotJson:
                return absl::StrCat("spec: not valid JSON: ", e.syntax_error);
              case internal::StrictJsonError::Kind::kTooDeep:
                return std::string("spec: JSON nests too deep");
              case internal::StrictJsonError::Kind::kDuplicateKey:
                break;
            }
            return absl::StrCat("spec: duplicate key ", Quote(e.key));
          }));
  if (!root.is_object()) {
    return absl::InvalidArgumentError(
        absl::StrCat("spec: expected a JSON object, got ", Describe(root)));
  }
  QL_RETURN_IF_ERROR(
      CheckKeys(root, "spec",
                {"dtype", "default_act_quant", "scale_floor", "format",
                 "group_size", "bits", "mapping", "activation", "layers"}));
  ConvertSpec spec;
  if (const auto it = root.find("dtype"); it != root.end()) {
    QL_ASSIGN_OR_RETURN(
        spec.dtype, ReadEnum(*it, "dtype", &ParseDType, "fp32, bf16, fp16"));
    spec.has_dtype = true;
  }
  if (const auto it = root.find("default_act_quant"); it != root.end()) {
    QL_ASSIGN_OR_RETURN(spec.default_act_quant,
                        ReadEnum(*it, "default_act_quant", &ParseActQuant,
                                 "none, int8_asym_per_token"));
  }
  if (const auto it = root.find("scale_floor"); it != root.end()) {
    QL_ASSIGN_OR_RETURN(spec.scale_floor,
                        ReadEnum(*it, "scale_floor", &ParseScaleFloor,
                                 "smallest_normal, finfo_eps"));
  }
  QL_RETURN_IF_ERROR(
      ReadLayerKeys(root, "", &spec.defaults, &spec.has_default_format));
  if (const auto it = root.find("layers"); it != root.end()) {
    if (!it->is_array() || it->empty()) {
      return SpecError("layers", "expected a non-empty array, got ",
                       Describe(*it));
    }
    for (size_t i = 0; i < it->size(); ++i) {
      const json& v = (*it)[i];
      const std::string path = absl::StrCat("layers[", i, "]");
      if (!v.is_object()) {
        return SpecError(path, "expected an object, got ", Describe(v));
      }
      QL_RETURN_IF_ERROR(CheckKeys(
          v, path,
          {"name", "format", "group_size", "bits", "mapping", "activation"}));
      ConvertLayerSpec layer = spec.defaults;
      const auto name = v.find("name");
      if (name == v.end() || !name->is_string() || name->empty()) {
        return SpecError(path + ".name", "missing or not a non-empty string");
      }
      layer.name = name->get<std::string>();
      bool has_format = spec.has_default_format;
      QL_RETURN_IF_ERROR(ReadLayerKeys(v, path, &layer, &has_format));
      if (!has_format) {
        return SpecError(path + ".format",
                         "missing (and no top-level \"format\" for all "
                         "layers)");
      }
      spec.layers.push_back(std::move(layer));
    }
  } else if (!spec.has_default_format) {
    return SpecError("format",
                     "missing: give one format for all layers, or a "
                     "\"layers\" list with a format per layer");
  }
  return spec;
}

absl::StatusOr<ConvertResult> Convert(const SafetensorsFile& input,
                                      const ConvertSpec& spec) {
  // The stack: the spec's layers, or every "<name>.weight" in natural order.
  std::vector<ConvertLayerSpec> layers = spec.layers;
  if (layers.empty()) {
    std::vector<std::string> names;
    for (const TensorView& t : input.tensors()) {
      const std::string suffix = ".weight";
      if (t.name.size() > suffix.size() &&
          t.name.compare(t.name.size() - suffix.size(), suffix.size(),
                         suffix) == 0) {
        names.push_back(t.name.substr(0, t.name.size() - suffix.size()));
      }
    }
    if (names.empty()) {
      return absl::InvalidArgumentError(
          "input: no \"<layer>.weight\" tensor to convert");
    }
    std::sort(names.begin(), names.end(), NaturalLess);
    for (const std::string& name : names) {
      ConvertLayerSpec layer = spec.defaults;
      layer.name = name;
      layers.push_back(std::move(layer));
    }
  }

  // Shapes and the manifest.
  ConvertResult result;
  Manifest& manifest = result.manifest;
  manifest.default_act_quant = spec.default_act_quant;
  manifest.scale_floor = spec.scale_floor;
  std::vector<const TensorView*> weights, biases;
  for (const ConvertLayerSpec& l : layers) {
    const std::string weight_name = l.name + ".weight";
    const TensorView* w = input.Find(weight_name);
    if (w == nullptr) {
      return absl::InvalidArgumentError(
          absl::StrCat("tensor ", Quote(weight_name),
                       ": missing (needed by layer ", Quote(l.name), ")"));
    }
    if (!IsFloatTensor(w->dtype) || w->shape.size() != 2 || w->shape[0] < 1 ||
        w->shape[1] < 1) {
      return absl::InvalidArgumentError(absl::StrCat(
          "tensor ", Quote(weight_name), ": ",
          std::string(TensorDTypeName(w->dtype)), " ", ShapeText(w->shape),
          ", expected a float [out_features, in_features] matrix"));
    }
    const TensorView* b = input.Find(l.name + ".bias");
    if (b != nullptr && (!IsFloatTensor(b->dtype) || b->shape.size() != 1 ||
                         b->shape[0] != w->shape[0])) {
      return absl::InvalidArgumentError(absl::StrCat(
          "tensor ", Quote(b->name), ": ",
          std::string(TensorDTypeName(b->dtype)), " ", ShapeText(b->shape),
          ", expected a float [", w->shape[0], "] vector"));
    }
    weights.push_back(w);
    biases.push_back(b);
  }
  manifest.dtype =
      spec.has_dtype ? spec.dtype : FloatDTypeOf(weights.front()->dtype);
  for (size_t i = 0; i < layers.size(); ++i) {
    const ConvertLayerSpec& l = layers[i];
    LayerSpec s;
    s.name = l.name;
    s.out_features = static_cast<size_t>(weights[i]->shape[0]);
    s.in_features = static_cast<size_t>(weights[i]->shape[1]);
    s.bias = biases[i] != nullptr;
    s.activation = l.activation;
    s.format = l.format;
    switch (l.format) {
      case WeightFormat::kInt4Opaque:
        s.group_size = l.group_size != 0 ? l.group_size : 128;
        s.source = WeightSource::kInt4Plain;
        break;
      case WeightFormat::kIntxOpaque:
        s.group_size = l.per_channel ? s.in_features
                                     : (l.group_size != 0 ? l.group_size : 32);
        s.bits = l.bits;
        s.mapping = l.mapping;
        s.source = WeightSource::kTorchaoIntx;
        break;
      case WeightFormat::kFp32:
        s.group_size = 0;
        s.source = WeightSource::kFloat;
        break;
    }
    if (l.format == WeightFormat::kInt4Opaque && l.per_channel) {
      return absl::InvalidArgumentError(
          absl::StrCat("layer ", Quote(l.name),
                       ": int4_opaque has no per-channel group size"));
    }
    manifest.layers.push_back(std::move(s));
  }
  // The manifest parser is the one judge of what a valid model is.
  absl::StatusOr<Manifest> checked = ParseManifest(ManifestToJson(manifest));
  if (!checked.ok()) {
    return absl::InvalidArgumentError(absl::StrCat(
        "the converted model would be invalid: ", checked.status().message()));
  }
  result.float_manifest = manifest;
  for (LayerSpec& l : result.float_manifest.layers) {
    l.source = WeightSource::kFloat;
  }

  // Quantize and write.
  const DType t = manifest.dtype;
  TensorSet out;
  json tensor_names = json::array();
  std::map<std::string, std::string> metadata;
  for (size_t i = 0; i < layers.size(); ++i) {
    const LayerSpec& s = manifest.layers[i];
    const int64_t n = static_cast<int64_t>(s.out_features);
    const int64_t k = static_cast<int64_t>(s.in_features);
    ConvertedLayer info;
    info.name = s.name;
    info.spec = s;
    info.float_bytes = weights[i]->size_bytes +
                       (biases[i] != nullptr ? biases[i]->size_bytes : 0);
    std::vector<float> exact, values;
    QL_RETURN_IF_ERROR(ReadValues(*weights[i], t, &exact, &values));
    LinearWeights lw;
    lw.format = s.format;
    lw.dtype = t;
    lw.n = s.out_features;
    lw.k = s.in_features;
    switch (s.format) {
      case WeightFormat::kInt4Opaque: {
        lw.int4 = reference::QuantizeInt4Weights(values.data(), lw.n, lw.k,
                                                 s.group_size, t);
        const Int4PlainWeights& q = lw.int4;
        std::vector<uint8_t> packed(q.q.size() / 2);
        for (size_t j = 0; j < packed.size(); ++j) {
          packed[j] = static_cast<uint8_t>(q.q[2 * j] | (q.q[2 * j + 1] << 4));
        }
        const int64_t groups = k / static_cast<int64_t>(s.group_size);
        out.AddBytes(s.name + ".qweight", TensorDType::kU8, {n, k / 2}, packed);
        info.bytes += out.last_bytes();
        out.AddFloats(s.name + ".scales", t, {n, groups}, q.scale);
        info.bytes += out.last_bytes();
        out.AddFloats(s.name + ".zeros", t, {n, groups}, q.zero);
        info.bytes += out.last_bytes();
        break;
      }
      case WeightFormat::kIntxOpaque: {
        lw.intx = reference::QuantizeIntxWeights(
            values.data(), lw.n, lw.k, s.group_size, s.bits, s.mapping, t,
            manifest.scale_floor);
        const IntxPlainWeights& q = lw.intx;
        const int64_t groups = k / static_cast<int64_t>(s.group_size);
        out.AddBytes(s.name + "._weight_qdata", TensorDType::kI8, {n, k}, q.q);
        info.bytes += out.last_bytes();
        out.AddFloats(s.name + "._weight_scale", t, {n, groups}, q.scale);
        info.bytes += out.last_bytes();
        out.AddBytes(s.name + "._weight_zero_point", TensorDType::kI8,
                     {n, groups}, q.zero_point);
        info.bytes += out.last_bytes();
        // torchao's flatten_tensor_state_dict metadata (docs/manifest.md,
        // "torchao_intx"), which the loader cross-checks.
        json data = json::object();
        data["target_dtype"] = {{"_type", "torch.dtype"},
                                {"_data", absl::StrCat("int", s.bits)}};
        data["block_size"] = {1, s.group_size};
        data["dtype"] = {{"_type", "torch.dtype"},
                         {"_data", TorchDTypeName(t)}};
        data["activation_quantization"] =
            manifest.default_act_quant == ActQuant::kInt8AsymPerToken
                ? json("int8_asym_per_token")
                : json(nullptr);
        json entry = {{"_type", "IntxUnpackedToInt8Tensor"},
                      {"_data", data},
                      {"_tensor_data_names", {"qdata", "scale", "zero_point"}}};
        metadata[s.name + ".weight"] = entry.dump();
        tensor_names.push_back(s.name + ".weight");
        if (s.bias) {
          metadata[s.name + ".bias"] = json({{"_type", "Tensor"}}).dump();
          tensor_names.push_back(s.name + ".bias");
        }
        break;
      }
      case WeightFormat::kFp32:
        lw.fp32 = values;
        out.AddFloats(s.name + ".weight", t, {n, k}, values);
        info.bytes += out.last_bytes();
        break;
    }
    if (biases[i] != nullptr) {
      std::vector<float> bias_exact, bias;
      QL_RETURN_IF_ERROR(ReadValues(*biases[i], t, &bias_exact, &bias));
      out.AddFloats(s.name + ".bias", t, {n}, bias);
      info.bytes += out.last_bytes();
    }
    std::vector<float> w_hat(lw.n * lw.k);
    reference::DequantizeWeights(lw, w_hat.data());
    info.weight_sqnr_db = Sqnr(exact, w_hat);
    if (s.bias) lw.bias.assign(lw.n, 0.0f);
    absl::StatusOr<std::unique_ptr<Linear>> linear = Linear::Create(lw);
    if (!linear.ok()) {
      return absl::InvalidArgumentError(absl::StrCat(
          "layer ", Quote(s.name), ": ", linear.status().message()));
    }
    info.packed_bytes = (*linear)->packed_bytes();
    result.layers.push_back(std::move(info));
  }
  if (!tensor_names.empty()) metadata["tensor_names"] = tensor_names.dump();
  result.safetensors = WriteSafetensors(out.views(), metadata);
  return result;
}

std::string FormatConvertSummary(const ConvertResult& result) {
  constexpr absl::string_view kRow =
      "%-12s %-46s %-14s %-4s %11s %11s %11s %9s\n";
  const absl::ParsedFormat<'s', 's', 's', 's', 's', 's', 's', 's'> row(kRow);
  std::string text =
      absl::StrFormat(row, "layer", "format", "[out, in]", "bias", "file bytes",
                      "packed", "float bytes", "w SQNR");
  size_t bytes = 0, packed = 0, float_bytes = 0;
  for (const ConvertedLayer& l : result.layers) {
    const std::string sqnr = std::isinf(l.weight_sqnr_db)
                                 ? std::string("exact")
                                 : absl::StrFormat("%.2f dB", l.weight_sqnr_db);
    absl::StrAppend(
        &text,
        absl::StrFormat(row, l.name, FormatName(l.spec),
                        absl::StrCat("[", l.spec.out_features, ", ",
                                     l.spec.in_features, "]"),
                        l.spec.bias ? "yes" : "no", Bytes(l.bytes),
                        Bytes(l.packed_bytes), Bytes(l.float_bytes), sqnr));
    bytes += l.bytes;
    packed += l.packed_bytes;
    float_bytes += l.float_bytes;
  }
  absl::StrAppend(
      &text,
      absl::StrFormat(
          row, "total",
          absl::StrCat("dtype ", std::string(DTypeName(result.manifest.dtype))),
          "", "", Bytes(bytes), Bytes(packed), Bytes(float_bytes), ""));
  return text;
}

absl::Status WriteModelDirectory(const std::string& dir,
                                 const ConvertResult& result) {
  std::error_code ec;
  std::filesystem::create_directories(dir, ec);
  if (ec) {
    return absl::InternalError(
        absl::StrCat(dir, ": cannot create directory: ", ec.message()));
  }
  const std::pair<std::string, const std::string*> files[] = {
      {dir + "/model.json", nullptr},
      {dir + "/model.safetensors", &result.safetensors}};
  const std::string manifest = ManifestToJson(result.manifest) + "\n";
  for (const auto& [path, content] : files) {
    std::ofstream f(path, std::ios::binary | std::ios::trunc);
    const std::string& data = content != nullptr ? *content : manifest;
    f.write(data.data(), static_cast<std::streamsize>(data.size()));
    f.close();
    if (!f) return absl::InternalError(absl::StrCat(path, ": write failed"));
  }
  return absl::OkStatus();
}

absl::Status VerifyConvertedModel(const std::string& dir,
                                  const Manifest& float_manifest,
                                  const SafetensorsFile& input, size_t rows) {
  QL_ASSIGN_OR_RETURN(std::unique_ptr<LinearStack> converted,
                      LoadModelDir(dir));
  QL_ASSIGN_OR_RETURN(std::unique_ptr<LinearStack> reference,
                      BuildLinearStack(float_manifest, input));
  const size_t k = float_manifest.layers.front().in_features;
  std::mt19937 rng(1);
  std::normal_distribution<float> dist(0.0f, 1.0f);
  std::vector<float> x(rows * k);
  for (float& v : x) v = RoundTo(float_manifest.dtype, dist(rng));
  for (ActQuant mode : {ActQuant::kNone, ActQuant::kInt8AsymPerToken}) {
    std::vector<float> a, b;
    QL_RETURN_IF_ERROR(converted->Forward(x.data(), rows, 0,
                                          converted->num_layers(), mode, &a));
    QL_RETURN_IF_ERROR(reference->Forward(x.data(), rows, 0,
                                          reference->num_layers(), mode, &b));
    for (size_t i = 0; i < a.size(); ++i) {
      if (FloatBits(a[i]) != FloatBits(b[i])) {
        return absl::InternalError(
            absl::StrCat("mode ", std::string(ActQuantName(mode)), ": output ",
                         i, " of the converted model is ", a[i],
                         ", the float model gives ", b[i]));
      }
    }
  }
  return absl::OkStatus();
}

}  // namespace qlinear::model
