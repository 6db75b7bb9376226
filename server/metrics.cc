#include "server/metrics.h"

#include <prometheus/collectable.h>
#include <prometheus/metric_family.h>
#include <prometheus/text_serializer.h>
#include <sys/resource.h>
#include <unistd.h>

#include <cmath>
#include <cstdio>
#include <fstream>
#include <iterator>
#include <map>
#include <sstream>
#include <tuple>
#include <utility>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"

namespace qlinear::server {
namespace {

using prometheus::ClientMetric;
using prometheus::MetricFamily;
using prometheus::MetricType;

// Why a failed request was rejected, as the `reason` label.
const char* RejectionReason(absl::StatusCode code) {
  switch (code) {
    case absl::StatusCode::kInvalidArgument:
      return "invalid_argument";
    case absl::StatusCode::kNotFound:
      return "not_found";
    case absl::StatusCode::kResourceExhausted:
      return "queue_full";
    case absl::StatusCode::kDeadlineExceeded:
      return "deadline_exceeded";
    case absl::StatusCode::kCancelled:
      return "cancelled";
    case absl::StatusCode::kUnavailable:
      return "unavailable";
    case absl::StatusCode::kPermissionDenied:
    case absl::StatusCode::kUnauthenticated:
      return "unauthorized";
    default:
      return "internal";
  }
}

std::string CodeName(int code) {
  return absl::StatusCodeToString(static_cast<absl::StatusCode>(code));
}

ClientMetric Sample(std::vector<ClientMetric::Label> labels, double value,
                    MetricType type) {
  ClientMetric m;
  m.label = std::move(labels);
  if (type == MetricType::Counter) {
    m.counter.value = value;
  } else {
    m.gauge.value = value;
  }
  return m;
}

MetricFamily Family(std::string name, std::string help, MetricType type) {
  MetricFamily f;
  f.name = std::move(name);
  f.help = std::move(help);
  f.type = type;
  return f;
}

// CPU seconds, resident and virtual bytes, start time of this process.
struct ProcessSample {
  double cpu_seconds = 0, resident_bytes = 0, virtual_bytes = 0,
         start_time_seconds = 0;
};

double ProcessStartTime() {
  static const double start = [] {
    std::ifstream stat("/proc/self/stat");
    std::string content((std::istreambuf_iterator<char>(stat)),
                        std::istreambuf_iterator<char>());
    // Field 22 (starttime, in clock ticks since boot) follows the ")" of comm.
    const size_t close = content.rfind(')');
    if (close == std::string::npos) return 0.0;
    std::istringstream rest(content.substr(close + 2));
    std::string field;
    for (int i = 3; i <= 22 && rest >> field; ++i) {
    }
    double boot_time = 0;
    std::ifstream proc_stat("/proc/stat");
    for (std::string key; proc_stat >> key;) {
      if (key == "btime") {
        proc_stat >> boot_time;
        break;
      }
    }
    return boot_time +
           std::stod(field.empty() ? "0" : field) / sysconf(_SC_CLK_TCK);
  }();
  return start;
}

ProcessSample ReadProcess() {
  ProcessSample p;
  rusage usage{};
  if (getrusage(RUSAGE_SELF, &usage) == 0) {
    p.cpu_seconds = usage.ru_utime.tv_sec + usage.ru_utime.tv_usec * 1e-6 +
                    usage.ru_stime.tv_sec + usage.ru_stime.tv_usec * 1e-6;
  }
  std::ifstream statm("/proc/self/statm");
  double pages_virtual = 0, pages_resident = 0;
  if (statm >> pages_virtual >> pages_resident) {
    const double page = static_cast<double>(sysconf(_SC_PAGESIZE));
    p.virtual_bytes = pages_virtual * page;
    p.resident_bytes = pages_resident * page;
  }
  p.start_time_seconds = ProcessStartTime();
  return p;
}

}  // namespace

const HistogramBounds& DurationBounds() {
  static const HistogramBounds* const bounds = [] {
    std::vector<double> b;
    for (double decade = 1e-6; decade < 10; decade *= 10) {
      for (double step : {1.0, 2.0, 5.0}) b.push_back(decade * step);
    }
    b.push_back(10.0);
    return new HistogramBounds(std::move(b), /*unit=*/1e-9);
  }();
  return *bounds;
}

const HistogramBounds& BatchRowsBounds() {
  static const HistogramBounds* const bounds = [] {
    std::vector<double> b;
    for (double r = 1; r <= 65536; r *= 2) b.push_back(r);
    return new HistogramBounds(std::move(b), /*unit=*/1);
  }();
  return *bounds;
}

const HistogramBounds& SqnrDbBounds() {
  static const HistogramBounds* const bounds = new HistogramBounds(
      {5, 10, 15, 20, 25, 30, 35, 40, 45, 50, 60, 70, 80, 100},
      /*unit=*/1e-3);
  return *bounds;
}

const HistogramBounds& RelMaxErrorBounds() {
  static const HistogramBounds* const bounds = [] {
    std::vector<double> b;
    for (double decade = 1e-4; decade < 1; decade *= 10) {
      for (double step : {1.0, 2.0, 5.0}) b.push_back(decade * step);
    }
    for (double step : {1.0, 2.0, 5.0}) b.push_back(step);
    return new HistogramBounds(std::move(b), /*unit=*/1e-9);
  }();
  return *bounds;
}

const HistogramBounds& OutlierRatioBounds() {
  static const HistogramBounds* const bounds = new HistogramBounds(
      {1, 1.5, 2, 3, 4, 6, 8, 12, 16, 24, 32, 48, 64, 128, 256, 512, 1024},
      /*unit=*/1e-6);
  return *bounds;
}

namespace {

// `value` clamped to [0, hi] in units of `bounds` (NaN counts as hi).
uint64_t ClampedUnits(const HistogramBounds& bounds, double value, double hi) {
  if (!(value < hi)) value = hi;
  if (value < 0) value = 0;
  return static_cast<uint64_t>(std::llround(value / bounds.unit()));
}

}  // namespace

// ---------------------------------------------------------------------------

ModelMetrics::ModelMetrics(std::string model, std::vector<LayerLabels> labels)
    : model_(std::move(model)),
      labels_(std::move(labels)),
      layers_(new Layer[labels_.size()]),
      quality_(new QualityLayer[labels_.size()]) {
  for (size_t i = 0; i < labels_.size(); ++i)
    layers_[i].ops_per_row = labels_[i].ops_per_row;
}

void ModelMetrics::ObserveLayer(size_t layer, ActQuant mode, size_t rows,
                                uint64_t kernel_ns, uint64_t act_quant_ns) {
  if (layer >= labels_.size()) return;
  Layer& l = layers_[layer];
  const HistogramBounds& bounds = DurationBounds();
  l.kernel[static_cast<int>(mode)].Observe(bounds, kernel_ns);
  if (mode == ActQuant::kInt8AsymPerToken)
    l.act_quant.Observe(bounds, act_quant_ns);
  l.ops.fetch_add(l.ops_per_row * rows, std::memory_order_relaxed);
}

void ModelMetrics::ObserveBatch(size_t rows) {
  batch_rows_.Observe(BatchRowsBounds(), rows);
}

void ModelMetrics::ObserveQueueWait(uint64_t ns) {
  queue_wait_.Observe(DurationBounds(), ns);
}

void ModelMetrics::ObserveRequest(Rpc rpc, absl::StatusCode code, uint64_t ns) {
  const int r = static_cast<int>(rpc);
  const int c = static_cast<int>(code);
  if (r < 0 || r >= kNumRpcs || c < 0 || c >= kNumStatusCodes) return;
  requests_[r][c].Observe(DurationBounds(), ns);
}

void ModelMetrics::ObserveQualityRow(size_t layer, double sqnr_db,
                                     double rel_max_error,
                                     double outlier_ratio) {
  if (layer >= labels_.size()) return;
  QualityLayer& q = quality_[layer];
  q.sqnr_db.Observe(SqnrDbBounds(),
                    ClampedUnits(SqnrDbBounds(), sqnr_db, 200.0));
  q.rel_max_error.Observe(
      RelMaxErrorBounds(),
      ClampedUnits(RelMaxErrorBounds(), rel_max_error, 1000.0));
  q.outlier_ratio.Observe(
      OutlierRatioBounds(),
      ClampedUnits(OutlierRatioBounds(), outlier_ratio, 1e6));
}

void ModelMetrics::CountQualitySample() {
  quality_samples_.fetch_add(1, std::memory_order_relaxed);
}

void ModelMetrics::CountQualityDropped() {
  quality_dropped_.fetch_add(1, std::memory_order_relaxed);
}

// ---------------------------------------------------------------------------

namespace {

// The series of one histogram family, merged by label values: blocks of
// several loads of a model hold series with the same labels.
class HistogramSeries {
 public:
  // `label_names` sorted by name, as prometheus-cpp's families sort them.
  explicit HistogramSeries(std::vector<std::string> label_names)
      : names_(std::move(label_names)) {}

