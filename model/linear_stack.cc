#include "model/linear_stack.h"

#include <chrono>
#include <cstring>
#include <utility>

#include "absl/strings/str_cat.h"
#include "common/status_macros.h"

namespace qlinear::model {
namespace {

uint64_t Nanos(std::chrono::steady_clock::duration d) {
  return static_cast<uint64_t>(
      std::chrono::duration_cast<std::chrono::nanoseconds>(d).count());
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

absl::Status LinearStack::Run(const RunOptions& options,
                              absl::Span<const RowGroup> groups,
                              std::vector<float>* activations,
                              std::vector<float>* scratch,
                              RunReport* report) const {
  if (options.begin >= options.end || options.end > layers_.size()) {
    return absl::InvalidArgumentError(
        absl::StrCat("layer range [", options.begin, ", ", options.end,
                     ") is not within [0, ", layers_.size(), ")"));
  }
  if (!options.apply_activation && options.end - options.begin != 1) {
    return absl::InvalidArgumentError(
        "a Matmul (no activation) runs exactly one layer");
  }
  size_t width = layers_[options.begin]->k();
  size_t rows_in = 0;
  for (const RowGroup& g : groups) rows_in += g.rows;
  if (activations->size() != rows_in * width) {
    return absl::InvalidArgumentError(absl::StrCat(
        activations->size(), " activations for ", rows_in, " rows of ", width));
  }
  RunReport local;
  RunReport& out = report != nullptr ? *report : local;
  out = RunReport();
  out.calls.reserve(2 * (options.end - options.begin));
  out.layers.reserve(options.end - options.begin);

  // Groups still running, by index into `groups`.
  std::vector<size_t> live(groups.size());
  for (size_t g = 0; g < groups.size(); ++g) live[g] = g;
  std::vector<float>& current = *activations;
  std::vector<float>& next = *scratch;

  for (size_t layer = options.begin; layer < options.end; ++layer) {
    // Drop the groups that stop here, compacting the rows of the others.
    if (options.keep_group) {
      size_t kept_rows = 0, offset = 0, kept = 0;
      for (size_t g : live) {
        const size_t rows = groups[g].rows;
        if (options.keep_group(g, out.layers_executed)) {
          if (kept_rows != offset) {
            std::memmove(current.data() + kept_rows * width,
                         current.data() + offset * width,
                         rows * width * sizeof(float));
          }
          kept_rows += rows;
          live[kept++] = g;
        }
        offset += rows;
      }
      live.resize(kept);
      current.resize(kept_rows * width);
    }
    if (live.empty()) break;

    const Linear& linear = *layers_[layer];
    const size_t rows_total = current.size() / width;
    next.resize(rows_total * linear.n());
    // One clock read per call: a call ends when the next starts.
    const auto layer_start = std::chrono::steady_clock::now();
    auto call_start = layer_start;
    size_t row = 0;
    for (size_t i = 0; i < live.size();) {
      const ActQuant mode = groups[live[i]].mode;
      size_t rows = 0;
      for (; i < live.size() && groups[live[i]].mode == mode; ++i)
        rows += groups[live[i]].rows;
      double act_quant_seconds = 0.0;
      linear.Run(current.data() + row * width, rows, mode,
                 options.apply_activation, next.data() + row * linear.n(),
                 options.pool, &act_quant_seconds);
      const auto call_end = std::chrono::steady_clock::now();
      out.calls.push_back({layer, mode, rows, Nanos(call_end - call_start),
                           static_cast<uint64_t>(act_quant_seconds * 1e9)});
      call_start = call_end;
      row += rows;
    }
    const uint64_t layer_ns = Nanos(call_start - layer_start);
    out.layers.push_back({layer, linear.kernel_name(groups[live[0]].mode),
                          static_cast<double>(layer_ns) * 1e-9});
    out.compute_ns += layer_ns;
    ++out.layers_executed;
    if (options.layer_done) options.layer_done(layer, rows_total);
    std::swap(current, next);
    width = linear.n();
  }
  out.cols = width;
  return absl::OkStatus();
}

absl::Status LinearStack::RunOneGroup(const RunOptions& options, const float* x,
                                      size_t m, ActQuant mode,
                                      std::vector<float>* y,
                                      std::vector<LayerTiming>* timings) const {
  if (options.begin >= options.end || options.end > layers_.size()) {
    return absl::InvalidArgumentError(
        absl::StrCat("layer range [", options.begin, ", ", options.end,
                     ") is not within [0, ", layers_.size(), ")"));
  }
  std::vector<float> activations(x, x + m * layers_[options.begin]->k());
  std::vector<float> scratch;
  const RowGroup group{m, mode};
  RunReport report;
  QL_RETURN_IF_ERROR(Run(options, absl::MakeConstSpan(&group, 1), &activations,
                         &scratch, &report));
  if (timings != nullptr) {
    timings->insert(timings->end(), report.layers.begin(), report.layers.end());
  }
  *y = std::move(activations);
  return absl::OkStatus();
}

absl::Status LinearStack::Forward(const float* x, size_t m, size_t begin,
                                  size_t end, ActQuant mode,
                                  std::vector<float>* y,
                                  std::vector<LayerTiming>* timings,
                                  ThreadPool* pool) const {
  RunOptions options;
  options.begin = begin;
  options.end = end;
  options.pool = pool;
  return RunOneGroup(options, x, m, mode, y, timings);
}

absl::Status LinearStack::Matmul(size_t layer, const float* x, size_t m,
                                 ActQuant mode, std::vector<float>* y,
                                 std::vector<LayerTiming>* timings,
                                 ThreadPool* pool) const {
  if (layer >= layers_.size()) {
    return absl::InvalidArgumentError(absl::StrCat(
        "layer ", layer, " is not within [0, ", layers_.size(), ")"));
  }
  RunOptions options;
  options.begin = layer;
  options.end = layer + 1;
  options.apply_activation = false;
  options.pool = pool;
  return RunOneGroup(options, x, m, mode, y, timings);
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
