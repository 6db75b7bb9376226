// RunBatch: executes one batch through its model and completes its tasks.
#ifndef QLINEAR_SERVER_BATCHING_BATCH_RUNNER_H_
#define QLINEAR_SERVER_BATCHING_BATCH_RUNNER_H_

#include "kernels/thread_pool.h"
#include "server/batching/batcher.h"
#include "server/batching/clock.h"

namespace qlinear::server::batching {

// Concatenates the tasks' rows and runs them through the key's layers on
// `pool`, each row in its task's activation mode (rows of one mode run as
// one kernel call per layer). Before each layer it drops tasks whose client
// cancelled, completing them with CANCELLED, so they spend no more compute.
// Every task's `done` is called exactly once, on this thread. A row's result
// is bitwise what it would be alone (the kernels are batch invariant).
void RunBatch(Batch batch, const Clock& clock, ThreadPool* pool);

}  // namespace qlinear::server::batching

#endif  // QLINEAR_SERVER_BATCHING_BATCH_RUNNER_H_
