#include "server/server.h"

#include <grpcpp/ext/proto_server_reflection_plugin.h>
#include <grpcpp/health_check_service_interface.h>
#include <grpcpp/security/server_credentials.h>
#include <grpcpp/server_builder.h>
#include <openssl/bio.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <chrono>
#include <climits>
#include <fstream>
#include <memory>
#include <sstream>
#include <utility>

#include "absl/memory/memory.h"
#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "common/status_macros.h"
#include "model/default_model.h"
#include "model/loader.h"
#include "model/repository.h"
#include "server/batch_runner.h"
#include "server/cpu_budget.h"

namespace qlinear::server {
namespace {

// The health service name that turns SERVING once the models are loaded.
constexpr char kHealthServiceName[] = "qlinear.v1.QLinear";
// Bytes added to the largest request tensor for the rest of the message.
constexpr int64_t kMessageSlackBytes = 64 << 10;
// The smallest explicit max_message_bytes (health, metadata and admin
// requests must still fit), and the least a derived one is: gRPC's default.
constexpr int64_t kMinMessageBytes = kMessageSlackBytes;
constexpr int64_t kMinDerivedMessageBytes = 4 << 20;
constexpr int64_t kMaxRowsLimit = int64_t{1} << 24;
// Half of protobuf's 2 GiB, leaving room for the rest of a response.
constexpr int64_t kMaxResponseBytes = int64_t{1} << 30;

absl::Status ValidateOptions(const ServerOptions& options) {
  if (options.host.empty())
    return absl::InvalidArgumentError("host: must not be empty");
  if (options.metrics_port < -1 || options.metrics_port > 65535) {
    return absl::InvalidArgumentError(absl::StrCat(
        "metrics_port: ", options.metrics_port, " is not in -1..65535"));
  }
  if (options.port < 0 || options.port > 65535) {
    return absl::InvalidArgumentError(
        absl::StrCat("port: ", options.port, " is not in 0..65535"));
  }
  if (options.threads < 0 || options.threads > 1024) {
    return absl::InvalidArgumentError(
        absl::StrCat("threads: ", options.threads, " is not in 0..1024"));
  }
  if (!(options.quality_sample_rate >= 0.0 &&
        options.quality_sample_rate <= 1.0)) {
    return absl::InvalidArgumentError(
        absl::StrCat("quality_sample_rate: ", options.quality_sample_rate,
                     " is not in 0..1"));
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
  if (options.max_message_bytes != 0 &&
      (options.max_message_bytes < kMinMessageBytes ||
       options.max_message_bytes > INT_MAX)) {
    return absl::InvalidArgumentError(
        absl::StrCat("max_message_bytes: ", options.max_message_bytes,
                     " is not 0 or in ", kMinMessageBytes, "..", INT_MAX));
  }
  if (options.max_response_bytes < kMinMessageBytes ||
      options.max_response_bytes > kMaxResponseBytes) {
    return absl::InvalidArgumentError(
        absl::StrCat("max_response_bytes: ", options.max_response_bytes,
                     " is not in ", kMinMessageBytes, "..", kMaxResponseBytes));
  }
  if (!options.model_dir.empty() && !options.model_repository.empty()) {
    return absl::InvalidArgumentError(
        "model_dir: cannot be combined with model_repository; pick one");
  }
  if (options.model_dir.empty() != options.model_name.empty()) {
    return absl::InvalidArgumentError(
        "model_dir and model_name: set both (a model directory and the name "
        "it is served under) or neither");
  }
  if (options.max_connection_age < absl::ZeroDuration() ||
      options.max_connection_age_grace < absl::ZeroDuration()) {
    return absl::InvalidArgumentError(
        "max_connection_age, max_connection_age_grace: negative");
  }
  if (options.max_connection_age > absl::Milliseconds(INT_MAX) ||
      options.max_connection_age_grace > absl::Milliseconds(INT_MAX)) {
    return absl::InvalidArgumentError(
        "max_connection_age, max_connection_age_grace: above 24 days");
  }
  return absl::OkStatus();
}

// The bytes of one request row of `stack`: its widest layer input (Forward
// and Matmul may start at any layer).
int64_t RowBytes(const model::LinearStack& stack) {
  int64_t row_bytes = 0;
  for (size_t i = 0; i < stack.num_layers(); ++i) {
    row_bytes = std::max<int64_t>(
        row_bytes, static_cast<int64_t>(stack.layer_spec(i).in_features *
                                        DTypeSize(stack.dtype())));
  }
  return row_bytes;
}

// max_rows rows of the widest layer input of any model, plus slack, at
// least gRPC's default and at most INT_MAX (gRPC's limit is an int).
int DerivedMaxMessageBytes(const ModelRegistry& registry, int64_t max_rows) {
  int64_t row_bytes = 0;
  for (const ModelEntry& entry : registry.List()) {
    row_bytes = std::max(row_bytes, RowBytes(*entry.stack));
  }
  const int64_t bytes = max_rows * row_bytes + kMessageSlackBytes;
  return static_cast<int>(
      std::clamp<int64_t>(bytes, kMinDerivedMessageBytes, INT_MAX));
}

// Logs when requests of max_rows rows of `entry` exceed max_message_bytes:
// such a model serves only the rows that fit.
void WarnIfRowsDoNotFit(const ModelEntry& entry, int64_t max_rows,
                        int max_message_bytes) {
  const int64_t row_bytes = RowBytes(*entry.stack);
  if (row_bytes == 0 ||
      max_rows * row_bytes + kMessageSlackBytes <= max_message_bytes) {
    return;
  }
  const int64_t rows_that_fit =
      std::max<int64_t>(max_message_bytes - kMessageSlackBytes, 0) / row_bytes;
  spdlog::warn(
      "event=model_message_limit model={} version={} rows_that_fit={} "
      "max_rows_per_request={} max_message_bytes={} (larger requests get "
      "RESOURCE_EXHAUSTED; raise --max-message-bytes)",
      entry.name, entry.version, rows_that_fit, max_rows, max_message_bytes);
}

absl::StatusOr<std::string> ReadTextFile(const std::string& path,
                                         const char* flag) {
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    return absl::InvalidArgumentError(
        absl::StrCat(flag, ": cannot read '", path, "'"));
  }
  std::ostringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

// gRPC parses the PEM files only when the port opens, and then reports any
// problem as a failure to listen: they are parsed here first, so a bad file
// is named at start-up.
using UniqueBio = std::unique_ptr<BIO, decltype(&BIO_free)>;

UniqueBio MemoryBio(const std::string& pem) {
  return UniqueBio(BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size())),
                   &BIO_free);
}

absl::Status BadPem(const char* flag, const std::string& path,
                    const std::string& problem) {
  ERR_clear_error();  // OpenSSL's queue is per thread: leave it empty
  return absl::InvalidArgumentError(
      absl::StrCat(flag, ": '", path, "' ", problem));
}

// OK when `pem` holds at least one certificate and nothing unparseable.
absl::Status CheckCertificates(const std::string& pem, const std::string& path,
                               const char* flag) {
  UniqueBio bio = MemoryBio(pem);
  int count = 0;
  while (X509* cert = PEM_read_bio_X509(bio.get(), nullptr, nullptr, nullptr)) {
    X509_free(cert);
    ++count;
  }
  // The loop ends at the end of the data (PEM_R_NO_START_LINE) or at a
  // certificate that does not parse.
  const unsigned long error = ERR_peek_last_error();
  const bool at_end = ERR_GET_LIB(error) == ERR_LIB_PEM &&
                      ERR_GET_REASON(error) == PEM_R_NO_START_LINE;
  if (count == 0 || (error != 0 && !at_end)) {
    return BadPem(flag, path, "is not a PEM certificate (chain)");
  }
  ERR_clear_error();
  return absl::OkStatus();
}

// OK when `cert_pem` is a certificate chain and `key_pem` the private key of
// its first certificate.
absl::Status CheckKeyPair(const std::string& cert_pem,
                          const std::string& cert_path,
                          const std::string& key_pem,
                          const std::string& key_path) {
  QL_RETURN_IF_ERROR(CheckCertificates(cert_pem, cert_path, "tls_cert"));
  UniqueBio cert_bio = MemoryBio(cert_pem);
  std::unique_ptr<X509, decltype(&X509_free)> cert(
      PEM_read_bio_X509(cert_bio.get(), nullptr, nullptr, nullptr), &X509_free);
  UniqueBio key_bio = MemoryBio(key_pem);
  std::unique_ptr<EVP_PKEY, decltype(&EVP_PKEY_free)> key(
      PEM_read_bio_PrivateKey(key_bio.get(), nullptr, nullptr, nullptr),
      &EVP_PKEY_free);
  if (key == nullptr) {
    return BadPem("tls_key", key_path,
                  "is not a PEM private key (or it is encrypted)");
  }
  if (cert == nullptr || X509_check_private_key(cert.get(), key.get()) != 1) {
    return BadPem("tls_key", key_path,
                  absl::StrCat("is not the key of the certificate in '",
                               cert_path, "' (tls_cert)"));
  }
  return absl::OkStatus();
}

std::string ListenAddress(const std::string& host, int port) {
  const bool ipv6 = host.find(':') != std::string::npos && host.front() != '[';
  return ipv6 ? absl::StrCat("[", host, "]:", port)
              : absl::StrCat(host, ":", port);
}

absl::StatusOr<std::shared_ptr<grpc::ServerCredentials>> Credentials(
    const ServerOptions& options) {
  if (options.tls_cert_file.empty() && options.tls_key_file.empty()) {
    if (!options.tls_client_ca_file.empty()) {
      return absl::InvalidArgumentError(
          "tls_client_ca: needs tls_cert and tls_key");
    }
    return grpc::InsecureServerCredentials();
  }
  grpc::SslServerCredentialsOptions ssl;
  grpc::SslServerCredentialsOptions::PemKeyCertPair pair;
  QL_ASSIGN_OR_RETURN(pair.cert_chain,
                      ReadTextFile(options.tls_cert_file, "tls_cert"));
  QL_ASSIGN_OR_RETURN(pair.private_key,
                      ReadTextFile(options.tls_key_file, "tls_key"));
  QL_RETURN_IF_ERROR(CheckKeyPair(pair.cert_chain, options.tls_cert_file,
                                  pair.private_key, options.tls_key_file));
  ssl.pem_key_cert_pairs.push_back(pair);
  if (!options.tls_client_ca_file.empty()) {
    QL_ASSIGN_OR_RETURN(
        ssl.pem_root_certs,
        ReadTextFile(options.tls_client_ca_file, "tls_client_ca"));
    QL_RETURN_IF_ERROR(CheckCertificates(
        ssl.pem_root_certs, options.tls_client_ca_file, "tls_client_ca"));
    ssl.client_certificate_request =
        GRPC_SSL_REQUEST_AND_REQUIRE_CLIENT_CERTIFICATE_AND_VERIFY;
  }
  return grpc::SslServerCredentials(ssl);
}

}  // namespace

