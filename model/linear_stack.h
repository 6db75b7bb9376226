// LinearStack: a loaded model, an ordered stack of packed linear layers with
// bias and activation functions.
//
// Immutable after Create(); Forward() and Matmul() are thread-safe and may
// run concurrently.
#ifndef QLINEAR_MODEL_LINEAR_STACK_H_
#define QLINEAR_MODEL_LINEAR_STACK_H_

#include <cstddef>
#include <memory>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"
#include "kernels/linear.h"
#include "model/manifest.h"

namespace qlinear::model {

// Wall time spent in each layer's kernel during one call.
struct LayerTiming {
  size_t layer = 0;
  std::string_view kernel;  // Linear::kernel_name() of the mode used
  double kernel_seconds = 0.0;
};

class LinearStack {
 public:
  // Takes the manifest and one Linear per manifest layer, in order.
  // Errors: INVALID_ARGUMENT when counts or shapes disagree with the manifest.
  static absl::StatusOr<std::unique_ptr<LinearStack>> Create(
      Manifest manifest, std::vector<std::unique_ptr<Linear>> layers);

  LinearStack(const LinearStack&) = delete;
  LinearStack& operator=(const LinearStack&) = delete;

  // Runs layers [begin, end) on x [m, in_features(begin)] and writes
  // [m, out_features(end - 1)] floats to `y` (resized). Values are in dtype().
  // Errors: INVALID_ARGUMENT for an empty or out-of-range layer range.
  absl::Status Forward(const float* x, size_t m, size_t begin, size_t end,
                       ActQuant mode, std::vector<float>* y,
                       std::vector<LayerTiming>* timings = nullptr) const;

  // One layer with its bias and no activation function.
  // Errors: INVALID_ARGUMENT for a layer index out of range.
  absl::Status Matmul(size_t layer, const float* x, size_t m, ActQuant mode,
                      std::vector<float>* y,
                      std::vector<LayerTiming>* timings = nullptr) const;

  const Manifest& manifest() const { return manifest_; }
  DType dtype() const { return manifest_.dtype; }
  size_t num_layers() const { return layers_.size(); }
  const Linear& layer(size_t i) const { return *layers_[i]; }
  const LayerSpec& layer_spec(size_t i) const { return manifest_.layers[i]; }
  // Index of the layer called `name`, or -1.
  int FindLayer(std::string_view name) const;
  // Sum of the packed bytes of all layers.
  size_t packed_bytes() const;
  // Every byte the stack holds: the layers' held_bytes() plus the stack and
  // its manifest.
  size_t held_bytes() const;

 private:
  LinearStack(Manifest manifest, std::vector<std::unique_ptr<Linear>> layers)
      : manifest_(std::move(manifest)), layers_(std::move(layers)) {}

  const Manifest manifest_;
  const std::vector<std::unique_ptr<Linear>> layers_;
};

}  // namespace qlinear::model

#endif  // QLINEAR_MODEL_LINEAR_STACK_H_
