// Serving behaviour over real gRPC on loopback: concurrent requests merge
// into batches with outputs bitwise equal to solo runs, bounded queues,
// deadlines, and the drain on shutdown (health NOT_SERVING, queued calls
// finish, new ones UNAVAILABLE, calls outliving the drain timeout cancelled).
#include <grpcpp/grpcpp.h>

#include <atomic>
#include <map>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "absl/synchronization/blocking_counter.h"
#include "gmock/gmock.h"
#include "grpc/health/v1/health.grpc.pb.h"
#include "gtest/gtest.h"
#include "model/loader.h"
#include "server/server.h"
#include "tests/testing/serving_test_util.h"

namespace qlinear::server {
namespace {

using ::qlinear::testing::Connect;
using ::qlinear::testing::RandomTensor;
using ::qlinear::testing::ReferenceForward;
using ::qlinear::testing::TempDir;
using ::qlinear::testing::WriteFile;
using ::testing::HasSubstr;

// One model whose queue waits up to `delay_us` to fill 16 rows.
class ServingTest : public ::testing::Test {
 protected:
  void StartServer(int64_t delay_us, int64_t max_queued_rows = 0,
                   absl::Duration drain_timeout = absl::Seconds(20)) {
    model::SyntheticModelSpec spec;
    spec.widths = {256, 256, 128};
    spec.group_size = 64;
    model::SyntheticModelFiles files = model::MakeSyntheticModelFiles(spec);
    files.manifest.batching.max_batch_rows = 16;
    files.manifest.batching.max_queue_delay_us = delay_us;
    const auto dir = dir_.path() / "batched" / "1";
    WriteFile(dir / "model.json", model::ManifestToJson(files.manifest));
    WriteFile(dir / "model.safetensors", files.safetensors);
    auto local = model::LoadModelDir(dir.string());
    ASSERT_TRUE(local.ok()) << local.status();
    local_ = std::move(*local);

    ServerOptions options;
    options.host = "127.0.0.1";
    options.port = 0;
    options.model_repository = dir_.path().string();
    options.threads = 2;
    options.max_queued_rows = max_queued_rows;
    options.drain_timeout = drain_timeout;
    auto server = Server::Create(options);
    ASSERT_TRUE(server.ok()) << server.status();
    server_ = std::move(*server);
    stub_ = Connect(server_->port());
  }

  v1::ForwardRequest Request(size_t rows, uint32_t seed, bool int8 = false) {
    v1::ForwardRequest request;
    request.set_model("batched");
    *request.mutable_input() = RandomTensor(DType::kF32, rows, 256, seed);
    request.set_act_quant(int8 ? v1::ACT_QUANT_INT8_ASYM_PER_TOKEN
                               : v1::ACT_QUANT_NONE);
    request.set_return_timings(true);
    return request;
  }

  // Sends every request at once on the callback API and waits for all.
  std::vector<grpc::Status> SendConcurrently(
      const std::vector<v1::ForwardRequest>& requests,
      std::vector<v1::ForwardResponse>* responses,
      absl::Duration timeout = absl::Seconds(30)) {
    const size_t n = requests.size();
    responses->assign(n, v1::ForwardResponse());
    std::vector<grpc::Status> statuses(n);
    std::vector<std::unique_ptr<grpc::ClientContext>> contexts;
    absl::BlockingCounter pending(static_cast<int>(n));
    for (size_t i = 0; i < n; ++i) {
      contexts.push_back(std::make_unique<grpc::ClientContext>());
      contexts.back()->set_deadline(std::chrono::system_clock::now() +
                                    absl::ToChronoMilliseconds(timeout));
      stub_->async()->Forward(contexts.back().get(), &requests[i],
                              &(*responses)[i], [&, i](grpc::Status s) {
                                statuses[i] = s;
                                pending.DecrementCount();
                              });
    }
    pending.Wait();
    return statuses;
  }

