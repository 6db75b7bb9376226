// The max receive message size over real gRPC on loopback: an explicit
// limit (--max-message-bytes) refuses larger requests on every inference
// RPC with RESOURCE_EXHAUSTED and the server keeps serving; the derived
// default follows the models loaded at start; and a wider model loaded later
// serves the rows that fit the limit fixed at start.
#include <grpcpp/grpcpp.h>

#include <chrono>
#include <climits>
#include <cstdint>
#include <memory>
#include <string>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "inference/grpc_service.grpc.pb.h"
#include "model/loader.h"
#include "server/server.h"
#include "tests/testing/serving_test_util.h"
#include "tests/testing/status_matchers.h"

namespace qlinear::server {
namespace {

using ::qlinear::testing::Connect;
using ::qlinear::testing::IsOk;
using ::qlinear::testing::RandomTensor;
using ::qlinear::testing::ReferenceForward;
using ::qlinear::testing::StatusIs;
using ::qlinear::testing::TempDir;
using ::qlinear::testing::WriteModelDir;
using ::testing::HasSubstr;
using ::testing::StartsWith;

// gRPC's own message for a request over the receive limit.
constexpr char kTooLarge[] = "Received message larger than max";

model::SyntheticModelSpec Spec(std::vector<size_t> widths, uint64_t seed) {
  model::SyntheticModelSpec spec;
  spec.widths = std::move(widths);
  spec.group_size = 32;
  spec.seed = seed;
  return spec;
}

ServerOptions Options(const TempDir& dir) {
  ServerOptions options;
  options.host = "127.0.0.1";
  options.port = 0;
  options.model_repository = dir.path().string();
  options.threads = 2;
  return options;
}

grpc::Status Forward(v1::QLinear::Stub* stub, const std::string& model,
                     const v1::Tensor& input, v1::ForwardResponse* response) {
  grpc::ClientContext context;
  context.set_deadline(std::chrono::system_clock::now() +
                       std::chrono::seconds(30));
  v1::ForwardRequest request;
  request.set_model(model);
  *request.mutable_input() = input;
  return stub->Forward(&context, request, response);
}

// fp32 rows of 128 values: 512 bytes each.
constexpr size_t kWidth = 128;
constexpr int64_t kLimit = 128 << 10;
constexpr size_t kRowsOver = 512;   // 256 KiB
constexpr size_t kRowsUnder = 200;  // 100 KiB

TEST(MessageLimitTest, ExplicitLimitRefusesLargerRequestsAndKeepsServing) {
  TempDir dir;
  WriteModelDir(dir.path() / "a" / "1", Spec({kWidth, 64, 32}, 1),
                ActQuant::kNone);
  auto local = model::LoadModelDir((dir.path() / "a" / "1").string());
  ASSERT_THAT(local, IsOk());
  ServerOptions options = Options(dir);
  options.max_message_bytes = kLimit;
  auto server = Server::Create(options);
  ASSERT_THAT(server, IsOk());
  EXPECT_EQ((*server)->max_message_bytes(), kLimit);
  auto channel =
      grpc::CreateChannel("127.0.0.1:" + std::to_string((*server)->port()),
                          grpc::InsecureChannelCredentials());
  auto stub = v1::QLinear::NewStub(channel);
  auto kserve = inference::GRPCInferenceService::NewStub(channel);
  const v1::Tensor big = RandomTensor(DType::kF32, kRowsOver, kWidth, 1);
  ASSERT_GT(static_cast<int64_t>(big.data().size()), kLimit);

  v1::ForwardResponse response;
  grpc::Status s = Forward(stub.get(), "a", big, &response);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::RESOURCE_EXHAUSTED);
  EXPECT_THAT(s.error_message(), HasSubstr(kTooLarge));

  {
    grpc::ClientContext context;
    v1::MatmulRequest request;
    request.set_model("a");
    request.set_layer("fc1");
    *request.mutable_input() = big;
    v1::MatmulResponse matmul;
    s = stub->Matmul(&context, request, &matmul);
    EXPECT_EQ(s.error_code(), grpc::StatusCode::RESOURCE_EXHAUSTED);
    EXPECT_THAT(s.error_message(), HasSubstr(kTooLarge));
  }
  {
    grpc::ClientContext context;
    inference::ModelInferRequest request;
    request.set_model_name("a");
    auto* input = request.add_inputs();
    input->set_name("input");
    input->set_datatype("FP32");
    input->add_shape(kRowsOver);
    input->add_shape(kWidth);
    request.add_raw_input_contents(big.data());
    inference::ModelInferResponse infer;
    s = kserve->ModelInfer(&context, request, &infer);
    EXPECT_EQ(s.error_code(), grpc::StatusCode::RESOURCE_EXHAUSTED);
    EXPECT_THAT(s.error_message(), HasSubstr(kTooLarge));
  }
  {
    // A stream that carries one is ended with the same status.
    grpc::ClientContext context;
    context.set_deadline(std::chrono::system_clock::now() +
                         std::chrono::seconds(30));
    auto stream = stub->ForwardStream(&context);
    v1::ForwardRequest request;
    request.set_model("a");
    *request.mutable_input() = big;
    stream->Write(request);
    stream->WritesDone();
    v1::ForwardResponse streamed;
    while (stream->Read(&streamed)) {
    }
    s = stream->Finish();
    EXPECT_EQ(s.error_code(), grpc::StatusCode::RESOURCE_EXHAUSTED);
    EXPECT_THAT(s.error_message(), HasSubstr(kTooLarge));
  }

