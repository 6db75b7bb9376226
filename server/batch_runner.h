// RunBatch: executes one batch of InferenceTasks through their model's
// execution loop (LinearStack::Run) and completes the tasks.
#ifndef QLINEAR_SERVER_BATCH_RUNNER_H_
#define QLINEAR_SERVER_BATCH_RUNNER_H_

#include "kernels/thread_pool.h"
#include "server/batching/batcher.h"
#include "server/batching/clock.h"
#include "server/batching/completer.h"

namespace qlinear::server {

// Runs the tasks' rows through their key's layers on `pool`, each row in its
// task's activation mode (rows of one mode run as one kernel call per
// layer). A one-task batch runs on the task's own input buffer; a larger one
// on one concatenation of the inputs. Before each layer it drops tasks whose
// client cancelled, completing them with CANCELLED on this thread, so they
// spend no more compute. The tasks share the batch's output buffer
// (TaskResult::output(), shared ownership: it lives as long as any task's
// result). The other tasks complete (`done`, which encodes the response from
// that buffer and finishes the call) on `completer`'s thread when one is
// given, after RunBatch has returned (the completion owns the tasks), else
// on this thread before it returns. Every task's `done` is called exactly
// once. A row's result is bitwise what it would be alone (the kernels are
// batch invariant). REQUIRES: every task of `batch` is an InferenceTask (the
// only kind the server schedules) and they share one key.
void RunBatch(batching::Batch batch, const batching::Clock& clock,
              ThreadPool* pool, batching::Completer* completer = nullptr);

}  // namespace qlinear::server

#endif  // QLINEAR_SERVER_BATCH_RUNNER_H_
