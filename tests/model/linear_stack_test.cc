// LinearStack::Run, the one execution loop: groups of rows in their own
// modes, merged into one kernel call per mode and layer, dropped between
// layers on request, bitwise equal to each group run alone on any pool.
#include "model/linear_stack.h"

#include <cmath>
#include <memory>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "kernels/thread_pool.h"
#include "model/default_model.h"
#include "tests/testing/status_matchers.h"

namespace qlinear::model {
namespace {

using ::qlinear::testing::IsOk;
using ::qlinear::testing::StatusIs;
using ::testing::HasSubstr;

class LinearStackRunTest : public ::testing::Test {
 protected:
  void SetUp() override {
    SyntheticModelSpec spec;
    spec.widths = {64, 96, 32, 16};
    spec.group_size = 32;
    auto stack = BuildSyntheticModel(spec);
    ASSERT_THAT(stack, IsOk());
    stack_ = std::move(*stack);
  }

  static std::vector<float> Rows(size_t rows, size_t width, float seed) {
    std::vector<float> x(rows * width);
    for (size_t i = 0; i < x.size(); ++i) x[i] = std::sin(seed + 0.41f * i);
    return x;
  }

  std::vector<float> Alone(const std::vector<float>& x, size_t rows,
                           ActQuant mode, ThreadPool* pool) {
    std::vector<float> y;
    EXPECT_THAT(stack_->Forward(x.data(), rows, 0, 3, mode, &y, nullptr, pool),
                IsOk());
    return y;
  }

