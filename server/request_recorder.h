// RequestRecorder: records one request's outcome in its model's statistics
// (the counters behind ModelStatistics) and Prometheus histograms. Both
// services use it, so every RPC counts the same way. The statistics and
// metrics come from the model's ModelEntry, cached there at load: recording
// does no lookup and takes no lock.
#ifndef QLINEAR_SERVER_REQUEST_RECORDER_H_
#define QLINEAR_SERVER_REQUEST_RECORDER_H_

#include <chrono>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "server/inference_task.h"
#include "server/metrics.h"
#include "server/model_registry.h"
#include "server/stats.h"

namespace qlinear::server {

// Copyable; each request completes through exactly one Success() or one
// Failure() with a non-OK status.
struct RequestRecorder {
  std::shared_ptr<ModelStats> stats;      // null: no statistics
  std::shared_ptr<ModelMetrics> metrics;  // null: no metrics
  Rpc rpc = Rpc::kForward;
  std::chrono::steady_clock::time_point start;  // handler entry
  uint64_t compute_input_ns = 0;                // validating and decoding
  std::string model;                            // for the rejection log line
  std::string request_id;  // the client's id, logged with a rejection

  // The request succeeded with `rows` rows; its output was encoded from
  // `encode_start` until now (one clock read ends both the encoding and the
  // request).
  void Success(size_t rows, const TaskResult& result,
               std::chrono::steady_clock::time_point encode_start) const;

  // Records `status` as a failure unless it is OK, logging one structured
  // line with the reason and request id; returns it.
  absl::Status Failure(absl::Status status) const;
};

// Starts recording a request of `rpc` that arrived at `start` for the model
// named by the request field `field` (`name`, `version`). On success returns
// the model's entry and fills *recorder for it. Otherwise the request counts
// as a rejection of an unknown model (in `metrics`, when not null, and in the
// log, with model=- since the reason quotes the name) and the error is
// returned: Lookup()'s INVALID_ARGUMENT, NOT_FOUND or
// UNAVAILABLE.
absl::StatusOr<ModelEntry> BeginRequest(
    const ModelRegistry& registry, Metrics* metrics, Rpc rpc,
    std::string_view field, const std::string& name, const std::string& version,
    const std::string& request_id, std::chrono::steady_clock::time_point start,
    RequestRecorder* recorder);

// Counts a request rejected before its model was known (an unknown model,
// a message that does not parse) under model="" in `metrics` (when not
// null), logs it once, and returns `status`.
absl::Status RejectBeforeModel(Metrics* metrics, Rpc rpc, absl::Status status,
                               const std::string& request_id);

// One structured log line for a request that did not succeed:
// event=request_rejected model=<model, "-" if empty> rpc= code=
// request_id=<"-" if empty> reason="<status message>". Every client string
// is escaped and cut (ClientText: model and request id to
// kMaxClientStringBytes, the reason to kMaxStatusMessageBytes), so a line
// is at most a few KiB and holds no newline whatever the client sent.
void LogRejected(const std::string& model, Rpc rpc, const absl::Status& status,
                 const std::string& request_id);

// Nanoseconds and seconds since `start` on the steady clock.
uint64_t NanosSince(std::chrono::steady_clock::time_point start);
double SecondsSince(std::chrono::steady_clock::time_point start);

}  // namespace qlinear::server

#endif  // QLINEAR_SERVER_REQUEST_RECORDER_H_
