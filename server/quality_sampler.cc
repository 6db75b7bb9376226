#include "server/quality_sampler.h"

#include <pthread.h>
#include <sched.h>

#include <algorithm>
#include <cmath>
#include <limits>
#include <string>
#include <utility>

#include "absl/time/clock.h"
#include "common/check.h"
#include "common/status_macros.h"
#include "common/thread_name.h"
#include "server/metrics.h"

namespace qlinear::server {
namespace {

constexpr double kInf = std::numeric_limits<double>::infinity();

// The sums of a comparison over some outputs and inputs, in double.
struct Sums {
  double ref_sq = 0, err_sq = 0, ref_max = 0, err_max = 0;
  double outlier_ratio = 0;

  void AddOutputs(const float* out, const float* ref, size_t n) {
    for (size_t j = 0; j < n; ++j) {
      const double r = ref[j];
      const double e = static_cast<double>(out[j]) - r;
      ref_sq += r * r;
      err_sq += e * e;
      ref_max = std::max(ref_max, std::fabs(r));
      err_max = std::max(err_max, std::fabs(e));
    }
  }

  RowQuality Quality() const {
    RowQuality q;
    if (err_sq == 0) {
      q.sqnr_db = kInf;
    } else if (ref_sq == 0) {
      q.sqnr_db = -kInf;
    } else {
      q.sqnr_db = 10.0 * std::log10(ref_sq / err_sq);
    }
    if (err_max == 0) {
      q.rel_max_error = 0;
    } else {
      q.rel_max_error = ref_max == 0 ? kInf : err_max / ref_max;
    }
    q.outlier_ratio = outlier_ratio;
    return q;
  }
};

// max |x| / RMS(x) of one row; 0 for a row of zeros.
double OutlierRatio(const float* x, size_t k) {
  double sq = 0, peak = 0;
  for (size_t j = 0; j < k; ++j) {
    const double v = x[j];
    sq += v * v;
    peak = std::max(peak, std::fabs(v));
  }
  if (sq == 0) return 0;
  return peak / std::sqrt(sq / static_cast<double>(k));
}

}  // namespace

absl::StatusOr<std::vector<LayerQuality>> CompareActQuant(
    const model::LinearStack& stack, const QualityInput& input,
    ThreadPool* pool, const std::function<bool()>& before_layer) {
  const size_t m = input.rows;
  std::vector<LayerQuality> result;
  std::vector<float> x = input.input;
  std::vector<float> activations, scratch;
  if (input.end <= input.begin || input.end > stack.num_layers()) {
    // Let Run() name the problem.
    model::RunOptions options;
    options.begin = input.begin;
    options.end = input.end;
    const model::RowGroup group{m, input.chain};
    QL_RETURN_IF_ERROR(stack.Run(options, absl::MakeConstSpan(&group, 1), &x,
                                 &scratch, nullptr));
  }
  for (size_t layer = input.begin; layer < input.end; ++layer) {
    if (before_layer && !before_layer()) {
      return absl::AbortedError("the comparison was stopped before layer " +
                                std::to_string(layer));
    }
    model::RunOptions options;
    options.begin = layer;
    options.end = layer + 1;
    options.apply_activation = input.apply_activation;
    options.pool = pool;
    const size_t k = stack.layer(layer).k();
    if (stack.layer_spec(layer).format == WeightFormat::kFp32) {
      // The mode changes nothing: run the chain only.
      const model::RowGroup group{m, input.chain};
      QL_RETURN_IF_ERROR(stack.Run(options, absl::MakeConstSpan(&group, 1), &x,
                                   &scratch, nullptr));
      continue;
    }
    // Both modes on the same input, in one call: the int8 rows first.
    const model::RowGroup groups[] = {{m, ActQuant::kInt8AsymPerToken},
                                      {m, ActQuant::kNone}};
    activations.assign(x.begin(), x.end());
    activations.insert(activations.end(), x.begin(), x.end());
    QL_RETURN_IF_ERROR(
        stack.Run(options, groups, &activations, &scratch, nullptr));
    const size_t n = stack.layer(layer).n();
    const float* out = activations.data();  // int8
    const float* ref = out + m * n;         // none
    LayerQuality lq;
    lq.layer = layer;
    lq.rows.reserve(m);
    Sums all;
    for (size_t r = 0; r < m; ++r) {
      Sums row;
      row.AddOutputs(out + r * n, ref + r * n, n);
      row.outlier_ratio = OutlierRatio(x.data() + r * k, k);
      lq.rows.push_back(row.Quality());
      all.AddOutputs(out + r * n, ref + r * n, n);
      all.outlier_ratio = std::max(all.outlier_ratio, row.outlier_ratio);
    }
    lq.all = all.Quality();
    result.push_back(std::move(lq));
    // The next layer's input: the chain mode's output.
    const float* next = input.chain == ActQuant::kInt8AsymPerToken ? out : ref;
    x.assign(next, next + m * n);
  }
  return result;
}

// ---------------------------------------------------------------------------

QualitySampler::QualitySampler(Options options) : options_(std::move(options)) {
  QL_CHECK(sem_init(&wake_, 0, 0) == 0);
  thread_ = std::thread([this] { Loop(); });
}

QualitySampler::~QualitySampler() {
  stop_.store(true, std::memory_order_release);
  sem_post(&wake_);
  thread_.join();
  delete slot_.exchange(nullptr, std::memory_order_acquire);
  sem_destroy(&wake_);
}

bool QualitySampler::Offer(std::unique_ptr<Job> job) {
  Job* expected = nullptr;
  if (!slot_.compare_exchange_strong(expected, job.get(),
                                     std::memory_order_release,
                                     std::memory_order_relaxed)) {
    if (job->metrics != nullptr) job->metrics->CountQualityDropped();
    return false;
  }
  job.release();  // the slot owns it
  sem_post(&wake_);
  return true;
}

uint64_t QualitySampler::completed() const {
  absl::MutexLock lock(&mu_);
  return completed_;
}

bool QualitySampler::AwaitCompleted(uint64_t count,
                                    absl::Duration timeout) const {
  auto reached = [this, count]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    return completed_ >= count;
  };
  absl::MutexLock lock(&mu_);
  return mu_.AwaitWithTimeout(absl::Condition(&reached), timeout);
}

