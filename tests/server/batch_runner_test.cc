// RunBatch: a batch of inference tasks through the model's execution loop,
// bitwise equal to each task run alone, with cancellation between layers.
#include "server/batch_runner.h"

#include <cmath>
#include <functional>
#include <future>
#include <memory>
#include <optional>
#include <thread>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "model/default_model.h"
#include "server/inference_task.h"
#include "tests/testing/log_capture.h"
#include "tests/testing/status_matchers.h"

namespace qlinear::server {
namespace {

using ::qlinear::testing::IsOk;
using ::qlinear::testing::LogCapture;
using ::qlinear::testing::StatusIs;
using ::testing::ElementsAre;
using ::testing::HasSubstr;

// Records how each task completed.
struct Outcome {
  bool done = false;
  absl::Status status;
  TaskResult result;
  std::thread::id thread;  // the one that completed it
};

std::vector<float> Output(const Outcome& o) {
  const absl::Span<const float> out = o.result.output();
  return std::vector<float>(out.begin(), out.end());
}

const InferenceTask& Inference(const batching::Batch& batch, size_t i) {
  return static_cast<const InferenceTask&>(*batch.tasks[i]);
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

  std::unique_ptr<InferenceTask> MakeTask(
      size_t rows, ActQuant mode, float seed, Outcome* out,
      std::function<bool()> cancelled = nullptr) {
    auto t = std::make_unique<InferenceTask>();
    t->key = InferenceKey(stack_.get(), 0, 3, false);
    t->stack = stack_;
    t->layer_begin = 0;
    t->layer_end = 3;
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
      out->thread = std::this_thread::get_id();
    };
    return t;
  }

  std::vector<float> Solo(const InferenceTask& t) {
    std::vector<float> y;
    EXPECT_THAT(stack_->Forward(t.input.data(), t.rows, 0, 3, t.act_quant, &y),
                IsOk());
    return y;
  }

