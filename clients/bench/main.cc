// qlinear-bench: a load generator for qlinear-server (or any KServe v2
// server with --api kserve). See --help and docs/benchmarks.md.
//
//   qlinear-bench --target HOST:PORT --concurrency 1,2,4,8,16,32,64
//       --duration 10s --csv out.csv --json out.json --plot out.png
//   qlinear-bench --target HOST:PORT --rate 500,1000 --poisson
//   qlinear-bench --target HOST:PORT --rate-fractions 0.5,0.8,0.95 --poisson
//   qlinear-bench ... --assert 'p99<5ms' --assert errors==0
//
// Exit status: 0 when every --assert holds, 1 when one is missed, 2 for a
// usage error, 3 when the server cannot be reached, the model cannot be
// described or an output file (--csv, --json, --plot) cannot be written.
#include <grpcpp/grpcpp.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <memory>
#include <string>
#include <vector>

#include "absl/flags/flag.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "clients/bench/assertions.h"
#include "clients/bench/load_generator.h"
#include "clients/bench/report.h"
#include "clients/bench/rpcs.h"
#include "clients/common/channel.h"
#include "clients/common/tensor_util.h"
#include "common/flags.h"

ABSL_FLAG(std::string, target, "localhost:8001",
          "Server address: HOST:PORT, several IP:PORT separated by commas, or "
          "gRPC name syntax (dns:///NAME:PORT, ipv4:IP:PORT,IP:PORT). Calls "
          "are balanced round_robin over every address, and retried on "
          "UNAVAILABLE (docs/deploy.md, \"Load balancing gRPC across "
          "replicas\").");
ABSL_FLAG(std::string, api, "native",
          "native (qlinear.v1) or kserve (KServe v2 / Triton ModelInfer).");
ABSL_FLAG(std::string, rpc, "",
          "The RPC to drive: forward or matmul (native), infer (kserve), or "
          "an RPC without compute, to measure the serving floor: health "
          "(grpc.health.v1), list (ListModels), live (KServe ServerLive). "
          "Empty: forward for --api native, infer for --api kserve.");
ABSL_FLAG(std::string, model, "default", "Model name.");
ABSL_FLAG(std::string, version, "", "Model version (empty: the latest).");
ABSL_FLAG(std::string, layer, "", "--rpc matmul: the layer to run.");
ABSL_FLAG(std::vector<std::string>, concurrency, {"1"},
          "Closed loop: comma-separated numbers of requests kept in flight, "
          "one load point each, e.g. 1,2,4,8,16,32,64.");
ABSL_FLAG(std::vector<std::string>, rate, {},
          "Open loop: comma-separated request rates (requests/s), one load "
          "point each. Latency counts from each request's intended send "
          "time. Replaces --concurrency.");
ABSL_FLAG(bool, poisson, false,
          "Open loop: exponential gaps between sends (Poisson arrivals) "
          "instead of fixed ones.");
ABSL_FLAG(std::vector<std::string>, rate_fractions, {},
          "Open loop at fractions of the measured capacity, e.g. "
          "0.5,0.8,0.95: first a closed loop at --capacity-concurrency "
          "measures the capacity (req/s), then one open-loop point runs per "
          "fraction. Replaces --rate and --concurrency.");
ABSL_FLAG(int, capacity_concurrency, 64,
          "--rate-fractions: concurrency of the capacity measurement.");
ABSL_FLAG(absl::Duration, warmup, absl::Seconds(2),
          "Per load point: time run before measuring (not recorded).");
ABSL_FLAG(absl::Duration, duration, absl::Seconds(10),
          "Per load point: the measurement window, e.g. 10s or 10m.");
ABSL_FLAG(int64_t, requests, 0,
          "Per load point: measure this many requests instead of a "
          "duration.");
ABSL_FLAG(int, channels, 1,
          "gRPC channels (separate TCP connections); calls are spread over "
          "them round-robin.");
ABSL_FLAG(int64_t, rows, 1, "Rows M per request.");
ABSL_FLAG(std::string, dtype, "auto",
          "Input dtype: auto (the model's, from GetModel), fp32, bf16 or "
          "fp16.");
ABSL_FLAG(std::string, act_quant, "default",
          "Activation mode: default (the model's), none or "
          "int8_asym_per_token.");
