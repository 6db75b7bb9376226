// Quality telemetry: CompareActQuant against an offline computation on the
// same inputs (layer by layer through LinearStack::Forward, SQNR in double),
// a planted outlier, the sampler's single slot and its drop count, and the
// sampling policy.
#include "server/quality_sampler.h"

#include <atomic>
#include <cmath>
#include <cstdint>
#include <memory>
#include <random>
#include <string>
#include <vector>

#include "absl/synchronization/notification.h"
#include "gtest/gtest.h"
#include "model/default_model.h"
#include "server/metrics.h"
#include "server/stats.h"
#include "tests/testing/exposition.h"

namespace qlinear::server {
namespace {

std::shared_ptr<const model::LinearStack> Model(std::vector<size_t> widths,
                                                WeightFormat format) {
  model::SyntheticModelSpec spec;
  spec.widths = std::move(widths);
  spec.format = format;
  spec.group_size = 32;
  auto stack = model::BuildSyntheticModel(spec);
  EXPECT_TRUE(stack.ok()) << stack.status();
  return std::shared_ptr<const model::LinearStack>(std::move(*stack));
}

std::vector<float> Gaussian(size_t n, uint32_t seed) {
  std::mt19937 rng(seed);
  std::normal_distribution<float> dist(0.0f, 1.0f);
  std::vector<float> v(n);
  for (float& x : v) x = dist(rng);
  return v;
}

// SQNR in dB of `out` against `ref`, in double.
double OfflineSqnr(const float* out, const float* ref, size_t n) {
  double signal = 0, noise = 0;
  for (size_t i = 0; i < n; ++i) {
    signal += static_cast<double>(ref[i]) * ref[i];
    noise += (static_cast<double>(out[i]) - ref[i]) *
             (static_cast<double>(out[i]) - ref[i]);
  }
  return 10 * std::log10(signal / noise);
}

constexpr auto Value = ::qlinear::testing::ExpositionValue;

// Layer by layer with Forward, the chain in `chain` mode, against
// CompareActQuant: per row and over the whole output, within 0.01 dB.
void ExpectMatchesOffline(const model::LinearStack& stack, ActQuant chain) {
  const size_t m = 3;
  QualityInput input;
  input.begin = 0;
  input.end = stack.num_layers();
  input.chain = chain;
  input.rows = m;
  input.input = Gaussian(m * stack.layer(0).k(), 7);
  auto got = CompareActQuant(stack, input, nullptr);
  ASSERT_TRUE(got.ok()) << got.status();
  ASSERT_EQ(got->size(), stack.num_layers());

  std::vector<float> x = input.input;
  for (size_t layer = 0; layer < stack.num_layers(); ++layer) {
    SCOPED_TRACE(layer);
    std::vector<float> int8, none;
    ASSERT_TRUE(stack
                    .Forward(x.data(), m, layer, layer + 1,
                             ActQuant::kInt8AsymPerToken, &int8)
                    .ok());
    ASSERT_TRUE(
        stack.Forward(x.data(), m, layer, layer + 1, ActQuant::kNone, &none)
            .ok());
    const size_t n = stack.layer(layer).n();
    const LayerQuality& lq = (*got)[layer];
    EXPECT_EQ(lq.layer, layer);
    ASSERT_EQ(lq.rows.size(), m);
    for (size_t r = 0; r < m; ++r) {
      const double offline =
          OfflineSqnr(int8.data() + r * n, none.data() + r * n, n);
      EXPECT_GT(offline, 10.0);  // a real, finite figure
      EXPECT_NEAR(lq.rows[r].sqnr_db, offline, 0.01) << "row " << r;
    }
    EXPECT_NEAR(lq.all.sqnr_db, OfflineSqnr(int8.data(), none.data(), m * n),
                0.01);
    x = chain == ActQuant::kNone ? none : int8;
  }
}

TEST(CompareActQuantTest, MatchesAnOfflineComputationInt8Chain) {
  ExpectMatchesOffline(*Model({128, 96, 64}, WeightFormat::kInt4Opaque),
                       ActQuant::kInt8AsymPerToken);
}

TEST(CompareActQuantTest, MatchesAnOfflineComputationNoneChainIntx) {
  ExpectMatchesOffline(*Model({128, 96, 64}, WeightFormat::kIntxOpaque),
                       ActQuant::kNone);
}

TEST(CompareActQuantTest, APlantedOutlierLowersTheRowsSqnr) {
  auto stack = Model({256, 128}, WeightFormat::kInt4Opaque);
  const size_t k = 256;
  QualityInput input;
  input.begin = 0;
  input.end = 1;
  input.rows = 2;
  std::vector<float> row = Gaussian(k, 11);
  input.input = row;
  row[17] = 100.0f;  // a planted outlier, about 100 sigma
  input.input.insert(input.input.end(), row.begin(), row.end());
  auto got = CompareActQuant(*stack, input, nullptr);
  ASSERT_TRUE(got.ok()) << got.status();
  ASSERT_EQ(got->size(), 1u);
  const LayerQuality& lq = (*got)[0];
  const RowQuality& gaussian = lq.rows[0];
  const RowQuality& outlier = lq.rows[1];
  EXPECT_LT(outlier.sqnr_db, gaussian.sqnr_db - 6.0);
  EXPECT_GT(outlier.rel_max_error, gaussian.rel_max_error);
  EXPECT_LT(gaussian.outlier_ratio, 5.0);
  EXPECT_GT(outlier.outlier_ratio, 14.0);
  EXPECT_EQ(lq.all.outlier_ratio, outlier.outlier_ratio);
}

TEST(CompareActQuantTest, LeavesFp32LayersOutAndChecksTheRange) {
  model::SyntheticModelSpec spec;
  spec.widths = {64, 32};
  spec.format = WeightFormat::kFp32;
  auto fp32 = model::BuildSyntheticModel(spec);
  ASSERT_TRUE(fp32.ok()) << fp32.status();
  QualityInput input;
  input.begin = 0;
  input.end = 1;
  input.rows = 1;
  input.input = Gaussian(64, 3);
  auto got = CompareActQuant(**fp32, input, nullptr);
  ASSERT_TRUE(got.ok()) << got.status();
  EXPECT_TRUE(got->empty());
  input.end = 2;
  EXPECT_EQ(CompareActQuant(**fp32, input, nullptr).status().code(),
            absl::StatusCode::kInvalidArgument);
}

class QualitySamplerTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto metrics = Metrics::Create(/*address=*/"", {&stats_, {}, {}});
    ASSERT_TRUE(metrics.ok()) << metrics.status();
    metrics_ = std::move(*metrics);
    stack_ = Model({64, 96, 32}, WeightFormat::kInt4Opaque);
    block_ = metrics_->AddModel("m", "1", *stack_);
  }

