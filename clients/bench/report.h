// qlinear-bench's outputs: the terminal table, perf_analyzer-compatible CSV,
// JSON, and a latency-vs-throughput PNG drawn by /usr/bin/python3 with
// matplotlib. Stateless functions: thread-safe.
#ifndef QLINEAR_CLIENTS_BENCH_REPORT_H_
#define QLINEAR_CLIENTS_BENCH_REPORT_H_

#include <cmath>
#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "clients/bench/summary.h"

namespace qlinear::bench {

// What was run, for the JSON report and the plot title.
struct RunInfo {
  std::string command_line;
  std::string target;
  std::string api;  // "native" or "kserve"
  std::string rpc;  // "forward", "matmul", "infer", "health", "list", "live"
  std::string model;
  std::string version;
  std::string dtype;      // "FP32", ...
  std::string act_quant;  // "default", "none", "int8_asym_per_token"
  int64_t rows = 0;
  // Layers run (names), [layer_start, layer_end).
  std::vector<std::string> layers;
  int layer_start = 0;
  int layer_end = 0;
  // 2 * rows * sum over the layers run of N * K.
  double ops_per_request = 0;
  int channels = 1;
  double warmup_seconds = 0;
  double duration_seconds = 0;
  int64_t requests_per_point = 0;  // 0: by duration
  bool server_timings = false;
  // --rate-fractions: the capacity measured first (closed loop at
  // capacity_concurrency), which the open-loop rates are fractions of.
  double capacity_rps = NAN;
  int capacity_concurrency = 0;
};

struct AssertionResult {
  std::string text;
  bool passed = false;
  // The value at the first failing point, or at the worst point.
  std::string detail;
};

// The table header and one row per point (fixed-width; latencies in ms).
std::string TableHeader(bool open_loop);
std::string TableRow(const PointSummary& point);
// Lines of non-OK status counts, client-side drops, the server's breakdown
// and the open loop's send lag of one point; empty when there is nothing to
// add.
std::string PointNotes(const PointSummary& point);

// CSV with perf_analyzer's columns first (its `-f` file with
// --verbose-csv: times in microseconds; "Concurrency" for a closed loop,
// "Request Rate" for an open loop), then qlinear's extra columns. Columns
// qlinear-bench cannot measure (Client Send, Client Recv, request/response)
// are 0; the server columns are 0 when the server reported nothing.
std::string CsvReport(const std::vector<PointSummary>& points, bool open_loop);

// The whole run as one JSON object: "run", "points", "assertions".
std::string JsonReport(const RunInfo& run,
                       const std::vector<PointSummary>& points,
                       const std::vector<AssertionResult>& assertions);

// Draws latency percentiles (p50, p90, p99, p99.9) against achieved
// throughput from the JSON report at `json_path` into `png_path`, with
// /usr/bin/python3 and matplotlib. UNAVAILABLE when python3 or matplotlib is
// missing, INTERNAL when the script fails.
absl::Status Plot(const std::string& json_path, const std::string& png_path,
                  const std::string& title);

// Writes `contents` to `path`. UNAVAILABLE when it cannot.
absl::Status WriteFile(const std::string& path, const std::string& contents);

}  // namespace qlinear::bench

#endif  // QLINEAR_CLIENTS_BENCH_REPORT_H_