  // `values` in the order of the names.
  void Add(std::vector<std::string> values, const HistogramSnapshot& s) {
    series_[std::move(values)] += s;
  }

  MetricFamily ToFamily(std::string name, std::string help,
                        const HistogramBounds& bounds) const {
    MetricFamily f =
        Family(std::move(name), std::move(help), MetricType::Histogram);
    for (const auto& [values, snapshot] : series_) {
      std::vector<ClientMetric::Label> labels;
      for (size_t i = 0; i < names_.size(); ++i)
        labels.push_back({names_[i], values[i]});
      f.metric.push_back(HistogramMetric(bounds, snapshot, std::move(labels)));
    }
    return f;
  }

 private:
  const std::vector<std::string> names_;
  std::map<std::vector<std::string>, HistogramSnapshot> series_;
};

}  // namespace

// Registered with the HTTP endpoint after the Collector: counts each
// scrape once its exposition has been collected, and adds nothing to it.
class Metrics::ScrapeCounter final : public prometheus::Collectable {
 public:
  explicit ScrapeCounter(const Metrics* metrics) : metrics_(metrics) {}

  std::vector<MetricFamily> Collect() const override {
    absl::MutexLock lock(&metrics_->scrape_mu_);
    ++metrics_->http_scrapes_;
    return {};
  }

