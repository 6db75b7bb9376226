// Serving statistics: per (model, version) counters of requests, batches and
// layers. They are the one set of numbers behind Triton's ModelStatistics
// (KServe API), the native GetModel statistics and the Prometheus exposition
// (whose collector reads the same counters at scrape time through
// StatsRegistry::List()).
//
// Recording is lock-free: every counter is a relaxed std::atomic (the
// counters are independent monotonic sums; no reader needs an order between
// them). Batch sizes up to the model's max_batch_rows have a dense slot each;
// larger batches (a single request above max_batch_rows runs alone) go to a
// small lock-free table. Looking a ModelStats up in the StatsRegistry takes
// a shared reader lock, and an exclusive one only the first time a (model,
// version) appears; requests do not look up: ModelManager caches each
// version's ModelStats on its ModelEntry at load.
#ifndef QLINEAR_SERVER_STATS_H_
#define QLINEAR_SERVER_STATS_H_

#include <array>
#include <atomic>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"

namespace qlinear::server {

// The RPC a request came through. The names (RpcName) are metric labels: do
// not rename or renumber.
enum class Rpc : int {
  kForward = 0,
  kMatmul = 1,
  kForwardStream = 2,
  kModelInfer = 3,
};
inline constexpr int kNumRpcs = 4;
// "Forward", "Matmul", "ForwardStream", "ModelInfer".
std::string_view RpcName(Rpc rpc);

// Number of canonical status codes (OK = 0 .. UNAUTHENTICATED = 16).
inline constexpr int kNumStatusCodes = 17;

// Where the time of one successful request went, in nanoseconds.
struct RequestTimes {
  uint64_t total_ns = 0;           // arrival to response
  uint64_t queue_ns = 0;           // Schedule() to the start of its batch
  uint64_t compute_input_ns = 0;   // validating and decoding the input
  uint64_t compute_infer_ns = 0;   // the layers it ran, in its batch
  uint64_t compute_output_ns = 0;  // encoding the output
};

// A cumulative count and duration.
struct DurationStat {
  uint64_t count = 0;
  uint64_t ns = 0;
};

// Batches of one size.
struct BatchSizeStat {
  uint64_t batch_rows = 0;
  uint64_t count = 0;       // batches of this size that ran
  uint64_t compute_ns = 0;  // their layer time
};

// A copy of a ModelStats' counters. Each counter is read atomically, but not
// all at the same instant: under traffic, counters may be a few requests
// apart.
struct ModelStatsSnapshot {
  // Requests that succeeded, and their time from arrival to response.
  DurationStat success;
  // Requests of this model that failed after its lookup (bad input, queue
  // full, deadline, cancelled), and their time.
  DurationStat fail;
  // Of successful requests (Triton's rule): queueing, input decoding, layer
  // and output encoding time.
  DurationStat queue;
  DurationStat compute_input;
  DurationStat compute_infer;
  DurationStat compute_output;
  // Rows of successful requests.
  uint64_t inference_count = 0;
  // Batches that ran at least one layer.
  uint64_t execution_count = 0;
  // Layer runs over all batches: a batch through L layers adds L. A batch
  // whose requests are all cancelled stops adding.
  uint64_t layers_executed = 0;
  // Rows times layers actually computed: a cancelled request stops adding
  // its rows from the next layer on.
  uint64_t row_layers_executed = 0;
  // Completion time of the last request (any outcome), in milliseconds since
  // the Unix epoch; 0 before the first.
  uint64_t last_inference_ms = 0;
  // One entry per batch size run, ascending by batch_rows.
  std::vector<BatchSizeStat> batch_sizes;
  // Completed requests by RPC and final status code:
  // requests[int(rpc)][int(code)].
  std::array<std::array<uint64_t, kNumStatusCodes>, kNumRpcs> requests{};
};

// The counters of one model version. Thread-safe and lock-free: any number
// of threads may record and snapshot at once (AwaitSnapshot, for tests,
// blocks on a mutex of its own).
class ModelStats {
 public:
  // Batch sizes 1..max_batch_rows get a dense slot each.
  explicit ModelStats(size_t max_batch_rows);
  ModelStats(const ModelStats&) = delete;
  ModelStats& operator=(const ModelStats&) = delete;

