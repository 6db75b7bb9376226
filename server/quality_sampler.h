// Quality telemetry (docs/operations.md, "Quality telemetry"): what the int8
// activation mode costs in accuracy on real inputs, per layer.
//
// CompareActQuant() is the measurement: a request's rows through a layer
// range, each quantized layer computed in both activation modes on the same
// layer input. QualitySampler runs it off the request path for a sampled
// share of int8-mode traffic and records it in the model's metrics;
// QualityPolicy decides which requests it takes. A request may also ask for
// the comparison synchronously (`quality_check`, docs/api.md).
#ifndef QLINEAR_SERVER_QUALITY_SAMPLER_H_
#define QLINEAR_SERVER_QUALITY_SAMPLER_H_

#include <semaphore.h>

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <thread>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "absl/types/span.h"
#include "kernels/thread_pool.h"
#include "kernels/types.h"
#include "model/linear_stack.h"

namespace qlinear::server {

class ModelMetrics;

// The int8 output of one row against its weight-only output, and the row's
// layer input.
struct RowQuality {
  // 10·log10(Σ ref² / Σ (out − ref)²) over the row's outputs, ref the `none`
  // output and out the int8 output: +inf when they are equal, −inf when ref
  // is all zeros and out is not.
  double sqnr_db = 0.0;
  // max |out − ref| ÷ max |ref| over the row (0 when both are all zeros,
  // +inf when only ref is).
  double rel_max_error = 0.0;
  // max |x| ÷ RMS(x) of the row's layer input x: 1 for a row of equal
  // magnitudes, up to sqrt(K) for a single spike; 0 for a row of zeros.
  double outlier_ratio = 0.0;
};

// One quantized layer of a comparison.
struct LayerQuality {
  size_t layer = 0;  // index in the stack
  // The same definitions over all the request's rows at once: SQNR of the
  // whole [M, N] output, relative max error over all its values, and the
  // largest outlier ratio of a row.
  RowQuality all;
  std::vector<RowQuality> rows;  // per row of the request
};

// What a comparison runs: a request's layer range and rows.
struct QualityInput {
  size_t begin = 0;  // layer range [begin, end)
  size_t end = 0;
  bool apply_activation = true;  // false for Matmul (one layer)
  // The activation mode whose layer outputs feed the next layer: the
  // request's own mode, so each layer is compared on the input the request
  // computed it on.
  ActQuant chain = ActQuant::kInt8AsymPerToken;
  size_t rows = 0;
  std::vector<float> input;  // rows x in_features(begin)
};

// Runs `input` through its layer range with LinearStack::Run, one layer at
// a time. For each quantized layer i (fp32 layers ignore the mode and are
// left out), the layer's input x_i runs in both modes in one Run call (two
// row groups), and their outputs are compared (RowQuality); x_{i+1} is the
// output of the `chain` mode. Each layer's figure is thus the cost of
// quantizing that layer's activations alone, on the inputs the request's
// own mode produced. Sums are in double. Work runs on `pool` (nullptr:
// ComputePool()). Thread-safe (the stack is immutable). With
// `before_layer`, it is called before each layer's computation; when it
// returns false the comparison stops with ABORTED.
// Errors: those of LinearStack::Run (a range or size that does not fit the
// stack); ABORTED from `before_layer`.
absl::StatusOr<std::vector<LayerQuality>> CompareActQuant(
    const model::LinearStack& stack, const QualityInput& input,
    ThreadPool* pool, const std::function<bool()>& before_layer = nullptr);

// Runs sampled comparisons on one thread of its own, at the lowest CPU
// priority (SCHED_IDLE), with a 1-thread pool of its own, so its kernels
// never use the server's compute pool. With Options::server_busy it starts
// a layer only while the server computes no batch: SCHED_IDLE alone still
// let a sampler at 1 % of a saturated server's requests take 5-10 % of its
// capacity (docs/benchmarks.md, "Quality sampling"). A job whose next layer
// waits longer than kMaxGateWait is dropped and counted. One job runs and
// at most one waits (a single slot): a job offered while the slot is taken
// is dropped and counted.
//
// Thread-safe. Offer() never blocks and takes no lock (an atomic exchange
// and a semaphore post), so the executor thread may call it.
class QualitySampler {
 public:
  struct Job {
    // Kept alive by the job; the comparison reads it.
    std::shared_ptr<const model::LinearStack> stack;
    // Where the results and the drop are counted; may be null.
    std::shared_ptr<ModelMetrics> metrics;
    QualityInput input;
  };

