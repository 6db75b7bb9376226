// Task: the unit the batcher queues. The batching library knows a task's
// rows, key, priority and deadline, not what it computes: the server derives
// its inference task from this one (server/inference_task.h).
#ifndef QLINEAR_SERVER_BATCHING_TASK_H_
#define QLINEAR_SERVER_BATCHING_TASK_H_

#include <cstddef>
#include <cstdint>

#include "absl/status/status.h"
#include "absl/time/time.h"

namespace qlinear::server::batching {

// Tasks batch together only when their keys are equal. The batcher gives the
// fields no meaning: the owner of the tasks names what may share a batch
// (the server: one model version and one layer range of one kind of call).
struct BatchKey {
  const void* owner = nullptr;
  uint64_t variant = 0;

  bool operator==(const BatchKey& o) const {
    return owner == o.owner && variant == o.variant;
  }
};

class Task {
 public:
  virtual ~Task() = default;

  // Whether the client has gone away. Called by the batcher outside its lock
  // (from the thread forming a batch); must be cheap and thread-safe.
  virtual bool IsCancelled() const { return false; }

  // Completes the task without running it: DEADLINE_EXCEEDED (expired while
  // queued), CANCELLED, or UNAVAILABLE (shut down). The batcher calls it at
  // most once, outside its lock, and never for a task it has put in a Batch
  // (the batch's runner completes those).
  virtual void Fail(absl::Status status) = 0;

  BatchKey key;
  size_t rows = 0;   // rows this task adds to a batch
  size_t bytes = 0;  // memory it holds while queued (the queue's byte bound)
  int32_t priority = 0;                          // higher runs first
  absl::Time deadline = absl::InfiniteFuture();  // dropped after it

  // Set by the batcher when the task is queued.
  absl::Time enqueued;
  uint64_t sequence = 0;
};

}  // namespace qlinear::server::batching

#endif  // QLINEAR_SERVER_BATCHING_TASK_H_
