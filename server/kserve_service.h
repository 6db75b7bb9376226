// KServeService: inference.GRPCInferenceService, the KServe v2 / Open
// Inference Protocol with Triton's model configuration, statistics and
// repository extensions (proto/inference/grpc_service.proto), on gRPC's
// callback API. ModelInfer validates the request and enqueues it on the
// model's batcher queue, exactly as the native Forward does: the same
// registry, batcher, executor and statistics, so outputs are bitwise those
// of Forward on the same input.
//
// Thread-safe: the handlers share only thread-safe objects.
#ifndef QLINEAR_SERVER_KSERVE_SERVICE_H_
#define QLINEAR_SERVER_KSERVE_SERVICE_H_

#include <string>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/synchronization/mutex.h"
#include "inference/grpc_service.grpc.pb.h"
#include "server/batching/batcher.h"
#include "server/load_queue.h"
#include "server/model_manager.h"
#include "server/model_registry.h"
#include "server/request_recorder.h"
#include "server/stats.h"
#include "server/validation.h"

namespace qlinear::server {

// The protocol extensions KServeService implements, as ServerMetadata lists
// them (Triton's names).
inline constexpr const char* kKServeExtensions[] = {
    "model_configuration", "model_repository", "statistics"};

// ModelInfer takes its messages raw (server/wire.h), so that an unparseable
// request gets INVALID_ARGUMENT and is counted.
namespace kserve_internal {
using S = inference::GRPCInferenceService;
using Base = S::WithCallbackMethod_ServerLive<S::WithCallbackMethod_ServerReady<
    S::WithCallbackMethod_ModelReady<S::WithCallbackMethod_ServerMetadata<
        S::WithCallbackMethod_ModelMetadata<S::WithRawCallbackMethod_ModelInfer<
            S::WithCallbackMethod_ModelConfig<
                S::WithCallbackMethod_ModelStatistics<
                    S::WithCallbackMethod_RepositoryIndex<
                        S::WithCallbackMethod_RepositoryModelLoad<
                            S::WithCallbackMethod_RepositoryModelUnload<
                                S::Service>>>>>>>>>>>;
}  // namespace kserve_internal

class KServeService final : public kserve_internal::Base {
 public:
  // Every pointer is not owned and must outlive the service. `stats` may be
  // null (ModelStatistics then reports zeros). `admin_token` non-empty:
  // RepositoryModelLoad/Unload need "authorization: Bearer <admin_token>".
  KServeService(const ModelRegistry* registry, batching::Batcher* batcher,
                ModelManager* models, LoadQueue* loads, StatsRegistry* stats,
                Metrics* metrics, RequestLimits limits,
                std::string admin_token);
  KServeService(const KServeService&) = delete;
  KServeService& operator=(const KServeService&) = delete;

