#include "kernels/thread_pool.h"

#include <gtest/gtest.h>
#include <pthread.h>

#include <atomic>
#include <chrono>
#include <mutex>
#include <set>
#include <string>
#include <thread>
#include <vector>

namespace qlinear {
namespace {

// Every task runs exactly once per call: a lost or repeated wake-up shows up
// as a count other than 1.
void ExpectEachTaskOnce(ThreadPool& pool, size_t num_tasks) {
  std::vector<std::atomic<int>> hits(num_tasks);
  pool.ParallelFor(num_tasks, [&](size_t i) { hits[i].fetch_add(1); });
  for (size_t i = 0; i < num_tasks; ++i) ASSERT_EQ(hits[i].load(), 1) << i;
}

TEST(ThreadPoolTest, RunsEveryTaskOnceAcrossManyCalls) {
  ThreadPool pool(3);
  EXPECT_EQ(pool.num_threads(), 3);
  for (size_t round = 0; round < 2000; ++round)
    ExpectEachTaskOnce(pool, round % 17 + 1);
}

// Calls spaced beyond the spin window find the workers asleep on the
// condition variable; calls spaced inside it find them spinning. The sleeps
// are the subject of the test (the pool's state depends on real elapsed
// time since its last call), not a wait for an event: nothing to wait on
// could put the workers to sleep.
TEST(ThreadPoolTest, WakesSleepingAndSpinningWorkers) {
  ThreadPool pool(3);
  const auto past_spin =
      std::chrono::microseconds(3 * ThreadPool::kSpinMicros + 1000);
  for (int round = 0; round < 20; ++round) {
    std::this_thread::sleep_for(round % 2 == 0 ? past_spin
                                               : std::chrono::microseconds(10));
    ExpectEachTaskOnce(pool, 7);
  }
}

TEST(ThreadPoolTest, EveryThreadTakesPartWhenTasksBlock) {
  // Each task waits until three tasks are running at once: that completes
  // only if the caller and both workers run tasks concurrently.
  ThreadPool pool(3);
  std::atomic<int> running{0};
  pool.ParallelFor(3, [&](size_t) {
    running.fetch_add(1);
    while (running.load() < 3) std::this_thread::yield();
  });
  EXPECT_EQ(running.load(), 3);
}

TEST(ThreadPoolTest, WorkersAreNamedQlCompute) {
  // As above, every thread runs one task; each records its thread's name.
  ThreadPool pool(3);
  std::atomic<int> running{0};
  std::mutex mu;
  std::multiset<std::string> names;
  pool.ParallelFor(3, [&](size_t) {
    char name[16] = {};
    pthread_getname_np(pthread_self(), name, sizeof(name));
    {
      std::lock_guard<std::mutex> lock(mu);
      names.insert(name);
    }
    running.fetch_add(1);
    while (running.load() < 3) std::this_thread::yield();
  });
  EXPECT_EQ(names.count("ql-compute"), 2u);
  EXPECT_EQ(names.size(), 3u);
}

TEST(ThreadPoolTest, ConcurrentCallersAreSerialized) {
  ThreadPool pool(2);
  std::atomic<int> active_calls{0};
  std::atomic<bool> overlapped{false};
  std::vector<std::thread> callers;
  for (int c = 0; c < 4; ++c) {
    callers.emplace_back([&] {
      for (int round = 0; round < 300; ++round) {
        std::atomic<int> done{0};
        pool.ParallelFor(5, [&](size_t i) {
          if (i == 0 && active_calls.fetch_add(1) != 0) overlapped = true;
          done.fetch_add(1);
          if (i == 0) active_calls.fetch_sub(1);
        });
        ASSERT_EQ(done.load(), 5);
      }
    });
  }
  for (std::thread& t : callers) t.join();
  EXPECT_FALSE(overlapped.load());
}

TEST(ThreadPoolTest, SingleThreadPoolRunsInline) {
  ThreadPool pool(1);
  const std::thread::id caller = std::this_thread::get_id();
  bool all_inline = true;
  pool.ParallelFor(9, [&](size_t) {
    all_inline = all_inline && std::this_thread::get_id() == caller;
  });
  EXPECT_TRUE(all_inline);
}

TEST(ThreadPoolTest, DestroysIdleAndJustUsedPools) {
  for (int round = 0; round < 50; ++round) {
    ThreadPool pool(3);
    if (round % 2 == 0) ExpectEachTaskOnce(pool, 4);
  }
}

}  // namespace
}  // namespace qlinear
