#include "server/batching/completer.h"

#include <utility>

#include "common/thread_name.h"

namespace qlinear::server::batching {

Completer::Completer() : thread_([this] { Loop(); }) {}

Completer::~Completer() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    stop_ = true;
  }
  cv_.notify_one();
  thread_.join();
}

void Completer::Post(Completion completion) {
  {
    std::lock_guard<std::mutex> lock(mu_);
    queue_.push_back(std::move(completion));
    ++pending_;
  }
  cv_.notify_one();
}

int64_t Completer::pending() const {
  std::lock_guard<std::mutex> lock(mu_);
  return pending_;
}

void Completer::Loop() {
  SetCurrentThreadName("ql-completer");
  std::unique_lock<std::mutex> lock(mu_);
  for (;;) {
    cv_.wait(lock, [this] { return stop_ || !queue_.empty(); });
    if (queue_.empty()) return;  // stopped, and everything has run
    Completion completion = std::move(queue_.front());
    queue_.pop_front();
    lock.unlock();
    std::move(completion)();
    lock.lock();
    --pending_;
  }
}

}  // namespace qlinear::server::batching