ABSL_FLAG(int, layer_start, -1, "First layer to run (-1: 0).");
ABSL_FLAG(int, layer_end, -1, "One past the last layer to run (-1: all).");
ABSL_FLAG(bool, server_timings, true,
          "native forward/matmul: ask for per-request timings (realized "
          "batch rows, queue and layer time). --noserver_timings measures "
          "without them.");
ABSL_FLAG(bool, server_stats, true,
          "Read the server's ModelStatistics (KServe/Triton) before and after "
          "each window, for the server columns and, without timings, the "
          "realized batch rows.");
ABSL_FLAG(absl::Duration, timeout, absl::Seconds(30),
          "Deadline of each request; a late one counts as DEADLINE_EXCEEDED.");
ABSL_FLAG(int64_t, max_inflight, 4096,
          "Open loop: most requests pending at once; a send beyond it is "
          "skipped and counted as an error (dropped_by_client).");
ABSL_FLAG(uint64_t, seed, 1,
          "Seed of the random input and of the Poisson arrivals.");
ABSL_FLAG(std::string, csv, "",
          "Write a CSV with perf_analyzer's columns (plus qlinear's) here.");
ABSL_FLAG(std::string, json, "", "Write the JSON report here.");
ABSL_FLAG(std::string, plot, "",
          "Draw latency vs throughput into this PNG (needs /usr/bin/python3 "
          "with matplotlib).");
ABSL_FLAG(std::string, title, "", "Title of the plot (default: the run).");

namespace {

namespace bench = ::qlinear::bench;
namespace v1 = ::qlinear::v1;

constexpr int kExitAssertionMissed = 1;
constexpr int kExitSetup = 3;

int UsageError(const std::string& message) {
  return qlinear::PrintUsageError("qlinear-bench", message);
}

int SetupError(const std::string& message) {
  std::fprintf(stderr, "qlinear-bench: %s\n", message.c_str());
  return kExitSetup;
}

// Removes every "--assert X" / "--assert=X" from argv (absl flags cannot
// repeat) and returns the assertions, split on commas too.
std::vector<std::string> ExtractAssertions(int* argc, char** argv) {
  std::vector<std::string> out;
  int kept = 1;
  for (int i = 1; i < *argc; ++i) {
    const std::string arg = argv[i];
    std::string value;
    if (arg == "--") {
      // Copy the rest unchanged.
      for (; i < *argc; ++i) argv[kept++] = argv[i];
      break;
    }
    if (arg == "--assert" || arg == "-assert") {
      if (i + 1 < *argc) value = argv[++i];
    } else if (absl::StartsWith(arg, "--assert=") ||
               absl::StartsWith(arg, "-assert=")) {
      value = arg.substr(arg.find('=') + 1);
    } else {
      argv[kept++] = argv[i];
      continue;
    }
    for (absl::string_view part :
         absl::StrSplit(value, ',', absl::SkipEmpty())) {
      out.emplace_back(part);
    }
  }
  *argc = kept;
  argv[kept] = nullptr;
  return out;
}

std::shared_ptr<grpc::Channel> MakeChannel(
    const std::string& target, int index,
    qlinear::clients::Balancing balancing =
        qlinear::clients::Balancing::kRoundRobin) {
  grpc::ChannelArguments args =
      qlinear::clients::ClientChannelArguments(balancing);
  // A channel of its own, with its own TCP connection: channels with equal
  // arguments would share one subchannel.
  args.SetInt(GRPC_ARG_USE_LOCAL_SUBCHANNEL_POOL, 1);
  args.SetInt("qlinear.bench_channel", index);
  return grpc::CreateCustomChannel(target, grpc::InsecureChannelCredentials(),
                                   args);
}

// Runs one load point and adds the attempts gRPC retried during it (from
// channelz; the control channel's calls are not retried in practice).
template <typename RunPoint>
bench::PointSummary WithRetries(RunPoint run_point) {
  const qlinear::clients::CallCounts before =
      qlinear::clients::ChannelzCallCounts();
  bench::PointSummary p = run_point();
  const qlinear::clients::CallCounts after =
      qlinear::clients::ChannelzCallCounts();
  const int64_t retries =
      (after.attempts - before.attempts) - (after.calls - before.calls);
  p.retries = static_cast<uint64_t>(std::max<int64_t>(0, retries));
  return p;
}

std::string Label(const bench::PointSummary& p) {
  return p.mode == "closed" ? absl::StrCat("concurrency ", p.concurrency)
                            : absl::StrFormat("rate %.6g/s", p.target_rate);
}

}  // namespace

