#include "clients/bench/rpcs.h"

#include <functional>
#include <utility>

#include "absl/strings/str_cat.h"
#include "clients/common/tensor_util.h"
#include "grpc/health/v1/health.grpc.pb.h"
#include "inference/grpc_service.grpc.pb.h"
#include "qlinear/v1/qlinear.grpc.pb.h"

namespace qlinear::bench {
namespace {

using Clock = std::chrono::system_clock;
using ::grpc::health::v1::Health;
using ::grpc::health::v1::HealthCheckRequest;
using ::grpc::health::v1::HealthCheckResponse;
using ::inference::GRPCInferenceService;

absl::Status FromGrpc(const grpc::Status& s) {
  return absl::Status(static_cast<absl::StatusCode>(s.error_code()),
                      s.error_message());
}

template <typename Response>
void FillSize(const Response& response, CallOutcome* outcome) {
  outcome->response_bytes = response.ByteSizeLong();
}

// Forward and Matmul responses carry the server's timings when asked.
template <typename Response>
void FillTimings(const Response& response, CallOutcome* outcome) {
  outcome->response_bytes = response.ByteSizeLong();
  if (!response.has_timings()) return;
  const v1::Timings& t = response.timings();
  outcome->batch_rows = t.batch_rows();
  outcome->server_total = t.total_seconds();
  outcome->server_queue = t.queue_seconds();
  double infer = 0;
  for (const v1::LayerTiming& l : t.layers()) infer += l.kernel_seconds();
  outcome->server_infer = infer;
}

// A unary RPC with one fixed request, sent on the callback API.
template <typename Stub, typename Request, typename Response>
class UnaryKind : public RequestKind {
 public:
  // Calls the stub's async method: stub->async()->Method(context, request,
  // response, on_done).
  using AsyncMethod =
      std::function<void(Stub*, grpc::ClientContext*, const Request*, Response*,
                         std::function<void(grpc::Status)>)>;
  using Fill = void (*)(const Response&, CallOutcome*);

  UnaryKind(std::vector<std::unique_ptr<Stub>> stubs, Request request,
            int64_t rows, AsyncMethod method, Fill fill)
      : stubs_(std::move(stubs)),
        request_(std::move(request)),
        request_bytes_(request_.ByteSizeLong()),
        rows_(rows),
        method_(std::move(method)),
        fill_(fill) {}

  void Start(size_t channel, Clock::time_point deadline,
             DoneCallback done) override {
    auto* call = new Pending;
    call->context.set_deadline(deadline);
    call->done = std::move(done);
    method_(stubs_[channel].get(), &call->context, &request_, &call->response,
            [call, fill = fill_](grpc::Status status) {
              CallOutcome outcome;
              outcome.code = status.error_code();
              if (status.ok()) fill(call->response, &outcome);
              // Free the call before reporting it: `done` may be what ends
              // the load point, after which the caller destroys the kind
              // and the channels and the process exits. The context holds
              // a reference to the channel, so freeing it after `done`
              // could drop the last one on this gRPC thread (grpc::Channel
              // destroyed and gRPC shut down while main() exits).
              DoneCallback done = std::move(call->done);
              delete call;
              done(outcome);
            });
  }
  int64_t rows() const override { return rows_; }
  size_t request_bytes() const override { return request_bytes_; }

 private:
  struct Pending {
    grpc::ClientContext context;
    Response response;
    DoneCallback done;
  };

