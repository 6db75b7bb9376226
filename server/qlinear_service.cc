#include "server/qlinear_service.h"

#include <chrono>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "common/status_macros.h"
#include "server/status_util.h"

namespace qlinear::server {
namespace {

using Clock = std::chrono::steady_clock;

double SecondsSince(Clock::time_point start) {
  return std::chrono::duration<double>(Clock::now() - start).count();
}

absl::StatusOr<ModelEntry> LookupModel(const ModelRegistry& registry,
                                       const std::string& model,
                                       const std::string& version) {
  if (model.empty()) return absl::InvalidArgumentError("model: required");
  return registry.Get(model, version);
}

absl::Status CheckNotCancelled(grpc::ServerContext* context) {
  if (context->IsCancelled())
    return absl::CancelledError("the client cancelled the call");
  return absl::OkStatus();
}

// Fills the fields that ForwardResponse and MatmulResponse share.
template <typename Response>
void FillResponse(const ModelEntry& entry, const std::string& request_id,
                  size_t rows, size_t cols, const std::vector<float>& output,
                  Response* response) {
  response->set_model(entry.name);
  response->set_version(entry.version);
  response->set_request_id(request_id);
  EncodeMatrix(entry.stack->dtype(), rows, cols, output,
               response->mutable_output());
}

void FillTimings(const model::LinearStack& stack,
                 const std::vector<model::LayerTiming>& layers, size_t rows,
                 Clock::time_point start, v1::Timings* timings) {
  timings->set_queue_seconds(0.0);
  timings->set_batch_rows(static_cast<int64_t>(rows));
  for (const model::LayerTiming& t : layers) {
    v1::LayerTiming* out = timings->add_layers();
    out->set_layer(stack.layer_spec(t.layer).name);
    out->set_kernel(std::string(t.kernel));
    out->set_kernel_seconds(t.kernel_seconds);
  }
  timings->set_total_seconds(SecondsSince(start));
}

}  // namespace

QLinearService::QLinearService(const ModelRegistry* registry,
                               RequestLimits limits)
    : registry_(registry), limits_(limits) {}

grpc::Status QLinearService::Forward(grpc::ServerContext* context,
                                     const v1::ForwardRequest* request,
                                     v1::ForwardResponse* response) {
  return ToGrpcStatus(DoForward(context, *request, response));
}

grpc::Status QLinearService::Matmul(grpc::ServerContext* context,
                                    const v1::MatmulRequest* request,
                                    v1::MatmulResponse* response) {
  return ToGrpcStatus(DoMatmul(context, *request, response));
}

grpc::Status QLinearService::ListModels(grpc::ServerContext* context,
                                        const v1::ListModelsRequest* request,
                                        v1::ListModelsResponse* response) {
  for (const ModelEntry& entry : registry_->List()) {
    v1::ModelVersionStatus* status = response->add_models();
    status->set_name(entry.name);
    status->set_version(entry.version);
    status->set_ready(true);  // The registry holds only fully loaded models.
  }
  return grpc::Status::OK;
}

grpc::Status QLinearService::GetModel(grpc::ServerContext* context,
                                      const v1::GetModelRequest* request,
                                      v1::GetModelResponse* response) {
  return ToGrpcStatus(DoGetModel(*request, response));
}

absl::Status QLinearService::DoForward(grpc::ServerContext* context,
                                       const v1::ForwardRequest& request,
                                       v1::ForwardResponse* response) const {
  const Clock::time_point start = Clock::now();
  QL_ASSIGN_OR_RETURN(ModelEntry entry, LookupModel(*registry_, request.model(),
                                                    request.version()));
  const model::LinearStack& stack = *entry.stack;
  QL_ASSIGN_OR_RETURN(ForwardCall call,
                      ValidateForwardRequest(request, stack, limits_));
  QL_RETURN_IF_ERROR(CheckNotCancelled(context));

  std::vector<float> output;
  std::vector<model::LayerTiming> layer_timings;
  QL_RETURN_IF_ERROR(
      stack.Forward(call.input.values.data(), call.input.rows, call.layer_begin,
                    call.layer_end, call.act_quant, &output,
                    request.return_timings() ? &layer_timings : nullptr));
  const size_t cols = stack.layer_spec(call.layer_end - 1).out_features;
  FillResponse(entry, request.request_id(), call.input.rows, cols, output,
               response);
  if (request.return_timings()) {
    FillTimings(stack, layer_timings, call.input.rows, start,
                response->mutable_timings());
  }
  return absl::OkStatus();
}

absl::Status QLinearService::DoMatmul(grpc::ServerContext* context,
                                      const v1::MatmulRequest& request,
                                      v1::MatmulResponse* response) const {
  const Clock::time_point start = Clock::now();
  QL_ASSIGN_OR_RETURN(ModelEntry entry, LookupModel(*registry_, request.model(),
                                                    request.version()));
  const model::LinearStack& stack = *entry.stack;
  QL_ASSIGN_OR_RETURN(MatmulCall call,
                      ValidateMatmulRequest(request, stack, limits_));
  QL_RETURN_IF_ERROR(CheckNotCancelled(context));

  std::vector<float> output;
  std::vector<model::LayerTiming> layer_timings;
  QL_RETURN_IF_ERROR(stack.Matmul(
      call.layer, call.input.values.data(), call.input.rows, call.act_quant,
      &output, request.return_timings() ? &layer_timings : nullptr));
  const size_t cols = stack.layer_spec(call.layer).out_features;
  FillResponse(entry, request.request_id(), call.input.rows, cols, output,
               response);
  if (request.return_timings()) {
    FillTimings(stack, layer_timings, call.input.rows, start,
                response->mutable_timings());
  }
  return absl::OkStatus();
}

absl::Status QLinearService::DoGetModel(const v1::GetModelRequest& request,
                                        v1::GetModelResponse* response) const {
  QL_ASSIGN_OR_RETURN(ModelEntry entry, LookupModel(*registry_, request.model(),
                                                    request.version()));
  const model::LinearStack& stack = *entry.stack;
  const model::Manifest& manifest = stack.manifest();
  response->set_name(entry.name);
  response->set_version(entry.version);
  response->set_dtype(ToProtoDataType(manifest.dtype));
  response->set_default_act_quant(ToProtoActQuant(manifest.default_act_quant));
  response->set_packed_bytes(stack.packed_bytes());
  for (size_t i = 0; i < stack.num_layers(); ++i) {
    const model::LayerSpec& spec = stack.layer_spec(i);
    v1::LayerInfo* layer = response->add_layers();
    layer->set_name(spec.name);
    layer->set_in_features(spec.in_features);
    layer->set_out_features(spec.out_features);
    layer->set_format(std::string(WeightFormatName(spec.format)));
    switch (spec.format) {
      case WeightFormat::kInt4Opaque:
        layer->set_group_size(static_cast<uint32_t>(spec.group_size));
        layer->set_bits(4);
        break;
      case WeightFormat::kIntxOpaque:
        layer->set_group_size(static_cast<uint32_t>(spec.group_size));
        layer->set_bits(static_cast<uint32_t>(spec.bits));
        layer->set_mapping(std::string(MappingName(spec.mapping)));
        break;
      case WeightFormat::kFp32:
        break;
    }
    layer->set_bias(spec.bias);
    layer->set_activation(std::string(ActivationName(spec.activation)));
    const Linear& linear = stack.layer(i);
    layer->set_kernel(
        std::string(linear.kernel_name(stack.manifest().default_act_quant)));
    layer->set_kernel_none(std::string(linear.kernel_name(ActQuant::kNone)));
    layer->set_kernel_int8_asym_per_token(
        std::string(linear.kernel_name(ActQuant::kInt8AsymPerToken)));
    layer->set_packed_bytes(stack.layer(i).packed_bytes());
  }
  return absl::OkStatus();
}

}  // namespace qlinear::server
