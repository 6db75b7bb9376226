#include "server/qlinear_service.h"

#include <chrono>
#include <deque>
#include <functional>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/time/time.h"
#include "common/status_macros.h"
#include "server/admin_auth.h"
#include "server/client_text.h"
#include "server/native_requests.h"
#include "server/request_recorder.h"
#include "server/status_util.h"
#include "server/wire.h"

namespace qlinear::server {
namespace {

using Clock = std::chrono::steady_clock;

// Finishes a unary call with `status`, and on OK with `response` serialized
// into `bytes` (the raw response gRPC sends).
template <typename Response>
absl::AnyInvocable<void(absl::Status)> FinishUnaryWith(
    grpc::ServerUnaryReactor* reactor, std::unique_ptr<Response> response,
    grpc::ByteBuffer* bytes) {
  return [reactor, response = std::move(response), bytes](absl::Status status) {
    if (status.ok()) status = SerializeResponse(*response, bytes);
    reactor->Finish(ToGrpcStatus(status));
  };
}

// ForwardStream: reads requests one after another, schedules each, and
// writes each response when its task completes (one write in flight at a
// time). It reads the next request only while the stream is under its
// bounds (kMaxStreamRequestsInFlight, kMaxStreamBufferedBytes), so a client
// that does not read its responses is stopped by flow control instead of
// growing the server's memory. Finishes once the client is done writing and
// every response is out.
class ForwardStreamReactor final
    : public grpc::ServerBidiReactor<grpc::ByteBuffer, grpc::ByteBuffer> {
 public:
  using Schedule = std::function<absl::Status(
      const v1::ForwardRequest&, v1::ForwardResponse*,
      absl::AnyInvocable<void(absl::Status)>)>;
  // Records a message that does not parse (the metrics and the log).
  using Reject = std::function<void(const absl::Status&)>;
  using PausedHook = std::function<void(size_t, size_t)>;

  ForwardStreamReactor(Schedule schedule, Reject reject, PausedHook paused)
      : schedule_(std::move(schedule)),
        reject_(std::move(reject)),
        paused_hook_(std::move(paused)) {
    StartRead(&request_bytes_);
  }

  void OnReadDone(bool ok) override {
    if (!ok) {
      absl::MutexLock lock(&mu_);
      reads_done_ = true;
      MaybeFinishLocked();
      return;
    }
    {
      absl::MutexLock lock(&mu_);
      if (finished_) return;  // the client stopped reading: drop the rest
      ++pending_;
    }
    v1::ForwardRequest request;
    absl::Status scheduled = ParseRequest(request_bytes_, &request);
    if (!scheduled.ok()) {
      reject_(scheduled);
    } else {
      auto response = std::make_unique<v1::ForwardResponse>();
      v1::ForwardResponse* out = response.get();
      scheduled =
          schedule_(request, out,
                    [this, response = std::move(response),
                     id = request.request_id()](absl::Status status) mutable {
                      Complete(std::move(response), id, status);
                    });
    }
    // On an error the completion above was dropped uncalled.
    if (!scheduled.ok()) {
      Complete(std::make_unique<v1::ForwardResponse>(), request.request_id(),
               scheduled);
    }
    absl::MutexLock lock(&mu_);
    reading_ = false;
    MaybeReadLocked();
  }

  void OnWriteDone(bool ok) override {
    absl::MutexLock lock(&mu_);
    writing_ = false;
    buffered_bytes_ -= in_flight_.Length();
    in_flight_.Clear();
    if (!ok) write_failed_ = true;
    WriteNextLocked();
    MaybeReadLocked();
    MaybeFinishLocked();
  }

  // gRPC calls OnDone after every other callback has returned, and each of
  // them ends in a critical section on mu_: taking mu_ once here orders them
  // before the destruction where TSan can see it (gRPC's own ordering is in
  // uninstrumented code; docs/operations.md "Sanitizer builds").
  void OnDone() override {
    { absl::MutexLock lock(&mu_); }
    delete this;
  }

 private:
  void Complete(std::unique_ptr<v1::ForwardResponse> response,
                const std::string& request_id, const absl::Status& status) {
    response->set_request_id(request_id);
    response->set_status_code(static_cast<int32_t>(status.code()));
    response->set_status_message(TruncateMessage(MessageOf(status)));
    grpc::ByteBuffer bytes;
    const absl::Status serialized = SerializeResponse(*response, &bytes);
    if (!serialized.ok()) {
      v1::ForwardResponse failed;
      failed.set_request_id(request_id);
      failed.set_status_code(static_cast<int32_t>(serialized.code()));
      failed.set_status_message(TruncateMessage(MessageOf(serialized)));
      SerializeResponse(failed, &bytes).IgnoreError();  // small: cannot fail
    }
    response.reset();
    absl::MutexLock lock(&mu_);
    --pending_;
    buffered_bytes_ += bytes.Length();
    outbox_.push_back(std::move(bytes));
    WriteNextLocked();
    MaybeReadLocked();
    MaybeFinishLocked();
  }

  size_t InFlightLocked() const ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    return static_cast<size_t>(pending_) + outbox_.size() + (writing_ ? 1 : 0);
  }

