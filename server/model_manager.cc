#include "server/model_manager.h"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <cctype>
#include <chrono>
#include <filesystem>
#include <system_error>
#include <utility>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_replace.h"
#include "absl/time/time.h"
#include "common/check.h"
#include "common/status_macros.h"
#include "kernels/cpu_features.h"
#include "kernels/gemm/gemm.h"
#include "kernels/layer_kernels.h"
#include "model/loader.h"
#include "model/repository.h"
#include "server/client_text.h"

namespace qlinear::server {
namespace {

namespace fs = std::filesystem;

// A model or version name must be one plain path component.
bool IsPlainName(const std::string& s) {
  if (s.empty() || s == "." || s == ".." || s.size() > 255) return false;
  return std::all_of(s.begin(), s.end(), [](char c) {
    return std::isalnum(static_cast<unsigned char>(c)) || c == '_' ||
           c == '-' || c == '.';
  });
}

// The model's batching section, with the server's queue bound when set,
// and the cost curve Warm() measured (empty when it did not).
batching::QueueOptions QueueOptionsFor(
    const model::LinearStack& stack, int64_t max_queued_rows,
    std::vector<batching::CostPoint> cost_curve) {
  const model::BatchingConfig& b = stack.manifest().batching;
  batching::QueueOptions q;
  q.max_batch_rows = b.max_batch_rows;
  q.max_queue_delay = absl::Microseconds(b.max_queue_delay_us);
  q.adaptive_delay = b.adaptive_delay;
  q.cost_curve = std::move(cost_curve);
  q.max_queue_rows = max_queued_rows > 0 ? max_queued_rows : b.max_queue_rows;
  return q;
}

// Runs the model once per kernel path in both modes (through the one
// execution loop), so first requests meet warm code, touched weights and
// grown scratch buffers. The row counts reach every path of
// kernels/linear.cc: the small-M calls (1 to 3 rows), a row-tile remainder
// (kW4MaxRows + 1), the float and int8 tiled paths (from the thresholds of
// the active ISA's kernels, when it has them), up to the model's
// max_batch_rows, which is run too (at most kMaxWarmRows, so that warming a
// wide model does not raise its load peak).
//
// With adaptive_delay on, it then measures the batch cost curve the batcher
// decides with: one more (warm) run of the whole stack in the default mode
// at each of those row counts and the powers of two between, timed; the
// points are the returned curve (empty with adaptive_delay off).
constexpr size_t kMaxWarmRows = 256;

std::vector<batching::CostPoint> Warm(const model::LinearStack& stack,
                                      ThreadPool* pool) {
  const model::BatchingConfig& batching = stack.manifest().batching;
  const size_t max_rows = std::min(
      kMaxWarmRows,
      static_cast<size_t>(std::max<int64_t>(1, batching.max_batch_rows)));
  const W4Kernels& w4 = W4KernelsFor(ActiveIsa());
  std::vector<size_t> row_counts = {1, 2, 3, kW4MaxRows + 1, max_rows};
  if (w4.f32_tile_gemm != nullptr) row_counts.push_back(w4.f32_tiled_min_rows);
  if (w4.dq8_tile_gemm != nullptr) row_counts.push_back(w4.dq8_tiled_min_rows);
  model::RunOptions options;
  options.begin = 0;
  options.end = stack.num_layers();
  options.pool = pool;
  std::vector<float> activations, scratch;
  for (size_t rows : row_counts) {
    if (rows > max_rows) continue;
    const model::RowGroup groups[] = {{rows, ActQuant::kNone},
                                      {rows, ActQuant::kInt8AsymPerToken}};
    activations.assign(2 * rows * stack.layer(0).k(), 0.5f);
    // Cannot fail: the range is the whole stack and the sizes match.
    QL_CHECK(stack.Run(options, groups, &activations, &scratch, nullptr).ok());
  }
  std::vector<batching::CostPoint> curve;
  if (!batching.adaptive_delay) return curve;
  for (size_t rows = 4; rows < max_rows; rows *= 2) row_counts.push_back(rows);
  std::sort(row_counts.begin(), row_counts.end());
  row_counts.erase(std::unique(row_counts.begin(), row_counts.end()),
                   row_counts.end());
  for (size_t rows : row_counts) {
    if (rows > max_rows) continue;
    const model::RowGroup group[] = {
        {rows, stack.manifest().default_act_quant}};
    activations.assign(rows * stack.layer(0).k(), 0.5f);
    const auto start = std::chrono::steady_clock::now();
    QL_CHECK(stack.Run(options, group, &activations, &scratch, nullptr).ok());
    curve.push_back(
        {static_cast<int64_t>(rows),
         std::chrono::duration<double>(std::chrono::steady_clock::now() - start)
             .count()});
  }
  return curve;
}

// The curve as "rows:microseconds ..." for the load log line.
std::string CostCurveText(const std::vector<batching::CostPoint>& curve) {
  std::string text;
  for (const batching::CostPoint& p : curve) {
    absl::StrAppend(&text, text.empty() ? "" : ",", p.rows, ":",
                    static_cast<int64_t>(p.seconds * 1e6));
  }
  return text;
}

// The latest numeric version directory of `model_dir`, or "" if none.
std::string LatestVersion(const fs::path& model_dir) {
  std::error_code ec;
  int64_t best = -1;
  for (const fs::directory_entry& e : fs::directory_iterator(model_dir, ec)) {
    int64_t v = 0;
    if (e.is_directory(ec) &&
        absl::SimpleAtoi(e.path().filename().string(), &v) && v > best) {
      best = v;
    }
  }
  return best < 0 ? "" : absl::StrCat(best);
}

}  // namespace

std::string_view ReadinessName(ModelReadiness r) {
  switch (r) {
    case ModelReadiness::kReady:
      return "READY";
    case ModelReadiness::kLoading:
      return "LOADING";
    case ModelReadiness::kUnavailable:
      return "UNAVAILABLE";
  }
  return "UNAVAILABLE";
}

ModelManager::ModelManager(std::string repository, ModelRegistry* registry,
                           batching::Batcher* batcher, ThreadPool* pool,
                           int64_t max_queued_rows, Metrics* metrics,
                           StatsRegistry* stats)
    : repository_(std::move(repository)),
      registry_(registry),
      batcher_(batcher),
      pool_(pool),
      max_queued_rows_(max_queued_rows),
      metrics_(metrics),
      stats_(stats) {}

void ModelManager::Swap(const std::string& name, const std::string& version,
                        std::shared_ptr<const model::LinearStack> stack,
                        std::vector<batching::CostPoint> cost_curve) {
  batcher_->SetQueue(
      name, QueueOptionsFor(*stack, max_queued_rows_, std::move(cost_curve)));
  ModelEntry entry;
  entry.name = name;
  entry.version = version;
  if (stats_ != nullptr) {
    entry.stats = stats_->GetOrCreate(
        name, version,
        static_cast<size_t>(stack->manifest().batching.max_batch_rows));
  }
  if (metrics_ != nullptr)
    entry.metrics = metrics_->AddModel(name, version, *stack);
  const double rate = quality_sampler_ == nullptr
                          ? 0.0
                          : stack->manifest().quality_sample_rate.value_or(
                                default_quality_rate_);
  entry.quality =
      std::make_shared<QualityPolicy>(rate, quality_sampler_, pool_);
  entry.stack = std::move(stack);
  absl::StatusOr<ModelEntry> old = registry_->Get(name, "");
  registry_->Add(std::move(entry));  // atomic
  if (metrics_ != nullptr && old.ok() && old->version != version) {
    metrics_->RemoveModel(name, old->version);
  }
}

void ModelManager::Add(const std::string& name, const std::string& version,
                       std::shared_ptr<const model::LinearStack> stack) {
  absl::MutexLock load_lock(&load_mu_);
  Swap(name, version, std::move(stack), {});
  SetReason(name, "");
  if (readiness_listener_) readiness_listener_(name, true);
}

void ModelManager::SetReason(const std::string& name, std::string reason) {
  absl::MutexLock lock(&mu_);
  if (reason.empty()) {
    unavailable_reason_.erase(name);
  } else {
    unavailable_reason_[name] = std::move(reason);
  }
}

absl::Status ModelManager::CheckLoadable(const std::string& name,
                                         const std::string& version) const {
  if (!IsPlainName(name)) {
    return absl::InvalidArgumentError(
        absl::StrCat("model: '", ClientText(name), "' is not a valid name"));
  }
  if (!version.empty() && !IsPlainName(version)) {
    return absl::InvalidArgumentError(absl::StrCat(
        "version: '", ClientText(version), "' is not a valid version"));
  }
  if (repository_.empty()) {
    return absl::FailedPreconditionError(
        "the server has no model repository (--model-repository)");
  }
  const fs::path model_dir = fs::path(repository_) / name;
  std::error_code ec;
  if (!fs::is_directory(model_dir, ec)) {
    return absl::NotFoundError(
        absl::StrCat("model '", name, "' is not in the repository"));
  }
  const std::string found =
      version.empty() ? LatestVersion(model_dir) : version;
  if (found.empty() || !fs::is_directory(model_dir / found, ec)) {
    return absl::NotFoundError(
        absl::StrCat("model '", name, "' has no version '", ClientText(version),
                     "' in the repository"));
  }
  return absl::OkStatus();
}

absl::Status ModelManager::Load(const std::string& name,
                                const std::string& requested_version) {
  QL_RETURN_IF_ERROR(CheckLoadable(name, requested_version));
  absl::MutexLock load_lock(&load_mu_);
  const fs::path model_dir = fs::path(repository_) / name;
  const std::string version =
      requested_version.empty() ? LatestVersion(model_dir) : requested_version;
  // The directory may have gone between the check and the lock.
  QL_RETURN_IF_ERROR(CheckLoadable(name, version));
  return LoadFrom(name, version, model_dir / version);
}

absl::Status ModelManager::LoadDirectory(const std::string& name,
                                         const std::string& dir) {
  if (!IsPlainName(name)) {
    return absl::InvalidArgumentError(
        absl::StrCat("model: '", ClientText(name), "' is not a valid name"));
  }
  std::error_code ec;
  if (!fs::is_directory(dir, ec)) {
    return absl::NotFoundError(
        absl::StrCat("model directory '", dir, "' is not a directory"));
  }
  absl::MutexLock load_lock(&load_mu_);
  return LoadFrom(name, "1", dir);
}

absl::Status ModelManager::LoadFrom(const std::string& name,
                                    const std::string& version,
                                    const fs::path& dir) {
  const auto abandoned = [this] {
    return abandoned_.load(std::memory_order_relaxed);
  };
  const auto abandoned_error = [&] {
    return absl::UnavailableError(
        absl::StrCat("loading model '", name, "' version ", version,
                     ": abandoned, the server is shutting down"));
  };
  if (abandoned()) return abandoned_error();

  registry_->SetLoading(name, true);
  if (load_hook_for_test_) load_hook_for_test_(name, version);
  const auto start = std::chrono::steady_clock::now();
  absl::StatusOr<std::unique_ptr<model::LinearStack>> stack =
      model::LoadModelDir(dir.string(), abandoned);
  absl::Status status;
  if (abandoned()) {
    status = abandoned_error();
    spdlog::warn("event=model_load_abandoned model={} version={}", name,
                 version);
  } else if (stack.ok()) {
    std::vector<batching::CostPoint> curve = Warm(**stack, pool_);
    if (!curve.empty()) {
      spdlog::info("event=model_cost_curve model={} version={} rows_us={}",
                   name, version, CostCurveText(curve));
    }
    std::shared_ptr<const model::LinearStack> shared(std::move(*stack));
    Swap(name, version, shared, std::move(curve));
    SetReason(name, "");
    const double ms = std::chrono::duration<double, std::milli>(
                          std::chrono::steady_clock::now() - start)
                          .count();
    spdlog::info(
        "event=model_loaded model={} version={} layers={} packed_bytes={} "
        "load_ms={:.0f}",
        name, version, shared->num_layers(), shared->packed_bytes(), ms);
  } else {
    // Clients (the load RPCs, the index's reason) see the files relative to
    // the version directory; the log line keeps the server's path.
    status = absl::Status(
        stack.status().code(),
        absl::StrCat("loading model '", name, "' version ", version, ": ",
                     absl::StrReplaceAll(stack.status().message(),
                                         {{dir.string() + "/", ""}})));
    SetReason(name, std::string(status.message()));
    spdlog::warn(
        "event=model_load_failed model={} version={} dir={} reason=\"{}\"",
        name, version, ClientText(dir.string(), kMaxStatusMessageBytes),
        ClientText(MessageOf(stack.status()), kMaxStatusMessageBytes));
  }
  registry_->SetLoading(name, false);
  if (status.ok() && readiness_listener_) readiness_listener_(name, true);
  return status;
}

absl::Status ModelManager::Unload(const std::string& name) {
  absl::MutexLock load_lock(&load_mu_);
  absl::StatusOr<ModelEntry> old = registry_->Get(name, "");
  if (metrics_ != nullptr && old.ok())
    metrics_->RemoveModel(name, old->version);
  if (!registry_->Remove(name)) {
    return absl::NotFoundError(
        absl::StrCat("model '", ClientText(name), "' is not loaded"));
  }
  SetReason(name, "unloaded");
  if (readiness_listener_) readiness_listener_(name, false);
  spdlog::info("event=model_unloaded model={}", name);
  return absl::OkStatus();
}

std::vector<ModelState> ModelManager::Index() const {
  std::map<std::string, ModelState> states;
  if (!repository_.empty()) {
    absl::StatusOr<std::vector<model::ModelVersionDir>> dirs =
        model::ScanRepository(repository_);
    if (dirs.ok()) {
      for (const model::ModelVersionDir& d : *dirs) {
        states[d.name] = {d.name, absl::StrCat(d.version),
                          ModelReadiness::kUnavailable, "not loaded"};
      }
    }
  }
  {
    absl::MutexLock lock(&mu_);
    for (const auto& [name, reason] : unavailable_reason_) {
      ModelState& s = states[name];
      s.name = name;
      s.state = ModelReadiness::kUnavailable;
      s.reason = reason;
    }
  }
  for (const std::string& name : registry_->Loading()) {
    ModelState& s = states[name];
    s.name = name;
    s.state = ModelReadiness::kLoading;
    s.reason = "";
  }
  for (const ModelEntry& e : registry_->List()) {
    states[e.name] = {e.name, e.version, ModelReadiness::kReady, ""};
  }
  std::vector<ModelState> out;
  for (auto& [name, s] : states) out.push_back(std::move(s));
  return out;
}

}  // namespace qlinear::server
