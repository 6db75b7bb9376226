// The load generator against an in-process fake server (one worker thread
// serving calls in order): exact request counts, status counting, batch
// rows from timings or from server statistics, and an open loop that keeps
// sending through a stall (no coordinated omission).
#include "clients/bench/load_generator.h"

#include <atomic>
#include <deque>
#include <thread>

#include "absl/synchronization/mutex.h"
#include "absl/time/clock.h"
#include "gtest/gtest.h"

namespace qlinear::bench {
namespace {

// Serves calls one at a time, each taking `service`; call number `stall_at`
// (0-based) first waits `stall`. Every `fail_every`-th call fails with
// UNAVAILABLE. Reports batch_rows = the calls queued behind it + 1, unless
// `report_batch_rows` is false.
class FakeKind : public RequestKind {
 public:
  struct Options {
    absl::Duration service = absl::Microseconds(200);
    int64_t stall_at = -1;
    absl::Duration stall = absl::ZeroDuration();
    int64_t fail_every = 0;
    bool report_batch_rows = true;
  };
  explicit FakeKind(const Options& options)
      : options_(options), worker_([this] { Serve(); }) {}
  ~FakeKind() override {
    {
      absl::MutexLock lock(&mu_);
      done_ = true;
    }
    worker_.join();
  }

  void Start(size_t channel, std::chrono::system_clock::time_point deadline,
             DoneCallback done) override {
    absl::MutexLock lock(&mu_);
    queue_.push_back(std::move(done));
  }
  int64_t rows() const override { return 2; }
  size_t request_bytes() const override { return 100; }

 private:
  void Serve() {
    for (int64_t n = 0;; ++n) {
      DoneCallback done;
      int64_t behind = 0;
      {
        absl::MutexLock lock(&mu_);
        mu_.Await(absl::Condition(this, &FakeKind::ReadyLocked));
        if (queue_.empty()) return;
        done = std::move(queue_.front());
        queue_.pop_front();
        behind = static_cast<int64_t>(queue_.size());
      }
      if (n == options_.stall_at) absl::SleepFor(options_.stall);
      absl::SleepFor(options_.service);
      CallOutcome outcome;
      if (options_.fail_every > 0 && (n + 1) % options_.fail_every == 0) {
        outcome.code = grpc::StatusCode::UNAVAILABLE;
      } else if (options_.report_batch_rows) {
        outcome.batch_rows = behind + 1;
        outcome.server_total = 1e-4;
        outcome.server_queue = 2e-5;
        outcome.server_infer = 5e-5;
      }
      outcome.response_bytes = 50;
      done(outcome);
    }
  }

  bool ReadyLocked() const ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    return done_ || !queue_.empty();
  }

