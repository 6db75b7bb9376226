// The number of CPUs this process may use: the cgroup CPU quota (v2
// cpu.max or v1 cfs quota/period), capped by the affinity mask (cpuset).
#ifndef QLINEAR_SERVER_CPU_BUDGET_H_
#define QLINEAR_SERVER_CPU_BUDGET_H_

namespace qlinear::server {

// At least 1. Reads /sys/fs/cgroup and sched_getaffinity; thread-safe.
int CpuBudget();

}  // namespace qlinear::server

#endif  // QLINEAR_SERVER_CPU_BUDGET_H_