void QualitySampler::Loop() {
  SetCurrentThreadName("ql-quality");
  if (options_.idle_priority) {
    // Best effort: without it the thread runs at normal priority, which the
    // single slot still bounds.
    sched_param param{};
    param.sched_priority = 0;
    pthread_setschedparam(pthread_self(), SCHED_IDLE, &param);
  }
  while (true) {
    while (sem_wait(&wake_) != 0) {
      // EINTR: wait again.
    }
    if (stop_.load(std::memory_order_acquire)) return;
    std::unique_ptr<Job> job(
        slot_.exchange(nullptr, std::memory_order_acquire));
    if (job == nullptr) continue;
    if (options_.job_taken_for_test) options_.job_taken_for_test();
    absl::StatusOr<std::vector<LayerQuality>> layers =
        CompareActQuant(*job->stack, job->input, &pool_,
                        [this] { return WaitUntilServerIdle(); });
    if (!layers.ok()) {
      // The server validated the request against this stack: only the gate
      // stops a comparison.
      QL_CHECK(absl::IsAborted(layers.status()));
      if (job->metrics != nullptr) job->metrics->CountQualityDropped();
    } else if (job->metrics != nullptr) {
      for (const LayerQuality& lq : *layers) {
        for (const RowQuality& row : lq.rows) {
          job->metrics->ObserveQualityRow(lq.layer, row.sqnr_db,
                                          row.rel_max_error, row.outlier_ratio);
        }
      }
      job->metrics->CountQualitySample();
    }
    job.reset();  // the model version may go now
    absl::MutexLock lock(&mu_);
    ++completed_;
  }
}

// ---------------------------------------------------------------------------

bool QualitySampler::WaitUntilServerIdle() const {
  if (!options_.server_busy) return true;
  const absl::Time give_up = absl::Now() + kMaxGateWait;
  while (options_.server_busy()) {
    if (stop_.load(std::memory_order_acquire) || absl::Now() >= give_up) {
      return false;
    }
    absl::SleepFor(kGatePoll);
  }
  return true;
}

bool QualityPolicy::DrawSlow() {
  const uint64_t n = drawn_.fetch_add(1, std::memory_order_relaxed);
  return std::floor(static_cast<double>(n + 1) * rate_) >
         std::floor(static_cast<double>(n) * rate_);
}

}  // namespace qlinear::server
