// QLinearService: qlinear.v1.QLinear on gRPC's callback API. Handlers
// validate a request and enqueue it on the model's batcher queue; the
// executor thread runs the batch and finishes the reactors. No thread waits
// per request.
//
// Thread-safe: the handlers share only thread-safe objects.
#ifndef QLINEAR_SERVER_QLINEAR_SERVICE_H_
#define QLINEAR_SERVER_QLINEAR_SERVICE_H_

#include <string>
#include <thread>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/functional/any_invocable.h"
#include "absl/status/status.h"
#include "absl/synchronization/mutex.h"
#include "qlinear/v1/qlinear.grpc.pb.h"
#include "server/batching/batcher.h"
#include "server/model_manager.h"
#include "server/model_registry.h"
#include "server/stats.h"
#include "server/validation.h"

namespace qlinear::server {

class QLinearService final : public v1::QLinear::CallbackService {
 public:
  // `registry`, `batcher`, `models` and `stats` are not owned and must
  // outlive the service; `stats` may be null (no statistics). A non-empty
  // `admin_token` guards LoadModel and UnloadModel.
  QLinearService(const ModelRegistry* registry, batching::Batcher* batcher,
                 ModelManager* models, StatsRegistry* stats, Metrics* metrics,
                 RequestLimits limits, std::string admin_token);
  // Waits for admin calls still loading a model.
  ~QLinearService();
  QLinearService(const QLinearService&) = delete;
  QLinearService& operator=(const QLinearService&) = delete;

  // Status codes: INVALID_ARGUMENT (malformed request, field named),
  // NOT_FOUND (unknown model or version), RESOURCE_EXHAUSTED (queue full,
  // with a retry hint), DEADLINE_EXCEEDED (expired while queued),
  // CANCELLED (client gone; no further compute), UNAVAILABLE (draining).
  grpc::ServerUnaryReactor* Forward(grpc::CallbackServerContext* context,
                                    const v1::ForwardRequest* request,
                                    v1::ForwardResponse* response) override;
  grpc::ServerUnaryReactor* Matmul(grpc::CallbackServerContext* context,
                                   const v1::MatmulRequest* request,
                                   v1::MatmulResponse* response) override;
  // Every model loaded or in the repository, with its state and reason (no
  // server paths). Needs the admin token when one is set, as the other
  // repository RPCs: UNAUTHENTICATED / PERMISSION_DENIED without it.
  grpc::ServerUnaryReactor* ListModels(
      grpc::CallbackServerContext* context,
      const v1::ListModelsRequest* request,
      v1::ListModelsResponse* response) override;
  // Status codes: INVALID_ARGUMENT (no model name), NOT_FOUND.
  grpc::ServerUnaryReactor* GetModel(grpc::CallbackServerContext* context,
                                     const v1::GetModelRequest* request,
                                     v1::GetModelResponse* response) override;
  // A bidirectional stream of Forward calls; per-request errors travel in
  // the response's status_code, so one bad request does not end the stream.
  grpc::ServerBidiReactor<v1::ForwardRequest, v1::ForwardResponse>*
  ForwardStream(grpc::CallbackServerContext* context) override;
  // Status codes: those of ModelManager::Load, UNAUTHENTICATED and
  // PERMISSION_DENIED. The load runs on its own thread, not a gRPC one.
  grpc::ServerUnaryReactor* LoadModel(grpc::CallbackServerContext* context,
                                      const v1::LoadModelRequest* request,
                                      v1::LoadModelResponse* response) override;
  // Status codes: NOT_FOUND, UNAUTHENTICATED, PERMISSION_DENIED.
  grpc::ServerUnaryReactor* UnloadModel(
      grpc::CallbackServerContext* context,
      const v1::UnloadModelRequest* request,
      v1::UnloadModelResponse* response) override;

 private:
  // Validates `request` and schedules it; `done` gets the outcome. `rpc`
  // labels it in the statistics.
  absl::Status ScheduleForward(grpc::CallbackServerContext* context,
                               const v1::ForwardRequest& request, Rpc rpc,
                               v1::ForwardResponse* response,
                               absl::AnyInvocable<void(absl::Status)> done);
  absl::Status StartMatmul(grpc::CallbackServerContext* context,
                           const v1::MatmulRequest& request,
                           v1::MatmulResponse* response,
                           grpc::ServerUnaryReactor* reactor);
  absl::Status DoGetModel(const v1::GetModelRequest& request,
                          v1::GetModelResponse* response) const;

  // Constant after construction.
  const ModelRegistry* const registry_;
  batching::Batcher* const batcher_;
  ModelManager* const models_;
  StatsRegistry* const stats_;
  Metrics* const metrics_;  // may be null
  const RequestLimits limits_;
  const std::string admin_token_;

  absl::Mutex loaders_mu_;
  std::vector<std::thread> loaders_ ABSL_GUARDED_BY(loaders_mu_);
};

}  // namespace qlinear::server

#endif  // QLINEAR_SERVER_QLINEAR_SERVICE_H_
