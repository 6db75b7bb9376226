#include "server/request_recorder.h"

#include <spdlog/spdlog.h>

#include <string>

#include "server/client_text.h"

namespace qlinear::server {

uint64_t NanosSince(std::chrono::steady_clock::time_point start) {
  return static_cast<uint64_t>(
      std::chrono::duration_cast<std::chrono::nanoseconds>(
          std::chrono::steady_clock::now() - start)
          .count());
}

double SecondsSince(std::chrono::steady_clock::time_point start) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - start)
      .count();
}

void LogRejected(const std::string& model, Rpc rpc, const absl::Status& status,
                 const std::string& request_id) {
  spdlog::info(
      "event=request_rejected model={} rpc={} code={} request_id={} "
      "reason=\"{}\"",
      model.empty() ? "-" : ClientText(model), RpcName(rpc),
      absl::StatusCodeToString(status.code()),
      request_id.empty() ? "-" : ClientText(request_id),
      ClientText(MessageOf(status), kMaxStatusMessageBytes));
}

absl::StatusOr<ModelEntry> BeginRequest(
    const ModelRegistry& registry, Metrics* metrics, Rpc rpc,
    std::string_view field, const std::string& name, const std::string& version,
    const std::string& request_id, std::chrono::steady_clock::time_point start,
    RequestRecorder* recorder) {
  absl::StatusOr<ModelEntry> entry = registry.Lookup(field, name, version);
  if (!entry.ok()) {
    // The name the client sent is in the reason ("model '...' not found"):
    // logged once, not also as model=.
    return RejectBeforeModel(metrics, rpc, entry.status(), request_id);
  }
  recorder->stats = entry->stats;
  recorder->metrics = entry->metrics;
  recorder->rpc = rpc;
  recorder->start = start;
  recorder->model = entry->name;
  recorder->request_id = request_id;
  return entry;
}

absl::Status RejectBeforeModel(Metrics* metrics, Rpc rpc, absl::Status status,
                               const std::string& request_id) {
  if (metrics != nullptr) metrics->RecordUnknownModel(rpc, status.code());
  LogRejected("", rpc, status, request_id);
  return status;
}

void RequestRecorder::Success(
    size_t rows, const TaskResult& result,
    std::chrono::steady_clock::time_point encode_start) const {
  const auto now = std::chrono::steady_clock::now();
  const auto ns = [](std::chrono::steady_clock::duration d) {
    return static_cast<uint64_t>(
        std::chrono::duration_cast<std::chrono::nanoseconds>(d).count());
  };
  const uint64_t total_ns = ns(now - start);
  if (metrics != nullptr)
    metrics->ObserveRequest(rpc, absl::StatusCode::kOk, total_ns);
  if (stats == nullptr) return;
  RequestTimes times;
  times.queue_ns = static_cast<uint64_t>(result.queue_seconds * 1e9);
  times.compute_input_ns = compute_input_ns;
  double layer_seconds = 0.0;
  for (const model::LayerTiming& t : result.layers)
    layer_seconds += t.kernel_seconds;
  times.compute_infer_ns = static_cast<uint64_t>(layer_seconds * 1e9);
  times.compute_output_ns = ns(now - encode_start);
  times.total_ns = total_ns;
  stats->RecordSuccess(rpc, rows, times);
}

absl::Status RequestRecorder::Failure(absl::Status status) const {
  if (status.ok()) return status;
  const uint64_t total_ns = NanosSince(start);
  LogRejected(model, rpc, status, request_id);
  if (stats != nullptr) stats->RecordFailure(rpc, status.code(), total_ns);
  if (metrics != nullptr) metrics->ObserveRequest(rpc, status.code(), total_ns);
  return status;
}

}  // namespace qlinear::server
