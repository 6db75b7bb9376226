// Metrics: the Prometheus exposition of qlinear (SYSTEM.md "Metrics"), served
// by prometheus-cpp on its own port at /metrics.
//
// Two sources, one truth:
//  - Histograms and the ops counter are recorded on the hot path through
//    ModelMetrics, whose label children are created once per model version
//    and layer at load (no global lock per sample; prometheus-cpp takes only
//    the child's own lock).
//  - Request counters, rejections and the per-model gauges are read at
//    scrape time from the StatsRegistry (the counters behind ModelStatistics)
//    and the serving state, so the exposition and the statistics agree.
//
// Thread-safe.
#ifndef QLINEAR_SERVER_METRICS_H_
#define QLINEAR_SERVER_METRICS_H_

#include <prometheus/counter.h>
#include <prometheus/exposer.h>
#include <prometheus/family.h>
#include <prometheus/gauge.h>
#include <prometheus/histogram.h>
#include <prometheus/registry.h>

#include <array>
#include <atomic>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "kernels/types.h"
#include "model/linear_stack.h"
#include "server/stats.h"

namespace qlinear::server {

// Hot-path recorder of one model version. Thread-safe.
class ModelMetrics {
 public:
  // One kernel call of `rows` rows through `layer` in `mode`.
  void ObserveLayer(size_t layer, ActQuant mode, size_t rows,
                    double kernel_seconds, double act_quant_seconds);
  // A batch of `rows` rows formed; a request waited `seconds` in the queue.
  void ObserveBatch(size_t rows);
  void ObserveQueueWait(double seconds);
  // A request of this model finished with `code` after `seconds`.
  void ObserveRequest(Rpc rpc, absl::StatusCode code, double seconds);

 private:
  friend class Metrics;
  struct LayerChildren {
    std::array<prometheus::Histogram*, 2> kernel{};  // by ActQuant
    prometheus::Histogram* act_quant = nullptr;
    prometheus::Counter* ops = nullptr;
    double ops_per_row = 0;  // 2 * N * K
  };

  std::string model_;
  std::vector<LayerChildren> layers_;
  prometheus::Histogram* queue_wait_ = nullptr;
  prometheus::Histogram* batch_rows_ = nullptr;
  prometheus::Family<prometheus::Histogram>* request_family_ = nullptr;

  absl::Mutex request_mu_;  // only to create a (rpc, code) child once
  std::array<std::array<std::atomic<prometheus::Histogram*>, kNumStatusCodes>,
             kNumRpcs>
      request_children_{};
};

class Metrics {
 public:
  // What the scrape-time collector reads besides the statistics.
  struct Sources {
    const StatsRegistry* stats = nullptr;
    // Rows queued per model (name -> rows); may be empty.
    std::function<std::vector<std::pair<std::string, int64_t>>()> queue_rows;
    // Requests queued or running; may be empty.
    std::function<int64_t()> inflight;
  };

  // Serves /metrics on `address` ("0.0.0.0:8002"); an empty address keeps
  // the registry without an HTTP endpoint (tests). Errors: UNAVAILABLE when
  // the port cannot be bound.
  static absl::StatusOr<std::unique_ptr<Metrics>> Create(
      const std::string& address, Sources sources);
  ~Metrics();
  Metrics(const Metrics&) = delete;
  Metrics& operator=(const Metrics&) = delete;

  // The bound port (the chosen one for port 0), or 0 without an endpoint.
  int port() const;

  // Creates the label children of a model version that starts serving, and
  // marks it ready with its weight bytes.
  std::shared_ptr<ModelMetrics> AddModel(const std::string& name,
                                         const std::string& version,
                                         const model::LinearStack& stack)
      ABSL_LOCKS_EXCLUDED(mu_);
  // The version stopped serving (unloaded or replaced).
  void RemoveModel(const std::string& name, const std::string& version)
      ABSL_LOCKS_EXCLUDED(mu_);

  // A request that failed before its model was known (unknown model or a
  // request without one); counted under model="".
  void RecordUnknownModel(Rpc rpc, absl::StatusCode code);

  // The text exposition, as /metrics serves it.
  std::string Scrape() const;

 private:
  class Collector;
  explicit Metrics(Sources sources);

  const Sources sources_;
  std::shared_ptr<prometheus::Registry> registry_;
  std::shared_ptr<Collector> collector_;
  std::unique_ptr<prometheus::Exposer> exposer_;

  prometheus::Family<prometheus::Histogram>* kernel_family_;
  prometheus::Family<prometheus::Histogram>* act_quant_family_;
  prometheus::Family<prometheus::Histogram>* request_family_;
  prometheus::Family<prometheus::Histogram>* queue_wait_family_;
  prometheus::Family<prometheus::Histogram>* batch_rows_family_;
  prometheus::Family<prometheus::Counter>* ops_family_;

  std::array<std::array<std::atomic<uint64_t>, kNumStatusCodes>, kNumRpcs>
      unknown_model_{};

  struct Served {
    std::string name, version;
    std::vector<std::pair<std::string, uint64_t>> bytes_by_format;
  };
  mutable absl::Mutex mu_;
  std::vector<Served> served_ ABSL_GUARDED_BY(mu_);
};

// Bucket bounds of the duration histograms: 1 µs to 10 s, 1-2-5 steps.
const prometheus::Histogram::BucketBoundaries& DurationBuckets();

}  // namespace qlinear::server

#endif  // QLINEAR_SERVER_METRICS_H_
