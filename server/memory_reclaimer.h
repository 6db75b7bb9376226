// MemoryReclaimer: returns the allocator's free memory to the OS once a
// backlog of requests has drained.
//
// Thousands of queued requests allocate their buffers from the allocator's
// arenas; when they are answered the memory is free but stays resident
// (glibc returns only the top of a heap), so the RSS would keep the peak of
// every backlog. The reclaimer samples the number of requests in flight and,
// when it falls back below a small fraction of a peak that reached
// `backlog_requests`, asks the allocator to release every free page
// (malloc_trim). Between backlogs, steady traffic reuses the free pages in
// a different pattern and slowly touches more of them, so a quiet server
// (under backlog_requests / 8 in flight) also trims every quiet_trim_polls
// samples. Off the executor thread: compute never waits for it.
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

// Sets glibc's allocator up for serving, each setting unless the operator
// gave its environment variable (glibc reads those itself):
// - at most kServingMallocArenas arenas (MALLOC_ARENA_MAX; glibc's default is
//   8 per core): gRPC threads added during a backlog would otherwise get
//   arenas of their own whose pages outlive the backlog;
// - a fixed mmap threshold of kServingMmapThreshold (MALLOC_MMAP_THRESHOLD_)
//   and trim threshold of kServingTrimThreshold (MALLOC_TRIM_THRESHOLD_).
//   With glibc's dynamic thresholds, once a 4 MiB batch buffer is freed the
//   thresholds rise to 4 and 8 MiB, and every arena keeps up to 8 MiB of
//   free pages at its top for good.
// Call once at start-up, before other threads exist.
inline constexpr int kServingMallocArenas = 2;
inline constexpr int kServingMmapThreshold = 1 << 20;
inline constexpr int kServingTrimThreshold = 2 << 20;
void ConfigureMallocForServing();

class MemoryReclaimer {
 public:
  struct Options {
    // A peak of at least this many requests in flight is a backlog; it has
    // drained when fewer than backlog_requests / 8 remain.
    int64_t backlog_requests = 64;
    // A quiet server trims after this many samples without a trim (10 s at
    // the default period); 0: only after backlogs.
    int64_t quiet_trim_polls = 100;
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

  // One sample: records the peak, and trims when a backlog has drained or
  // a quiet server has gone quiet_trim_polls samples without a trim.
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
  int64_t polls_since_trim_ ABSL_GUARDED_BY(mu_) = 0;
  bool stop_ ABSL_GUARDED_BY(mu_) = false;
  int64_t trims_ ABSL_GUARDED_BY(mu_) = 0;
  std::thread thread_;  // last: starts once the fields above exist
};

}  // namespace qlinear::server

#endif  // QLINEAR_SERVER_MEMORY_RECLAIMER_H_
