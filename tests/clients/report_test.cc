// qlinear-bench's outputs: perf_analyzer's CSV columns, the JSON report and
// the terminal table.
#include "clients/bench/report.h"

#include <cmath>
#include <string>
#include <vector>

#include "absl/strings/str_split.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace qlinear::bench {
namespace {

using ::testing::HasSubstr;
using ::testing::StartsWith;

PointSummary Point() {
  PointSummary p;
  p.mode = "closed";
  p.concurrency = 16;
  p.seconds = 10;
  p.requests = 1000;
  p.ok = 998;
  p.errors = 2;
  p.codes[0] = 998;
  p.codes[8] = 2;  // RESOURCE_EXHAUSTED
  p.requests_per_second = 99.8;
  p.rows_per_second = 99.8;
  p.gops = 8.4;
  p.p50 = 0.002;
  p.p90 = 0.003;
  p.p95 = 0.004;
  p.p99 = 0.005;
  p.p999 = 0.006;
  p.mean = 0.0025;
  p.max = 0.007;
  p.batch_rows_mean = 10.5;
  p.batch_rows_max = 16;
  p.batch_rows_source = "timings";
  p.server_queue = 0.001;
  p.server_compute_input = 0.00001;
  p.server_compute_infer = 0.0012;
  p.server_compute_output = 0.00002;
  p.request_bytes = 4120;
  p.response_bytes = 4288;
  return p;
}

TEST(CsvReportTest, PerfAnalyzerColumnsFirst) {
  const std::string csv = CsvReport({Point()}, /*open_loop=*/false);
  const std::vector<std::string> lines = absl::StrSplit(csv, '\n');
  ASSERT_GE(lines.size(), 2u);
  EXPECT_THAT(
      lines[0],
      StartsWith("Concurrency,Inferences/Second,Client Send,Network+Server "
                 "Send/Recv,Server Queue,Server Compute Input,Server Compute "
                 "Infer,Server Compute Output,Client Recv,p50 latency,p90 "
                 "latency,p95 latency,p99 latency,Avg latency,request/"
                 "response,response wait,"));
  const std::vector<std::string> header = absl::StrSplit(lines[0], ',');
  const std::vector<std::string> row = absl::StrSplit(lines[1], ',');
  ASSERT_EQ(header.size(), row.size());
  auto column = [&](const std::string& name) {
    for (size_t i = 0; i < header.size(); ++i) {
      if (header[i] == name) return row[i];
    }
    return std::string("missing");
  };
  EXPECT_EQ(column("Concurrency"), "16");
  EXPECT_EQ(column("Inferences/Second"), "99.8");
  EXPECT_EQ(column("p99 latency"), "5000");  // microseconds
  EXPECT_EQ(column("Server Queue"), "1000");
  EXPECT_EQ(column("Server Compute Infer"), "1200");
  // Avg latency minus the server's queue and compute: 2500 - 2230 us.
  EXPECT_EQ(column("Network+Server Send/Recv"), "270");
  EXPECT_EQ(column("Client Send"), "0");
  EXPECT_EQ(column("Errors"), "2");
  EXPECT_EQ(column("Batch Rows Mean"), "10.5");
  EXPECT_EQ(column("Batch Rows Max"), "16");
}

TEST(CsvReportTest, OpenLoopUsesRequestRate) {
  PointSummary p = Point();
  p.mode = "open";
  p.target_rate = 250;
  p.server_queue = NAN;  // no server statistics: zeros
  p.server_compute_input = NAN;
  p.server_compute_infer = NAN;
  p.server_compute_output = NAN;
  const std::string csv = CsvReport({p}, /*open_loop=*/true);
  EXPECT_THAT(csv, StartsWith("Request Rate,Inferences/Second,"));
  EXPECT_THAT(csv, HasSubstr("\n250,99.8,0,0,0,0,0,0,0,2000,"));
}

TEST(JsonReportTest, HoldsRunPointsAndAssertions) {
  RunInfo run;
  run.model = "default";
  run.layers = {"fc1", "fc2"};
  run.ops_per_request = 2e6;
  AssertionResult a;
  a.text = "p99<5ms";
  a.passed = false;
  a.detail = "5.000ms at concurrency 16 (missed)";
  const std::string json = JsonReport(run, {Point()}, {a});
  EXPECT_THAT(json, HasSubstr("\"layers\": [\"fc1\", \"fc2\"]"));
  EXPECT_THAT(json, HasSubstr("\"codes\": {\"OK\": 998, "
                              "\"RESOURCE_EXHAUSTED\": 2}"));
  EXPECT_THAT(json, HasSubstr("\"p99.9\": 0.006"));
  EXPECT_THAT(json, HasSubstr("\"batch_rows\": {\"mean\": 10.5, \"max\": 16, "
                              "\"source\": \"timings\"}"));
  EXPECT_THAT(json, HasSubstr("\"assert\": \"p99<5ms\", \"passed\": false"));
  EXPECT_THAT(json, HasSubstr("\"capacity_rps\": null"));
  // Unknown values are null, not NaN.
  EXPECT_THAT(json, HasSubstr("\"total_seconds\": null"));
}

TEST(TableTest, RowAndNotes) {
  const PointSummary p = Point();
  EXPECT_THAT(TableHeader(false), StartsWith("conc "));
  EXPECT_THAT(TableHeader(true), StartsWith("rate "));
  const std::string row = TableRow(p);
  EXPECT_THAT(row, StartsWith("16 "));
  EXPECT_THAT(row, HasSubstr("5.000"));
  EXPECT_THAT(row, HasSubstr("10.5/16"));
  EXPECT_THAT(PointNotes(p), HasSubstr("OK=998 RESOURCE_EXHAUSTED=2"));
}

}  // namespace
}  // namespace qlinear::bench
