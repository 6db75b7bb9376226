#include "model/repository.h"

#include <algorithm>
#include <filesystem>
#include <system_error>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"

namespace qlinear::model {

absl::StatusOr<std::vector<ModelVersionDir>> ScanRepository(
    const std::string& root) {
  namespace fs = std::filesystem;
  std::error_code ec;
  if (!fs::is_directory(root, ec)) {
    return absl::NotFoundError(
        absl::StrCat("model repository '", root, "' is not a directory"));
  }
  std::vector<ModelVersionDir> models;
  for (const fs::directory_entry& model_dir :
       fs::directory_iterator(root, ec)) {
    if (!model_dir.is_directory(ec)) continue;
    ModelVersionDir latest;
    latest.version = -1;
    for (const fs::directory_entry& version_dir :
         fs::directory_iterator(model_dir.path(), ec)) {
      if (!version_dir.is_directory(ec)) continue;
      int64_t version = 0;
      if (!absl::SimpleAtoi(version_dir.path().filename().string(), &version) ||
          version < 0) {
        continue;
      }
      if (version > latest.version) {
        latest.name = model_dir.path().filename().string();
        latest.version = version;
        latest.path = version_dir.path().string();
      }
    }
    if (latest.version >= 0) models.push_back(latest);
  }
  if (ec)
    return absl::InternalError(
        absl::StrCat("reading '", root, "': ", ec.message()));
  std::sort(models.begin(), models.end(),
            [](const ModelVersionDir& a, const ModelVersionDir& b) {
              return a.name < b.name;
            });
  return models;
}

}  // namespace qlinear::model