  // Starts the next read unless one is running, the client is done, or the
  // stream is at a bound (then a completion or a write resumes it).
  void MaybeReadLocked() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    if (reading_ || reads_done_ || write_failed_) return;
    if (InFlightLocked() >= kMaxStreamRequestsInFlight ||
        buffered_bytes_ >= kMaxStreamBufferedBytes) {
      if (!paused_) {
        paused_ = true;
        if (paused_hook_) paused_hook_(InFlightLocked(), buffered_bytes_);
      }
      return;
    }
    paused_ = false;
    reading_ = true;
    StartRead(&request_bytes_);
  }

  void WriteNextLocked() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    if (writing_ || outbox_.empty() || write_failed_) return;
    in_flight_ = std::move(outbox_.front());
    outbox_.pop_front();
    writing_ = true;
    StartWrite(&in_flight_);
  }

  void MaybeFinishLocked() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    if (finished_ || pending_ > 0 || writing_) return;
    // A failed write ends the stream (a read still running then completes
    // with !ok); otherwise wait for the client's last request.
    if (!write_failed_ && (!reads_done_ || !outbox_.empty())) return;
    finished_ = true;
    Finish(write_failed_ ? grpc::Status(grpc::StatusCode::CANCELLED,
                                        "the client stopped reading")
                         : grpc::Status::OK);
  }

  const Schedule schedule_;
  const Reject reject_;
  const PausedHook paused_hook_;
  grpc::ByteBuffer request_bytes_;  // owned by the read in flight

  absl::Mutex mu_;
  std::deque<grpc::ByteBuffer> outbox_ ABSL_GUARDED_BY(mu_);
  grpc::ByteBuffer in_flight_ ABSL_GUARDED_BY(mu_);  // the write in flight
  size_t buffered_bytes_ ABSL_GUARDED_BY(mu_) = 0;   // outbox_ + in_flight_
  int pending_ ABSL_GUARDED_BY(mu_) = 0;             // scheduled, not done
  bool reading_ ABSL_GUARDED_BY(mu_) = true;
  bool paused_ ABSL_GUARDED_BY(mu_) = false;
  bool reads_done_ ABSL_GUARDED_BY(mu_) = false;
  bool writing_ ABSL_GUARDED_BY(mu_) = false;
  bool write_failed_ ABSL_GUARDED_BY(mu_) = false;
  bool finished_ ABSL_GUARDED_BY(mu_) = false;
};

}  // namespace

QLinearService::QLinearService(const ModelRegistry* registry,
                               batching::Batcher* batcher, ModelManager* models,
                               LoadQueue* loads, StatsRegistry* stats,
                               Metrics* metrics, RequestLimits limits,
                               std::string admin_token)
    : registry_(registry),
      models_(models),
      stats_(stats),
      metrics_(metrics),
      limits_(limits),
      admin_token_(std::move(admin_token)),
      scheduling_{registry, metrics, limits, batcher},
      loads_(loads) {}

grpc::ServerUnaryReactor* QLinearService::LoadModel(
    grpc::CallbackServerContext* context, const v1::LoadModelRequest* request,
    v1::LoadModelResponse* response) {
  grpc::ServerUnaryReactor* reactor = context->DefaultReactor();
  const absl::Status auth = CheckAdminToken(*context, admin_token_);
  if (!auth.ok()) {
    reactor->Finish(ToGrpcStatus(auth));
    return reactor;
  }
  const Clock::time_point start = Clock::now();
  const absl::Status queued = loads_->Submit(
      request->model(), request->version(),
      [this, request, response, reactor, start](absl::Status status) {
        if (status.ok()) {
          absl::StatusOr<ModelEntry> entry =
              registry_->Get(request->model(), "");
          response->set_model(request->model());
          if (entry.ok()) response->set_version(entry->version);
          response->set_load_seconds(SecondsSince(start));
        }
        reactor->Finish(ToGrpcStatus(status));
      });
  if (!queued.ok()) reactor->Finish(ToGrpcStatus(queued));
  return reactor;
}

grpc::ServerUnaryReactor* QLinearService::UnloadModel(
    grpc::CallbackServerContext* context, const v1::UnloadModelRequest* request,
    v1::UnloadModelResponse* response) {
  grpc::ServerUnaryReactor* reactor = context->DefaultReactor();
  absl::Status status = CheckAdminToken(*context, admin_token_);
  if (status.ok()) status = models_->Unload(request->model());
  reactor->Finish(ToGrpcStatus(status));
  return reactor;
}

absl::Status QLinearService::ParseOrReject(
    const grpc::ByteBuffer& bytes, Rpc rpc,
    google::protobuf::Message* request) const {
  absl::Status status = ParseRequest(bytes, request);
  if (!status.ok()) return RejectBeforeModel(metrics_, rpc, status, "");
  return status;
}

