// LoadQueue: runs the model loads that the admin RPCs ask for (LoadModel,
// RepositoryModelLoad) on one thread of its own, one at a time, in arrival
// order. A load takes seconds, so it must not hold a gRPC thread; one
// thread and a bounded queue mean a flood of load calls costs memory for
// at most `max_pending` requests, never a thread each (docs/operations.md,
// "Limits and failure modes").
//
// Thread-safe.
#ifndef QLINEAR_SERVER_LOAD_QUEUE_H_
#define QLINEAR_SERVER_LOAD_QUEUE_H_

#include <cstddef>
#include <deque>
#include <string>
#include <thread>

#include "absl/base/thread_annotations.h"
#include "absl/functional/any_invocable.h"
#include "absl/status/status.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "server/model_manager.h"

namespace qlinear::server {

class LoadQueue {
 public:
  // Loads waiting behind the running one, beyond which Submit() refuses.
  static constexpr size_t kDefaultMaxPending = 8;

  using Done = absl::AnyInvocable<void(absl::Status)>;

  // `models` is not owned and must outlive the queue. Starts the thread.
  explicit LoadQueue(ModelManager* models,
                     size_t max_pending = kDefaultMaxPending);
  // Shutdown(), then joins the thread.
  ~LoadQueue();
  LoadQueue(const LoadQueue&) = delete;
  LoadQueue& operator=(const LoadQueue&) = delete;

  // Checks the request at once (ModelManager::CheckLoadable) and queues
  // ModelManager::Load(name, version). On OK, `done` is later called exactly
  // once, on the queue's thread, with the load's status (UNAVAILABLE when
  // the queue shuts down first). On an error `done` is not called.
  // Errors: those of CheckLoadable (INVALID_ARGUMENT, FAILED_PRECONDITION,
  // NOT_FOUND); RESOURCE_EXHAUSTED when max_pending loads already wait;
  // UNAVAILABLE after Shutdown().
  absl::Status Submit(std::string name, std::string version, Done done)
      ABSL_LOCKS_EXCLUDED(mu_);

  // For the drain: new calls get UNAVAILABLE, queued loads complete with
  // UNAVAILABLE, the running load is abandoned at its next layer
  // (ModelManager::AbandonLoads) and answered; returns once it has been.
  // Idempotent.
  void Shutdown() ABSL_LOCKS_EXCLUDED(mu_);

  // Blocks until at least `count` loads are queued behind the running one
  // (tests: an asynchronous Submit has landed); false after `timeout`.
  bool WaitForPending(size_t count, absl::Duration timeout)
      ABSL_LOCKS_EXCLUDED(mu_);

 private:
  struct Job {
    std::string name;
    std::string version;
    Done done;
  };

  void Run() ABSL_LOCKS_EXCLUDED(mu_);
  bool HasWork() const ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    return shutdown_ || !pending_.empty();
  }
  bool Idle() const ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) { return !running_job_; }

  ModelManager* const models_;
  const size_t max_pending_;

  absl::Mutex mu_;
  std::deque<Job> pending_ ABSL_GUARDED_BY(mu_);
  bool running_job_ ABSL_GUARDED_BY(mu_) = false;
  bool shutdown_ ABSL_GUARDED_BY(mu_) = false;
  std::thread thread_;  // last: starts once the fields above exist
};

}  // namespace qlinear::server

#endif  // QLINEAR_SERVER_LOAD_QUEUE_H_
