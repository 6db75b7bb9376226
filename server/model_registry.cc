#include "server/model_registry.h"

#include <utility>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/string_view.h"
#include "common/check.h"
#include "server/client_text.h"

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

absl::StatusOr<ModelEntry> ModelRegistry::Lookup(
    std::string_view field, std::string_view name,
    std::string_view version) const {
  if (name.empty()) {
    return absl::InvalidArgumentError(
        absl::StrCat(ToAbsl(field), ": required"));
  }
  return Get(name, version);
}

absl::StatusOr<ModelEntry> ModelRegistry::Get(std::string_view name,
                                              std::string_view version) const {
  absl::MutexLock lock(&mu_);
  auto it = models_.find(name);
  if (it == models_.end()) {
    if (loading_.count(name) > 0) {
      return absl::UnavailableError(absl::StrCat(
          "model '", ClientText(name), "' is loading; retry shortly"));
    }
    return absl::NotFoundError(
        absl::StrCat("model '", ClientText(name), "' not found"));
  }
  if (!version.empty() && version != it->second.version) {
    return absl::NotFoundError(absl::StrCat("model '", ClientText(name),
                                            "' has no version '",
                                            ClientText(version), "'"));
  }
  return it->second;
}

bool ModelRegistry::Remove(std::string_view name) {
  absl::MutexLock lock(&mu_);
  auto it = models_.find(name);
  if (it == models_.end()) return false;
  models_.erase(it);
  return true;
}

void ModelRegistry::SetLoading(std::string_view name, bool loading) {
  absl::MutexLock lock(&mu_);
  if (loading) {
    loading_.insert(std::string(name));
  } else {
    auto it = loading_.find(name);
    if (it != loading_.end()) loading_.erase(it);
  }
}

std::vector<ModelEntry> ModelRegistry::List() const {
  absl::MutexLock lock(&mu_);
  std::vector<ModelEntry> entries;
  entries.reserve(models_.size());
  for (const auto& [name, entry] : models_) entries.push_back(entry);
  return entries;
}

std::vector<std::string> ModelRegistry::Loading() const {
  absl::MutexLock lock(&mu_);
  return std::vector<std::string>(loading_.begin(), loading_.end());
}

}  // namespace qlinear::server