  // Constant after construction; the request is only read (serialized) by
  // concurrent calls.
  const std::vector<std::unique_ptr<Stub>> stubs_;
  const Request request_;
  const size_t request_bytes_;
  const int64_t rows_;
  const AsyncMethod method_;
  const Fill fill_;
};

template <typename Service>
std::vector<std::unique_ptr<typename Service::Stub>> MakeStubs(
    const std::vector<std::shared_ptr<grpc::Channel>>& channels) {
  std::vector<std::unique_ptr<typename Service::Stub>> stubs;
  for (const auto& channel : channels) {
    stubs.push_back(Service::NewStub(channel));
  }
  return stubs;
}

absl::StatusOr<v1::ActQuant> NativeActQuant(const std::string& name) {
  if (name == "default") return v1::ACT_QUANT_MODEL_DEFAULT;
  if (name == "none") return v1::ACT_QUANT_NONE;
  if (name == "int8_asym_per_token") return v1::ACT_QUANT_INT8_ASYM_PER_TOKEN;
  return absl::InvalidArgumentError(absl::StrCat(
      "--act-quant: '", name, "' is not default, none or int8_asym_per_token"));
}

v1::Tensor MakeInput(const RequestOptions& o) {
  v1::Tensor t;
  t.set_dtype(o.dtype);
  t.add_shape(o.rows);
  t.add_shape(static_cast<int64_t>(o.input_features));
  clients::FillRandom(o.dtype, static_cast<size_t>(o.rows) * o.input_features,
                      o.seed, t.mutable_data());
  return t;
}

}  // namespace

absl::StatusOr<ModelFacts> DescribeModel(
    const std::shared_ptr<grpc::Channel>& channel, const std::string& api,
    const std::string& model, const std::string& version,
    absl::Duration timeout) {
  ModelFacts facts;
  auto native = v1::QLinear::NewStub(channel);
  grpc::ClientContext context;
  context.set_deadline(absl::ToChronoTime(absl::Now() + timeout));
  v1::GetModelRequest request;
  request.set_model(model);
  request.set_version(version);
  v1::GetModelResponse response;
  const grpc::Status status = native->GetModel(&context, request, &response);
  if (status.ok()) {
    facts.name = response.name();
    facts.version = response.version();
    facts.dtype = response.dtype();
    for (const v1::LayerInfo& l : response.layers()) {
      facts.layers.push_back({l.name(), l.in_features(), l.out_features()});
    }
    return facts;
  }
  if (api != "kserve" ||
      status.error_code() != grpc::StatusCode::UNIMPLEMENTED) {
    return FromGrpc(status);
  }
  // A KServe-only server: the model's one input gives K and the dtype.
  auto kserve = GRPCInferenceService::NewStub(channel);
  grpc::ClientContext meta_context;
  meta_context.set_deadline(absl::ToChronoTime(absl::Now() + timeout));
  inference::ModelMetadataRequest meta_request;
  meta_request.set_name(model);
  meta_request.set_version(version);
  inference::ModelMetadataResponse meta;
  const grpc::Status meta_status =
      kserve->ModelMetadata(&meta_context, meta_request, &meta);
  if (!meta_status.ok()) return FromGrpc(meta_status);
  if (meta.inputs_size() != 1 || meta.inputs(0).shape_size() != 2 ||
      meta.inputs(0).shape(1) <= 0 ||
      !clients::ParseDataType(meta.inputs(0).datatype(), &facts.dtype)) {
    return absl::FailedPreconditionError(
        "ModelMetadata: expected one input [-1, K] of FP32, BF16 or FP16");
  }
  facts.name = meta.name();
  facts.version = meta.versions_size() > 0 ? meta.versions(0) : version;
  facts.metadata_input_features =
      static_cast<uint64_t>(meta.inputs(0).shape(1));
  return facts;
}

absl::StatusOr<std::unique_ptr<RequestKind>> MakeRequestKind(
    const RequestOptions& o,
    const std::vector<std::shared_ptr<grpc::Channel>>& channels) {
  if (o.rpc == "forward") {
    auto act_quant = NativeActQuant(o.act_quant);
    if (!act_quant.ok()) return act_quant.status();
    v1::ForwardRequest request;
    request.set_model(o.model);
    request.set_version(o.version);
    *request.mutable_input() = MakeInput(o);
    request.set_act_quant(*act_quant);
    if (o.layer_start >= 0) request.set_layer_start(o.layer_start);
    if (o.layer_end >= 0) request.set_layer_end(o.layer_end);
    request.set_return_timings(o.timings);
    using Kind =
        UnaryKind<v1::QLinear::Stub, v1::ForwardRequest, v1::ForwardResponse>;
    return std::make_unique<Kind>(
        MakeStubs<v1::QLinear>(channels), std::move(request), o.rows,
        [](v1::QLinear::Stub* stub, grpc::ClientContext* context,
           const v1::ForwardRequest* request, v1::ForwardResponse* response,
           std::function<void(grpc::Status)> done) {
          stub->async()->Forward(context, request, response, std::move(done));
        },
        &FillTimings<v1::ForwardResponse>);
  }
  if (o.rpc == "matmul") {
    auto act_quant = NativeActQuant(o.act_quant);
    if (!act_quant.ok()) return act_quant.status();
    v1::MatmulRequest request;
    request.set_model(o.model);
    request.set_version(o.version);
    *request.mutable_input() = MakeInput(o);
    request.set_act_quant(*act_quant);
    request.set_layer(o.layer);
    request.set_return_timings(o.timings);
    using Kind =
        UnaryKind<v1::QLinear::Stub, v1::MatmulRequest, v1::MatmulResponse>;
    return std::make_unique<Kind>(
        MakeStubs<v1::QLinear>(channels), std::move(request), o.rows,
        [](v1::QLinear::Stub* stub, grpc::ClientContext* context,
           const v1::MatmulRequest* request, v1::MatmulResponse* response,
           std::function<void(grpc::Status)> done) {
          stub->async()->Matmul(context, request, response, std::move(done));
        },
        &FillTimings<v1::MatmulResponse>);
  }
  if (o.rpc == "infer") {
    if (o.act_quant != "default" && o.act_quant != "none" &&
        o.act_quant != "int8_asym_per_token") {
      return NativeActQuant(o.act_quant).status();
    }
    inference::ModelInferRequest request;
    request.set_model_name(o.model);
    request.set_model_version(o.version);
    auto* input = request.add_inputs();
    input->set_name("input");
    input->set_datatype(clients::DataTypeLabel(o.dtype));
    input->add_shape(o.rows);
    input->add_shape(static_cast<int64_t>(o.input_features));
    clients::FillRandom(o.dtype, static_cast<size_t>(o.rows) * o.input_features,
                        o.seed, request.add_raw_input_contents());
    auto& parameters = *request.mutable_parameters();
    if (o.act_quant != "default") {
      parameters["act_quant"].set_string_param(o.act_quant);
    }
    if (o.layer_start >= 0)
      parameters["layer_start"].set_int64_param(o.layer_start);
    if (o.layer_end >= 0) parameters["layer_end"].set_int64_param(o.layer_end);
    using Kind =
        UnaryKind<GRPCInferenceService::Stub, inference::ModelInferRequest,
                  inference::ModelInferResponse>;
    return std::make_unique<Kind>(
        MakeStubs<GRPCInferenceService>(channels), std::move(request), o.rows,
        [](GRPCInferenceService::Stub* stub, grpc::ClientContext* context,
           const inference::ModelInferRequest* request,
           inference::ModelInferResponse* response,
           std::function<void(grpc::Status)> done) {
          stub->async()->ModelInfer(context, request, response,
                                    std::move(done));
        },
        &FillSize<inference::ModelInferResponse>);
  }
  if (o.rpc == "health") {
    using Kind =
        UnaryKind<Health::Stub, HealthCheckRequest, HealthCheckResponse>;
    return std::make_unique<Kind>(
        MakeStubs<Health>(channels), HealthCheckRequest(), 0,
        [](Health::Stub* stub, grpc::ClientContext* context,
           const HealthCheckRequest* request, HealthCheckResponse* response,
           std::function<void(grpc::Status)> done) {
          stub->async()->Check(context, request, response, std::move(done));
        },
        &FillSize<HealthCheckResponse>);
  }
  if (o.rpc == "list") {
    using Kind = UnaryKind<v1::QLinear::Stub, v1::ListModelsRequest,
                           v1::ListModelsResponse>;
    return std::make_unique<Kind>(
        MakeStubs<v1::QLinear>(channels), v1::ListModelsRequest(), 0,
        [](v1::QLinear::Stub* stub, grpc::ClientContext* context,
           const v1::ListModelsRequest* request,
           v1::ListModelsResponse* response,
           std::function<void(grpc::Status)> done) {
          stub->async()->ListModels(context, request, response,
                                    std::move(done));
        },
        &FillSize<v1::ListModelsResponse>);
  }
  if (o.rpc == "live") {
    using Kind =
        UnaryKind<GRPCInferenceService::Stub, inference::ServerLiveRequest,
                  inference::ServerLiveResponse>;
    return std::make_unique<Kind>(
        MakeStubs<GRPCInferenceService>(channels),
        inference::ServerLiveRequest(), 0,
        [](GRPCInferenceService::Stub* stub, grpc::ClientContext* context,
           const inference::ServerLiveRequest* request,
           inference::ServerLiveResponse* response,
           std::function<void(grpc::Status)> done) {
          stub->async()->ServerLive(context, request, response,
                                    std::move(done));
        },
        &FillSize<inference::ServerLiveResponse>);
  }
  return absl::InvalidArgumentError(
      absl::StrCat("--rpc: '", o.rpc,
                   "' is not forward, matmul, infer, health, list or live"));
}

StatsFetcher MakeStatsFetcher(const std::shared_ptr<grpc::Channel>& channel,
                              const std::string& model,
                              const std::string& version,
                              absl::Duration timeout) {
  std::shared_ptr<GRPCInferenceService::Stub> stub =
      GRPCInferenceService::NewStub(channel);
  return [stub, model, version, timeout]() -> std::optional<ServerCounters> {
    grpc::ClientContext context;
    context.set_deadline(absl::ToChronoTime(absl::Now() + timeout));
    inference::ModelStatisticsRequest request;
    request.set_name(model);
    request.set_version(version);
    inference::ModelStatisticsResponse response;
    if (!stub->ModelStatistics(&context, request, &response).ok() ||
        response.model_stats_size() != 1) {
      return std::nullopt;
    }
    const inference::ModelStatistics& m = response.model_stats(0);
    const inference::InferStatistics& s = m.inference_stats();
    ServerCounters c;
    c.success_count = s.success().count();
    c.success_ns = s.success().ns();
    c.queue_count = s.queue().count();
    c.queue_ns = s.queue().ns();
    c.compute_input_count = s.compute_input().count();
    c.compute_input_ns = s.compute_input().ns();
    c.compute_infer_count = s.compute_infer().count();
    c.compute_infer_ns = s.compute_infer().ns();
    c.compute_output_count = s.compute_output().count();
    c.compute_output_ns = s.compute_output().ns();
    c.inference_count = m.inference_count();
    c.execution_count = m.execution_count();
    for (const inference::InferBatchStatistics& b : m.batch_stats()) {
      c.batches[b.batch_size()] += b.compute_infer().count();
    }
    return c;
  };
}

}  // namespace qlinear::bench