  struct Options {
    // Tests only: called on the sampler's thread when it takes a job, before
    // it runs it (a test blocks here to fill the slot deterministically).
    std::function<void()> job_taken_for_test;
    // Lower the thread to SCHED_IDLE (tests of the mechanics may keep it
    // normal so that a loaded test machine does not starve them).
    bool idle_priority = true;
    // Whether the server is computing (a batch runs or is queued); polled
    // every kGatePoll before each layer. Null: never busy. Called on the
    // sampler's thread: must be thread-safe and cheap.
    std::function<bool()> server_busy;
  };
  static constexpr absl::Duration kGatePoll = absl::Microseconds(500);
  static constexpr absl::Duration kMaxGateWait = absl::Seconds(2);

  explicit QualitySampler(Options options);
  // Stops the thread after the job it runs; a job in the slot is dropped
  // uncounted.
  ~QualitySampler();
  QualitySampler(const QualitySampler&) = delete;
  QualitySampler& operator=(const QualitySampler&) = delete;

  // Hands `job` to the sampler's thread if the slot is free; otherwise drops
  // it and counts it in job->metrics (qlinear_quality_samples_dropped_total).
  // Returns whether it was taken.
  bool Offer(std::unique_ptr<Job> job);

  // Jobs finished so far: compared, or dropped at the gate.
  uint64_t completed() const ABSL_LOCKS_EXCLUDED(mu_);
  // Blocks until `count` jobs have run or `timeout` passes; returns whether
  // they had. For tests.
  bool AwaitCompleted(uint64_t count, absl::Duration timeout) const
      ABSL_LOCKS_EXCLUDED(mu_);

 private:
  void Loop();
  // Before each layer of a job: false when the server stayed busy for
  // kMaxGateWait or the sampler is stopping.
  bool WaitUntilServerIdle() const;

  const Options options_;
  ThreadPool pool_{1};  // the sampler's thread only
  std::atomic<Job*> slot_{nullptr};
  std::atomic<bool> stop_{false};
  sem_t wake_;  // posted once per job offered, and to stop
  mutable absl::Mutex mu_;
  uint64_t completed_ ABSL_GUARDED_BY(mu_) = 0;
  std::thread thread_;  // last: starts once the members above exist
};

// Which requests of one model version the sampler takes, and where a
// synchronous check computes. Immutable but for a relaxed counter;
// thread-safe. Shared by the model's entry and its requests.
class QualityPolicy {
 public:
  // `rate` in [0, 1] (the manifest's quality_sample_rate, else the server's
  // --quality-sample-rate). `sampler` may be null only when rate is 0.
  // `pool` is the server's compute pool, where synchronous checks run (on
  // the executor thread, which owns it while a batch completes).
  QualityPolicy(double rate, std::shared_ptr<QualitySampler> sampler,
                ThreadPool* pool)
      : rate_(rate), sampler_(std::move(sampler)), pool_(pool) {}

  double rate() const { return rate_; }
  // Whether to sample the next int8-mode request: exactly rate() of them,
  // evenly spaced (request n is taken when floor((n + 1)·rate) >
  // floor(n·rate)). At rate 0 one branch, no shared write.
  bool Draw() {
    if (rate_ <= 0.0) return false;
    return DrawSlow();
  }
  QualitySampler* sampler() const { return sampler_.get(); }
  ThreadPool* pool() const { return pool_; }

 private:
  bool DrawSlow();

  const double rate_;
  const std::shared_ptr<QualitySampler> sampler_;
  ThreadPool* const pool_;
  std::atomic<uint64_t> drawn_{0};  // relaxed
};

}  // namespace qlinear::server

#endif  // QLINEAR_SERVER_QUALITY_SAMPLER_H_
