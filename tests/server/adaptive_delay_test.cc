// The adaptive batching delay: the cost curve, the arrival rate, the rule,
// and the batcher applying it, all on a fake clock (deterministic).
#include "server/batching/adaptive_delay.h"

#include <memory>
#include <optional>
#include <vector>

#include "gtest/gtest.h"
#include "server/batching/batcher.h"
#include "server/batching/clock.h"

namespace qlinear::server::batching {
namespace {

// A batch costs F + m·rows: F = 1.05 ms (the weights streamed once), m =
// 10 µs per row; measured at the row counts warm-up uses.
constexpr double kFixed = 1.05e-3;
constexpr double kPerRow = 1e-5;

std::vector<CostPoint> AffineCurve() {
  std::vector<CostPoint> curve;
  for (int64_t rows : {64, 1, 2, 3, 5, 16, 32, 8, 4}) {
    curve.push_back({rows, kFixed + kPerRow * static_cast<double>(rows)});
  }
  return curve;
}

TEST(CostCurveTest, NormalizedSortsAndDropsUnusablePoints) {
  const std::vector<CostPoint> curve = NormalizedCostCurve(
      {{8, 3.0}, {0, 1.0}, {2, 2.0}, {4, -1.0}, {2, 9.0}, {1, 0.0}, {1, 1.5}});
  const std::vector<CostPoint> want = {{1, 1.5}, {2, 2.0}, {8, 3.0}};
  EXPECT_EQ(curve, want);
}

TEST(CostCurveTest, InterpolatesThroughZeroAndExtrapolatesPerRow) {
  const std::vector<CostPoint> curve = {{2, 2.0}, {4, 3.0}, {8, 5.0}};
  EXPECT_DOUBLE_EQ(BatchSeconds(curve, 0.0), 0.0);
  EXPECT_DOUBLE_EQ(BatchSeconds(curve, 1.0), 1.0);  // through (0, 0)
  EXPECT_DOUBLE_EQ(BatchSeconds(curve, 2.0), 2.0);
  EXPECT_DOUBLE_EQ(BatchSeconds(curve, 3.0), 2.5);
  EXPECT_DOUBLE_EQ(BatchSeconds(curve, 6.0), 4.0);
  EXPECT_DOUBLE_EQ(BatchSeconds(curve, 8.0), 5.0);
  EXPECT_DOUBLE_EQ(BatchSeconds(curve, 16.0), 10.0);  // 5/8 s per row
  EXPECT_DOUBLE_EQ(BatchSeconds({}, 4.0), 0.0);
}

TEST(ArrivalRateTest, MeanOfGapsPerRowDecaysInSilence) {
  ArrivalRate rate;
  const absl::Time t0 = absl::UnixEpoch();
  EXPECT_EQ(rate.RowsPerSecond(t0), 0.0);
  rate.Record(t0, 1);
  EXPECT_EQ(rate.RowsPerSecond(t0), 0.0);  // one arrival: no rate yet
  rate.Record(t0 + absl::Milliseconds(1), 1);
  EXPECT_DOUBLE_EQ(rate.RowsPerSecond(t0 + absl::Milliseconds(1)), 1000.0);
  // 4 rows 1 ms later: 0.25 ms per row; the mean moves a quarter of the way.
  rate.Record(t0 + absl::Milliseconds(2), 4);
  const double mean = 1e-3 + 0.25 * (0.25e-3 - 1e-3);
  EXPECT_NEAR(rate.RowsPerSecond(t0 + absl::Milliseconds(2)), 1.0 / mean, 1e-6);
  // 5 ms of silence is longer than the mean gap: it is the gap.
  EXPECT_NEAR(rate.RowsPerSecond(t0 + absl::Milliseconds(7)), 200.0, 1e-9);
  // An idle second counts as 10 ms: one fast arrival after it moves the mean
  // from 10 ms a quarter of the way (not from 1 s).
  ArrivalRate idle;
  idle.Record(t0, 1);
  idle.Record(t0 + absl::Seconds(1), 1);
  idle.Record(t0 + absl::Seconds(1) + absl::Microseconds(100), 1);
  EXPECT_NEAR(
      idle.RowsPerSecond(t0 + absl::Seconds(1) + absl::Microseconds(100)),
      1.0 / (10e-3 + 0.25 * (0.1e-3 - 10e-3)), 1e-6);
}

TEST(AdaptiveWaitTest, WaitsForOneMoreRowWhileFewerThanRateTimesFixedCost) {
  const std::vector<CostPoint> curve = NormalizedCostCurve(AffineCurve());
  const absl::Duration plenty = absl::Milliseconds(5);
  // 10,000 rows/s, F = 1.05 ms: λ·F = 10.5, so it waits up to 10 rows.
  for (int64_t r = 1; r <= 10; ++r) {
    SCOPED_TRACE(r);
    EXPECT_NEAR(absl::ToDoubleMicroseconds(AdaptiveWait(
                    curve, r, 64, 1e4, plenty, absl::InfiniteDuration())),
                100.0, 1e-3);
  }
  EXPECT_EQ(AdaptiveWait(curve, 11, 64, 1e4, plenty, absl::InfiniteDuration()),
            absl::ZeroDuration());
  // 500 rows/s: λ·F = 0.525 < 1, never worth a wait.
  EXPECT_EQ(AdaptiveWait(curve, 1, 64, 500, plenty, absl::InfiniteDuration()),
            absl::ZeroDuration());
  // No curve, no rate, a full batch or no time left: no wait.
  EXPECT_EQ(AdaptiveWait({}, 1, 64, 1e4, plenty, absl::InfiniteDuration()),
            absl::ZeroDuration());
  EXPECT_EQ(AdaptiveWait(curve, 1, 64, 0, plenty, absl::InfiniteDuration()),
            absl::ZeroDuration());
  EXPECT_EQ(AdaptiveWait(curve, 8, 8, 1e4, plenty, absl::InfiniteDuration()),
            absl::ZeroDuration());
  EXPECT_EQ(AdaptiveWait(curve, 1, 64, 1e4, absl::ZeroDuration(),
                         absl::InfiniteDuration()),
            absl::ZeroDuration());
  // max_wait shorter than a row's gap: the wait is what is left, for the
  // expected fraction of a row (0.5 row saves 0.525 ms > 50 µs at r = 1).
  EXPECT_NEAR(
      absl::ToDoubleMicroseconds(AdaptiveWait(
          curve, 1, 64, 1e4, absl::Microseconds(50), absl::InfiniteDuration())),
      50.0, 1e-3);
  // The deadline: 100 µs of wait + 1.07 ms for 2 rows must fit the slack.
  EXPECT_GT(AdaptiveWait(curve, 1, 64, 1e4, plenty, absl::Microseconds(1171)),
            absl::ZeroDuration());
  EXPECT_EQ(AdaptiveWait(curve, 1, 64, 1e4, plenty, absl::Microseconds(1169)),
            absl::ZeroDuration());
}

// A task of `rows` rows that records whether it was failed.
class RowsTask final : public Task {
 public:
  explicit RowsTask(size_t rows, absl::Time deadline = absl::InfiniteFuture()) {
    this->rows = rows;
    bytes = rows * sizeof(float);
    this->deadline = deadline;
  }
  void Fail(absl::Status status) override { failed = std::move(status); }
  absl::Status failed;
};

class AdaptiveBatcherTest : public ::testing::Test {
 protected:
  explicit AdaptiveBatcherTest(bool adaptive = true) : batcher_(&clock_) {
    batcher_.SetQueue("m", Options(absl::Milliseconds(5), adaptive,
                                   /*with_curve=*/true));
  }

