#include "server/validation.h"

#include <cmath>
#include <string>
#include <utility>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/string_view.h"
#include "common/check.h"
#include "common/status_macros.h"
#include "server/client_text.h"

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

absl::StatusOr<std::pair<size_t, size_t>> ResolveLayerRange(
    std::optional<int64_t> start, std::optional<int64_t> end,
    const model::LinearStack& model, std::string_view model_name,
    std::string_view start_field, std::string_view end_field) {
  const int64_t num_layers = static_cast<int64_t>(model.num_layers());
  const int64_t begin = start.value_or(0);
  const int64_t stop = end.value_or(num_layers);
  if (begin < 0 || begin >= num_layers) {
    return InvalidField(
        ToAbsl(start_field),
        absl::StrCat(begin, " is out of range for model '",
                     ClientText(model_name), "' with ", num_layers, " layers"));
  }
  if (stop < 0 || stop > num_layers) {
    return InvalidField(
        ToAbsl(end_field),
        absl::StrCat(stop, " is out of range for model '",
                     ClientText(model_name), "' with ", num_layers, " layers"));
  }
  if (begin >= stop) {
    return InvalidField(ToAbsl(start_field),
                        absl::StrCat(begin, " must be less than ",
                                     ToAbsl(end_field), " ", stop));
  }
  return std::make_pair(static_cast<size_t>(begin), static_cast<size_t>(stop));
}

absl::StatusOr<size_t> CheckMatrixShape(absl::Span<const int64_t> shape,
                                        size_t cols, int64_t max_rows,
                                        std::string_view shape_field) {
  const absl::string_view field = ToAbsl(shape_field);
  if (shape.size() != 2 || shape[1] < 0 ||
      static_cast<uint64_t>(shape[1]) != cols) {
    return InvalidField(field, absl::StrCat("expected [M, ", cols, "], got ",
                                            ShapeText(shape)));
  }
  const int64_t rows = shape[0];
  if (rows < 1) {
    return InvalidField(
        field, absl::StrCat("M must be at least 1, got ", ShapeText(shape)));
  }
  if (rows > max_rows) {
    return InvalidField(field, absl::StrCat(rows, " rows exceed the limit of ",
                                            max_rows, " rows per request"));
  }
  return static_cast<size_t>(rows);
}

absl::StatusOr<DecodedInput> DecodeRawMatrix(std::string_view data, DType dtype,
                                             size_t rows, size_t cols,
                                             std::string_view data_field,
                                             std::string_view dtype_label) {
  const size_t count = rows * cols;
  const size_t expected_bytes = count * DTypeSize(dtype);
  if (data.size() != expected_bytes) {
    return InvalidField(ToAbsl(data_field),
                        absl::StrCat(data.size(), " bytes, expected ",
                                     expected_bytes, " for shape [", rows, ", ",
                                     cols, "] x ", ToAbsl(dtype_label)));
  }
  DecodedInput input;
  input.rows = rows;
  input.cols = cols;
  input.values.resize(count);
  for (size_t i = 0; i < count; ++i) {
    const float x = LoadAsFloat(dtype, data.data(), i);
    if (!std::isfinite(x)) {
      return InvalidField(ToAbsl(data_field),
                          absl::StrCat("element ", i, " is not finite"));
    }
    input.values[i] = x;
  }
  return input;
}

absl::StatusOr<DecodedInput> DecodeFloatMatrix(absl::Span<const float> values,
                                               size_t rows, size_t cols,
                                               std::string_view field) {
  const size_t count = rows * cols;
  if (values.size() != count) {
    return InvalidField(ToAbsl(field),
                        absl::StrCat(values.size(), " values, expected ", count,
                                     " for shape [", rows, ", ", cols, "]"));
  }
  for (size_t i = 0; i < count; ++i) {
    if (!std::isfinite(values[i])) {
      return InvalidField(ToAbsl(field),
                          absl::StrCat("element ", i, " is not finite"));
    }
  }
  DecodedInput input;
  input.rows = rows;
  input.cols = cols;
  input.values.assign(values.begin(), values.end());
  return input;
}

