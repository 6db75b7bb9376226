// MemoryReclaimer: returns the allocator's free memory to the OS once a
// backlog of requests has drained.
//
// Thousands of queued requests allocate their buffers from the allocator's
// arenas; when they are answered the memory is free but stays resident
// (glibc returns only the top of a heap), so the RSS would keep the peak of
// every backlog. The reclaimer samples the number of requests in flight and,
// when it falls back below a small fraction of a peak that reached
// `backlog_requests`, asks the allocator to release every free page
// (malloc_trim). Off the executor thread: compute never waits for it.
//
// Thread-safe.
#ifndef QLINEAR_SERVER_MEMORY_RECLAIMER_H_
#define QLINEAR_SERVER_MEMORY_RECLAIMER_H_

#include <cstdint>
#include <functional>
#include <thread>

#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"

namespace qlinear::server {

class MemoryReclaimer {
 public:
  struct Options {
    // A peak of at least this many requests in flight is a backlog; it has
    // drained when fewer than backlog_requests / 8 remain.
    int64_t backlog_requests = 256;
    // Sampling period of the thread; zero: no thread (tests call Poll()).
    absl::Duration period = absl::Milliseconds(100);
  };

  // `inflight` returns the requests accepted and not yet answered; it must
  // be cheap and thread-safe, and outlive the reclaimer.
  MemoryReclaimer(std::function<int64_t()> inflight, Options options);
  // Stops and joins the thread.
  ~MemoryReclaimer();
  MemoryReclaimer(const MemoryReclaimer&) = delete;
  MemoryReclaimer& operator=(const MemoryReclaimer&) = delete;

  // One sample: records the peak, and trims when a backlog has drained.
  // Returns true when it trimmed.
  bool Poll();

  // Trims so far.
  int64_t trims() const ABSL_LOCKS_EXCLUDED(mu_);
  // Blocks until at least `count` trims have completed or `timeout` (real
  // time) passes; returns whether they did. For tests of the thread.
  bool AwaitTrims(int64_t count, absl::Duration timeout) const
      ABSL_LOCKS_EXCLUDED(mu_);

 private:
  void Run();

  const std::function<int64_t()> inflight_;
  const Options options_;
  mutable absl::Mutex mu_;
  int64_t peak_ ABSL_GUARDED_BY(mu_) = 0;
  bool stop_ ABSL_GUARDED_BY(mu_) = false;
  int64_t trims_ ABSL_GUARDED_BY(mu_) = 0;
  std::thread thread_;  // last: starts once the fields above exist
};

}  // namespace qlinear::server

#endif  // QLINEAR_SERVER_MEMORY_RECLAIMER_H_
