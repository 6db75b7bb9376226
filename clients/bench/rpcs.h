// The RPCs qlinear-bench can drive, over the native API (qlinear.v1) or
// KServe v2 (inference.GRPCInferenceService), and what it asks the server
// before and around a run: the model's shapes and the server's statistics.
#ifndef QLINEAR_CLIENTS_BENCH_RPCS_H_
#define QLINEAR_CLIENTS_BENCH_RPCS_H_

#include <grpcpp/grpcpp.h>

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "clients/bench/load_generator.h"
#include "qlinear/v1/qlinear.pb.h"

namespace qlinear::bench {

// One layer's shape.
struct LayerShape {
  std::string name;
  uint64_t in_features = 0;   // K
  uint64_t out_features = 0;  // N
};

// What the generator knows about the model.
struct ModelFacts {
  std::string name;
  std::string version;
  v1::DataType dtype = v1::DATA_TYPE_UNSPECIFIED;
  // Every layer, from GetModel. Empty when only KServe ModelMetadata
  // answered; then `metadata_input_features` holds the input width.
  std::vector<LayerShape> layers;
  uint64_t metadata_input_features = 0;
};

// Asks GetModel (native API); for api "kserve", falls back to ModelMetadata
// when the native service is not there. Returns the server's status on
// failure (NOT_FOUND for an unknown model, UNAVAILABLE when unreachable).
absl::StatusOr<ModelFacts> DescribeModel(
    const std::shared_ptr<grpc::Channel>& channel, const std::string& api,
    const std::string& model, const std::string& version,
    absl::Duration timeout);

struct RequestOptions {
  // "forward", "matmul" (native), "infer" (KServe ModelInfer), or the empty
  // RPCs "health" (grpc.health.v1 Check), "list" (ListModels), "live"
  // (KServe ServerLive).
  std::string rpc = "forward";
  std::string model;
  std::string version;
  // matmul: the layer to run.
  std::string layer;
  v1::DataType dtype = v1::DATA_TYPE_FP32;
  int64_t rows = 1;
  // Input width K of the first layer run.
  uint64_t input_features = 0;
  // "default", "none" or "int8_asym_per_token".
  std::string act_quant = "default";
  // -1: not sent (the server's default).
  int layer_start = -1;
  int layer_end = -1;
  // forward/matmul: ask for timings (batch rows, queue, layer times).
  bool timings = true;
  // Seed of the random input.
  uint64_t seed = 1;
};

// Builds the request once and returns a RequestKind that sends it over
// `channels` (one stub per channel). INVALID_ARGUMENT for an unknown rpc or
// act_quant.
absl::StatusOr<std::unique_ptr<RequestKind>> MakeRequestKind(
    const RequestOptions& options,
    const std::vector<std::shared_ptr<grpc::Channel>>& channels);

// A StatsFetcher reading Triton ModelStatistics of `model` over `channel`;
// it returns nullopt when the server does not answer (no KServe service).
StatsFetcher MakeStatsFetcher(const std::shared_ptr<grpc::Channel>& channel,
                              const std::string& model,
                              const std::string& version,
                              absl::Duration timeout);

}  // namespace qlinear::bench

#endif  // QLINEAR_CLIENTS_BENCH_RPCS_H_
