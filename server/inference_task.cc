#include "server/inference_task.h"

#include <chrono>
#include <utility>

#include "server/request_recorder.h"

namespace qlinear::server {

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
  return task;
}

}  // namespace qlinear::server
