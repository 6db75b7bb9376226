#include "clients/bench/report.h"

#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmath>
#include <cstdio>
#include <fstream>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "clients/common/tensor_util.h"

extern char** environ;

namespace qlinear::bench {
namespace {

using ::qlinear::clients::JsonNumber;
using ::qlinear::clients::JsonString;
using ::qlinear::clients::StatusCodeName;

// Microseconds as perf_analyzer writes them: an integer (rounded); 0 for an
// unknown (NaN) or negative value.
uint64_t Micros(double seconds) {
  if (!(seconds > 0)) return 0;
  return static_cast<uint64_t>(std::llround(seconds * 1e6));
}

std::string Ms(double seconds) {
  return absl::StrFormat("%.3f", seconds * 1e3);
}

std::string LoadLabel(const PointSummary& p) {
  if (p.mode == "closed") return absl::StrCat(p.concurrency);
  return absl::StrFormat("%.6g", p.target_rate);
}

// The python program behind Plot(). argv: json, png, title.
constexpr char kPlotScript[] = R"PY(
import json, sys
try:
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import matplotlib.ticker as ticker
except ImportError:
    sys.exit(3)
with open(sys.argv[1]) as f:
    run = json.load(f)
pts = [p for p in run["points"] if p["ok"] > 0]
if not pts:
    sys.exit(4)
x = [p["requests_per_second"] for p in pts]
fig, ax = plt.subplots(figsize=(7.5, 4.5), dpi=120)
for key, style in (("p50", "o-"), ("p90", "s--"), ("p99", "^-"), ("p99.9", "v:")):
    ax.plot(x, [p["latency_seconds"][key] * 1e3 for p in pts], style, label=key)
for p, xi in zip(pts, x):
    if p["mode"] == "closed":
        label = "c=%d" % p["concurrency"]
    else:
        label = "%.0f/s" % p["target_rate"]
    ax.annotate(label, (xi, p["latency_seconds"]["p50"] * 1e3),
                textcoords="offset points", xytext=(3, -11), fontsize=7)
ax.set_xlabel("achieved throughput (requests/s)")
ax.set_ylabel("latency (ms, log scale)")
ax.set_yscale("log")
ax.yaxis.set_major_locator(ticker.LogLocator(subs=(1.0, 2.0, 5.0)))
ax.yaxis.set_major_formatter(ticker.FormatStrFormatter("%g"))
ax.yaxis.set_minor_formatter(ticker.NullFormatter())
ax.grid(True, which="both", alpha=0.3)
ax.legend()
ax.set_title(sys.argv[3], fontsize=9)
fig.tight_layout()
fig.savefig(sys.argv[2])
)PY";

}  // namespace

std::string TableHeader(bool open_loop) {
  return absl::StrFormat(
      "%-8s %10s %10s %8s %9s %9s %9s %9s %9s %9s %9s %7s %11s\n",
      open_loop ? "rate" : "conc", "req/s", "rows/s", "GOP/s", "p50 ms",
      "p90 ms", "p95 ms", "p99 ms", "p99.9 ms", "mean ms", "max ms", "errors",
      "batch rows");
}

std::string TableRow(const PointSummary& p) {
  std::string batch = "-";
  if (!std::isnan(p.batch_rows_mean)) {
    batch = absl::StrFormat("%.1f/%.0f", p.batch_rows_mean, p.batch_rows_max);
  }
  return absl::StrFormat(
      "%-8s %10.1f %10.1f %8.2f %9s %9s %9s %9s %9s %9s %9s %7d %11s\n",
      LoadLabel(p), p.requests_per_second, p.rows_per_second, p.gops, Ms(p.p50),
      Ms(p.p90), Ms(p.p95), Ms(p.p99), Ms(p.p999), Ms(p.mean), Ms(p.max),
      p.errors, batch);
}

std::string PointNotes(const PointSummary& p) {
  std::string out;
  std::vector<std::string> codes;
  for (int c = 1; c < kNumStatusCodes; ++c) {
    if (p.codes[c] > 0) {
      codes.push_back(absl::StrCat(StatusCodeName(c), "=", p.codes[c]));
    }
  }
  if (p.client_dropped > 0) {
    codes.push_back(absl::StrCat("dropped_by_client=", p.client_dropped));
  }
  if (!codes.empty()) {
    absl::StrAppend(&out, "  ", LoadLabel(p), ": OK=", p.ok, " ",
                    absl::StrJoin(codes, " "), "\n");
  }
  if (p.retries > 0) {
    absl::StrAppend(&out, "  ", LoadLabel(p), ": ", p.retries,
                    " retried attempts (UNAVAILABLE, retry policy)\n");
  }
  if (p.mode == "open" && p.send_lag_max > 1e-3) {
    absl::StrAppendFormat(&out,
                          "  %s: generator send lag mean %.3f ms, max %.3f ms "
                          "(included in the latencies)\n",
                          LoadLabel(p), p.send_lag_mean * 1e3,
                          p.send_lag_max * 1e3);
  }
  return out;
}