  std::unique_ptr<LinearStack> stack_;
  ThreadPool one_{1};
  ThreadPool two_{2};
};

TEST_F(LinearStackRunTest, GroupsMergeByModeAndEqualEachGroupAlone) {
  const ActQuant kInt8 = ActQuant::kInt8AsymPerToken;
  const std::vector<RowGroup> groups = {
      {2, ActQuant::kNone}, {3, ActQuant::kNone}, {1, kInt8}, {4, kInt8}};
  std::vector<std::vector<float>> inputs;
  std::vector<float> activations;
  for (size_t g = 0; g < groups.size(); ++g) {
    inputs.push_back(Rows(groups[g].rows, 64, 1.0f + g));
    activations.insert(activations.end(), inputs[g].begin(), inputs[g].end());
  }
  for (ThreadPool* pool : {&one_, &two_}) {
    std::vector<float> act = activations, scratch;
    RunOptions options;
    options.begin = 0;
    options.end = 3;
    options.pool = pool;
    std::vector<size_t> layer_rows;
    options.layer_done = [&](size_t, size_t rows) {
      layer_rows.push_back(rows);
    };
    RunReport report;
    ASSERT_THAT(stack_->Run(options, groups, &act, &scratch, &report), IsOk());
    EXPECT_EQ(report.layers_executed, 3u);
    EXPECT_EQ(report.cols, 16u);
    EXPECT_EQ(layer_rows, (std::vector<size_t>{10, 10, 10}));
    // Two calls per layer: the none rows, then the int8 rows.
    ASSERT_EQ(report.calls.size(), 6u);
    EXPECT_EQ(report.calls[0].rows, 5u);
    EXPECT_EQ(report.calls[0].mode, ActQuant::kNone);
    EXPECT_EQ(report.calls[1].rows, 5u);
    EXPECT_EQ(report.calls[1].mode, kInt8);
    ASSERT_EQ(act.size(), 10u * 16u);
    size_t row = 0;
    for (size_t g = 0; g < groups.size(); ++g) {
      const std::vector<float> want =
          Alone(inputs[g], groups[g].rows, groups[g].mode, &one_);
      const std::vector<float> got(act.begin() + row * 16,
                                   act.begin() + (row + groups[g].rows) * 16);
      EXPECT_EQ(got, want) << "group " << g;  // bitwise, on either pool
      row += groups[g].rows;
    }
  }
}

TEST_F(LinearStackRunTest, DroppedGroupsLeaveBetweenLayers) {
  const std::vector<RowGroup> groups = {
      {2, ActQuant::kNone}, {1, ActQuant::kNone}, {3, ActQuant::kNone}};
  std::vector<float> act;
  std::vector<std::vector<float>> inputs;
  for (size_t g = 0; g < groups.size(); ++g) {
    inputs.push_back(Rows(groups[g].rows, 64, 5.0f + g));
    act.insert(act.end(), inputs[g].begin(), inputs[g].end());
  }
  RunOptions options;
  options.begin = 0;
  options.end = 3;
  options.pool = &two_;
  // Group 0 leaves before layer 2 (after one layer), the others stay.
  std::vector<std::pair<size_t, size_t>> asked;
  options.keep_group = [&](size_t g, size_t layers_done) {
    asked.emplace_back(g, layers_done);
    return !(g == 0 && layers_done == 1);
  };
  std::vector<size_t> layer_rows;
  options.layer_done = [&](size_t, size_t rows) { layer_rows.push_back(rows); };
  std::vector<float> scratch;
  RunReport report;
  ASSERT_THAT(stack_->Run(options, groups, &act, &scratch, &report), IsOk());
  EXPECT_EQ(layer_rows, (std::vector<size_t>{6, 4, 4}));
  EXPECT_EQ(
      asked,
      (std::vector<std::pair<size_t, size_t>>{
          {0, 0}, {1, 0}, {2, 0}, {0, 1}, {1, 1}, {2, 1}, {1, 2}, {2, 2}}));
  ASSERT_EQ(act.size(), 4u * 16u);
  const std::vector<float> want1 = Alone(inputs[1], 1, ActQuant::kNone, &one_);
  const std::vector<float> want2 = Alone(inputs[2], 3, ActQuant::kNone, &one_);
  EXPECT_EQ(std::vector<float>(act.begin(), act.begin() + 16), want1);
  EXPECT_EQ(std::vector<float>(act.begin() + 16, act.end()), want2);

  // Every group gone before the first layer: nothing runs.
  std::vector<float> none = Rows(2, 64, 9.0f);
  options.keep_group = [](size_t, size_t) { return false; };
  layer_rows.clear();
  const RowGroup one_group{2, ActQuant::kNone};
  ASSERT_THAT(stack_->Run(options, absl::MakeConstSpan(&one_group, 1), &none,
                          &scratch, &report),
              IsOk());
  EXPECT_EQ(report.layers_executed, 0u);
  EXPECT_TRUE(report.calls.empty());
  EXPECT_TRUE(layer_rows.empty());
  EXPECT_TRUE(none.empty());
}

TEST_F(LinearStackRunTest, MatmulRunsOneLayerWithoutActivation) {
  const std::vector<float> x = Rows(3, 64, 2.0f);
  std::vector<float> via_matmul, via_forward;
  ASSERT_THAT(stack_->Matmul(0, x.data(), 3, ActQuant::kNone, &via_matmul),
              IsOk());
  ASSERT_THAT(stack_->Forward(x.data(), 3, 0, 1, ActQuant::kNone, &via_forward),
              IsOk());
  ASSERT_EQ(via_matmul.size(), 3u * 96u);
  // Layer 0 of the synthetic model has an activation function, so the two
  // differ where it changes a value (e.g. negatives under ReLU/SiLU).
  EXPECT_NE(via_matmul, via_forward);
}

TEST_F(LinearStackRunTest, BadArgumentsAreInvalidArgument) {
  std::vector<float> act = Rows(2, 64, 1.0f), scratch;
  const RowGroup group{2, ActQuant::kNone};
  RunOptions options;
  options.begin = 1;
  options.end = 1;
  EXPECT_THAT(stack_->Run(options, absl::MakeConstSpan(&group, 1), &act,
                          &scratch, nullptr),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("layer range [1, 1)")));
  options.begin = 0;
  options.end = 4;
  EXPECT_THAT(stack_->Run(options, absl::MakeConstSpan(&group, 1), &act,
                          &scratch, nullptr),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("not within [0, 3)")));
  options.end = 2;
  options.apply_activation = false;
  EXPECT_THAT(stack_->Run(options, absl::MakeConstSpan(&group, 1), &act,
                          &scratch, nullptr),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("exactly one layer")));
  options.apply_activation = true;
  const RowGroup three{3, ActQuant::kNone};
  EXPECT_THAT(stack_->Run(options, absl::MakeConstSpan(&three, 1), &act,
                          &scratch, nullptr),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("128 activations for 3 rows of 64")));
}

}  // namespace
}  // namespace qlinear::model