  const Options options_;
  mutable absl::Mutex mu_;
  std::deque<DoneCallback> queue_ ABSL_GUARDED_BY(mu_);
  bool done_ ABSL_GUARDED_BY(mu_) = false;
  std::thread worker_;
};

StatsFetcher NoStats() {
  return [] { return std::optional<ServerCounters>(); };
}

TEST(LoadGeneratorTest, ClosedLoopByRequestCount) {
  FakeKind kind({});
  LoadOptions options;
  options.warmup = absl::Milliseconds(20);
  options.requests = 200;
  options.concurrency = 4;
  options.ops_per_request = 1000;
  const PointSummary p = RunClosedLoop(&kind, options, NoStats());
  EXPECT_EQ(p.mode, "closed");
  EXPECT_EQ(p.concurrency, 4);
  EXPECT_EQ(p.requests, 200u);
  EXPECT_EQ(p.ok, 200u);
  EXPECT_EQ(p.errors, 0u);
  EXPECT_EQ(p.codes[0], 200u);
  EXPECT_GT(p.seconds, 0);
  EXPECT_GT(p.requests_per_second, 0);
  EXPECT_DOUBLE_EQ(p.rows_per_second, 2 * p.requests_per_second);
  EXPECT_DOUBLE_EQ(p.gops, p.requests_per_second * 1000 * 1e-9);
  // Four calls in flight on one worker: each waits behind the other three.
  EXPECT_GT(p.batch_rows_mean, 1.0);
  EXPECT_LE(p.batch_rows_max, 4.0);
  EXPECT_EQ(p.batch_rows_source, "timings");
  EXPECT_GE(p.p50, 200e-6);
  EXPECT_LE(p.p50, p.p99);
  EXPECT_LE(p.p99, p.max);
  EXPECT_DOUBLE_EQ(p.request_bytes, 100);
  EXPECT_DOUBLE_EQ(p.response_bytes, 50);
  EXPECT_NEAR(p.server_queue, 2e-5, 1e-12);
}

TEST(LoadGeneratorTest, CountsStatusCodes) {
  FakeKind::Options fake;
  fake.fail_every = 10;
  FakeKind kind(fake);
  LoadOptions options;
  options.warmup = absl::ZeroDuration();
  options.requests = 100;
  options.concurrency = 1;
  const PointSummary p = RunClosedLoop(&kind, options, NoStats());
  EXPECT_EQ(p.requests, 100u);
  EXPECT_EQ(p.codes[static_cast<int>(grpc::StatusCode::UNAVAILABLE)], 10u);
  EXPECT_EQ(p.ok, 90u);
  EXPECT_EQ(p.errors, 10u);
}

TEST(LoadGeneratorTest, BatchRowsFromServerStatistics) {
  FakeKind::Options fake;
  fake.report_batch_rows = false;
  FakeKind kind(fake);
  std::atomic<int> calls{0};
  StatsFetcher fetch = [&calls]() -> std::optional<ServerCounters> {
    ServerCounters c;
    if (calls++ == 0) {
      c.inference_count = 100;
      c.execution_count = 50;
      c.batches = {{2, 50}};
    } else {
      c.inference_count = 400;
      c.execution_count = 100;
      c.batches = {{2, 50}, {6, 50}};
      c.queue_count = 10;
      c.queue_ns = 10000;
    }
    return c;
  };
  LoadOptions options;
  options.warmup = absl::ZeroDuration();
  options.requests = 20;
  const PointSummary p = RunClosedLoop(&kind, options, fetch);
  EXPECT_EQ(calls.load(), 2);
  EXPECT_DOUBLE_EQ(p.batch_rows_mean, 6.0);  // 300 rows in 50 batches
  EXPECT_DOUBLE_EQ(p.batch_rows_max, 6.0);
  EXPECT_EQ(p.batch_rows_source, "server_statistics");
  EXPECT_DOUBLE_EQ(p.server_queue, 1e-6);
}

TEST(LoadGeneratorTest, OpenLoopCountsEveryIntendedSendThroughAStall) {
  // 200 requests/s for 0.5 s: exactly 100 intended sends in the window. The
  // server stalls 300 ms early on; the sends go on, and the requests queued
  // behind the stall carry it in their latency.
  FakeKind::Options fake;
  fake.stall_at = 10;
  fake.stall = absl::Milliseconds(300);
  FakeKind kind(fake);
  LoadOptions options;
  options.warmup = absl::ZeroDuration();
  options.duration = absl::Milliseconds(500);
  options.rate = 200;
  const PointSummary p = RunOpenLoop(&kind, options, NoStats());
  EXPECT_EQ(p.mode, "open");
  EXPECT_DOUBLE_EQ(p.target_rate, 200);
  EXPECT_EQ(p.requests, 100u);
  EXPECT_EQ(p.ok, 100u);
  EXPECT_GE(p.max, 0.25);
  // Tens of requests waited behind the stall, so even p90 shows it.
  EXPECT_GE(p.p90, 0.05);

  // A closed loop at concurrency 1 under the same stall sees it once.
  FakeKind closed_kind(fake);
  LoadOptions closed;
  closed.warmup = absl::ZeroDuration();
  closed.requests = 100;
  const PointSummary c = RunClosedLoop(&closed_kind, closed, NoStats());
  EXPECT_GE(c.max, 0.25);
  EXPECT_LT(c.p90, 0.05);
}

TEST(LoadGeneratorTest, OpenLoopDropsBeyondMaxInflight) {
  FakeKind::Options fake;
  fake.service = absl::Milliseconds(20);
  FakeKind kind(fake);
  LoadOptions options;
  options.warmup = absl::ZeroDuration();
  options.duration = absl::Milliseconds(200);
  options.rate = 500;  // 100 sends, at most 2 pending
  options.max_inflight = 2;
  options.poisson = true;
  const PointSummary p = RunOpenLoop(&kind, options, NoStats());
  EXPECT_GT(p.client_dropped, 50u);
  EXPECT_EQ(p.errors, p.requests - p.ok + p.client_dropped);
  EXPECT_TRUE(p.poisson);
}

}  // namespace
}  // namespace qlinear::bench
