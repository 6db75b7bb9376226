// Adaptive batching delay: whether a queue should wait for more rows before
// the idle executor takes its batch, decided from the cost of a batch as a
// function of its rows (measured by the server when it warms a model up) and
// the rate at which rows arrive. docs/architecture.md, "Adaptive batching
// delay", explains the rule; in short:
//
//   With r rows queued and rows arriving at λ per second, waiting Δ = 1/λ
//   (the time one more row takes to arrive) is worth it when
//
//     (cost(r)/r − cost(r')/r') × r' > Δ,   r' = r + λΔ,
//
//   i.e. when the compute time saved on the larger batch (every one of its
//   r' rows runs at the lower per-row cost) exceeds the wait. With a cost
//   F + m·rows (a fixed part per batch: the weights streamed once), this
//   waits while fewer than λ·F rows are queued. The wait never passes the
//   queue's max_queue_delay (from its oldest task) nor makes a queued task
//   miss its deadline.
//
// When the executor is busy, rows queue anyway (waiting is free); the rule
// only applies when the executor is idle and would otherwise run a small,
// expensive-per-row batch that makes the rest of a burst wait behind it.
//
// Plain data and pure functions: nothing here knows models or metrics.
#ifndef QLINEAR_SERVER_BATCHING_ADAPTIVE_DELAY_H_
#define QLINEAR_SERVER_BATCHING_ADAPTIVE_DELAY_H_

#include <cstdint>
#include <vector>

#include "absl/time/time.h"

namespace qlinear::server::batching {

// One point of a cost curve: a batch of `rows` rows took `seconds`.
struct CostPoint {
  int64_t rows = 0;
  double seconds = 0.0;

  bool operator==(const CostPoint& o) const {
    return rows == o.rows && seconds == o.seconds;
  }
};

// The points with rows ≥ 1 and seconds > 0, sorted by rows, one per row
// count (the first of duplicates). The form BatchSeconds() reads.
std::vector<CostPoint> NormalizedCostCurve(std::vector<CostPoint> points);

// The compute time of a batch of `rows` rows (fractional rows allowed) on
// `curve` (normalized): piecewise linear through the points, through (0, 0)
// below the first one, and at the last point's per-row cost beyond it (so
// no gain is predicted outside the measured range). 0 for an empty curve.
double BatchSeconds(const std::vector<CostPoint>& curve, double rows);

// The rate at which rows arrive at one queue: an exponentially weighted mean
// (weight 1/4) of the time between arrivals per row, each gap clamped to
// [1 ns, 10 ms] (a burst at one instant has a finite rate; an idle spell
// does not outweigh the next burst). Not thread-safe (the batcher keeps it
// under its lock).
class ArrivalRate {
 public:
  // A task of `rows` rows arrived at `now` (non-decreasing).
  void Record(absl::Time now, int64_t rows);
  // Rows per second as seen at `now`: 0 before the second arrival; when no
  // row has arrived for longer than the mean gap, that silence is the gap
  // (the rate decays while nothing comes).
  double RowsPerSecond(absl::Time now) const;

 private:
  absl::Time last_ = absl::InfinitePast();
  double mean_gap_seconds_ = -1.0;  // per row; < 0: no estimate yet
};

// How long a queue holding `queued_rows` rows should wait before its batch
// runs (ZeroDuration: run now), by the rule above. `max_wait` is what the
// queue's max_queue_delay leaves; `slack` the time to the earliest deadline
// of its tasks (the wait plus the larger batch's cost must fit in it).
// Never waits with an empty curve, no rate, or a full batch.
absl::Duration AdaptiveWait(const std::vector<CostPoint>& curve,
                            int64_t queued_rows, int64_t max_batch_rows,
                            double rows_per_second, absl::Duration max_wait,
                            absl::Duration slack);

}  // namespace qlinear::server::batching

#endif  // QLINEAR_SERVER_BATCHING_ADAPTIVE_DELAY_H_
