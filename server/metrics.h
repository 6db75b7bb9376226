// Metrics: the Prometheus exposition of qlinear (docs/metrics.md), served by
// prometheus-cpp on its own port at /metrics.
//
// Everything is exposed at scrape time by one prometheus::Collectable, from
// two sources:
//  - Histograms and the ops counter are recorded on the hot path in
//    ModelMetrics, a lock-free block of AtomicHistograms and counters that
//    Metrics::AddModel() creates once per model version at load and the
//    model's ModelEntry caches: recording does no lookup, takes no lock and
//    touches a few cache lines (docs/operations.md, "Cost of the metrics").
//  - Request counters, rejections and the per-model gauges are read from the
//    StatsRegistry (the counters behind ModelStatistics) and the serving
//    state, so the exposition and the statistics agree.
//
// Series outlive their model version, as counters must: a model version's
// blocks stay until the Metrics is destroyed, and blocks whose series have
// the same labels (a reloaded model) are summed at scrape time.
//
// Thread-safe.
#ifndef QLINEAR_SERVER_METRICS_H_
#define QLINEAR_SERVER_METRICS_H_

#include <prometheus/exposer.h>
#include <prometheus/metric_family.h>

#include <array>
#include <atomic>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "kernels/types.h"
#include "model/linear_stack.h"
#include "server/atomic_histogram.h"
#include "server/stats.h"

namespace qlinear::server {

// Bucket bounds of the duration histograms: 1 µs to 10 s in 1-2-5 steps,
// exposed in seconds, observed in nanoseconds.
const HistogramBounds& DurationBounds();
// Bucket bounds of qlinear_batch_rows: 1, 2, 4, ..., 65536 rows.
const HistogramBounds& BatchRowsBounds();
// Bucket bounds of qlinear_act_quant_sqnr_db: 5 to 100 dB, observed in
// thousandths of a dB.
const HistogramBounds& SqnrDbBounds();
// Bucket bounds of qlinear_act_quant_rel_max_error: 1e-4 to 5 in 1-2-5
// steps, observed in billionths.
const HistogramBounds& RelMaxErrorBounds();
// Bucket bounds of qlinear_act_quant_outlier_ratio: 1 to 1024, observed in
// millionths.
const HistogramBounds& OutlierRatioBounds();

// Hot-path recorder of one model version: its histograms and ops counter.
// Thread-safe and lock-free; each call is a few relaxed atomic adds. Created
// by Metrics::AddModel(); shared by the model's entry, its tasks and the
// Metrics that exposes it.
class ModelMetrics {
 public:
  ModelMetrics(const ModelMetrics&) = delete;
  ModelMetrics& operator=(const ModelMetrics&) = delete;

  // One kernel call of `rows` rows through `layer` in `mode`, its wall time
  // and the activation quantization's share of it (int8 mode only).
  void ObserveLayer(size_t layer, ActQuant mode, size_t rows,
                    uint64_t kernel_ns, uint64_t act_quant_ns);
  // A batch of `rows` rows ran.
  void ObserveBatch(size_t rows);
  // A request waited `ns` in the queue.
  void ObserveQueueWait(uint64_t ns);
  // A request of this model finished with `code` after `ns`.
  void ObserveRequest(Rpc rpc, absl::StatusCode code, uint64_t ns);

  // Quality telemetry (server/quality_sampler.h), recorded by the sampler's
  // thread; kept apart from the blocks above so that they stay as compact.
  // One sampled row of `layer`: its SQNR in dB (clamped to [0, 200]; +inf,
  // an exact row, counts as 200), relative max error (clamped to [0, 1000])
  // and the outlier ratio of its layer input.
  void ObserveQualityRow(size_t layer, double sqnr_db, double rel_max_error,
                         double outlier_ratio);
  // A sampled request was compared (qlinear_quality_samples_total).
  void CountQualitySample();
  // A request the sampler could not take
  // (qlinear_quality_samples_dropped_total).
  void CountQualityDropped();

 private:
  friend class Metrics;

  // What the exposition labels a layer's series with.
  struct LayerLabels {
    std::string layer;
    std::string format;
    std::array<std::string, 2> kernel;  // by ActQuant
    uint64_t ops_per_row = 0;           // 2 * N * K
    bool operator==(const LayerLabels& o) const {
      return layer == o.layer && format == o.format && kernel == o.kernel &&
             ops_per_row == o.ops_per_row;
    }
  };
  // The hot counters of a layer, contiguous with the next layer's.
  struct alignas(64) Layer {
    std::array<AtomicHistogram, 2> kernel;  // by ActQuant
    AtomicHistogram act_quant;
    std::atomic<uint64_t> ops{0};  // relaxed
    uint64_t ops_per_row = 0;      // set before the block is shared
  };

