// The number of CPUs this process may use: the cgroup CPU quota (v2
// cpu.max or v1 cfs quota/period), capped by the affinity mask (cpuset).
#ifndef QLINEAR_SERVER_CPU_BUDGET_H_
#define QLINEAR_SERVER_CPU_BUDGET_H_

#include <string>

namespace qlinear::server {

// At least 1. Reads /sys/fs/cgroup and sched_getaffinity; thread-safe.
int CpuBudget();

// CpuBudget() with the cgroup filesystem at `cgroup_root` and the affinity
// mask's CPU count given (tests): the quota of `<root>/cpu.max` (v2, "max"
// or "<quota> <period>"), else of `<root>/cpu/cpu.cfs_quota_us` and
// `cpu.cfs_period_us` (v1, quota -1: none), rounded down, at least 1 and at
// most `affinity_cpus`. Missing or unparsable files mean no quota.
int CpuBudgetFrom(const std::string& cgroup_root, int affinity_cpus);

}  // namespace qlinear::server

#endif  // QLINEAR_SERVER_CPU_BUDGET_H_