  std::shared_ptr<const model::LinearStack> stack_;
  batching::FakeClock clock_;
  ThreadPool pool_{2};
};

TEST_F(RunBatchTest, MixedModesMergeAndEqualSoloRuns) {
  Outcome a, b, c;
  batching::Batch batch;
  batch.model = "m";
  batch.tasks.push_back(MakeTask(2, ActQuant::kInt8AsymPerToken, 1.0f, &a));
  batch.tasks.push_back(MakeTask(3, ActQuant::kNone, 2.0f, &b));
  batch.tasks.push_back(MakeTask(1, ActQuant::kInt8AsymPerToken, 3.0f, &c));
  const std::vector<float> want_a = Solo(Inference(batch, 0));
  const std::vector<float> want_b = Solo(Inference(batch, 1));
  const std::vector<float> want_c = Solo(Inference(batch, 2));
  RunBatch(std::move(batch), clock_, &pool_);
  for (Outcome* o : {&a, &b, &c}) {
    ASSERT_TRUE(o->done);
    ASSERT_THAT(o->status, IsOk());
    EXPECT_EQ(o->result.batch_rows, 6u);
    EXPECT_EQ(o->result.layers_executed, 3u);
    EXPECT_EQ(o->result.cols, 16u);
    ASSERT_EQ(o->result.layers.size(), 3u);
  }
  EXPECT_EQ(Output(a), want_a);  // bitwise: float == on every element
  EXPECT_EQ(Output(b), want_b);
  EXPECT_EQ(Output(c), want_c);
  EXPECT_EQ(a.result.layers[0].kernel,
            stack_->layer(0).kernel_name(ActQuant::kInt8AsymPerToken));
  EXPECT_EQ(b.result.layers[0].kernel,
            stack_->layer(0).kernel_name(ActQuant::kNone));
}

TEST_F(RunBatchTest, CancellationStopsBetweenLayers) {
  Outcome keep, stop;
  int checks = 0;
  batching::Batch batch;
  batch.tasks.push_back(
      MakeTask(2, ActQuant::kNone, 1.0f, &stop, [&] { return ++checks > 1; }));
  batch.tasks.push_back(MakeTask(1, ActQuant::kNone, 2.0f, &keep));
  const std::vector<float> want = Solo(Inference(batch, 1));
  RunBatch(std::move(batch), clock_, &pool_);
  ASSERT_TRUE(stop.done);
  EXPECT_THAT(stop.status, StatusIs(absl::StatusCode::kCancelled,
                                    HasSubstr("compute stopped")));
  EXPECT_EQ(stop.result.layers_executed,
            1u);  // checked before layer 2: no more compute
  ASSERT_THAT(keep.status, IsOk());
  EXPECT_EQ(keep.result.layers_executed, 3u);
  EXPECT_EQ(Output(keep), want);
}

TEST_F(RunBatchTest, CompleterEncodesAfterTheExecutorMovedOn) {
  Outcome a, b, c;
  std::vector<float> want_a, want_b, want_c;
  std::thread::id completer_thread;
  {
    batching::Completer completer;
    // Holds the completer until both batches have run, so every completion
    // happens after RunBatch returned and the tasks left the caller.
    std::promise<void> release;
    completer.Post([&completer_thread, go = release.get_future()]() mutable {
      completer_thread = std::this_thread::get_id();
      go.wait();
    });
    batching::Batch first;
    first.tasks.push_back(MakeTask(2, ActQuant::kNone, 1.0f, &a));
    first.tasks.push_back(MakeTask(3, ActQuant::kInt8AsymPerToken, 2.0f, &b));
    want_a = Solo(Inference(first, 0));
    want_b = Solo(Inference(first, 1));
    RunBatch(std::move(first), clock_, &pool_, &completer);
    batching::Batch second;  // a one-task batch: runs on its input buffer
    second.tasks.push_back(MakeTask(1, ActQuant::kNone, 3.0f, &c));
    want_c = Solo(Inference(second, 0));
    RunBatch(std::move(second), clock_, &pool_, &completer);
    EXPECT_FALSE(a.done || b.done || c.done);
    EXPECT_EQ(completer.pending(), 3);
    release.set_value();
  }  // ~Completer runs the completions, then joins
  EXPECT_NE(completer_thread, std::this_thread::get_id());
  for (Outcome* o : {&a, &b, &c}) {
    ASSERT_TRUE(o->done);
    ASSERT_THAT(o->status, IsOk());
    EXPECT_EQ(o->thread, completer_thread);
  }
  EXPECT_EQ(a.result.batch_rows, 5u);
  EXPECT_EQ(c.result.batch_rows, 1u);
  // The tasks are gone with their completion; the results still hold the
  // batch's output buffer, and it holds each row bitwise.
  EXPECT_EQ(a.result.batch_output, b.result.batch_output);
  EXPECT_EQ(a.result.batch_output.use_count(), 2);
  EXPECT_EQ(Output(a), want_a);
  EXPECT_EQ(Output(b), want_b);
  EXPECT_EQ(Output(c), want_c);
}

TEST_F(RunBatchTest, TraceLevelLogsOneLinePerBatch) {
  Outcome a, b;
  batching::Batch batch;
  batch.model = "m";
  batch.tasks.push_back(MakeTask(2, ActQuant::kNone, 1.0f, &a));
  batch.tasks.push_back(MakeTask(3, ActQuant::kInt8AsymPerToken, 2.0f, &b));
  batch.tasks[0]->enqueued = clock_.Now();
  clock_.Advance(absl::Microseconds(1500));
  batch.tasks[1]->enqueued = clock_.Now();
  clock_.Advance(absl::Microseconds(250));
  {
    LogCapture capture;
    RunBatch(std::move(batch), clock_, &pool_);
    const std::vector<std::string> lines = capture.Lines();
    ASSERT_EQ(lines.size(), 1u);
    EXPECT_THAT(lines[0], HasSubstr("event=batch model=m rows=5 tasks=2 "
                                    "oldest_wait_us=1750 compute_us="));
    EXPECT_THAT(lines[0], HasSubstr(" layers_executed=3"));
  }
  ASSERT_TRUE(a.done && b.done);
  // Below trace level nothing is logged.
  Outcome c;
  batching::Batch quiet;
  quiet.tasks.push_back(MakeTask(1, ActQuant::kNone, 3.0f, &c));
  LogCapture capture;
  spdlog::default_logger()->set_level(spdlog::level::debug);
  RunBatch(std::move(quiet), clock_, &pool_);
  EXPECT_TRUE(c.done);
  EXPECT_THAT(capture.Lines(), ElementsAre());
}

}  // namespace
}  // namespace qlinear::server
