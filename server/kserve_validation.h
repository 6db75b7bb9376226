// Request validation for the KServe v2 / Open Inference Protocol API
// (proto/inference/grpc_service.proto): turns a ModelInferRequest and the
// model it names into what the batcher needs, or into an INVALID_ARGUMENT
// status whose message starts with the offending field and states the rule
// broken. Pure functions: no gRPC calls, no I/O; thread-safe. The fuzz
// target tests/fuzz/infer_request_fuzz.cc feeds them arbitrary requests.
#ifndef QLINEAR_SERVER_KSERVE_VALIDATION_H_
#define QLINEAR_SERVER_KSERVE_VALIDATION_H_

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string_view>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "inference/grpc_service.pb.h"
#include "kernels/types.h"
#include "model/linear_stack.h"
#include "server/validation.h"

namespace qlinear::server {

// The one input and output tensor names of every model.
inline constexpr char kKServeInputName[] = "input";
inline constexpr char kKServeOutputName[] = "output";

// A validated ModelInfer request.
struct InferCall {
  size_t layer_begin = 0;
  size_t layer_end = 0;  // exclusive
  ActQuant act_quant = ActQuant::kNone;
  int32_t priority = 0;
  // The "timeout" parameter; nullopt when absent or 0.
  std::optional<absl::Duration> timeout;
  // The "act_quant_quality" parameter: answer with the int8-vs-none
  // comparison per quantized layer (docs/api.md).
  bool act_quant_quality = false;
  DecodedInput input;
};

// The protocol's datatype name of `t`: "FP32", "BF16" or "FP16".
std::string_view KServeDatatype(DType t);

// Validates `request` against `model` (already looked up by
// request.model_name()) and decodes its input. Checks, in order:
// - parameters: only "act_quant" (string_param: "none" |
//   "int8_asym_per_token"), "priority" (int64/uint64, int32 range),
//   "timeout" (int64/uint64 microseconds, >= 0), "layer_start" and
//   "layer_end" (int64/uint64), "act_quant_quality" (bool), each of its
//   type;
// - the layer range;
// - outputs: only "output", without parameters;
// - inputs: exactly one, named "input", without parameters; its datatype is
//   the model dtype; its shape is [M, K] with K = in_features(layer_start)
//   and 1 <= M <= limits.max_rows_per_request;
// - contents: raw_input_contents has as many entries as inputs, or none;
//   raw and typed contents are not mixed; raw bytes = M * K * element size;
//   typed contents exist only for FP32 (fp32_contents, M * K values; the
//   protocol defines none for BF16 and FP16); every value is finite.
// Errors: INVALID_ARGUMENT naming the field, e.g.
// "raw_input_contents[0]: 60 bytes, expected 64 for shape [2, 8] x FP32".
absl::StatusOr<InferCall> ValidateInferRequest(
    const inference::ModelInferRequest& request,
    const model::LinearStack& model, const RequestLimits& limits);

}  // namespace qlinear::server

#endif  // QLINEAR_SERVER_KSERVE_VALIDATION_H_
