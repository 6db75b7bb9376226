// Executor: the thread that takes batches from the Batcher and runs them on
// the compute pool, one batch at a time, so the pool is never oversubscribed.
#ifndef QLINEAR_SERVER_BATCHING_EXECUTOR_H_
#define QLINEAR_SERVER_BATCHING_EXECUTOR_H_

#include <atomic>
#include <thread>

#include "kernels/thread_pool.h"
#include "server/batching/batcher.h"

namespace qlinear::server::batching {

class Executor {
 public:
  // Starts the thread. `batcher` and `pool` are not owned and must outlive
  // the executor. REQUIRES: `batcher` uses a RealClock.
  Executor(Batcher* batcher, ThreadPool* pool);
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
  ThreadPool* const pool_;
  std::atomic<int64_t> running_tasks_{0};  // relaxed: a gauge
  std::thread thread_;
};

}  // namespace qlinear::server::batching

#endif  // QLINEAR_SERVER_BATCHING_EXECUTOR_H_
