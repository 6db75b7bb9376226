// Batcher: one bounded queue per model and the policy that turns queued
// tasks into batches (the scheduling half of TF Serving's shared batch
// scheduler, without its option creep).
//
// Behaviour. Schedule() never blocks: it enqueues or answers
// RESOURCE_EXHAUSTED when the model's queue is full (rows or bytes), with a
// retry hint. The executor asks for batches. A batch is the most urgent task
// of all queues — highest priority, then earliest deadline, then oldest —
// plus the following tasks of the same queue with the same BatchKey, up to
// max_batch_rows. Each queue is kept in that order as tasks arrive, so a
// batch is formed by one scan of its queue, without sorting. Expired tasks
// are completed with DEADLINE_EXCEEDED and cancelled ones with CANCELLED
// before they cost any compute: deadlines are checked under the lock,
// cancellation (a call into the client's transport) outside it, when the
// task's batch is formed.
//
// Waiting. WaitNextBatch() sleeps until a task arrives, a queue's delay ends
// or a queued task's deadline passes, whichever is first; it does not poll.
//
// Latency bound and tuning. With max_queue_delay 0 (the default) a batch is
// whatever is queued when the executor is free: no latency is added at low
// load, and batches grow by themselves under load. A positive delay lets a
// queue wait, from its oldest task's arrival, for up to that long to fill
// max_batch_rows; it trades that much latency for throughput. With
// adaptive_delay on, max_queue_delay is only the bound: an idle executor's
// queue waits for more rows only while the batch's cost curve and the
// queue's arrival rate predict that the wait pays (adaptive_delay.h).
//
// Thread-safe.
#ifndef QLINEAR_SERVER_BATCHING_BATCHER_H_
#define QLINEAR_SERVER_BATCHING_BATCHER_H_

#include <atomic>
#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "server/batching/adaptive_delay.h"
#include "server/batching/clock.h"
#include "server/batching/task.h"

namespace qlinear::server::batching {

// Per-model queue settings (the manifest's "batching" section).
struct QueueOptions {
  // Most rows in one batch. A single task with more rows runs alone.
  int64_t max_batch_rows = 256;
  // How long a queue may wait to fill a batch (see the class comment).
  absl::Duration max_queue_delay = absl::ZeroDuration();
  // Wait (up to max_queue_delay) only while it pays, by AdaptiveWait() over
  // cost_curve and the queue's arrival rate. Without a curve it never waits.
  bool adaptive_delay = false;
  // A batch's compute time by its rows (any order; SetQueue normalizes it).
  std::vector<CostPoint> cost_curve;
  // Bound on queued rows and bytes; Schedule() beyond them is refused.
  int64_t max_queue_rows = 4096;
  int64_t max_queue_bytes = int64_t{256} << 20;
};

struct Batch {
  std::string model;
  std::vector<std::unique_ptr<Task>> tasks;  // all with the same key

  size_t rows() const;
};

class Batcher {
 public:
  // `clock` is not owned and must outlive the batcher.
  explicit Batcher(const Clock* clock);
  ~Batcher();
  Batcher(const Batcher&) = delete;
  Batcher& operator=(const Batcher&) = delete;

  // Creates or reconfigures the queue of `model`.
  void SetQueue(const std::string& model, QueueOptions options)
      ABSL_LOCKS_EXCLUDED(mu_);

  // Enqueues *task. On OK the batcher owns it (*task is reset); on error the
  // caller keeps it. Errors: NOT_FOUND (no queue for `model`),
  // RESOURCE_EXHAUSTED (queue full; the message carries a retry hint),
  // UNAVAILABLE (shut down).
  absl::Status Schedule(const std::string& model, std::unique_ptr<Task>* task)
      ABSL_LOCKS_EXCLUDED(mu_);

  // The next batch if one is ready now, else nullopt; *wake_at is then when
  // a queue's delay expires (InfiniteFuture when there is nothing to wait
  // for). Completes dropped tasks before returning.
  std::optional<Batch> TryNextBatch(absl::Time* wake_at)
      ABSL_LOCKS_EXCLUDED(mu_);

