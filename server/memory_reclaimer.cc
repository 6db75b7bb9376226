#include "server/memory_reclaimer.h"

#include <malloc.h>

#include <algorithm>
#include <cstdlib>
#include <utility>

#include "common/thread_name.h"

namespace qlinear::server {

void ConfigureMallocForServing() {
  const struct {
    const char* env;
    int param;
    int value;
  } kSettings[] = {
      {"MALLOC_ARENA_MAX", M_ARENA_MAX, kServingMallocArenas},
      {"MALLOC_MMAP_THRESHOLD_", M_MMAP_THRESHOLD, kServingMmapThreshold},
      {"MALLOC_TRIM_THRESHOLD_", M_TRIM_THRESHOLD, kServingTrimThreshold},
  };
  for (const auto& s : kSettings) {
    const char* set = std::getenv(s.env);
    if (set == nullptr || *set == '\0') ::mallopt(s.param, s.value);
  }
}

MemoryReclaimer::MemoryReclaimer(std::function<int64_t()> inflight,
                                 Options options)
    : inflight_(std::move(inflight)), options_(options) {
  if (options_.period > absl::ZeroDuration()) {
    thread_ = std::thread([this] { Run(); });
  }
}

MemoryReclaimer::~MemoryReclaimer() {
  {
    absl::MutexLock lock(&mu_);
    stop_ = true;
  }
  if (thread_.joinable()) thread_.join();
}

bool MemoryReclaimer::Poll() {
  const int64_t now = inflight_();
  {
    absl::MutexLock lock(&mu_);
    peak_ = std::max(peak_, now);
    ++polls_since_trim_;
    const bool quiet = now * 8 < options_.backlog_requests;
    const bool drained = quiet && peak_ >= options_.backlog_requests;
    const bool due = quiet && options_.quiet_trim_polls > 0 &&
                     polls_since_trim_ >= options_.quiet_trim_polls;
    if (!drained && !due) return false;
    peak_ = now;
    polls_since_trim_ = 0;
  }
  // Outside the lock: it walks every arena and takes a few milliseconds.
  ::malloc_trim(0);
  absl::MutexLock lock(&mu_);
  ++trims_;
  return true;
}

int64_t MemoryReclaimer::trims() const {
  absl::MutexLock lock(&mu_);
  return trims_;
}

bool MemoryReclaimer::AwaitTrims(int64_t count, absl::Duration timeout) const {
  auto reached = [this, count]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    return trims_ >= count;
  };
  absl::MutexLock lock(&mu_);
  return mu_.AwaitWithTimeout(absl::Condition(&reached), timeout);
}

void MemoryReclaimer::Run() {
  SetCurrentThreadName("ql-reclaimer");
  auto stopped = [this]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) { return stop_; };
  while (true) {
    {
      absl::MutexLock lock(&mu_);
      if (mu_.AwaitWithTimeout(absl::Condition(&stopped), options_.period)) {
        return;
      }
    }
    Poll();
  }
}

}  // namespace qlinear::server