std::string CsvReport(const std::vector<PointSummary>& points, bool open_loop) {
  std::string out = absl::StrCat(
      open_loop ? "Request Rate" : "Concurrency",
      ",Inferences/Second,Client Send,Network+Server Send/Recv,Server Queue,"
      "Server Compute Input,Server Compute Infer,Server Compute Output,"
      "Client Recv,p50 latency,p90 latency,p95 latency,p99 latency,"
      "Avg latency,request/response,response wait,"
      // qlinear's columns.
      "p99.9 latency,Max latency,Rows/Second,GOP/s,Requests,Errors,"
      "Batch Rows Mean,Batch Rows Max,Request Size,Response Size\n");
  for (const PointSummary& p : points) {
    // perf_analyzer: the time not accounted for by the server's queue and
    // compute is network plus the server's send and receive.
    const bool server_known = !std::isnan(p.server_queue);
    double accounted = 0;
    for (double t : {p.server_queue, p.server_compute_input,
                     p.server_compute_infer, p.server_compute_output}) {
      if (!std::isnan(t)) accounted += t;
    }
    const double network = server_known ? p.mean - accounted : 0;
    absl::StrAppend(
        &out, LoadLabel(p), ",", absl::StrFormat("%.6g", p.requests_per_second),
        ",0,", Micros(network), ",", Micros(p.server_queue), ",",
        Micros(p.server_compute_input), ",", Micros(p.server_compute_infer),
        ",", Micros(p.server_compute_output), ",0,", Micros(p.p50), ",",
        Micros(p.p90), ",", Micros(p.p95), ",", Micros(p.p99), ",",
        Micros(p.mean), ",0,", Micros(p.mean), ",", Micros(p.p999), ",",
        Micros(p.max), ",", absl::StrFormat("%.6g", p.rows_per_second), ",",
        absl::StrFormat("%.6g", p.gops), ",", p.requests, ",", p.errors, ",",
        std::isnan(p.batch_rows_mean)
            ? std::string("0")
            : absl::StrFormat("%.4g", p.batch_rows_mean),
        ",",
        std::isnan(p.batch_rows_max)
            ? std::string("0")
            : absl::StrFormat("%.0f", p.batch_rows_max),
        ",", absl::StrFormat("%.0f", p.request_bytes), ",",
        absl::StrFormat("%.0f", p.response_bytes), "\n");
  }
  return out;
}

