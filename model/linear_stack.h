// LinearStack: a loaded model, an ordered stack of packed linear layers with
// bias and activation functions.
//
// Immutable after Create(); Run(), Forward() and Matmul() are thread-safe
// and may run concurrently (each call's buffers are its own).
#ifndef QLINEAR_MODEL_LINEAR_STACK_H_
#define QLINEAR_MODEL_LINEAR_STACK_H_

#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/types/span.h"
#include "kernels/linear.h"
#include "model/manifest.h"

namespace qlinear::model {

// Wall time spent in each layer's kernel during one call.
struct LayerTiming {
  size_t layer = 0;
  std::string_view kernel;  // Linear::kernel_name() of the mode used
  double kernel_seconds = 0.0;
};

// The rows of one request inside a batch: consecutive in the activations,
// in one activation mode, and kept or dropped together.
struct RowGroup {
  size_t rows = 0;
  ActQuant mode = ActQuant::kNone;
};

// One kernel call of LinearStack::Run(): a layer over the adjacent groups
// of one mode. What the per-layer metrics record.
struct KernelCall {
  size_t layer = 0;
  ActQuant mode = ActQuant::kNone;
  size_t rows = 0;
  uint64_t ns = 0;            // wall time of the call
  uint64_t act_quant_ns = 0;  // of which quantizing activations (int8 mode)
};

struct RunOptions {
  size_t begin = 0;  // layer range [begin, end)
  size_t end = 0;
  // False only for the Matmul RPC: one layer, bias and no activation.
  bool apply_activation = true;
  // Where the kernels split their work; nullptr: ComputePool().
  ThreadPool* pool = nullptr;
  // Asked before each layer, for each group still running, whether it goes
  // on (`layers_done` layers are behind it). A group answered false leaves
  // the run at once: its rows cost no more compute and are not in the
  // output. Empty: every group runs to the end.
  std::function<bool(size_t group, size_t layers_done)> keep_group;
  // Told after each layer how many rows it ran. May be empty.
  std::function<void(size_t layer, size_t rows)> layer_done;
};

// What Run() did.
struct RunReport {
  size_t layers_executed = 0;  // 0 when every group left before layer one
  size_t cols = 0;             // width of the output rows
  uint64_t compute_ns = 0;     // sum of the layers' wall times
  // One per layer run; the kernel named is that of the first group's mode.
  std::vector<LayerTiming> layers;
  std::vector<KernelCall> calls;  // in execution order
};

class LinearStack {
 public:
  // Takes the manifest and one Linear per manifest layer, in order.
  // Errors: INVALID_ARGUMENT when counts or shapes disagree with the manifest.
  static absl::StatusOr<std::unique_ptr<LinearStack>> Create(
      Manifest manifest, std::vector<std::unique_ptr<Linear>> layers);

  LinearStack(const LinearStack&) = delete;
  LinearStack& operator=(const LinearStack&) = delete;

  // The execution loop: every forward pass (RPCs, tools, tests) runs here.
  // `*activations` holds the groups' rows back to back, each
  // in_features(begin) wide; groups of one mode that are adjacent run as one
  // kernel call per layer (order groups by mode for the fewest calls). On
  // return it holds the rows of the groups kept to the end,
  // out_features(end - 1) wide, in group order; `*scratch` is the second
  // buffer of the ping-pong (contents unspecified; reuse it across calls).
  // A row's result is bitwise that of the row run alone (the kernels are
  // batch invariant). `report` may be null.
  // Errors: INVALID_ARGUMENT for an empty or out-of-range layer range, a
  // Matmul over more than one layer, or activations whose size is not the
  // groups' rows times in_features(begin).
  absl::Status Run(const RunOptions& options, absl::Span<const RowGroup> groups,
                   std::vector<float>* activations, std::vector<float>* scratch,
                   RunReport* report) const;

  // Run() of one group over layers [begin, end) on x [m, in_features(begin)];
  // writes [m, out_features(end - 1)] floats to `y` (resized). Values are in
  // dtype(). Errors: those of Run().
  absl::Status Forward(const float* x, size_t m, size_t begin, size_t end,
                       ActQuant mode, std::vector<float>* y,
                       std::vector<LayerTiming>* timings = nullptr,
                       ThreadPool* pool = nullptr) const;

  // One layer with its bias and no activation function.
  // Errors: INVALID_ARGUMENT for a layer index out of range.
  absl::Status Matmul(size_t layer, const float* x, size_t m, ActQuant mode,
                      std::vector<float>* y,
                      std::vector<LayerTiming>* timings = nullptr,
                      ThreadPool* pool = nullptr) const;

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

  // Forward() and Matmul(): Run() of one group copied from x.
  absl::Status RunOneGroup(const RunOptions& options, const float* x, size_t m,
                           ActQuant mode, std::vector<float>* y,
                           std::vector<LayerTiming>* timings) const;

  const Manifest manifest_;
  const std::vector<std::unique_ptr<Linear>> layers_;
};

}  // namespace qlinear::model

#endif  // QLINEAR_MODEL_LINEAR_STACK_H_