absl::StatusOr<std::unique_ptr<Server>> Server::Create(
    const ServerOptions& options) {
  QL_RETURN_IF_ERROR(ValidateOptions(options));
  // TLS files are checked before the models load, so a bad flag fails fast.
  QL_RETURN_IF_ERROR(Credentials(options).status());
  auto server = absl::WrapUnique(new Server(options));
  QL_RETURN_IF_ERROR(server->InitMetricsAndModels());
  QL_RETURN_IF_ERROR(server->Start());
  return server;
}

Server::Server(ServerOptions options)
    : options_(std::move(options)),
      registry_(std::make_unique<ModelRegistry>()) {
  const int threads = options_.threads > 0 ? options_.threads : CpuBudget();
  pool_ = std::make_unique<ThreadPool>(threads);
  batcher_ = std::make_unique<batching::Batcher>(batching::RealClock::Get());
  stats_ = std::make_unique<StatsRegistry>();
}

absl::Status Server::InitMetricsAndModels() {
  Metrics::Sources sources;
  sources.stats = stats_.get();
  batching::Batcher* batcher = batcher_.get();
  sources.queue_rows = [batcher] { return batcher->QueuedRowsByModel(); };
  sources.inflight = [this] {
    const batching::Executor* executor = executor_.get();
    return batcher_->total_queued_tasks() +
           (executor != nullptr ? executor->running_tasks() : 0);
  };
  std::string address;
  if (options_.metrics_port != 0) {
    address = ListenAddress(options_.host, std::max(options_.metrics_port, 0));
  }
  QL_ASSIGN_OR_RETURN(metrics_, Metrics::Create(address, std::move(sources)));
  manager_ = std::make_unique<ModelManager>(
      options_.model_repository, registry_.get(), batcher_.get(), pool_.get(),
      options_.max_queued_rows, metrics_.get(), stats_.get());
  manager_->set_load_hook_for_test(options_.model_load_hook_for_test);
  QualitySampler::Options sampler_options;
  sampler_options.server_busy = [batch_running = batch_running_] {
    return batch_running->load(std::memory_order_relaxed);
  };
  quality_sampler_ =
      std::make_shared<QualitySampler>(std::move(sampler_options));
  manager_->set_quality_sampling(quality_sampler_,
                                 options_.quality_sample_rate);
  return LoadInitialModels();
}

