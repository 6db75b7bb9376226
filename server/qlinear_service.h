// QLinearService: qlinear.v1.QLinear on gRPC's callback API. Handlers
// validate a request and enqueue it on the model's batcher queue; the
// executor thread runs the batch and finishes the reactors. No thread waits
// per request.
//
// Thread-safe: the handlers share only thread-safe objects.
#ifndef QLINEAR_SERVER_QLINEAR_SERVICE_H_
#define QLINEAR_SERVER_QLINEAR_SERVICE_H_

#include "absl/status/status.h"
#include "qlinear/v1/qlinear.grpc.pb.h"
#include "server/batching/batcher.h"
#include "server/model_registry.h"
#include "server/validation.h"

namespace qlinear::server {

class QLinearService final : public v1::QLinear::CallbackService {
 public:
  // `registry` and `batcher` are not owned and must outlive the service.
  QLinearService(const ModelRegistry* registry, batching::Batcher* batcher,
                 RequestLimits limits);
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
  // Always OK.
  grpc::ServerUnaryReactor* ListModels(
      grpc::CallbackServerContext* context,
      const v1::ListModelsRequest* request,
      v1::ListModelsResponse* response) override;
  // Status codes: INVALID_ARGUMENT (no model name), NOT_FOUND.
  grpc::ServerUnaryReactor* GetModel(grpc::CallbackServerContext* context,
                                     const v1::GetModelRequest* request,
                                     v1::GetModelResponse* response) override;

 private:
  absl::Status StartForward(grpc::CallbackServerContext* context,
                            const v1::ForwardRequest& request,
                            v1::ForwardResponse* response,
                            grpc::ServerUnaryReactor* reactor);
  absl::Status StartMatmul(grpc::CallbackServerContext* context,
                           const v1::MatmulRequest& request,
                           v1::MatmulResponse* response,
                           grpc::ServerUnaryReactor* reactor);
  absl::Status DoGetModel(const v1::GetModelRequest& request,
                          v1::GetModelResponse* response) const;

  // Constant after construction.
  const ModelRegistry* const registry_;
  batching::Batcher* const batcher_;
  const RequestLimits limits_;
};

}  // namespace qlinear::server

#endif  // QLINEAR_SERVER_QLINEAR_SERVICE_H_
