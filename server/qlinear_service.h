// QLinearService: qlinear.v1.QLinear on gRPC's callback API. Handlers
// validate a request and enqueue it on the model's batcher queue; the
// executor thread runs the batch and finishes the reactors. No thread waits
// per request.
//
// Thread-safe: the handlers share only thread-safe objects.
#ifndef QLINEAR_SERVER_QLINEAR_SERVICE_H_
#define QLINEAR_SERVER_QLINEAR_SERVICE_H_

#include <cstddef>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/functional/any_invocable.h"
#include "absl/status/status.h"
#include "absl/synchronization/mutex.h"
#include "qlinear/v1/qlinear.grpc.pb.h"
#include "server/batching/batcher.h"
#include "server/load_queue.h"
#include "server/model_manager.h"
#include "server/model_registry.h"
#include "server/native_requests.h"
#include "server/stats.h"
#include "server/validation.h"

namespace qlinear::server {

// Forward, Matmul and ForwardStream take their messages raw (server/wire.h)
// so that an unparseable request gets INVALID_ARGUMENT and is counted.
using QLinearServiceBase = v1::QLinear::WithRawCallbackMethod_Forward<
    v1::QLinear::WithRawCallbackMethod_Matmul<
        v1::QLinear::WithRawCallbackMethod_ForwardStream<
            v1::QLinear::WithCallbackMethod_ListModels<
                v1::QLinear::WithCallbackMethod_GetModel<
                    v1::QLinear::WithCallbackMethod_LoadModel<
                        v1::QLinear::WithCallbackMethod_UnloadModel<
                            v1::QLinear::Service>>>>>>>;

// A ForwardStream reads its next request only while fewer than this many of
// its requests are queued, running or answered but not yet written, ...
inline constexpr size_t kMaxStreamRequestsInFlight = 32;
// ...and while its answered, unwritten responses hold fewer bytes than this:
// a client that stops reading stops the server reading from it, and its
// memory stays bounded (docs/operations.md, "Limits and failure modes").
inline constexpr size_t kMaxStreamBufferedBytes = size_t{64} << 20;

class QLinearService final : public QLinearServiceBase {
 public:
  // Every pointer is not owned and must outlive the service; `stats` and
  // `metrics` may be null (no statistics, no metrics). A non-empty
  // `admin_token` guards LoadModel and UnloadModel.
  QLinearService(const ModelRegistry* registry, batching::Batcher* batcher,
                 ModelManager* models, LoadQueue* loads, StatsRegistry* stats,
                 Metrics* metrics, RequestLimits limits,
                 std::string admin_token);
  QLinearService(const QLinearService&) = delete;
  QLinearService& operator=(const QLinearService&) = delete;

  // Status codes: INVALID_ARGUMENT (malformed request, field named),
  // NOT_FOUND (unknown model or version), RESOURCE_EXHAUSTED (queue full,
  // with a retry hint), DEADLINE_EXCEEDED (expired while queued),
  // CANCELLED (client gone; no further compute), UNAVAILABLE (draining).
  // A request that does not parse: INVALID_ARGUMENT "request: ...".
  grpc::ServerUnaryReactor* Forward(grpc::CallbackServerContext* context,
                                    const grpc::ByteBuffer* request,
                                    grpc::ByteBuffer* response) override;
  grpc::ServerUnaryReactor* Matmul(grpc::CallbackServerContext* context,
                                   const grpc::ByteBuffer* request,
                                   grpc::ByteBuffer* response) override;
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
  // the response's status_code, so one bad request (an unparseable message
  // included) does not end the stream. Flow control: see
  // kMaxStreamRequestsInFlight and kMaxStreamBufferedBytes.
  grpc::ServerBidiReactor<grpc::ByteBuffer, grpc::ByteBuffer>* ForwardStream(
      grpc::CallbackServerContext* context) override;

  // Tests only: called with (requests in flight, buffered bytes) each time a
  // stream stops reading at its bound. Set before serving.
  void set_stream_paused_hook_for_test(
      std::function<void(size_t, size_t)> hook) {
    stream_paused_hook_for_test_ = std::move(hook);
  }
  // Status codes: those of ModelManager::Load, UNAUTHENTICATED and
  // PERMISSION_DENIED, and LoadQueue::Submit's (RESOURCE_EXHAUSTED when too
  // many loads wait, UNAVAILABLE while draining). The load runs on the
  // LoadQueue's thread, not a gRPC one.
  grpc::ServerUnaryReactor* LoadModel(grpc::CallbackServerContext* context,
                                      const v1::LoadModelRequest* request,
                                      v1::LoadModelResponse* response) override;
  // Status codes: NOT_FOUND, UNAUTHENTICATED, PERMISSION_DENIED.
  grpc::ServerUnaryReactor* UnloadModel(
      grpc::CallbackServerContext* context,
      const v1::UnloadModelRequest* request,
      v1::UnloadModelResponse* response) override;

 private:
  // ParseRequest(), counting and logging a failure as a rejected `rpc`.
  absl::Status ParseOrReject(const grpc::ByteBuffer& bytes, Rpc rpc,
                             google::protobuf::Message* request) const;
  absl::Status DoGetModel(const v1::GetModelRequest& request,
                          v1::GetModelResponse* response) const;

  // Constant after construction.
  const ModelRegistry* const registry_;
  ModelManager* const models_;
  StatsRegistry* const stats_;
  Metrics* const metrics_;  // may be null
  const RequestLimits limits_;
  const std::string admin_token_;
  const RequestScheduling scheduling_;  // of registry_, metrics_, limits_

  LoadQueue* const loads_;
  std::function<void(size_t, size_t)> stream_paused_hook_for_test_;
};

}  // namespace qlinear::server

#endif  // QLINEAR_SERVER_QLINEAR_SERVICE_H_
