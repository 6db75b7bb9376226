// AtomicHistogram: a fixed-bucket Prometheus histogram recorded with relaxed
// atomics, for the hot path of the server's metrics (docs/metrics.md:
// recording takes no global lock per sample).
//
// prometheus-cpp 1.0.1's Histogram::Observe takes a std::mutex and touches
// the histogram, its copy of the bucket bounds and a vector of counter
// objects, 4-5 cache lines that the kernels have evicted by the time a
// batch records. An AtomicHistogram is one aligned 192-byte block (the sum
// and the bucket counts, three cache lines); an observation is two relaxed
// fetch_adds, on one or two of those lines. Its bounds live apart, in a
// HistogramBounds shared by every histogram of a family, and are passed to
// each call. Values are integers in a unit the bounds define (nanoseconds
// for durations, rows for batch sizes), so that the sum is one integer
// atomic instead of a compare-and-swap loop on a double.
//
// The exposition (Collect, Metric) is what prometheus-cpp's Histogram would
// give for the same samples: cumulative bucket counts with the same upper
// bounds (the same doubles, so the same `le` strings), a +Inf bucket, and
// the count, which is the +Inf bucket's cumulative count.
#ifndef QLINEAR_SERVER_ATOMIC_HISTOGRAM_H_
#define QLINEAR_SERVER_ATOMIC_HISTOGRAM_H_

#include <prometheus/client_metric.h>

#include <array>
#include <atomic>
#include <cstddef>
#include <cstdint>
#include <vector>

namespace qlinear::server {

// The upper bounds of a histogram's buckets. Immutable after construction;
// thread-safe.
class HistogramBounds {
 public:
  // At most this many finite bounds (the duration buckets have 22).
  static constexpr size_t kMaxBounds = 22;

  // `upper`: the finite bucket bounds in the exposed unit (seconds, rows),
  // strictly ascending and positive, at most kMaxBounds of them. `unit`:
  // what one recorded integer unit is worth in the exposed unit (1e-9 when
  // observations are nanoseconds and bounds seconds; 1 for rows). A value v
  // falls in the first bucket whose bound b has v <= round(b / unit), like
  // prometheus-cpp's `le` rule. Violations are programming errors
  // (QL_CHECK).
  HistogramBounds(std::vector<double> upper, double unit);
  HistogramBounds(const HistogramBounds&) = delete;
  HistogramBounds& operator=(const HistogramBounds&) = delete;

  // The bucket index of `value` (in units): 0..size(), size() being +Inf.
  size_t BucketOf(uint64_t value) const;

  // Number of finite bounds.
  size_t size() const { return size_; }
  // The finite bounds, as given.
  const std::vector<double>& upper() const { return upper_; }
  double unit() const { return unit_; }

 private:
  // Constant after construction.
  const std::vector<double> upper_;
  const double unit_;
  size_t size_ = 0;
  // upper_ in units; entries past size_ are unused.
  std::array<uint64_t, kMaxBounds> upper_units_{};
};

// A copy of an AtomicHistogram's counters (not cumulative). Sums of
// snapshots merge histograms of the same series.
struct HistogramSnapshot {
  std::array<uint64_t, HistogramBounds::kMaxBounds + 1> counts{};
  uint64_t sum = 0;  // in units

  HistogramSnapshot& operator+=(const HistogramSnapshot& other);
  // Observations over all buckets.
  uint64_t count() const;
};

// Bucket counts and the sum of one series. Thread-safe and lock-free: any
// number of threads may Observe and Snapshot at once. Every call on one
// histogram must pass the same bounds. Not copyable or movable (atomics).
class alignas(64) AtomicHistogram {
 public:
  AtomicHistogram() = default;
  AtomicHistogram(const AtomicHistogram&) = delete;
  AtomicHistogram& operator=(const AtomicHistogram&) = delete;

  // Records `value` (in bounds.unit() units). Two relaxed fetch_adds: the
  // counters are independent monotonic sums, and no reader needs an order
  // between them.
  void Observe(const HistogramBounds& bounds, uint64_t value) {
    counts_[bounds.BucketOf(value)].fetch_add(1, std::memory_order_relaxed);
    sum_.fetch_add(value, std::memory_order_relaxed);
  }

  // The counters, each read atomically (relaxed); under concurrent
  // observations the sum may lag or lead the counts by a few samples.
  HistogramSnapshot Snapshot() const;

 private:
  std::atomic<uint64_t> sum_{0};
  std::array<std::atomic<uint64_t>, HistogramBounds::kMaxBounds + 1> counts_{};
};

// The exposition of `snapshot` as a prometheus-cpp histogram sample with
// `labels` (in the order given; prometheus-cpp's families sort them by
// name): cumulative counts per bound, then +Inf; the sample count is the
// +Inf cumulative count and the sum is in the exposed unit.
prometheus::ClientMetric HistogramMetric(
    const HistogramBounds& bounds, const HistogramSnapshot& snapshot,
    std::vector<prometheus::ClientMetric::Label> labels);

}  // namespace qlinear::server

#endif  // QLINEAR_SERVER_ATOMIC_HISTOGRAM_H_
