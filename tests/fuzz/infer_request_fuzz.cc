// libFuzzer target: the KServe ModelInfer request decoding and validation
// (server/kserve_validation.h), as the ModelInfer handler runs it. Input: a
// serialized inference.ModelInferRequest. One that parses is looked up in
// the fuzz models' registry (fuzz_models.h) and validated; one that
// validates must match its parameters and contents (layers, shape, bytes or
// values, priority, timeout) and runs on its model, and its output is
// encoded as the handler does. A rejection must be one of the documented
// statuses with a message. Build with -DQLINEAR_BUILD_FUZZERS=ON (clang).
#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "inference/grpc_service.pb.h"
#include "server/kserve_validation.h"
#include "server/validation.h"
#include "tests/fuzz/fuzz_models.h"

namespace qlinear::fuzz {
namespace {

using ::inference::ModelInferRequest;

void FuzzInfer(const ModelInferRequest& request) {
  auto entry = FuzzRegistry().Lookup("model_name", request.model_name(),
                                     request.model_version());
  if (!entry.ok()) {
    FuzzCheck(entry.status().code() == absl::StatusCode::kInvalidArgument ||
              entry.status().code() == absl::StatusCode::kNotFound);
    return;
  }
  const model::LinearStack& stack = *entry->stack;
  auto call = server::ValidateInferRequest(request, stack, FuzzLimits());
  if (!call.ok()) {
    FuzzCheck(call.status().code() == absl::StatusCode::kInvalidArgument);
    FuzzCheck(!call.status().message().empty());
    return;
  }
  FuzzCheck(call->layer_begin < call->layer_end);
  FuzzCheck(call->layer_end <= stack.num_layers());
  FuzzCheck(!call->timeout.has_value() ||
            *call->timeout > absl::ZeroDuration());
  FuzzCheck(request.inputs_size() == 1);
  const size_t in_features = stack.layer_spec(call->layer_begin).in_features;
  if (request.raw_input_contents_size() > 0) {
    CheckDecoded(call->input, stack.dtype(), in_features,
                 request.raw_input_contents(0));
  } else {
    // Typed contents: fp32_contents only, taken as they are.
    FuzzCheck(stack.dtype() == DType::kF32);
    const auto& values = request.inputs(0).contents().fp32_contents();
    FuzzCheck(call->input.values.size() == static_cast<size_t>(values.size()));
    std::string bytes;
    server::EncodeValues(
        DType::kF32, std::vector<float>(values.begin(), values.end()), &bytes);
    CheckDecoded(call->input, stack.dtype(), in_features, bytes);
  }
  std::vector<float> y;
  FuzzCheck(stack
                .Forward(call->input.values.data(), call->input.rows,
                         call->layer_begin, call->layer_end, call->act_quant,
                         &y)
                .ok());
  const size_t cols = stack.layer_spec(call->layer_end - 1).out_features;
  FuzzCheck(y.size() == call->input.rows * cols);
  inference::ModelInferResponse response;
  server::EncodeValues(stack.dtype(), y, response.add_raw_output_contents());
  FuzzCheck(response.raw_output_contents(0).size() ==
            y.size() * DTypeSize(stack.dtype()));
}

}  // namespace
}  // namespace qlinear::fuzz

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  inference::ModelInferRequest request;
  if (request.ParseFromArray(data, static_cast<int>(size))) {
    qlinear::fuzz::FuzzInfer(request);
  }
  return 0;
}
