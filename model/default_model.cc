#include "model/default_model.h"

#include <cmath>
#include <cstring>

#include "absl/strings/str_cat.h"
#include "common/status_macros.h"
#include "model/loader.h"
#include "model/safetensors.h"

namespace qlinear::model {
namespace {

// SplitMix64: a small, fixed, well-mixed generator so the model is identical
// on every machine and standard library.
class SplitMix64 {
 public:
  explicit SplitMix64(uint64_t seed) : state_(seed) {}
  uint64_t Next() {
    uint64_t z = (state_ += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
  }
  // Uniform in [-bound, bound).
  float Uniform(float bound) {
    const float unit =
        static_cast<float>(Next() >> 40) * (1.0f / 16777216.0f);  // [0, 1)
    return (2.0f * unit - 1.0f) * bound;
  }

 private:
  uint64_t state_;
};

std::string Encode(DType t, const std::vector<float>& values) {
  std::string bytes(values.size() * DTypeSize(t), '\0');
  for (size_t i = 0; i < values.size(); ++i)
    StoreFromFloat(t, values[i], bytes.data(), i);
  return bytes;
}

}  // namespace

SyntheticModelFiles MakeSyntheticModelFiles(const SyntheticModelSpec& spec) {
  SyntheticModelFiles files;
  Manifest& m = files.manifest;
  m.dtype = spec.dtype;
  SplitMix64 rng(spec.seed);
  std::vector<std::string> blobs;  // keeps tensor bytes alive for the writer
  std::vector<TensorView> views;
  const size_t num_layers = spec.widths.size() - 1;
  blobs.reserve(2 * num_layers);
  for (size_t i = 0; i < num_layers; ++i) {
    LayerSpec layer;
    layer.name = absl::StrCat("fc", i + 1);
    layer.in_features = spec.widths[i];
    layer.out_features = spec.widths[i + 1];
    layer.bias = true;
    layer.activation =
        i + 1 < num_layers ? Activation::kSilu : Activation::kNone;
    layer.format = spec.format;
    layer.source = WeightSource::kFloat;
    if (spec.format != WeightFormat::kFp32) layer.group_size = spec.group_size;
    if (spec.format == WeightFormat::kIntxOpaque) {
      layer.bits = 4;
      layer.mapping = Mapping::kSymmetric;
    }
    m.layers.push_back(layer);

    // nn.Linear's default init range: U(-1/sqrt(K), 1/sqrt(K)).
    const float bound = 1.0f / std::sqrt(static_cast<float>(layer.in_features));
    std::vector<float> weight(layer.out_features * layer.in_features);
    for (float& v : weight) v = rng.Uniform(bound);
    std::vector<float> bias(layer.out_features);
    for (float& v : bias) v = rng.Uniform(bound);

    const int64_t n = static_cast<int64_t>(layer.out_features);
    const int64_t k = static_cast<int64_t>(layer.in_features);
    blobs.push_back(Encode(spec.dtype, weight));
    views.push_back({layer.name + ".weight",
                     TensorDTypeOf(spec.dtype),
                     {n, k},
                     reinterpret_cast<const uint8_t*>(blobs.back().data()),
                     blobs.back().size()});
    blobs.push_back(Encode(spec.dtype, bias));
    views.push_back({layer.name + ".bias",
                     TensorDTypeOf(spec.dtype),
                     {n},
                     reinterpret_cast<const uint8_t*>(blobs.back().data()),
                     blobs.back().size()});
  }
  files.safetensors =
      WriteSafetensors(views, {{"generator", "qlinear synthetic model"}});
  return files;
}

absl::StatusOr<std::unique_ptr<LinearStack>> BuildSyntheticModel(
    const SyntheticModelSpec& spec) {
  const SyntheticModelFiles files = MakeSyntheticModelFiles(spec);
  QL_ASSIGN_OR_RETURN(std::unique_ptr<SafetensorsFile> tensors,
                      SafetensorsFile::Parse(reinterpret_cast<const uint8_t*>(
                                                 files.safetensors.data()),
                                             files.safetensors.size()));
  return BuildLinearStack(files.manifest, *tensors);
}

absl::StatusOr<std::unique_ptr<LinearStack>> BuildDefaultModel() {
  return BuildSyntheticModel(SyntheticModelSpec{});
}

}  // namespace qlinear::model
