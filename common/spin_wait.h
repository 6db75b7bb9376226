// SpinUntil: a bounded busy-wait for a condition another thread will soon
// make true, used where a condition-variable wake-up (tens of microseconds
// on a VM) would cost more than the wait itself.
//
// Thread-safe (stateless). `done` must be cheap and safe to call from this
// thread while others change what it reads (e.g. atomic loads).
#ifndef QLINEAR_COMMON_SPIN_WAIT_H_
#define QLINEAR_COMMON_SPIN_WAIT_H_

#include <chrono>
#include <thread>

namespace qlinear {

inline void CpuRelax() {
#if defined(__x86_64__) || defined(__i386__)
  __builtin_ia32_pause();
#endif
}

// Polls done() for up to `limit`: pausing between polls, and yielding the
// core every 64 polls so that a runnable thread (often the one this one
// waits for) is not starved. Returns done()'s last value; false means the
// caller should block instead.
template <typename Done>
bool SpinUntil(const Done& done, std::chrono::microseconds limit) {
  using Clock = std::chrono::steady_clock;
  const Clock::time_point deadline = Clock::now() + limit;
  for (;;) {
    for (int i = 0; i < 64; ++i) {
      if (done()) return true;
      CpuRelax();
    }
    if (Clock::now() >= deadline) return done();
    std::this_thread::yield();
  }
}

}  // namespace qlinear

#endif  // QLINEAR_COMMON_SPIN_WAIT_H_