Server::~Server() {
  if (server_ == nullptr) return;
  Shutdown();
  server_->Wait();
}

absl::Status Server::LoadInitialModels() {
  if (!options_.model_dir.empty()) {
    spdlog::info("event=loading_models model_dir={} model_name={}",
                 options_.model_dir, options_.model_name);
    return manager_->LoadDirectory(options_.model_name, options_.model_dir);
  }
  spdlog::info("event=loading_models repository={}",
               options_.model_repository.empty() ? "(embedded default model)"
                                                 : options_.model_repository);
  if (options_.model_repository.empty()) {
    const auto start = std::chrono::steady_clock::now();
    QL_ASSIGN_OR_RETURN(std::unique_ptr<model::LinearStack> stack,
                        model::BuildDefaultModel());
    const size_t layers = stack->num_layers();
    const size_t bytes = stack->packed_bytes();
    manager_->Add(model::kDefaultModelName, "1", std::move(stack));
    spdlog::info(
        "event=model_loaded model={} version=1 layers={} packed_bytes={} "
        "load_ms={:.0f}",
        model::kDefaultModelName, layers, bytes,
        std::chrono::duration<double, std::milli>(
            std::chrono::steady_clock::now() - start)
            .count());
    return absl::OkStatus();
  }
  QL_ASSIGN_OR_RETURN(std::vector<model::ModelVersionDir> dirs,
                      model::ScanRepository(options_.model_repository));
  if (dirs.empty()) {
    spdlog::warn("model repository {} holds no models",
                 options_.model_repository);
  }
  for (const auto& start : options_.start_versions) {
    // Not a structured binding: C++17 lambdas cannot capture those (clang).
    const std::string& name = start.first;
    const bool present = std::any_of(
        dirs.begin(), dirs.end(),
        [&](const model::ModelVersionDir& d) { return d.name == name; });
    if (!present) {
      return absl::NotFoundError(absl::StrCat("model_versions: model '", name,
                                              "' is not in the repository"));
    }
  }
  for (const model::ModelVersionDir& dir : dirs) {
    auto named = options_.start_versions.find(dir.name);
    const std::string version = named != options_.start_versions.end()
                                    ? named->second
                                    : absl::StrCat(dir.version);
    QL_RETURN_IF_ERROR(manager_->Load(dir.name, version));
  }
  return absl::OkStatus();
}

