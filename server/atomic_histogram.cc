#include "server/atomic_histogram.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <utility>

#include "common/check.h"

namespace qlinear::server {

HistogramBounds::HistogramBounds(std::vector<double> upper, double unit)
    : upper_(std::move(upper)), unit_(unit) {
  QL_CHECK(unit_ > 0);
  QL_CHECK(upper_.size() <= kMaxBounds);
  size_ = upper_.size();
  for (size_t i = 0; i < size_; ++i) {
    const double units = std::round(upper_[i] / unit_);
    QL_CHECK(upper_[i] > 0 && units < 1.8e19);
    upper_units_[i] = static_cast<uint64_t>(units);
    QL_CHECK(i == 0 || upper_units_[i] > upper_units_[i - 1]);
  }
}

size_t HistogramBounds::BucketOf(uint64_t value) const {
  // The first bound >= value (the `le` rule), or size_ for +Inf.
  const auto it = std::lower_bound(upper_units_.begin(),
                                   upper_units_.begin() + size_, value);
  return static_cast<size_t>(it - upper_units_.begin());
}

HistogramSnapshot& HistogramSnapshot::operator+=(
    const HistogramSnapshot& other) {
  for (size_t i = 0; i < counts.size(); ++i) counts[i] += other.counts[i];
  sum += other.sum;
  return *this;
}

uint64_t HistogramSnapshot::count() const {
  uint64_t n = 0;
  for (uint64_t c : counts) n += c;
  return n;
}

HistogramSnapshot AtomicHistogram::Snapshot() const {
  HistogramSnapshot s;
  for (size_t i = 0; i < counts_.size(); ++i)
    s.counts[i] = counts_[i].load(std::memory_order_relaxed);
  s.sum = sum_.load(std::memory_order_relaxed);
  return s;
}

prometheus::ClientMetric HistogramMetric(
    const HistogramBounds& bounds, const HistogramSnapshot& snapshot,
    std::vector<prometheus::ClientMetric::Label> labels) {
  prometheus::ClientMetric m;
  m.label = std::move(labels);
  uint64_t cumulative = 0;
  m.histogram.bucket.reserve(bounds.size() + 1);
  for (size_t i = 0; i <= bounds.size(); ++i) {
    cumulative += snapshot.counts[i];
    prometheus::ClientMetric::Bucket b;
    b.cumulative_count = cumulative;
    b.upper_bound = i < bounds.size() ? bounds.upper()[i]
                                      : std::numeric_limits<double>::infinity();
    m.histogram.bucket.push_back(b);
  }
  m.histogram.sample_count = cumulative;
  m.histogram.sample_sum = static_cast<double>(snapshot.sum) * bounds.unit();
  return m;
}

}  // namespace qlinear::server
