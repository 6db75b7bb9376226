#include "server/metrics.h"

#include <prometheus/collectable.h>
#include <prometheus/metric_family.h>
#include <prometheus/text_serializer.h>
#include <sys/resource.h>
#include <unistd.h>

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

const prometheus::Histogram::BucketBoundaries& DurationBuckets() {
  static const prometheus::Histogram::BucketBoundaries buckets = [] {
    prometheus::Histogram::BucketBoundaries b;
    for (double decade = 1e-6; decade < 10; decade *= 10) {
      for (double step : {1.0, 2.0, 5.0}) b.push_back(decade * step);
    }
    b.push_back(10.0);
    return b;
  }();
  return buckets;
}

// ---------------------------------------------------------------------------

void ModelMetrics::ObserveLayer(size_t layer, ActQuant mode, size_t rows,
                                double kernel_seconds,
                                double act_quant_seconds) {
  if (layer >= layers_.size()) return;
  LayerChildren& c = layers_[layer];
  c.kernel[static_cast<int>(mode)]->Observe(kernel_seconds);
  if (mode == ActQuant::kInt8AsymPerToken)
    c.act_quant->Observe(act_quant_seconds);
  c.ops->Increment(c.ops_per_row * static_cast<double>(rows));
}

void ModelMetrics::ObserveBatch(size_t rows) {
  batch_rows_->Observe(static_cast<double>(rows));
}

void ModelMetrics::ObserveQueueWait(double seconds) {
  queue_wait_->Observe(seconds);
}

void ModelMetrics::ObserveRequest(Rpc rpc, absl::StatusCode code,
                                  double seconds) {
  const int r = static_cast<int>(rpc);
  const int c = static_cast<int>(code);
  if (r < 0 || r >= kNumRpcs || c < 0 || c >= kNumStatusCodes) return;
  prometheus::Histogram* h =
      request_children_[r][c].load(std::memory_order_acquire);
  if (h == nullptr) {
    absl::MutexLock lock(&request_mu_);
    h = request_children_[r][c].load(std::memory_order_relaxed);
    if (h == nullptr) {
      h = &request_family_->Add({{"model", model_},
                                 {"rpc", std::string(RpcName(rpc))},
                                 {"code", CodeName(c)}},
                                DurationBuckets());
      request_children_[r][c].store(h, std::memory_order_release);
    }
  }
  h->Observe(seconds);
}

// ---------------------------------------------------------------------------

// The scrape-time part of the exposition.
class Metrics::Collector final : public prometheus::Collectable {
 public:
  explicit Collector(const Metrics* metrics) : metrics_(metrics) {}

