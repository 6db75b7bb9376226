// The fixed models the request fuzz targets and their seed generator
// validate against: small synthetic models of each dtype and weight format,
// served under fixed names by one process-wide ModelRegistry. Also the
// request limits the targets use, and the check that a validated input is
// what its bytes say.
#ifndef QLINEAR_TESTS_FUZZ_FUZZ_MODELS_H_
#define QLINEAR_TESTS_FUZZ_FUZZ_MODELS_H_

#include <spdlog/spdlog.h>

#include <cstdint>
#include <cstdlib>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "model/default_model.h"
#include "model/loader.h"
#include "model/safetensors.h"
#include "server/model_registry.h"
#include "server/validation.h"

namespace qlinear::fuzz {

// One fuzz model: its name in the registry and how it is built.
struct FuzzModel {
  std::string name;
  model::SyntheticModelSpec spec;
  ActQuant default_act_quant = ActQuant::kNone;
};

// "f32": fp32, int4 gs 32, 64 -> 32 -> 16 (the SiLU between layers);
// "bf16": bf16, intx 4-bit gs 32, 32 -> 64 -> 32, int8 activations by
// default; "f16": fp16, fp32 weights, 32 -> 16.
inline std::vector<FuzzModel> FuzzModels() {
  std::vector<FuzzModel> models(3);
  models[0].name = "f32";
  models[0].spec.widths = {64, 32, 16};
  models[0].spec.group_size = 32;
  models[1].name = "bf16";
  models[1].spec.widths = {32, 64, 32};
  models[1].spec.group_size = 32;
  models[1].spec.format = WeightFormat::kIntxOpaque;
  models[1].spec.dtype = DType::kBF16;
  models[1].default_act_quant = ActQuant::kInt8AsymPerToken;
  models[2].name = "f16";
  models[2].spec.widths = {32, 16};
  models[2].spec.format = WeightFormat::kFp32;
  models[2].spec.dtype = DType::kF16;
  return models;
}

// Aborts (a fuzzer finding) unless `condition` holds.
inline void FuzzCheck(bool condition) {
  if (!condition) std::abort();
}

// The registry holding every FuzzModels() model as version "1". Built once;
// aborts if a model does not build. Also silences the request log, which
// would otherwise print every rejected input.
inline const server::ModelRegistry& FuzzRegistry() {
  static const server::ModelRegistry* registry = [] {
    spdlog::set_level(spdlog::level::off);
    auto* r = new server::ModelRegistry;
    for (const FuzzModel& m : FuzzModels()) {
      model::SyntheticModelFiles files = model::MakeSyntheticModelFiles(m.spec);
      files.manifest.default_act_quant = m.default_act_quant;
      auto tensors = model::SafetensorsFile::Parse(
          reinterpret_cast<const uint8_t*>(files.safetensors.data()),
          files.safetensors.size());
      FuzzCheck(tensors.ok());
      auto stack = model::BuildLinearStack(files.manifest, **tensors);
      FuzzCheck(stack.ok());
      r->Add(server::ModelEntry{m.name, "1", std::move(*stack), nullptr,
                                nullptr, nullptr});
    }
    return r;
  }();
  return *registry;
}

// Small, so that a fuzzer's inputs stay small and fast.
inline server::RequestLimits FuzzLimits() {
  server::RequestLimits limits;
  limits.max_rows_per_request = 8;
  return limits;
}

// Checks what validation promises of a decoded input for a layer of
// `in_features`: the shape is within the limits, and re-encoding the values
// in `dtype` gives back `wire_bytes` exactly (every value finite and
// representable, nothing dropped or invented).
inline void CheckDecoded(const server::DecodedInput& input, DType dtype,
                         size_t in_features, const std::string& wire_bytes) {
  FuzzCheck(input.rows >= 1);
  FuzzCheck(static_cast<int64_t>(input.rows) <=
            FuzzLimits().max_rows_per_request);
  FuzzCheck(input.cols == in_features);
  FuzzCheck(input.values.size() == input.rows * input.cols);
  std::string again;
  server::EncodeValues(dtype, input.values, &again);
  FuzzCheck(again == wire_bytes);
}

}  // namespace qlinear::fuzz

#endif  // QLINEAR_TESTS_FUZZ_FUZZ_MODELS_H_
