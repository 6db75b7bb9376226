// ModelManager: the model lifecycle. Loads versions from the repository,
// packs and warms them beside the serving version, swaps them in atomically,
// and unloads them. It keeps the registry and the batcher queues in step.
//
// Thread-safe. Loads and unloads are serialized; serving never blocks on
// them (requests read the registry, which changes in one atomic step).
#ifndef QLINEAR_SERVER_MODEL_MANAGER_H_
#define QLINEAR_SERVER_MODEL_MANAGER_H_

#include <atomic>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/synchronization/mutex.h"
#include "kernels/thread_pool.h"
#include "model/linear_stack.h"
#include "server/batching/batcher.h"
#include "server/metrics.h"
#include "server/model_registry.h"
#include "server/stats.h"

namespace qlinear::server {

// Where a model stands, for repository listings.
enum class ModelReadiness {
  kReady,        // a version serves
  kLoading,      // a load is under way and no version serves yet
  kUnavailable,  // not loaded, unloaded, or its load failed (see `reason`)
};

// The wire name of `r`: "READY", "LOADING" or "UNAVAILABLE" (docs/api.md).
std::string_view ReadinessName(ModelReadiness r);

// One model known to the server, for repository listings.
struct ModelState {
  std::string name;
  std::string version;  // the serving version, or the latest on disk
  ModelReadiness state = ModelReadiness::kUnavailable;
  std::string reason;
};

class ModelManager {
 public:
  // `registry`, `batcher` and `pool` are not owned and must outlive the
  // manager. `repository` may be empty (no repository: only Add()ed models).
  // `max_queued_rows` > 0 overrides each manifest's batching.max_queue_rows.
  // `metrics` and `stats` may be null (no metrics block, no statistics);
  // when set, each served version's entry caches its metrics block and its
  // ModelStats, and they must outlive the manager.
  ModelManager(std::string repository, ModelRegistry* registry,
               batching::Batcher* batcher, ThreadPool* pool,
               int64_t max_queued_rows, Metrics* metrics = nullptr,
               StatsRegistry* stats = nullptr);
  ModelManager(const ModelManager&) = delete;
  ModelManager& operator=(const ModelManager&) = delete;

  // Serves `stack` as `name`/`version` (the embedded model; tests), without
  // warm-up: its queue has no cost curve, so an adaptive delay never waits.
  void Add(const std::string& name, const std::string& version,
           std::shared_ptr<const model::LinearStack> stack)
      ABSL_LOCKS_EXCLUDED(mu_);

  // Errors of Load() and Unload() also include INVALID_ARGUMENT for a name
  // or version that is not a plain directory name.
  //
  // Loads `name` at `version` (empty: the latest on disk) from the
  // repository, packs it, runs every kernel path once, then swaps it in.
  // The previous version serves until the swap and finishes its in-flight
  // batches afterwards. On failure the previous version keeps serving.
  // Errors: FAILED_PRECONDITION (no repository), NOT_FOUND (no such model
  // or version directory), INVALID_ARGUMENT (corrupt files: the loader's
  // message, with the model and path).
  // UNAVAILABLE once AbandonLoads() was called (the load is abandoned
  // between layers, and nothing is swapped in).
  absl::Status Load(const std::string& name, const std::string& version)
      ABSL_LOCKS_EXCLUDED(mu_, load_mu_);

  // Loads the model directory `dir` (model.json + model.safetensors, no
  // version subdirectories: KServe's /mnt/models) and serves it as `name`
  // version "1", as Load() does. Errors: INVALID_ARGUMENT (`name` not a plain
  // name, corrupt files), NOT_FOUND (`dir` not a directory, a missing file),
  // UNAVAILABLE once AbandonLoads() was called.
  absl::Status LoadDirectory(const std::string& name, const std::string& dir)
      ABSL_LOCKS_EXCLUDED(mu_, load_mu_);