std::string JsonReport(const RunInfo& run,
                       const std::vector<PointSummary>& points,
                       const std::vector<AssertionResult>& assertions) {
  std::vector<std::string> layers;
  for (const std::string& l : run.layers) layers.push_back(JsonString(l));
  std::string out = absl::StrCat(
      "{\n  \"run\": {\"command_line\": ", JsonString(run.command_line),
      ", \"target\": ", JsonString(run.target),
      ", \"api\": ", JsonString(run.api), ", \"rpc\": ", JsonString(run.rpc),
      ", \"model\": ", JsonString(run.model),
      ", \"version\": ", JsonString(run.version),
      ", \"dtype\": ", JsonString(run.dtype),
      ", \"act_quant\": ", JsonString(run.act_quant), ", \"rows\": ", run.rows,
      ", \"layers\": [", absl::StrJoin(layers, ", "),
      "], \"layer_start\": ", run.layer_start,
      ", \"layer_end\": ", run.layer_end,
      ", \"ops_per_request\": ", JsonNumber(run.ops_per_request),
      ", \"channels\": ", run.channels,
      ", \"warmup_seconds\": ", JsonNumber(run.warmup_seconds),
      ", \"duration_seconds\": ", JsonNumber(run.duration_seconds),
      ", \"requests_per_point\": ", run.requests_per_point,
      ", \"server_timings\": ", run.server_timings ? "true" : "false",
      ", \"capacity_rps\": ", JsonNumber(run.capacity_rps),
      ", \"capacity_concurrency\": ", run.capacity_concurrency,
      "},\n  \"points\": [");
  for (size_t i = 0; i < points.size(); ++i) {
    const PointSummary& p = points[i];
    std::vector<std::string> codes;
    for (int c = 0; c < kNumStatusCodes; ++c) {
      if (p.codes[c] > 0) {
        codes.push_back(
            absl::StrCat(JsonString(StatusCodeName(c)), ": ", p.codes[c]));
      }
    }
    absl::StrAppend(
        &out, i ? "," : "", "\n    {\"mode\": ", JsonString(p.mode),
        ", \"concurrency\": ", p.concurrency,
        ", \"target_rate\": ", JsonNumber(p.target_rate),
        ", \"poisson\": ", p.poisson ? "true" : "false",
        ", \"seconds\": ", JsonNumber(p.seconds),
        ", \"requests\": ", p.requests, ", \"ok\": ", p.ok,
        ", \"errors\": ", p.errors, ", \"client_dropped\": ", p.client_dropped,
        ", \"retries\": ", p.retries, ", \"codes\": {",
        absl::StrJoin(codes, ", "),
        "},\n     \"requests_per_second\": ", JsonNumber(p.requests_per_second),
        ", \"rows_per_second\": ", JsonNumber(p.rows_per_second),
        ", \"gops\": ", JsonNumber(p.gops));
    absl::StrAppend(
        &out, ",\n     \"latency_seconds\": {\"p50\": ", JsonNumber(p.p50),
        ", \"p90\": ", JsonNumber(p.p90), ", \"p95\": ", JsonNumber(p.p95),
        ", \"p99\": ", JsonNumber(p.p99), ", \"p99.9\": ", JsonNumber(p.p999),
        ", \"mean\": ", JsonNumber(p.mean), ", \"min\": ", JsonNumber(p.min),
        ", \"max\": ", JsonNumber(p.max), "}");
    absl::StrAppend(&out, ",\n     \"batch_rows\": {\"mean\": ",
                    JsonNumber(p.batch_rows_mean),
                    ", \"max\": ", JsonNumber(p.batch_rows_max),
                    ", \"source\": ", JsonString(p.batch_rows_source), "}");
    absl::StrAppend(
        &out,
        ",\n     \"server\": {\"queue_seconds\": ", JsonNumber(p.server_queue),
        ", \"compute_input_seconds\": ", JsonNumber(p.server_compute_input),
        ", \"compute_infer_seconds\": ", JsonNumber(p.server_compute_infer),
        ", \"compute_output_seconds\": ", JsonNumber(p.server_compute_output),
        ", \"total_seconds\": ", JsonNumber(p.server_total),
        ", \"rows_per_batch\": ", JsonNumber(p.server_rows_per_batch),
        ", \"max_batch_rows\": ", JsonNumber(p.server_max_batch_rows), "}");
    absl::StrAppend(
        &out, ",\n     \"request_bytes\": ", JsonNumber(p.request_bytes),
        ", \"response_bytes\": ", JsonNumber(p.response_bytes),
        ", \"send_lag_seconds\": {\"mean\": ", JsonNumber(p.send_lag_mean),
        ", \"max\": ", JsonNumber(p.send_lag_max), "}}");
  }
  absl::StrAppend(&out, "\n  ],\n  \"assertions\": [");
  for (size_t i = 0; i < assertions.size(); ++i) {
    const AssertionResult& a = assertions[i];
    absl::StrAppend(&out, i ? ", " : "", "{\"assert\": ", JsonString(a.text),
                    ", \"passed\": ", a.passed ? "true" : "false",
                    ", \"detail\": ", JsonString(a.detail), "}");
  }
  absl::StrAppend(&out, "]\n}\n");
  return out;
}

absl::Status WriteFile(const std::string& path, const std::string& contents) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out << contents;
  out.close();
  if (!out) return absl::UnavailableError(absl::StrCat("cannot write ", path));
  return absl::OkStatus();
}

absl::Status Plot(const std::string& json_path, const std::string& png_path,
                  const std::string& title) {
  constexpr char kPython[] = "/usr/bin/python3";
  if (access(kPython, X_OK) != 0) {
    return absl::UnavailableError(absl::StrCat(kPython, " is not installed"));
  }
  std::vector<std::string> args = {kPython,   "-c",     kPlotScript,
                                   json_path, png_path, title};
  std::vector<char*> argv;
  for (std::string& a : args) argv.push_back(a.data());
  argv.push_back(nullptr);
  pid_t pid = 0;
  const int spawn_error =
      posix_spawn(&pid, kPython, nullptr, nullptr, argv.data(), environ);
  if (spawn_error != 0) {
    return absl::UnavailableError(absl::StrCat("cannot run ", kPython));
  }
  int wait_status = 0;
  if (waitpid(pid, &wait_status, 0) != pid) {
    return absl::InternalError("waitpid failed for the plot script");
  }
  if (WIFEXITED(wait_status) && WEXITSTATUS(wait_status) == 0) {
    return absl::OkStatus();
  }
  if (WIFEXITED(wait_status) && WEXITSTATUS(wait_status) == 3) {
    return absl::UnavailableError(
        "matplotlib is not installed (apt-get install python3-matplotlib)");
  }
  if (WIFEXITED(wait_status) && WEXITSTATUS(wait_status) == 4) {
    return absl::FailedPreconditionError(
        "no load point had a successful request; nothing to plot");
  }
  return absl::InternalError("the plot script failed");
}

}  // namespace qlinear::bench
