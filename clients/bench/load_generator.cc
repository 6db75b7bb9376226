#include "clients/bench/load_generator.h"

#include <sys/prctl.h>

#include <algorithm>
#include <limits>
#include <memory>
#include <random>
#include <thread>

#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"
#include "clients/bench/histogram.h"

namespace qlinear::bench {
namespace {

constexpr int64_t kNever = std::numeric_limits<int64_t>::max();

int64_t NowNs() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(
             std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

void SleepUntilNs(int64_t t) {
  std::this_thread::sleep_until(
      std::chrono::steady_clock::time_point(std::chrono::nanoseconds(t)));
}

// One load point. Thread-safe: completions arrive on gRPC threads.
class LoadRun {
 public:
  LoadRun(RequestKind* kind, const LoadOptions& options)
      : kind_(kind), options_(options) {}
  LoadRun(const LoadRun&) = delete;
  LoadRun& operator=(const LoadRun&) = delete;

  PointSummary Closed(const StatsFetcher& fetch_stats) ABSL_LOCKS_EXCLUDED(mu_);
  PointSummary Open(const StatsFetcher& fetch_stats) ABSL_LOCKS_EXCLUDED(mu_);

 private:
  std::chrono::system_clock::time_point Deadline() const {
    return std::chrono::system_clock::now() +
           absl::ToChronoNanoseconds(options_.timeout);
  }

  void StartClosed(size_t slot, int64_t start_ns) ABSL_LOCKS_EXCLUDED(mu_);
  // Decides whether a closed-loop slot sends its next request at `now`.
  bool ContinueLocked(int64_t now) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void RecordLocked(int64_t intended_ns, int64_t sent_ns, int64_t done_ns,
                    const CallOutcome& outcome)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  bool IdleLocked() const ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    return stopped_ && in_flight_ == 0;
  }
  void AwaitIdle() ABSL_LOCKS_EXCLUDED(mu_);
  PointSummary Summarize(const std::optional<ServerCounters>& before,
                         const std::optional<ServerCounters>& after)
      ABSL_LOCKS_EXCLUDED(mu_);

  // Constant after construction.
  RequestKind* const kind_;
  const LoadOptions options_;

  absl::Mutex mu_;
  // Protected by mu_. The window is [measure_start_, measure_end_).
  int64_t measure_start_ns_ ABSL_GUARDED_BY(mu_) = kNever;
  int64_t measure_end_ns_ ABSL_GUARDED_BY(mu_) = kNever;
  bool stopped_ ABSL_GUARDED_BY(mu_) = false;
  int64_t in_flight_ ABSL_GUARDED_BY(mu_) = 0;
  int64_t measured_sent_ ABSL_GUARDED_BY(mu_) = 0;
  int64_t last_done_ns_ ABSL_GUARDED_BY(mu_) = 0;
  // What the window's requests measured.
  LatencyHistogram latency_ ABSL_GUARDED_BY(mu_);
  std::array<uint64_t, kNumStatusCodes> codes_ ABSL_GUARDED_BY(mu_){};
  uint64_t requests_ ABSL_GUARDED_BY(mu_) = 0;
  uint64_t client_dropped_ ABSL_GUARDED_BY(mu_) = 0;
  double response_bytes_ ABSL_GUARDED_BY(mu_) = 0;
  uint64_t batch_count_ ABSL_GUARDED_BY(mu_) = 0;
  double batch_sum_ ABSL_GUARDED_BY(mu_) = 0;
  int64_t batch_max_ ABSL_GUARDED_BY(mu_) = 0;
  uint64_t timed_count_ ABSL_GUARDED_BY(mu_) = 0;
  double server_total_sum_ ABSL_GUARDED_BY(mu_) = 0;
  double server_queue_sum_ ABSL_GUARDED_BY(mu_) = 0;
  double server_infer_sum_ ABSL_GUARDED_BY(mu_) = 0;
  double lag_sum_ ABSL_GUARDED_BY(mu_) = 0;
  int64_t lag_max_ns_ ABSL_GUARDED_BY(mu_) = 0;
};

void LoadRun::RecordLocked(int64_t intended_ns, int64_t sent_ns,
                           int64_t done_ns, const CallOutcome& o) {
  if (intended_ns < measure_start_ns_ || intended_ns >= measure_end_ns_) {
    return;
  }
  ++requests_;
  const int code = static_cast<int>(o.code);
  ++codes_[code >= 0 && code < kNumStatusCodes ? code : 2];  // 2: UNKNOWN
  last_done_ns_ = std::max(last_done_ns_, done_ns);
  const int64_t lag = sent_ns - intended_ns;
  lag_sum_ += static_cast<double>(lag);
  lag_max_ns_ = std::max(lag_max_ns_, lag);
  if (o.code != grpc::StatusCode::OK) return;
  latency_.Record(done_ns - intended_ns);
  response_bytes_ += static_cast<double>(o.response_bytes);
  if (o.batch_rows >= 0) {
    ++batch_count_;
    batch_sum_ += static_cast<double>(o.batch_rows);
    batch_max_ = std::max(batch_max_, o.batch_rows);
  }
  if (!std::isnan(o.server_total)) {
    ++timed_count_;
    server_total_sum_ += o.server_total;
    server_queue_sum_ += o.server_queue;
    server_infer_sum_ += o.server_infer;
  }
}

bool LoadRun::ContinueLocked(int64_t now) {
  if (stopped_) return false;
  if (options_.requests > 0 && now >= measure_start_ns_) {
    if (measured_sent_ >= options_.requests) {
      stopped_ = true;
      measure_end_ns_ = now;
      return false;
    }
    ++measured_sent_;
  }
  return true;
}

void LoadRun::StartClosed(size_t slot, int64_t start_ns) {
  kind_->Start(slot % options_.channels, Deadline(),
               [this, slot, start_ns](const CallOutcome& outcome) {
                 const int64_t now = NowNs();
                 {
                   absl::MutexLock lock(&mu_);
                   RecordLocked(start_ns, start_ns, now, outcome);
                   if (!ContinueLocked(now)) {
                     // The last access to *this by this slot.
                     --in_flight_;
                     return;
                   }
                 }
                 StartClosed(slot, now);
               });
}

void LoadRun::AwaitIdle() {
  // Every call carries a deadline, so this ends.
  absl::MutexLock lock(&mu_);
  mu_.Await(absl::Condition(this, &LoadRun::IdleLocked));
}

PointSummary LoadRun::Closed(const StatsFetcher& fetch_stats) {
  const int slots = std::max(1, options_.concurrency);
  {
    absl::MutexLock lock(&mu_);
    in_flight_ = slots;
  }
  for (int slot = 0; slot < slots; ++slot) {
    StartClosed(static_cast<size_t>(slot), NowNs());
  }
  absl::SleepFor(options_.warmup);
  const std::optional<ServerCounters> before = fetch_stats();
  {
    absl::MutexLock lock(&mu_);
    measure_start_ns_ = NowNs();
  }
  if (options_.requests > 0) {
    absl::MutexLock lock(&mu_);
    mu_.Await(absl::Condition(&stopped_));
  } else {
    absl::SleepFor(options_.duration);
    absl::MutexLock lock(&mu_);
    if (!stopped_) {
      stopped_ = true;
      measure_end_ns_ = NowNs();
    }
  }
  AwaitIdle();
  return Summarize(before, fetch_stats());
}

PointSummary LoadRun::Open(const StatsFetcher& fetch_stats) {
  // Sleep precisely: the default 50 us timer slack would skew the sends.
  prctl(PR_SET_TIMERSLACK, 1000UL, 0, 0, 0);
  const int64_t warmup_ns = absl::ToInt64Nanoseconds(options_.warmup);
  const int64_t t0 = NowNs() + 1000000;
  {
    absl::MutexLock lock(&mu_);
    measure_start_ns_ = t0 + warmup_ns;
    if (options_.requests == 0) {
      measure_end_ns_ =
          measure_start_ns_ + absl::ToInt64Nanoseconds(options_.duration);
    }
  }
  // The server's counters are read at the start of the window by a helper,
  // so that the pacing below never waits for an RPC.
  std::optional<ServerCounters> before;
  std::thread stats_thread([&] {
    SleepUntilNs(t0 + warmup_ns);
    before = fetch_stats();
  });

  std::mt19937_64 rng(options_.seed);
  std::exponential_distribution<double> exponential(options_.rate);
  const double fixed_gap_ns = 1e9 / options_.rate;
  double next = static_cast<double>(t0);
  for (uint64_t i = 0;; ++i) {
    const int64_t intended = static_cast<int64_t>(next);
    next += options_.poisson ? exponential(rng) * 1e9 : fixed_gap_ns;
    if (intended > NowNs()) SleepUntilNs(intended);
    bool send = true;
    {
      absl::MutexLock lock(&mu_);
      if (intended >= measure_end_ns_) {
        stopped_ = true;
        break;
      }
      const bool measured = intended >= measure_start_ns_;
      if (measured && options_.requests > 0) {
        if (measured_sent_ >= options_.requests) {
          stopped_ = true;
          measure_end_ns_ = intended;
          break;
        }
        ++measured_sent_;
      }
      if (in_flight_ >= options_.max_inflight) {
        send = false;
        if (measured) ++client_dropped_;
      } else {
        ++in_flight_;
      }
    }
    if (!send) continue;
    const int64_t sent = NowNs();
    kind_->Start(i % options_.channels, Deadline(),
                 [this, intended, sent](const CallOutcome& outcome) {
                   const int64_t now = NowNs();
                   absl::MutexLock lock(&mu_);
                   RecordLocked(intended, sent, now, outcome);
                   --in_flight_;
                 });
  }
  stats_thread.join();
  AwaitIdle();
  return Summarize(before, fetch_stats());
}

PointSummary LoadRun::Summarize(const std::optional<ServerCounters>& before,
                                const std::optional<ServerCounters>& after) {
  absl::MutexLock lock(&mu_);
  PointSummary p;
  p.concurrency = options_.concurrency;
  if (options_.requests > 0) {
    // By count: the window ends with the last of its responses.
    p.seconds = static_cast<double>(last_done_ns_ - measure_start_ns_) * 1e-9;
  } else {
    p.seconds = static_cast<double>(measure_end_ns_ - measure_start_ns_) * 1e-9;
  }
  p.requests = requests_;
  p.codes = codes_;
  p.ok = codes_[0];
  p.client_dropped = client_dropped_;
  p.errors = requests_ - p.ok + client_dropped_;
  const double seconds = p.seconds > 0 ? p.seconds : NAN;
  const int64_t rows = kind_->rows();
  p.requests_per_second = static_cast<double>(p.ok) / seconds;
  p.rows_per_second = p.requests_per_second * static_cast<double>(rows);
  p.gops = p.requests_per_second * options_.ops_per_request * 1e-9;
  p.p50 = latency_.Quantile(0.50) * 1e-9;
  p.p90 = latency_.Quantile(0.90) * 1e-9;
  p.p95 = latency_.Quantile(0.95) * 1e-9;
  p.p99 = latency_.Quantile(0.99) * 1e-9;
  p.p999 = latency_.Quantile(0.999) * 1e-9;
  p.mean = latency_.mean() * 1e-9;
  p.min = latency_.min() * 1e-9;
  p.max = latency_.max() * 1e-9;
  p.request_bytes = static_cast<double>(kind_->request_bytes());
  p.response_bytes = p.ok > 0 ? response_bytes_ / static_cast<double>(p.ok) : 0;
  if (requests_ > 0) {
    p.send_lag_mean = lag_sum_ / static_cast<double>(requests_) * 1e-9;
    p.send_lag_max = static_cast<double>(lag_max_ns_) * 1e-9;
  }
  if (batch_count_ > 0) {
    p.batch_rows_mean = batch_sum_ / static_cast<double>(batch_count_);
    p.batch_rows_max = static_cast<double>(batch_max_);
    p.batch_rows_source = "timings";
  }
  if (timed_count_ > 0) {
    const double n = static_cast<double>(timed_count_);
    p.server_total = server_total_sum_ / n;
    p.server_queue = server_queue_sum_ / n;
    p.server_compute_infer = server_infer_sum_ / n;
  }
  if (before.has_value() && after.has_value()) {
    // The server's own counters, over (about) the same window. They count
    // every client of the model, not only this generator.
    auto mean = [](uint64_t ns0, uint64_t ns1, uint64_t c0, uint64_t c1) {
      return c1 > c0 ? static_cast<double>(ns1 - ns0) * 1e-9 /
                           static_cast<double>(c1 - c0)
                     : NAN;
    };
    const ServerCounters& b = *before;
    const ServerCounters& a = *after;
    p.server_queue = mean(b.queue_ns, a.queue_ns, b.queue_count, a.queue_count);
    p.server_compute_input = mean(b.compute_input_ns, a.compute_input_ns,
                                  b.compute_input_count, a.compute_input_count);
    p.server_compute_infer = mean(b.compute_infer_ns, a.compute_infer_ns,
                                  b.compute_infer_count, a.compute_infer_count);
    p.server_compute_output =
        mean(b.compute_output_ns, a.compute_output_ns, b.compute_output_count,
             a.compute_output_count);
    p.server_total =
        mean(b.success_ns, a.success_ns, b.success_count, a.success_count);
    if (a.execution_count > b.execution_count) {
      p.server_rows_per_batch =
          static_cast<double>(a.inference_count - b.inference_count) /
          static_cast<double>(a.execution_count - b.execution_count);
    }
    for (const auto& [rows_of_batch, count] : a.batches) {
      const auto it = b.batches.find(rows_of_batch);
      const uint64_t earlier = it == b.batches.end() ? 0 : it->second;
      if (count > earlier) {
        p.server_max_batch_rows = static_cast<double>(rows_of_batch);
      }
    }
    if (std::isnan(p.batch_rows_mean) && !std::isnan(p.server_rows_per_batch)) {
      p.batch_rows_mean = p.server_rows_per_batch;
      p.batch_rows_max = p.server_max_batch_rows;
      p.batch_rows_source = "server_statistics";
    }
  }
  return p;
}

}  // namespace

PointSummary RunClosedLoop(RequestKind* kind, const LoadOptions& options,
                           const StatsFetcher& fetch_stats) {
  LoadRun run(kind, options);
  PointSummary p = run.Closed(fetch_stats);
  p.mode = "closed";
  return p;
}

PointSummary RunOpenLoop(RequestKind* kind, const LoadOptions& options,
                         const StatsFetcher& fetch_stats) {
  LoadRun run(kind, options);
  PointSummary p = run.Open(fetch_stats);
  p.mode = "open";
  p.concurrency = 0;
  p.target_rate = options.rate;
  p.poisson = options.poisson;
  return p;
}

}  // namespace qlinear::bench
