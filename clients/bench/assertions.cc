#include "clients/bench/assertions.h"

#include <cmath>
#include <cstdio>
#include <cstdlib>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"

namespace qlinear::bench {
namespace {

constexpr const char* kKnownMetrics =
    "p50, p90, p95, p99, p99.9, mean, min, max (latency, with a unit: ns, us, "
    "ms, s), errors, requests, ok, error_rate, retries, rps, rows_s, gops, "
    "batch_rows, batch_rows_max";

bool IsLatency(absl::string_view m) {
  return m == "p50" || m == "p90" || m == "p95" || m == "p99" || m == "p99.9" ||
         m == "mean" || m == "min" || m == "max";
}

bool IsOtherMetric(absl::string_view m) {
  return m == "errors" || m == "requests" || m == "ok" || m == "error_rate" ||
         m == "retries" || m == "rps" || m == "rows_s" || m == "gops" ||
         m == "batch_rows" || m == "batch_rows_max";
}

absl::Status Invalid(absl::string_view text, absl::string_view why) {
  return absl::InvalidArgumentError(
      absl::StrCat("--assert '", text, "': ", why));
}

}  // namespace

absl::StatusOr<Assertion> ParseAssertion(absl::string_view text) {
  Assertion a;
  a.text = std::string(text);
  // The first operator character splits the metric from the threshold.
  const size_t at = text.find_first_of("<>=!");
  if (at == absl::string_view::npos) {
    return Invalid(text, "no operator (one of < <= > >= == !=)");
  }
  const absl::string_view rest = text.substr(at);
  size_t op_len = 1;
  if (rest.substr(0, 2) == "<=") {
    a.op = Assertion::Op::kLessEqual;
    op_len = 2;
  } else if (rest.substr(0, 2) == ">=") {
    a.op = Assertion::Op::kGreaterEqual;
    op_len = 2;
  } else if (rest.substr(0, 2) == "==") {
    a.op = Assertion::Op::kEqual;
    op_len = 2;
  } else if (rest.substr(0, 2) == "!=") {
    a.op = Assertion::Op::kNotEqual;
    op_len = 2;
  } else if (rest[0] == '<') {
    a.op = Assertion::Op::kLess;
  } else if (rest[0] == '>') {
    a.op = Assertion::Op::kGreater;
  } else {
    return Invalid(text, "bad operator; use one of < <= > >= == !=");
  }

  a.metric = std::string(absl::StripAsciiWhitespace(text.substr(0, at)));
  if (a.metric == "p999") a.metric = "p99.9";
  if (a.metric == "req_s" || a.metric == "throughput") a.metric = "rps";
  a.is_latency = IsLatency(a.metric);
  if (!a.is_latency && !IsOtherMetric(a.metric)) {
    return Invalid(text, absl::StrCat("unknown metric '", a.metric,
                                      "'; known: ", kKnownMetrics));
  }

  const std::string value(absl::StripAsciiWhitespace(text.substr(at + op_len)));
  if (value.empty()) return Invalid(text, "no threshold after the operator");
  char* end = nullptr;
  const double number = std::strtod(value.c_str(), &end);
  if (end == value.c_str() || !std::isfinite(number)) {
    return Invalid(text, absl::StrCat("'", value, "' is not a number"));
  }
  const std::string unit(absl::StripAsciiWhitespace(end));
  if (a.is_latency) {
    double scale = 0;
    if (unit == "ns") {
      scale = 1e-9;
    } else if (unit == "us" || unit == "\xc2\xb5s") {
      scale = 1e-6;
    } else if (unit == "ms") {
      scale = 1e-3;
    } else if (unit == "s") {
      scale = 1;
    } else {
      return Invalid(
          text,
          absl::StrCat(unit.empty() ? "a latency needs a unit"
                                    : absl::StrCat("unknown unit '", unit, "'"),
                       " (ns, us, ms or s), e.g. p99<5ms"));
    }
    a.value = number * scale;
  } else {
    if (!unit.empty()) {
      return Invalid(text, absl::StrCat("metric '", a.metric,
                                        "' takes no unit, got '", unit, "'"));
    }
    a.value = number;
  }
  return a;
}

double MetricValue(const PointSummary& p, const std::string& metric) {
  if (metric == "p50") return p.ok ? p.p50 : NAN;
  if (metric == "p90") return p.ok ? p.p90 : NAN;
  if (metric == "p95") return p.ok ? p.p95 : NAN;
  if (metric == "p99") return p.ok ? p.p99 : NAN;
  if (metric == "p99.9") return p.ok ? p.p999 : NAN;
  if (metric == "mean") return p.ok ? p.mean : NAN;
  if (metric == "min") return p.ok ? p.min : NAN;
  if (metric == "max") return p.ok ? p.max : NAN;
  if (metric == "errors") return static_cast<double>(p.errors);
  if (metric == "requests") return static_cast<double>(p.requests);
  if (metric == "ok") return static_cast<double>(p.ok);
  if (metric == "error_rate") {
    const double sent = static_cast<double>(p.requests + p.client_dropped);
    return sent > 0 ? static_cast<double>(p.errors) / sent : NAN;
  }
  if (metric == "retries") return static_cast<double>(p.retries);
  if (metric == "rps") return p.requests_per_second;
  if (metric == "rows_s") return p.rows_per_second;
  if (metric == "gops") return p.gops;
  if (metric == "batch_rows") return p.batch_rows_mean;
  if (metric == "batch_rows_max") return p.batch_rows_max;
  return NAN;
}

bool Holds(const Assertion& a, double actual) {
  if (std::isnan(actual)) return false;
  switch (a.op) {
    case Assertion::Op::kLess:
      return actual < a.value;
    case Assertion::Op::kLessEqual:
      return actual <= a.value;
    case Assertion::Op::kGreater:
      return actual > a.value;
    case Assertion::Op::kGreaterEqual:
      return actual >= a.value;
    case Assertion::Op::kEqual:
      return actual == a.value;
    case Assertion::Op::kNotEqual:
      return actual != a.value;
  }
  return false;
}

std::string FormatMetric(const Assertion& a, double actual) {
  if (std::isnan(actual)) return "not measured";
  char buf[64];
  if (a.is_latency) {
    if (actual < 1e-3) {
      std::snprintf(buf, sizeof(buf), "%.1fus", actual * 1e6);
    } else if (actual < 1) {
      std::snprintf(buf, sizeof(buf), "%.3fms", actual * 1e3);
    } else {
      std::snprintf(buf, sizeof(buf), "%.3fs", actual);
    }
  } else {
    std::snprintf(buf, sizeof(buf), "%.6g", actual);
  }
  return buf;
}

}  // namespace qlinear::bench
