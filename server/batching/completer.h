// Completer: one thread that runs the completions the executor hands off
// (encoding each response from its batch's output buffer and finishing its
// call), in the order posted, so that the executor goes back to computing
// the next batch instead of encoding the last one.
#ifndef QLINEAR_SERVER_BATCHING_COMPLETER_H_
#define QLINEAR_SERVER_BATCHING_COMPLETER_H_

#include <condition_variable>
#include <cstdint>
#include <deque>
#include <mutex>
#include <thread>

#include "absl/functional/any_invocable.h"

namespace qlinear::server::batching {

// Thread-safe. Synchronizes with std:: primitives only (the TSan job sees
// them; docs/operations.md "Sanitizer builds").
class Completer {
 public:
  using Completion = absl::AnyInvocable<void() &&>;

  // Starts the thread.
  Completer();
  // Runs every completion posted so far, then joins. No Post() may race it.
  ~Completer();
  Completer(const Completer&) = delete;
  Completer& operator=(const Completer&) = delete;

  // Queues `completion` to run on the completer's thread, after those posted
  // before it. Never blocks on a completion.
  void Post(Completion completion);

  // Completions posted and not yet finished (a gauge).
  int64_t pending() const;

 private:
  void Loop();

  mutable std::mutex mu_;
  std::condition_variable cv_;
  std::deque<Completion> queue_;  // guarded by mu_
  int64_t pending_ = 0;           // guarded by mu_; queued + running
  bool stop_ = false;             // guarded by mu_
  std::thread thread_;            // last: started after the fields above
};

}  // namespace qlinear::server::batching

#endif  // QLINEAR_SERVER_BATCHING_COMPLETER_H_