  std::unique_ptr<QualitySampler::Job> Job(uint32_t seed) {
    auto job = std::make_unique<QualitySampler::Job>();
    job->stack = stack_;
    job->metrics = block_;
    job->input.begin = 0;
    job->input.end = 2;
    job->input.rows = 2;
    job->input.input = Gaussian(2 * 64, seed);
    return job;
  }

  StatsRegistry stats_;
  std::unique_ptr<Metrics> metrics_;
  std::shared_ptr<const model::LinearStack> stack_;
  std::shared_ptr<ModelMetrics> block_;
};

TEST_F(QualitySamplerTest, AFullSlotDropsAndCountsAndTheRestIsRecorded) {
  absl::Notification taken, release;
  int jobs_taken = 0;  // the sampler's thread only
  QualitySampler::Options options;
  options.idle_priority = false;
  options.job_taken_for_test = [&] {
    if (jobs_taken++ > 0) return;
    taken.Notify();
    release.WaitForNotification();
  };
  QualitySampler sampler(options);

  auto first = Job(1);
  const QualityInput first_input = first->input;
  EXPECT_TRUE(sampler.Offer(std::move(first)));
  ASSERT_TRUE(taken.WaitForNotificationWithTimeout(absl::Seconds(30)));
  // The thread holds the first job: the second takes the slot, the third
  // and fourth find it full.
  EXPECT_TRUE(sampler.Offer(Job(2)));
  EXPECT_FALSE(sampler.Offer(Job(3)));
  EXPECT_FALSE(sampler.Offer(Job(4)));
  std::string text = metrics_->Scrape();
  EXPECT_EQ(Value(text, "qlinear_quality_samples_dropped_total{model=\"m\"}"),
            2);
  EXPECT_EQ(Value(text, "qlinear_quality_samples_total{model=\"m\"}"), 0);

  release.Notify();
  ASSERT_TRUE(sampler.AwaitCompleted(2, absl::Seconds(30)));
  EXPECT_EQ(sampler.completed(), 2u);
  text = metrics_->Scrape();
  EXPECT_EQ(Value(text, "qlinear_quality_samples_total{model=\"m\"}"), 2);
  EXPECT_EQ(Value(text, "qlinear_quality_samples_dropped_total{model=\"m\"}"),
            2);
  // Two jobs of two rows, per layer.
  for (const char* layer : {"fc1", "fc2"}) {
    EXPECT_EQ(
        Value(text, std::string("qlinear_act_quant_sqnr_db_count{layer=\"") +
                        layer + "\",model=\"m\"}"),
        4)
        << layer;
  }
  // What the first job recorded is what CompareActQuant computes (the
  // second job's figures added): the sums agree to the recording unit.
  auto first_layers = CompareActQuant(*stack_, first_input, nullptr);
  auto second_layers = CompareActQuant(*stack_, Job(2)->input, nullptr);
  ASSERT_TRUE(first_layers.ok() && second_layers.ok());
  double sum = 0;
  for (const auto* layers : {&*first_layers, &*second_layers}) {
    for (const RowQuality& row : (*layers)[0].rows) sum += row.sqnr_db;
  }
  EXPECT_NEAR(
      Value(text, "qlinear_act_quant_sqnr_db_sum{layer=\"fc1\",model=\"m\"}"),
      sum, 0.01);
}

