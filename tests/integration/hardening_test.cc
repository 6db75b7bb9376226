// Regression tests of the remote-crash and memory defects a hostile client
// found (issue 15), over real gRPC: load calls that fail at once cost no
// thread, loads wait in a bounded queue, a drain abandons a running load and
// answers it and new calls UNAVAILABLE.
#include <grpcpp/grpcpp.h>

#include <cstdint>
#include <fstream>
#include <functional>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "absl/cleanup/cleanup.h"
#include "absl/strings/numbers.h"
#include "absl/synchronization/notification.h"
#include "gmock/gmock.h"
#include "grpc/health/v1/health.grpc.pb.h"
#include "gtest/gtest.h"
#include "inference/grpc_service.grpc.pb.h"
#include "server/load_queue.h"
#include "server/server.h"
#include "tests/testing/serving_test_util.h"

namespace qlinear::server {
namespace {

using ::qlinear::testing::RandomTensor;
using ::qlinear::testing::TempDir;
using ::qlinear::testing::WriteModelDir;
using ::testing::HasSubstr;
using HealthStatus = grpc::health::v1::HealthCheckResponse;

model::SyntheticModelSpec Spec(uint64_t seed) {
  model::SyntheticModelSpec spec;
  spec.widths = {128, 64, 32};
  spec.group_size = 32;
  spec.seed = seed;
  return spec;
}

// The process's virtual size in KiB (VmSize of /proc/self/status).
int64_t VmSizeKiB() {
  std::ifstream in("/proc/self/status");
  std::string line;
  while (std::getline(in, line)) {
    if (line.rfind("VmSize:", 0) != 0) continue;
    int64_t kib = 0;
    std::string digits;
    for (char c : line)
      if (c >= '0' && c <= '9') digits += c;
    EXPECT_TRUE(absl::SimpleAtoi(digits, &kib)) << line;
    return kib;
  }
  ADD_FAILURE() << "no VmSize in /proc/self/status";
  return 0;
}

class HardeningTest : public ::testing::Test {
 protected:
  using LoadHook = std::function<void(const std::string&, const std::string&)>;

  void StartServer(LoadHook hook = nullptr) {
    WriteModelDir(dir_.path() / "a" / "1", Spec(1), ActQuant::kNone);
    ServerOptions options;
    options.host = "127.0.0.1";
    options.port = 0;
    options.model_repository = dir_.path().string();
    options.threads = 2;
    options.model_load_hook_for_test = std::move(hook);
    auto server = Server::Create(options);
    ASSERT_TRUE(server.ok()) << server.status();
    server_ = std::move(*server);
    channel_ =
        grpc::CreateChannel("127.0.0.1:" + std::to_string(server_->port()),
                            grpc::InsecureChannelCredentials());
    stub_ = v1::QLinear::NewStub(channel_);
    kserve_ = inference::GRPCInferenceService::NewStub(channel_);
  }

  grpc::Status Load(const std::string& model, const std::string& version) {
    grpc::ClientContext context;
    v1::LoadModelRequest request;
    request.set_model(model);
    request.set_version(version);
    v1::LoadModelResponse response;
    return stub_->LoadModel(&context, request, &response);
  }

  grpc::Status RepositoryLoad(const std::string& model) {
    grpc::ClientContext context;
    inference::RepositoryModelLoadRequest request;
    request.set_model_name(model);
    inference::RepositoryModelLoadResponse response;
    return kserve_->RepositoryModelLoad(&context, request, &response);
  }

  // A LoadModel call left running; `done` is notified with its status.
  struct AsyncLoad {
    grpc::ClientContext context;
    v1::LoadModelRequest request;
    v1::LoadModelResponse response;
    grpc::Status status;
    absl::Notification done;
  };
  void StartLoad(const std::string& model, AsyncLoad* load) {
    load->request.set_model(model);
    stub_->async()->LoadModel(&load->context, &load->request, &load->response,
                              [load](grpc::Status s) {
                                load->status = std::move(s);
                                load->done.Notify();
                              });
  }

