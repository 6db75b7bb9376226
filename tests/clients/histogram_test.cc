// LatencyHistogram: exact small values, quantiles within the bucket
// precision, exact extremes and mean, merging.
#include "clients/bench/histogram.h"

#include <cmath>
#include <cstdint>

#include "gtest/gtest.h"

namespace qlinear::bench {
namespace {

TEST(LatencyHistogramTest, EmptyReportsZeros) {
  LatencyHistogram h;
  EXPECT_EQ(h.count(), 0u);
  EXPECT_EQ(h.Quantile(0.5), 0);
  EXPECT_EQ(h.min(), 0);
  EXPECT_EQ(h.max(), 0);
  EXPECT_EQ(h.mean(), 0.0);
}

TEST(LatencyHistogramTest, SmallValuesAreExact) {
  LatencyHistogram h;
  for (int64_t v = 1; v <= 100; ++v) h.Record(v);
  EXPECT_EQ(h.Quantile(0.5), 50);
  EXPECT_EQ(h.Quantile(0.99), 99);  // rank 99, not 100 (0.99 * 100 rounding)
  EXPECT_EQ(h.Quantile(0.9), 90);
  EXPECT_EQ(h.Quantile(1.0), 100);
  EXPECT_EQ(h.Quantile(0.0), 1);
  EXPECT_DOUBLE_EQ(h.mean(), 50.5);
}

TEST(LatencyHistogramTest, QuantilesWithinBucketPrecision) {
  LatencyHistogram h;
  // 1 us .. 100 ms in 1 us steps: quantile q is about q * 100 ms.
  for (int64_t us = 1; us <= 100000; ++us) h.Record(us * 1000);
  for (double q : {0.5, 0.9, 0.95, 0.99, 0.999}) {
    const double want = q * 100000 * 1000;
    EXPECT_NEAR(static_cast<double>(h.Quantile(q)), want, want * 0.002)
        << "q=" << q;
  }
  EXPECT_EQ(h.max(), 100000 * 1000);
  EXPECT_EQ(h.min(), 1000);
  EXPECT_EQ(h.Quantile(1.0), h.max());
}

TEST(LatencyHistogramTest, ClampsOutOfRangeValues) {
  LatencyHistogram h;
  h.Record(-5);
  h.Record(LatencyHistogram::kMaxValueNs * 4);
  EXPECT_EQ(h.min(), 0);
  EXPECT_EQ(h.max(), LatencyHistogram::kMaxValueNs);
  EXPECT_EQ(h.Quantile(1.0), LatencyHistogram::kMaxValueNs);
}

TEST(LatencyHistogramTest, MergeAddsSamples) {
  LatencyHistogram a, b;
  for (int i = 0; i < 10; ++i) a.Record(1000);
  for (int i = 0; i < 30; ++i) b.Record(5000000);
  a.Merge(b);
  EXPECT_EQ(a.count(), 40u);
  EXPECT_EQ(a.min(), 1000);
  EXPECT_EQ(a.max(), 5000000);
  EXPECT_EQ(a.Quantile(0.25), 1000);
  EXPECT_NEAR(static_cast<double>(a.Quantile(0.5)), 5e6, 5e6 * 0.002);
}

}  // namespace
}  // namespace qlinear::bench
