#include "server/inference_task.h"

#include <chrono>
#include <utility>

#include "common/check.h"
#include "server/request_recorder.h"

namespace qlinear::server {
namespace {

// Quality telemetry of one task (MakeInferenceTask's contract): wraps its
// `done` when the request asks for a check or the model's policy samples
// it. Otherwise, and at a sample rate of 0, it changes nothing.
void AttachQuality(const ModelEntry& entry, bool check, InferenceTask* task) {
  const bool sample = !check &&
                      task->act_quant == ActQuant::kInt8AsymPerToken &&
                      entry.quality != nullptr && entry.quality->Draw();
  if (!check && !sample) return;
  QualityInput input;
  input.begin = task->layer_begin;
  input.end = task->layer_end;
  input.apply_activation = !task->matmul;
  input.chain = task->act_quant;
  input.rows = task->rows;
  input.input = task->input;  // the batch consumes the task's copy
  task->done = [done = std::move(task->done), check, policy = entry.quality,
                stack = entry.stack, metrics = entry.metrics,
                input = std::move(input)](absl::Status status,
                                          TaskResult result) mutable {
    if (check) {
      if (status.ok()) {
        absl::StatusOr<std::vector<LayerQuality>> quality = CompareActQuant(
            *stack, input, policy != nullptr ? policy->pool() : nullptr);
        // The request was validated against this stack.
        QL_CHECK(quality.ok());
        result.quality = *std::move(quality);
      }
      done(std::move(status), std::move(result));
      return;
    }
    const bool ok = status.ok();
    done(std::move(status), std::move(result));
    if (!ok) return;
    auto job = std::make_unique<QualitySampler::Job>();
    job->stack = std::move(stack);
    job->metrics = std::move(metrics);
    job->input = std::move(input);
    policy->sampler()->Offer(std::move(job));
  };
}

}  // namespace

batching::BatchKey InferenceKey(const model::LinearStack* stack,
                                size_t layer_begin, size_t layer_end,
                                bool matmul) {
  // A stack has far fewer than 2^31 layers: the range and the kind pack into
  // one word without collisions.
  const uint64_t variant = (uint64_t{layer_begin} << 32) |
                           (uint64_t{layer_end} << 1) | (matmul ? 1 : 0);
  return batching::BatchKey{stack, variant};
}

CallControl CallOf(const grpc::CallbackServerContext& context) {
  CallControl control;
  const auto deadline = context.deadline();
  if (deadline != std::chrono::system_clock::time_point::max()) {
    control.deadline = absl::FromChrono(deadline);
  }
  const grpc::CallbackServerContext* c = &context;
  control.is_cancelled = [c] { return c->IsCancelled(); };
  return control;
}

std::unique_ptr<InferenceTask> MakeInferenceTask(
    const ModelEntry& entry, InferenceCall call,
    const RequestRecorder& recorder, TaskDone done) {
  auto task = std::make_unique<InferenceTask>();
  task->key = InferenceKey(entry.stack.get(), call.layer_begin, call.layer_end,
                           call.matmul);
  task->rows = call.input.rows;
  task->bytes = call.input.values.size() * sizeof(float);
  task->priority = call.priority;
  task->deadline = call.deadline;
  task->stack = entry.stack;
  task->layer_begin = call.layer_begin;
  task->layer_end = call.layer_end;
  task->matmul = call.matmul;
  task->input = std::move(call.input.values);
  task->act_quant = call.act_quant;
  task->is_cancelled = std::move(call.is_cancelled);
  task->done = std::move(done);
  task->stats = recorder.stats;
  task->metrics = recorder.metrics;
  AttachQuality(entry, call.quality_check, task.get());
  return task;
}

}  // namespace qlinear::server
