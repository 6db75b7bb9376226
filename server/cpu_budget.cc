#include "server/cpu_budget.h"

#include <sched.h>

#include <algorithm>
#include <cmath>
#include <fstream>
#include <string>

namespace qlinear::server {
namespace {

// CPUs allowed by the cgroup quota, or 0 when there is none.
double CgroupQuotaCpus() {
  {
    std::ifstream v2("/sys/fs/cgroup/cpu.max");
    std::string quota;
    double period = 0;
    if (v2 >> quota >> period) {
      if (quota == "max" || period <= 0) return 0;
      return std::stod(quota) / period;
    }
  }
  std::ifstream quota_file("/sys/fs/cgroup/cpu/cpu.cfs_quota_us");
  std::ifstream period_file("/sys/fs/cgroup/cpu/cpu.cfs_period_us");
  double quota = 0, period = 0;
  if (quota_file >> quota && period_file >> period && quota > 0 && period > 0) {
    return quota / period;
  }
  return 0;
}

}  // namespace

int CpuBudget() {
  cpu_set_t set;
  int cpus = 1;
  if (sched_getaffinity(0, sizeof(set), &set) == 0)
    cpus = std::max(1, CPU_COUNT(&set));
  const double quota = CgroupQuotaCpus();
  if (quota > 0)
    cpus = std::min(cpus, std::max(1, static_cast<int>(std::floor(quota))));
  return cpus;
}

}  // namespace qlinear::server
