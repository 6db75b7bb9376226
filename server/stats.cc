#include "server/stats.h"

#include <algorithm>
#include <chrono>

namespace qlinear::server {
namespace {

constexpr auto kRelaxed = std::memory_order_relaxed;

uint64_t NowMillisSinceEpoch() {
  return static_cast<uint64_t>(
      std::chrono::duration_cast<std::chrono::milliseconds>(
          std::chrono::system_clock::now().time_since_epoch())
          .count());
}

}  // namespace

std::string_view RpcName(Rpc rpc) {
  switch (rpc) {
    case Rpc::kForward:
      return "Forward";
    case Rpc::kMatmul:
      return "Matmul";
    case Rpc::kForwardStream:
      return "ForwardStream";
    case Rpc::kModelInfer:
      return "ModelInfer";
  }
  return "unknown";
}

void ModelStats::AtomicDuration::Add(uint64_t ns_value) {
  count.fetch_add(1, kRelaxed);
  ns.fetch_add(ns_value, kRelaxed);
}

DurationStat ModelStats::AtomicDuration::Load() const {
  return {count.load(kRelaxed), ns.load(kRelaxed)};
}

ModelStats::ModelStats(size_t max_batch_rows)
    : max_dense_rows_(std::max<size_t>(max_batch_rows, 1)),
      dense_(new BatchSlot[max_dense_rows_ + 1]) {}

void ModelStats::Touch() {
  last_inference_ms_.store(NowMillisSinceEpoch(), kRelaxed);
}

void ModelStats::Recorded() {
  // A read-modify-write (not a load), so that it pairs with the waiter's
  // increment in AwaitSnapshot: if it reads 0, the waiter's increment
  // comes later in waiters_' order and acquires this release, so the
  // waiter's first snapshot sees this record; otherwise the waiter is
  // registered and waits for wakeups_ to move under wait_mu_.
  if (waiters_.fetch_add(0, std::memory_order_acq_rel) == 0) return;
  absl::MutexLock lock(&wait_mu_);
  ++wakeups_;
}

bool ModelStats::AwaitSnapshot(
    const std::function<bool(const ModelStatsSnapshot&)>& done,
    absl::Duration timeout) const {
  const absl::Time deadline = absl::Now() + timeout;
  waiters_.fetch_add(1, std::memory_order_acq_rel);
  bool accepted = false;
  {
    absl::MutexLock lock(&wait_mu_);
    while (true) {
      const uint64_t seen = wakeups_;
      if (done(Snapshot())) {
        accepted = true;
        break;
      }
      auto moved = [this, seen]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(wait_mu_) {
        return wakeups_ != seen;
      };
      if (!wait_mu_.AwaitWithDeadline(absl::Condition(&moved), deadline)) {
        accepted = done(Snapshot());
        break;
      }
    }
  }
  waiters_.fetch_sub(1, std::memory_order_relaxed);
  return accepted;
}

void ModelStats::RecordSuccess(Rpc rpc, size_t rows,
                               const RequestTimes& times) {
  success_.Add(times.total_ns);
  queue_.Add(times.queue_ns);
  compute_input_.Add(times.compute_input_ns);
  compute_infer_.Add(times.compute_infer_ns);
  compute_output_.Add(times.compute_output_ns);
  inference_count_.fetch_add(rows, kRelaxed);
  requests_[static_cast<int>(rpc)][0].fetch_add(1, kRelaxed);
  Touch();
  Recorded();
}

void ModelStats::RecordFailure(Rpc rpc, absl::StatusCode code,
                               uint64_t total_ns) {
  fail_.Add(total_ns);
  int c = static_cast<int>(code);
  if (c <= 0 || c >= kNumStatusCodes)
    c = static_cast<int>(absl::StatusCode::kUnknown);
  requests_[static_cast<int>(rpc)][c].fetch_add(1, kRelaxed);
  Touch();
  Recorded();
}

void ModelStats::RecordLayer(size_t rows) {
  layers_executed_.fetch_add(1, kRelaxed);
  row_layers_executed_.fetch_add(rows, kRelaxed);
  Recorded();
}

void ModelStats::RecordExecution(size_t batch_rows, uint64_t compute_ns) {
  execution_count_.fetch_add(1, kRelaxed);
  BatchSlot* slot = nullptr;
  if (batch_rows >= 1 && batch_rows <= max_dense_rows_) {
    slot = &dense_[batch_rows];
  } else {
    // Open addressing on the row count; a slot's key is set once (CAS from
    // 0), so a probe never sees a key change under it.
    const uint64_t key = batch_rows;
    for (size_t i = 0; i < kOverflowSlots && slot == nullptr; ++i) {
      OverflowSlot& s = overflow_[(key + i) % kOverflowSlots];
      uint64_t current = s.rows.load(std::memory_order_acquire);
      if (current == 0 && s.rows.compare_exchange_strong(
                              current, key, std::memory_order_acq_rel)) {
        current = key;
      }
      if (current == key) slot = &s.stat;
    }
  }
  // All slots taken by other sizes: the batch counts in execution_count
  // only.
  if (slot != nullptr) {
    slot->count.fetch_add(1, kRelaxed);
    slot->ns.fetch_add(compute_ns, kRelaxed);
  }
  Recorded();
}

ModelStatsSnapshot ModelStats::Snapshot() const {
  ModelStatsSnapshot s;
  s.success = success_.Load();
  s.fail = fail_.Load();
  s.queue = queue_.Load();
  s.compute_input = compute_input_.Load();
  s.compute_infer = compute_infer_.Load();
  s.compute_output = compute_output_.Load();
  s.inference_count = inference_count_.load(kRelaxed);
  s.execution_count = execution_count_.load(kRelaxed);
  s.layers_executed = layers_executed_.load(kRelaxed);
  s.row_layers_executed = row_layers_executed_.load(kRelaxed);
  s.last_inference_ms = last_inference_ms_.load(kRelaxed);
  for (size_t rows = 1; rows <= max_dense_rows_; ++rows) {
    const uint64_t count = dense_[rows].count.load(kRelaxed);
    if (count > 0) {
      s.batch_sizes.push_back({rows, count, dense_[rows].ns.load(kRelaxed)});
    }
  }
  for (const OverflowSlot& slot : overflow_) {
    const uint64_t rows = slot.rows.load(std::memory_order_acquire);
    const uint64_t count = slot.stat.count.load(kRelaxed);
    if (rows != 0 && count > 0) {
      s.batch_sizes.push_back({rows, count, slot.stat.ns.load(kRelaxed)});
    }
  }
  std::sort(s.batch_sizes.begin(), s.batch_sizes.end(),
            [](const BatchSizeStat& a, const BatchSizeStat& b) {
              return a.batch_rows < b.batch_rows;
            });
  for (int rpc = 0; rpc < kNumRpcs; ++rpc) {
    for (int code = 0; code < kNumStatusCodes; ++code)
      s.requests[rpc][code] = requests_[rpc][code].load(kRelaxed);
  }
  return s;
}

std::shared_ptr<ModelStats> StatsRegistry::GetOrCreate(
    const std::string& name, const std::string& version,
    size_t max_batch_rows) {
  Key key(name, version);
  {
    absl::ReaderMutexLock lock(&mu_);
    auto it = stats_.find(key);
    if (it != stats_.end()) return it->second;
  }
  absl::MutexLock lock(&mu_);
  std::shared_ptr<ModelStats>& stats = stats_[std::move(key)];
  if (stats == nullptr) stats = std::make_shared<ModelStats>(max_batch_rows);
  return stats;
}

std::shared_ptr<const ModelStats> StatsRegistry::Find(
    const std::string& name, const std::string& version) const {
  absl::ReaderMutexLock lock(&mu_);
  auto it = stats_.find(Key(name, version));
  if (it == stats_.end()) return nullptr;
  return it->second;
}

std::vector<StatsRegistry::Entry> StatsRegistry::List() const {
  absl::ReaderMutexLock lock(&mu_);
  std::vector<Entry> entries;
  entries.reserve(stats_.size());
  for (const auto& [key, stats] : stats_)
    entries.push_back({key.first, key.second, stats});
  return entries;
}

}  // namespace qlinear::server
