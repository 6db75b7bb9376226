// The batcher as a library: queueing, batch formation, priorities,
// deadlines, cancellation and delays, driven by a fake clock (no gRPC).
#include "server/batching/batcher.h"

#include <atomic>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/testing/status_matchers.h"

namespace qlinear::server::batching {
namespace {

using ::qlinear::testing::IsOk;
using ::qlinear::testing::StatusIs;
using ::testing::HasSubstr;

// Records how each task completed.
struct Outcome {
  bool done = false;
  absl::Status status;
};

// A task of `rows` rows of four floats; the key's variant stands for a
// layer range.
class TestTask final : public Task {
 public:
  TestTask(size_t rows, uint64_t variant, Outcome* out,
           std::function<bool()> cancelled = nullptr)
      : out_(out), cancelled_(std::move(cancelled)) {
    key = {nullptr, variant};
    this->rows = rows;
    bytes = rows * 4 * sizeof(float);
  }
  bool IsCancelled() const override { return cancelled_ && cancelled_(); }
  void Fail(absl::Status status) override {
    if (out_ == nullptr) return;
    out_->done = true;
    out_->status = std::move(status);
  }

 private:
  Outcome* const out_;  // may be null
  std::function<bool()> cancelled_;
};

class BatcherTest : public ::testing::Test {
 protected:
  BatcherTest() : batcher_(&clock_) {
    QueueOptions options;
    options.max_batch_rows = 8;
    options.max_queue_rows = 20;
    batcher_.SetQueue("m", options);
  }

  // Schedules a task of `rows` rows; returns its outcome slot.
  Outcome* Add(size_t rows, int32_t priority = 0, size_t layer_end = 2,
               absl::Time deadline = absl::InfiniteFuture(),
               std::function<bool()> cancelled = nullptr,
               absl::StatusCode expect = absl::StatusCode::kOk) {
    outcomes_.push_back(std::make_unique<Outcome>());
    Outcome* out = outcomes_.back().get();
    std::unique_ptr<Task> task =
        std::make_unique<TestTask>(rows, layer_end, out, std::move(cancelled));
    task->priority = priority;
    task->deadline = deadline;
    EXPECT_EQ(batcher_.Schedule("m", &task).code(), expect);
    return out;
  }

  std::optional<Batch> Next() {
    absl::Time wake_at;
    return batcher_.TryNextBatch(&wake_at);
  }

