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
    RunBatch(std::move(*batch), *RealClock::Get(), pool_);
  }
}

}  // namespace qlinear::server::batching
