// A log-linear latency histogram (HdrHistogram's layout, fixed precision):
// exact below 1024 ns, then 512 buckets per power of two, so any quantile is
// within 0.2 % of a recorded value. Memory is fixed (about 150 KiB), so a
// long soak does not grow the generator.
//
// Thread-compatible: one owner at a time (the load generator records under
// its own lock).
#ifndef QLINEAR_CLIENTS_BENCH_HISTOGRAM_H_
#define QLINEAR_CLIENTS_BENCH_HISTOGRAM_H_

#include <cstddef>
#include <cstdint>
#include <vector>

namespace qlinear::bench {

class LatencyHistogram {
 public:
  LatencyHistogram();

  // Records one value in nanoseconds. Negative values count as 0; values
  // above kMaxValueNs count as kMaxValueNs.
  void Record(int64_t ns);
  // Adds every sample of `other`.
  void Merge(const LatencyHistogram& other);

  uint64_t count() const { return count_; }
  // Exact extremes and mean of the recorded values; 0 when empty.
  int64_t min() const { return count_ == 0 ? 0 : min_; }
  int64_t max() const { return count_ == 0 ? 0 : max_; }
  double mean() const;

  // The value at quantile `q` in [0, 1]: the bucket holding the sample of
  // rank ceil(q * count) (at least 1), reported as its midpoint clamped to
  // [min, max], so Quantile(1) == max(). 0 when empty.
  int64_t Quantile(double q) const;

  // About 2^45 ns (9.8 hours).
  static constexpr int64_t kMaxValueNs = int64_t{1} << 45;

 private:
  static size_t IndexOf(int64_t ns);
  // The midpoint of bucket `index`.
  static int64_t ValueOf(size_t index);

  std::vector<uint64_t> counts_;
  uint64_t count_ = 0;
  int64_t min_ = 0;
  int64_t max_ = 0;
  long double sum_ = 0;
};

}  // namespace qlinear::bench

#endif  // QLINEAR_CLIENTS_BENCH_HISTOGRAM_H_