  // The server keeps serving, on the same channel, up to the limit.
  const v1::Tensor fits = RandomTensor(DType::kF32, kRowsUnder, kWidth, 2);
  ASSERT_LT(static_cast<int64_t>(fits.data().size()), kLimit);
  s = Forward(stub.get(), "a", fits, &response);
  ASSERT_TRUE(s.ok()) << s.error_message();
  EXPECT_EQ(response.output().data(),
            ReferenceForward(**local, fits, 0, 2, ActQuant::kNone));
  // Refused calls never reached a handler, so no counter saw them.
  const ModelStatsSnapshot stats =
      (*server)->stats().Find("a", "1")->Snapshot();
  EXPECT_EQ(stats.success.count, 1u);
  EXPECT_EQ(stats.fail.count, 0u);
}

TEST(MessageLimitTest, DerivedFromTheWidestInputOfTheModelsLoadedAtStart) {
  TempDir dir;
  // Widest input 2048 fp32 values (8 KiB a row), in the middle layer.
  WriteModelDir(dir.path() / "a" / "1", Spec({512, 2048, 32}, 1),
                ActQuant::kNone);
  WriteModelDir(dir.path() / "b" / "1", Spec({kWidth, 32}, 2), ActQuant::kNone);
  ServerOptions options = Options(dir);
  {
    auto server = Server::Create(options);
    ASSERT_THAT(server, IsOk());
    EXPECT_EQ((*server)->max_message_bytes(), 4096 * 8192 + (64 << 10));
  }
  {
    // Never below gRPC's default of 4 MiB, so later loads have room.
    options.max_rows_per_request = 16;
    auto server = Server::Create(options);
    ASSERT_THAT(server, IsOk());
    EXPECT_EQ((*server)->max_message_bytes(), 4 << 20);
  }
  {
    // Capped at gRPC's int limit.
    options.max_rows_per_request = int64_t{1} << 24;
    auto server = Server::Create(options);
    ASSERT_THAT(server, IsOk());
    EXPECT_EQ((*server)->max_message_bytes(), INT_MAX);
  }
}

TEST(MessageLimitTest, RejectsAnOutOfRangeLimitByName) {
  TempDir dir;
  ServerOptions options = Options(dir);
  for (int64_t bad : {int64_t{-1}, int64_t{1000}, int64_t{INT_MAX} + 1}) {
    options.max_message_bytes = bad;
    EXPECT_THAT(Server::Create(options),
                StatusIs(absl::StatusCode::kInvalidArgument,
                         StartsWith("max_message_bytes: ")));
  }
}

TEST(MessageLimitTest, AWiderModelLoadedLaterServesTheRowsThatFit) {
  TempDir dir;
  WriteModelDir(dir.path() / "a" / "1", Spec({kWidth, 32}, 1), ActQuant::kNone);
  auto server = Server::Create(Options(dir));
  ASSERT_THAT(server, IsOk());
  ASSERT_EQ((*server)->max_message_bytes(), 4 << 20);
  auto stub = Connect((*server)->port());

  // 8192 fp32 values a row (32 KiB): 4096 rows would need 128 MiB, but the
  // limit was fixed at start, and (4 MiB - 64 KiB) / 32 KiB = 126 rows fit.
  constexpr size_t kWide = 8192;
  WriteModelDir(dir.path() / "wide" / "1", Spec({kWide, 16}, 3),
                ActQuant::kNone);
  {
    grpc::ClientContext context;
    v1::LoadModelRequest request;
    request.set_model("wide");
    v1::LoadModelResponse loaded;
    const grpc::Status s = stub->LoadModel(&context, request, &loaded);
    ASSERT_TRUE(s.ok()) << s.error_message();
  }
  v1::ForwardResponse response;
  grpc::Status s = Forward(stub.get(), "wide",
                           RandomTensor(DType::kF32, 126, kWide, 4), &response);
  EXPECT_TRUE(s.ok()) << s.error_message();
  s = Forward(stub.get(), "wide", RandomTensor(DType::kF32, 130, kWide, 5),
              &response);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::RESOURCE_EXHAUSTED);
  EXPECT_THAT(s.error_message(), HasSubstr(kTooLarge));
  s = Forward(stub.get(), "wide", RandomTensor(DType::kF32, 1, kWide, 6),
              &response);
  EXPECT_TRUE(s.ok()) << s.error_message();
}

}  // namespace
}  // namespace qlinear::server
