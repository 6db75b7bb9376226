// The compute pool's size: the cgroup CPU quota (v2 and v1), rounded down,
// capped by the affinity mask, never 0, on fake cgroup trees.
#include "server/cpu_budget.h"

#include <stdlib.h>

#include <filesystem>
#include <fstream>
#include <string>

#include "gtest/gtest.h"

namespace qlinear::server {
namespace {

namespace fs = std::filesystem;

class CpuBudgetTest : public ::testing::Test {
 protected:
  CpuBudgetTest() {
    std::string pattern = ::testing::TempDir() + "qlinear_cgroup_XXXXXX";
    root_ = mkdtemp(pattern.data());
  }
  ~CpuBudgetTest() override {
    std::error_code ignored;
    fs::remove_all(root_, ignored);
  }

  void Write(const std::string& relative, const std::string& text) {
    const fs::path path = root_ / relative;
    fs::create_directories(path.parent_path());
    std::ofstream(path) << text;
  }

  int Budget(int affinity_cpus) {
    return CpuBudgetFrom(root_.string(), affinity_cpus);
  }

  fs::path root_;
};

TEST_F(CpuBudgetTest, NoQuotaIsTheAffinityMask) {
  EXPECT_EQ(Budget(6), 6);
  Write("cpu.max", "max 100000\n");
  EXPECT_EQ(Budget(6), 6);
  EXPECT_EQ(Budget(0), 1);
}

TEST_F(CpuBudgetTest, CgroupV2QuotaRoundsDownAndNeverReachesZero) {
  Write("cpu.max", "250000 100000\n");
  EXPECT_EQ(Budget(8), 2);
  EXPECT_EQ(Budget(1), 1);  // the affinity mask caps it
  Write("cpu.max", "50000 100000\n");
  EXPECT_EQ(Budget(8), 1);
  Write("cpu.max", "garbage 100000\n");
  EXPECT_EQ(Budget(8), 8);
}

TEST_F(CpuBudgetTest, CgroupV1QuotaWhenThereIsNoV2File) {
  Write("cpu/cpu.cfs_quota_us", "300000\n");
  Write("cpu/cpu.cfs_period_us", "100000\n");
  EXPECT_EQ(Budget(8), 3);
  Write("cpu/cpu.cfs_quota_us", "-1\n");
  EXPECT_EQ(Budget(8), 8);
}

}  // namespace
}  // namespace qlinear::server
