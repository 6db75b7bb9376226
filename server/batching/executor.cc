#include "server/batching/executor.h"

#include <utility>

#include "common/thread_name.h"

namespace qlinear::server::batching {

Executor::Executor(Batcher* batcher, RunBatchFn run)
    : batcher_(batcher), run_(std::move(run)), thread_([this] { Loop(); }) {}

Executor::~Executor() {
  batcher_->Shutdown();
  thread_.join();
}

void Executor::Loop() {
  SetCurrentThreadName("ql-executor");
  while (std::optional<Batch> batch = batcher_->WaitNextBatch()) {
    running_tasks_.store(static_cast<int64_t>(batch->tasks.size()),
                         std::memory_order_relaxed);
    run_(std::move(*batch));
    running_tasks_.store(0, std::memory_order_relaxed);
  }
}

}  // namespace qlinear::server::batching
