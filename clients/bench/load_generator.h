// The load generator behind qlinear-bench: a closed loop (a fixed number of
// requests in flight, each sent when the previous one of its slot returns)
// and an open loop (requests sent at a fixed or Poisson rate, whatever the
// server does). Calls go out on the gRPC callback API, so no thread waits
// per request.
//
// The open loop measures each latency from the request's intended send time,
// not from when the generator got around to sending it, so a stalled server
// or generator shows up in the tail instead of silently lowering the load
// (no coordinated omission). How late the generator sent is reported too.
//
// A load point runs a warmup (not recorded), then a measurement window of a
// duration or of a number of requests. A request belongs to the window when
// its (intended) send time falls in it; the window's requests are all waited
// for, and they carry deadlines, so a point always ends.
#ifndef QLINEAR_CLIENTS_BENCH_LOAD_GENERATOR_H_
#define QLINEAR_CLIENTS_BENCH_LOAD_GENERATOR_H_

#include <grpcpp/grpcpp.h>

#include <chrono>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <map>
#include <optional>

#include "absl/time/time.h"
#include "clients/bench/summary.h"

namespace qlinear::bench {

// What one completed call reports.
struct CallOutcome {
  grpc::StatusCode code = grpc::StatusCode::OK;
  // From the response's timings (native API with return_timings): the rows
  // of the batch the request ran in (-1: not reported) and the server's
  // times in seconds (NaN: not reported).
  int64_t batch_rows = -1;
  double server_total = NAN;
  double server_queue = NAN;
  double server_infer = NAN;
  // Serialized size of the response.
  size_t response_bytes = 0;
};

using DoneCallback = std::function<void(const CallOutcome&)>;

// One kind of RPC with a fixed, pre-built request. Thread-safe: Start may be
// called from any number of threads at once, including from inside `done`.
class RequestKind {
 public:
  virtual ~RequestKind() = default;
  // Starts one call on channel `channel` (< the number of channels the kind
  // was built with) with `deadline`. `done` runs exactly once, on a gRPC
  // thread, when the call completes. By then the call has released what it
  // held (its context, with a reference to the channel, and its response);
  // only `done` itself is destroyed after it returns. So once the last
  // `done` a caller waits for has run, the caller may destroy the kind and
  // the channels, and exit.
  virtual void Start(size_t channel,
                     std::chrono::system_clock::time_point deadline,
                     DoneCallback done) = 0;
  // Rows per request; 0 for RPCs without an input (health, list).
  virtual int64_t rows() const = 0;
  // Serialized size of the request.
  virtual size_t request_bytes() const = 0;
};

// Cumulative server-side counters of the model (Triton ModelStatistics);
// the generator subtracts two snapshots taken around a window.
struct ServerCounters {
  uint64_t success_count = 0;
  uint64_t success_ns = 0;
  uint64_t queue_count = 0;
  uint64_t queue_ns = 0;
  uint64_t compute_input_count = 0;
  uint64_t compute_input_ns = 0;
  uint64_t compute_infer_count = 0;
  uint64_t compute_infer_ns = 0;
  uint64_t compute_output_count = 0;
  uint64_t compute_output_ns = 0;
  uint64_t inference_count = 0;  // rows
  uint64_t execution_count = 0;  // batches
  // Batches executed, by batch rows.
  std::map<uint64_t, uint64_t> batches;
};

// Takes a snapshot, or returns nullopt when the server has no statistics.
// Called from the thread running the load point, never concurrently.
using StatsFetcher = std::function<std::optional<ServerCounters>()>;

struct LoadOptions {
  // Not recorded: lets connections, caches and the server's batching settle.
  absl::Duration warmup = absl::Seconds(2);
  // Measurement window, unless `requests` > 0.
  absl::Duration duration = absl::Seconds(10);
  // When > 0, the window is this many requests instead of a duration.
  int64_t requests = 0;
  // Deadline of each call.
  absl::Duration timeout = absl::Seconds(30);
  // Calls are spread round-robin over this many channels.
  size_t channels = 1;
  // Closed loop: requests in flight.
  int concurrency = 1;
  // Open loop: requests per second, exponential gaps when `poisson`, drawn
  // from `seed`; sends are skipped (and counted as errors) while
  // `max_inflight` requests are pending.
  double rate = 100;
  bool poisson = false;
  uint64_t seed = 1;
  int64_t max_inflight = 4096;
  // 2 * rows * sum of N * K over the layers a request runs (for GOP/s).
  double ops_per_request = 0;
};

// Runs one closed-loop point at options.concurrency.
PointSummary RunClosedLoop(RequestKind* kind, const LoadOptions& options,
                           const StatsFetcher& fetch_stats);

// Runs one open-loop point at options.rate.
PointSummary RunOpenLoop(RequestKind* kind, const LoadOptions& options,
                         const StatsFetcher& fetch_stats);

}  // namespace qlinear::bench

#endif  // QLINEAR_CLIENTS_BENCH_LOAD_GENERATOR_H_
