// ThreadPool: the one compute pool that kernels split their work over.
//
// Thread-safe. ParallelFor calls from several threads are serialized: a call
// owns every worker until it returns, so compute never oversubscribes the
// cores. The calling thread works too, so a pool of `num_threads` uses
// `num_threads - 1` background threads.
//
// Waking a sleeping thread costs tens of microseconds on a VM, more than a
// small-M layer computes. So workers spin (pausing, then yielding the core
// to any runnable thread) for up to kSpinMicros after their last task before
// they sleep on a condition variable, and the caller spins the same way
// while it waits for the workers to finish. Back-to-back calls (the layers
// of one batch, a busy server's batches) never pay for a wake-up; an idle
// pool sleeps.
#ifndef QLINEAR_KERNELS_THREAD_POOL_H_
#define QLINEAR_KERNELS_THREAD_POOL_H_

#include <atomic>
#include <condition_variable>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <mutex>
#include <thread>
#include <vector>

namespace qlinear {

class ThreadPool {
 public:
  // How long a thread spins for new work (workers) or for the workers to
  // finish (the caller) before it blocks.
  static constexpr int64_t kSpinMicros = 200;

  // REQUIRES: num_threads >= 1.
  explicit ThreadPool(int num_threads);
  ~ThreadPool();
  ThreadPool(const ThreadPool&) = delete;
  ThreadPool& operator=(const ThreadPool&) = delete;

  int num_threads() const { return static_cast<int>(workers_.size()) + 1; }

  // Runs task(i) for every i in [0, num_tasks) and returns when all are done.
  // Tasks must not call ParallelFor on the same pool.
  void ParallelFor(size_t num_tasks, const std::function<void(size_t)>& task);

 private:
  void WorkerLoop();
  void RunTasks(const std::function<void(size_t)>& task, size_t num_tasks);

  std::vector<std::thread> workers_;
  std::mutex call_mu_;  // serializes ParallelFor calls

  // mu_ only orders sleeping against waking: generation_ and stop_ change
  // under it (so a worker cannot miss the change between checking and
  // sleeping), and the last worker to finish notifies done_cv_ under it.
  std::mutex mu_;
  std::condition_variable work_cv_;
  std::condition_variable done_cv_;
  std::atomic<uint64_t> generation_{0};  // release: publishes task_ etc.
  std::atomic<bool> stop_{false};
  std::atomic<size_t> workers_done_{0};  // workers finished this generation
  // Written by the caller before generation_ is bumped; read by workers
  // after they see the new generation. Stable until every worker is done.
  const std::function<void(size_t)>* task_ = nullptr;
  size_t num_tasks_ = 0;
  std::atomic<size_t> next_{0};  // next task index, claimed with fetch_add
};

// The process's compute pool, created on first use with the size given to
// ConfigureComputePool() (default: the number of online CPUs).
ThreadPool& ComputePool();

// Sets the size of ComputePool(). Returns false (and changes nothing) once
// the pool exists. REQUIRES: num_threads >= 1.
bool ConfigureComputePool(int num_threads);

}  // namespace qlinear

#endif  // QLINEAR_KERNELS_THREAD_POOL_H_
