#include "server/batching/executor.h"

#include <utility>

#include "server/batching/batch_runner.h"

namespace qlinear::server::batching {

Executor::Executor(Batcher* batcher, ThreadPool* pool)
    : batcher_(batcher), pool_(pool), thread_([this] { Loop(); }) {}

Executor::~Executor() {
  batcher_->Shutdown();
  thread_.join();
}

void Executor::Loop() {
  while (std::optional<Batch> batch = batcher_->WaitNextBatch()) {
    running_tasks_.store(static_cast<int64_t>(batch->tasks.size()),
                         std::memory_order_relaxed);
    RunBatch(std::move(*batch), *RealClock::Get(), pool_);
    running_tasks_.store(0, std::memory_order_relaxed);
  }
}

}  // namespace qlinear::server::batching
