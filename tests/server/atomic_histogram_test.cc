// AtomicHistogram and HistogramBounds: bucket placement at and around the
// bounds (the `le` rule), count and sum, exact totals under concurrent
// observers, and an exposition identical to prometheus-cpp's Histogram for
// the same samples.
#include "server/atomic_histogram.h"

#include <prometheus/family.h>
#include <prometheus/histogram.h>
#include <prometheus/registry.h>
#include <prometheus/text_serializer.h>

#include <cstdint>
#include <limits>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "gtest/gtest.h"
#include "server/metrics.h"

namespace qlinear::server {
namespace {

TEST(HistogramBoundsTest, DurationBucketsPlaceValuesByTheLeRule) {
  const HistogramBounds& b = DurationBounds();
  ASSERT_EQ(b.size(), 22u);
  EXPECT_EQ(b.unit(), 1e-9);
  EXPECT_EQ(b.BucketOf(0), 0u);
  EXPECT_EQ(b.BucketOf(1000), 0u);  // 1 us: le="1e-06"
  EXPECT_EQ(b.BucketOf(1001), 1u);
  EXPECT_EQ(b.BucketOf(2000), 1u);
  EXPECT_EQ(b.BucketOf(2001), 2u);
  EXPECT_EQ(b.BucketOf(10'000), 3u);  // le="9.999999999999999e-06": 10 us
  EXPECT_EQ(b.BucketOf(10'001), 4u);
  EXPECT_EQ(b.BucketOf(500'000), 8u);          // 500 us: le="0.0005"
  EXPECT_EQ(b.BucketOf(10'000'000'000), 21u);  // 10 s, the last bound
  EXPECT_EQ(b.BucketOf(10'000'000'001), 22u);  // +Inf
  EXPECT_EQ(b.BucketOf(std::numeric_limits<uint64_t>::max()), 22u);
}

TEST(HistogramBoundsTest, BatchRowBucketsArePowersOfTwo) {
  const HistogramBounds& b = BatchRowsBounds();
  ASSERT_EQ(b.size(), 17u);
  EXPECT_EQ(b.unit(), 1.0);
  EXPECT_EQ(b.BucketOf(1), 0u);
  EXPECT_EQ(b.BucketOf(2), 1u);
  EXPECT_EQ(b.BucketOf(3), 2u);
  EXPECT_EQ(b.BucketOf(4), 2u);
  EXPECT_EQ(b.BucketOf(65536), 16u);
  EXPECT_EQ(b.BucketOf(65537), 17u);
}

TEST(HistogramBoundsTest, KeepsTheGivenBoundsForTheExposition) {
  const HistogramBounds b({0.5, 1.5, 3}, /*unit=*/0.5);
  EXPECT_EQ(b.upper(), (std::vector<double>{0.5, 1.5, 3}));
  EXPECT_EQ(b.BucketOf(1), 0u);  // 0.5
  EXPECT_EQ(b.BucketOf(2), 1u);  // 1.0 <= 1.5
  EXPECT_EQ(b.BucketOf(3), 1u);  // 1.5
  EXPECT_EQ(b.BucketOf(6), 2u);  // 3
  EXPECT_EQ(b.BucketOf(7), 3u);  // +Inf
}

TEST(AtomicHistogramTest, CountsAndSums) {
  const HistogramBounds& b = DurationBounds();
  AtomicHistogram h;
  EXPECT_EQ(h.Snapshot().count(), 0u);
  EXPECT_EQ(h.Snapshot().sum, 0u);
  for (uint64_t ns :
       std::vector<uint64_t>{500, 1000, 1500, 700'000, 20'000'000'000})
    h.Observe(b, ns);
  const HistogramSnapshot s = h.Snapshot();
  EXPECT_EQ(s.count(), 5u);
  EXPECT_EQ(s.sum, 500u + 1000u + 1500u + 700'000u + 20'000'000'000u);
  EXPECT_EQ(s.counts[0], 2u);
  EXPECT_EQ(s.counts[1], 1u);
  EXPECT_EQ(s.counts[b.BucketOf(700'000)], 1u);
  EXPECT_EQ(s.counts[22], 1u);

  const prometheus::ClientMetric m =
      HistogramMetric(b, s, {{"model", "m"}, {"layer", "fc1"}});
  ASSERT_EQ(m.label.size(), 2u);
  EXPECT_EQ(m.label[0].name, "model");
  EXPECT_EQ(m.label[1].value, "fc1");
  EXPECT_EQ(m.histogram.sample_count, 5u);
  EXPECT_DOUBLE_EQ(m.histogram.sample_sum, 20.000703);
  ASSERT_EQ(m.histogram.bucket.size(), 23u);
  EXPECT_EQ(m.histogram.bucket[0].cumulative_count, 2u);
  EXPECT_EQ(m.histogram.bucket[1].cumulative_count, 3u);
  EXPECT_EQ(m.histogram.bucket[21].cumulative_count, 4u);
  EXPECT_EQ(m.histogram.bucket[22].cumulative_count, 5u);
  EXPECT_EQ(m.histogram.bucket[22].upper_bound,
            std::numeric_limits<double>::infinity());
}

TEST(AtomicHistogramTest, SnapshotsAddUp) {
  const HistogramBounds& b = BatchRowsBounds();
  AtomicHistogram x, y;
  x.Observe(b, 1);
  x.Observe(b, 8);
  y.Observe(b, 8);
  HistogramSnapshot s = x.Snapshot();
  s += y.Snapshot();
  EXPECT_EQ(s.count(), 3u);
  EXPECT_EQ(s.sum, 17u);
  EXPECT_EQ(s.counts[3], 2u);
}

TEST(AtomicHistogramTest, ConcurrentObserversAreExact) {
  const HistogramBounds& b = DurationBounds();
  AtomicHistogram h;
  constexpr int kThreads = 4;
  constexpr uint64_t kPerThread = 100'000;
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&h, &b, t] {
      for (uint64_t i = 0; i < kPerThread; ++i)
        h.Observe(b, 1000 * static_cast<uint64_t>(t + 1));
    });
  }
  // A reader alongside: the count never exceeds what has been observed.
  for (int i = 0; i < 100; ++i)
    EXPECT_LE(h.Snapshot().count(), kThreads * kPerThread);
  for (std::thread& t : threads) t.join();
  const HistogramSnapshot s = h.Snapshot();
  EXPECT_EQ(s.count(), kThreads * kPerThread);
  EXPECT_EQ(s.sum, kPerThread * 1000 * (1 + 2 + 3 + 4));
  EXPECT_EQ(s.counts[0], kPerThread);      // 1 us
  EXPECT_EQ(s.counts[1], kPerThread);      // 2 us
  EXPECT_EQ(s.counts[2], 2 * kPerThread);  // 3 and 4 us: le 5 us
}

// The text of a family, without its _sum line (prometheus-cpp sums doubles,
// we sum integers; compared apart).
std::string WithoutSum(const std::string& text, double* sum) {
  std::istringstream in(text);
  std::string out;
  for (std::string line; std::getline(in, line);) {
    const size_t at = line.find("_sum");
    if (at != std::string::npos && line.rfind('#', 0) != 0) {
      *sum = std::stod(line.substr(line.rfind(' ') + 1));
      continue;
    }
    out += line + "\n";
  }
  return out;
}

TEST(AtomicHistogramTest, ExpositionMatchesPrometheusCpp) {
  // Not exactly at a bound: there prometheus-cpp compares the double
  // seconds with bounds that carry the rounding of 1e-6 * 10 * ...
  // (9.999999999999999e-06), and counts 10 us above le="1e-05"'s bound,
  // while we compare integer nanoseconds and count it at or below.
  const std::vector<uint64_t> samples_ns = {
      0,       999,       1001,          9'999,          10'001,        123'456,
      500'001, 1'999'999, 9'999'999'999, 10'000'000'001, 77'000'000'000};
  prometheus::Registry registry;
  auto& family = prometheus::BuildHistogram()
                     .Name("qlinear_kernel_duration_seconds")
                     .Help("help")
                     .Register(registry);
  const std::vector<double>& bounds = DurationBounds().upper();
  prometheus::Histogram& reference = family.Add(
      {{"model", "m"}, {"layer", "fc1"}},
      prometheus::Histogram::BucketBoundaries(bounds.begin(), bounds.end()));
  AtomicHistogram ours;
  for (uint64_t ns : samples_ns) {
    reference.Observe(static_cast<double>(ns) * 1e-9);
    ours.Observe(DurationBounds(), ns);
  }
  prometheus::MetricFamily ours_family;
  ours_family.name = "qlinear_kernel_duration_seconds";
  ours_family.help = "help";
  ours_family.type = prometheus::MetricType::Histogram;
  ours_family.metric.push_back(HistogramMetric(
      DurationBounds(), ours.Snapshot(), {{"layer", "fc1"}, {"model", "m"}}));

  const prometheus::TextSerializer serializer;
  double reference_sum = 0, ours_sum = 0;
  const std::string reference_text =
      WithoutSum(serializer.Serialize(registry.Collect()), &reference_sum);
  const std::string ours_text =
      WithoutSum(serializer.Serialize({ours_family}), &ours_sum);
  EXPECT_EQ(ours_text, reference_text);
  EXPECT_NE(ours_text.find("le=\"9.999999999999999e-06\""), std::string::npos);
  EXPECT_NE(ours_text.find("le=\"+Inf\"} 11"), std::string::npos);
  EXPECT_NEAR(ours_sum, reference_sum, 1e-9 * reference_sum);
}

}  // namespace
}  // namespace qlinear::server
