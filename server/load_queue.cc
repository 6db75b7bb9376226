#include "server/load_queue.h"

#include <utility>

#include "absl/strings/str_cat.h"
#include "common/thread_name.h"

namespace qlinear::server {

LoadQueue::LoadQueue(ModelManager* models, size_t max_pending)
    : models_(models), max_pending_(max_pending), thread_([this] { Run(); }) {}

LoadQueue::~LoadQueue() {
  Shutdown();
  thread_.join();
}

absl::Status LoadQueue::Submit(std::string name, std::string version,
                               Done done) {
  {
    absl::MutexLock lock(&mu_);
    if (shutdown_) {
      return absl::UnavailableError("the server is shutting down");
    }
  }
  absl::Status check = models_->CheckLoadable(name, version);
  if (!check.ok()) return check;
  absl::MutexLock lock(&mu_);
  if (shutdown_) return absl::UnavailableError("the server is shutting down");
  if (pending_.size() >= max_pending_) {
    return absl::ResourceExhaustedError(
        absl::StrCat("model loads: ", pending_.size(),
                     " already wait behind the running one (the most the "
                     "server queues); retry once they finish"));
  }
  pending_.push_back({std::move(name), std::move(version), std::move(done)});
  return absl::OkStatus();
}

bool LoadQueue::WaitForPending(size_t count, absl::Duration timeout) {
  absl::MutexLock lock(&mu_);
  auto queued = [this, count]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    return pending_.size() >= count;
  };
  return mu_.AwaitWithTimeout(absl::Condition(&queued), timeout);
}

void LoadQueue::Shutdown() {
  std::deque<Job> dropped;
  {
    absl::MutexLock lock(&mu_);
    if (!shutdown_) {
      shutdown_ = true;
      dropped.swap(pending_);
      models_->AbandonLoads();
    }
  }
  for (Job& job : dropped) {
    job.done(absl::UnavailableError(
        absl::StrCat("loading model '", job.name,
                     "': not started, the server is shutting down")));
  }
  absl::MutexLock lock(&mu_);
  mu_.Await(absl::Condition(this, &LoadQueue::Idle));
}

void LoadQueue::Run() {
  SetCurrentThreadName("ql-loader");
  while (true) {
    Job job;
    {
      absl::MutexLock lock(&mu_);
      running_job_ = false;
      mu_.Await(absl::Condition(this, &LoadQueue::HasWork));
      if (pending_.empty()) return;  // shut down
      job = std::move(pending_.front());
      pending_.pop_front();
      running_job_ = true;
    }
    job.done(models_->Load(job.name, job.version));
  }
}

}  // namespace qlinear::server
