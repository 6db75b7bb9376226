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

#include "absl/strings/numbers.h"
#include "absl/synchronization/notification.h"
#include "gmock/gmock.h"
#include "grpc/health/v1/health.grpc.pb.h"
#include "gtest/gtest.h"
#include "inference/grpc_service.grpc.pb.h"
#include "server/load_queue.h"
#include "server/qlinear_service.h"
#include "server/server.h"
#include "tests/testing/proc_status.h"
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

class HardeningTest : public ::testing::Test {
 protected:
  using LoadHook = std::function<void(const std::string&, const std::string&)>;

  void StartServer(LoadHook hook = nullptr,
                   std::function<void(ServerOptions*)> customize = nullptr) {
    WriteModelDir(dir_.path() / "a" / "1", Spec(1), ActQuant::kNone);
    ServerOptions options;
    options.host = "127.0.0.1";
    options.port = 0;
    options.model_repository = dir_.path().string();
    options.threads = 2;
    options.model_load_hook_for_test = std::move(hook);
    if (customize) customize(&options);
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

  // Starts the server, then a LoadModel of model "b" (`running`) that is
  // held, once marked loading, until release_ is notified (TearDown does it
  // if the test did not).
  void StartServerHoldingALoad(AsyncLoad* running) {
    StartServer([this](const std::string& model, const std::string&) {
      if (model != "b") return;
      held_.Notify();
      release_.WaitForNotification();
    });
    WriteModelDir(dir_.path() / "b" / "1", Spec(2), ActQuant::kNone);
    StartLoad("b", running);
    held_.WaitForNotification();
  }

  void TearDown() override {
    if (!release_.HasBeenNotified()) release_.Notify();
  }

  absl::Notification held_, release_;
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
  const int64_t before = static_cast<int64_t>(
      ::qlinear::testing::ProcStatusBytes("VmSize") / 1024);
  for (int i = 0; i < 600; ++i) {
    grpc::Status s = Load("missing" + std::to_string(i), "");
    ASSERT_EQ(s.error_code(), grpc::StatusCode::NOT_FOUND) << s.error_message();
    s = Load("a", "9");
    ASSERT_EQ(s.error_code(), grpc::StatusCode::NOT_FOUND) << s.error_message();
    s = Load("../etc", "");
    ASSERT_EQ(s.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
    s = RepositoryLoad("missing");
    ASSERT_EQ(s.error_code(), grpc::StatusCode::NOT_FOUND) << s.error_message();
  }
  // A thread's stack alone reserves 8 MiB: 2400 calls would take 19 GiB.
  // (The bound leaves room for malloc arenas of gRPC's own threads.)
  EXPECT_LT(static_cast<int64_t>(::qlinear::testing::ProcStatusBytes("VmSize") /
                                 1024) -
                before,
            2 * 1024 * 1024);
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
  AsyncLoad running;
  StartServerHoldingALoad(&running);
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
  release_.Notify();
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
  AsyncLoad running;
  StartServerHoldingALoad(&running);
  AsyncLoad waiting;  // queued behind the running one
  StartLoad("a", &waiting);
  // Submitted asynchronously: wait until it is queued, or the drain could
  // refuse it at the door instead.
  ASSERT_TRUE(server_->WaitForPendingLoads(1, absl::Seconds(30)));

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

  release_.Notify();
  running.done.WaitForNotification();
  EXPECT_EQ(running.status.error_code(), grpc::StatusCode::UNAVAILABLE);
  EXPECT_THAT(running.status.error_message(), HasSubstr("abandoned"));
  drain.join();
  // The abandoned load swapped nothing in.
  for (const ModelState& state : server_->models()->Index()) {
    if (state.name == "b") {
      EXPECT_NE(state.state, ModelReadiness::kReady);
    }
  }
}

v1::ForwardRequest ForwardOf(const std::string& model, size_t rows,
                             uint32_t seed) {
  v1::ForwardRequest request;
  request.set_model(model);
  *request.mutable_input() = RandomTensor(DType::kF32, rows, 128, seed);
  return request;
}

// Not UTF-8: a proto3 string field holding it does not parse. (The client
// library logs the bad field but sends it, as a hostile client would.)
constexpr char kNotUtf8[] = "\xff\xfe";

// Defect 5: an unparseable message got UNIMPLEMENTED with no message (unary)
// or ended the stream with OK, dropping the requests after it; neither was
// counted.
TEST_F(HardeningTest, UnparseableRequestsGetInvalidArgumentAndAreCounted) {
  StartServer();
  v1::ForwardRequest bad = ForwardOf("a", 1, 5);
  bad.set_request_id(kNotUtf8);
  {
    grpc::ClientContext context;
    v1::ForwardResponse response;
    const grpc::Status s = stub_->Forward(&context, bad, &response);
    EXPECT_EQ(s.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
    EXPECT_THAT(s.error_message(),
                ::testing::MatchesRegex("request: [0-9]+ bytes are not a valid "
                                        "qlinear.v1.ForwardRequest message"));
  }
  {
    grpc::ClientContext context;
    v1::MatmulRequest request;
    request.set_model(kNotUtf8);
    v1::MatmulResponse response;
    const grpc::Status s = stub_->Matmul(&context, request, &response);
    EXPECT_EQ(s.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
    EXPECT_THAT(s.error_message(), HasSubstr("qlinear.v1.MatmulRequest"));
  }
  {
    grpc::ClientContext context;
    inference::ModelInferRequest request;
    request.set_model_name(kNotUtf8);
    inference::ModelInferResponse response;
    const grpc::Status s = kserve_->ModelInfer(&context, request, &response);
    EXPECT_EQ(s.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
    EXPECT_THAT(s.error_message(), HasSubstr("inference.ModelInferRequest"));
  }
  // The stream answers the bad message in place and serves the rest.
  grpc::ClientContext context;
  auto stream = stub_->ForwardStream(&context);
  for (int i = 0; i < 3; ++i) {
    v1::ForwardRequest request = i == 1 ? bad : ForwardOf("a", 1, 6 + i);
    if (i != 1) request.set_request_id("r" + std::to_string(i));
    ASSERT_TRUE(stream->Write(request));
  }
  stream->WritesDone();
  std::vector<v1::ForwardResponse> responses;
  v1::ForwardResponse response;
  while (stream->Read(&response)) responses.push_back(response);
  ASSERT_TRUE(stream->Finish().ok());
  ASSERT_EQ(responses.size(), 3u);
  int invalid = 0;
  for (const v1::ForwardResponse& r : responses) {
    if (r.status_code() == grpc::StatusCode::INVALID_ARGUMENT) {
      ++invalid;
      EXPECT_THAT(r.status_message(), HasSubstr("qlinear.v1.ForwardRequest"));
    } else {
      EXPECT_EQ(r.status_code(), 0) << r.status_message();
      EXPECT_THAT(r.request_id(), ::testing::AnyOf("r0", "r2"));
    }
  }
  EXPECT_EQ(invalid, 1);
  // Counted under model="" with their RPC and code.
  const std::string scrape = server_->metrics().Scrape();
  for (const char* rpc : {"Forward", "Matmul", "ModelInfer", "ForwardStream"}) {
    EXPECT_THAT(
        scrape,
        HasSubstr(std::string("qlinear_requests_total{code=\"") +
                  "INVALID_ARGUMENT\",model=\"\",rpc=\"" + rpc + "\"} 1"))
        << rpc;
  }
}

// Defect 3: a ForwardStream client that never read made the server hold
// every reply (60 requests of 64 KiB: +1 GB RSS). Now the stream stops
// reading at its bound, and resumes as the client reads.
TEST_F(HardeningTest, StreamStopsReadingWhileItsClientDoesNotRead) {
  absl::Notification paused;
  size_t paused_in_flight = 0, paused_bytes = 0;
  StartServer(nullptr, [&](ServerOptions* options) {
    options->stream_paused_hook_for_test = [&](size_t in_flight, size_t bytes) {
      if (paused.HasBeenNotified()) return;
      paused_in_flight = in_flight;
      paused_bytes = bytes;
      paused.Notify();
    };
  });
  // Replies of 1 MiB (64 rows x 4096 fp32), 96 MiB in all: far more than
  // the transport buffers, so the server's writes stall while the client
  // does not read, and the stream reaches its bound.
  model::SyntheticModelSpec wide = Spec(9);
  wide.widths = {128, 4096};
  WriteModelDir(dir_.path() / "wide" / "1", wide, ActQuant::kNone);
  ASSERT_TRUE(Load("wide", "1").ok());
  constexpr size_t kRequests = 3 * kMaxStreamRequestsInFlight;
  grpc::ClientContext context;
  auto stream = stub_->ForwardStream(&context);
  // Writes block once the server stops reading and the windows fill.
  std::thread writer([&] {
    for (size_t i = 0; i < kRequests; ++i) {
      v1::ForwardRequest request = ForwardOf("wide", 64, 100 + i);
      request.set_request_id(std::to_string(i));
      if (!stream->Write(request)) return;
    }
    stream->WritesDone();
  });
  paused.WaitForNotification();
  EXPECT_EQ(paused_in_flight, kMaxStreamRequestsInFlight);
  EXPECT_LE(paused_bytes, kMaxStreamBufferedBytes);
  // Reading resumes the stream: every request is answered, in order.
  v1::ForwardResponse response;
  size_t read = 0;
  while (stream->Read(&response)) {
    EXPECT_EQ(response.status_code(), 0) << response.status_message();
    EXPECT_EQ(response.request_id(), std::to_string(read));
    EXPECT_EQ(response.output().shape(0), 64);
    ++read;
  }
  writer.join();
  EXPECT_TRUE(stream->Finish().ok());
  EXPECT_EQ(read, kRequests);
}

// Defect 2: nothing bounded rows x output width; a 2.28 GB response aborted
// the server in the protobuf serializer. Now a request whose response would
// exceed --max-response-bytes is refused before any compute.
TEST_F(HardeningTest, ResponsesLargerThanTheLimitAreRefusedWithTheRowsThatFit) {
  StartServer(nullptr, [](ServerOptions* options) {
    options->max_response_bytes = 65536;  // 512 rows of 32 fp32 outputs
  });
  grpc::ClientContext context;
  v1::ForwardResponse response;
  grpc::Status s = stub_->Forward(&context, ForwardOf("a", 513, 7), &response);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_EQ(s.error_message(),
            "input.shape: 513 rows give a response of 513 x 32 fp32 values "
            "(65664 bytes), over the server's limit of 65536 bytes "
            "(--max-response-bytes); send at most 512 rows per request");
  {
    grpc::ClientContext ok_context;
    s = stub_->Forward(&ok_context, ForwardOf("a", 512, 7), &response);
    EXPECT_TRUE(s.ok()) << s.error_message();
  }
  {
    grpc::ClientContext matmul_context;
    v1::MatmulRequest request;
    request.set_model("a");
    request.set_layer("fc1");  // 64 outputs: 256 rows fit
    *request.mutable_input() = RandomTensor(DType::kF32, 257, 128, 8);
    v1::MatmulResponse matmul;
    s = stub_->Matmul(&matmul_context, request, &matmul);
    EXPECT_EQ(s.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
    EXPECT_THAT(s.error_message(), HasSubstr("send at most 256 rows"));
  }
  {
    grpc::ClientContext infer_context;
    const v1::Tensor input = RandomTensor(DType::kF32, 513, 128, 9);
    inference::ModelInferRequest request;
    request.set_model_name("a");
    auto* tensor = request.add_inputs();
    tensor->set_name("input");
    tensor->set_datatype("FP32");
    tensor->add_shape(513);
    tensor->add_shape(128);
    request.add_raw_input_contents(input.data());
    inference::ModelInferResponse infer;
    s = kserve_->ModelInfer(&infer_context, request, &infer);
    EXPECT_EQ(s.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
    EXPECT_THAT(s.error_message(),
                HasSubstr("inputs[0].shape: 513 rows give a response"));
  }
}

TEST(HardeningOptionsTest, ResponseLimitMustStayFarBelowProtobufs2GiB) {
  ServerOptions options;
  options.port = 0;
  options.max_response_bytes = int64_t{3} << 30;
  const auto server = Server::Create(options);
  ASSERT_FALSE(server.ok());
  EXPECT_EQ(server.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(server.status().message()),
              HasSubstr("max_response_bytes: 3221225472 is not in"));
}

}  // namespace
}  // namespace qlinear::server