  ModelMetrics(std::string model, std::vector<LayerLabels> labels);

  // Constant after construction.
  const std::string model_;
  const std::vector<LayerLabels> labels_;
  const std::unique_ptr<Layer[]> layers_;

  // The quality histograms of a layer.
  struct alignas(64) QualityLayer {
    AtomicHistogram sqnr_db;
    AtomicHistogram rel_max_error;
    AtomicHistogram outlier_ratio;
  };
  const std::unique_ptr<QualityLayer[]> quality_;
  std::atomic<uint64_t> quality_samples_{0};  // relaxed
  std::atomic<uint64_t> quality_dropped_{0};  // relaxed

  // Relaxed atomics.
  AtomicHistogram queue_wait_;
  AtomicHistogram batch_rows_;
  std::array<std::array<AtomicHistogram, kNumStatusCodes>, kNumRpcs> requests_;
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

  // The /metrics HTTP server (civetweb) runs one connection per thread.
  // kHttpThreads threads serve at once; more connections wait in a queue.
  // A connection that has not sent a whole request within
  // kHttpRequestTimeout is closed, and no connection is kept alive after
  // its response. So idle or slow (slowloris) connections hold a thread for
  // at most kHttpRequestTimeout, and a scrape behind N of them is answered
  // within about ceil((N + 1) / kHttpThreads) * kHttpRequestTimeout.
  static constexpr int kHttpThreads = 16;
  static constexpr int kHttpRequestTimeoutMs = 2000;

  // Serves /metrics on `address` ("0.0.0.0:8002"); an empty address keeps
  // the registry without an HTTP endpoint (tests). Errors: UNAVAILABLE when
  // the port cannot be bound (e.g. another server holds it).
  static absl::StatusOr<std::unique_ptr<Metrics>> Create(
      const std::string& address, Sources sources);
  ~Metrics();
  Metrics(const Metrics&) = delete;
  Metrics& operator=(const Metrics&) = delete;

  // The bound port (the chosen one for port 0), or 0 without an endpoint.
  int port() const;

  // The recording block of a model version that starts serving (the block
  // of an earlier load when the model's series are the same, so a reload
  // continues its counts), and marks the version ready with its weight
  // bytes.
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

  // Scrapes of the HTTP endpoint so far (Scrape() calls do not count). A
  // scrape counts once its exposition has been collected, before the
  // response is written.
  uint64_t http_scrapes() const ABSL_LOCKS_EXCLUDED(scrape_mu_);
  // Blocks until the HTTP endpoint has counted `count` scrapes or `timeout`
  // (real time) passes; returns whether it did. For tests that wait on an
  // external scraper (Prometheus) without polling it.
  bool AwaitHttpScrapes(uint64_t count, absl::Duration timeout) const
      ABSL_LOCKS_EXCLUDED(scrape_mu_);

 private:
  class Collector;
  class ScrapeCounter;
  explicit Metrics(Sources sources);

  // The families recorded in the ModelMetrics blocks: the histograms and
  // the ops counter.
  std::vector<prometheus::MetricFamily> CollectBlocks() const
      ABSL_LOCKS_EXCLUDED(mu_);

  const Sources sources_;
  std::shared_ptr<Collector> collector_;
  std::shared_ptr<ScrapeCounter> scrape_counter_;  // with an endpoint only
  mutable absl::Mutex scrape_mu_;
  mutable uint64_t http_scrapes_ ABSL_GUARDED_BY(scrape_mu_) = 0;
  // Its threads read the members above and below; ~Metrics stops it first.
  std::unique_ptr<prometheus::Exposer> exposer_;

  std::array<std::array<std::atomic<uint64_t>, kNumStatusCodes>, kNumRpcs>
      unknown_model_{};  // relaxed

  struct Served {
    std::string name, version;
    std::vector<std::pair<std::string, uint64_t>> bytes_by_format;
    uint64_t held_bytes = 0;  // LinearStack::held_bytes()
  };
  mutable absl::Mutex mu_;
  std::vector<Served> served_ ABSL_GUARDED_BY(mu_);
  // Every block AddModel() created, in creation order.
  std::vector<std::shared_ptr<ModelMetrics>> blocks_ ABSL_GUARDED_BY(mu_);
};

}  // namespace qlinear::server

#endif  // QLINEAR_SERVER_METRICS_H_
