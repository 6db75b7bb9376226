#include "server/batching/batch_runner.h"

#include <algorithm>
#include <chrono>
#include <cstring>
#include <utility>
#include <vector>

namespace qlinear::server::batching {
namespace {

uint64_t Nanos(std::chrono::steady_clock::duration d) {
  return static_cast<uint64_t>(
      std::chrono::duration_cast<std::chrono::nanoseconds>(d).count());
}

// One kernel call, for its metrics.
struct KernelCall {
  size_t layer;
  ActQuant mode;
  size_t rows;
  uint64_t ns;
  uint64_t act_quant_ns;
};

}  // namespace

void RunBatch(Batch batch, const Clock& clock, ThreadPool* pool) {
  if (batch.tasks.empty()) return;
  const absl::Time start = clock.Now();
  // Rows of one mode together, so each layer is one kernel call per mode.
  std::stable_sort(
      batch.tasks.begin(), batch.tasks.end(),
      [](const std::unique_ptr<Task>& a, const std::unique_ptr<Task>& b) {
        return a->act_quant < b->act_quant;
      });
  const BatchKey key = batch.tasks.front()->key;
  const model::LinearStack& stack = *batch.tasks.front()->stack;
  const size_t batch_rows = batch.rows();
  // Moved, not copied, out of the first task (no reference-count traffic):
  // the tasks may complete (cancelled) before the end, and nothing else
  // reads a task's stats and metrics.
  const std::shared_ptr<ModelStats> stats =
      std::move(batch.tasks.front()->stats);
  const std::shared_ptr<ModelMetrics> metrics =
      std::move(batch.tasks.front()->metrics);
  // The histograms are recorded in one burst after the last kernel call,
  // not between the calls: there the recording code and its data are cold
  // (each kernel streams its weights through the caches) and cost several
  // times as much (docs/operations.md, "Cost of the metrics").
  std::vector<uint64_t> queue_waits_ns;
  std::vector<KernelCall> calls;
  if (metrics != nullptr) {
    queue_waits_ns.reserve(batch.tasks.size());
    for (const auto& t : batch.tasks) {
      queue_waits_ns.push_back(static_cast<uint64_t>(
          std::max<int64_t>(0, absl::ToInt64Nanoseconds(start - t->enqueued))));
    }
    calls.reserve(2 * (key.layer_end - key.layer_begin));
  }

  std::vector<std::unique_ptr<Task>>& tasks = batch.tasks;
  size_t width = stack.layer(key.layer_begin).k();
  std::vector<float> current;
  current.reserve(batch_rows * width);
  for (const auto& t : tasks)
    current.insert(current.end(), t->input.begin(), t->input.end());
  std::vector<float> next;
  std::vector<model::LayerTiming> timings;
  size_t layers_done = 0;
  uint64_t compute_ns = 0;

  for (size_t layer = key.layer_begin; layer < key.layer_end; ++layer) {
    // Drop cancelled tasks (and their rows) before spending this layer.
    size_t kept_rows = 0, offset = 0;
    auto keep = tasks.begin();
    for (auto it = tasks.begin(); it != tasks.end(); ++it) {
      Task& t = **it;
      if (t.is_cancelled && t.is_cancelled()) {
        TaskResult result;
        result.layers_executed = layers_done;
        result.batch_rows = batch_rows;
        t.done(absl::CancelledError("cancelled by the client; compute stopped"),
               std::move(result));
      } else {
        if (kept_rows != offset) {
          std::memmove(current.data() + kept_rows * width,
                       current.data() + offset * width,
                       t.rows * width * sizeof(float));
        }
        kept_rows += t.rows;
        if (keep != it) *keep = std::move(*it);
        ++keep;
      }
      offset += t.rows;
    }
    tasks.erase(keep, tasks.end());
    if (tasks.empty()) break;

    const Linear& linear = stack.layer(layer);
    next.resize(kept_rows * linear.n());
    // One clock read per call: a call ends when the next starts.
    const auto layer_start = std::chrono::steady_clock::now();
    auto call_start = layer_start;
    size_t row = 0;
    for (size_t i = 0; i < tasks.size();) {
      const ActQuant mode = tasks[i]->act_quant;
      size_t rows = 0;
      for (; i < tasks.size() && tasks[i]->act_quant == mode; ++i)
        rows += tasks[i]->rows;
      double act_quant_seconds = 0.0;
      linear.Run(current.data() + row * width, rows, mode,
                 /*apply_activation=*/!key.matmul,
                 next.data() + row * linear.n(), pool, &act_quant_seconds);
      const auto call_end = std::chrono::steady_clock::now();
      if (metrics != nullptr) {
        calls.push_back({layer, mode, rows, Nanos(call_end - call_start),
                         static_cast<uint64_t>(act_quant_seconds * 1e9)});
      }
      call_start = call_end;
      row += rows;
    }
    // One wall time per layer; each task's copy names its own mode's kernel.
    const uint64_t layer_ns = Nanos(call_start - layer_start);
    timings.push_back({layer, linear.kernel_name(ActQuant::kNone),
                       static_cast<double>(layer_ns) * 1e-9});
    compute_ns += layer_ns;
    // Per layer, not in the burst below: the statistics show a batch's
    // progress while it runs (two relaxed adds on one line).
    if (stats != nullptr) stats->RecordLayer(kept_rows);
    ++layers_done;
    std::swap(current, next);
    width = linear.n();
  }
  if (stats != nullptr && layers_done > 0)
    stats->RecordExecution(batch_rows, compute_ns);
  if (metrics != nullptr) {
    metrics->ObserveBatch(batch_rows);
    for (uint64_t wait : queue_waits_ns) metrics->ObserveQueueWait(wait);
    for (const KernelCall& c : calls)
      metrics->ObserveLayer(c.layer, c.mode, c.rows, c.ns, c.act_quant_ns);
  }
  if (tasks.empty()) return;  // every task was cancelled

  size_t row = 0;
  for (auto& t : tasks) {
    TaskResult result;
    result.cols = width;
    result.output.assign(current.begin() + row * width,
                         current.begin() + (row + t->rows) * width);
    result.queue_seconds = absl::ToDoubleSeconds(start - t->enqueued);
    result.batch_rows = batch_rows;
    result.layers_executed = layers_done;
    result.layers = timings;
    for (model::LayerTiming& lt : result.layers) {
      lt.kernel = stack.layer(lt.layer).kernel_name(t->act_quant);
    }
    row += t->rows;
    t->done(absl::OkStatus(), std::move(result));
  }
}

}  // namespace qlinear::server::batching
