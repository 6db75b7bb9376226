#include "server/batch_runner.h"

#include <algorithm>
#include <memory>
#include <utility>
#include <vector>

#include "common/check.h"
#include "server/inference_task.h"
#include "spdlog/spdlog.h"

namespace qlinear::server {

void RunBatch(batching::Batch batch, const batching::Clock& clock,
              ThreadPool* pool, batching::Completer* completer) {
  if (batch.tasks.empty()) return;
  const absl::Time start = clock.Now();
  std::vector<InferenceTask*> tasks;
  tasks.reserve(batch.tasks.size());
  for (const auto& t : batch.tasks)
    tasks.push_back(static_cast<InferenceTask*>(t.get()));
  // Rows of one mode together, so each layer is one kernel call per mode.
  std::stable_sort(tasks.begin(), tasks.end(),
                   [](const InferenceTask* a, const InferenceTask* b) {
                     return a->act_quant < b->act_quant;
                   });
  const InferenceTask& first = *tasks.front();
  const model::LinearStack& stack = *first.stack;
  const size_t batch_rows = batch.rows();
  // Moved, not copied, out of the first task (no reference-count traffic):
  // the tasks may complete (cancelled) before the end, and nothing else
  // reads a task's stats and metrics.
  const std::shared_ptr<ModelStats> stats = std::move(tasks.front()->stats);
  const std::shared_ptr<ModelMetrics> metrics =
      std::move(tasks.front()->metrics);

  std::vector<model::RowGroup> groups;
  groups.reserve(tasks.size());
  for (const InferenceTask* t : tasks)
    groups.push_back({t->rows, t->act_quant});
  std::vector<float> activations;
  if (tasks.size() == 1) {
    activations = std::move(tasks.front()->input);
  } else {
    activations.reserve(batch_rows * stack.layer(first.layer_begin).k());
    for (InferenceTask* t : tasks) {
      activations.insert(activations.end(), t->input.begin(), t->input.end());
      std::vector<float>().swap(t->input);  // copied: release it now
    }
  }

  model::RunOptions options;
  options.begin = first.layer_begin;
  options.end = first.layer_end;
  options.apply_activation = !first.matmul;
  options.pool = pool;
  options.keep_group = [&](size_t g, size_t layers_done) {
    InferenceTask& t = *tasks[g];
    if (!t.IsCancelled()) return true;
    TaskResult result;
    result.layers_executed = layers_done;
    result.batch_rows = batch_rows;
    t.done(absl::CancelledError("cancelled by the client; compute stopped"),
           std::move(result));
    tasks[g] = nullptr;
    return false;
  };
  // Per layer, not in the burst below: the statistics show a batch's
  // progress while it runs (two relaxed adds on one line).
  if (stats != nullptr) {
    options.layer_done = [&stats](size_t, size_t rows) {
      stats->RecordLayer(rows);
    };
  }
  std::vector<float> scratch;
  model::RunReport report;
  const absl::Status ran =
      stack.Run(options, groups, &activations, &scratch, &report);
  // The server validated the request against this stack.
  QL_CHECK(ran.ok());
  if (stats != nullptr && report.layers_executed > 0)
    stats->RecordExecution(batch_rows, report.compute_ns);
  // The histograms are recorded in one burst after the last kernel call,
  // not between the calls: there the recording code and its data are cold
  // (each kernel streams its weights through the caches) and cost several
  // times as much (docs/operations.md, "Cost of the metrics").
  // A per-batch timeline for operators (docs/operations.md, "Logging"):
  // one line per batch at trace level, built only when that level is on.
  if (spdlog::should_log(spdlog::level::trace)) {
    int64_t oldest_wait_us = 0;
    for (const auto& t : batch.tasks) {
      oldest_wait_us = std::max(oldest_wait_us,
                                absl::ToInt64Microseconds(start - t->enqueued));
    }
    spdlog::trace(
        "event=batch model={} rows={} tasks={} oldest_wait_us={} "
        "compute_us={} layers_executed={}",
        batch.model, batch_rows, batch.tasks.size(), oldest_wait_us,
        report.compute_ns / 1000, report.layers_executed);
  }
  if (metrics != nullptr) {
    metrics->ObserveBatch(batch_rows);
    for (const auto& t : batch.tasks) {
      metrics->ObserveQueueWait(static_cast<uint64_t>(
          std::max<int64_t>(0, absl::ToInt64Nanoseconds(start - t->enqueued))));
    }
    for (const model::KernelCall& c : report.calls)
      metrics->ObserveLayer(c.layer, c.mode, c.rows, c.ns, c.act_quant_ns);
  }

  auto output =
      std::make_shared<const std::vector<float>>(std::move(activations));
  std::vector<std::pair<InferenceTask*, TaskResult>> results;
  results.reserve(tasks.size());
  size_t row = 0;
  for (InferenceTask* t : tasks) {
    if (t == nullptr) continue;  // cancelled, already completed
    TaskResult result;
    result.batch_output = output;
    result.row_offset = row;
    result.rows = t->rows;
    result.cols = report.cols;
    result.queue_seconds = absl::ToDoubleSeconds(start - t->enqueued);
    result.batch_rows = batch_rows;
    result.layers_executed = report.layers_executed;
    result.layers = report.layers;
    for (model::LayerTiming& lt : result.layers)
      lt.kernel = stack.layer(lt.layer).kernel_name(t->act_quant);
    row += t->rows;
    results.emplace_back(t, std::move(result));
  }
  // Owns the tasks (and through the results the output buffer) until every
  // one has completed.
  auto complete = [owned = std::move(batch.tasks),
                   results = std::move(results)]() mutable {
    for (auto& [task, result] : results)
      task->done(absl::OkStatus(), std::move(result));
  };
  if (completer != nullptr) {
    completer->Post(std::move(complete));
  } else {
    complete();
  }
}

}  // namespace qlinear::server