  TempDir dir_;
  std::unique_ptr<model::LinearStack> local_;
  std::unique_ptr<Server> server_;
  std::unique_ptr<v1::QLinear::Stub> stub_;
};

TEST_F(ServingTest, ConcurrentRequestsMergeAndMatchSoloOutputs) {
  // The queue waits up to 2 s for 16 rows, so the 16 one-row requests below
  // (half of them int8) form batches of more than one row.
  StartServer(/*delay_us=*/2'000'000);
  std::vector<v1::ForwardRequest> requests;
  for (uint32_t i = 0; i < 16; ++i)
    requests.push_back(Request(1, 100 + i, i % 2 == 1));
  std::vector<v1::ForwardResponse> responses;
  const std::vector<grpc::Status> statuses =
      SendConcurrently(requests, &responses);
  int64_t max_batch_rows = 0;
  for (size_t i = 0; i < requests.size(); ++i) {
    ASSERT_TRUE(statuses[i].ok()) << i << ": " << statuses[i].error_message();
    const ActQuant mode =
        i % 2 == 1 ? ActQuant::kInt8AsymPerToken : ActQuant::kNone;
    EXPECT_EQ(responses[i].output().data(),
              ReferenceForward(*local_, requests[i].input(), 0, 2, mode))
        << "request " << i;
    max_batch_rows =
        std::max(max_batch_rows, responses[i].timings().batch_rows());
  }
  EXPECT_GT(max_batch_rows, 1);
}

TEST_F(ServingTest, FullQueueAnswersResourceExhaustedWithRetryHint) {
  // Two 3-row requests fill the 6-row queue while they wait out the delay;
  // whichever arrives third does not fit.
  StartServer(/*delay_us=*/1'500'000, /*max_queued_rows=*/6);
  std::vector<v1::ForwardRequest> requests = {Request(3, 1), Request(3, 2),
                                              Request(3, 3)};
  std::vector<v1::ForwardResponse> responses;
  const std::vector<grpc::Status> statuses =
      SendConcurrently(requests, &responses);
  int exhausted = 0, ok = 0;
  for (const grpc::Status& s : statuses) {
    if (s.error_code() == grpc::StatusCode::RESOURCE_EXHAUSTED) {
      ++exhausted;
      EXPECT_THAT(s.error_message(), HasSubstr("retry after"));
    } else {
      EXPECT_TRUE(s.ok()) << s.error_message();
      ++ok;
    }
  }
  EXPECT_EQ(exhausted, 1);
  EXPECT_EQ(ok, 2);
}

TEST_F(ServingTest, DeadlinePassedWhileQueuedIsDeadlineExceeded) {
  StartServer(/*delay_us=*/1'000'000);
  std::vector<v1::ForwardResponse> responses;
  const std::vector<grpc::Status> statuses =
      SendConcurrently({Request(1, 5)}, &responses, absl::Milliseconds(100));
  EXPECT_EQ(statuses[0].error_code(), grpc::StatusCode::DEADLINE_EXCEEDED);
}

TEST_F(ServingTest, ShutdownDrainsQueuedCallsAndRefusesNewOnes) {
  StartServer(/*delay_us=*/1'000'000);
  std::vector<v1::ForwardRequest> requests = {Request(2, 7), Request(1, 8)};
  std::vector<v1::ForwardResponse> responses;
  std::vector<grpc::Status> statuses;
  std::thread clients(
      [&] { statuses = SendConcurrently(requests, &responses); });
  // Wait (bounded) until both calls are queued, then drain.
  ASSERT_TRUE(server_->WaitForQueuedRows("batched", 3, absl::Seconds(10)));
  ASSERT_EQ(server_->queued_rows("batched"), 3);
  server_->Shutdown();
  clients.join();
  for (size_t i = 0; i < statuses.size(); ++i) {
    ASSERT_TRUE(statuses[i].ok()) << statuses[i].error_message();
    EXPECT_EQ(
        responses[i].output().data(),
        ReferenceForward(*local_, requests[i].input(), 0, 2, ActQuant::kNone));
  }
  grpc::ClientContext context;
  v1::ForwardResponse late;
  context.set_deadline(std::chrono::system_clock::now() +
                       std::chrono::seconds(5));
  const grpc::Status s = stub_->Forward(&context, Request(1, 9), &late);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::UNAVAILABLE);
}

TEST_F(ServingTest, DrainTurnsHealthNotServingAndCancelsWhatOutlivesIt) {
  StartServer(/*delay_us=*/0, /*max_queued_rows=*/0,
              /*drain_timeout=*/absl::Milliseconds(200));
  // A stream the client never closes: an in-flight call that would outlive
  // any drain.
  grpc::ClientContext stream_context;
  auto stream = stub_->ForwardStream(&stream_context);
  ASSERT_TRUE(stream->Write(Request(1, 60)));
  v1::ForwardResponse streamed;
  ASSERT_TRUE(stream->Read(&streamed));
  ASSERT_EQ(streamed.status_code(), 0) << streamed.status_message();

  using HealthStatus = grpc::health::v1::HealthCheckResponse;
  auto health = grpc::health::v1::Health::NewStub(
      grpc::CreateChannel("127.0.0.1:" + std::to_string(server_->port()),
                          grpc::InsecureChannelCredentials()));
  grpc::ClientContext watch_context;
  grpc::health::v1::HealthCheckRequest watch_request;
  watch_request.set_service("qlinear.v1.QLinear");
  auto watch = health->Watch(&watch_context, watch_request);
  HealthStatus status;
  ASSERT_TRUE(watch->Read(&status));
  EXPECT_EQ(status.status(), HealthStatus::SERVING);

  std::thread drain([&] { server_->Shutdown(); });
  // The drain first turns health NOT_SERVING...
  ASSERT_TRUE(watch->Read(&status));
  EXPECT_EQ(status.status(), HealthStatus::NOT_SERVING);
  // ...then, at the drain timeout, cancels what is left and returns.
  drain.join();
  while (stream->Read(&streamed)) {
  }
  EXPECT_FALSE(stream->Finish().ok());
  while (watch->Read(&status)) {
  }
  EXPECT_FALSE(watch->Finish().ok());
}

TEST_F(ServingTest, ForwardStreamPipelinesRequestsWithPerRequestStatus) {
  StartServer(/*delay_us=*/0);
  grpc::ClientContext context;
  auto stream = stub_->ForwardStream(&context);
  std::vector<v1::ForwardRequest> requests;
  for (uint32_t i = 0; i < 6; ++i) {
    v1::ForwardRequest request = Request(1 + i % 3, 40 + i, i % 2 == 0);
    request.set_request_id("r" + std::to_string(i));
    if (i == 4) request.mutable_input()->set_dtype(v1::DATA_TYPE_BF16);  // bad
    requests.push_back(request);
    ASSERT_TRUE(stream->Write(request));
  }
  stream->WritesDone();
  std::map<std::string, v1::ForwardResponse> by_id;
  v1::ForwardResponse response;
  while (stream->Read(&response)) by_id[response.request_id()] = response;
  ASSERT_TRUE(stream->Finish().ok());
  ASSERT_EQ(by_id.size(), requests.size());
  for (size_t i = 0; i < requests.size(); ++i) {
    const v1::ForwardResponse& r = by_id["r" + std::to_string(i)];
    if (i == 4) {
      EXPECT_EQ(r.status_code(), grpc::StatusCode::INVALID_ARGUMENT);
      EXPECT_THAT(r.status_message(), HasSubstr("input.dtype"));
      continue;
    }
    ASSERT_EQ(r.status_code(), 0) << r.status_message();
    const ActQuant mode =
        i % 2 == 0 ? ActQuant::kInt8AsymPerToken : ActQuant::kNone;
    EXPECT_EQ(r.output().data(),
              ReferenceForward(*local_, requests[i].input(), 0, 2, mode));
  }
}

}  // namespace
}  // namespace qlinear::server