  // 64-row batches, up to `delay`, on the affine curve (or none).
  static QueueOptions Options(absl::Duration delay, bool adaptive,
                              bool with_curve) {
    QueueOptions options;
    options.max_batch_rows = 64;
    options.max_queue_rows = 1000;
    options.max_queue_delay = delay;
    options.adaptive_delay = adaptive;
    if (with_curve) options.cost_curve = AffineCurve();
    return options;
  }

  void Add(size_t rows = 1, absl::Time deadline = absl::InfiniteFuture()) {
    std::unique_ptr<Task> task = std::make_unique<RowsTask>(rows, deadline);
    ASSERT_TRUE(batcher_.Schedule("m", &task).ok());
  }

  // The next batch's rows, or nullopt with wake_in_ set.
  std::optional<size_t> NextRows() {
    absl::Time wake_at;
    std::optional<Batch> batch = batcher_.TryNextBatch(&wake_at);
    wake_in_ = wake_at - clock_.Now();
    if (!batch.has_value()) return std::nullopt;
    return batch->rows();
  }

  // One row every 100 µs (10,000 rows/s) after a first one that runs alone
  // (no rate is known yet). Leaves the clock at the second row's arrival.
  void StartSteadyArrivals() {
    Add();
    ASSERT_EQ(NextRows(), std::optional<size_t>(1));
    clock_.Advance(absl::Microseconds(100));
    Add();
  }