  // A request of `rows` rows completed with OK.
  void RecordSuccess(Rpc rpc, size_t rows, const RequestTimes& times);
  // A request failed with `code` (not OK) after `total_ns` in the server.
  void RecordFailure(Rpc rpc, absl::StatusCode code, uint64_t total_ns);
  // One layer ran for a batch of `rows` rows (the rows still live).
  void RecordLayer(size_t rows);
  // A batch of `batch_rows` rows finished (or stopped, cancelled) after
  // running at least one layer, in `compute_ns` of layer time.
  void RecordExecution(size_t batch_rows, uint64_t compute_ns);

  ModelStatsSnapshot Snapshot() const;

  // Blocks until `done` accepts a snapshot or `timeout` (real time) passes;
  // returns whether it did. `done` runs on the caller's thread, once at the
  // start and again after each recording, until it accepts; it must not
  // call back into this object. For tests that must observe a count reached
  // by another thread without polling. While a waiter waits, every record
  // also takes a mutex to wake it; otherwise recording stays lock-free.
  bool AwaitSnapshot(const std::function<bool(const ModelStatsSnapshot&)>& done,
                     absl::Duration timeout) const
      ABSL_LOCKS_EXCLUDED(wait_mu_);

 private:
  struct AtomicDuration {
    std::atomic<uint64_t> count{0};
    std::atomic<uint64_t> ns{0};
    void Add(uint64_t ns_value);
    DurationStat Load() const;
  };
  struct BatchSlot {
    std::atomic<uint64_t> count{0};
    std::atomic<uint64_t> ns{0};
  };
  // A slot of the table of batch sizes above max_batch_rows.
  struct OverflowSlot {
    std::atomic<uint64_t> rows{0};  // 0: free; set once with a CAS
    BatchSlot stat;
  };
  static constexpr size_t kOverflowSlots = 64;

  void Touch();
  // Called after every record: wakes AwaitSnapshot waiters, if any.
  void Recorded();

  // Constant after construction.
  const size_t max_dense_rows_;
  // Index = batch rows; slot 0 unused.
  const std::unique_ptr<BatchSlot[]> dense_;

  // Every counter: relaxed atomics.
  AtomicDuration success_, fail_, queue_, compute_input_, compute_infer_,
      compute_output_;
  std::atomic<uint64_t> inference_count_{0};
  std::atomic<uint64_t> execution_count_{0};
  std::atomic<uint64_t> layers_executed_{0};
  std::atomic<uint64_t> row_layers_executed_{0};
  std::atomic<uint64_t> last_inference_ms_{0};
  std::array<OverflowSlot, kOverflowSlots> overflow_;
  std::array<std::array<std::atomic<uint64_t>, kNumStatusCodes>, kNumRpcs>
      requests_{};

  // AwaitSnapshot: waiters_ counts the waiting calls (read-modify-written
  // by every record, see Recorded()); wakeups_ moves on each record seen
  // while one waits.
  mutable std::atomic<int> waiters_{0};
  mutable absl::Mutex wait_mu_;
  uint64_t wakeups_ ABSL_GUARDED_BY(wait_mu_) = 0;
};

// The ModelStats of every model version the server has served. Thread-safe.
// Stats outlive unloading: a version's counters stay until the registry is
// destroyed (a reloaded version continues its counts).
class StatsRegistry {
 public:
  StatsRegistry() = default;
  StatsRegistry(const StatsRegistry&) = delete;
  StatsRegistry& operator=(const StatsRegistry&) = delete;

  // The stats of `name` at `version`, created on first use with
  // `max_batch_rows` dense batch-size slots. Never null; shared ownership.
  std::shared_ptr<ModelStats> GetOrCreate(const std::string& name,
                                          const std::string& version,
                                          size_t max_batch_rows)
      ABSL_LOCKS_EXCLUDED(mu_);

  // The stats of `name` at `version`, or null if it never served.
  std::shared_ptr<const ModelStats> Find(const std::string& name,
                                         const std::string& version) const
      ABSL_LOCKS_EXCLUDED(mu_);

  struct Entry {
    std::string name;
    std::string version;
    std::shared_ptr<const ModelStats> stats;
  };
  // Every (model, version), sorted by name then version.
  std::vector<Entry> List() const ABSL_LOCKS_EXCLUDED(mu_);

 private:
  using Key = std::pair<std::string, std::string>;

  mutable absl::Mutex mu_;
  // Protected by mu_.
  std::map<Key, std::shared_ptr<ModelStats>> stats_ ABSL_GUARDED_BY(mu_);
};

}  // namespace qlinear::server

#endif  // QLINEAR_SERVER_STATS_H_