absl::Status Server::Start() {
  RequestLimits limits;
  limits.max_rows_per_request = options_.max_rows_per_request;
  limits.max_response_bytes = options_.max_response_bytes;
  loads_ = std::make_unique<LoadQueue>(manager_.get());
  service_ = std::make_unique<QLinearService>(
      registry_.get(), batcher_.get(), manager_.get(), loads_.get(),
      stats_.get(), metrics_.get(), limits, options_.admin_token);
  service_->set_stream_paused_hook_for_test(
      options_.stream_paused_hook_for_test);
  kserve_service_ = std::make_unique<KServeService>(
      registry_.get(), batcher_.get(), manager_.get(), loads_.get(),
      stats_.get(), metrics_.get(), limits, options_.admin_token);
  completer_ = std::make_unique<batching::Completer>();
  // Responses are encoded off the executor when tasks are waiting for it
  // (the encoding would delay their batch); with nothing queued, on the
  // executor, which saves the hand-off's wake-up (docs/architecture.md) —
  // unless earlier completions are still pending on the completer: a stream's
  // replies must keep their order, so they queue behind those. The executor
  // is the only thread that posts, so pending() == 0 means all have run.
  executor_ = std::make_unique<batching::Executor>(
      batcher_.get(), [pool = pool_.get(), batcher = batcher_.get(),
                       completer = completer_.get(),
                       batch_running = batch_running_](batching::Batch batch) {
        batch_running->store(true, std::memory_order_relaxed);
        RunBatch(std::move(batch), *batching::RealClock::Get(), pool,
                 batcher->total_queued_tasks() > 0 || completer->pending() > 0
                     ? completer
                     : nullptr);
        batch_running->store(false, std::memory_order_relaxed);
      });
  reclaimer_ = std::make_unique<MemoryReclaimer>(
      [this] {
        return batcher_->total_queued_tasks() + executor_->running_tasks() +
               completer_->pending();
      },
      MemoryReclaimer::Options());

  grpc::EnableDefaultHealthCheckService(true);
  grpc::reflection::InitProtoReflectionServerBuilderPlugin();
  const std::string address = ListenAddress(options_.host, options_.port);
  max_message_bytes_ =
      options_.max_message_bytes != 0
          ? static_cast<int>(options_.max_message_bytes)
          : DerivedMaxMessageBytes(*registry_, options_.max_rows_per_request);
  QL_ASSIGN_OR_RETURN(std::shared_ptr<grpc::ServerCredentials> credentials,
                      Credentials(options_));

  grpc::ServerBuilder builder;
  int selected_port = 0;
  builder.AddListeningPort(address, credentials, &selected_port);
  builder.SetMaxReceiveMessageSize(max_message_bytes_);
  // gRPC sets SO_REUSEPORT by default, so a second server on the same port
  // would start and the kernel would split connections between the two.
  builder.AddChannelArgument(GRPC_ARG_ALLOW_REUSEPORT, 0);
  if (options_.max_connection_age > absl::ZeroDuration()) {
    builder.AddChannelArgument(GRPC_ARG_MAX_CONNECTION_AGE_MS,
                               static_cast<int>(absl::ToInt64Milliseconds(
                                   options_.max_connection_age)));
    builder.AddChannelArgument(GRPC_ARG_MAX_CONNECTION_AGE_GRACE_MS,
                               static_cast<int>(absl::ToInt64Milliseconds(
                                   options_.max_connection_age_grace)));
  }
  builder.RegisterService(service_.get());
  builder.RegisterService(kserve_service_.get());
  server_ = builder.BuildAndStart();
  if (server_ == nullptr || selected_port == 0) {
    server_.reset();
    return absl::UnavailableError(absl::StrCat(
        "cannot listen on ", address,
        ": the port is in use (by another server?) or the host is not an "
        "address of this machine"));
  }
  port_ = selected_port;
  grpc::HealthCheckServiceInterface* health = server_->GetHealthCheckService();
  health->SetServingStatus(kHealthServiceName, true);
  // Per-model health: the service name is the model name.
  const int64_t max_rows = options_.max_rows_per_request;
  for (const ModelEntry& entry : registry_->List()) {
    health->SetServingStatus(entry.name, true);
    WarnIfRowsDoNotFit(entry, max_rows, max_message_bytes_);
  }
  manager_->set_readiness_listener([health, registry = registry_.get(),
                                    max_rows,
                                    max_message_bytes = max_message_bytes_](
                                       const std::string& model, bool ready) {
    health->SetServingStatus(model, ready);
    if (!ready) return;
    absl::StatusOr<ModelEntry> entry = registry->Get(model, "");
    if (entry.ok()) WarnIfRowsDoNotFit(*entry, max_rows, max_message_bytes);
  });
  spdlog::info(
      "event=listening address={}:{} tls={} max_receive_bytes={} "
      "compute_threads={}",
      options_.host, port_, options_.tls_cert_file.empty() ? "off" : "on",
      max_message_bytes_, pool_->num_threads());
  if (metrics_->port() != 0) {
    spdlog::info("event=metrics_listening address={}:{}", options_.host,
                 metrics_->port());
  }
  // The line scripts and tests read to learn the port.
  spdlog::info("listening on {}:{}", options_.host, port_);
  return absl::OkStatus();
}

