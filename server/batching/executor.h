// Executor: the thread that takes batches from the Batcher and hands each to
// the run function, one batch at a time, so the compute pool (which the run
// function uses) is never oversubscribed.
#ifndef QLINEAR_SERVER_BATCHING_EXECUTOR_H_
#define QLINEAR_SERVER_BATCHING_EXECUTOR_H_

#include <atomic>
#include <thread>

#include "absl/functional/any_invocable.h"
#include "server/batching/batcher.h"

namespace qlinear::server::batching {

class Executor {
 public:
  // Runs one batch; completes (or hands off the completion of) each of its
  // tasks. Called on the executor's thread only.
  using RunBatchFn = absl::AnyInvocable<void(Batch)>;

  // Starts the thread. `batcher` is not owned and must outlive the
  // executor. REQUIRES: `batcher` uses a RealClock.
  Executor(Batcher* batcher, RunBatchFn run);
  // Shuts the batcher down, runs what is still queued, and joins.
  ~Executor();
  Executor(const Executor&) = delete;
  Executor& operator=(const Executor&) = delete;

  // Tasks of the batch running now (0 between batches).
  int64_t running_tasks() const {
    return running_tasks_.load(std::memory_order_relaxed);
  }

 private:
  void Loop();

  Batcher* const batcher_;
  RunBatchFn run_;
  std::atomic<int64_t> running_tasks_{0};  // relaxed: a gauge
  std::thread thread_;
};

}  // namespace qlinear::server::batching

#endif  // QLINEAR_SERVER_BATCHING_EXECUTOR_H_
