#include "clients/bench/histogram.h"

#include <algorithm>
#include <cmath>

namespace qlinear::bench {
namespace {

// 2^kSubBits buckets per octave above the exact range [0, 2^(kSubBits+1)).
constexpr int kSubBits = 9;
constexpr int64_t kSubCount = int64_t{1} << kSubBits;  // 512
constexpr int64_t kExactLimit = kSubCount * 2;         // 1024

int FloorLog2(uint64_t v) { return 63 - __builtin_clzll(v); }

}  // namespace

LatencyHistogram::LatencyHistogram() : counts_(IndexOf(kMaxValueNs) + 1, 0) {}

size_t LatencyHistogram::IndexOf(int64_t ns) {
  if (ns < kExactLimit) return static_cast<size_t>(ns);
  const int shift = FloorLog2(static_cast<uint64_t>(ns)) - kSubBits;
  return static_cast<size_t>((shift + 1) * kSubCount + (ns >> shift) -
                             kSubCount);
}

int64_t LatencyHistogram::ValueOf(size_t index) {
  const int64_t i = static_cast<int64_t>(index);
  if (i < kExactLimit) return i;
  const int shift = static_cast<int>(i / kSubCount) - 1;
  const int64_t low = (i % kSubCount + kSubCount) << shift;
  return low + ((int64_t{1} << shift) >> 1);
}

void LatencyHistogram::Record(int64_t ns) {
  ns = std::clamp<int64_t>(ns, 0, kMaxValueNs);
  ++counts_[IndexOf(ns)];
  if (count_ == 0 || ns < min_) min_ = ns;
  if (count_ == 0 || ns > max_) max_ = ns;
  ++count_;
  sum_ += ns;
}

void LatencyHistogram::Merge(const LatencyHistogram& other) {
  if (other.count_ == 0) return;
  for (size_t i = 0; i < counts_.size(); ++i) counts_[i] += other.counts_[i];
  min_ = count_ == 0 ? other.min_ : std::min(min_, other.min_);
  max_ = count_ == 0 ? other.max_ : std::max(max_, other.max_);
  count_ += other.count_;
  sum_ += other.sum_;
}

double LatencyHistogram::mean() const {
  return count_ == 0 ? 0.0 : static_cast<double>(sum_ / count_);
}

int64_t LatencyHistogram::Quantile(double q) const {
  if (count_ == 0) return 0;
  q = std::clamp(q, 0.0, 1.0);
  const uint64_t rank = std::max<uint64_t>(
      1, static_cast<uint64_t>(std::ceil(
             // Shave the rounding error of q (0.99 * 100 may be 99.000...1).
             q * static_cast<double>(count_) * (1.0 - 1e-12))));
  if (rank >= count_) return max_;
  uint64_t seen = 0;
  for (size_t i = 0; i < counts_.size(); ++i) {
    seen += counts_[i];
    if (seen >= rank) return std::clamp(ValueOf(i), min_, max_);
  }
  return max_;
}

}  // namespace qlinear::bench
