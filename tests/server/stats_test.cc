// ModelStats and StatsRegistry: sums, batch-size slots (dense and overflow),
// status codes, exact totals under concurrent recording, and AwaitSnapshot.
#include "server/stats.h"

#include <thread>
#include <vector>

#include "absl/status/status.h"
#include "gtest/gtest.h"

namespace qlinear::server {
namespace {

TEST(ModelStatsTest, StartsAtZero) {
  ModelStats stats(8);
  const ModelStatsSnapshot s = stats.Snapshot();
  EXPECT_EQ(s.success.count, 0u);
  EXPECT_EQ(s.fail.count, 0u);
  EXPECT_EQ(s.execution_count, 0u);
  EXPECT_EQ(s.last_inference_ms, 0u);
  EXPECT_TRUE(s.batch_sizes.empty());
}

TEST(ModelStatsTest, SumsRequestsAndTheirTimes) {
  ModelStats stats(8);
  RequestTimes t;
  t.total_ns = 100;
  t.queue_ns = 10;
  t.compute_input_ns = 1;
  t.compute_infer_ns = 50;
  t.compute_output_ns = 2;
  stats.RecordSuccess(Rpc::kForward, 3, t);
  stats.RecordSuccess(Rpc::kModelInfer, 4, t);
  stats.RecordFailure(Rpc::kModelInfer, absl::StatusCode::kInvalidArgument, 7);
  stats.RecordFailure(Rpc::kMatmul, absl::StatusCode::kCancelled, 9);
  // Not a failure code: counted as UNKNOWN.
  stats.RecordFailure(Rpc::kMatmul, absl::StatusCode::kOk, 1);

  const ModelStatsSnapshot s = stats.Snapshot();
  EXPECT_EQ(s.success.count, 2u);
  EXPECT_EQ(s.success.ns, 200u);
  EXPECT_EQ(s.queue.ns, 20u);
  EXPECT_EQ(s.compute_input.ns, 2u);
  EXPECT_EQ(s.compute_infer.ns, 100u);
  EXPECT_EQ(s.compute_output.ns, 4u);
  EXPECT_EQ(s.inference_count, 7u);
  EXPECT_EQ(s.fail.count, 3u);
  EXPECT_EQ(s.fail.ns, 17u);
  EXPECT_GT(s.last_inference_ms, 0u);
  const int infer = static_cast<int>(Rpc::kModelInfer);
  const int matmul = static_cast<int>(Rpc::kMatmul);
  EXPECT_EQ(s.requests[static_cast<int>(Rpc::kForward)][0], 1u);
  EXPECT_EQ(s.requests[infer][0], 1u);
  EXPECT_EQ(
      s.requests[infer][static_cast<int>(absl::StatusCode::kInvalidArgument)],
      1u);
  EXPECT_EQ(s.requests[matmul][static_cast<int>(absl::StatusCode::kCancelled)],
            1u);
  EXPECT_EQ(s.requests[matmul][static_cast<int>(absl::StatusCode::kUnknown)],
            1u);
}

TEST(ModelStatsTest, CountsBatchesBySizeDenseAndOverflow) {
  ModelStats stats(4);  // sizes 1..4 dense, larger ones in the overflow table
  stats.RecordExecution(2, 10);
  stats.RecordExecution(2, 30);
  stats.RecordExecution(4, 5);
  stats.RecordExecution(1000, 7);
  stats.RecordExecution(5, 1);
  stats.RecordExecution(1000, 3);
  stats.RecordLayer(6);
  stats.RecordLayer(4);

  const ModelStatsSnapshot s = stats.Snapshot();
  EXPECT_EQ(s.execution_count, 6u);
  EXPECT_EQ(s.layers_executed, 2u);
  EXPECT_EQ(s.row_layers_executed, 10u);
  ASSERT_EQ(s.batch_sizes.size(), 4u);
  const uint64_t rows[] = {2, 4, 5, 1000};
  const uint64_t counts[] = {2, 1, 1, 2};
  const uint64_t ns[] = {40, 5, 1, 10};
  for (size_t i = 0; i < 4; ++i) {
    EXPECT_EQ(s.batch_sizes[i].batch_rows, rows[i]);
    EXPECT_EQ(s.batch_sizes[i].count, counts[i]);
    EXPECT_EQ(s.batch_sizes[i].compute_ns, ns[i]);
  }
}

TEST(ModelStatsTest, AFullOverflowTableStillCountsExecutions) {
  ModelStats stats(1);
  for (uint64_t rows = 2; rows < 2 + 200; ++rows)
    stats.RecordExecution(rows, 1);
  const ModelStatsSnapshot s = stats.Snapshot();
  EXPECT_EQ(s.execution_count, 200u);
  EXPECT_EQ(s.batch_sizes.size(), 64u);  // the table's capacity
}

TEST(ModelStatsTest, ConcurrentRecordingIsExact) {
  ModelStats stats(16);
  constexpr int kThreads = 4;
  constexpr int kPerThread = 20000;
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&stats, t] {
      RequestTimes times;
      times.total_ns = 1;
      for (int i = 0; i < kPerThread; ++i) {
        stats.RecordSuccess(Rpc::kForward, 2, times);
        stats.RecordExecution(1 + (i % 16), 1);
        stats.RecordExecution(100 + t, 1);  // overflow slots, raced for
        stats.RecordLayer(2);
      }
    });
  }
  for (std::thread& t : threads) t.join();
  const ModelStatsSnapshot s = stats.Snapshot();
  constexpr uint64_t kTotal = uint64_t{kThreads} * kPerThread;
  EXPECT_EQ(s.success.count, kTotal);
  EXPECT_EQ(s.success.ns, kTotal);
  EXPECT_EQ(s.inference_count, 2 * kTotal);
  EXPECT_EQ(s.execution_count, 2 * kTotal);
  EXPECT_EQ(s.layers_executed, kTotal);
  uint64_t batches = 0;
  for (const BatchSizeStat& b : s.batch_sizes) batches += b.count;
  EXPECT_EQ(batches, 2 * kTotal);
  EXPECT_EQ(s.batch_sizes.size(), 16u + kThreads);
}

