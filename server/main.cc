// qlinear-server: flags, wiring, Run(). Everything else is in server.h.
#include <pthread.h>
#include <signal.h>
#include <spdlog/spdlog.h>

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "absl/flags/flag.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "common/flags.h"
#include "common/thread_name.h"
#include "server/admin_auth.h"
#include "server/memory_reclaimer.h"
#include "server/server.h"

ABSL_FLAG(std::string, host, "0.0.0.0",
          "Address to listen on (0.0.0.0: all IPv4 interfaces, 127.0.0.1: "
          "loopback only).");
ABSL_FLAG(int, port, 8001, "gRPC port. 0 picks a free port and logs it.");
ABSL_FLAG(int, metrics_port, 8002,
          "Port of the Prometheus /metrics endpoint (same host). 0 disables "
          "it.");
ABSL_FLAG(std::string, model_repository, "",
          "Model repository directory, <dir>/<name>/<version>/; the latest "
          "version of each "
          "model is served. Empty: serve the embedded model 'default'.");
ABSL_FLAG(std::string, model_dir, "",
          "One model directory (model.json + model.safetensors, no version "
          "subdirectories) to serve as --model-name, version 1: KServe's "
          "layout (--model-dir=/mnt/models). Excludes --model-repository.");
ABSL_FLAG(std::string, model_name, "",
          "The name --model-dir is served under (letters, digits, _ - .).");
ABSL_FLAG(
    int64_t, max_rows_per_request, 4096,
    "Most rows (M) one request may carry; also bounds the max message size.");
ABSL_FLAG(int64_t, max_message_bytes, 0,
          "Largest request message accepted, in bytes (65536..2147483647); "
          "larger ones get RESOURCE_EXHAUSTED. 0: derived from the models "
          "loaded at start (--max-rows-per-request rows of the widest layer "
          "input, plus 64 KiB, at least 4 MiB).");
ABSL_FLAG(int64_t, max_response_bytes, int64_t{256} << 20,
          "Most bytes of output one response may carry (rows x output width "
          "x dtype size), 65536..1073741824; a request asking for more gets "
          "INVALID_ARGUMENT with the rows that fit, before any compute.");
ABSL_FLAG(std::vector<std::string>, model_versions, {},
          "Versions to load at start instead of the latest, as "
          "name=version,name=version (e.g. --model-versions=a=3,b=1).");
ABSL_FLAG(int, threads, 0,
          "Compute threads. 0: the process's CPU budget (cgroup quota and "
          "affinity).");
ABSL_FLAG(int64_t, max_queued_rows, 0,
          "Most rows queued per model before RESOURCE_EXHAUSTED. 0: the "
          "model manifest's batching.max_queue_rows.");
ABSL_FLAG(double, quality_sample_rate, 0.0,
          "Share of int8-mode requests (0..1) also computed in the weight-only "
          "mode off the request's path, for the per-layer quality metrics "
          "(qlinear_act_quant_sqnr_db, ...). A manifest's quality_sample_rate "
          "overrides it for its model. 0: off.");
ABSL_FLAG(absl::Duration, drain_timeout, absl::Seconds(30),
          "On SIGTERM, how long queued and in-flight calls may take to finish "
          "before they are cancelled (e.g. 30s).");
ABSL_FLAG(absl::Duration, max_connection_age, absl::ZeroDuration(),
          "Send GOAWAY on a connection after it has been open this long "
          "(e.g. 5m), so clients reconnect and spread over new replicas; "
          "its calls get --max-connection-age-grace to finish. 0: never.");
ABSL_FLAG(absl::Duration, max_connection_age_grace, absl::Seconds(30),
          "How long calls on a connection that got GOAWAY from "
          "--max-connection-age may take before it is closed.");
ABSL_FLAG(std::string, admin_token_file, "",
          "File whose first line is the admin token (surrounding whitespace "
          "and a CRLF's \\r stripped). With it, the repository RPCs need "
          "'authorization: Bearer <token>': ListModels, LoadModel, "
          "UnloadModel, and KServe's RepositoryIndex, RepositoryModelLoad and "
          "RepositoryModelUnload. Inference, metadata and health need none. "
          "Empty: no token needed.");
ABSL_FLAG(std::string, tls_cert, "",
          "PEM server certificate chain; with --tls-key enables TLS.");
ABSL_FLAG(std::string, tls_key, "", "PEM private key of --tls-cert.");
ABSL_FLAG(std::string, tls_client_ca, "",
          "PEM CA that must sign client certificates (mTLS). Needs TLS.");
ABSL_FLAG(std::string, log_level, "info",
          "Log level: trace, debug, info, warn, error, critical or off.");