  // Always OK: live is true whenever the server answers.
  grpc::ServerUnaryReactor* ServerLive(
      grpc::CallbackServerContext* context,
      const inference::ServerLiveRequest* request,
      inference::ServerLiveResponse* response) override;
  // Always OK: ready when every loaded model is ready. A model that is
  // loading (no version serves yet) or unavailable is not loaded, so loading
  // an extra model does not make the server unready.
  grpc::ServerUnaryReactor* ServerReady(
      grpc::CallbackServerContext* context,
      const inference::ServerReadyRequest* request,
      inference::ServerReadyResponse* response) override;
  // OK with ready false for an unknown model or version; INVALID_ARGUMENT
  // without a name.
  grpc::ServerUnaryReactor* ModelReady(
      grpc::CallbackServerContext* context,
      const inference::ModelReadyRequest* request,
      inference::ModelReadyResponse* response) override;
  // Always OK: name "qlinear", the server version, kKServeExtensions.
  grpc::ServerUnaryReactor* ServerMetadata(
      grpc::CallbackServerContext* context,
      const inference::ServerMetadataRequest* request,
      inference::ServerMetadataResponse* response) override;
  // Status codes: INVALID_ARGUMENT (no name), NOT_FOUND, UNAVAILABLE
  // (loading).
  grpc::ServerUnaryReactor* ModelMetadata(
      grpc::CallbackServerContext* context,
      const inference::ModelMetadataRequest* request,
      inference::ModelMetadataResponse* response) override;
  // Status codes: INVALID_ARGUMENT (a validation rule, named: see
  // ValidateInferRequest), NOT_FOUND (unknown model or version), UNAVAILABLE
  // (loading; draining), RESOURCE_EXHAUSTED (queue full, with a retry hint),
  // DEADLINE_EXCEEDED (the gRPC deadline or the "timeout" parameter passed
  // while queued; no compute spent), CANCELLED (no further compute);
  // INVALID_ARGUMENT "request: ..." for a message that does not parse.
  grpc::ServerUnaryReactor* ModelInfer(grpc::CallbackServerContext* context,
                                       const grpc::ByteBuffer* request,
                                       grpc::ByteBuffer* response) override;
  // Status codes: as ModelMetadata.
  grpc::ServerUnaryReactor* ModelConfig(
      grpc::CallbackServerContext* context,
      const inference::ModelConfigRequest* request,
      inference::ModelConfigResponse* response) override;
  // Every loaded model (no name), or one. Status codes: NOT_FOUND (a named
  // model or version that is not loaded), INVALID_ARGUMENT (a version
  // without a name).
  grpc::ServerUnaryReactor* ModelStatistics(
      grpc::CallbackServerContext* context,
      const inference::ModelStatisticsRequest* request,
      inference::ModelStatisticsResponse* response) override;
  // Needs the admin token when one is set, as the other repository RPCs.
  // Status codes: UNAUTHENTICATED and PERMISSION_DENIED, INVALID_ARGUMENT (a
  // repository_name: there is one unnamed repository).
  grpc::ServerUnaryReactor* RepositoryIndex(
      grpc::CallbackServerContext* context,
      const inference::RepositoryIndexRequest* request,
      inference::RepositoryIndexResponse* response) override;
  // Loads (or reloads) a model, off the gRPC threads. Status codes: those of
  // ModelManager::Load, INVALID_ARGUMENT (no model_name, a repository_name,
  // an unsupported parameter), UNAUTHENTICATED and PERMISSION_DENIED.
  grpc::ServerUnaryReactor* RepositoryModelLoad(
      grpc::CallbackServerContext* context,
      const inference::RepositoryModelLoadRequest* request,
      inference::RepositoryModelLoadResponse* response) override;
  // Status codes: those of ModelManager::Unload, INVALID_ARGUMENT,
  // UNAUTHENTICATED and PERMISSION_DENIED.
  grpc::ServerUnaryReactor* RepositoryModelUnload(
      grpc::CallbackServerContext* context,
      const inference::RepositoryModelUnloadRequest* request,
      inference::RepositoryModelUnloadResponse* response) override;

 private:
  absl::Status ScheduleInfer(grpc::CallbackServerContext* context,
                             const inference::ModelInferRequest& request,
                             const ModelEntry& entry, RequestRecorder recorder,
                             grpc::ByteBuffer* response,
                             grpc::ServerUnaryReactor* reactor);
  absl::Status DoModelConfig(const inference::ModelConfigRequest& request,
                             inference::ModelConfigResponse* response) const;
  absl::Status DoModelStatistics(
      const inference::ModelStatisticsRequest& request,
      inference::ModelStatisticsResponse* response) const;

  // Constant after construction.
  const ModelRegistry* const registry_;
  batching::Batcher* const batcher_;
  ModelManager* const models_;
  StatsRegistry* const stats_;
  Metrics* const metrics_;  // may be null
  const RequestLimits limits_;
  const std::string admin_token_;
  LoadQueue* const loads_;
};

}  // namespace qlinear::server

#endif  // QLINEAR_SERVER_KSERVE_SERVICE_H_