  FakeClock clock_;
  // Before batcher_: the batcher fails leftover tasks when destroyed.
  std::vector<std::unique_ptr<Outcome>> outcomes_;
  Batcher batcher_;
};

TEST_F(BatcherTest, ConcatenatesSameKeyTasksUpToMaxRows) {
  Add(3);
  Add(4);
  Add(2);  // would make 9 > 8: waits for the next batch
  Add(1);
  auto batch = Next();
  ASSERT_TRUE(batch.has_value());
  EXPECT_EQ(batch->model, "m");
  EXPECT_EQ(batch->rows(), 8u);  // 3 + 4 + 1
  ASSERT_EQ(batch->tasks.size(), 3u);
  EXPECT_EQ(batcher_.queued_rows("m"), 2);
  auto second = Next();
  ASSERT_TRUE(second.has_value());
  EXPECT_EQ(second->rows(), 2u);
  EXPECT_FALSE(Next().has_value());
}

TEST_F(BatcherTest, DifferentLayerRangesDoNotMerge) {
  Add(1, 0, 2);
  Add(1, 0, 1);
  Add(1, 0, 2);
  auto batch = Next();
  ASSERT_TRUE(batch.has_value());
  EXPECT_EQ(batch->tasks.size(), 2u);
  for (const auto& t : batch->tasks) EXPECT_EQ(t->key.variant, 2u);
  auto other = Next();
  ASSERT_TRUE(other.has_value());
  EXPECT_EQ(other->tasks.front()->key.variant, 1u);
}

TEST_F(BatcherTest, PriorityThenEarliestDeadlineThenArrival) {
  const absl::Time now = clock_.Now();
  Add(1, 0, 1, now + absl::Seconds(5));  // low priority
  Add(1, 1, 2, now + absl::Seconds(9));  // high priority, late deadline
  Add(1, 1, 3, now + absl::Seconds(3));  // high priority, early deadline
  std::vector<size_t> order;
  while (auto batch = Next())
    order.push_back(batch->tasks.front()->key.variant);
  EXPECT_EQ(order, (std::vector<size_t>{3, 2, 1}));
}

TEST_F(BatcherTest, FullQueueIsResourceExhaustedWithRetryHint) {
  Add(8);
  Add(8);
  std::unique_ptr<Task> task = std::make_unique<TestTask>(5, 2, nullptr);
  const absl::Status s = batcher_.Schedule("m", &task);
  EXPECT_THAT(s, StatusIs(absl::StatusCode::kResourceExhausted,
                          HasSubstr("retry after")));
  EXPECT_NE(task, nullptr);  // ownership stays with the caller
  EXPECT_EQ(batcher_.queued_rows("m"), 16);
}

TEST_F(BatcherTest, QueueBytesAreBoundedToo) {
  // 2-row tasks of this fixture hold 32 bytes; 64 bytes fit, rows do not
  // bind (1000).
  QueueOptions options;
  options.max_batch_rows = 8;
  options.max_queue_rows = 1000;
  options.max_queue_bytes = 64;
  batcher_.SetQueue("m", options);
  Add(2);
  Add(2);
  std::unique_ptr<Task> task = std::make_unique<TestTask>(1, 2, nullptr);
  EXPECT_THAT(batcher_.Schedule("m", &task),
              StatusIs(absl::StatusCode::kResourceExhausted,
                       HasSubstr("64 bytes queued; limits 1000 rows, 64 "
                                 "bytes); retry after")));
  EXPECT_NE(task, nullptr);
  EXPECT_EQ(batcher_.queued_rows("m"), 4);
  ASSERT_TRUE(Next().has_value());  // frees the bytes
  Add(2);
}

TEST_F(BatcherTest, UnknownModelIsNotFound) {
  std::unique_ptr<Task> task = std::make_unique<TestTask>(1, 2, nullptr);
  EXPECT_THAT(batcher_.Schedule("other", &task),
              StatusIs(absl::StatusCode::kNotFound, HasSubstr("other")));
}

TEST_F(BatcherTest, ExpiredTasksAreDroppedBeforeCompute) {
  Outcome* expired = Add(2, 0, 2, clock_.Now() + absl::Milliseconds(1));
  Outcome* alive = Add(2);
  clock_.Advance(absl::Milliseconds(2));
  auto batch = Next();
  ASSERT_TRUE(batch.has_value());
  EXPECT_EQ(batch->rows(), 2u);
  ASSERT_TRUE(expired->done);
  EXPECT_THAT(expired->status, StatusIs(absl::StatusCode::kDeadlineExceeded,
                                        HasSubstr("no compute")));
  EXPECT_FALSE(alive->done);  // still to be run by the executor
  EXPECT_EQ(batcher_.queued_rows("m"), 0);
}

TEST_F(BatcherTest, CancelledTasksAreDroppedBeforeCompute) {
  bool cancel = false;
  Outcome* out = Add(3, 0, 2, absl::InfiniteFuture(), [&] { return cancel; });
  cancel = true;
  EXPECT_FALSE(Next().has_value());
  ASSERT_TRUE(out->done);
  EXPECT_THAT(out->status,
              StatusIs(absl::StatusCode::kCancelled, HasSubstr("no compute")));
}

TEST_F(BatcherTest, DelayWaitsToFillThenReleases) {
  QueueOptions options;
  options.max_batch_rows = 4;
  options.max_queue_delay = absl::Microseconds(500);
  batcher_.SetQueue("m", options);
  Add(1);
  absl::Time wake_at;
  EXPECT_FALSE(batcher_.TryNextBatch(&wake_at).has_value());
  EXPECT_EQ(wake_at, clock_.Now() + absl::Microseconds(500));
  clock_.Advance(absl::Microseconds(200));
  Add(1);
  EXPECT_FALSE(batcher_.TryNextBatch(&wake_at).has_value());
  clock_.Advance(absl::Microseconds(300));
  auto batch = batcher_.TryNextBatch(&wake_at);
  ASSERT_TRUE(batch.has_value());
  EXPECT_EQ(batch->rows(), 2u);
  // A full batch does not wait.
  Add(2);
  Add(2);
  batch = batcher_.TryNextBatch(&wake_at);
  ASSERT_TRUE(batch.has_value());
  EXPECT_EQ(batch->rows(), 4u);
}

TEST_F(BatcherTest, WakesAtTheEarlierOfTheDelayAndAQueuedDeadline) {
  QueueOptions options;
  options.max_batch_rows = 4;
  options.max_queue_delay = absl::Milliseconds(10);
  batcher_.SetQueue("m", options);
  const absl::Time t0 = clock_.Now();
  Outcome* expiring = Add(1, 0, 2, t0 + absl::Milliseconds(3));
  absl::Time wake_at;
  EXPECT_FALSE(batcher_.TryNextBatch(&wake_at).has_value());
  EXPECT_EQ(wake_at, t0 + absl::Milliseconds(3));  // the deadline, not 10 ms
  clock_.Advance(absl::Milliseconds(3));
  EXPECT_FALSE(batcher_.TryNextBatch(&wake_at).has_value());
  ASSERT_TRUE(expiring->done);
  EXPECT_EQ(expiring->status.code(), absl::StatusCode::kDeadlineExceeded);
  EXPECT_EQ(wake_at, absl::InfiniteFuture());  // nothing left to wait for
}

TEST_F(BatcherTest, ShutdownRefusesNewWorkAndDrainsQueued) {
  QueueOptions options;
  options.max_queue_delay = absl::Seconds(10);
  batcher_.SetQueue("m", options);
  Add(1);
  batcher_.Shutdown();
  Add(1, 0, 2, absl::InfiniteFuture(), nullptr, absl::StatusCode::kUnavailable);
  auto batch = batcher_.WaitNextBatch();  // the delay no longer applies
  ASSERT_TRUE(batch.has_value());
  EXPECT_EQ(batch->rows(), 1u);
  EXPECT_FALSE(batcher_.WaitNextBatch().has_value());
}

// The drain waits until refused calls stop: quiet once none came for the
// quiet period, not while they keep coming.
TEST_F(BatcherTest, AwaitNoRefusalsWaitsForRefusedCallsToStop) {
  batcher_.Shutdown();
  EXPECT_TRUE(
      batcher_.AwaitNoRefusals(absl::Milliseconds(1), absl::Seconds(5)));

  std::atomic<bool> stop{false};
  std::thread refused([&] {
    while (!stop.load()) {
      Add(1, 0, 2, absl::InfiniteFuture(), nullptr,
          absl::StatusCode::kUnavailable);
      absl::SleepFor(absl::Milliseconds(2));  // a client's call rate
    }
  });
  EXPECT_FALSE(batcher_.AwaitNoRefusals(absl::Milliseconds(100),
                                        absl::Milliseconds(300)));
  stop = true;
  refused.join();
  EXPECT_TRUE(
      batcher_.AwaitNoRefusals(absl::Milliseconds(20), absl::Seconds(5)));
}

TEST_F(BatcherTest, AwaitQueuedRowsHoldsOnceTheRowsAreQueued) {
  EXPECT_FALSE(batcher_.AwaitQueuedRows("m", 1, absl::Milliseconds(1)));
  EXPECT_FALSE(batcher_.AwaitQueuedRows("unknown", 1, absl::Milliseconds(1)));
  Add(2);
  EXPECT_FALSE(batcher_.AwaitQueuedRows("m", 5, absl::Milliseconds(1)));
  Add(3);
  EXPECT_TRUE(batcher_.AwaitQueuedRows("m", 5, absl::Milliseconds(1)));
  ASSERT_TRUE(Next().has_value());  // drained: below the bound again
  EXPECT_FALSE(batcher_.AwaitQueuedRows("m", 1, absl::Milliseconds(1)));
}

// A waiter on another thread wakes when Schedule() reaches its rows (under
// TSan too: tests/testing/tsan_sync_shim.cc makes absl::Mutex visible).
TEST_F(BatcherTest, AwaitQueuedRowsWakesOnAnotherThreadsSchedule) {
  bool reached = false;
  std::thread waiter(
      [&] { reached = batcher_.AwaitQueuedRows("m", 5, absl::Seconds(60)); });
  Add(2);
  Add(3);
  waiter.join();
  EXPECT_TRUE(reached);
}

}  // namespace
}  // namespace qlinear::server::batching
