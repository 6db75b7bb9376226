// ModelManager without gRPC: what a load hands the batcher (the model's
// batching section and, with adaptive_delay, the cost curve measured at
// warm-up).
#include "server/model_manager.h"

#include <memory>
#include <vector>

#include "gtest/gtest.h"
#include "kernels/thread_pool.h"
#include "model/default_model.h"
#include "model/manifest.h"
#include "server/batching/batcher.h"
#include "server/batching/clock.h"
#include "server/model_registry.h"
#include "tests/testing/serving_test_util.h"

namespace qlinear::server {
namespace {

using ::qlinear::testing::TempDir;
using ::qlinear::testing::WriteFile;

// Writes model `name` version 1 with `batching`.
void WriteModel(const TempDir& repo, const std::string& name,
                const model::BatchingConfig& batching) {
  model::SyntheticModelSpec spec;
  spec.widths = {128, 64, 32};
  spec.group_size = 32;
  model::SyntheticModelFiles files = model::MakeSyntheticModelFiles(spec);
  files.manifest.batching = batching;
  const auto dir = repo.path() / name / "1";
  WriteFile(dir / "model.json", model::ManifestToJson(files.manifest));
  WriteFile(dir / "model.safetensors", files.safetensors);
}

class ModelManagerTest : public ::testing::Test {
 protected:
  ModelManagerTest()
      : batcher_(batching::RealClock::Get()),
        pool_(1),
        manager_(repo_.path().string(), &registry_, &batcher_, &pool_,
                 /*max_queued_rows=*/0) {}

  TempDir repo_;
  ModelRegistry registry_;
  batching::Batcher batcher_;
  ThreadPool pool_;
  ModelManager manager_;
};

TEST_F(ModelManagerTest, AdaptiveDelayGetsTheCostCurveMeasuredAtWarmUp) {
  model::BatchingConfig batching;
  batching.max_batch_rows = 64;
  batching.max_queue_delay_us = 2000;
  batching.adaptive_delay = true;
  WriteModel(repo_, "adaptive", batching);
  ASSERT_TRUE(manager_.Load("adaptive", "").ok());
  const std::optional<batching::QueueOptions> q =
      batcher_.queue_options("adaptive");
  ASSERT_TRUE(q.has_value());
  EXPECT_TRUE(q->adaptive_delay);
  EXPECT_EQ(q->max_batch_rows, 64);
  EXPECT_EQ(q->max_queue_delay, absl::Milliseconds(2));
  // The warm-up row counts (1-3, a row-tile remainder, both tiled
  // thresholds, max_batch_rows) and the powers of two between, each timed.
  std::vector<int64_t> rows;
  for (const batching::CostPoint& p : q->cost_curve) {
    rows.push_back(p.rows);
    EXPECT_GT(p.seconds, 0.0) << p.rows;
    EXPECT_LT(p.seconds, 10.0) << p.rows;
  }
  EXPECT_EQ(rows, (std::vector<int64_t>{1, 2, 3, 4, 8, 9, 16, 32, 64}));
}

TEST_F(ModelManagerTest, FixedDelayMeasuresNoCurve) {
  model::BatchingConfig batching;
  batching.max_batch_rows = 64;
  batching.max_queue_delay_us = 2000;
  WriteModel(repo_, "fixed", batching);
  ASSERT_TRUE(manager_.Load("fixed", "").ok());
  const std::optional<batching::QueueOptions> q =
      batcher_.queue_options("fixed");
  ASSERT_TRUE(q.has_value());
  EXPECT_FALSE(q->adaptive_delay);
  EXPECT_TRUE(q->cost_curve.empty());
  EXPECT_EQ(q->max_queue_delay, absl::Milliseconds(2));
}

}  // namespace
}  // namespace qlinear::server
