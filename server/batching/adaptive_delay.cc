#include "server/batching/adaptive_delay.h"

#include <algorithm>
#include <utility>

namespace qlinear::server::batching {
namespace {

// Weight of a new gap in the mean: about the last four arrivals count, so
// that a burst is seen within a few arrivals.
constexpr double kRateWeight = 1.0 / 4.0;
// Longer gaps count as this long (a rate of 100 rows/s, too slow for any
// wait to pay), so that one idle second does not hide the next burst.
constexpr double kMaxGapSeconds = 0.01;
// A floor on the gap per row (1 ns), so that a burst arriving at one
// instant gives a finite rate.
constexpr double kMinGapSeconds = 1e-9;

}  // namespace

std::vector<CostPoint> NormalizedCostCurve(std::vector<CostPoint> points) {
  points.erase(std::remove_if(points.begin(), points.end(),
                              [](const CostPoint& p) {
                                return p.rows < 1 || !(p.seconds > 0.0);
                              }),
               points.end());
  std::stable_sort(
      points.begin(), points.end(),
      [](const CostPoint& a, const CostPoint& b) { return a.rows < b.rows; });
  points.erase(std::unique(points.begin(), points.end(),
                           [](const CostPoint& a, const CostPoint& b) {
                             return a.rows == b.rows;
                           }),
               points.end());
  return points;
}

double BatchSeconds(const std::vector<CostPoint>& curve, double rows) {
  if (curve.empty() || rows <= 0.0) return 0.0;
  const CostPoint& last = curve.back();
  if (rows >= static_cast<double>(last.rows)) {
    return last.seconds * rows / static_cast<double>(last.rows);
  }
  CostPoint below{0, 0.0};
  for (const CostPoint& p : curve) {
    if (static_cast<double>(p.rows) >= rows) {
      const double span = static_cast<double>(p.rows - below.rows);
      const double t = (rows - static_cast<double>(below.rows)) / span;
      return below.seconds + t * (p.seconds - below.seconds);
    }
    below = p;
  }
  return last.seconds;  // not reached: rows < last.rows
}

void ArrivalRate::Record(absl::Time now, int64_t rows) {
  if (rows < 1) rows = 1;
  if (last_ != absl::InfinitePast()) {
    const double gap = std::clamp(
        absl::ToDoubleSeconds(now - last_) / static_cast<double>(rows),
        kMinGapSeconds, kMaxGapSeconds);
    mean_gap_seconds_ =
        mean_gap_seconds_ < 0.0
            ? gap
            : mean_gap_seconds_ + kRateWeight * (gap - mean_gap_seconds_);
  }
  last_ = now;
}

double ArrivalRate::RowsPerSecond(absl::Time now) const {
  if (mean_gap_seconds_ < 0.0) return 0.0;
  const double silence = absl::ToDoubleSeconds(now - last_);
  return 1.0 / std::max({mean_gap_seconds_, silence, kMinGapSeconds});
}

absl::Duration AdaptiveWait(const std::vector<CostPoint>& curve,
                            int64_t queued_rows, int64_t max_batch_rows,
                            double rows_per_second, absl::Duration max_wait,
                            absl::Duration slack) {
  if (curve.empty() || queued_rows < 1 || queued_rows >= max_batch_rows ||
      !(rows_per_second > 0.0) || max_wait <= absl::ZeroDuration()) {
    return absl::ZeroDuration();
  }
  // Wait for one more row, or for what max_wait leaves.
  const double wait =
      std::min(1.0 / rows_per_second, absl::ToDoubleSeconds(max_wait));
  const double r = static_cast<double>(queued_rows);
  const double larger =
      std::min(r + rows_per_second * wait, static_cast<double>(max_batch_rows));
  const double larger_cost = BatchSeconds(curve, larger);
  if (wait + larger_cost > absl::ToDoubleSeconds(slack)) {
    return absl::ZeroDuration();
  }
  const double saved =
      (BatchSeconds(curve, r) / r - larger_cost / larger) * larger;
  if (!(saved > wait)) return absl::ZeroDuration();
  // Whole nanoseconds, at least one, so the wake-up is in the future.
  return std::max(absl::Nanoseconds(1), absl::Seconds(wait));
}

}  // namespace qlinear::server::batching