void Server::Wait() { server_->Wait(); }

void Server::Shutdown() {
  absl::call_once(shutdown_once_, [this] {
    spdlog::info("draining: new calls get UNAVAILABLE, in-flight calls finish");
    // New inference calls are refused before health turns NOT_SERVING, so a
    // client that saw NOT_SERVING is never served after it.
    batcher_->Shutdown();
    server_->GetHealthCheckService()->Shutdown();
    // Before the gRPC server's shutdown, which would wait for a load call
    // up to the drain timeout while cancelling the calls that arrive.
    loads_->Shutdown();
    // gRPC's shutdown cancels the calls it has received but not yet handed
    // to a handler, and a client does not retry CANCELLED. Clients that
    // watch health (the qlinear clients' service config) leave once they
    // see NOT_SERVING; until then their calls are refused UNAVAILABLE and
    // retried elsewhere. So wait until calls stop coming: none refused for
    // 100 ms, for at most 1 s (and the drain timeout).
    const absl::Duration most =
        std::min(absl::Seconds(1), options_.drain_timeout);
    if (!batcher_->AwaitNoRefusals(absl::Milliseconds(100), most)) {
      spdlog::warn(
          "draining: calls still arrive after {} of NOT_SERVING (clients "
          "that do not watch health); closing the port",
          absl::FormatDuration(most));
    }
    server_->Shutdown(std::chrono::system_clock::now() +
                      absl::ToChronoMilliseconds(options_.drain_timeout));
    reclaimer_.reset();
    executor_.reset();   // runs whatever is still queued, then joins
    completer_.reset();  // completes what the executor handed off, joins
  });
}

}  // namespace qlinear::server
