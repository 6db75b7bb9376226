// Task: one request's rows waiting to be batched, and how it completes.
#ifndef QLINEAR_SERVER_BATCHING_TASK_H_
#define QLINEAR_SERVER_BATCHING_TASK_H_

#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "absl/functional/any_invocable.h"
#include "absl/status/status.h"
#include "absl/time/time.h"
#include "kernels/types.h"
#include "model/linear_stack.h"
#include "server/metrics.h"
#include "server/stats.h"

namespace qlinear::server::batching {

// Tasks batch together only when their keys are equal: the same model
// version, the same layer range and the same kind of call.
struct BatchKey {
  const model::LinearStack* stack = nullptr;
  size_t layer_begin = 0;
  size_t layer_end = 0;  // exclusive
  bool matmul = false;   // one layer, no activation function

  bool operator==(const BatchKey& o) const {
    return stack == o.stack && layer_begin == o.layer_begin &&
           layer_end == o.layer_end && matmul == o.matmul;
  }
};

// What a completed task gets back.
struct TaskResult {
  std::vector<float> output;  // rows x cols, values in the model dtype
  size_t cols = 0;
  double queue_seconds = 0.0;  // from Schedule() to the start of its batch
  size_t batch_rows = 0;       // rows of the batch that served it
  size_t layers_executed = 0;
  std::vector<model::LayerTiming> layers;
};

// Called exactly once, on the executor thread (or on the caller of
// Batcher::Shutdown). OK carries the result; otherwise the status says why
// (DEADLINE_EXCEEDED, CANCELLED, UNAVAILABLE).
using TaskDone = absl::AnyInvocable<void(absl::Status, TaskResult)>;

struct Task {
  BatchKey key;
  // Keeps the model version alive while the task exists (unload waits for
  // in-flight work by holding this).
  std::shared_ptr<const model::LinearStack> stack;
  size_t rows = 0;
  std::vector<float> input;  // rows x in_features(key.layer_begin)
  ActQuant act_quant = ActQuant::kNone;
  int32_t priority = 0;                          // higher runs first
  absl::Time deadline = absl::InfiniteFuture();  // dropped after it
  std::function<bool()> is_cancelled;            // may be empty
  TaskDone done;
  // Counters of the model version (its ModelEntry's), shared by its tasks;
  // the batch runner records layers and batches in them. May be null (no
  // statistics). RunBatch moves both out of the first task of a batch.
  std::shared_ptr<ModelStats> stats;
  // The model version's metrics block; null when metrics are off.
  std::shared_ptr<ModelMetrics> metrics;

  // Set by the batcher.
  absl::Time enqueued;
  uint64_t sequence = 0;

  size_t bytes() const { return input.size() * sizeof(float); }
};

}  // namespace qlinear::server::batching

#endif  // QLINEAR_SERVER_BATCHING_TASK_H_
