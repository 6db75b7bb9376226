// --assert thresholds of qlinear-bench: "METRIC OP VALUE[UNIT]", checked
// against every load point of a run.
//
//   p99<5ms  errors==0  batch_rows>1  rps>=1000  gops>10  error_rate<0.01
//
// Metrics: latency p50, p90, p95, p99, p99.9 (or p999), mean, min, max, which
// need a unit (ns, us, ms or s); errors, requests, ok (counts); error_rate
// (errors / (requests + dropped), a fraction); rps, rows_s, gops (rates);
// batch_rows, batch_rows_max (realized batch rows). Operators: < <= > >= ==
// !=. Stateless: thread-safe.
#ifndef QLINEAR_CLIENTS_BENCH_ASSERTIONS_H_
#define QLINEAR_CLIENTS_BENCH_ASSERTIONS_H_

#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "clients/bench/summary.h"

namespace qlinear::bench {

struct Assertion {
  enum class Op {
    kLess,
    kLessEqual,
    kGreater,
    kGreaterEqual,
    kEqual,
    kNotEqual
  };
  // As written on the command line.
  std::string text;
  // Canonical metric name: "p99.9" for "p999".
  std::string metric;
  Op op = Op::kLess;
  // The threshold, in seconds for latency metrics.
  double value = 0;
  // True for latency metrics.
  bool is_latency = false;
};

// Parses one assertion. INVALID_ARGUMENT naming the problem: unknown
// metric, missing or unknown operator, bad number, a latency without a unit
// or a unit on a metric that takes none.
absl::StatusOr<Assertion> ParseAssertion(absl::string_view text);

// The value of `metric` (canonical name) at `point`; NaN when the point did
// not measure it (for example batch_rows without timings or statistics).
double MetricValue(const PointSummary& point, const std::string& metric);

// True when `actual` satisfies the assertion; false for NaN.
bool Holds(const Assertion& assertion, double actual);

// "3.2ms" for a latency, "12" or "0.5" otherwise.
std::string FormatMetric(const Assertion& assertion, double actual);

}  // namespace qlinear::bench

#endif  // QLINEAR_CLIENTS_BENCH_ASSERTIONS_H_