absl::StatusOr<DecodedInput> DecodeMatrix(const v1::Tensor& tensor,
                                          std::string_view field, DType dtype,
                                          size_t cols, int64_t max_rows) {
  const absl::string_view name = ToAbsl(field);
  const std::string dtype_field = absl::StrCat(name, ".dtype");
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
  QL_ASSIGN_OR_RETURN(const size_t rows,
                      CheckMatrixShape(tensor.shape(), cols, max_rows,
                                       absl::StrCat(name, ".shape")));
  return DecodeRawMatrix(tensor.data(), dtype, rows, cols,
                         absl::StrCat(name, ".data"), DTypeName(dtype));
}

void EncodeMatrix(DType dtype, size_t rows, size_t cols,
                  absl::Span<const float> values, v1::Tensor* out) {
  QL_CHECK(values.size() == rows * cols);
  out->set_dtype(ToProtoDataType(dtype));
  out->clear_shape();
  out->add_shape(static_cast<int64_t>(rows));
  out->add_shape(static_cast<int64_t>(cols));
  EncodeValues(dtype, values, out->mutable_data());
}

void EncodeValues(DType dtype, absl::Span<const float> values,
                  std::string* out) {
  out->resize(values.size() * DTypeSize(dtype));
  for (size_t i = 0; i < values.size(); ++i)
    StoreFromFloat(dtype, values[i], out->data(), i);
}

absl::Status CheckResponseBytes(size_t rows, size_t cols, DType dtype,
                                const RequestLimits& limits,
                                std::string_view shape_field) {
  const uint64_t row_bytes = uint64_t{cols} * DTypeSize(dtype);
  const uint64_t bytes = uint64_t{rows} * row_bytes;
  const uint64_t limit = static_cast<uint64_t>(limits.max_response_bytes);
  if (bytes <= limit) return absl::OkStatus();
  return InvalidField(
      ToAbsl(shape_field),
      absl::StrCat(rows, " rows give a response of ", rows, " x ", cols, " ",
                   ToAbsl(DTypeName(dtype)), " values (", bytes,
                   " bytes), over the server's limit of ", limit,
                   " bytes (--max-response-bytes); send at most ",
                   row_bytes == 0 ? 0 : limit / row_bytes,
                   " rows per request"));
}

absl::StatusOr<ForwardCall> ValidateForwardRequest(
    const v1::ForwardRequest& request, const model::LinearStack& model,
    const RequestLimits& limits) {
  ForwardCall call;
  QL_ASSIGN_OR_RETURN(
      call.act_quant,
      ResolveActQuant(request.act_quant(), model.manifest().default_act_quant));
  QL_ASSIGN_OR_RETURN(
      auto range,
      ResolveLayerRange(request.has_layer_start()
                            ? std::optional<int64_t>(request.layer_start())
                            : std::nullopt,
                        request.has_layer_end()
                            ? std::optional<int64_t>(request.layer_end())
                            : std::nullopt,
                        model, request.model(), "layer_start", "layer_end"));
  call.layer_begin = range.first;
  call.layer_end = range.second;
  if (!request.has_input()) return InvalidField("input", "required");
  QL_ASSIGN_OR_RETURN(
      call.input, DecodeMatrix(request.input(), "input", model.dtype(),
                               model.layer_spec(call.layer_begin).in_features,
                               limits.max_rows_per_request));
  QL_RETURN_IF_ERROR(CheckResponseBytes(
      call.input.rows, model.layer_spec(call.layer_end - 1).out_features,
      model.dtype(), limits, "input.shape"));
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
        "layer",
        absl::StrCat("model '", ClientText(request.model()), "' has no layer '",
                     ClientText(request.layer()), "'"));
  }
  call.layer = static_cast<size_t>(layer);
  if (!request.has_input()) return InvalidField("input", "required");
  QL_ASSIGN_OR_RETURN(call.input,
                      DecodeMatrix(request.input(), "input", model.dtype(),
                                   model.layer_spec(call.layer).in_features,
                                   limits.max_rows_per_request));
  QL_RETURN_IF_ERROR(CheckResponseBytes(
      call.input.rows, model.layer_spec(call.layer).out_features, model.dtype(),
      limits, "input.shape"));
  return call;
}

}  // namespace qlinear::server
