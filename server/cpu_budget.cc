#include "server/cpu_budget.h"

#include <sched.h>

#include <algorithm>
#include <cmath>
#include <fstream>
#include <string>

#include "absl/strings/numbers.h"

namespace qlinear::server {
namespace {

// CPUs allowed by the cgroup quota under `root`, or 0 when there is none.
double CgroupQuotaCpus(const std::string& root) {
  {
    std::ifstream v2(root + "/cpu.max");
    std::string quota_text, period_text;
    if (v2 >> quota_text >> period_text) {
      double quota = 0, period = 0;
      if (!absl::SimpleAtod(quota_text, &quota) ||
          !absl::SimpleAtod(period_text, &period) || quota <= 0 ||
          period <= 0) {
        return 0;  // "max", or not numbers
      }
      return quota / period;
    }
  }
  std::ifstream quota_file(root + "/cpu/cpu.cfs_quota_us");
  std::ifstream period_file(root + "/cpu/cpu.cfs_period_us");
  double quota = 0, period = 0;
  if (quota_file >> quota && period_file >> period && quota > 0 && period > 0) {
    return quota / period;
  }
  return 0;
}

}  // namespace

int CpuBudgetFrom(const std::string& cgroup_root, int affinity_cpus) {
  int cpus = std::max(1, affinity_cpus);
  const double quota = CgroupQuotaCpus(cgroup_root);
  if (quota > 0)
    cpus = std::min(cpus, std::max(1, static_cast<int>(std::floor(quota))));
  return cpus;
}

int CpuBudget() {
  cpu_set_t set;
  int cpus = 1;
  if (sched_getaffinity(0, sizeof(set), &set) == 0) cpus = CPU_COUNT(&set);
  return CpuBudgetFrom("/sys/fs/cgroup", cpus);
}

}  // namespace qlinear::server