  FakeClock clock_;
  Batcher batcher_;
  absl::Duration wake_in_;
};

TEST_F(AdaptiveBatcherTest, IdleExecutorWaitsWhileMoreRowsPay) {
  StartSteadyArrivals();
  // λ·F = 10.5: the queue waits (waking when the next row is due) until 11
  // rows are queued, then runs them as one batch.
  for (int queued = 1; queued <= 10; ++queued) {
    SCOPED_TRACE(queued);
    ASSERT_EQ(NextRows(), std::nullopt);
    EXPECT_NEAR(absl::ToDoubleMicroseconds(wake_in_), 100.0, 1e-3);
    clock_.Advance(absl::Microseconds(100));
    Add();
  }
  EXPECT_EQ(NextRows(), std::optional<size_t>(11));
  EXPECT_EQ(batcher_.queued_rows("m"), 0);
}

TEST_F(AdaptiveBatcherTest, SlowArrivalsNeverWait) {
  Add();
  ASSERT_EQ(NextRows(), std::optional<size_t>(1));
  // 200 rows/s: λ·F = 0.21, each row runs at once.
  for (int i = 0; i < 5; ++i) {
    clock_.Advance(absl::Milliseconds(5));
    Add();
    EXPECT_EQ(NextRows(), std::optional<size_t>(1));
  }
}

TEST_F(AdaptiveBatcherTest, BurstThatStopsIsNotAwaitedLong) {
  StartSteadyArrivals();
  for (int queued = 1; queued < 3; ++queued) {
    ASSERT_EQ(NextRows(), std::nullopt);
    clock_.Advance(absl::Microseconds(100));
    Add();
  }
  // 3 rows queued, then silence: after s of it the rate is 1/s, and waiting
  // pays while 1/s · F > 3, i.e. s < 350 µs.
  ASSERT_EQ(NextRows(), std::nullopt);
  clock_.Advance(absl::Microseconds(300));
  ASSERT_EQ(NextRows(), std::nullopt);
  EXPECT_NEAR(absl::ToDoubleMicroseconds(wake_in_), 300.0, 1e-3);
  clock_.Advance(absl::Microseconds(100));
  EXPECT_EQ(NextRows(), std::optional<size_t>(3));
}

TEST_F(AdaptiveBatcherTest, MaxQueueDelayBoundsTheWait) {
  batcher_.SetQueue("m", Options(absl::Microseconds(350), /*adaptive=*/true,
                                 /*with_curve=*/true));
  StartSteadyArrivals();  // the oldest queued row arrives now
  for (int queued = 1; queued < 4; ++queued) {
    ASSERT_EQ(NextRows(), std::nullopt);
    clock_.Advance(absl::Microseconds(100));
    Add();
  }
  // 300 µs after the oldest: 50 µs of the bound are left, and no more.
  ASSERT_EQ(NextRows(), std::nullopt);
  EXPECT_NEAR(absl::ToDoubleMicroseconds(wake_in_), 50.0, 1e-3);
  clock_.Advance(absl::Microseconds(50));
  EXPECT_EQ(NextRows(), std::optional<size_t>(4));
}

TEST_F(AdaptiveBatcherTest, NoWaitThatWouldMissAQueuedDeadline) {
  StartSteadyArrivals();
  ASSERT_EQ(NextRows(), std::nullopt);
  clock_.Advance(absl::Microseconds(100));
  // Due in 1.2 ms: waiting 100 µs for a third row, then 1.08 ms of compute
  // for three rows, ends at 1.18 ms: the queue waits.
  const absl::Time due = clock_.Now() + absl::Microseconds(1200);
  Add(1, due);
  ASSERT_EQ(NextRows(), std::nullopt);
  clock_.Advance(absl::Microseconds(100));
  Add();
  // Now 1.1 ms are left, and 100 µs + 1.09 ms for a fourth row do not fit:
  // the three rows run.
  EXPECT_EQ(NextRows(), std::optional<size_t>(3));
}

TEST_F(AdaptiveBatcherTest, WithoutACurveItNeverWaits) {
  batcher_.SetQueue("m", Options(absl::Milliseconds(5), /*adaptive=*/true,
                                 /*with_curve=*/false));
  StartSteadyArrivals();
  EXPECT_EQ(NextRows(), std::optional<size_t>(1));
}

class FixedDelayBatcherTest : public AdaptiveBatcherTest {
 protected:
  FixedDelayBatcherTest() : AdaptiveBatcherTest(/*adaptive=*/false) {}
};

TEST_F(FixedDelayBatcherTest, OffTheSwitchTheFullDelayApplies) {
  // One row every 100 µs, as in IdleExecutorWaitsWhileMoreRowsPay: without
  // the switch the queue waits max_queue_delay (5 ms) from its oldest row,
  // the first one included.
  Add();
  for (int queued = 1; queued <= 20; ++queued) {
    ASSERT_EQ(NextRows(), std::nullopt);
    clock_.Advance(absl::Microseconds(100));
    Add();
  }
  ASSERT_EQ(NextRows(), std::nullopt);
  EXPECT_EQ(wake_in_, absl::Milliseconds(5) - absl::Microseconds(2000));
  clock_.Advance(wake_in_);
  EXPECT_EQ(NextRows(), std::optional<size_t>(21));
}

}  // namespace
}  // namespace qlinear::server::batching
