// Metrics: the exposition of the ModelMetrics blocks (families, labels and
// bucket bounds as docs/metrics.md names them; a series per layer and mode from
// load; request series from their first request), and reloads: a model
// reloaded with the same series continues its block, one with other series
// gets a new block whose model-level series are summed with the old ones.
#include "server/metrics.h"

#include <cstdint>
#include <limits>
#include <memory>
#include <string>

#include "absl/status/status.h"
#include "gtest/gtest.h"
#include "model/default_model.h"
#include "server/stats.h"
#include "tests/testing/exposition.h"

namespace qlinear::server {
namespace {

std::unique_ptr<model::LinearStack> SmallModel(size_t hidden) {
  model::SyntheticModelSpec spec;
  spec.widths = {64, hidden, 64};  // fc1, fc2
  spec.group_size = 32;
  auto stack = model::BuildSyntheticModel(spec);
  EXPECT_TRUE(stack.ok()) << stack.status();
  return std::move(*stack);
}

constexpr auto Value = ::qlinear::testing::ExpositionValue;

size_t Count(const std::string& text, const std::string& what) {
  size_t n = 0;
  for (size_t at = text.find(what); at != std::string::npos;
       at = text.find(what, at + 1)) {
    ++n;
  }
  return n;
}

class MetricsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto metrics = Metrics::Create(/*address=*/"", {&stats_, {}, {}});
    ASSERT_TRUE(metrics.ok()) << metrics.status();
    metrics_ = std::move(*metrics);
  }

  StatsRegistry stats_;
  std::unique_ptr<Metrics> metrics_;
};

TEST_F(MetricsTest, EveryFamilyOnceWithItsHelp) {
  const std::string text = metrics_->Scrape();
  for (const char* family :
       {"qlinear_kernel_duration_seconds histogram",
        "qlinear_act_quant_duration_seconds histogram",
        "qlinear_request_duration_seconds histogram",
        "qlinear_queue_wait_seconds histogram", "qlinear_batch_rows histogram",
        "qlinear_kernel_ops_total counter", "qlinear_requests_total counter",
        "qlinear_rejected_total counter", "qlinear_queue_rows gauge",
        "qlinear_inflight_requests gauge", "qlinear_weight_bytes gauge",
        "qlinear_model_held_bytes gauge", "qlinear_model_ready gauge",
        "qlinear_act_quant_sqnr_db histogram",
        "qlinear_act_quant_rel_max_error histogram",
        "qlinear_act_quant_outlier_ratio histogram",
        "qlinear_quality_samples_total counter",
        "qlinear_quality_samples_dropped_total counter",
        "process_cpu_seconds_total counter"}) {
    EXPECT_EQ(Count(text, std::string("# TYPE ") + family + "\n"), 1u)
        << family;
  }
  EXPECT_EQ(Count(text, "# HELP "), Count(text, "# TYPE "));
}

