#include "model/loader.h"

#include <cmath>
#include <fstream>
#include <sstream>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "common/status_macros.h"
#include "kernels/reference/quantize.h"

namespace qlinear::model {
namespace {

using reference::IntxQMax;
using reference::IntxQMin;

// The TensorDType that holds values of model dtype `t`.
TensorDType TensorDTypeOf(DType t) {
  switch (t) {
    case DType::kF32:
      return TensorDType::kF32;
    case DType::kBF16:
      return TensorDType::kBF16;
    case DType::kF16:
      return TensorDType::kF16;
  }
  return TensorDType::kF32;
}

DType FloatDTypeOf(TensorDType t) {
  return t == TensorDType::kBF16
             ? DType::kBF16
             : (t == TensorDType::kF16 ? DType::kF16 : DType::kF32);
}

std::string ShapeString(const std::vector<int64_t>& shape) {
  return absl::StrCat("[", absl::StrJoin(shape, ", "), "]");
}

absl::Status TensorError(const std::string& name, const std::string& problem) {
  return absl::InvalidArgumentError(
      absl::StrCat("tensor '", name, "': ", problem));
}

// Finds `name` and checks its shape; `dtype_ok` says which dtypes are allowed
// and `expected_dtypes` names them for the message.
absl::StatusOr<const TensorView*> GetTensor(
    const SafetensorsFile& file, const std::string& name,
    const std::string& layer, const std::vector<int64_t>& shape,
    const std::vector<TensorDType>& dtypes) {
  const TensorView* t = file.Find(name);
  if (t == nullptr) {
    return TensorError(name,
                       absl::StrCat("missing (needed by layer '", layer, "')"));
  }
  bool dtype_ok = false;
  std::vector<std::string> names;
  for (TensorDType d : dtypes) {
    dtype_ok |= d == t->dtype;
    names.emplace_back(TensorDTypeName(d));
  }
  if (!dtype_ok) {
    return TensorError(
        name, absl::StrCat("dtype ", std::string(TensorDTypeName(t->dtype)),
                           ", expected ", absl::StrJoin(names, " or ")));
  }
  if (t->shape != shape) {
    return TensorError(name, absl::StrCat("shape ", ShapeString(t->shape),
                                          ", expected ", ShapeString(shape)));
  }
  return t;
}

// Float tensor values rounded to `t`; rejects non-finite values.
absl::StatusOr<std::vector<float>> ReadFloats(const TensorView& view, DType t) {
  const DType src = FloatDTypeOf(view.dtype);
  const size_t count = static_cast<size_t>(view.num_elements());
  std::vector<float> out(count);
  for (size_t i = 0; i < count; ++i) {
    const float v = LoadAsFloat(src, view.data, i);
    if (!std::isfinite(v)) {
      return TensorError(view.name,
                         absl::StrCat("element ", i, " is not finite"));
    }
    out[i] = RoundTo(t, v);
  }
  return out;
}

absl::Status LoadFloatSource(const Manifest& manifest, const LayerSpec& spec,
                             const SafetensorsFile& file, LinearWeights* w) {
  const int64_t n = static_cast<int64_t>(spec.out_features);
  const int64_t k = static_cast<int64_t>(spec.in_features);
  QL_ASSIGN_OR_RETURN(
      const TensorView* view,
      GetTensor(file, spec.name + ".weight", spec.name, {n, k},
                {TensorDType::kF32, TensorDType::kBF16, TensorDType::kF16}));
  QL_ASSIGN_OR_RETURN(std::vector<float> values,
                      ReadFloats(*view, manifest.dtype));
  switch (spec.format) {
    case WeightFormat::kInt4Opaque:
      w->int4 = reference::QuantizeInt4Weights(values.data(), spec.out_features,
                                               spec.in_features,
                                               spec.group_size, manifest.dtype);
      break;
    case WeightFormat::kIntxOpaque:
      w->intx = reference::QuantizeIntxWeights(
          values.data(), spec.out_features, spec.in_features, spec.group_size,
          spec.bits, spec.mapping, manifest.dtype, manifest.scale_floor);
      break;
    case WeightFormat::kFp32:
      w->fp32 = std::move(values);
      break;
  }
  return absl::OkStatus();
}

absl::Status LoadInt4PlainSource(const Manifest& manifest,
                                 const LayerSpec& spec,
                                 const SafetensorsFile& file,
                                 LinearWeights* w) {
  const int64_t n = static_cast<int64_t>(spec.out_features);
  const int64_t k = static_cast<int64_t>(spec.in_features);
  const int64_t groups = k / static_cast<int64_t>(spec.group_size);
  const TensorDType scale_dtype = TensorDTypeOf(manifest.dtype);
  QL_ASSIGN_OR_RETURN(const TensorView* qweight,
                      GetTensor(file, spec.name + ".qweight", spec.name,
                                {n, k / 2}, {TensorDType::kU8}));
  QL_ASSIGN_OR_RETURN(const TensorView* scales,
                      GetTensor(file, spec.name + ".scales", spec.name,
                                {n, groups}, {scale_dtype}));
  QL_ASSIGN_OR_RETURN(const TensorView* zeros,
                      GetTensor(file, spec.name + ".zeros", spec.name,
                                {n, groups}, {scale_dtype}));
  Int4PlainWeights& p = w->int4;
  p.n = spec.out_features;
  p.k = spec.in_features;
  p.group_size = spec.group_size;
  p.q.resize(p.n * p.k);
  for (size_t i = 0; i < p.n * p.k / 2; ++i) {
    const uint8_t byte = qweight->data[i];
    p.q[2 * i] = byte & 0x0f;  // low nibble: even k
    p.q[2 * i + 1] = byte >> 4;
  }
  QL_ASSIGN_OR_RETURN(p.scale, ReadFloats(*scales, manifest.dtype));
  QL_ASSIGN_OR_RETURN(p.zero, ReadFloats(*zeros, manifest.dtype));
  return absl::OkStatus();
}

absl::Status LoadTorchaoIntxSource(const Manifest& manifest,
                                   const LayerSpec& spec,
                                   const SafetensorsFile& file,
                                   LinearWeights* w) {
  const int64_t n = static_cast<int64_t>(spec.out_features);
  const int64_t k = static_cast<int64_t>(spec.in_features);
  const int64_t groups = k / static_cast<int64_t>(spec.group_size);
  const int qmin = IntxQMin(spec.bits), qmax = IntxQMax(spec.bits);
  QL_ASSIGN_OR_RETURN(const TensorView* qdata,
                      GetTensor(file, spec.name + "._weight_qdata", spec.name,
                                {n, k}, {TensorDType::kI8}));
  QL_ASSIGN_OR_RETURN(const TensorView* scale,
                      GetTensor(file, spec.name + "._weight_scale", spec.name,
                                {n, groups}, {TensorDTypeOf(manifest.dtype)}));
  QL_ASSIGN_OR_RETURN(const TensorView* zero_point,
                      GetTensor(file, spec.name + "._weight_zero_point",
                                spec.name, {n, groups}, {TensorDType::kI8}));
  IntxPlainWeights& p = w->intx;
  p.n = spec.out_features;
  p.k = spec.in_features;
  p.group_size = spec.group_size;
  p.bits = spec.bits;
  p.q.assign(reinterpret_cast<const int8_t*>(qdata->data),
             reinterpret_cast<const int8_t*>(qdata->data) + p.n * p.k);
  for (size_t i = 0; i < p.q.size(); ++i) {
    if (p.q[i] < qmin || p.q[i] > qmax) {
      return TensorError(qdata->name,
                         absl::StrCat("code ", p.q[i], " at [", i / p.k, ", ",
                                      i % p.k, "] is out of range ", qmin, "..",
                                      qmax, " for ", spec.bits, " bits"));
    }
  }
  p.zero_point.assign(
      reinterpret_cast<const int8_t*>(zero_point->data),
      reinterpret_cast<const int8_t*>(zero_point->data) + p.n * groups);
  for (size_t i = 0; i < p.zero_point.size(); ++i) {
    if (p.zero_point[i] < qmin || p.zero_point[i] > qmax) {
      return TensorError(
          zero_point->name,
          absl::StrCat("zero point ", p.zero_point[i], " at index ", i,
                       " is out of range ", qmin, "..", qmax, " for ",
                       spec.bits, " bits"));
    }
  }
  QL_ASSIGN_OR_RETURN(p.scale, ReadFloats(*scale, manifest.dtype));
  return absl::OkStatus();
}

absl::StatusOr<std::unique_ptr<Linear>> BuildLayer(
    const Manifest& manifest, const LayerSpec& spec,
    const SafetensorsFile& file) {
  LinearWeights w;
  w.format = spec.format;
  w.dtype = manifest.dtype;
  w.n = spec.out_features;
  w.k = spec.in_features;
  w.activation = spec.activation;
  w.act_scale_floor = manifest.scale_floor;
  switch (spec.source) {
    case WeightSource::kFloat:
      QL_RETURN_IF_ERROR(LoadFloatSource(manifest, spec, file, &w));
      break;
    case WeightSource::kInt4Plain:
      QL_RETURN_IF_ERROR(LoadInt4PlainSource(manifest, spec, file, &w));
      break;
    case WeightSource::kTorchaoIntx:
      QL_RETURN_IF_ERROR(LoadTorchaoIntxSource(manifest, spec, file, &w));
      break;
  }
  if (spec.bias) {
    QL_ASSIGN_OR_RETURN(
        const TensorView* bias,
        GetTensor(file, spec.name + ".bias", spec.name,
                  {static_cast<int64_t>(spec.out_features)},
                  {TensorDType::kF32, TensorDType::kBF16, TensorDType::kF16}));
    QL_ASSIGN_OR_RETURN(w.bias, ReadFloats(*bias, manifest.dtype));
  }
  absl::StatusOr<std::unique_ptr<Linear>> linear = Linear::Create(std::move(w));
  if (!linear.ok()) {
    return absl::InvalidArgumentError(
        absl::StrCat("layer '", spec.name, "': ", linear.status().message()));
  }
  return linear;
}

absl::StatusOr<std::string> ReadFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return absl::NotFoundError(absl::StrCat(path, ": cannot open"));
  std::ostringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

absl::Status Prefixed(const std::string& prefix, const absl::Status& s) {
  return absl::Status(s.code(), absl::StrCat(prefix, ": ", s.message()));
}

}  // namespace

absl::StatusOr<std::unique_ptr<LinearStack>> BuildLinearStack(
    const Manifest& manifest, const SafetensorsFile& tensors) {
  // A manifest built in code gets the same checks as one read from a file.
  absl::StatusOr<Manifest> checked = ParseManifest(ManifestToJson(manifest));
  if (!checked.ok()) return checked.status();
  std::vector<std::unique_ptr<Linear>> layers;
  layers.reserve(manifest.layers.size());
  for (const LayerSpec& spec : manifest.layers) {
    QL_ASSIGN_OR_RETURN(std::unique_ptr<Linear> layer,
                        BuildLayer(manifest, spec, tensors));
    layers.push_back(std::move(layer));
  }
  return LinearStack::Create(manifest, std::move(layers));
}

absl::StatusOr<std::unique_ptr<LinearStack>> LoadModelDir(
    const std::string& dir) {
  const std::string manifest_path = dir + "/model.json";
  const std::string tensors_path = dir + "/model.safetensors";
  QL_ASSIGN_OR_RETURN(std::string text, ReadFile(manifest_path));
  absl::StatusOr<Manifest> manifest = ParseManifest(text);
  if (!manifest.ok()) return Prefixed(manifest_path, manifest.status());
  QL_ASSIGN_OR_RETURN(std::unique_ptr<SafetensorsFile> file,
                      SafetensorsFile::Open(tensors_path));
  absl::StatusOr<std::unique_ptr<LinearStack>> stack =
      BuildLinearStack(*manifest, *file);
  if (!stack.ok()) return Prefixed(tensors_path, stack.status());
  return stack;
}

}  // namespace qlinear::model
