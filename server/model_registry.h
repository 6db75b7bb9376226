// ModelRegistry: the models a server holds, by name, one version each.
//
// Thread-safe. Entries hold shared_ptrs, so a model stays alive for as long
// as a caller keeps the entry, even after it is replaced.
#ifndef QLINEAR_SERVER_MODEL_REGISTRY_H_
#define QLINEAR_SERVER_MODEL_REGISTRY_H_

#include <functional>
#include <map>
#include <memory>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "model/linear_stack.h"
#include "server/metrics.h"
#include "server/quality_sampler.h"
#include "server/stats.h"

namespace qlinear::server {

// One loaded model version. Immutable; safe to share.
struct ModelEntry {
  std::string name;
  std::string version;
  std::shared_ptr<const model::LinearStack> stack;
  // The statistics of this version (the StatsRegistry's), cached here at
  // load so that requests record without a registry lookup; null without
  // statistics.
  std::shared_ptr<ModelStats> stats;
  // The metrics block of this version; null when metrics are off.
  std::shared_ptr<ModelMetrics> metrics;
  // Which of its requests the quality sampler takes, and where synchronous
  // checks run; null: none sampled, checks on ComputePool().
  std::shared_ptr<QualityPolicy> quality;
};

class ModelRegistry {
 public:
  ModelRegistry() = default;
  ModelRegistry(const ModelRegistry&) = delete;
  ModelRegistry& operator=(const ModelRegistry&) = delete;

  // Adds `entry`, replacing any entry of the same name.
  // REQUIRES: entry.stack != nullptr, entry.version not empty.
  void Add(ModelEntry entry) ABSL_LOCKS_EXCLUDED(mu_);

  // Stops serving `name`. Returns false if it was not served.
  bool Remove(std::string_view name) ABSL_LOCKS_EXCLUDED(mu_);

  // Marks `name` as loading (or not). A model that is loading and has no
  // serving version answers UNAVAILABLE instead of NOT_FOUND.
  void SetLoading(std::string_view name, bool loading) ABSL_LOCKS_EXCLUDED(mu_);

  // The entry of model `name`. An empty `version` matches any version.
  // Errors: NOT_FOUND "model 'x' not found" or
  // "model 'x' has no version '3'"; UNAVAILABLE "model 'x' is loading".
  absl::StatusOr<ModelEntry> Get(std::string_view name,
                                 std::string_view version) const
      ABSL_LOCKS_EXCLUDED(mu_);

  // Get() for a request whose field `field` names the model: an empty
  // `name` is INVALID_ARGUMENT "<field>: required"; otherwise Get()'s errors.
  absl::StatusOr<ModelEntry> Lookup(std::string_view field,
                                    std::string_view name,
                                    std::string_view version) const
      ABSL_LOCKS_EXCLUDED(mu_);

  // Every entry, sorted by name.
  std::vector<ModelEntry> List() const ABSL_LOCKS_EXCLUDED(mu_);

  // The models marked loading, sorted by name.
  std::vector<std::string> Loading() const ABSL_LOCKS_EXCLUDED(mu_);

 private:
  mutable absl::Mutex mu_;
  // Protected by mu_.
  std::map<std::string, ModelEntry, std::less<>> models_ ABSL_GUARDED_BY(mu_);
  std::set<std::string, std::less<>> loading_ ABSL_GUARDED_BY(mu_);
};

}  // namespace qlinear::server

#endif  // QLINEAR_SERVER_MODEL_REGISTRY_H_