  // Blocks until a batch is ready. Returns nullopt once shut down and empty.
  // Uses real time to wait, so only for a RealClock batcher.
  std::optional<Batch> WaitNextBatch() ABSL_LOCKS_EXCLUDED(mu_);

  // Refuses new tasks from now on; queued tasks still drain through
  // TryNextBatch/WaitNextBatch, which stop waiting for delays.
  void Shutdown() ABSL_LOCKS_EXCLUDED(mu_);

  // After Shutdown(): blocks until no Schedule() has been refused for
  // `quiet` (real time), or until `timeout` passes; returns whether it got
  // quiet. For the drain: clients that watch the server's health stop
  // sending once they see NOT_SERVING, and a quiet batcher says they have.
  bool AwaitNoRefusals(absl::Duration quiet, absl::Duration timeout) const
      ABSL_LOCKS_EXCLUDED(mu_);

  // The settings of `model`'s queue (as SetQueue normalized them), or
  // nullopt when it has none.
  std::optional<QueueOptions> queue_options(const std::string& model) const
      ABSL_LOCKS_EXCLUDED(mu_);

  // Rows and tasks queued for `model` (0 for an unknown model).
  int64_t queued_rows(const std::string& model) const ABSL_LOCKS_EXCLUDED(mu_);
  int64_t queued_tasks(const std::string& model) const ABSL_LOCKS_EXCLUDED(mu_);
  // Blocks until `model` has at least `rows` rows queued or `timeout` (real
  // time) passes; returns whether the rows were reached. For tests and
  // drains that must observe a backlog without polling.
  bool AwaitQueuedRows(const std::string& model, int64_t rows,
                       absl::Duration timeout) const ABSL_LOCKS_EXCLUDED(mu_);
  // Rows queued per model, for every queue, and tasks queued in all.
  std::vector<std::pair<std::string, int64_t>> QueuedRowsByModel() const
      ABSL_LOCKS_EXCLUDED(mu_);
  int64_t total_queued_tasks() const ABSL_LOCKS_EXCLUDED(mu_);

 private:
  struct Queue {
    QueueOptions options;
    std::vector<std::unique_ptr<Task>> tasks;  // most urgent first
    int64_t rows = 0;
    int64_t bytes = 0;
    ArrivalRate arrivals;  // of rows, for adaptive_delay
  };

  using Dropped = std::vector<std::pair<std::unique_ptr<Task>, absl::Status>>;

  // Moves the tasks whose deadline is past into *dropped; returns the
  // earliest deadline of the tasks left (InfiniteFuture when none has one).
  absl::Time DropExpiredLocked(absl::Time now, Dropped* dropped)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // The most urgent ready batch, if any; *wake_at is then when the first
  // queue that is not ready becomes ready.
  std::optional<Batch> FormBatchLocked(absl::Time now, absl::Time* wake_at)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Moves the cancelled tasks of *batch into *dropped. Without mu_.
  static void DropCancelled(Batch* batch, Dropped* dropped);
  // Completes each dropped task with its status. Without mu_.
  static void FailAll(Dropped* dropped);

  const Clock* const clock_;  // Constant after construction.

  mutable absl::Mutex mu_;
  absl::CondVar work_cv_;
  // Tasks scheduled so far: an idle WaitNextBatch polls it (without mu_)
  // for a while before it blocks on work_cv_.
  std::atomic<uint64_t> scheduled_{0};
  // Protected by mu_.
  std::map<std::string, Queue> queues_ ABSL_GUARDED_BY(mu_);
  uint64_t next_sequence_ ABSL_GUARDED_BY(mu_) = 0;
  bool shutdown_ ABSL_GUARDED_BY(mu_) = false;
  // Real time of the last Schedule() refused after Shutdown().
  absl::Time last_refused_ ABSL_GUARDED_BY(mu_) = absl::InfinitePast();
};

// Orders tasks: higher priority, then earlier deadline, then older.
bool MoreUrgent(const Task& a, const Task& b);

}  // namespace qlinear::server::batching

#endif  // QLINEAR_SERVER_BATCHING_BATCHER_H_
