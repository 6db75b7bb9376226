#include "kernels/thread_pool.h"

#include <algorithm>
#include <chrono>

#include "common/check.h"
#include "common/spin_wait.h"
#include "common/thread_name.h"

namespace qlinear {

ThreadPool::ThreadPool(int num_threads) {
  QL_CHECK(num_threads >= 1);
  workers_.reserve(num_threads - 1);
  for (int i = 1; i < num_threads; ++i)
    workers_.emplace_back([this] { WorkerLoop(); });
}

ThreadPool::~ThreadPool() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    stop_.store(true, std::memory_order_release);
  }
  work_cv_.notify_all();
  for (std::thread& t : workers_) t.join();
}

void ThreadPool::RunTasks(const std::function<void(size_t)>& task,
                          size_t num_tasks) {
  for (size_t i = next_.fetch_add(1, std::memory_order_relaxed); i < num_tasks;
       i = next_.fetch_add(1, std::memory_order_relaxed)) {
    task(i);
  }
}

void ThreadPool::WorkerLoop() {
  SetCurrentThreadName("ql-compute");
  uint64_t seen = 0;
  const auto has_work = [&] {
    return stop_.load(std::memory_order_acquire) ||
           generation_.load(std::memory_order_acquire) != seen;
  };
  for (;;) {
    if (!SpinUntil(has_work, std::chrono::microseconds(kSpinMicros))) {
      std::unique_lock<std::mutex> lock(mu_);
      work_cv_.wait(lock, has_work);
    }
    if (stop_.load(std::memory_order_acquire)) return;
    seen = generation_.load(std::memory_order_acquire);
    RunTasks(*task_, num_tasks_);
    if (workers_done_.fetch_add(1, std::memory_order_acq_rel) + 1 ==
        workers_.size()) {
      // Under mu_, so a caller between its check and its wait cannot miss it.
      std::lock_guard<std::mutex> lock(mu_);
      done_cv_.notify_one();
    }
  }
}

void ThreadPool::ParallelFor(size_t num_tasks,
                             const std::function<void(size_t)>& task) {
  if (num_tasks == 0) return;
  if (workers_.empty() || num_tasks == 1) {
    for (size_t i = 0; i < num_tasks; ++i) task(i);
    return;
  }
  std::lock_guard<std::mutex> call_lock(call_mu_);
  task_ = &task;
  num_tasks_ = num_tasks;
  workers_done_.store(0, std::memory_order_relaxed);
  next_.store(0, std::memory_order_relaxed);
  {
    std::lock_guard<std::mutex> lock(mu_);
    generation_.fetch_add(1, std::memory_order_release);
  }
  work_cv_.notify_all();
  RunTasks(task, num_tasks);
  // Every worker checks in for this generation, so none can run a stale task
  // after this call returns.
  const auto all_done = [&] {
    return workers_done_.load(std::memory_order_acquire) == workers_.size();
  };
  if (!SpinUntil(all_done, std::chrono::microseconds(kSpinMicros))) {
    std::unique_lock<std::mutex> lock(mu_);
    done_cv_.wait(lock, all_done);
  }
  task_ = nullptr;
}

namespace {
std::mutex g_pool_mu;
int g_pool_threads = 0;  // 0: not configured
ThreadPool* g_pool = nullptr;
}  // namespace

ThreadPool& ComputePool() {
  std::lock_guard<std::mutex> lock(g_pool_mu);
  if (g_pool == nullptr) {
    int threads = g_pool_threads;
    if (threads <= 0)
      threads = std::max(1u, std::thread::hardware_concurrency());
    g_pool = new ThreadPool(threads);  // lives until exit
  }
  return *g_pool;
}

bool ConfigureComputePool(int num_threads) {
  QL_CHECK(num_threads >= 1);
  std::lock_guard<std::mutex> lock(g_pool_mu);
  if (g_pool != nullptr) return false;
  g_pool_threads = num_threads;
  return true;
}

}  // namespace qlinear