  // The checks Load() makes before it takes the load lock, without loading:
  // cheap (a few stat calls), so a request that would fail at once is
  // answered at once. Errors: those of Load() but for corrupt files.
  absl::Status CheckLoadable(const std::string& name,
                             const std::string& version) const;

  // From now on every Load() (the one running included, at its next layer)
  // stops with UNAVAILABLE and swaps nothing in. For shutdown; irreversible.
  void AbandonLoads() { abandoned_.store(true, std::memory_order_relaxed); }

  // Stops serving `name`: new requests get NOT_FOUND; batches in flight
  // finish, and the memory is freed when the last one does.
  // Errors: NOT_FOUND (not loaded).
  absl::Status Unload(const std::string& name)
      ABSL_LOCKS_EXCLUDED(mu_, load_mu_);

  // Every model loaded or present in the repository, sorted by name.
  std::vector<ModelState> Index() const ABSL_LOCKS_EXCLUDED(mu_);

  // Called with (model, ready) whenever a model starts or stops serving
  // (e.g. to drive per-model health). Set before concurrent use.
  void set_readiness_listener(
      std::function<void(const std::string&, bool)> listener) {
    readiness_listener_ = std::move(listener);
  }

  // Quality telemetry: each version served from now on samples its int8
  // requests at its manifest's quality_sample_rate, else `default_rate`
  // (0..1), into `sampler`; its synchronous checks run on the manager's
  // pool. Without a sampler (the default) nothing is sampled. Set before
  // concurrent use.
  void set_quality_sampling(std::shared_ptr<QualitySampler> sampler,
                            double default_rate) {
    quality_sampler_ = std::move(sampler);
    default_quality_rate_ = default_rate;
  }

  // Tests only: Load() calls `hook` with the model name and version once the
  // model is marked loading (requests for a model with no serving version
  // then get UNAVAILABLE) and before it reads the files, so a test can hold
  // a load in progress. Set before concurrent use.
  void set_load_hook_for_test(
      std::function<void(const std::string&, const std::string&)> hook) {
    load_hook_for_test_ = std::move(hook);
  }

 private:
  void SetReason(const std::string& name, std::string reason)
      ABSL_LOCKS_EXCLUDED(mu_);
  // Loads `dir` as name/version: packs, warms and swaps it in, or records
  // why it failed. REQUIRES: load_mu_ held.
  absl::Status LoadFrom(const std::string& name, const std::string& version,
                        const std::filesystem::path& dir)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(load_mu_);
  // Serves `stack` as name/version in one step, retiring the old version's
  // metrics; `cost_curve` (measured at warm-up, may be empty) goes to its
  // queue. REQUIRES: load_mu_ held.
  void Swap(const std::string& name, const std::string& version,
            std::shared_ptr<const model::LinearStack> stack,
            std::vector<batching::CostPoint> cost_curve);

  // Constant after construction.
  const std::string repository_;
  ModelRegistry* const registry_;
  batching::Batcher* const batcher_;
  ThreadPool* const pool_;
  const int64_t max_queued_rows_;
  Metrics* const metrics_;
  StatsRegistry* const stats_;

  std::shared_ptr<QualitySampler> quality_sampler_;
  double default_quality_rate_ = 0.0;
  std::function<void(const std::string&, bool)> readiness_listener_;
  std::function<void(const std::string&, const std::string&)>
      load_hook_for_test_;

  std::atomic<bool> abandoned_{false};

  absl::Mutex load_mu_;     // serializes loads and unloads (held for seconds)
  mutable absl::Mutex mu_;  // guards the fields below (held briefly)
  // Why a model is not serving (failed load, unloaded). Which loads are
  // under way is the registry's to know (ModelRegistry::Loading()).
  std::map<std::string, std::string> unavailable_reason_ ABSL_GUARDED_BY(mu_);
};

}  // namespace qlinear::server

#endif  // QLINEAR_SERVER_MODEL_MANAGER_H_