TEST_F(MetricsTest, LayerSeriesFromLoadAndObservations) {
  std::unique_ptr<model::LinearStack> stack = SmallModel(128);
  std::shared_ptr<ModelMetrics> m = metrics_->AddModel("m", "1", *stack);
  const std::string kernel_none =
      std::string(stack->layer(0).kernel_name(ActQuant::kNone));
  const std::string kernel_int8 =
      std::string(stack->layer(1).kernel_name(ActQuant::kInt8AsymPerToken));
  const std::string fc1_none =
      "{act_quant=\"none\",format=\"int4_opaque\",kernel=\"" + kernel_none +
      "\",layer=\"fc1\",model=\"m\"}";
  const std::string fc2_int8 =
      "{act_quant=\"int8_asym_per_token\",format=\"int4_opaque\",kernel=\"" +
      kernel_int8 + "\",layer=\"fc2\",model=\"m\"}";

  std::string text = metrics_->Scrape();
  // Every layer and mode from load, empty.
  EXPECT_EQ(Value(text, "qlinear_kernel_duration_seconds_count" + fc1_none), 0);
  EXPECT_EQ(Value(text, "qlinear_kernel_duration_seconds_count" + fc2_int8), 0);
  EXPECT_EQ(Value(text, "qlinear_kernel_ops_total{layer=\"fc2\",model=\"m\"}"),
            0);
  EXPECT_EQ(Value(text, "qlinear_queue_wait_seconds_count{model=\"m\"}"), 0);
  EXPECT_EQ(Value(text, "qlinear_model_held_bytes{model=\"m\",version=\"1\"}"),
            static_cast<double>(stack->held_bytes()));
  // No request yet: no request series.
  EXPECT_EQ(Count(text, "qlinear_request_duration_seconds_count"), 0u);

  m->ObserveLayer(0, ActQuant::kNone, 3, 250'000, 0);
  m->ObserveLayer(1, ActQuant::kInt8AsymPerToken, 2, 40'000, 5'000);
  m->ObserveBatch(5);
  m->ObserveQueueWait(7'000);
  m->ObserveRequest(Rpc::kForward, absl::StatusCode::kOk, 1'500'000);
  m->ObserveRequest(Rpc::kMatmul, absl::StatusCode::kResourceExhausted, 1'000);
  text = metrics_->Scrape();
  EXPECT_EQ(Value(text, "qlinear_kernel_duration_seconds_count" + fc1_none), 1);
  EXPECT_DOUBLE_EQ(
      Value(text, "qlinear_kernel_duration_seconds_sum" + fc1_none), 250e-6);
  EXPECT_EQ(Value(text, "qlinear_kernel_duration_seconds_bucket" +
                            fc1_none.substr(0, fc1_none.size() - 1) +
                            ",le=\"0.0002\"}"),
            0);
  EXPECT_EQ(Value(text, "qlinear_kernel_duration_seconds_bucket" +
                            fc1_none.substr(0, fc1_none.size() - 1) +
                            ",le=\"0.0005\"}"),
            1);
  EXPECT_EQ(Value(text, "qlinear_kernel_duration_seconds_count" + fc2_int8), 1);
  EXPECT_DOUBLE_EQ(
      Value(
          text,
          "qlinear_act_quant_duration_seconds_sum{layer=\"fc2\",model=\"m\"}"),
      5e-6);
  // 2 * M * N * K: fc1 is 64 -> 128, fc2 128 -> 64.
  EXPECT_EQ(Value(text, "qlinear_kernel_ops_total{layer=\"fc1\",model=\"m\"}"),
            2.0 * 3 * 128 * 64);
  EXPECT_EQ(Value(text, "qlinear_kernel_ops_total{layer=\"fc2\",model=\"m\"}"),
            2.0 * 2 * 64 * 128);
  EXPECT_EQ(Value(text, "qlinear_batch_rows_bucket{model=\"m\",le=\"4\"}"), 0);
  EXPECT_EQ(Value(text, "qlinear_batch_rows_bucket{model=\"m\",le=\"8\"}"), 1);
  EXPECT_EQ(Value(text, "qlinear_batch_rows_sum{model=\"m\"}"), 5);
  EXPECT_EQ(Value(text, "qlinear_queue_wait_seconds_count{model=\"m\"}"), 1);
  EXPECT_EQ(Value(text,
                  "qlinear_request_duration_seconds_count{code=\"OK\","
                  "model=\"m\",rpc=\"Forward\"}"),
            1);
  EXPECT_EQ(Value(text,
                  "qlinear_request_duration_seconds_count{code=\"RESOURCE_"
                  "EXHAUSTED\",model=\"m\",rpc=\"Matmul\"}"),
            1);
  EXPECT_EQ(Count(text, "qlinear_request_duration_seconds_count"), 2u);
}

TEST_F(MetricsTest, QualitySeriesFromLoadClampedObservations) {
  std::shared_ptr<ModelMetrics> m =
      metrics_->AddModel("m", "1", *SmallModel(32));
  const std::string fc1 = "{layer=\"fc1\",model=\"m\"}";
  std::string text = metrics_->Scrape();
  EXPECT_EQ(Value(text, "qlinear_act_quant_sqnr_db_count" + fc1), 0);
  EXPECT_EQ(Value(text, "qlinear_quality_samples_total{model=\"m\"}"), 0);
  EXPECT_EQ(Value(text, "qlinear_quality_samples_dropped_total{model=\"m\"}"),
            0);

  m->ObserveQualityRow(0, 27.5, 0.003, 4.5);
  // An exact row counts as 200 dB, a negative SQNR as 0 dB; errors above
  // 1000 count as 1000.
  m->ObserveQualityRow(0, std::numeric_limits<double>::infinity(), 0, 1);
  m->ObserveQualityRow(0, -3, std::numeric_limits<double>::infinity(), 2000);
  m->CountQualitySample();
  m->CountQualityDropped();
  m->CountQualityDropped();
  text = metrics_->Scrape();
  const std::string fc1_le = "{layer=\"fc1\",model=\"m\",le=";
  EXPECT_EQ(Value(text, "qlinear_act_quant_sqnr_db_count" + fc1), 3);
  EXPECT_DOUBLE_EQ(Value(text, "qlinear_act_quant_sqnr_db_sum" + fc1), 227.5);
  EXPECT_EQ(Value(text, "qlinear_act_quant_sqnr_db_bucket" + fc1_le + "\"5\"}"),
            1);
  EXPECT_EQ(
      Value(text, "qlinear_act_quant_sqnr_db_bucket" + fc1_le + "\"25\"}"), 1);
  EXPECT_EQ(
      Value(text, "qlinear_act_quant_sqnr_db_bucket" + fc1_le + "\"30\"}"), 2);
  EXPECT_EQ(
      Value(text, "qlinear_act_quant_sqnr_db_bucket" + fc1_le + "\"100\"}"), 2);
  EXPECT_DOUBLE_EQ(Value(text, "qlinear_act_quant_rel_max_error_sum" + fc1),
                   1000.003);
  EXPECT_EQ(Value(text, "qlinear_act_quant_rel_max_error_bucket" + fc1_le +
                            "\"0.005\"}"),
            2);
  EXPECT_DOUBLE_EQ(Value(text, "qlinear_act_quant_outlier_ratio_sum" + fc1),
                   2005.5);
  EXPECT_EQ(
      Value(text, "qlinear_act_quant_outlier_ratio_bucket" + fc1_le + "\"1\"}"),
      1);
  EXPECT_EQ(
      Value(text, "qlinear_act_quant_outlier_ratio_bucket" + fc1_le + "\"6\"}"),
      2);
  EXPECT_EQ(Value(text, "qlinear_quality_samples_total{model=\"m\"}"), 1);
  EXPECT_EQ(Value(text, "qlinear_quality_samples_dropped_total{model=\"m\"}"),
            2);
}

TEST_F(MetricsTest, AReloadWithTheSameSeriesContinuesItsBlock) {
  std::unique_ptr<model::LinearStack> stack = SmallModel(128);
  std::shared_ptr<ModelMetrics> v1 = metrics_->AddModel("m", "1", *stack);
  v1->ObserveBatch(1);
  std::shared_ptr<ModelMetrics> v2 = metrics_->AddModel("m", "2", *stack);
  EXPECT_EQ(v1, v2);
  v2->ObserveBatch(1);
  const std::string text = metrics_->Scrape();
  EXPECT_EQ(Value(text, "qlinear_batch_rows_count{model=\"m\"}"), 2);
  EXPECT_EQ(Count(text, "qlinear_batch_rows_count{"), 1u);
  // Another model never shares a block.
  EXPECT_NE(metrics_->AddModel("other", "1", *stack), v1);
}

TEST_F(MetricsTest, AReloadWithOtherSeriesSumsTheModelSeries) {
  std::unique_ptr<model::LinearStack> small = SmallModel(128);
  std::unique_ptr<model::LinearStack> wide = SmallModel(256);
  std::shared_ptr<ModelMetrics> v1 = metrics_->AddModel("m", "1", *small);
  v1->ObserveQueueWait(1'000);
  v1->ObserveLayer(0, ActQuant::kNone, 1, 1'000, 0);
  v1->ObserveRequest(Rpc::kForward, absl::StatusCode::kOk, 2'000);
  metrics_->RemoveModel("m", "1");
  // Same layer names and kernels, other shapes (ops per row): a new block.
  std::shared_ptr<ModelMetrics> v2 = metrics_->AddModel("m", "2", *wide);
  EXPECT_NE(v1, v2);
  v2->ObserveQueueWait(3'000);
  v2->ObserveLayer(0, ActQuant::kNone, 1, 1'000, 0);
  v2->ObserveRequest(Rpc::kForward, absl::StatusCode::kOk, 2'000);
  const std::string text = metrics_->Scrape();
  EXPECT_EQ(Value(text, "qlinear_queue_wait_seconds_count{model=\"m\"}"), 2);
  EXPECT_DOUBLE_EQ(Value(text, "qlinear_queue_wait_seconds_sum{model=\"m\"}"),
                   4e-6);
  EXPECT_EQ(Count(text, "qlinear_queue_wait_seconds_count{"), 1u);
  EXPECT_EQ(Value(text,
                  "qlinear_request_duration_seconds_count{code=\"OK\","
                  "model=\"m\",rpc=\"Forward\"}"),
            2);
  // The counter continues: both shapes' ops.
  EXPECT_EQ(Value(text, "qlinear_kernel_ops_total{layer=\"fc1\",model=\"m\"}"),
            2.0 * 64 * 128 + 2.0 * 64 * 256);
  // One series per label set.
  EXPECT_EQ(Count(text, "qlinear_kernel_ops_total{layer=\"fc1\""), 1u);
  // Only the serving version is ready.
  EXPECT_EQ(Value(text, "qlinear_model_ready{model=\"m\",version=\"2\"}"), 1);
  EXPECT_EQ(Value(text, "qlinear_model_ready{model=\"m\",version=\"1\"}"), -1);
}

}  // namespace
}  // namespace qlinear::server
