#include "server/validation.h"

#include <cmath>
#include <string>
#include <utility>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/string_view.h"
#include "common/check.h"
#include "common/status_macros.h"

namespace qlinear::server {
namespace {

absl::string_view ToAbsl(std::string_view s) {
  return absl::string_view(s.data(), s.size());
}

// "BF16" for DATA_TYPE_BF16, "7" for a value outside the enum.
std::string DataTypeLabel(v1::DataType t) {
  constexpr absl::string_view kPrefix = "DATA_TYPE_";
  const std::string& name = v1::DataType_Name(t);
  if (name.empty()) return absl::StrCat(static_cast<int>(t));
  return std::string(absl::string_view(name).substr(kPrefix.size()));
}

absl::Status InvalidField(absl::string_view field, absl::string_view problem) {
  return absl::InvalidArgumentError(absl::StrCat(field, ": ", problem));
}

std::string ShapeString(const v1::Tensor& tensor) {
  return absl::StrCat("[", absl::StrJoin(tensor.shape(), ", "), "]");
}

// Layers [begin, end) of a Forward request, defaults applied.
absl::StatusOr<std::pair<size_t, size_t>> ResolveLayerRange(
    const v1::ForwardRequest& request, const model::LinearStack& model) {
  const size_t num_layers = model.num_layers();
  const size_t begin = request.has_layer_start() ? request.layer_start() : 0;
  const size_t end = request.has_layer_end() ? request.layer_end() : num_layers;
  if (begin >= num_layers) {
    return InvalidField(
        "layer_start",
        absl::StrCat(begin, " is out of range for model '", request.model(),
                     "' with ", num_layers, " layers"));
  }
  if (end > num_layers) {
    return InvalidField(
        "layer_end",
        absl::StrCat(end, " is out of range for model '", request.model(),
                     "' with ", num_layers, " layers"));
  }
  if (begin >= end) {
    return InvalidField(
        "layer_start",
        absl::StrCat(begin, " must be less than layer_end ", end));
  }
  return std::make_pair(begin, end);
}

}  // namespace

v1::DataType ToProtoDataType(DType t) {
  switch (t) {
    case DType::kF32:
      return v1::DATA_TYPE_FP32;
    case DType::kBF16:
      return v1::DATA_TYPE_BF16;
    case DType::kF16:
      return v1::DATA_TYPE_FP16;
  }
  return v1::DATA_TYPE_UNSPECIFIED;
}

v1::ActQuant ToProtoActQuant(ActQuant a) {
  switch (a) {
    case ActQuant::kNone:
      return v1::ACT_QUANT_NONE;
    case ActQuant::kInt8AsymPerToken:
      return v1::ACT_QUANT_INT8_ASYM_PER_TOKEN;
  }
  return v1::ACT_QUANT_MODEL_DEFAULT;
}

absl::StatusOr<ActQuant> ResolveActQuant(v1::ActQuant requested,
                                         ActQuant model_default) {
  switch (requested) {
    case v1::ACT_QUANT_MODEL_DEFAULT:
      return model_default;
    case v1::ACT_QUANT_NONE:
      return ActQuant::kNone;
    case v1::ACT_QUANT_INT8_ASYM_PER_TOKEN:
      return ActQuant::kInt8AsymPerToken;
    default:
      return InvalidField(
          "act_quant",
          absl::StrCat("unknown value ", static_cast<int>(requested)));
  }
}

absl::StatusOr<DecodedInput> DecodeMatrix(const v1::Tensor& tensor,
                                          std::string_view field, DType dtype,
                                          size_t cols, int64_t max_rows) {
  const absl::string_view name = ToAbsl(field);
  const std::string dtype_field = absl::StrCat(name, ".dtype");
  const std::string shape_field = absl::StrCat(name, ".shape");
  const std::string data_field = absl::StrCat(name, ".data");
  const absl::string_view model_dtype = ToAbsl(DTypeName(dtype));

  if (tensor.dtype() == v1::DATA_TYPE_UNSPECIFIED) {
    return InvalidField(
        dtype_field,
        absl::StrCat("must be set (the model dtype is ", model_dtype, ")"));
  }
  if (tensor.dtype() != ToProtoDataType(dtype)) {
    return InvalidField(
        dtype_field,
        absl::StrCat(DataTypeLabel(tensor.dtype()),
                     " does not match the model dtype ", model_dtype));
  }
  if (tensor.shape_size() != 2 || tensor.shape(1) < 0 ||
      static_cast<uint64_t>(tensor.shape(1)) != cols) {
    return InvalidField(
        shape_field,
        absl::StrCat("expected [M, ", cols, "], got ", ShapeString(tensor)));
  }
  const int64_t rows = tensor.shape(0);
  if (rows < 1) {
    return InvalidField(shape_field, absl::StrCat("M must be at least 1, got ",
                                                  ShapeString(tensor)));
  }
  if (rows > max_rows) {
    return InvalidField(
        shape_field, absl::StrCat(rows, " rows exceed the limit of ", max_rows,
                                  " rows per request"));
  }
  const size_t count = static_cast<size_t>(rows) * cols;
  const size_t expected_bytes = count * DTypeSize(dtype);
  if (tensor.data().size() != expected_bytes) {
    return InvalidField(
        data_field,
        absl::StrCat(tensor.data().size(), " bytes, expected ", expected_bytes,
                     " for shape ", ShapeString(tensor), " x ", model_dtype));
  }

  DecodedInput input;
  input.rows = static_cast<size_t>(rows);
  input.cols = cols;
  input.values.resize(count);
  const char* data = tensor.data().data();
  for (size_t i = 0; i < count; ++i) {
    const float x = LoadAsFloat(dtype, data, i);
    if (!std::isfinite(x)) {
      return InvalidField(data_field,
                          absl::StrCat("element ", i, " is not finite"));
    }
    input.values[i] = x;
  }
  return input;
}

void EncodeMatrix(DType dtype, size_t rows, size_t cols,
                  const std::vector<float>& values, v1::Tensor* out) {
  QL_CHECK(values.size() == rows * cols);
  out->set_dtype(ToProtoDataType(dtype));
  out->clear_shape();
  out->add_shape(static_cast<int64_t>(rows));
  out->add_shape(static_cast<int64_t>(cols));
  std::string* data = out->mutable_data();
  data->resize(values.size() * DTypeSize(dtype));
  for (size_t i = 0; i < values.size(); ++i)
    StoreFromFloat(dtype, values[i], data->data(), i);
}

absl::StatusOr<ForwardCall> ValidateForwardRequest(
    const v1::ForwardRequest& request, const model::LinearStack& model,
    const RequestLimits& limits) {
  ForwardCall call;
  QL_ASSIGN_OR_RETURN(
      call.act_quant,
      ResolveActQuant(request.act_quant(), model.manifest().default_act_quant));
  QL_ASSIGN_OR_RETURN(auto range, ResolveLayerRange(request, model));
  call.layer_begin = range.first;
  call.layer_end = range.second;
  if (!request.has_input()) return InvalidField("input", "required");
  QL_ASSIGN_OR_RETURN(
      call.input, DecodeMatrix(request.input(), "input", model.dtype(),
                               model.layer_spec(call.layer_begin).in_features,
                               limits.max_rows_per_request));
  return call;
}

absl::StatusOr<MatmulCall> ValidateMatmulRequest(
    const v1::MatmulRequest& request, const model::LinearStack& model,
    const RequestLimits& limits) {
  MatmulCall call;
  QL_ASSIGN_OR_RETURN(
      call.act_quant,
      ResolveActQuant(request.act_quant(), model.manifest().default_act_quant));
  if (request.layer().empty()) return InvalidField("layer", "required");
  const int layer = model.FindLayer(request.layer());
  if (layer < 0) {
    return InvalidField(
        "layer", absl::StrCat("model '", request.model(), "' has no layer '",
                              request.layer(), "'"));
  }
  call.layer = static_cast<size_t>(layer);
  if (!request.has_input()) return InvalidField("input", "required");
  QL_ASSIGN_OR_RETURN(call.input,
                      DecodeMatrix(request.input(), "input", model.dtype(),
                                   model.layer_spec(call.layer).in_features,
                                   limits.max_rows_per_request));
  return call;
}

}  // namespace qlinear::server
