// End to end with a real Prometheus server: the server runs in-process with
// /metrics on a free port, a Prometheus (Debian's `prometheus`) scrapes it
// every second, and the test checks through Prometheus' HTTP API that the
// per-layer kernel histograms, the ops counter and the request counters say
// what the traffic did. `promtool check metrics` lints a scrape. Bounded in
// time, and without polling: the test waits on the server's count of
// /metrics scrapes (Metrics::AwaitHttpScrapes), then queries once.
#include <grpcpp/grpcpp.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdio>
#include <fstream>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "absl/time/time.h"
#include "gtest/gtest.h"
#include "nlohmann/json.hpp"
#include "server/server.h"
#include "tests/testing/serving_test_util.h"

extern char** environ;

namespace qlinear::server {
namespace {

using ::qlinear::testing::RandomTensor;
using ::qlinear::testing::TempDir;
using ::qlinear::testing::WriteModelDir;

// Output of a shell command (stdout), and its exit status.
std::string RunShell(const std::string& command, int* status = nullptr) {
  std::string out;
  FILE* pipe = popen(command.c_str(), "r");
  if (pipe == nullptr) return out;
  char buffer[4096];
  size_t n;
  while ((n = fread(buffer, 1, sizeof(buffer), pipe)) > 0)
    out.append(buffer, n);
  const int rc = pclose(pipe);
  if (status != nullptr) *status = rc;
  return out;
}

int FreePort() {
  const std::string out = RunShell(
      "/usr/bin/python3 -c 'import socket; s=socket.socket(); "
      "s.bind((\"127.0.0.1\", 0)); "
      "print(s.getsockname()[1])'");
  return std::atoi(out.c_str());
}

// A Prometheus server process, killed by the destructor.
class PrometheusProcess {
 public:
  PrometheusProcess(const std::string& dir, int port, int target_port) {
    const std::string config = dir + "/prometheus.yml";
    std::ofstream(config)
        << "global: {scrape_interval: 1s, evaluation_interval: 1s}\n"
           "scrape_configs:\n"
           "  - job_name: qlinear\n"
           "    static_configs: [{targets: ['127.0.0.1:"
        << target_port << "']}]\n";
    std::vector<std::string> args = {
        "prometheus", "--config.file=" + config,
        "--storage.tsdb.path=" + dir + "/data",
        "--web.listen-address=127.0.0.1:" + std::to_string(port),
        "--log.level=warn"};
    std::vector<char*> argv;
    for (std::string& a : args) argv.push_back(a.data());
    argv.push_back(nullptr);
    if (posix_spawnp(&pid_, "prometheus", nullptr, nullptr, argv.data(),
                     environ) != 0)
      pid_ = 0;
  }
  ~PrometheusProcess() {
    if (pid_ > 0) {
      kill(pid_, SIGTERM);
      waitpid(pid_, nullptr, 0);
    }
  }
  bool started() const { return pid_ > 0; }

 private:
  pid_t pid_ = 0;
};

class PrometheusE2ETest : public ::testing::Test {
 protected:
  void SetUp() override {
    // scripts/install-deps.sh installs them; a missing one is a failure.
    ASSERT_EQ(RunShell("for b in prometheus promtool curl; do command -v $b; "
                       "done | wc -l"),
              "3\n")
        << "prometheus, promtool or curl is not installed";
  }

  // The result vector of an instant query.
  nlohmann::json Query(const std::string& expr) {
    const std::string out =
        RunShell("curl -s --get --data-urlencode 'query=" + expr +
                 "' http://127.0.0.1:" + std::to_string(prometheus_port_) +
                 "/api/v1/query");
    nlohmann::json j = nlohmann::json::parse(out, nullptr, false);
    if (j.is_discarded() || j.value("status", "") != "success") {
      ADD_FAILURE() << "query " << expr << " failed: " << out;
      return nlohmann::json::array();
    }
    return j["data"]["result"];
  }

  // Waits until Prometheus has stored `n` scrapes of `server` taken from
  // now on. Prometheus scrapes a target one scrape at a time and stores
  // (commits) each before it starts the next, so once the server has
  // counted n + 1 scrapes beyond those it had already counted (the first may
  // have started before now), n of them are stored and queryable.
  static void AwaitStoredScrapes(const Server& server, uint64_t n) {
    const uint64_t target = server.metrics().http_scrapes() + n + 1;
    ASSERT_TRUE(server.metrics().AwaitHttpScrapes(target, absl::Seconds(60)))
        << "Prometheus scraped the server " << server.metrics().http_scrapes()
        << " times, not " << target;
  }

