#include "server/server.h"

#include <grpcpp/ext/proto_server_reflection_plugin.h>
#include <grpcpp/health_check_service_interface.h>
#include <grpcpp/security/server_credentials.h>
#include <grpcpp/server_builder.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <chrono>
#include <climits>
#include <utility>

#include "absl/memory/memory.h"
#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "common/status_macros.h"
#include "model/default_model.h"
#include "model/loader.h"
#include "model/repository.h"
#include "server/cpu_budget.h"

namespace qlinear::server {
namespace {

using Clock = std::chrono::steady_clock;

// The health service name that turns SERVING once the models are loaded.
constexpr char kHealthServiceName[] = "qlinear.v1.QLinear";
// Bytes added to the largest request tensor for the rest of the message.
constexpr int64_t kMessageSlackBytes = 64 << 10;
constexpr int64_t kMaxRowsLimit = int64_t{1} << 24;

absl::Status ValidateOptions(const ServerOptions& options) {
  if (options.host.empty())
    return absl::InvalidArgumentError("host: must not be empty");
  if (options.port < 0 || options.port > 65535) {
    return absl::InvalidArgumentError(
        absl::StrCat("port: ", options.port, " is not in 0..65535"));
  }
  if (options.threads < 0 || options.threads > 1024) {
    return absl::InvalidArgumentError(
        absl::StrCat("threads: ", options.threads, " is not in 0..1024"));
  }
  if (options.max_queued_rows < 0) {
    return absl::InvalidArgumentError(absl::StrCat(
        "max_queued_rows: ", options.max_queued_rows, " is negative"));
  }
  if (options.drain_timeout < absl::ZeroDuration()) {
    return absl::InvalidArgumentError("drain_timeout: negative");
  }
  if (options.max_rows_per_request < 1 ||
      options.max_rows_per_request > kMaxRowsLimit) {
    return absl::InvalidArgumentError(
        absl::StrCat("max_rows_per_request: ", options.max_rows_per_request,
                     " is not in 1..", kMaxRowsLimit));
  }
  return absl::OkStatus();
}

void LogLoaded(const ModelEntry& entry, Clock::time_point start) {
  const double ms =
      std::chrono::duration<double, std::milli>(Clock::now() - start).count();
  spdlog::info(
      "loaded model '{}' version {}: {} layers, {} packed bytes, {:.0f} ms",
      entry.name, entry.version, entry.stack->num_layers(),
      entry.stack->packed_bytes(), ms);
}

// Loads the models `options` asks for into `registry`.
absl::Status LoadModels(const ServerOptions& options, ModelRegistry* registry) {
  if (options.model_repository.empty()) {
    const Clock::time_point start = Clock::now();
    QL_ASSIGN_OR_RETURN(std::unique_ptr<model::LinearStack> stack,
                        model::BuildDefaultModel());
    ModelEntry entry{model::kDefaultModelName, "1", std::move(stack)};
    LogLoaded(entry, start);
    registry->Add(std::move(entry));
    return absl::OkStatus();
  }
  QL_ASSIGN_OR_RETURN(std::vector<model::ModelVersionDir> dirs,
                      model::ScanRepository(options.model_repository));
  if (dirs.empty()) {
    spdlog::warn("model repository {} holds no models",
                 options.model_repository);
  }
  for (const model::ModelVersionDir& dir : dirs) {
    const Clock::time_point start = Clock::now();
    absl::StatusOr<std::unique_ptr<model::LinearStack>> stack =
        model::LoadModelDir(dir.path);
    if (!stack.ok()) {
      return absl::Status(
          stack.status().code(),
          absl::StrCat("loading model '", dir.name, "' version ", dir.version,
                       " from ", dir.path, ": ", stack.status().message()));
    }
    ModelEntry entry{dir.name, absl::StrCat(dir.version),
                     std::move(stack).value()};
    LogLoaded(entry, start);
    registry->Add(std::move(entry));
  }
  return absl::OkStatus();
}

// max_rows rows of the widest layer input of any model, plus slack, capped
// at INT_MAX (gRPC's limit is an int).
int MaxReceiveMessageBytes(const ModelRegistry& registry, int64_t max_rows) {
  int64_t row_bytes = 0;
  for (const ModelEntry& entry : registry.List()) {
    const model::LinearStack& stack = *entry.stack;
    for (size_t i = 0; i < stack.num_layers(); ++i) {
      row_bytes = std::max<int64_t>(
          row_bytes, static_cast<int64_t>(stack.layer_spec(i).in_features *
                                          DTypeSize(stack.dtype())));
    }
  }
  const int64_t bytes = max_rows * row_bytes + kMessageSlackBytes;
  return static_cast<int>(std::min<int64_t>(bytes, INT_MAX));
}

// The model's batching section, with the server's queue bound when set.
batching::QueueOptions QueueOptionsFor(const model::LinearStack& stack,
                                       int64_t max_queued_rows) {
  const model::BatchingConfig& b = stack.manifest().batching;
  batching::QueueOptions q;
  q.max_batch_rows = b.max_batch_rows;
  q.max_queue_delay = absl::Microseconds(b.max_queue_delay_us);
  q.max_queue_rows = max_queued_rows > 0 ? max_queued_rows : b.max_queue_rows;
  return q;
}

std::string ListenAddress(const std::string& host, int port) {
  const bool ipv6 = host.find(':') != std::string::npos && host.front() != '[';
  return ipv6 ? absl::StrCat("[", host, "]:", port)
              : absl::StrCat(host, ":", port);
}

}  // namespace

absl::StatusOr<std::unique_ptr<Server>> Server::Create(
    const ServerOptions& options) {
  QL_RETURN_IF_ERROR(ValidateOptions(options));
  auto registry = std::make_unique<ModelRegistry>();
  QL_RETURN_IF_ERROR(LoadModels(options, registry.get()));
  auto server = absl::WrapUnique(new Server(options, std::move(registry)));
  QL_RETURN_IF_ERROR(server->Start());
  return server;
}

Server::Server(ServerOptions options, std::unique_ptr<ModelRegistry> registry)
    : options_(std::move(options)), registry_(std::move(registry)) {}

Server::~Server() {
  if (server_ == nullptr) return;
  Shutdown();
  server_->Wait();
}

absl::Status Server::Start() {
  RequestLimits limits;
  limits.max_rows_per_request = options_.max_rows_per_request;
  const int threads = options_.threads > 0 ? options_.threads : CpuBudget();
  pool_ = std::make_unique<ThreadPool>(threads);
  batcher_ = std::make_unique<batching::Batcher>(batching::RealClock::Get());
  for (const ModelEntry& entry : registry_->List()) {
    batcher_->SetQueue(entry.name,
                       QueueOptionsFor(*entry.stack, options_.max_queued_rows));
  }
  service_ =
      std::make_unique<QLinearService>(registry_.get(), batcher_.get(), limits);
  executor_ = std::make_unique<batching::Executor>(batcher_.get(), pool_.get());

  grpc::EnableDefaultHealthCheckService(true);
  grpc::reflection::InitProtoReflectionServerBuilderPlugin();
  const std::string address = ListenAddress(options_.host, options_.port);
  const int max_receive =
      MaxReceiveMessageBytes(*registry_, options_.max_rows_per_request);

  grpc::ServerBuilder builder;
  int selected_port = 0;
  builder.AddListeningPort(address, grpc::InsecureServerCredentials(),
                           &selected_port);
  builder.SetMaxReceiveMessageSize(max_receive);
  builder.RegisterService(service_.get());
  server_ = builder.BuildAndStart();
  if (server_ == nullptr || selected_port == 0) {
    server_.reset();
    return absl::UnavailableError(absl::StrCat("cannot listen on ", address));
  }
  port_ = selected_port;
  server_->GetHealthCheckService()->SetServingStatus(kHealthServiceName, true);
  spdlog::info(
      "listening on {}:{} (max receive message {} bytes, {} compute threads)",
      options_.host, port_, max_receive, threads);
  return absl::OkStatus();
}

void Server::Wait() { server_->Wait(); }

void Server::Shutdown() {
  absl::call_once(shutdown_once_, [this] {
    spdlog::info("draining: new calls get UNAVAILABLE, in-flight calls finish");
    server_->GetHealthCheckService()->Shutdown();
    batcher_->Shutdown();
    server_->Shutdown(std::chrono::system_clock::now() +
                      absl::ToChronoMilliseconds(options_.drain_timeout));
    executor_.reset();  // runs whatever is still queued, then joins
  });
}

}  // namespace qlinear::server
