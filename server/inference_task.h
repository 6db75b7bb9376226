// InferenceTask: one request's rows through a model's layer range, the task
// the server queues in its batcher, and the one way both APIs (native and
// KServe) build it.
#ifndef QLINEAR_SERVER_INFERENCE_TASK_H_
#define QLINEAR_SERVER_INFERENCE_TASK_H_

#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <vector>

#include "absl/functional/any_invocable.h"
#include "absl/status/status.h"
#include "absl/time/time.h"
#include "absl/types/span.h"
#include "grpcpp/grpcpp.h"
#include "kernels/types.h"
#include "model/linear_stack.h"
#include "server/batching/task.h"
#include "server/metrics.h"
#include "server/model_registry.h"
#include "server/quality_sampler.h"
#include "server/stats.h"
#include "server/validation.h"

namespace qlinear::server {

struct RequestRecorder;

// What a completed task gets back.
struct TaskResult {
  // The output rows of the whole batch, shared by its tasks (no per-task
  // copy); this task's rows are output().
  std::shared_ptr<const std::vector<float>> batch_output;
  size_t row_offset = 0;  // first row of this task in batch_output
  size_t rows = 0;
  size_t cols = 0;
  double queue_seconds = 0.0;  // from Schedule() to the start of its batch
  size_t batch_rows = 0;       // rows of the batch that served it
  size_t layers_executed = 0;
  std::vector<model::LayerTiming> layers;  // kernels of this task's mode
  // The synchronous quality check (InferenceCall::quality_check), one entry
  // per quantized layer; empty otherwise.
  std::vector<LayerQuality> quality;

  // This task's rows x cols output values, in the model dtype.
  absl::Span<const float> output() const {
    if (batch_output == nullptr) return {};
    return absl::MakeConstSpan(batch_output->data() + row_offset * cols,
                               rows * cols);
  }
};

// Called exactly once: with the result (OK) on the executor or the
// completer thread (RunBatch, server/batch_runner.h), with CANCELLED on the
// executor when the client left mid-batch, or on the thread that drops the
// task from the queue (DEADLINE_EXCEEDED, CANCELLED, UNAVAILABLE).
using TaskDone = absl::AnyInvocable<void(absl::Status, TaskResult)>;

// Tasks of one key run as one batch: the same model version, layer range and
// kind of call (a Matmul has no activation function).
batching::BatchKey InferenceKey(const model::LinearStack* stack,
                                size_t layer_begin, size_t layer_end,
                                bool matmul);

class InferenceTask final : public batching::Task {
 public:
  bool IsCancelled() const override { return is_cancelled && is_cancelled(); }
  void Fail(absl::Status status) override {
    done(std::move(status), TaskResult{});
  }

  // Keeps the model version alive while the task exists (unload waits for
  // in-flight work by holding this).
  std::shared_ptr<const model::LinearStack> stack;
  size_t layer_begin = 0;
  size_t layer_end = 0;      // exclusive
  bool matmul = false;       // one layer, no activation function
  std::vector<float> input;  // rows x in_features(layer_begin)
  ActQuant act_quant = ActQuant::kNone;
  std::function<bool()> is_cancelled;  // may be empty
  TaskDone done;
  // Counters of the model version (its ModelEntry's), shared by its tasks;
  // the batch runner records layers and batches in them. May be null.
  std::shared_ptr<ModelStats> stats;
  // The model version's metrics block; null when metrics are off.
  std::shared_ptr<ModelMetrics> metrics;
};

// How the call a request came on ends early: its deadline, and whether its
// client has gone (may be empty: never).
struct CallControl {
  absl::Time deadline = absl::InfiniteFuture();
  std::function<bool()> is_cancelled;
};

// The control of a gRPC call: the client's deadline (InfiniteFuture without
// one) and its cancellation. `context` must outlive the request's task.
CallControl CallOf(const grpc::CallbackServerContext& context);

// What a validated request asks to run.
struct InferenceCall {
  size_t layer_begin = 0;
  size_t layer_end = 0;  // exclusive
  bool matmul = false;
  DecodedInput input;
  ActQuant act_quant = ActQuant::kNone;
  int32_t priority = 0;
  absl::Time deadline = absl::InfiniteFuture();
  std::function<bool()> is_cancelled;  // the client has gone; may be empty
  // The request asks for the int8-vs-none comparison before its answer
  // (TaskResult::quality).
  bool quality_check = false;
};

// The task of `call` for `entry`. `done` completes the request; its
// statistics come from `recorder`. Quality telemetry (docs/operations.md,
// "Quality telemetry"): with call.quality_check, `done` gets the comparison
// in TaskResult::quality, computed on the executor thread before it is
// called; an int8-mode request that entry.quality draws is offered to the
// quality sampler after `done` returns (the response is then sent).
std::unique_ptr<InferenceTask> MakeInferenceTask(
    const ModelEntry& entry, InferenceCall call,
    const RequestRecorder& recorder, TaskDone done);

}  // namespace qlinear::server

#endif  // QLINEAR_SERVER_INFERENCE_TASK_H_
