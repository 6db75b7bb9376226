// libFuzzer target: the native API's request decoding and validation
// (server/validation.h), as the Forward and Matmul handlers run it. Input:
// one selector byte (even: ForwardRequest, odd: MatmulRequest), then the
// serialized request. A request that parses is looked up in the fuzz models'
// registry (fuzz_models.h) and validated; one that validates runs on its
// model and is encoded as a response, and the call must be what the request
// said (layers, shape, bytes). A rejection must be one of the documented
// statuses with a message. Build with -DQLINEAR_BUILD_FUZZERS=ON (clang).
#include <cstddef>
#include <cstdint>
#include <vector>

#include "absl/status/status.h"
#include "qlinear/v1/qlinear.pb.h"
#include "server/validation.h"
#include "tests/fuzz/fuzz_models.h"

namespace qlinear::fuzz {
namespace {

// The statuses a request may get before it is scheduled: Lookup()'s and
// validation's.
void CheckRejection(const absl::Status& status) {
  FuzzCheck(status.code() == absl::StatusCode::kInvalidArgument ||
            status.code() == absl::StatusCode::kNotFound);
  FuzzCheck(!status.message().empty());
}

// Runs a validated call and encodes its response as the handler does.
void CheckOutput(absl::Status run, const model::LinearStack& stack, size_t rows,
                 size_t last_layer, const std::vector<float>& output) {
  FuzzCheck(run.ok());
  const size_t cols = stack.layer_spec(last_layer).out_features;
  FuzzCheck(output.size() == rows * cols);
  v1::Tensor encoded;
  server::EncodeMatrix(stack.dtype(), rows, cols, output, &encoded);
  FuzzCheck(encoded.data().size() == rows * cols * DTypeSize(stack.dtype()));
}

void FuzzForward(const v1::ForwardRequest& request) {
  auto entry =
      FuzzRegistry().Lookup("model", request.model(), request.version());
  if (!entry.ok()) return CheckRejection(entry.status());
  const model::LinearStack& stack = *entry->stack;
  auto call = server::ValidateForwardRequest(request, stack, FuzzLimits());
  if (!call.ok()) return CheckRejection(call.status());
  FuzzCheck(call->layer_begin < call->layer_end);
  FuzzCheck(call->layer_end <= stack.num_layers());
  FuzzCheck(!request.has_layer_start() ||
            static_cast<int64_t>(call->layer_begin) == request.layer_start());
  FuzzCheck(!request.has_layer_end() ||
            static_cast<int64_t>(call->layer_end) == request.layer_end());
  CheckDecoded(call->input, stack.dtype(),
               stack.layer_spec(call->layer_begin).in_features,
               request.input().data());
  std::vector<float> y;
  const absl::Status run =
      stack.Forward(call->input.values.data(), call->input.rows,
                    call->layer_begin, call->layer_end, call->act_quant, &y);
  CheckOutput(run, stack, call->input.rows, call->layer_end - 1, y);
}

void FuzzMatmul(const v1::MatmulRequest& request) {
  auto entry =
      FuzzRegistry().Lookup("model", request.model(), request.version());
  if (!entry.ok()) return CheckRejection(entry.status());
  const model::LinearStack& stack = *entry->stack;
  auto call = server::ValidateMatmulRequest(request, stack, FuzzLimits());
  if (!call.ok()) return CheckRejection(call.status());
  FuzzCheck(call->layer < stack.num_layers());
  FuzzCheck(stack.layer_spec(call->layer).name == request.layer());
  CheckDecoded(call->input, stack.dtype(),
               stack.layer_spec(call->layer).in_features,
               request.input().data());
  std::vector<float> y;
  const absl::Status run = stack.Matmul(call->layer, call->input.values.data(),
                                        call->input.rows, call->act_quant, &y);
  CheckOutput(run, stack, call->input.rows, call->layer, y);
}

}  // namespace
}  // namespace qlinear::fuzz

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size < 1) return 0;
  const bool matmul = (data[0] & 1) != 0;
  const uint8_t* bytes = data + 1;
  const int length = static_cast<int>(size - 1);
  if (matmul) {
    qlinear::v1::MatmulRequest request;
    if (request.ParseFromArray(bytes, length)) {
      qlinear::fuzz::FuzzMatmul(request);
    }
  } else {
    qlinear::v1::ForwardRequest request;
    if (request.ParseFromArray(bytes, length)) {
      qlinear::fuzz::FuzzForward(request);
    }
  }
  return 0;
}
