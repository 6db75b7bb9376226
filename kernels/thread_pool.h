// ThreadPool: the one compute pool that kernels split their work over.
//
// Thread-safe. ParallelFor calls from several threads are serialized: a call
// owns every worker until it returns, so compute never oversubscribes the
// cores. The calling thread works too, so a pool of `num_threads` uses
// `num_threads - 1` background threads.
#ifndef QLINEAR_KERNELS_THREAD_POOL_H_
#define QLINEAR_KERNELS_THREAD_POOL_H_

#include <atomic>
#include <condition_variable>
#include <cstddef>
#include <functional>
#include <mutex>
#include <thread>
#include <vector>

namespace qlinear {

class ThreadPool {
 public:
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

  std::mutex mu_;
  std::condition_variable work_cv_;
  std::condition_variable done_cv_;
  // Protected by mu_.
  uint64_t generation_ = 0;
  bool stop_ = false;
  size_t workers_done_ = 0;  // workers finished with this generation
  const std::function<void(size_t)>* task_ = nullptr;
  size_t num_tasks_ = 0;
  // Next task index; claimed with fetch_add (relaxed: the task data is
  // published under mu_ before workers wake).
  std::atomic<size_t> next_{0};
};

// The process's compute pool, created on first use with the size given to
// ConfigureComputePool() (default: the number of online CPUs).
ThreadPool& ComputePool();

// Sets the size of ComputePool(). Returns false (and changes nothing) once
// the pool exists. REQUIRES: num_threads >= 1.
bool ConfigureComputePool(int num_threads);

}  // namespace qlinear

#endif  // QLINEAR_KERNELS_THREAD_POOL_H_
