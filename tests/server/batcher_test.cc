// The batcher as a library: queueing, batch formation, priorities,
// deadlines, cancellation and delays, driven by a fake clock (no gRPC).
#include "server/batching/batcher.h"

#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "model/default_model.h"
#include "server/batching/batch_runner.h"
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
  TaskResult result;
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
    auto task = std::make_unique<Task>();
    task->key = {nullptr, 0, layer_end, false};
    task->rows = rows;
    task->input.assign(rows * 4, 1.0f);
    task->priority = priority;
    task->deadline = deadline;
    task->is_cancelled = std::move(cancelled);
    task->done = [out](absl::Status s, TaskResult r) {
      out->done = true;
      out->status = s;
      out->result = std::move(r);
    };
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
  for (const auto& t : batch->tasks) EXPECT_EQ(t->key.layer_end, 2u);
  auto other = Next();
  ASSERT_TRUE(other.has_value());
  EXPECT_EQ(other->tasks.front()->key.layer_end, 1u);
}

TEST_F(BatcherTest, PriorityThenEarliestDeadlineThenArrival) {
  const absl::Time now = clock_.Now();
  Add(1, 0, 1, now + absl::Seconds(5));  // low priority
  Add(1, 1, 2, now + absl::Seconds(9));  // high priority, late deadline
  Add(1, 1, 3, now + absl::Seconds(3));  // high priority, early deadline
  std::vector<size_t> order;
  while (auto batch = Next())
    order.push_back(batch->tasks.front()->key.layer_end);
  EXPECT_EQ(order, (std::vector<size_t>{3, 2, 1}));
}

TEST_F(BatcherTest, FullQueueIsResourceExhaustedWithRetryHint) {
  Add(8);
  Add(8);
  auto task = std::make_unique<Task>();
  task->rows = 5;
  task->input.assign(20, 0.0f);
  task->done = [](absl::Status, TaskResult) {};
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
  auto task = std::make_unique<Task>();
  task->rows = 1;
  task->input.assign(4, 0.0f);
  task->done = [](absl::Status, TaskResult) {};
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
  auto task = std::make_unique<Task>();
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

// RunBatch on a real (small) model.
class RunBatchTest : public ::testing::Test {
 protected:
  void SetUp() override {
    model::SyntheticModelSpec spec;
    spec.widths = {64, 96, 32, 16};
    spec.group_size = 32;
    auto stack = model::BuildSyntheticModel(spec);
    ASSERT_THAT(stack, IsOk());
    stack_ = std::shared_ptr<const model::LinearStack>(std::move(*stack));
  }

  std::unique_ptr<Task> MakeTask(size_t rows, ActQuant mode, float seed,
                                 Outcome* out,
                                 std::function<bool()> cancelled = nullptr) {
    auto t = std::make_unique<Task>();
    t->key = {stack_.get(), 0, 3, false};
    t->stack = stack_;
    t->rows = rows;
    t->act_quant = mode;
    t->input.resize(rows * 64);
    for (size_t i = 0; i < t->input.size(); ++i)
      t->input[i] = std::sin(seed + 0.37f * i);
    t->is_cancelled = std::move(cancelled);
    t->done = [out](absl::Status s, TaskResult r) {
      out->done = true;
      out->status = s;
      out->result = std::move(r);
    };
    return t;
  }

  std::vector<float> Solo(const Task& t) {
    std::vector<float> y;
    EXPECT_THAT(stack_->Forward(t.input.data(), t.rows, 0, 3, t.act_quant, &y),
                IsOk());
    return y;
  }

  std::shared_ptr<const model::LinearStack> stack_;
  FakeClock clock_;
  ThreadPool pool_{2};
};

TEST_F(RunBatchTest, MixedModesMergeAndEqualSoloRuns) {
  Outcome a, b, c;
  Batch batch;
  batch.model = "m";
  batch.tasks.push_back(MakeTask(2, ActQuant::kInt8AsymPerToken, 1.0f, &a));
  batch.tasks.push_back(MakeTask(3, ActQuant::kNone, 2.0f, &b));
  batch.tasks.push_back(MakeTask(1, ActQuant::kInt8AsymPerToken, 3.0f, &c));
  const std::vector<float> want_a = Solo(*batch.tasks[0]);
  const std::vector<float> want_b = Solo(*batch.tasks[1]);
  const std::vector<float> want_c = Solo(*batch.tasks[2]);
  RunBatch(std::move(batch), clock_, &pool_);
  for (Outcome* o : {&a, &b, &c}) {
    ASSERT_TRUE(o->done);
    ASSERT_THAT(o->status, IsOk());
    EXPECT_EQ(o->result.batch_rows, 6u);
    EXPECT_EQ(o->result.layers_executed, 3u);
    EXPECT_EQ(o->result.cols, 16u);
    ASSERT_EQ(o->result.layers.size(), 3u);
  }
  EXPECT_EQ(a.result.output, want_a);  // bitwise: float == on every element
  EXPECT_EQ(b.result.output, want_b);
  EXPECT_EQ(c.result.output, want_c);
  EXPECT_EQ(a.result.layers[0].kernel,
            stack_->layer(0).kernel_name(ActQuant::kInt8AsymPerToken));
  EXPECT_EQ(b.result.layers[0].kernel,
            stack_->layer(0).kernel_name(ActQuant::kNone));
}

TEST_F(RunBatchTest, CancellationStopsBetweenLayers) {
  Outcome keep, stop;
  int checks = 0;
  Batch batch;
  batch.tasks.push_back(
      MakeTask(2, ActQuant::kNone, 1.0f, &stop, [&] { return ++checks > 1; }));
  batch.tasks.push_back(MakeTask(1, ActQuant::kNone, 2.0f, &keep));
  const std::vector<float> want = Solo(*batch.tasks[1]);
  RunBatch(std::move(batch), clock_, &pool_);
  ASSERT_TRUE(stop.done);
  EXPECT_THAT(stop.status, StatusIs(absl::StatusCode::kCancelled,
                                    HasSubstr("compute stopped")));
  EXPECT_EQ(stop.result.layers_executed,
            1u);  // checked before layer 2: no more compute
  ASSERT_THAT(keep.status, IsOk());
  EXPECT_EQ(keep.result.layers_executed, 3u);
  EXPECT_EQ(keep.result.output, want);
}

}  // namespace
}  // namespace qlinear::server::batching