namespace {

int Run() {
  const std::string level_name = absl::GetFlag(FLAGS_log_level);
  const spdlog::level::level_enum level = spdlog::level::from_str(level_name);
  if (level == spdlog::level::off && level_name != "off") {
    std::fprintf(stderr, "--log-level: unknown level '%s'\n",
                 level_name.c_str());
    return qlinear::kExitUsage;
  }
  spdlog::set_level(level);

  // SIGINT/SIGTERM are blocked in every thread and taken by one watcher
  // thread, which may then call Shutdown() (not async-signal-safe).
  sigset_t signals;
  sigemptyset(&signals);
  sigaddset(&signals, SIGINT);
  sigaddset(&signals, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &signals, nullptr);
  // Before any other thread: backlogs must not leave arenas behind
  // (docs/deploy.md, "Sizing CPU and memory").
  qlinear::server::ConfigureMallocForServing();
  // Debian's Abseil is built without NDEBUG, so every absl::Mutex lock also
  // updates a global lock-order graph (about 1 % of a loaded server's CPU,
  // docs/benchmarks.md). The tests keep the check; the server does not.
  absl::SetMutexDeadlockDetectionMode(absl::OnDeadlockCycle::kIgnore);

  qlinear::server::ServerOptions options;
  options.host = absl::GetFlag(FLAGS_host);
  options.port = absl::GetFlag(FLAGS_port);
  options.model_repository = absl::GetFlag(FLAGS_model_repository);
  options.model_dir = absl::GetFlag(FLAGS_model_dir);
  options.model_name = absl::GetFlag(FLAGS_model_name);
  options.max_rows_per_request = absl::GetFlag(FLAGS_max_rows_per_request);
  options.max_message_bytes = absl::GetFlag(FLAGS_max_message_bytes);
  options.max_response_bytes = absl::GetFlag(FLAGS_max_response_bytes);
  for (const std::string& pair : absl::GetFlag(FLAGS_model_versions)) {
    const size_t eq = pair.find('=');
    if (eq == std::string::npos || eq == 0 || eq + 1 == pair.size()) {
      spdlog::critical("--model-versions: '{}' is not name=version", pair);
      return qlinear::kExitUsage;
    }
    options.start_versions[pair.substr(0, eq)] = pair.substr(eq + 1);
  }
  options.threads = absl::GetFlag(FLAGS_threads);
  options.metrics_port = absl::GetFlag(FLAGS_metrics_port);
  if (options.metrics_port < 0) {
    spdlog::critical("--metrics-port: {} is negative", options.metrics_port);
    return qlinear::kExitUsage;
  }
  options.max_queued_rows = absl::GetFlag(FLAGS_max_queued_rows);
  options.quality_sample_rate = absl::GetFlag(FLAGS_quality_sample_rate);
  options.drain_timeout = absl::GetFlag(FLAGS_drain_timeout);
  options.max_connection_age = absl::GetFlag(FLAGS_max_connection_age);
  options.max_connection_age_grace =
      absl::GetFlag(FLAGS_max_connection_age_grace);
  options.tls_cert_file = absl::GetFlag(FLAGS_tls_cert);
  options.tls_key_file = absl::GetFlag(FLAGS_tls_key);
  options.tls_client_ca_file = absl::GetFlag(FLAGS_tls_client_ca);
  const std::string token_file = absl::GetFlag(FLAGS_admin_token_file);
  if (!token_file.empty()) {
    absl::StatusOr<std::string> token =
        qlinear::server::ReadAdminTokenFile(token_file);
    if (!token.ok()) {
      spdlog::critical("--admin-token-file: {}",
                       std::string(token.status().message()));
      return qlinear::kExitUsage;
    }
    options.admin_token = *std::move(token);
  }
  // The watcher runs from before the models load: a signal during start-up
  // (nothing served yet, nothing to drain) exits at once instead of after
  // the load; once the server runs, it drains.
  absl::Mutex mu;
  qlinear::server::Server* running = nullptr;
  bool stopping = false;
  std::thread watcher([&] {
    qlinear::SetCurrentThreadName("ql-signals");
    int signal_number = 0;
    sigwait(&signals, &signal_number);
    const char* name = signal_number == SIGINT ? "SIGINT" : "SIGTERM";
    absl::MutexLock lock(&mu);
    if (stopping) return;  // start-up failed; main is returning
    if (running == nullptr) {
      spdlog::info("received {} during start-up: exiting", name);
      spdlog::shutdown();
      std::_Exit(0);
    }
    spdlog::info("received {}", name);
    running->Shutdown();
  });
  auto server = qlinear::server::Server::Create(options);
  if (!server.ok()) {
    spdlog::critical("start-up failed: {}", server.status().ToString());
    {
      absl::MutexLock lock(&mu);
      stopping = true;
    }
    pthread_kill(watcher.native_handle(), SIGTERM);
    watcher.join();
    return 1;
  }
  {
    absl::MutexLock lock(&mu);
    running = server->get();
  }
  (*server)->Wait();
  watcher.join();
  spdlog::info("stopped");
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  qlinear::ParseFlags(
      argc, argv,
      "Serves stacks of quantized linear layers over gRPC.\n"
      "Usage: qlinear-server [--port 8001] [--model-repository DIR] ...",
      "server/main.cc");
  return Run();
}
