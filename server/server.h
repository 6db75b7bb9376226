// Server: the qlinear gRPC server. Create() loads the models, then listens
// on one port with qlinear.v1.QLinear, inference.GRPCInferenceService (KServe
// v2), grpc.health.v1.Health and server reflection (v1alpha).
//
// Thread-safe: Shutdown() may be called from any thread (e.g. a signal
// watcher) while another thread is in Wait().
#ifndef QLINEAR_SERVER_SERVER_H_
#define QLINEAR_SERVER_SERVER_H_

#include <grpcpp/server.h>

#include <atomic>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <string>

#include "absl/base/call_once.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "kernels/thread_pool.h"
#include "server/batching/batcher.h"
#include "server/batching/completer.h"
#include "server/batching/executor.h"
#include "server/kserve_service.h"
#include "server/load_queue.h"
#include "server/memory_reclaimer.h"
#include "server/metrics.h"
#include "server/model_manager.h"
#include "server/model_registry.h"
#include "server/qlinear_service.h"
#include "server/quality_sampler.h"
#include "server/stats.h"

namespace qlinear::server {

struct ServerOptions {
  // Address to listen on: "0.0.0.0" for every IPv4 interface, "127.0.0.1"
  // for loopback only, or an IPv6 address.
  std::string host = "0.0.0.0";
  // TCP port, 0..65535. 0 picks a free port; port() then tells which.
  int port = 8001;
  // Directory of models, <repo>/<name>/<version>/, of which the latest
  // version of each is loaded. Empty: serve the embedded model "default"
  // (version "1"), generated at start.
  std::string model_repository;
  // One model directory (model.json + model.safetensors, no version
  // subdirectories), served as `model_name` version "1": KServe mounts the
  // model at /mnt/models and names it. Excludes model_repository; needs
  // model_name. The load RPCs then answer FAILED_PRECONDITION (no
  // repository).
  std::string model_dir;
  // The name model_dir is served under: a plain name (letters, digits, _, -,
  // ., at most 255 bytes). Only with model_dir.
  std::string model_name;
  // Versions to load at start instead of the latest, by model name
  // (e.g. {"a", "3"}). A named model missing from the repository fails
  // start-up with NOT_FOUND.
  std::map<std::string, std::string> start_versions;
  // Most rows one request may carry, 1..2^24. It also sets the derived max
  // receive message size (see max_message_bytes), so a larger value admits
  // bigger messages and more memory per call.
  int64_t max_rows_per_request = 4096;
  // Largest message the server receives, in bytes: 0, or 65536..INT_MAX
  // (gRPC's limit is an int; the floor keeps the control RPCs working). A
  // larger request is refused by gRPC before any handler runs, with
  // RESOURCE_EXHAUSTED "Received message larger than max (<size> vs.
  // <limit>)"; a ForwardStream carrying one is ended with that status. Such
  // calls are not counted in the request metrics. Responses are not capped.
  // 0: derived from the models loaded at start, as max_rows_per_request
  // rows of the widest layer input of any model plus 64 KiB, and at least
  // gRPC's default of 4 MiB. The limit is fixed once the port opens: a
  // model loaded later through LoadModel whose max_rows_per_request rows do
  // not fit still loads and serves the requests that fit; start-up and each
  // such load log event=model_message_limit with the rows that fit.
  int64_t max_message_bytes = 0;
  // Most bytes of output tensor one response may carry, 65536..2^30.
  // A request whose rows x output width x dtype size exceeds it gets
  // INVALID_ARGUMENT naming the input shape and the rows that fit, before
  // any compute (a response costs its size several times in memory, and
  // protobuf cannot encode 2 GiB).
  int64_t max_response_bytes = int64_t{256} << 20;
  // Threads of the compute pool. 0: the CPU budget of the process (cgroup
  // quota and affinity), so compute never oversubscribes the container.
  int threads = 0;
  // Bound on rows queued per model. 0: each model's manifest value
  // (batching.max_queue_rows).
  int64_t max_queued_rows = 0;
  // The share of int8-mode requests that the quality sampler also computes
  // in the weight-only mode, off the request's path, for the per-layer
  // quality metrics (docs/operations.md, "Quality telemetry"); 0..1. A
  // model's manifest may set its own (quality_sample_rate). 0: off.
  double quality_sample_rate = 0.0;
  // How long Shutdown() lets queued and in-flight calls finish before
  // cancelling what is left.
  absl::Duration drain_timeout = absl::Seconds(30);
  // After a connection has been open this long, the server sends GOAWAY so
  // the client reconnects (and re-resolves: clients behind an L4 Service or
  // a headless one spread over new replicas); calls on it get
  // max_connection_age_grace to finish before it is closed. 0: never.
  absl::Duration max_connection_age = absl::ZeroDuration();
  absl::Duration max_connection_age_grace = absl::Seconds(30);
  // Port of the Prometheus /metrics endpoint on `host`. 0: no endpoint (the
  // counters still run); -1: any free port (tests; metrics_port() tells).
  int metrics_port = 0;
  // When set, the repository RPCs need the metadata "authorization: Bearer
  // <admin_token>": ListModels, LoadModel, UnloadModel, and KServe's
  // RepositoryIndex, RepositoryModelLoad and RepositoryModelUnload
  // (UNAUTHENTICATED without it, PERMISSION_DENIED with another). Inference,
  // metadata (GetModel, ModelMetadata, ModelConfig, ModelStatistics) and
  // health need none. main.cc reads it with ReadAdminTokenFile.
  std::string admin_token;
  // TLS: PEM files of the server certificate chain and key. With
  // tls_client_ca also set, clients must present a certificate it signed
  // (mTLS). All empty: plaintext.
  std::string tls_cert_file;
  std::string tls_key_file;
  std::string tls_client_ca_file;
  // Tests only: called by every model load from the repository (at start
  // and through the load RPCs) with the model name and version, once the
  // model is marked loading and before its files are read. A test blocks in
  // it to hold a load in progress. Empty: nothing is called.
  std::function<void(const std::string& model, const std::string& version)>
      model_load_hook_for_test;
  // Tests only: called with (requests in flight, buffered response bytes)
  // when a ForwardStream stops reading at its bound (see
  // kMaxStreamRequestsInFlight). Empty: nothing is called.
  std::function<void(size_t in_flight, size_t buffered_bytes)>
      stream_paused_hook_for_test;
};

class Server {
 public:
  // Validates `options`, loads every model and starts serving. Blocks while
  // the models load (the embedded default model takes a few seconds).
  // Errors: INVALID_ARGUMENT (an option out of range, or a TLS file that
  // cannot be read, named; both before any model loads), NOT_FOUND (no
  // repository or model directory), the model loader's error prefixed with the
  // model name and directory, UNAVAILABLE (cannot listen on host:port).
  static absl::StatusOr<std::unique_ptr<Server>> Create(
      const ServerOptions& options);

