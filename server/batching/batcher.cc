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
  for (auto& t : left)
    t->done(absl::UnavailableError("server shutting down"), TaskResult{});
}

void Batcher::SetQueue(const std::string& model, QueueOptions options) {
  absl::MutexLock lock(&mu_);
  queues_[model].options = options;
}

absl::Status Batcher::Schedule(const std::string& model,
                               std::unique_ptr<Task>* task) {
  absl::MutexLock lock(&mu_);
  if (shutdown_)
    return absl::UnavailableError(
        "server is draining; retry on another replica");
  auto it = queues_.find(model);
  if (it == queues_.end()) {
    return absl::NotFoundError(
        absl::StrCat("model '", model, "' has no queue"));
  }
  Queue& q = it->second;
  Task& t = **task;
  const int64_t rows = static_cast<int64_t>(t.rows);
  const int64_t bytes = static_cast<int64_t>(t.bytes());
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
  q.rows += rows;
  q.bytes += bytes;
  q.tasks.push_back(std::move(*task));
  scheduled_.fetch_add(1, std::memory_order_release);
  work_cv_.Signal();
  return absl::OkStatus();
}

void Batcher::DropDeadTasksLocked(
    absl::Time now,
    std::vector<std::pair<std::unique_ptr<Task>, absl::Status>>* dropped) {
  for (auto& [name, q] : queues_) {
    auto keep = q.tasks.begin();
    for (auto it = q.tasks.begin(); it != q.tasks.end(); ++it) {
      Task& t = **it;
      absl::Status why;
      if (t.deadline <= now) {
        why = absl::DeadlineExceededError(
            "deadline passed while queued; no compute spent");
      } else if (t.is_cancelled && t.is_cancelled()) {
        why = absl::CancelledError("cancelled while queued; no compute spent");
      }
      if (why.ok()) {
        if (keep != it) *keep = std::move(*it);
        ++keep;
        continue;
      }
      q.rows -= static_cast<int64_t>(t.rows);
      q.bytes -= static_cast<int64_t>(t.bytes());
      dropped->emplace_back(std::move(*it), why);
    }
    q.tasks.erase(keep, q.tasks.end());
  }
}

std::optional<Batch> Batcher::FormBatchLocked(absl::Time now,
                                              absl::Time* wake_at) {
  *wake_at = absl::InfiniteFuture();
  // The most urgent head among the queues that are ready.
  Queue* best_queue = nullptr;
  const std::string* best_name = nullptr;
  Task* best = nullptr;
  for (auto& [name, q] : queues_) {
    if (q.tasks.empty()) continue;
    Task* head = q.tasks.front().get();
    for (const auto& t : q.tasks) {
      if (MoreUrgent(*t, *head)) head = t.get();
    }
    int64_t same_key_rows = 0;
    absl::Time oldest = head->enqueued;
    for (const auto& t : q.tasks) {
      if (t->key == head->key) {
        same_key_rows += static_cast<int64_t>(t->rows);
        oldest = std::min(oldest, t->enqueued);
      }
    }
    const absl::Time due = oldest + q.options.max_queue_delay;
    const bool ready =
        shutdown_ || same_key_rows >= q.options.max_batch_rows || now >= due;
    if (!ready) {
      *wake_at = std::min(*wake_at, due);
      continue;
    }
    if (best == nullptr || MoreUrgent(*head, *best)) {
      best = head;
      best_queue = &q;
      best_name = &name;
    }
  }
  if (best == nullptr) return std::nullopt;

  Queue& q = *best_queue;
  std::sort(q.tasks.begin(), q.tasks.end(),
            [](const std::unique_ptr<Task>& a, const std::unique_ptr<Task>& b) {
              return MoreUrgent(*a, *b);
            });
  const BatchKey key = best->key;
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
    q.bytes -= static_cast<int64_t>(t.bytes());
    batch.tasks.push_back(std::move(*it));
  }
  q.tasks.erase(keep, q.tasks.end());
  return batch;
}

std::optional<Batch> Batcher::TryNextBatch(absl::Time* wake_at) {
  std::vector<std::pair<std::unique_ptr<Task>, absl::Status>> dropped;
  std::optional<Batch> batch;
  {
    absl::MutexLock lock(&mu_);
    const absl::Time now = clock_->Now();
    DropDeadTasksLocked(now, &dropped);
    batch = FormBatchLocked(now, wake_at);
  }
  for (auto& [task, status] : dropped) task->done(status, TaskResult{});
  return batch;
}

std::optional<Batch> Batcher::WaitNextBatch() {
  for (;;) {
    std::vector<std::pair<std::unique_ptr<Task>, absl::Status>> dropped;
    std::optional<Batch> batch;
    {
      absl::MutexLock lock(&mu_);
      for (;;) {
        const absl::Time now = clock_->Now();
        absl::Time wake_at;
        DropDeadTasksLocked(now, &dropped);
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
          const bool scheduled = SpinUntil(
              [&] {
                return scheduled_.load(std::memory_order_acquire) != seen;
              },
              kIdleSpin);
          mu_.Lock();
          if (scheduled) continue;
        }
        // Wake for new work, a queue's delay, or every 50 ms so that the
        // deadlines and cancellations of queued tasks are noticed.
        work_cv_.WaitWithDeadline(
            &mu_, std::min(wake_at, absl::Now() + absl::Milliseconds(50)));
      }
    }
    for (auto& [task, status] : dropped) task->done(status, TaskResult{});
    if (batch.has_value()) return batch;
  }
}

void Batcher::Shutdown() {
  absl::MutexLock lock(&mu_);
  shutdown_ = true;
  work_cv_.SignalAll();
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
