// QLinearService: the synchronous implementation of qlinear.v1.QLinear
// (Forward, Matmul, ListModels, GetModel) over a ModelRegistry. Each call
// runs on the gRPC handler thread: validate, compute, encode.
//
// Thread-safe: the handlers share only the (thread-safe) registry.
#ifndef QLINEAR_SERVER_QLINEAR_SERVICE_H_
#define QLINEAR_SERVER_QLINEAR_SERVICE_H_

#include "absl/status/status.h"
#include "qlinear/v1/qlinear.grpc.pb.h"
#include "server/model_registry.h"
#include "server/validation.h"

namespace qlinear::server {

class QLinearService final : public v1::QLinear::Service {
 public:
  // `registry` is not owned and must outlive the service.
  QLinearService(const ModelRegistry* registry, RequestLimits limits);
  QLinearService(const QLinearService&) = delete;
  QLinearService& operator=(const QLinearService&) = delete;

  // Status codes: INVALID_ARGUMENT (malformed request, field named),
  // NOT_FOUND (unknown model or version), CANCELLED (client gone before
  // compute).
  grpc::Status Forward(grpc::ServerContext* context,
                       const v1::ForwardRequest* request,
                       v1::ForwardResponse* response) override;
  grpc::Status Matmul(grpc::ServerContext* context,
                      const v1::MatmulRequest* request,
                      v1::MatmulResponse* response) override;
  // Always OK.
  grpc::Status ListModels(grpc::ServerContext* context,
                          const v1::ListModelsRequest* request,
                          v1::ListModelsResponse* response) override;
  // Status codes: INVALID_ARGUMENT (no model name), NOT_FOUND.
  grpc::Status GetModel(grpc::ServerContext* context,
                        const v1::GetModelRequest* request,
                        v1::GetModelResponse* response) override;

 private:
  absl::Status DoForward(grpc::ServerContext* context,
                         const v1::ForwardRequest& request,
                         v1::ForwardResponse* response) const;
  absl::Status DoMatmul(grpc::ServerContext* context,
                        const v1::MatmulRequest& request,
                        v1::MatmulResponse* response) const;
  absl::Status DoGetModel(const v1::GetModelRequest& request,
                          v1::GetModelResponse* response) const;

  // Constant after construction.
  const ModelRegistry* const registry_;
  const RequestLimits limits_;
};

}  // namespace qlinear::server

#endif  // QLINEAR_SERVER_QLINEAR_SERVICE_H_
