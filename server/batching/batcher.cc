#include "server/batching/batcher.h"

#include <algorithm>
#include <chrono>
#include <utility>

#include "absl/strings/str_cat.h"
#include "common/spin_wait.h"

namespace qlinear::server::batching {
namespace {

// How long an idle executor polls for new work before it sleeps: longer than
// a closed-loop client's round trip on loopback (~200 us), so that a client
// sending one request at a time never waits for a wake-up.
constexpr std::chrono::microseconds kIdleSpin(300);

}  // namespace

size_t Batch::rows() const {
  size_t total = 0;
  for (const auto& t : tasks) total += t->rows;
  return total;
}

bool MoreUrgent(const Task& a, const Task& b) {
  if (a.priority != b.priority) return a.priority > b.priority;
  if (a.deadline != b.deadline) return a.deadline < b.deadline;
  return a.sequence < b.sequence;
}

Batcher::Batcher(const Clock* clock) : clock_(clock) {}

Batcher::~Batcher() {
  Shutdown();
  // Tasks still queued are failed so no caller waits forever.
  std::vector<std::unique_ptr<Task>> left;
  {
    absl::MutexLock lock(&mu_);
    for (auto& [name, queue] : queues_) {
      for (auto& t : queue.tasks) left.push_back(std::move(t));
      queue.tasks.clear();
    }
  }
  for (auto& t : left) t->Fail(absl::UnavailableError("server shutting down"));
}

void Batcher::SetQueue(const std::string& model, QueueOptions options) {
  options.cost_curve = NormalizedCostCurve(std::move(options.cost_curve));
  absl::MutexLock lock(&mu_);
  queues_[model].options = std::move(options);
}

absl::Status Batcher::Schedule(const std::string& model,
                               std::unique_ptr<Task>* task) {
  absl::MutexLock lock(&mu_);
  if (shutdown_) {
    last_refused_ = absl::Now();
    return absl::UnavailableError(
        "server is draining; retry on another replica");
  }
  auto it = queues_.find(model);
  if (it == queues_.end()) {
    return absl::NotFoundError(
        absl::StrCat("model '", model, "' has no queue"));
  }
  Queue& q = it->second;
  Task& t = **task;
  const int64_t rows = static_cast<int64_t>(t.rows);
  const int64_t bytes = static_cast<int64_t>(t.bytes);
  if (q.rows + rows > q.options.max_queue_rows ||
      q.bytes + bytes > q.options.max_queue_bytes) {
    // The hint: roughly the time to drain one batch's worth of the queue.
    return absl::ResourceExhaustedError(absl::StrCat(
        "queue of model '", model, "' is full (", q.rows, " rows, ", q.bytes,
        " bytes queued; limits ", q.options.max_queue_rows, " rows, ",
        q.options.max_queue_bytes, " bytes); retry after 10ms"));
  }
  t.enqueued = clock_->Now();
  t.sequence = next_sequence_++;
  q.arrivals.Record(t.enqueued, rows);
  q.rows += rows;
  q.bytes += bytes;
  // In urgency order: after every task at least as urgent (usually the end,
  // since the newest task loses ties).
  auto at = std::upper_bound(
      q.tasks.begin(), q.tasks.end(), *task,
      [](const std::unique_ptr<Task>& a, const std::unique_ptr<Task>& b) {
        return MoreUrgent(*a, *b);
      });
  q.tasks.insert(at, std::move(*task));
  scheduled_.fetch_add(1, std::memory_order_release);
  work_cv_.Signal();
  return absl::OkStatus();
}

absl::Time Batcher::DropExpiredLocked(absl::Time now, Dropped* dropped) {
  absl::Time earliest = absl::InfiniteFuture();
  for (auto& [name, q] : queues_) {
    auto keep = q.tasks.begin();
    for (auto it = q.tasks.begin(); it != q.tasks.end(); ++it) {
      Task& t = **it;
      if (t.deadline > now) {
        earliest = std::min(earliest, t.deadline);
        if (keep != it) *keep = std::move(*it);
        ++keep;
        continue;
      }
      q.rows -= static_cast<int64_t>(t.rows);
      q.bytes -= static_cast<int64_t>(t.bytes);
      dropped->emplace_back(
          std::move(*it),
          absl::DeadlineExceededError(
              "deadline passed while queued; no compute spent"));
    }
    q.tasks.erase(keep, q.tasks.end());
  }
  return earliest;
}

std::optional<Batch> Batcher::FormBatchLocked(absl::Time now,
                                              absl::Time* wake_at) {
  *wake_at = absl::InfiniteFuture();
  // The most urgent head among the queues that are ready.
  Queue* best_queue = nullptr;
  const std::string* best_name = nullptr;
  for (auto& [name, q] : queues_) {
    if (q.tasks.empty()) continue;
    const Task& head = *q.tasks.front();
    int64_t same_key_rows = 0;
    absl::Time oldest = head.enqueued;
    absl::Time earliest_deadline = absl::InfiniteFuture();
    for (const auto& t : q.tasks) {
      if (t->key == head.key) {
        same_key_rows += static_cast<int64_t>(t->rows);
        oldest = std::min(oldest, t->enqueued);
        earliest_deadline = std::min(earliest_deadline, t->deadline);
      }
    }
    absl::Time due = oldest + q.options.max_queue_delay;
    const bool full = same_key_rows >= q.options.max_batch_rows;
    if (q.options.adaptive_delay && !shutdown_ && !full && now < due) {
      // max_queue_delay is only the bound: wait while it pays.
      due = now + AdaptiveWait(q.options.cost_curve, same_key_rows,
                               q.options.max_batch_rows,
                               q.arrivals.RowsPerSecond(now), due - now,
                               earliest_deadline - now);
    }
    const bool ready = shutdown_ || full || now >= due;
    if (!ready) {
      *wake_at = std::min(*wake_at, due);
      continue;
    }
    if (best_queue == nullptr || MoreUrgent(head, *best_queue->tasks.front())) {
      best_queue = &q;
      best_name = &name;
    }
  }
  if (best_queue == nullptr) return std::nullopt;

  // The head and the following tasks of its key, in urgency order, while
  // they fit in max_batch_rows (a smaller later task may still fit).
  Queue& q = *best_queue;
  const BatchKey key = q.tasks.front()->key;
  Batch batch;
  batch.model = *best_name;
  int64_t rows = 0;
  auto keep = q.tasks.begin();
  for (auto it = q.tasks.begin(); it != q.tasks.end(); ++it) {
    Task& t = **it;
    const int64_t r = static_cast<int64_t>(t.rows);
    const bool take = t.key == key && (batch.tasks.empty() ||
                                       rows + r <= q.options.max_batch_rows);
    if (!take) {
      if (keep != it) *keep = std::move(*it);
      ++keep;
      continue;
    }
    rows += r;
    q.rows -= r;
    q.bytes -= static_cast<int64_t>(t.bytes);
    batch.tasks.push_back(std::move(*it));
  }
  q.tasks.erase(keep, q.tasks.end());
  return batch;
}

void Batcher::DropCancelled(Batch* batch, Dropped* dropped) {
  auto keep = batch->tasks.begin();
  for (auto it = batch->tasks.begin(); it != batch->tasks.end(); ++it) {
    if ((*it)->IsCancelled()) {
      dropped->emplace_back(
          std::move(*it),
          absl::CancelledError("cancelled while queued; no compute spent"));
      continue;
    }
    if (keep != it) *keep = std::move(*it);
    ++keep;
  }
  batch->tasks.erase(keep, batch->tasks.end());
}

void Batcher::FailAll(Dropped* dropped) {
  for (auto& [task, status] : *dropped) task->Fail(status);
  dropped->clear();
}

std::optional<Batch> Batcher::TryNextBatch(absl::Time* wake_at) {
  for (;;) {
    Dropped dropped;
    std::optional<Batch> batch;
    {
      absl::MutexLock lock(&mu_);
      const absl::Time now = clock_->Now();
      const absl::Time expiry = DropExpiredLocked(now, &dropped);
      batch = FormBatchLocked(now, wake_at);
      *wake_at = std::min(*wake_at, expiry);
    }
    if (batch.has_value()) DropCancelled(&*batch, &dropped);
    FailAll(&dropped);
    // A batch whose every task was cancelled is no batch: form the next.
    if (!batch.has_value() || !batch->tasks.empty()) return batch;
  }
}

std::optional<Batch> Batcher::WaitNextBatch() {
  for (;;) {
    Dropped dropped;
    std::optional<Batch> batch;
    {
      absl::MutexLock lock(&mu_);
      for (;;) {
        const absl::Time now = clock_->Now();
        absl::Time wake_at;
        const absl::Time expiry = DropExpiredLocked(now, &dropped);
        batch = FormBatchLocked(now, &wake_at);
        if (batch.has_value() || !dropped.empty()) break;
        bool empty = true;
        for (const auto& [name, q] : queues_) empty = empty && q.tasks.empty();
        if (shutdown_ && empty) return std::nullopt;
        if (empty && !shutdown_) {
          // Idle: poll for the next task before blocking, since a
          // condition-variable wake-up costs tens of microseconds, a
          // large share of a small request's latency.
          const uint64_t seen = scheduled_.load(std::memory_order_acquire);
          mu_.Unlock();
          SpinUntil(
              [&] {
                return scheduled_.load(std::memory_order_acquire) != seen;
              },
              kIdleSpin);
          mu_.Lock();
          // Checked under mu_: a Schedule() or Shutdown() while it was
          // released signalled no one, so waiting now would miss it.
          if (scheduled_.load(std::memory_order_acquire) != seen || shutdown_)
            continue;
        }
        // Until new work, a queue's delay or the first queued deadline.
        work_cv_.WaitWithDeadline(&mu_, std::min(wake_at, expiry));
      }
    }
    if (batch.has_value()) DropCancelled(&*batch, &dropped);
    FailAll(&dropped);
    if (batch.has_value() && !batch->tasks.empty()) return batch;
  }
}

void Batcher::Shutdown() {
  absl::MutexLock lock(&mu_);
  shutdown_ = true;
  work_cv_.SignalAll();
}

bool Batcher::AwaitNoRefusals(absl::Duration quiet,
                              absl::Duration timeout) const {
  const absl::Time start = absl::Now();
  const absl::Time give_up = start + timeout;
  for (;;) {
    absl::Time quiet_at;
    {
      absl::MutexLock lock(&mu_);
      quiet_at = std::max(start, last_refused_) + quiet;
    }
    const absl::Time now = absl::Now();
    if (now >= quiet_at) return true;
    if (now >= give_up) return false;
    // Sleeps to the first moment the answer can change; a refusal meanwhile
    // moves quiet_at, which the next turn reads.
    absl::SleepFor(std::min(quiet_at, give_up) - now);
  }
}

std::optional<QueueOptions> Batcher::queue_options(
    const std::string& model) const {
  absl::MutexLock lock(&mu_);
  auto it = queues_.find(model);
  if (it == queues_.end()) return std::nullopt;
  return it->second.options;
}

int64_t Batcher::queued_rows(const std::string& model) const {
  absl::MutexLock lock(&mu_);
  auto it = queues_.find(model);
  return it == queues_.end() ? 0 : it->second.rows;
}

int64_t Batcher::queued_tasks(const std::string& model) const {
  absl::MutexLock lock(&mu_);
  auto it = queues_.find(model);
  return it == queues_.end() ? 0
                             : static_cast<int64_t>(it->second.tasks.size());
}

bool Batcher::AwaitQueuedRows(const std::string& model, int64_t rows,
                              absl::Duration timeout) const {
  auto reached = [this, &model, rows]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    auto it = queues_.find(model);
    return it != queues_.end() && it->second.rows >= rows;
  };
  absl::MutexLock lock(&mu_);
  // absl::Mutex re-evaluates the condition whenever mu_ is released, so every
  // Schedule() wakes this waiter without a signal of its own.
  return mu_.AwaitWithTimeout(absl::Condition(&reached), timeout);
}

}  // namespace qlinear::server::batching

namespace qlinear::server::batching {

std::vector<std::pair<std::string, int64_t>> Batcher::QueuedRowsByModel()
    const {
  absl::MutexLock lock(&mu_);
  std::vector<std::pair<std::string, int64_t>> out;
  for (const auto& [name, q] : queues_) out.emplace_back(name, q.rows);
  return out;
}

int64_t Batcher::total_queued_tasks() const {
  absl::MutexLock lock(&mu_);
  int64_t total = 0;
  for (const auto& [name, q] : queues_)
    total += static_cast<int64_t>(q.tasks.size());
  return total;
}

}  // namespace qlinear::server::batching
