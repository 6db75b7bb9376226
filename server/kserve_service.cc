#include "server/kserve_service.h"

#include <algorithm>
#include <chrono>
#include <memory>
#include <string>
#include <utility>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "common/status_macros.h"
#include "server/admin_auth.h"
#include "server/client_text.h"
#include "server/inference_task.h"
#include "server/kserve_validation.h"
#include "server/request_recorder.h"
#include "server/status_util.h"
#include "server/wire.h"

#ifndef QLINEAR_VERSION
#define QLINEAR_VERSION "unknown"
#endif

namespace qlinear::server {
namespace {

using Clock = std::chrono::steady_clock;

constexpr char kServerName[] = "qlinear";
constexpr char kPlatform[] = "qlinear";

// Finishes `reactor` at once with `status`.
grpc::ServerUnaryReactor* FinishNow(grpc::CallbackServerContext* context,
                                    const absl::Status& status) {
  grpc::ServerUnaryReactor* reactor = context->DefaultReactor();
  reactor->Finish(ToGrpcStatus(status));
  return reactor;
}

inference::DataType ConfigDataType(DType t) {
  switch (t) {
    case DType::kF32:
      return inference::TYPE_FP32;
    case DType::kBF16:
      return inference::TYPE_BF16;
    case DType::kF16:
      return inference::TYPE_FP16;
  }
  return inference::TYPE_INVALID;
}

void SetDuration(const DurationStat& from, inference::StatisticDuration* to) {
  to->set_count(from.count);
  to->set_ns(from.ns);
}

void FillStatistics(const ModelEntry& entry, const ModelStatsSnapshot& s,
                    inference::ModelStatistics* out) {
  out->set_name(entry.name);
  out->set_version(entry.version);
  out->set_last_inference(s.last_inference_ms);
  out->set_inference_count(s.inference_count);
  out->set_execution_count(s.execution_count);
  inference::InferStatistics* infer = out->mutable_inference_stats();
  SetDuration(s.success, infer->mutable_success());
  SetDuration(s.fail, infer->mutable_fail());
  SetDuration(s.queue, infer->mutable_queue());
  SetDuration(s.compute_input, infer->mutable_compute_input());
  SetDuration(s.compute_infer, infer->mutable_compute_infer());
  SetDuration(s.compute_output, infer->mutable_compute_output());
  for (const BatchSizeStat& b : s.batch_sizes) {
    inference::InferBatchStatistics* batch = out->add_batch_stats();
    batch->set_batch_size(b.batch_rows);
    batch->mutable_compute_infer()->set_count(b.count);
    batch->mutable_compute_infer()->set_ns(b.compute_ns);
  }
}

// The version a RepositoryModelLoad asks for ("" : the latest).
absl::StatusOr<std::string> LoadVersion(
    const inference::RepositoryModelLoadRequest& request) {
  std::string version;
  for (const auto& [key, value] : request.parameters()) {
    if (key != "version") {
      return absl::InvalidArgumentError(absl::StrCat(
          "parameters: '", ClientText(key),
          "' is not supported; the only load parameter is 'version'"));
    }
    switch (value.parameter_choice_case()) {
      case inference::ModelRepositoryParameter::kStringParam:
        version = value.string_param();
        break;
      case inference::ModelRepositoryParameter::kInt64Param:
        version = absl::StrCat(value.int64_param());
        break;
      default:
        return absl::InvalidArgumentError(
            "parameters.version: must be a string_param or int64_param");
    }
  }
  return version;
}

absl::Status CheckUnloadParameters(
    const inference::RepositoryModelUnloadRequest& request) {
  for (const auto& [key, value] : request.parameters()) {
    if (key != "unload_dependents") {
      return absl::InvalidArgumentError(
          absl::StrCat("parameters: '", ClientText(key),
                       "' is not supported; the only unload parameter is "
                       "'unload_dependents'"));
    }
    if (value.parameter_choice_case() !=
        inference::ModelRepositoryParameter::kBoolParam) {
      return absl::InvalidArgumentError(
          "parameters.unload_dependents: must be a bool_param");
    }
  }
  return absl::OkStatus();
}

absl::Status CheckRepositoryName(const std::string& name) {
  if (name.empty()) return absl::OkStatus();
  return absl::InvalidArgumentError(
      absl::StrCat("repository_name: '", ClientText(name),
                   "' is not supported; the server has one repository, "
                   "leave it empty"));
}

// The synchronous quality check's figures (TaskResult::quality) as response
// parameters, per quantized layer L: act_quant_sqnr_db.L,
// act_quant_rel_max_error.L and act_quant_outlier_ratio.L (double_param),
// and act_quant_row_sqnr_db.L, the per-row SQNRs comma-separated
// (string_param).
void AddActQuantQuality(const model::LinearStack& stack,
                        const TaskResult& result,
                        inference::ModelInferResponse* response) {
  auto& parameters = *response->mutable_parameters();
  for (const LayerQuality& lq : result.quality) {
    const std::string& layer = stack.layer_spec(lq.layer).name;
    parameters[absl::StrCat("act_quant_sqnr_db.", layer)].set_double_param(
        lq.all.sqnr_db);
    parameters[absl::StrCat("act_quant_rel_max_error.", layer)]
        .set_double_param(lq.all.rel_max_error);
    parameters[absl::StrCat("act_quant_outlier_ratio.", layer)]
        .set_double_param(lq.all.outlier_ratio);
    std::string rows;
    for (const RowQuality& row : lq.rows) {
      absl::StrAppend(&rows, rows.empty() ? "" : ",", row.sqnr_db);
    }
    parameters[absl::StrCat("act_quant_row_sqnr_db.", layer)].set_string_param(
        rows);
  }
}

}  // namespace

KServeService::KServeService(const ModelRegistry* registry,
                             batching::Batcher* batcher, ModelManager* models,
                             LoadQueue* loads, StatsRegistry* stats,
                             Metrics* metrics, RequestLimits limits,
                             std::string admin_token)
    : registry_(registry),
      batcher_(batcher),
      models_(models),
      stats_(stats),
      metrics_(metrics),
      limits_(limits),
      admin_token_(std::move(admin_token)),
      loads_(loads) {}

grpc::ServerUnaryReactor* KServeService::ServerLive(
    grpc::CallbackServerContext* context,
    const inference::ServerLiveRequest* request,
    inference::ServerLiveResponse* response) {
  response->set_live(true);
  return FinishNow(context, absl::OkStatus());
}

grpc::ServerUnaryReactor* KServeService::ServerReady(
    grpc::CallbackServerContext* context,
    const inference::ServerReadyRequest* request,
    inference::ServerReadyResponse* response) {
  // The registry holds only fully loaded versions, which are ready; models
  // still loading or unavailable are not in it. So the server answers ready
  // from the end of start-up (Server::Create loads the initial models before
  // the port opens) until the drain closes the port.
  const std::vector<ModelEntry> entries = registry_->List();
  response->set_ready(std::all_of(
      entries.begin(), entries.end(),
      [](const ModelEntry& entry) { return entry.stack != nullptr; }));
  return FinishNow(context, absl::OkStatus());
}

grpc::ServerUnaryReactor* KServeService::ModelReady(
    grpc::CallbackServerContext* context,
    const inference::ModelReadyRequest* request,
    inference::ModelReadyResponse* response) {
  if (request->name().empty()) {
    return FinishNow(context, absl::InvalidArgumentError("name: required"));
  }
  response->set_ready(registry_->Get(request->name(), request->version()).ok());
  return FinishNow(context, absl::OkStatus());
}

grpc::ServerUnaryReactor* KServeService::ServerMetadata(
    grpc::CallbackServerContext* context,
    const inference::ServerMetadataRequest* request,
    inference::ServerMetadataResponse* response) {
  response->set_name(kServerName);
  response->set_version(QLINEAR_VERSION);
  for (const char* extension : kKServeExtensions)
    response->add_extensions(extension);
  return FinishNow(context, absl::OkStatus());
}

grpc::ServerUnaryReactor* KServeService::ModelMetadata(
    grpc::CallbackServerContext* context,
    const inference::ModelMetadataRequest* request,
    inference::ModelMetadataResponse* response) {
  absl::StatusOr<ModelEntry> entry =
      registry_->Lookup("name", request->name(), request->version());
  if (!entry.ok()) return FinishNow(context, entry.status());
  const model::LinearStack& stack = *entry->stack;
  const std::string datatype(KServeDatatype(stack.dtype()));
  response->set_name(entry->name);
  response->add_versions(entry->version);
  response->set_platform(kPlatform);
  auto* input = response->add_inputs();
  input->set_name(kKServeInputName);
  input->set_datatype(datatype);
  input->add_shape(-1);
  input->add_shape(static_cast<int64_t>(stack.layer_spec(0).in_features));
  auto* output = response->add_outputs();
  output->set_name(kKServeOutputName);
  output->set_datatype(datatype);
  output->add_shape(-1);
  output->add_shape(static_cast<int64_t>(
      stack.layer_spec(stack.num_layers() - 1).out_features));
  return FinishNow(context, absl::OkStatus());
}

grpc::ServerUnaryReactor* KServeService::ModelInfer(
    grpc::CallbackServerContext* context, const grpc::ByteBuffer* request_bytes,
    grpc::ByteBuffer* response) {
  const Clock::time_point start = Clock::now();
  grpc::ServerUnaryReactor* reactor = context->DefaultReactor();
  inference::ModelInferRequest request;
  const absl::Status parsed = ParseRequest(*request_bytes, &request);
  if (!parsed.ok()) {
    reactor->Finish(ToGrpcStatus(
        RejectBeforeModel(metrics_, Rpc::kModelInfer, parsed, "")));
    return reactor;
  }
  RequestRecorder recorder;
  absl::StatusOr<ModelEntry> entry =
      BeginRequest(*registry_, metrics_, Rpc::kModelInfer, "model_name",
                   request.model_name(), request.model_version(), request.id(),
                   start, &recorder);
  if (!entry.ok()) {
    reactor->Finish(ToGrpcStatus(entry.status()));
    return reactor;
  }
  const absl::Status status = recorder.Failure(
      ScheduleInfer(context, request, *entry, recorder, response, reactor));
  if (!status.ok()) reactor->Finish(ToGrpcStatus(status));
  return reactor;
}

absl::Status KServeService::ScheduleInfer(
    grpc::CallbackServerContext* context,
    const inference::ModelInferRequest& request, const ModelEntry& entry,
    RequestRecorder recorder, grpc::ByteBuffer* response_bytes,
    grpc::ServerUnaryReactor* reactor) {
  const absl::Time arrival = absl::Now();
  QL_ASSIGN_OR_RETURN(InferCall call,
                      ValidateInferRequest(request, *entry.stack, limits_));
  recorder.compute_input_ns = NanosSince(recorder.start);

  InferenceCall run;
  run.layer_begin = call.layer_begin;
  run.layer_end = call.layer_end;
  run.input = std::move(call.input);
  run.act_quant = call.act_quant;
  run.priority = call.priority;
  run.quality_check = call.act_quant_quality;
  CallControl control = CallOf(*context);
  run.deadline = control.deadline;
  run.is_cancelled = std::move(control.is_cancelled);
  if (call.timeout.has_value()) {
    run.deadline = std::min(run.deadline, arrival + *call.timeout);
  }
  const size_t rows = run.input.rows;
  std::unique_ptr<batching::Task> task = MakeInferenceTask(
      entry, std::move(run), recorder,
      [entry, recorder, response_bytes, reactor, rows, id = request.id()](
          absl::Status status, TaskResult result) {
        if (!status.ok()) {
          reactor->Finish(ToGrpcStatus(recorder.Failure(std::move(status))));
          return;
        }
        const Clock::time_point encode_start = Clock::now();
        const DType dtype = entry.stack->dtype();
        inference::ModelInferResponse response;
        response.set_model_name(entry.name);
        response.set_model_version(entry.version);
        response.set_id(id);
        auto* output = response.add_outputs();
        output->set_name(kKServeOutputName);
        output->set_datatype(std::string(KServeDatatype(dtype)));
        output->add_shape(static_cast<int64_t>(rows));
        output->add_shape(static_cast<int64_t>(result.cols));
        EncodeValues(dtype, result.output(),
                     response.add_raw_output_contents());
        AddActQuantQuality(*entry.stack, result, &response);
        status = SerializeResponse(response, response_bytes);
        if (!status.ok()) {
          reactor->Finish(ToGrpcStatus(recorder.Failure(std::move(status))));
          return;
        }
        recorder.Success(rows, result, encode_start);
        reactor->Finish(grpc::Status::OK);
      });
  return batcher_->Schedule(entry.name, &task);
}

grpc::ServerUnaryReactor* KServeService::ModelConfig(
    grpc::CallbackServerContext* context,
    const inference::ModelConfigRequest* request,
    inference::ModelConfigResponse* response) {
  return FinishNow(context, DoModelConfig(*request, response));
}

absl::Status KServeService::DoModelConfig(
    const inference::ModelConfigRequest& request,
    inference::ModelConfigResponse* response) const {
  QL_ASSIGN_OR_RETURN(
      ModelEntry entry,
      registry_->Lookup("name", request.name(), request.version()));
  const model::LinearStack& stack = *entry.stack;
  const model::Manifest& manifest = stack.manifest();
  inference::ModelConfig* config = response->mutable_config();
  config->set_name(entry.name);
  config->set_platform(kPlatform);
  config->set_backend(kPlatform);
  // The rows (M) are the batch dimension, so dims leave them out.
  config->set_max_batch_size(
      static_cast<int32_t>(limits_.max_rows_per_request));
  inference::ModelInput* input = config->add_input();
  input->set_name(kKServeInputName);
  input->set_data_type(ConfigDataType(stack.dtype()));
  input->add_dims(static_cast<int64_t>(stack.layer_spec(0).in_features));
  inference::ModelOutput* output = config->add_output();
  output->set_name(kKServeOutputName);
  output->set_data_type(ConfigDataType(stack.dtype()));
  output->add_dims(static_cast<int64_t>(
      stack.layer_spec(stack.num_layers() - 1).out_features));
  inference::ModelInstanceGroup* group = config->add_instance_group();
  group->set_name(absl::StrCat(entry.name, "_cpu"));
  group->set_kind(inference::ModelInstanceGroup::KIND_CPU);
  group->set_count(1);
  inference::ModelDynamicBatching* batching =
      config->mutable_dynamic_batching();
  batching->add_preferred_batch_size(
      static_cast<int32_t>(manifest.batching.max_batch_rows));
  batching->set_max_queue_delay_microseconds(
      static_cast<uint64_t>(manifest.batching.max_queue_delay_us));
  auto& parameters = *config->mutable_parameters();
  parameters["version"].set_string_value(entry.version);
  parameters["dtype"].set_string_value(std::string(DTypeName(stack.dtype())));
  parameters["default_act_quant"].set_string_value(
      std::string(ActQuantName(manifest.default_act_quant)));
  parameters["num_layers"].set_string_value(absl::StrCat(stack.num_layers()));
  return absl::OkStatus();
}

grpc::ServerUnaryReactor* KServeService::ModelStatistics(
    grpc::CallbackServerContext* context,
    const inference::ModelStatisticsRequest* request,
    inference::ModelStatisticsResponse* response) {
  return FinishNow(context, DoModelStatistics(*request, response));
}

absl::Status KServeService::DoModelStatistics(
    const inference::ModelStatisticsRequest& request,
    inference::ModelStatisticsResponse* response) const {
  std::vector<ModelEntry> entries;
  if (request.name().empty()) {
    if (!request.version().empty()) {
      return absl::InvalidArgumentError(
          "version: given without a name; set name too");
    }
    entries = registry_->List();
  } else {
    QL_ASSIGN_OR_RETURN(ModelEntry entry,
                        registry_->Get(request.name(), request.version()));
    entries.push_back(std::move(entry));
  }
  for (const ModelEntry& entry : entries) {
    std::shared_ptr<const ModelStats> stats =
        stats_ == nullptr ? nullptr : stats_->Find(entry.name, entry.version);
    FillStatistics(entry,
                   stats == nullptr ? ModelStatsSnapshot() : stats->Snapshot(),
                   response->add_model_stats());
  }
  return absl::OkStatus();
}

grpc::ServerUnaryReactor* KServeService::RepositoryIndex(
    grpc::CallbackServerContext* context,
    const inference::RepositoryIndexRequest* request,
    inference::RepositoryIndexResponse* response) {
  absl::Status status = CheckAdminToken(*context, admin_token_);
  if (status.ok()) status = CheckRepositoryName(request->repository_name());
  if (!status.ok()) return FinishNow(context, status);
  for (const ModelState& state : models_->Index()) {
    if (request->ready() && state.state != ModelReadiness::kReady) continue;
    auto* model = response->add_models();
    model->set_name(state.name);
    model->set_version(state.version);
    model->set_state(std::string(ReadinessName(state.state)));
    model->set_reason(state.reason);
  }
  return FinishNow(context, absl::OkStatus());
}

grpc::ServerUnaryReactor* KServeService::RepositoryModelLoad(
    grpc::CallbackServerContext* context,
    const inference::RepositoryModelLoadRequest* request,
    inference::RepositoryModelLoadResponse* response) {
  absl::Status status = CheckAdminToken(*context, admin_token_);
  if (status.ok()) status = CheckRepositoryName(request->repository_name());
  if (status.ok() && request->model_name().empty()) {
    status = absl::InvalidArgumentError("model_name: required");
  }
  absl::StatusOr<std::string> version = LoadVersion(*request);
  if (status.ok()) status = version.status();
  if (!status.ok()) return FinishNow(context, status);
  grpc::ServerUnaryReactor* reactor = context->DefaultReactor();
  status = loads_->Submit(request->model_name(), *std::move(version),
                          [reactor](absl::Status status) {
                            reactor->Finish(ToGrpcStatus(status));
                          });
  if (!status.ok()) reactor->Finish(ToGrpcStatus(status));
  return reactor;
}

grpc::ServerUnaryReactor* KServeService::RepositoryModelUnload(
    grpc::CallbackServerContext* context,
    const inference::RepositoryModelUnloadRequest* request,
    inference::RepositoryModelUnloadResponse* response) {
  absl::Status status = CheckAdminToken(*context, admin_token_);
  if (status.ok()) status = CheckRepositoryName(request->repository_name());
  if (status.ok()) status = CheckUnloadParameters(*request);
  if (status.ok() && request->model_name().empty()) {
    status = absl::InvalidArgumentError("model_name: required");
  }
  if (status.ok()) status = models_->Unload(request->model_name());
  return FinishNow(context, status);
}

}  // namespace qlinear::server
