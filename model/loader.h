// Builds LinearStacks from model files: the manifest plus the tensors of its
// three weight sources (float quantized at load, int4_plain, torchao_intx).
// Thread-safe (no shared state).
#ifndef QLINEAR_MODEL_LOADER_H_
#define QLINEAR_MODEL_LOADER_H_

#include <functional>
#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "model/linear_stack.h"
#include "model/manifest.h"
#include "model/safetensors.h"

namespace qlinear::model {

// Asked before each layer is built; true abandons the build with the status
// CANCELLED "abandoned before layer '<name>'". May be empty (never).
using AbandonCheck = std::function<bool()>;

// Quantizes/validates every layer of `manifest` from `tensors` and packs it,
// a slab of about 1M weights at a time whatever the source (each slab's
// mapped pages are released once consumed), so a load holds the packed
// layers and about one slab of source. For torchao_intx layers, torchao's
// __metadata__ (docs/manifest.md, "torchao_intx") is cross-checked against
// the manifest when present.
// Errors: INVALID_ARGUMENT naming the tensor and the problem (missing key,
// wrong dtype or shape, code out of range, non-finite value, metadata that
// contradicts the manifest: class, block_size, target_dtype, dtype), and
// CANCELLED when `abandoned` says so.
absl::StatusOr<std::unique_ptr<LinearStack>> BuildLinearStack(
    const Manifest& manifest, const SafetensorsFile& tensors,
    const AbandonCheck& abandoned = {});

// Loads the model directory `dir` (model.json + model.safetensors).
// Errors: NOT_FOUND (missing file), INVALID_ARGUMENT (corrupt file; the
// message starts with the file name), CANCELLED when `abandoned` says so.
absl::StatusOr<std::unique_ptr<LinearStack>> LoadModelDir(
    const std::string& dir, const AbandonCheck& abandoned = {});

}  // namespace qlinear::model

#endif  // QLINEAR_MODEL_LOADER_H_