 private:
  const Metrics* const metrics_;
};

// The scrape-time part of the exposition.
class Metrics::Collector final : public prometheus::Collectable {
 public:
  explicit Collector(const Metrics* metrics) : metrics_(metrics) {}

  std::vector<MetricFamily> Collect() const override {
    std::vector<MetricFamily> out = metrics_->CollectBlocks();
    MetricFamily requests = Family("qlinear_requests_total",
                                   "Inference requests answered, by model, RPC "
                                   "and final gRPC status code.",
                                   MetricType::Counter);
    MetricFamily rejected =
        Family("qlinear_rejected_total",
               "Inference requests that did not succeed, by model and reason.",
               MetricType::Counter);
    std::map<std::pair<std::string, std::string>, double> rejected_by_reason;
    std::map<std::tuple<std::string, int, int>, double> by_code;
    if (metrics_->sources_.stats != nullptr) {
      for (const StatsRegistry::Entry& e : metrics_->sources_.stats->List()) {
        const ModelStatsSnapshot s = e.stats->Snapshot();
        for (int r = 0; r < kNumRpcs; ++r) {
          for (int c = 0; c < kNumStatusCodes; ++c) {
            if (s.requests[r][c] > 0)
              by_code[{e.name, r, c}] += s.requests[r][c];
          }
        }
      }
    }
    for (int r = 0; r < kNumRpcs; ++r) {
      for (int c = 0; c < kNumStatusCodes; ++c) {
        const uint64_t n =
            metrics_->unknown_model_[r][c].load(std::memory_order_relaxed);
        if (n > 0) by_code[{"", r, c}] += static_cast<double>(n);
      }
    }
    for (const auto& [key, n] : by_code) {
      const auto& [model, r, c] = key;
      requests.metric.push_back(
          Sample({{"code", CodeName(c)},
                  {"model", model},
                  {"rpc", std::string(RpcName(static_cast<Rpc>(r)))}},
                 n, MetricType::Counter));
      if (c != 0) {
        rejected_by_reason[{
            model, RejectionReason(static_cast<absl::StatusCode>(c))}] += n;
      }
    }
    for (const auto& [key, n] : rejected_by_reason) {
      rejected.metric.push_back(
          Sample({{"model", key.first}, {"reason", key.second}}, n,
                 MetricType::Counter));
    }
    out.push_back(std::move(requests));
    out.push_back(std::move(rejected));

    MetricFamily queue =
        Family("qlinear_queue_rows", "Rows waiting in each model's queue.",
               MetricType::Gauge);
    if (metrics_->sources_.queue_rows) {
      for (const auto& [model, rows] : metrics_->sources_.queue_rows()) {
        queue.metric.push_back(Sample(
            {{"model", model}}, static_cast<double>(rows), MetricType::Gauge));
      }
    }
    out.push_back(std::move(queue));

    MetricFamily inflight = Family(
        "qlinear_inflight_requests",
        "Inference requests accepted and not yet answered.", MetricType::Gauge);
    inflight.metric.push_back(
        Sample({},
               metrics_->sources_.inflight
                   ? static_cast<double>(metrics_->sources_.inflight())
                   : 0.0,
               MetricType::Gauge));
    out.push_back(std::move(inflight));

    MetricFamily weights =
        Family("qlinear_weight_bytes",
               "Packed weight bytes held for compute, by model version and "
               "weight format.",
               MetricType::Gauge);
    MetricFamily held = Family(
        "qlinear_model_held_bytes",
        "Every byte a model version holds: packed weights, bias, kept fp32 "
        "weights and its objects (not the thread scratch shared by all "
        "models).",
        MetricType::Gauge);
    MetricFamily ready =
        Family("qlinear_model_ready",
               "1 while the model version serves requests.", MetricType::Gauge);
    {
      absl::MutexLock lock(&metrics_->mu_);
      for (const Served& s : metrics_->served_) {
        ready.metric.push_back(
            Sample({{"model", s.name}, {"version", s.version}}, 1.0,
                   MetricType::Gauge));
        held.metric.push_back(
            Sample({{"model", s.name}, {"version", s.version}},
                   static_cast<double>(s.held_bytes), MetricType::Gauge));
        for (const auto& [format, bytes] : s.bytes_by_format) {
          weights.metric.push_back(Sample(
              {{"format", format}, {"model", s.name}, {"version", s.version}},
              static_cast<double>(bytes), MetricType::Gauge));
        }
      }
    }
    out.push_back(std::move(weights));
    out.push_back(std::move(held));
    out.push_back(std::move(ready));

    const ProcessSample p = ReadProcess();
    MetricFamily cpu =
        Family("process_cpu_seconds_total",
               "Total user and system CPU time spent in seconds.",
               MetricType::Counter);
    cpu.metric.push_back(Sample({}, p.cpu_seconds, MetricType::Counter));
    MetricFamily rss =
        Family("process_resident_memory_bytes",
               "Resident memory size in bytes.", MetricType::Gauge);
    rss.metric.push_back(Sample({}, p.resident_bytes, MetricType::Gauge));
    MetricFamily vms =
        Family("process_virtual_memory_bytes", "Virtual memory size in bytes.",
               MetricType::Gauge);
    vms.metric.push_back(Sample({}, p.virtual_bytes, MetricType::Gauge));
    MetricFamily start =
        Family("process_start_time_seconds",
               "Start time of the process since unix epoch in seconds.",
               MetricType::Gauge);
    start.metric.push_back(Sample({}, p.start_time_seconds, MetricType::Gauge));
    out.push_back(std::move(cpu));
    out.push_back(std::move(rss));
    out.push_back(std::move(vms));
    out.push_back(std::move(start));
    return out;
  }

