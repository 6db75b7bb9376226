// --assert parsing and evaluation.
#include "clients/bench/assertions.h"

#include <cmath>

#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace qlinear::bench {
namespace {

using ::testing::HasSubstr;

TEST(ParseAssertionTest, LatencyWithUnits) {
  absl::StatusOr<Assertion> a = ParseAssertion("p99<5ms");
  ASSERT_TRUE(a.ok()) << a.status();
  EXPECT_EQ(a->metric, "p99");
  EXPECT_EQ(a->op, Assertion::Op::kLess);
  EXPECT_DOUBLE_EQ(a->value, 0.005);
  EXPECT_TRUE(a->is_latency);

  a = ParseAssertion("p999 <= 250us");
  ASSERT_TRUE(a.ok()) << a.status();
  EXPECT_EQ(a->metric, "p99.9");
  EXPECT_EQ(a->op, Assertion::Op::kLessEqual);
  EXPECT_DOUBLE_EQ(a->value, 250e-6);

  a = ParseAssertion("max<1.5s");
  ASSERT_TRUE(a.ok());
  EXPECT_DOUBLE_EQ(a->value, 1.5);
  a = ParseAssertion("mean>=800ns");
  ASSERT_TRUE(a.ok());
  EXPECT_DOUBLE_EQ(a->value, 800e-9);
}

TEST(ParseAssertionTest, CountsAndRates) {
  absl::StatusOr<Assertion> a = ParseAssertion("errors==0");
  ASSERT_TRUE(a.ok());
  EXPECT_EQ(a->metric, "errors");
  EXPECT_EQ(a->op, Assertion::Op::kEqual);
  EXPECT_FALSE(a->is_latency);
  a = ParseAssertion("batch_rows>1");
  ASSERT_TRUE(a.ok());
  EXPECT_EQ(a->op, Assertion::Op::kGreater);
  EXPECT_DOUBLE_EQ(a->value, 1);
  a = ParseAssertion("rps!=0");
  ASSERT_TRUE(a.ok());
  EXPECT_EQ(a->op, Assertion::Op::kNotEqual);
  a = ParseAssertion("throughput>=100");
  ASSERT_TRUE(a.ok());
  EXPECT_EQ(a->metric, "rps");
}

TEST(ParseAssertionTest, RejectsWithReasons) {
  EXPECT_THAT(ParseAssertion("p99 5ms").status().message(),
              HasSubstr("no operator"));
  EXPECT_THAT(ParseAssertion("p42<5ms").status().message(),
              HasSubstr("unknown metric 'p42'"));
  EXPECT_THAT(ParseAssertion("p99<5").status().message(),
              HasSubstr("a latency needs a unit"));
  EXPECT_THAT(ParseAssertion("p99<5min").status().message(),
              HasSubstr("unknown unit 'min'"));
  EXPECT_THAT(ParseAssertion("errors==0ms").status().message(),
              HasSubstr("takes no unit"));
  EXPECT_THAT(ParseAssertion("errors==").status().message(),
              HasSubstr("no threshold"));
  EXPECT_THAT(ParseAssertion("errors==x").status().message(),
              HasSubstr("not a number"));
  EXPECT_THAT(ParseAssertion("errors=!0").status().message(),
              HasSubstr("bad operator"));
}

TEST(MetricValueTest, ReadsThePoint) {
  PointSummary p;
  p.ok = 90;
  p.requests = 100;
  p.errors = 10;
  p.client_dropped = 0;
  p.p99 = 0.004;
  p.requests_per_second = 123;
  EXPECT_DOUBLE_EQ(MetricValue(p, "p99"), 0.004);
  EXPECT_DOUBLE_EQ(MetricValue(p, "errors"), 10);
  EXPECT_DOUBLE_EQ(MetricValue(p, "error_rate"), 0.1);
  EXPECT_DOUBLE_EQ(MetricValue(p, "rps"), 123);
  // Not measured: never holds.
  EXPECT_TRUE(std::isnan(MetricValue(p, "batch_rows")));
  EXPECT_FALSE(Holds(*ParseAssertion("batch_rows>1"), NAN));
  // No successful request: no latency.
  p.ok = 0;
  EXPECT_TRUE(std::isnan(MetricValue(p, "p99")));
}

TEST(HoldsTest, EveryOperator) {
  EXPECT_TRUE(Holds(*ParseAssertion("p99<5ms"), 0.0049));
  EXPECT_FALSE(Holds(*ParseAssertion("p99<5ms"), 0.005));
  EXPECT_TRUE(Holds(*ParseAssertion("p99<=5ms"), 0.005));
  EXPECT_TRUE(Holds(*ParseAssertion("batch_rows>1"), 1.5));
  EXPECT_FALSE(Holds(*ParseAssertion("batch_rows>1"), 1.0));
  EXPECT_TRUE(Holds(*ParseAssertion("gops>=2"), 2));
  EXPECT_TRUE(Holds(*ParseAssertion("errors==0"), 0));
  EXPECT_FALSE(Holds(*ParseAssertion("errors==0"), 1));
  EXPECT_TRUE(Holds(*ParseAssertion("ok!=0"), 3));
}

TEST(FormatMetricTest, LatencyUnits) {
  const Assertion a = *ParseAssertion("p99<5ms");
  EXPECT_EQ(FormatMetric(a, 0.0032), "3.200ms");
  EXPECT_EQ(FormatMetric(a, 0.00025), "250.0us");
  EXPECT_EQ(FormatMetric(a, NAN), "not measured");
  EXPECT_EQ(FormatMetric(*ParseAssertion("errors==0"), 12), "12");
}

}  // namespace
}  // namespace qlinear::bench
