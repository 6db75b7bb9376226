// The model repository on disk: <root>/<name>/<version>/ with a numeric
// version, each version a model directory (model.json + model.safetensors).
// Thread-safe (no shared state).
#ifndef QLINEAR_MODEL_REPOSITORY_H_
#define QLINEAR_MODEL_REPOSITORY_H_

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/statusor.h"

namespace qlinear::model {

struct ModelVersionDir {
  std::string name;
  int64_t version = 0;
  std::string path;  // <root>/<name>/<version>
};

// The latest (highest numbered) version of every model under `root`, sorted
// by name. Entries that are not directories or whose version is not a
// non-negative integer are skipped. Errors: NOT_FOUND if `root` is not a
// directory.
absl::StatusOr<std::vector<ModelVersionDir>> ScanRepository(
    const std::string& root);

}  // namespace qlinear::model

#endif  // QLINEAR_MODEL_REPOSITORY_H_