  std::vector<MetricFamily> Collect() const override {
    std::vector<MetricFamily> out;
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
    MetricFamily ready =
        Family("qlinear_model_ready",
               "1 while the model version serves requests.", MetricType::Gauge);
    {
      absl::MutexLock lock(&metrics_->mu_);
      for (const Served& s : metrics_->served_) {
        ready.metric.push_back(
            Sample({{"model", s.name}, {"version", s.version}}, 1.0,
                   MetricType::Gauge));
        for (const auto& [format, bytes] : s.bytes_by_format) {
          weights.metric.push_back(Sample(
              {{"format", format}, {"model", s.name}, {"version", s.version}},
              static_cast<double>(bytes), MetricType::Gauge));
        }
      }
    }
    out.push_back(std::move(weights));
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
      registry_(std::make_shared<prometheus::Registry>()) {
  kernel_family_ = &prometheus::BuildHistogram()
                        .Name("qlinear_kernel_duration_seconds")
                        .Help(
                            "Wall time of one layer's kernel call (one batch, "
                            "one activation "
                            "mode), including activation quantization.")
                        .Register(*registry_);
  act_quant_family_ =
      &prometheus::BuildHistogram()
           .Name("qlinear_act_quant_duration_seconds")
           .Help(
               "Time spent quantizing activations to int8 in one kernel call.")
           .Register(*registry_);
  request_family_ =
      &prometheus::BuildHistogram()
           .Name("qlinear_request_duration_seconds")
           .Help(
               "Time from a request's arrival to its answer, by model, RPC and "
               "status code.")
           .Register(*registry_);
  queue_wait_family_ = &prometheus::BuildHistogram()
                            .Name("qlinear_queue_wait_seconds")
                            .Help("Time a request waited in its model's queue.")
                            .Register(*registry_);
  batch_rows_family_ = &prometheus::BuildHistogram()
                            .Name("qlinear_batch_rows")
                            .Help("Rows of each batch the executor ran.")
                            .Register(*registry_);
  ops_family_ = &prometheus::BuildCounter()
                     .Name("qlinear_kernel_ops_total")
                     .Help(
                         "Arithmetic operations of the kernels (2*M*N*K per "
                         "call); rate() "
                         "gives the achieved ops per second.")
                     .Register(*registry_);
  collector_ = std::make_shared<Collector>(this);
}

Metrics::~Metrics() = default;

absl::StatusOr<std::unique_ptr<Metrics>> Metrics::Create(
    const std::string& address, Sources sources) {
  std::unique_ptr<Metrics> metrics(new Metrics(std::move(sources)));
  if (!address.empty()) {
    try {
      metrics->exposer_ = std::make_unique<prometheus::Exposer>(address);
    } catch (const std::exception& e) {
      return absl::UnavailableError(absl::StrCat(
          "metrics: cannot serve /metrics on ", address, ": ", e.what()));
    }
    metrics->exposer_->RegisterCollectable(metrics->registry_);
    metrics->exposer_->RegisterCollectable(metrics->collector_);
  }
  return metrics;
}

int Metrics::port() const {
  if (exposer_ == nullptr) return 0;
  const std::vector<int> ports = exposer_->GetListeningPorts();
  return ports.empty() ? 0 : ports.front();
}

std::shared_ptr<ModelMetrics> Metrics::AddModel(
    const std::string& name, const std::string& version,
    const model::LinearStack& stack) {
  auto m = std::make_shared<ModelMetrics>();
  m->model_ = name;
  m->request_family_ = request_family_;
  m->queue_wait_ =
      &queue_wait_family_->Add({{"model", name}}, DurationBuckets());
  prometheus::Histogram::BucketBoundaries rows;
  for (double r = 1; r <= 65536; r *= 2) rows.push_back(r);
  m->batch_rows_ = &batch_rows_family_->Add({{"model", name}}, rows);
  Served served{name, version, {}};
  std::map<std::string, uint64_t> bytes;
  for (size_t i = 0; i < stack.num_layers(); ++i) {
    const model::LayerSpec& spec = stack.layer_spec(i);
    const Linear& linear = stack.layer(i);
    ModelMetrics::LayerChildren c;
    for (ActQuant mode : {ActQuant::kNone, ActQuant::kInt8AsymPerToken}) {
      c.kernel[static_cast<int>(mode)] = &kernel_family_->Add(
          {{"model", name},
           {"layer", spec.name},
           {"format", std::string(WeightFormatName(spec.format))},
           {"kernel", std::string(linear.kernel_name(mode))},
           {"act_quant", std::string(ActQuantName(mode))}},
          DurationBuckets());
    }
    c.act_quant = &act_quant_family_->Add(
        {{"model", name}, {"layer", spec.name}}, DurationBuckets());
    c.ops = &ops_family_->Add({{"model", name}, {"layer", spec.name}});
    c.ops_per_row =
        2.0 * static_cast<double>(linear.n()) * static_cast<double>(linear.k());
    m->layers_.push_back(c);
    bytes[std::string(WeightFormatName(spec.format))] += linear.packed_bytes();
  }
  served.bytes_by_format.assign(bytes.begin(), bytes.end());
  absl::MutexLock lock(&mu_);
  for (auto it = served_.begin(); it != served_.end(); ++it) {
    if (it->name == name && it->version == version) {  // a reload
      served_.erase(it);
      break;
    }
  }
  served_.push_back(std::move(served));
  return m;
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
  std::vector<MetricFamily> families = registry_->Collect();
  std::vector<MetricFamily> scraped = collector_->Collect();
  families.insert(families.end(), scraped.begin(), scraped.end());
  return prometheus::TextSerializer().Serialize(families);
}

}  // namespace qlinear::server