  TempDir dir_;
  std::unique_ptr<Server> server_;
  std::shared_ptr<grpc::Channel> channel_;
  std::unique_ptr<v1::QLinear::Stub> stub_;
  std::unique_ptr<inference::GRPCInferenceService::Stub> kserve_;
};

// Defect 1: each load call used to start a thread joined only at shutdown,
// even when it failed at once: 2000 calls took 16 GB of address space, and
// about 32 500 exhausted the map limit and aborted the server.
TEST_F(HardeningTest, LoadCallsThatFailAtOnceCostNoThreadOrMemory) {
  StartServer();
  const int64_t before = VmSizeKiB();
  for (int i = 0; i < 300; ++i) {
    grpc::Status s = Load("missing" + std::to_string(i), "");
    ASSERT_EQ(s.error_code(), grpc::StatusCode::NOT_FOUND) << s.error_message();
    s = Load("a", "9");
    ASSERT_EQ(s.error_code(), grpc::StatusCode::NOT_FOUND) << s.error_message();
    s = Load("../etc", "");
    ASSERT_EQ(s.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
    s = RepositoryLoad("missing");
    ASSERT_EQ(s.error_code(), grpc::StatusCode::NOT_FOUND) << s.error_message();
  }
  // A thread's stack alone reserves 8 MiB: 1200 calls would take 9 GiB.
  EXPECT_LT(VmSizeKiB() - before, 256 * 1024);
  // The server still loads and serves.
  ASSERT_TRUE(Load("a", "1").ok());
  grpc::ClientContext context;
  v1::ForwardRequest request;
  request.set_model("a");
  *request.mutable_input() = RandomTensor(DType::kF32, 4, 128, 3);
  v1::ForwardResponse response;
  EXPECT_TRUE(stub_->Forward(&context, request, &response).ok());
}

TEST_F(HardeningTest, LoadsWaitInABoundedQueueAndAllComplete) {
  absl::Notification held, release;
  StartServer([&](const std::string& model, const std::string&) {
    if (model != "b") return;
    held.Notify();
    release.WaitForNotification();
  });
  auto cleanup = absl::MakeCleanup([&] {
    if (!release.HasBeenNotified()) release.Notify();
  });
  WriteModelDir(dir_.path() / "b" / "1", Spec(2), ActQuant::kNone);
  AsyncLoad running;
  StartLoad("b", &running);
  held.WaitForNotification();
  // The running load holds the thread; kDefaultMaxPending more wait behind
  // it and the rest are refused at once, whatever order they arrive in.
  constexpr size_t kExtra = 4;
  absl::Mutex mu;
  size_t refused = 0;
  std::vector<std::unique_ptr<AsyncLoad>> loads;
  for (size_t i = 0; i < LoadQueue::kDefaultMaxPending + kExtra; ++i) {
    auto load = std::make_unique<AsyncLoad>();
    load->request.set_model("a");
    AsyncLoad* l = load.get();
    stub_->async()->LoadModel(
        &l->context, &l->request, &l->response,
        [l, &mu, &refused](grpc::Status s) {
          if (s.error_code() == grpc::StatusCode::RESOURCE_EXHAUSTED) {
            absl::MutexLock lock(&mu);
            ++refused;
          }
          // Outside the lock: once notified, the test may return and
          // destroy `mu`.
          l->status = std::move(s);
          l->done.Notify();
        });
    loads.push_back(std::move(load));
  }
  {
    absl::MutexLock lock(&mu);
    mu.Await(absl::Condition(
        +[](size_t* n) { return *n == kExtra; }, &refused));
  }
  release.Notify();
  running.done.WaitForNotification();
  EXPECT_TRUE(running.status.ok()) << running.status.error_message();
  EXPECT_EQ(running.response.version(), "1");
  size_t ok = 0;
  for (const auto& load : loads) {
    load->done.WaitForNotification();
    if (load->status.ok()) {
      ++ok;
    } else {
      EXPECT_EQ(load->status.error_code(),
                grpc::StatusCode::RESOURCE_EXHAUSTED);
      EXPECT_THAT(load->status.error_message(),
                  HasSubstr("already wait behind the running one"));
    }
  }
  EXPECT_EQ(ok, LoadQueue::kDefaultMaxPending);
}

// Defect 10: a SIGTERM while a LoadModel ran made the first new call
// CANCELLED (the gRPC shutdown waited for the load call while refusing new
// ones), answered the load UNAVAILABLE, and still swapped the model in.
TEST_F(HardeningTest, DrainAbandonsTheRunningLoadAndRefusesNewCalls) {
  absl::Notification held, release;
  StartServer([&](const std::string& model, const std::string&) {
    if (model != "b") return;
    held.Notify();
    release.WaitForNotification();
  });
  auto cleanup = absl::MakeCleanup([&] {
    if (!release.HasBeenNotified()) release.Notify();
  });
  WriteModelDir(dir_.path() / "b" / "1", Spec(2), ActQuant::kNone);
  AsyncLoad running;
  StartLoad("b", &running);
  held.WaitForNotification();
  AsyncLoad waiting;  // queued behind the running one
  StartLoad("a", &waiting);

  auto health = grpc::health::v1::Health::NewStub(channel_);
  grpc::ClientContext watch_context;
  grpc::health::v1::HealthCheckRequest watch_request;
  watch_request.set_service("qlinear.v1.QLinear");
  auto watch = health->Watch(&watch_context, watch_request);
  HealthStatus status;
  ASSERT_TRUE(watch->Read(&status));
  ASSERT_EQ(status.status(), HealthStatus::SERVING);

  std::thread drain([&] { server_->Shutdown(); });
  ASSERT_TRUE(watch->Read(&status));
  ASSERT_EQ(status.status(), HealthStatus::NOT_SERVING);
  // An open watch is an in-flight call the drain would wait for.
  watch_context.TryCancel();
  // Draining, the load still held: new calls are refused with UNAVAILABLE.
  {
    grpc::ClientContext context;
    v1::ForwardRequest request;
    request.set_model("a");
    *request.mutable_input() = RandomTensor(DType::kF32, 1, 128, 4);
    v1::ForwardResponse response;
    const grpc::Status s = stub_->Forward(&context, request, &response);
    EXPECT_EQ(s.error_code(), grpc::StatusCode::UNAVAILABLE)
        << s.error_message();
  }
  const grpc::Status late = Load("a", "1");
  EXPECT_EQ(late.error_code(), grpc::StatusCode::UNAVAILABLE);
  EXPECT_THAT(late.error_message(), HasSubstr("shutting down"));
  waiting.done.WaitForNotification();
  EXPECT_EQ(waiting.status.error_code(), grpc::StatusCode::UNAVAILABLE);
  EXPECT_THAT(waiting.status.error_message(), HasSubstr("not started"));

  release.Notify();
  running.done.WaitForNotification();
  EXPECT_EQ(running.status.error_code(), grpc::StatusCode::UNAVAILABLE);
  EXPECT_THAT(running.status.error_message(), HasSubstr("abandoned"));
  drain.join();
  // The abandoned load swapped nothing in.
  for (const ModelState& state : server_->models()->Index()) {
    if (state.name == "b") {
      EXPECT_NE(state.state, "READY");
    }
  }
}

}  // namespace
}  // namespace qlinear::server
