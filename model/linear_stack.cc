#include "model/linear_stack.h"

#include <chrono>
#include <utility>

#include "absl/strings/str_cat.h"

namespace qlinear::model {
namespace {

double SecondsSince(std::chrono::steady_clock::time_point start) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - start)
      .count();
}

}  // namespace

absl::StatusOr<std::unique_ptr<LinearStack>> LinearStack::Create(
    Manifest manifest, std::vector<std::unique_ptr<Linear>> layers) {
  if (layers.empty() || layers.size() != manifest.layers.size()) {
    return absl::InvalidArgumentError(
        absl::StrCat("LinearStack: ", layers.size(),
                     " layers for a manifest of ", manifest.layers.size()));
  }
  for (size_t i = 0; i < layers.size(); ++i) {
    const LayerSpec& spec = manifest.layers[i];
    const Linear& l = *layers[i];
    if (l.k() != spec.in_features || l.n() != spec.out_features ||
        l.format() != spec.format || l.dtype() != manifest.dtype) {
      return absl::InvalidArgumentError(
          absl::StrCat("LinearStack: layer '", spec.name,
                       "' does not match its manifest entry"));
    }
  }
  return std::unique_ptr<LinearStack>(
      new LinearStack(std::move(manifest), std::move(layers)));
}

absl::Status LinearStack::Forward(const float* x, size_t m, size_t begin,
                                  size_t end, ActQuant mode,
                                  std::vector<float>* y,
                                  std::vector<LayerTiming>* timings) const {
  if (begin >= end || end > layers_.size()) {
    return absl::InvalidArgumentError(absl::StrCat("layer range [", begin, ", ",
                                                   end, ") is not within [0, ",
                                                   layers_.size(), ")"));
  }
  std::vector<float> current;
  const float* in = x;
  for (size_t i = begin; i < end; ++i) {
    const Linear& l = *layers_[i];
    std::vector<float> out(m * l.n());
    const auto start = std::chrono::steady_clock::now();
    l.Run(in, m, mode, /*apply_activation=*/true, out.data());
    if (timings != nullptr)
      timings->push_back({i, l.kernel_name(mode), SecondsSince(start)});
    current = std::move(out);
    in = current.data();
  }
  *y = std::move(current);
  return absl::OkStatus();
}

absl::Status LinearStack::Matmul(size_t layer, const float* x, size_t m,
                                 ActQuant mode, std::vector<float>* y,
                                 std::vector<LayerTiming>* timings) const {
  if (layer >= layers_.size()) {
    return absl::InvalidArgumentError(absl::StrCat(
        "layer ", layer, " is not within [0, ", layers_.size(), ")"));
  }
  const Linear& l = *layers_[layer];
  y->resize(m * l.n());
  const auto start = std::chrono::steady_clock::now();
  l.Run(x, m, mode, /*apply_activation=*/false, y->data());
  if (timings != nullptr)
    timings->push_back({layer, l.kernel_name(mode), SecondsSince(start)});
  return absl::OkStatus();
}

int LinearStack::FindLayer(std::string_view name) const {
  for (size_t i = 0; i < manifest_.layers.size(); ++i) {
    if (manifest_.layers[i].name == name) return static_cast<int>(i);
  }
  return -1;
}

size_t LinearStack::held_bytes() const {
  size_t total = sizeof(LinearStack) + layers_.capacity() * sizeof(layers_[0]) +
                 manifest_.layers.capacity() * sizeof(LayerSpec);
  for (const auto& l : layers_) total += l->held_bytes();
  return total;
}

size_t LinearStack::packed_bytes() const {
  size_t total = 0;
  for (const auto& l : layers_) total += l->packed_bytes();
  return total;
}

}  // namespace qlinear::model