grpc::ServerUnaryReactor* QLinearService::Forward(
    grpc::CallbackServerContext* context, const grpc::ByteBuffer* request_bytes,
    grpc::ByteBuffer* response_bytes) {
  grpc::ServerUnaryReactor* reactor = context->DefaultReactor();
  v1::ForwardRequest request;
  absl::Status status = ParseOrReject(*request_bytes, Rpc::kForward, &request);
  if (status.ok()) {
    auto response = std::make_unique<v1::ForwardResponse>();
    v1::ForwardResponse* out = response.get();
    status = ScheduleForward(
        scheduling_, CallOf(*context), request, Rpc::kForward, out,
        FinishUnaryWith(reactor, std::move(response), response_bytes));
  }
  if (!status.ok()) reactor->Finish(ToGrpcStatus(status));
  return reactor;
}

grpc::ServerBidiReactor<grpc::ByteBuffer, grpc::ByteBuffer>*
QLinearService::ForwardStream(grpc::CallbackServerContext* context) {
  return new ForwardStreamReactor(
      [this, context](const v1::ForwardRequest& request,
                      v1::ForwardResponse* response,
                      absl::AnyInvocable<void(absl::Status)> done) {
        return ScheduleForward(scheduling_, CallOf(*context), request,
                               Rpc::kForwardStream, response, std::move(done));
      },
      [this](const absl::Status& status) {
        RejectBeforeModel(metrics_, Rpc::kForwardStream, status, "")
            .IgnoreError();
      },
      stream_paused_hook_for_test_);
}

grpc::ServerUnaryReactor* QLinearService::Matmul(
    grpc::CallbackServerContext* context, const grpc::ByteBuffer* request_bytes,
    grpc::ByteBuffer* response_bytes) {
  grpc::ServerUnaryReactor* reactor = context->DefaultReactor();
  v1::MatmulRequest request;
  absl::Status status = ParseOrReject(*request_bytes, Rpc::kMatmul, &request);
  if (status.ok()) {
    auto response = std::make_unique<v1::MatmulResponse>();
    v1::MatmulResponse* out = response.get();
    status = ScheduleMatmul(
        scheduling_, CallOf(*context), request, out,
        FinishUnaryWith(reactor, std::move(response), response_bytes));
  }
  if (!status.ok()) reactor->Finish(ToGrpcStatus(status));
  return reactor;
}

grpc::ServerUnaryReactor* QLinearService::ListModels(
    grpc::CallbackServerContext* context, const v1::ListModelsRequest* request,
    v1::ListModelsResponse* response) {
  // The listing shows the repository (models not loaded, why a load failed),
  // like RepositoryIndex: it needs the admin token too.
  const absl::Status auth = CheckAdminToken(*context, admin_token_);
  if (!auth.ok()) {
    grpc::ServerUnaryReactor* reactor = context->DefaultReactor();
    reactor->Finish(ToGrpcStatus(auth));
    return reactor;
  }
  for (const ModelState& state : models_->Index()) {
    v1::ModelVersionStatus* status = response->add_models();
    status->set_name(state.name);
    status->set_version(state.version);
    status->set_ready(state.state == ModelReadiness::kReady);
    status->set_state(std::string(ReadinessName(state.state)));
    status->set_reason(state.reason);
  }
  grpc::ServerUnaryReactor* reactor = context->DefaultReactor();
  reactor->Finish(grpc::Status::OK);
  return reactor;
}

grpc::ServerUnaryReactor* QLinearService::GetModel(
    grpc::CallbackServerContext* context, const v1::GetModelRequest* request,
    v1::GetModelResponse* response) {
  grpc::ServerUnaryReactor* reactor = context->DefaultReactor();
  reactor->Finish(ToGrpcStatus(DoGetModel(*request, response)));
  return reactor;
}

absl::Status QLinearService::DoGetModel(const v1::GetModelRequest& request,
                                        v1::GetModelResponse* response) const {
  QL_ASSIGN_OR_RETURN(
      ModelEntry entry,
      registry_->Lookup("model", request.model(), request.version()));
  const model::LinearStack& stack = *entry.stack;
  const model::Manifest& manifest = stack.manifest();
  response->set_name(entry.name);
  response->set_version(entry.version);
  response->set_dtype(ToProtoDataType(manifest.dtype));
  response->set_default_act_quant(ToProtoActQuant(manifest.default_act_quant));
  response->set_packed_bytes(stack.packed_bytes());
  response->set_held_bytes(stack.held_bytes());
  if (stats_ != nullptr) {
    if (std::shared_ptr<const ModelStats> stats =
            stats_->Find(entry.name, entry.version)) {
      const ModelStatsSnapshot s = stats->Snapshot();
      v1::ModelStats* out = response->mutable_stats();
      out->set_success_count(s.success.count);
      out->set_fail_count(s.fail.count);
      out->set_inference_rows(s.inference_count);
      out->set_batches(s.execution_count);
      out->set_layers_executed(s.layers_executed);
      out->set_row_layers_executed(s.row_layers_executed);
      out->set_queue_seconds(static_cast<double>(s.queue.ns) * 1e-9);
      out->set_compute_seconds(static_cast<double>(s.compute_infer.ns) * 1e-9);
    }
  }
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
    layer->set_packed_bytes(linear.packed_bytes());
    layer->set_held_bytes(linear.held_bytes());
  }
  return absl::OkStatus();
}

}  // namespace qlinear::server
