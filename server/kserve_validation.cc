#include "server/kserve_validation.h"

#include <limits>
#include <string>
#include <utility>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/string_view.h"
#include "common/status_macros.h"
#include "server/client_text.h"

namespace qlinear::server {
namespace {

using ::inference::InferParameter;
using ::inference::InferTensorContents;
using ::inference::ModelInferRequest;

absl::string_view ToAbsl(std::string_view s) {
  return absl::string_view(s.data(), s.size());
}

absl::Status InvalidField(absl::string_view field, absl::string_view problem) {
  return absl::InvalidArgumentError(absl::StrCat(field, ": ", problem));
}

constexpr absl::string_view kKnownParameters =
    "act_quant, priority, timeout, layer_start, layer_end, act_quant_quality";

// The integer value of parameter `key`, which must be an int64_param or a
// uint64_param within int64 range.
absl::StatusOr<int64_t> IntParameter(const std::string& key,
                                     const InferParameter& p) {
  const std::string field = absl::StrCat("parameters.", key);
  switch (p.parameter_choice_case()) {
    case InferParameter::kInt64Param:
      return p.int64_param();
    case InferParameter::kUint64Param:
      if (p.uint64_param() >
          static_cast<uint64_t>(std::numeric_limits<int64_t>::max())) {
        return InvalidField(field, absl::StrCat(p.uint64_param(),
                                                " is out of the int64 range"));
      }
      return static_cast<int64_t>(p.uint64_param());
    default:
      return InvalidField(field, "must be an int64_param or uint64_param");
  }
}

// True when any typed field of `contents` holds an element.
bool HasTypedElements(const InferTensorContents& c) {
  return c.bool_contents_size() > 0 || c.int_contents_size() > 0 ||
         c.int64_contents_size() > 0 || c.uint_contents_size() > 0 ||
         c.uint64_contents_size() > 0 || c.fp32_contents_size() > 0 ||
         c.fp64_contents_size() > 0 || c.bytes_contents_size() > 0;
}

// The name of the first typed field other than fp32_contents that holds an
// element, or "" if none does.
absl::string_view NonFp32TypedField(const InferTensorContents& c) {
  if (c.bool_contents_size() > 0) return "bool_contents";
  if (c.int_contents_size() > 0) return "int_contents";
  if (c.int64_contents_size() > 0) return "int64_contents";
  if (c.uint_contents_size() > 0) return "uint_contents";
  if (c.uint64_contents_size() > 0) return "uint64_contents";
  if (c.fp64_contents_size() > 0) return "fp64_contents";
  if (c.bytes_contents_size() > 0) return "bytes_contents";
  return "";
}

// Applies the request parameters to *call; collects the layer range bounds.
absl::Status ApplyParameters(const ModelInferRequest& request,
                             const model::LinearStack& model,
                             std::optional<int64_t>* layer_start,
                             std::optional<int64_t>* layer_end,
                             InferCall* call) {
  call->act_quant = model.manifest().default_act_quant;
  for (const auto& [key, value] : request.parameters()) {
    if (key == "act_quant") {
      if (value.parameter_choice_case() != InferParameter::kStringParam) {
        return InvalidField("parameters.act_quant", "must be a string_param");
      }
      const std::optional<ActQuant> mode = ParseActQuant(value.string_param());
      if (!mode.has_value()) {
        return InvalidField(
            "parameters.act_quant",
            absl::StrCat("unknown mode '", ClientText(value.string_param()),
                         "'; expected 'none' or 'int8_asym_per_token'"));
      }
      call->act_quant = *mode;
    } else if (key == "priority") {
      QL_ASSIGN_OR_RETURN(const int64_t priority, IntParameter(key, value));
      if (priority < std::numeric_limits<int32_t>::min() ||
          priority > std::numeric_limits<int32_t>::max()) {
        return InvalidField(
            "parameters.priority",
            absl::StrCat(priority, " is out of the int32 range"));
      }
      call->priority = static_cast<int32_t>(priority);
    } else if (key == "timeout") {
      QL_ASSIGN_OR_RETURN(const int64_t timeout_us, IntParameter(key, value));
      if (timeout_us < 0) {
        return InvalidField(
            "parameters.timeout",
            absl::StrCat(timeout_us, " is negative (microseconds; 0: none)"));
      }
      if (timeout_us > 0) call->timeout = absl::Microseconds(timeout_us);
    } else if (key == "layer_start") {
      QL_ASSIGN_OR_RETURN(*layer_start, IntParameter(key, value));
    } else if (key == "layer_end") {
      QL_ASSIGN_OR_RETURN(*layer_end, IntParameter(key, value));
    } else if (key == "act_quant_quality") {
      if (value.parameter_choice_case() != InferParameter::kBoolParam) {
        return InvalidField("parameters.act_quant_quality",
                            "must be a bool_param");
      }
      call->act_quant_quality = value.bool_param();
    } else {
      return InvalidField("parameters",
                          absl::StrCat("unknown parameter '", ClientText(key),
                                       "'; known: ", kKnownParameters));
    }
  }
  return absl::OkStatus();
}

absl::Status CheckOutputs(const ModelInferRequest& request) {
  for (int i = 0; i < request.outputs_size(); ++i) {
    const auto& output = request.outputs(i);
    if (output.name() != kKServeOutputName) {
      return InvalidField(
          absl::StrCat("outputs[", i, "].name"),
          absl::StrCat("unknown output '", ClientText(output.name()),
                       "'; the model has one output, '", kKServeOutputName,
                       "'"));
    }
    if (!output.parameters().empty()) {
      return InvalidField(
          absl::StrCat("outputs[", i, "].parameters"),
          absl::StrCat("'", ClientText(output.parameters().begin()->first),
                       "' is not supported; output parameters must be empty"));
    }
  }
  return absl::OkStatus();
}

}  // namespace

std::string_view KServeDatatype(DType t) {
  switch (t) {
    case DType::kF32:
      return "FP32";
    case DType::kBF16:
      return "BF16";
    case DType::kF16:
      return "FP16";
  }
  return "";
}

absl::StatusOr<InferCall> ValidateInferRequest(const ModelInferRequest& request,
                                               const model::LinearStack& model,
                                               const RequestLimits& limits) {
  InferCall call;
  std::optional<int64_t> layer_start, layer_end;
  QL_RETURN_IF_ERROR(
      ApplyParameters(request, model, &layer_start, &layer_end, &call));
  QL_ASSIGN_OR_RETURN(
      auto range,
      ResolveLayerRange(layer_start, layer_end, model, request.model_name(),
                        "parameters.layer_start", "parameters.layer_end"));
  call.layer_begin = range.first;
  call.layer_end = range.second;
  QL_RETURN_IF_ERROR(CheckOutputs(request));

  if (request.inputs_size() != 1) {
    return InvalidField(
        "inputs", absl::StrCat("expected exactly 1 input ('", kKServeInputName,
                               "'), got ", request.inputs_size()));
  }
  const ModelInferRequest::InferInputTensor& input = request.inputs(0);
  if (input.name() != kKServeInputName) {
    return InvalidField("inputs[0].name",
                        absl::StrCat("expected '", kKServeInputName, "', got '",
                                     ClientText(input.name()), "'"));
  }
  if (!input.parameters().empty()) {
    return InvalidField(
        "inputs[0].parameters",
        absl::StrCat("'", ClientText(input.parameters().begin()->first),
                     "' is not supported (no shared memory); input parameters "
                     "must be empty"));
  }
  const DType dtype = model.dtype();
  const absl::string_view datatype = ToAbsl(KServeDatatype(dtype));
  if (input.datatype() != datatype) {
    return InvalidField(
        "inputs[0].datatype",
        absl::StrCat("'", ClientText(input.datatype()),
                     "' does not match the model datatype ", datatype));
  }
  const size_t cols = model.layer_spec(call.layer_begin).in_features;
  QL_ASSIGN_OR_RETURN(
      const size_t rows,
      CheckMatrixShape(input.shape(), cols, limits.max_rows_per_request,
                       "inputs[0].shape"));
  QL_RETURN_IF_ERROR(CheckResponseBytes(
      rows, model.layer_spec(call.layer_end - 1).out_features, dtype, limits,
      "inputs[0].shape"));

  const bool typed = input.has_contents() && HasTypedElements(input.contents());
  if (request.raw_input_contents_size() > 0) {
    if (request.raw_input_contents_size() != request.inputs_size()) {
      return InvalidField("raw_input_contents",
                          absl::StrCat(request.raw_input_contents_size(),
                                       " entries for ", request.inputs_size(),
                                       " input; the counts must be equal"));
    }
    if (typed) {
      return InvalidField(
          "inputs[0].contents",
          "must not be set when raw_input_contents is used (raw and typed "
          "contents cannot be mixed)");
    }
    QL_ASSIGN_OR_RETURN(
        call.input,
        DecodeRawMatrix(request.raw_input_contents(0), dtype, rows, cols,
                        "raw_input_contents[0]", KServeDatatype(dtype)));
    return call;
  }
  if (!typed) {
    return InvalidField(
        "inputs[0]", "no data: set raw_input_contents or inputs[0].contents");
  }
  if (dtype != DType::kF32) {
    return InvalidField(
        "inputs[0].contents",
        absl::StrCat("the protocol defines no typed contents for ", datatype,
                     "; send the tensor in raw_input_contents"));
  }
  const absl::string_view other = NonFp32TypedField(input.contents());
  if (!other.empty()) {
    return InvalidField(
        absl::StrCat("inputs[0].contents.", other),
        "does not match datatype FP32; FP32 values go in fp32_contents");
  }
  QL_ASSIGN_OR_RETURN(
      call.input, DecodeFloatMatrix(input.contents().fp32_contents(), rows,
                                    cols, "inputs[0].contents.fp32_contents"));
  return call;
}

}  // namespace qlinear::server
