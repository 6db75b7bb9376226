// The per-request path of the native API (Forward, Matmul and each
// ForwardStream message) without the gRPC call: look the model up,
// validate, build the task, schedule it, and on completion fill the
// response. QLinearService calls it for every request; the stream fuzzer
// calls it directly (tests/fuzz/forward_stream_fuzz.cc).
#ifndef QLINEAR_SERVER_NATIVE_REQUESTS_H_
#define QLINEAR_SERVER_NATIVE_REQUESTS_H_

#include "absl/functional/any_invocable.h"
#include "absl/status/status.h"
#include "qlinear/v1/qlinear.pb.h"
#include "server/batching/batcher.h"
#include "server/inference_task.h"
#include "server/metrics.h"
#include "server/model_registry.h"
#include "server/validation.h"

namespace qlinear::server {

// What scheduling a request needs. Not owned; all must outlive the calls
// and their tasks. `metrics` may be null (no metrics).
struct RequestScheduling {
  const ModelRegistry* registry = nullptr;
  Metrics* metrics = nullptr;
  RequestLimits limits;
  batching::Batcher* batcher = nullptr;
};

// Validates `request` and schedules it. On OK, `done` is called exactly once
// with the outcome, after `response` is filled when it is OK; `response`
// must live until then. On error nothing is scheduled and `done` is not
// called. `rpc` labels the request in the statistics. Errors (and the
// outcomes `done` gets): the status table of docs/api.md: INVALID_ARGUMENT,
// NOT_FOUND, RESOURCE_EXHAUSTED, UNAVAILABLE; then DEADLINE_EXCEEDED,
// CANCELLED.
absl::Status ScheduleForward(const RequestScheduling& scheduling,
                             CallControl control,
                             const v1::ForwardRequest& request, Rpc rpc,
                             v1::ForwardResponse* response,
                             absl::AnyInvocable<void(absl::Status)> done);
absl::Status ScheduleMatmul(const RequestScheduling& scheduling,
                            CallControl control,
                            const v1::MatmulRequest& request,
                            v1::MatmulResponse* response,
                            absl::AnyInvocable<void(absl::Status)> done);

}  // namespace qlinear::server

#endif  // QLINEAR_SERVER_NATIVE_REQUESTS_H_