TEST(ModelStatsTest, AwaitSnapshotReturnsAtOnceOrAtTheTimeout) {
  ModelStats stats(8);
  stats.RecordLayer(3);
  EXPECT_TRUE(stats.AwaitSnapshot(
      [](const ModelStatsSnapshot& s) { return s.layers_executed == 1; },
      absl::ZeroDuration()));
  EXPECT_FALSE(stats.AwaitSnapshot(
      [](const ModelStatsSnapshot& s) { return s.layers_executed == 2; },
      absl::Milliseconds(1)));
}

// A record from another thread, racing the waiter's start, always wakes it:
// a lost wake-up would hold a round until its 60 s timeout and fail it.
TEST(ModelStatsTest, AwaitSnapshotWakesOnEachRecordOfAnotherThread) {
  ModelStats stats(8);
  for (uint64_t round = 1; round <= 500; ++round) {
    std::thread recorder([&stats] { stats.RecordLayer(1); });
    EXPECT_TRUE(stats.AwaitSnapshot(
        [round](const ModelStatsSnapshot& s) {
          return s.layers_executed >= round;
        },
        absl::Seconds(60)))
        << round;
    recorder.join();
  }
  // Several waiters at once, each for its own count.
  std::vector<std::thread> waiters;
  for (int w = 1; w <= 4; ++w) {
    waiters.emplace_back([&stats, w] {
      EXPECT_TRUE(stats.AwaitSnapshot(
          [w](const ModelStatsSnapshot& s) {
            return s.requests[static_cast<int>(Rpc::kMatmul)]
                             [static_cast<int>(absl::StatusCode::kCancelled)] >=
                   static_cast<uint64_t>(10 * w);
          },
          absl::Seconds(60)));
    });
  }
  for (int i = 0; i < 40; ++i)
    stats.RecordFailure(Rpc::kMatmul, absl::StatusCode::kCancelled, 1);
  for (std::thread& t : waiters) t.join();
}

TEST(StatsRegistryTest, OneStatsPerModelVersion) {
  StatsRegistry registry;
  EXPECT_EQ(registry.Find("m", "1"), nullptr);
  std::shared_ptr<ModelStats> a = registry.GetOrCreate("m", "1", 8);
  EXPECT_EQ(registry.GetOrCreate("m", "1", 8), a);
  EXPECT_EQ(registry.Find("m", "1"), a);
  std::shared_ptr<ModelStats> b = registry.GetOrCreate("m", "2", 8);
  EXPECT_NE(a, b);
  registry.GetOrCreate("a", "1", 8);
  const std::vector<StatsRegistry::Entry> entries = registry.List();
  ASSERT_EQ(entries.size(), 3u);
  EXPECT_EQ(entries[0].name, "a");
  EXPECT_EQ(entries[1].name, "m");
  EXPECT_EQ(entries[1].version, "1");
  EXPECT_EQ(entries[2].version, "2");
  EXPECT_EQ(RpcName(Rpc::kModelInfer), "ModelInfer");
}

}  // namespace
}  // namespace qlinear::server