  int prometheus_port_ = 0;
};

TEST_F(PrometheusE2ETest,
       RealPrometheusScrapesLayerHistogramsAndRequestCounters) {
  TempDir dir;
  model::SyntheticModelSpec spec;
  spec.widths = {256, 256, 128, 64};
  spec.group_size = 64;
  WriteModelDir(dir.path() / "repo" / "m" / "1", spec, ActQuant::kNone);
  ServerOptions options;
  options.host = "127.0.0.1";
  options.port = 0;
  options.metrics_port = -1;
  options.model_repository = (dir.path() / "repo").string();
  options.threads = 2;
  // Every int8 request is compared in the weight-only mode after its answer.
  options.quality_sample_rate = 1.0;
  auto server = Server::Create(options);
  ASSERT_TRUE(server.ok()) << server.status();
  ASSERT_GT((*server)->metrics_port(), 0);

  prometheus_port_ = FreePort();
  PrometheusProcess prometheus(dir.path().string(), prometheus_port_,
                               (*server)->metrics_port());
  ASSERT_TRUE(prometheus.started());
  // Prometheus' query API is ready before its first scrape (it marks itself
  // ready right after loading the configuration, which starts scraping), so
  // the queries below need no retry.
  ASSERT_NO_FATAL_FAILURE(AwaitStoredScrapes(**server, 1));
  const nlohmann::json up = Query("up");
  ASSERT_TRUE(up.size() == 1 && up[0]["value"][1] == "1") << up.dump();

  auto stub = v1::QLinear::NewStub(
      grpc::CreateChannel("127.0.0.1:" + std::to_string((*server)->port()),
                          grpc::InsecureChannelCredentials()));
  std::map<std::string, int> sent;  // by status code name
  uint64_t int8_sent = 0;           // OK ones
  auto forward = [&](const std::string& model, v1::Tensor input,
                     v1::ActQuant mode) {
    grpc::ClientContext context;
    v1::ForwardRequest request;
    request.set_model(model);
    request.set_act_quant(mode);
    *request.mutable_input() = std::move(input);
    v1::ForwardResponse response;
    const grpc::Status s = stub->Forward(&context, request, &response);
    sent[absl::StatusCodeToString(
        static_cast<absl::StatusCode>(s.error_code()))]++;
    // One sample at a time, so that none is dropped.
    if (s.ok() && mode == v1::ACT_QUANT_INT8_ASYM_PER_TOKEN) {
      ASSERT_TRUE(
          (*server)->WaitForQualitySamples(++int8_sent, absl::Seconds(60)));
    }
  };
  // Two phases a few scrapes apart, so rate() sees the counters move.
  for (int phase = 0; phase < 2; ++phase) {
    for (int i = 0; i < 15; ++i) {
      forward("m", RandomTensor(DType::kF32, 1 + i % 3, 256, 10 * phase + i),
              i % 2 ? v1::ACT_QUANT_INT8_ASYM_PER_TOKEN : v1::ACT_QUANT_NONE);
    }
    forward("m", RandomTensor(DType::kF32, 1, 128, 1),
            v1::ACT_QUANT_NONE);  // bad shape
    forward("nope", RandomTensor(DType::kF32, 1, 256, 1), v1::ACT_QUANT_NONE);
    // A stored scrape after each phase: rate() sees the counters move.
    ASSERT_NO_FATAL_FAILURE(AwaitStoredScrapes(**server, 1));
  }
  ASSERT_EQ(sent["OK"], 30);
  ASSERT_EQ(sent["INVALID_ARGUMENT"], 2);
  ASSERT_EQ(sent["NOT_FOUND"], 2);

  // The request counters equal what was sent, by code (rejections included).
  const nlohmann::json by_code =
      Query("sum by (code) (qlinear_requests_total)");
  std::map<std::string, int> counted;
  for (const auto& s : by_code) {
    counted[s["metric"]["code"].get<std::string>()] =
        std::stoi(s["value"][1].get<std::string>());
  }
  EXPECT_EQ(counted, sent);

  // A latency quantile for every layer of the model.
  const nlohmann::json p99 = Query(
      "histogram_quantile(0.99, sum by (le, layer) "
      "(rate(qlinear_kernel_duration_seconds_bucket{model=\"m\"}[1m])))");
  ASSERT_EQ(p99.size(), 3u);
  for (const auto& s : p99) {
    const double v = std::stod(s["value"][1].get<std::string>());
    EXPECT_GT(v, 0.0) << s.dump();
    EXPECT_LT(v, 10.0) << s.dump();
  }
  // Achieved ops per second is positive for every layer.
  const nlohmann::json ops =
      Query("rate(qlinear_kernel_ops_total{model=\"m\"}[1m]) > 0");
  EXPECT_EQ(ops.size(), 3u);

  // Quality telemetry: every int8 request sampled, none dropped, and an SQNR
  // and outlier-ratio median for every (quantized) layer.
  ASSERT_EQ(int8_sent, 14u);
  const nlohmann::json samples =
      Query("qlinear_quality_samples_total{model=\"m\"}");
  ASSERT_EQ(samples.size(), 1u) << samples.dump();
  EXPECT_EQ(samples[0]["value"][1], "14");
  const nlohmann::json dropped =
      Query("qlinear_quality_samples_dropped_total{model=\"m\"}");
  ASSERT_EQ(dropped.size(), 1u) << dropped.dump();
  EXPECT_EQ(dropped[0]["value"][1], "0");
  const nlohmann::json sqnr = Query(
      "histogram_quantile(0.5, sum by (le, layer) "
      "(rate(qlinear_act_quant_sqnr_db_bucket{model=\"m\"}[1m])))");
  ASSERT_EQ(sqnr.size(), 3u) << sqnr.dump();
  for (const auto& s : sqnr) {
    const double v = std::stod(s["value"][1].get<std::string>());
    EXPECT_GT(v, 5.0) << s.dump();
    EXPECT_LT(v, 100.0) << s.dump();
  }
  const nlohmann::json outliers = Query(
      "histogram_quantile(0.5, sum by (le, layer) "
      "(rate(qlinear_act_quant_outlier_ratio_bucket{model=\"m\"}[1m]))) >= 1");
  EXPECT_EQ(outliers.size(), 3u) << outliers.dump();

  // The exposition lints clean.
  const std::string scrape = dir.path().string() + "/scrape.txt";
  std::ofstream(scrape) << (*server)->metrics().Scrape();
  int status = 0;
  const std::string lint =
      RunShell("promtool check metrics < " + scrape + " 2>&1", &status);
  EXPECT_EQ(status, 0) << lint;
}

}  // namespace
}  // namespace qlinear::server