 private:
  const Metrics* const metrics_;
};

// ---------------------------------------------------------------------------

Metrics::Metrics(Sources sources)
    : sources_(std::move(sources)),
      collector_(std::make_shared<Collector>(this)) {}

std::vector<MetricFamily> Metrics::CollectBlocks() const {
  std::vector<std::shared_ptr<const ModelMetrics>> blocks;
  {
    absl::MutexLock lock(&mu_);
    blocks.assign(blocks_.begin(), blocks_.end());
  }
  HistogramSeries kernel({"act_quant", "format", "kernel", "layer", "model"});
  HistogramSeries act_quant({"layer", "model"});
  HistogramSeries request({"code", "model", "rpc"});
  HistogramSeries queue_wait({"model"});
  HistogramSeries batch_rows({"model"});
  HistogramSeries sqnr({"layer", "model"});
  HistogramSeries rel_error({"layer", "model"});
  HistogramSeries outlier({"layer", "model"});
  std::map<std::pair<std::string, std::string>, uint64_t> ops;  // layer, model
  std::map<std::string, std::pair<uint64_t, uint64_t>>
      samples;  // taken, dropped
  for (const auto& block : blocks) {
    const std::string& model = block->model_;
    for (size_t i = 0; i < block->labels_.size(); ++i) {
      const ModelMetrics::LayerLabels& l = block->labels_[i];
      const ModelMetrics::Layer& counters = block->layers_[i];
      for (ActQuant mode : {ActQuant::kNone, ActQuant::kInt8AsymPerToken}) {
        const int m = static_cast<int>(mode);
        kernel.Add({std::string(ActQuantName(mode)), l.format, l.kernel[m],
                    l.layer, model},
                   counters.kernel[m].Snapshot());
      }
      act_quant.Add({l.layer, model}, counters.act_quant.Snapshot());
      ops[{l.layer, model}] += counters.ops.load(std::memory_order_relaxed);
      // fp32 layers ignore the activation mode: nothing to compare.
      if (l.format != WeightFormatName(WeightFormat::kFp32)) {
        const ModelMetrics::QualityLayer& q = block->quality_[i];
        sqnr.Add({l.layer, model}, q.sqnr_db.Snapshot());
        rel_error.Add({l.layer, model}, q.rel_max_error.Snapshot());
        outlier.Add({l.layer, model}, q.outlier_ratio.Snapshot());
      }
    }
    auto& [taken, dropped] = samples[model];
    taken += block->quality_samples_.load(std::memory_order_relaxed);
    dropped += block->quality_dropped_.load(std::memory_order_relaxed);
    for (int r = 0; r < kNumRpcs; ++r) {
      for (int c = 0; c < kNumStatusCodes; ++c) {
        // A series appears with its first request, as prometheus-cpp's
        // children did.
        const HistogramSnapshot s = block->requests_[r][c].Snapshot();
        if (s.count() == 0) continue;
        request.Add(
            {CodeName(c), model, std::string(RpcName(static_cast<Rpc>(r)))}, s);
      }
    }
    queue_wait.Add({model}, block->queue_wait_.Snapshot());
    batch_rows.Add({model}, block->batch_rows_.Snapshot());
  }

  std::vector<MetricFamily> out;
  MetricFamily ops_family = Family(
      "qlinear_kernel_ops_total",
      "Arithmetic operations of the kernels (2*M*N*K per call); rate() gives "
      "the achieved ops per second.",
      MetricType::Counter);
  for (const auto& [key, n] : ops) {
    ops_family.metric.push_back(
        Sample({{"layer", key.first}, {"model", key.second}},
               static_cast<double>(n), MetricType::Counter));
  }
  out.push_back(std::move(ops_family));
  out.push_back(kernel.ToFamily(
      "qlinear_kernel_duration_seconds",
      "Wall time of one layer's kernel call (one batch, one activation mode), "
      "including activation quantization.",
      DurationBounds()));
  out.push_back(act_quant.ToFamily(
      "qlinear_act_quant_duration_seconds",
      "Time spent quantizing activations to int8 in one kernel call.",
      DurationBounds()));
  out.push_back(request.ToFamily(
      "qlinear_request_duration_seconds",
      "Time from a request's arrival to its answer, by model, RPC and status "
      "code.",
      DurationBounds()));
  out.push_back(queue_wait.ToFamily(
      "qlinear_queue_wait_seconds",
      "Time a request waited in its model's queue.", DurationBounds()));
  out.push_back(batch_rows.ToFamily("qlinear_batch_rows",
                                    "Rows of each batch the executor ran.",
                                    BatchRowsBounds()));
  out.push_back(sqnr.ToFamily(
      "qlinear_act_quant_sqnr_db",
      "SQNR in dB of a sampled row's int8-mode layer output against its "
      "weight-only output, on the same layer input.",
      SqnrDbBounds()));
  out.push_back(rel_error.ToFamily(
      "qlinear_act_quant_rel_max_error",
      "Max |int8 - weight-only| / max |weight-only| of a sampled row's layer "
      "output.",
      RelMaxErrorBounds()));
  out.push_back(
      outlier.ToFamily("qlinear_act_quant_outlier_ratio",
                       "max|x| / RMS(x) of a sampled row's layer input x.",
                       OutlierRatioBounds()));
  MetricFamily taken_family =
      Family("qlinear_quality_samples_total",
             "Sampled int8-mode requests compared with the weight-only mode.",
             MetricType::Counter);
  MetricFamily dropped_family =
      Family("qlinear_quality_samples_dropped_total",
             "Sampled requests dropped because the quality sampler was busy.",
             MetricType::Counter);
  for (const auto& [model, counts] : samples) {
    taken_family.metric.push_back(Sample({{"model", model}},
                                         static_cast<double>(counts.first),
                                         MetricType::Counter));
    dropped_family.metric.push_back(Sample({{"model", model}},
                                           static_cast<double>(counts.second),
                                           MetricType::Counter));
  }
  out.push_back(std::move(taken_family));
  out.push_back(std::move(dropped_family));
  return out;
}

Metrics::~Metrics() {
  // Stops the HTTP threads before the state their scrapes read goes.
  exposer_.reset();
}

absl::StatusOr<std::unique_ptr<Metrics>> Metrics::Create(
    const std::string& address, Sources sources) {
  std::unique_ptr<Metrics> metrics(new Metrics(std::move(sources)));
  if (!address.empty()) {
    try {
      // civetweb options (civetweb 1.15 names); see kHttpThreads.
      metrics->exposer_ =
          std::make_unique<prometheus::Exposer>(std::vector<std::string>{
              "listening_ports", address,                                 //
              "num_threads", absl::StrCat(kHttpThreads),                  //
              "request_timeout_ms", absl::StrCat(kHttpRequestTimeoutMs),  //
              "enable_keep_alive", "no"});
    } catch (const std::exception& e) {
      return absl::UnavailableError(absl::StrCat(
          "metrics: cannot serve /metrics on ", address, ": ", e.what()));
    }
    metrics->exposer_->RegisterCollectable(metrics->collector_);
    metrics->scrape_counter_ = std::make_shared<ScrapeCounter>(metrics.get());
    metrics->exposer_->RegisterCollectable(metrics->scrape_counter_);
  }
  return metrics;
}

uint64_t Metrics::http_scrapes() const {
  absl::MutexLock lock(&scrape_mu_);
  return http_scrapes_;
}

bool Metrics::AwaitHttpScrapes(uint64_t count, absl::Duration timeout) const {
  auto reached = [this, count]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(scrape_mu_) {
    return http_scrapes_ >= count;
  };
  absl::MutexLock lock(&scrape_mu_);
  return scrape_mu_.AwaitWithTimeout(absl::Condition(&reached), timeout);
}

int Metrics::port() const {
  if (exposer_ == nullptr) return 0;
  const std::vector<int> ports = exposer_->GetListeningPorts();
  return ports.empty() ? 0 : ports.front();
}

std::shared_ptr<ModelMetrics> Metrics::AddModel(
    const std::string& name, const std::string& version,
    const model::LinearStack& stack) {
  std::vector<ModelMetrics::LayerLabels> labels;
  Served served{name, version, {}};
  std::map<std::string, uint64_t> bytes;
  for (size_t i = 0; i < stack.num_layers(); ++i) {
    const model::LayerSpec& spec = stack.layer_spec(i);
    const Linear& linear = stack.layer(i);
    ModelMetrics::LayerLabels l;
    l.layer = spec.name;
    l.format = std::string(WeightFormatName(spec.format));
    for (ActQuant mode : {ActQuant::kNone, ActQuant::kInt8AsymPerToken}) {
      l.kernel[static_cast<int>(mode)] = std::string(linear.kernel_name(mode));
    }
    l.ops_per_row = 2 * static_cast<uint64_t>(linear.n()) *
                    static_cast<uint64_t>(linear.k());
    labels.push_back(std::move(l));
    bytes[std::string(WeightFormatName(spec.format))] += linear.packed_bytes();
  }
  served.bytes_by_format.assign(bytes.begin(), bytes.end());
  served.held_bytes = stack.held_bytes();

  absl::MutexLock lock(&mu_);
  for (auto it = served_.begin(); it != served_.end(); ++it) {
    if (it->name == name && it->version == version) {  // a reload
      served_.erase(it);
      break;
    }
  }
  served_.push_back(std::move(served));
  for (const auto& block : blocks_) {
    if (block->model_ == name && block->labels_ == labels) {
      return block;
    }
  }
  std::shared_ptr<ModelMetrics> block(
      new ModelMetrics(name, std::move(labels)));
  blocks_.push_back(block);
  return block;
}

void Metrics::RemoveModel(const std::string& name, const std::string& version) {
  absl::MutexLock lock(&mu_);
  for (auto it = served_.begin(); it != served_.end(); ++it) {
    if (it->name == name && it->version == version) {
      served_.erase(it);
      return;
    }
  }
}

void Metrics::RecordUnknownModel(Rpc rpc, absl::StatusCode code) {
  const int r = static_cast<int>(rpc);
  const int c = static_cast<int>(code);
  if (r < 0 || r >= kNumRpcs || c < 0 || c >= kNumStatusCodes) return;
  unknown_model_[r][c].fetch_add(1, std::memory_order_relaxed);
}

std::string Metrics::Scrape() const {
  return prometheus::TextSerializer().Serialize(collector_->Collect());
}

}  // namespace qlinear::server