int main(int argc, char** argv) {
  // As the server does (server/main.cc): the generator shares the cores it
  // measures, so it skips Debian Abseil's per-lock deadlock graph.
  absl::SetMutexDeadlockDetectionMode(absl::OnDeadlockCycle::kIgnore);
  std::string command_line;
  for (int i = 0; i < argc; ++i) {
    absl::StrAppend(&command_line, i ? " " : "", argv[i]);
  }
  const std::vector<std::string> assertion_texts =
      ExtractAssertions(&argc, argv);
  const std::vector<char*> args = qlinear::ParseFlags(
      argc, argv,
      "A load generator for qlinear-server over the gRPC callback API.\n"
      "Usage: qlinear-bench --target HOST:PORT [--concurrency 1,8,64 | --rate "
      "R[,R..] [--poisson] | --rate-fractions F[,F..]] [--duration 10s] "
      "[--assert 'p99<5ms'] ...\n"
      "--assert 'METRIC OP VALUE' (repeatable) checks every load point; "
      "metrics: p50 p90 p95 p99 p99.9 mean min max (with a unit: ns us ms s), "
      "errors requests ok error_rate retries rps rows_s gops batch_rows "
      "batch_rows_max; operators < <= > >= == !=.\n"
      "Exit status: 0 ok, 1 an --assert missed, 2 usage error, 3 server "
      "unreachable, model unknown or an output file not written.",
      "bench/main.cc");
  if (args.size() > 1) {
    return UsageError(absl::StrCat("unexpected argument '", args[1], "'"));
  }

  // --- Flags ---------------------------------------------------------------
  std::vector<bench::Assertion> assertions;
  for (const std::string& text : assertion_texts) {
    absl::StatusOr<bench::Assertion> a = bench::ParseAssertion(text);
    if (!a.ok()) return UsageError(std::string(a.status().message()));
    assertions.push_back(*std::move(a));
  }
  const std::string api = absl::GetFlag(FLAGS_api);
  if (api != "native" && api != "kserve") {
    return UsageError("--api must be native or kserve");
  }
  std::string rpc = absl::GetFlag(FLAGS_rpc);
  if (rpc.empty()) rpc = api == "native" ? "forward" : "infer";
  const bool model_rpc = rpc == "forward" || rpc == "matmul" || rpc == "infer";
  if (rpc == "matmul" && absl::GetFlag(FLAGS_layer).empty()) {
    return UsageError("--rpc matmul needs --layer NAME");
  }
  std::vector<int> concurrencies;
  for (const std::string& s : absl::GetFlag(FLAGS_concurrency)) {
    int c = 0;
    if (!absl::SimpleAtoi(s, &c) || c < 1 || c > 100000) {
      return UsageError(absl::StrCat("--concurrency: '", s,
                                     "' is not an integer in [1, 100000]"));
    }
    concurrencies.push_back(c);
  }
  std::vector<double> rates;
  for (const std::string& s : absl::GetFlag(FLAGS_rate)) {
    double r = 0;
    if (!absl::SimpleAtod(s, &r) || !(r > 0) || r > 1e7) {
      return UsageError(
          absl::StrCat("--rate: '", s, "' is not a rate in (0, 1e7] req/s"));
    }
    rates.push_back(r);
  }
  std::vector<double> fractions;
  for (const std::string& s : absl::GetFlag(FLAGS_rate_fractions)) {
    double f = 0;
    if (!absl::SimpleAtod(s, &f) || !(f > 0) || f > 10) {
      return UsageError(absl::StrCat("--rate-fractions: '", s,
                                     "' is not a fraction in (0, 10]"));
    }
    fractions.push_back(f);
  }
  if (concurrencies.empty() && rates.empty() && fractions.empty()) {
    return UsageError("give --concurrency, --rate or --rate-fractions");
  }
  const bool open_loop = !rates.empty() || !fractions.empty();
  const int channels = absl::GetFlag(FLAGS_channels);
  if (channels < 1 || channels > 1024) {
    return UsageError("--channels must be in [1, 1024]");
  }
  const int64_t rows = absl::GetFlag(FLAGS_rows);
  if (rows < 1) return UsageError("--rows must be at least 1");
  if (absl::GetFlag(FLAGS_duration) <= absl::ZeroDuration() &&
      absl::GetFlag(FLAGS_requests) <= 0) {
    return UsageError("--duration must be positive (or give --requests N)");
  }
  if (absl::GetFlag(FLAGS_warmup) < absl::ZeroDuration()) {
    return UsageError("--warmup must not be negative");
  }
  if (absl::GetFlag(FLAGS_capacity_concurrency) < 1) {
    return UsageError("--capacity-concurrency must be at least 1");
  }
  const absl::Duration timeout = absl::GetFlag(FLAGS_timeout);
  if (timeout <= absl::ZeroDuration()) {
    return UsageError("--timeout must be positive");
  }

  // --- Channels and the model ----------------------------------------------
  const absl::StatusOr<std::string> channel_target =
      qlinear::clients::ChannelTarget(absl::GetFlag(FLAGS_target));
  if (!channel_target.ok()) {
    return UsageError(std::string(channel_target.status().message()));
  }
  const std::string& target = *channel_target;
  std::vector<std::shared_ptr<grpc::Channel>> load_channels;
  for (int i = 0; i < channels; ++i) {
    load_channels.push_back(MakeChannel(target, i));
  }
  // Control RPCs (GetModel, statistics) get their own connection, so they
  // never queue behind the load. It stays on one replica (pick_first): the
  // server columns of a run over several replicas are that replica's.
  const std::shared_ptr<grpc::Channel> control =
      MakeChannel(target, channels, qlinear::clients::Balancing::kPickFirst);
  const auto connect_deadline =
      std::chrono::system_clock::now() + std::chrono::seconds(10);
  for (const auto& channel : load_channels) {
    if (!channel->WaitForConnected(connect_deadline)) {
      return SetupError(
          absl::StrCat("cannot connect to ", target, " within 10 s"));
    }
  }

  const std::string model = absl::GetFlag(FLAGS_model);
  const std::string version = absl::GetFlag(FLAGS_version);
  bench::RunInfo run;
  run.command_line = command_line;
  run.target = target;
  run.api = api;
  run.rpc = rpc;
  run.model = model_rpc ? model : "";
  run.rows = model_rpc ? rows : 0;
  run.act_quant = model_rpc ? absl::GetFlag(FLAGS_act_quant) : "";
  run.channels = channels;
  run.warmup_seconds = absl::ToDoubleSeconds(absl::GetFlag(FLAGS_warmup));
  run.duration_seconds = absl::ToDoubleSeconds(absl::GetFlag(FLAGS_duration));
  run.requests_per_point = absl::GetFlag(FLAGS_requests);

  bench::RequestOptions request;
  request.rpc = rpc;
  request.model = model;
  request.version = version;
  request.layer = absl::GetFlag(FLAGS_layer);
  request.rows = rows;
  request.act_quant = absl::GetFlag(FLAGS_act_quant);
  request.layer_start = absl::GetFlag(FLAGS_layer_start);
  request.layer_end = absl::GetFlag(FLAGS_layer_end);
  request.timings = absl::GetFlag(FLAGS_server_timings);
  request.seed = absl::GetFlag(FLAGS_seed);
  run.server_timings = request.timings && rpc != "infer" && model_rpc;
  if (model_rpc) {
    absl::StatusOr<bench::ModelFacts> facts =
        bench::DescribeModel(control, api, model, version, timeout);
    if (!facts.ok()) {
      return SetupError(
          absl::StrCat("cannot describe model '", model, "': ",
                       qlinear::clients::StatusCodeName(
                           static_cast<int>(facts.status().code())),
                       ": ", facts.status().message()));
    }
    run.version = facts->version;
    const std::string dtype_flag = absl::GetFlag(FLAGS_dtype);
    request.dtype = facts->dtype;
    if (dtype_flag != "auto" &&
        !qlinear::clients::ParseDataType(dtype_flag, &request.dtype)) {
      return UsageError("--dtype must be auto, fp32, bf16 or fp16");
    }
    run.dtype = qlinear::clients::DataTypeLabel(request.dtype);
    const int n = static_cast<int>(facts->layers.size());
    double nk = 0;
    if (rpc == "matmul") {
      for (int i = 0; i < n; ++i) {
        if (facts->layers[i].name != request.layer) continue;
        request.input_features = facts->layers[i].in_features;
        nk = static_cast<double>(facts->layers[i].in_features) *
             static_cast<double>(facts->layers[i].out_features);
        run.layers = {request.layer};
        run.layer_start = i;
        run.layer_end = i + 1;
      }
      if (request.input_features == 0) {
        return UsageError(absl::StrCat("model '", model, "' has no layer '",
                                       request.layer, "'"));
      }
    } else if (n > 0) {
      const int first = request.layer_start < 0 ? 0 : request.layer_start;
      const int end = request.layer_end < 0 ? n : request.layer_end;
      if (first >= end || end > n) {
        return UsageError(absl::StrCat("layer range [", first, ", ", end,
                                       ") is empty or beyond the model's ", n,
                                       " layers"));
      }
      request.input_features = facts->layers[first].in_features;
      for (int i = first; i < end; ++i) {
        run.layers.push_back(facts->layers[i].name);
        nk += static_cast<double>(facts->layers[i].in_features) *
              static_cast<double>(facts->layers[i].out_features);
      }
      run.layer_start = first;
      run.layer_end = end;
    } else {
      // KServe ModelMetadata only: no layer shapes, so no GOP/s.
      if (request.layer_start > 0) {
        return UsageError(
            "--layer-start needs the native GetModel to know the input width");
      }
      request.input_features = facts->metadata_input_features;
    }
    run.ops_per_request = 2.0 * static_cast<double>(rows) * nk;
  }
  absl::StatusOr<std::unique_ptr<bench::RequestKind>> kind =
      bench::MakeRequestKind(request, load_channels);
  if (!kind.ok()) return UsageError(std::string(kind.status().message()));

  bench::StatsFetcher fetch_stats = [] {
    return std::optional<bench::ServerCounters>();
  };
  if (absl::GetFlag(FLAGS_server_stats) && model_rpc) {
    fetch_stats =
        bench::MakeStatsFetcher(control, model, run.version, absl::Seconds(5));
  }

  bench::LoadOptions options;
  options.warmup = absl::GetFlag(FLAGS_warmup);
  options.duration = absl::GetFlag(FLAGS_duration);
  options.requests = absl::GetFlag(FLAGS_requests);
  options.timeout = timeout;
  options.channels = static_cast<size_t>(channels);
  options.poisson = absl::GetFlag(FLAGS_poisson);
  options.seed = absl::GetFlag(FLAGS_seed);
  options.max_inflight =
      std::max<int64_t>(1, absl::GetFlag(FLAGS_max_inflight));
  options.ops_per_request = run.ops_per_request;

  std::printf("qlinear-bench: %s, api %s, rpc %s", target.c_str(), api.c_str(),
              rpc.c_str());
  if (model_rpc) {
    std::printf(
        ", model %s version %s, layers [%d, %d) (%s), %lld rows %s, "
        "act_quant %s, %.4g GOP/request",
        model.c_str(), run.version.c_str(), run.layer_start, run.layer_end,
        absl::StrJoin(run.layers, ",").c_str(), static_cast<long long>(rows),
        run.dtype.c_str(), run.act_quant.c_str(), run.ops_per_request * 1e-9);
  }
  std::printf("; %d channel(s), warmup %s, %s per point\n", channels,
              absl::FormatDuration(options.warmup).c_str(),
              options.requests > 0
                  ? absl::StrCat(options.requests, " requests").c_str()
                  : absl::FormatDuration(options.duration).c_str());

  // --- Load points
  // ------------------------------------------------------------
  if (!fractions.empty()) {
    options.concurrency = absl::GetFlag(FLAGS_capacity_concurrency);
    std::printf("measuring capacity: closed loop at concurrency %d...\n",
                options.concurrency);
    std::fflush(stdout);
    const bench::PointSummary probe = WithRetries([&] {
      return bench::RunClosedLoop(kind->get(), options, fetch_stats);
    });
    std::printf("%s%s", bench::TableHeader(false).c_str(),
                bench::TableRow(probe).c_str());
    if (!(probe.requests_per_second > 0)) {
      return SetupError("the capacity measurement had no successful request");
    }
    std::printf("capacity: %.1f req/s\n\n", probe.requests_per_second);
    run.capacity_rps = probe.requests_per_second;
    run.capacity_concurrency = options.concurrency;
    for (double f : fractions) rates.push_back(f * probe.requests_per_second);
  }
  std::printf("%s", bench::TableHeader(open_loop).c_str());
  std::fflush(stdout);
  std::vector<bench::PointSummary> points;
  const size_t count = open_loop ? rates.size() : concurrencies.size();
  for (size_t i = 0; i < count; ++i) {
    bench::PointSummary p;
    if (open_loop) {
      options.rate = rates[i];
      p = WithRetries([&] {
        return bench::RunOpenLoop(kind->get(), options, fetch_stats);
      });
    } else {
      options.concurrency = concurrencies[i];
      p = WithRetries([&] {
        return bench::RunClosedLoop(kind->get(), options, fetch_stats);
      });
    }
    std::printf("%s", bench::TableRow(p).c_str());
    std::fflush(stdout);
    points.push_back(std::move(p));
  }
  std::string notes;
  for (const bench::PointSummary& p : points) notes += bench::PointNotes(p);
  if (!notes.empty()) std::printf("%s", notes.c_str());
  if (!points.empty() && !points.back().batch_rows_source.empty()) {
    std::printf("batch rows: mean/max of the batch each request ran in (%s)\n",
                points.back().batch_rows_source.c_str());
  }

  // --- Assertions
  // ----------------------------------------------------------------
  std::vector<bench::AssertionResult> results;
  bool all_passed = true;
  for (const bench::Assertion& a : assertions) {
    bench::AssertionResult r;
    r.text = a.text;
    r.passed = true;
    std::vector<std::string> values;
    for (const bench::PointSummary& p : points) {
      const double v = bench::MetricValue(p, a.metric);
      const bool ok = bench::Holds(a, v);
      values.push_back(absl::StrCat(bench::FormatMetric(a, v), " at ", Label(p),
                                    ok ? "" : " (missed)"));
      r.passed = r.passed && ok;
    }
    r.detail = absl::StrJoin(values, ", ");
    all_passed = all_passed && r.passed;
    std::printf("assert %s: %s (%s)\n", a.text.c_str(),
                r.passed ? "PASS" : "FAIL", r.detail.c_str());
    results.push_back(std::move(r));
  }

  // --- Files
  // ----------------------------------------------------------------------
  int file_errors = 0;
  const std::string csv_path = absl::GetFlag(FLAGS_csv);
  if (!csv_path.empty()) {
    const absl::Status s =
        bench::WriteFile(csv_path, bench::CsvReport(points, open_loop));
    if (!s.ok()) {
      std::fprintf(stderr, "qlinear-bench: --csv: %s\n",
                   std::string(s.message()).c_str());
      ++file_errors;
    }
  }
  std::string json_path = absl::GetFlag(FLAGS_json);
  const std::string plot_path = absl::GetFlag(FLAGS_plot);
  const std::string json = bench::JsonReport(run, points, results);
  bool temporary_json = false;
  if (json_path.empty() && !plot_path.empty()) {
    json_path = plot_path + ".json.tmp";
    temporary_json = true;
  }
  if (!json_path.empty()) {
    const absl::Status s = bench::WriteFile(json_path, json);
    if (!s.ok()) {
      std::fprintf(stderr, "qlinear-bench: --json: %s\n",
                   std::string(s.message()).c_str());
      ++file_errors;
    }
  }
  if (!plot_path.empty()) {
    std::string title = absl::GetFlag(FLAGS_title);
    if (title.empty()) {
      title =
          absl::StrCat("qlinear-bench ", api, " ", rpc,
                       model_rpc ? absl::StrCat(" ", model, ", M=", rows) : "",
                       open_loop ? ", open loop" : ", closed loop",
                       options.poisson && open_loop ? " (Poisson)" : "");
    }
    const absl::Status s = bench::Plot(json_path, plot_path, title);
    if (!s.ok()) {
      std::fprintf(stderr, "qlinear-bench: --plot: %s\n",
                   std::string(s.message()).c_str());
      ++file_errors;
    }
    if (temporary_json) std::remove(json_path.c_str());
  }
  if (!all_passed) return kExitAssertionMissed;
  return file_errors > 0 ? kExitSetup : 0;
}