TEST_F(QualitySamplerTest, TheGateHoldsAJobWhileTheServerComputes) {
  std::atomic<bool> busy{true};
  std::atomic<int> polls{0};
  QualitySampler::Options options;
  options.idle_priority = false;
  options.server_busy = [&] {
    polls.fetch_add(1);
    return busy.load();
  };
  QualitySampler sampler(options);
  EXPECT_TRUE(sampler.Offer(Job(1)));
  // Held at its first layer while the server is busy (polled meanwhile).
  EXPECT_FALSE(sampler.AwaitCompleted(1, absl::Milliseconds(200)));
  EXPECT_GE(polls.load(), 2);
  EXPECT_EQ(
      Value(metrics_->Scrape(), "qlinear_quality_samples_total{model=\"m\"}"),
      0);
  busy = false;
  ASSERT_TRUE(sampler.AwaitCompleted(1, absl::Seconds(30)));
  const std::string text = metrics_->Scrape();
  EXPECT_EQ(Value(text, "qlinear_quality_samples_total{model=\"m\"}"), 1);
  EXPECT_EQ(Value(text, "qlinear_quality_samples_dropped_total{model=\"m\"}"),
            0);
}

TEST_F(QualitySamplerTest, AJobHeldPastTheGateLimitIsDroppedAndCounted) {
  QualitySampler::Options options;
  options.idle_priority = false;
  options.server_busy = [] { return true; };
  QualitySampler sampler(options);
  const absl::Time start = absl::Now();
  EXPECT_TRUE(sampler.Offer(Job(1)));
  ASSERT_TRUE(sampler.AwaitCompleted(1, absl::Seconds(30)));
  EXPECT_GE(absl::Now() - start, QualitySampler::kMaxGateWait);
  const std::string text = metrics_->Scrape();
  EXPECT_EQ(Value(text, "qlinear_quality_samples_total{model=\"m\"}"), 0);
  EXPECT_EQ(Value(text, "qlinear_quality_samples_dropped_total{model=\"m\"}"),
            1);
}

TEST_F(QualitySamplerTest, CompareActQuantStopsWhereBeforeLayerSaysSo) {
  int calls = 0;
  auto got = CompareActQuant(*stack_, Job(1)->input, nullptr,
                             [&] { return ++calls < 2; });
  EXPECT_EQ(got.status().code(), absl::StatusCode::kAborted);
  EXPECT_EQ(calls, 2);  // layer 0 ran, layer 1 did not start
  calls = 0;
  auto all = CompareActQuant(*stack_, Job(1)->input, nullptr, [&] {
    ++calls;
    return true;
  });
  ASSERT_TRUE(all.ok()) << all.status();
  EXPECT_EQ(all->size(), 2u);
  EXPECT_EQ(calls, 2);
}

TEST(QualityPolicyTest, TakesExactlyTheRateEvenlySpaced) {
  QualityPolicy off(0.0, nullptr, nullptr);
  for (int i = 0; i < 1000; ++i) EXPECT_FALSE(off.Draw());

  QualityPolicy all(1.0, nullptr, nullptr);
  for (int i = 0; i < 1000; ++i) EXPECT_TRUE(all.Draw());

  QualityPolicy quarter(0.25, nullptr, nullptr);
  std::vector<int> taken;
  for (int i = 0; i < 100; ++i) {
    if (quarter.Draw()) taken.push_back(i);
  }
  ASSERT_EQ(taken.size(), 25u);
  for (size_t j = 0; j < taken.size(); ++j) EXPECT_EQ(taken[j], 4 * j + 3);

  QualityPolicy percent(0.01, nullptr, nullptr);
  int n = 0;
  for (int i = 0; i < 1000; ++i) n += percent.Draw() ? 1 : 0;
  EXPECT_EQ(n, 10);
}

}  // namespace
}  // namespace qlinear::server