  // Shuts down (if not done yet) and waits for the server to stop.
  ~Server();
  Server(const Server&) = delete;
  Server& operator=(const Server&) = delete;

  // The port the server listens on (the chosen one when options.port was 0).
  int port() const { return port_; }

  // The max receive message size in force: options.max_message_bytes, or
  // the derived value when that was 0.
  int max_message_bytes() const { return max_message_bytes_; }

  // Per model version serving counters. Valid for the server's life.
  const StatsRegistry& stats() const { return *stats_; }

  // The bound /metrics port, or 0 without an endpoint.
  int metrics_port() const { return metrics_->port(); }
  // The metrics registry (scrapes without HTTP in tests).
  const Metrics& metrics() const { return *metrics_; }

  // The model lifecycle (load, unload, index). Valid for the server's life.
  ModelManager* models() { return manager_.get(); }

  // Tests: waits until `count` admin loads are queued behind the running
  // one (LoadQueue::WaitForPending).
  bool WaitForPendingLoads(size_t count, absl::Duration timeout) {
    return loads_->WaitForPending(count, timeout);
  }

  // Rows queued for `model` (0 for an unknown model).
  int64_t queued_rows(const std::string& model) const {
    return batcher_->queued_rows(model);
  }
  // Tests: waits until `model` has at least `rows` rows queued
  // (Batcher::AwaitQueuedRows); false on timeout.
  bool WaitForQueuedRows(const std::string& model, int64_t rows,
                         absl::Duration timeout) const {
    return batcher_->AwaitQueuedRows(model, rows, timeout);
  }

  // Tests: waits until the quality sampler has compared `count` sampled
  // requests (QualitySampler::AwaitCompleted); false on timeout.
  bool WaitForQualitySamples(uint64_t count, absl::Duration timeout) const {
    return quality_sampler_->AwaitCompleted(count, timeout);
  }

  // Blocks until the server has shut down (after Shutdown()).
  void Wait();

  // Drains: answers new inference calls UNAVAILABLE, marks every service
  // NOT_SERVING in the health service, waits until calls stop arriving
  // (none for 100 ms; at most 1 s and drain_timeout: clients watching
  // health move to other replicas), then closes the port (GOAWAY) and lets
  // queued and in-flight calls finish within options.drain_timeout, then
  // cancels what is left. Idempotent; returns
  // once the server has stopped.
  void Shutdown();

 private:
  explicit Server(ServerOptions options);

  absl::Status InitMetricsAndModels();
  absl::Status LoadInitialModels();
  absl::Status Start();

  // Constant after Create(). Destroyed in reverse order: the gRPC server,
  // then the executor (which completes what is queued), the service, the
  // batcher, the pool and the registry.
  const ServerOptions options_;
  const std::unique_ptr<ModelRegistry> registry_;
  std::unique_ptr<ThreadPool> pool_;
  std::unique_ptr<batching::Batcher> batcher_;
  std::unique_ptr<Metrics> metrics_;
  // Whether the executor is running a batch: set around RunBatch, read by
  // the quality sampler's gate (shared: the sampler may outlive the
  // executor).
  const std::shared_ptr<std::atomic<bool>> batch_running_ =
      std::make_shared<std::atomic<bool>>(false);
  // Shared with the models' QualityPolicy; its jobs own what they read.
  std::shared_ptr<QualitySampler> quality_sampler_;
  std::unique_ptr<ModelManager> manager_;
  std::unique_ptr<LoadQueue> loads_;
  std::unique_ptr<StatsRegistry> stats_;
  std::unique_ptr<QLinearService> service_;
  std::unique_ptr<KServeService> kserve_service_;
  // Before executor_: the executor hands completions to it.
  std::unique_ptr<batching::Completer> completer_;
  std::unique_ptr<batching::Executor> executor_;
  std::unique_ptr<MemoryReclaimer> reclaimer_;  // reads the executor
  std::unique_ptr<grpc::Server> server_;
  int port_ = 0;
  int max_message_bytes_ = 0;

  absl::once_flag shutdown_once_;
};

}  // namespace qlinear::server

#endif  // QLINEAR_SERVER_SERVER_H_
