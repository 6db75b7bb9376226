#include "server/model_registry.h"

#include <utility>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/string_view.h"
#include "common/check.h"

namespace qlinear::server {
namespace {

absl::string_view ToAbsl(std::string_view s) {
  return absl::string_view(s.data(), s.size());
}

}  // namespace

void ModelRegistry::Add(ModelEntry entry) {
  QL_CHECK(entry.stack != nullptr);
  QL_CHECK(!entry.version.empty());
  absl::MutexLock lock(&mu_);
  std::string name = entry.name;
  models_.insert_or_assign(std::move(name), std::move(entry));
}

absl::StatusOr<ModelEntry> ModelRegistry::Get(std::string_view name,
                                              std::string_view version) const {
  absl::MutexLock lock(&mu_);
  auto it = models_.find(name);
  if (it == models_.end()) {
    return absl::NotFoundError(
        absl::StrCat("model '", ToAbsl(name), "' not found"));
  }
  if (!version.empty() && version != it->second.version) {
    return absl::NotFoundError(absl::StrCat(
        "model '", ToAbsl(name), "' has no version '", ToAbsl(version), "'"));
  }
  return it->second;
}

std::vector<ModelEntry> ModelRegistry::List() const {
  absl::MutexLock lock(&mu_);
  std::vector<ModelEntry> entries;
  entries.reserve(models_.size());
  for (const auto& [name, entry] : models_) entries.push_back(entry);
  return entries;
}

}  // namespace qlinear::server
