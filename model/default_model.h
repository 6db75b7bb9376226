// The embedded default model served when no repository is given: 4 layers
// 1024 -> 4096 -> 4096 -> 4096 -> 1024, int4_opaque gs 128, bias, SiLU
// between, fp32. Its float weights come from a fixed-seed generator, so every
// start (and every test) gets the same model.
#ifndef QLINEAR_MODEL_DEFAULT_MODEL_H_
#define QLINEAR_MODEL_DEFAULT_MODEL_H_

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "model/linear_stack.h"
#include "model/manifest.h"

namespace qlinear::model {

inline constexpr char kDefaultModelName[] = "default";

// A deterministic synthetic model: `widths` has one more entry than there are
// layers; every layer is `format` with `group_size` (bits 4, symmetric for
// intx), bias, SiLU on all but the last.
struct SyntheticModelSpec {
  std::vector<size_t> widths = {1024, 4096, 4096, 4096, 1024};
  WeightFormat format = WeightFormat::kInt4Opaque;
  size_t group_size = 128;
  DType dtype = DType::kF32;
  uint64_t seed = 20261122;
};

// The manifest and the float safetensors file of a synthetic model.
struct SyntheticModelFiles {
  Manifest manifest;
  std::string safetensors;  // bytes of model.safetensors
};
SyntheticModelFiles MakeSyntheticModelFiles(const SyntheticModelSpec& spec);

// Builds the synthetic model through the normal loading path.
absl::StatusOr<std::unique_ptr<LinearStack>> BuildSyntheticModel(
    const SyntheticModelSpec& spec);

// The default model (SyntheticModelSpec{}).
absl::StatusOr<std::unique_ptr<LinearStack>> BuildDefaultModel();

}  // namespace qlinear::model

#endif  // QLINEAR_MODEL_DEFAULT_MODEL_H_
