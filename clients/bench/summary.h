// The numbers qlinear-bench reports for one load point, after a run. Plain
// data: the report writers and the --assert checks read only this.
#ifndef QLINEAR_CLIENTS_BENCH_SUMMARY_H_
#define QLINEAR_CLIENTS_BENCH_SUMMARY_H_

#include <array>
#include <cmath>
#include <cstdint>
#include <string>

namespace qlinear::bench {

inline constexpr int kNumStatusCodes = 17;

struct PointSummary {
  // "closed" (a fixed number of requests in flight) or "open" (requests
  // sent at a rate, whatever the responses do).
  std::string mode;
  // Closed loop: requests kept in flight.
  int concurrency = 0;
  // Open loop: the target rate in requests per second, and whether the
  // gaps between sends are exponential (Poisson arrivals) or fixed.
  double target_rate = 0;
  bool poisson = false;

  // Length of the measurement window in seconds.
  double seconds = 0;
  // Requests whose (intended) send time fell in the window and completed,
  // by final status code; `errors` = requests - ok + client_dropped.
  uint64_t requests = 0;
  uint64_t ok = 0;
  uint64_t errors = 0;
  std::array<uint64_t, kNumStatusCodes> codes{};
  // Open loop: sends skipped because --max-inflight requests were pending.
  uint64_t client_dropped = 0;
  // Attempts gRPC repeated under the retry policy (UNAVAILABLE, e.g. from a
  // draining replica) during the point, warm-up included; each request is
  // still counted once above, by its final status.
  uint64_t retries = 0;

  // Successful requests, rows and operations (2 * rows * sum N*K) per second.
  double requests_per_second = 0;
  double rows_per_second = 0;
  double gops = 0;

  // Latency of successful requests in seconds, from the intended send time
  // (open loop) or the send time (closed loop) to the response.
  double p50 = 0, p90 = 0, p95 = 0, p99 = 0, p999 = 0;
  double mean = 0, min = 0, max = 0;

  // Realized batch rows: the rows of the batch each request ran in (mean
  // over requests and max), from the responses' timings, or rows per batch
  // from the server's statistics. NaN when neither is available.
  double batch_rows_mean = NAN;
  double batch_rows_max = NAN;
  // "timings", "server_statistics" or "" (not measured).
  std::string batch_rows_source;

  // Mean server-side times of a successful request, in seconds (NaN when
  // unknown): waiting for a batch, decoding the input, running the layers,
  // encoding the output, and the whole handler.
  double server_queue = NAN;
  double server_compute_input = NAN;
  double server_compute_infer = NAN;
  double server_compute_output = NAN;
  double server_total = NAN;
  // Rows per executed batch from the server's statistics (NaN: unknown).
  double server_rows_per_batch = NAN;
  double server_max_batch_rows = NAN;

  // Serialized size of a request and mean size of a response, in bytes.
  double request_bytes = 0;
  double response_bytes = 0;

  // Open loop: how late the generator sent, behind the intended time, in
  // seconds (mean and max). The latencies include this lag.
  double send_lag_mean = 0;
  double send_lag_max = 0;
};

}  // namespace qlinear::bench

#endif  // QLINEAR_CLIENTS_BENCH_SUMMARY_H_
