// The server in-process with real gRPC over loopback (port 0): every RPC of
// qlinear.v1.QLinear and the health service, outputs compared byte for byte
// with the same model files loaded locally, and the status codes of
// malformed requests and unknown models.
#include "server/server.h"

#include <grpcpp/grpcpp.h>
#include <stdlib.h>

#include <filesystem>
#include <fstream>
#include <limits>
#include <memory>
#include <random>
#include <string>
#include <vector>

#include "gmock/gmock.h"
#include "grpc/health/v1/health.grpc.pb.h"
#include "grpc/reflection/v1alpha/reflection.grpc.pb.h"
#include "gtest/gtest.h"
#include "model/default_model.h"
#include "model/loader.h"
#include "model/manifest.h"
#include "qlinear/v1/qlinear.grpc.pb.h"
#include "tests/testing/exposition.h"
#include "tests/testing/serving_test_util.h"
#include "tests/testing/status_matchers.h"

namespace qlinear::server {
namespace {

namespace fs = std::filesystem;
using ::qlinear::testing::IsOk;
using ::qlinear::testing::StatusIs;
using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::StartsWith;

using ::qlinear::testing::Connect;
using ::qlinear::testing::Decode;
using ::qlinear::testing::Encode;
using ::qlinear::testing::RandomTensor;
using ::qlinear::testing::ReferenceForward;
using ::qlinear::testing::ReferenceMatmul;
using ::qlinear::testing::TempDir;
using ::qlinear::testing::WriteFile;
using ::qlinear::testing::WriteModelDir;

// The server for most tests: a repository with
//   small/1, small/2 (served: the latest): fp32, int4 gs 32, 256 -> 128 -> 64,
//                                          default act_quant none;
//   intx_bf16/3: bf16, intx 4-bit gs 32, 128 -> 96 -> 32, default int8.
class ServerTest : public ::testing::Test {
 protected:
  static constexpr int64_t kMaxRows = 64;

  static void SetUpTestSuite() {
    temp_dir_ = new TempDir();
    const fs::path repo = temp_dir_->path() / "repo";

    model::SyntheticModelSpec small;
    small.widths = {256, 128, 64};
    small.group_size = 32;
    small.seed = 1;
    WriteModelDir(repo / "small" / "1", small, ActQuant::kNone);
    small.seed = 2;
    WriteModelDir(repo / "small" / "2", small, ActQuant::kNone);

    model::SyntheticModelSpec intx;
    intx.widths = {128, 96, 32};
    intx.format = WeightFormat::kIntxOpaque;
    intx.group_size = 32;
    intx.dtype = DType::kBF16;
    WriteModelDir(repo / "intx_bf16" / "3", intx, ActQuant::kInt8AsymPerToken);

    auto small_stack = model::LoadModelDir((repo / "small" / "2").string());
    ASSERT_THAT(small_stack, IsOk());
    small_ = std::move(small_stack).value().release();
    auto intx_stack = model::LoadModelDir((repo / "intx_bf16" / "3").string());
    ASSERT_THAT(intx_stack, IsOk());
    intx_ = std::move(intx_stack).value().release();

    ServerOptions options;
    options.host = "127.0.0.1";
    options.port = 0;
    options.model_repository = repo.string();
    options.max_rows_per_request = kMaxRows;
    auto server = Server::Create(options);
    ASSERT_THAT(server, IsOk());
    server_ = std::move(server).value().release();
    ASSERT_GT(server_->port(), 0);
    channel_ = new std::shared_ptr<grpc::Channel>(
        grpc::CreateChannel("127.0.0.1:" + std::to_string(server_->port()),
                            grpc::InsecureChannelCredentials()));
  }

  static void TearDownTestSuite() {
    delete channel_;
    if (server_ != nullptr) server_->Shutdown();
    delete server_;
    delete small_;
    delete intx_;
    delete temp_dir_;
  }

  void SetUp() override {
    ASSERT_NE(server_, nullptr);
    stub_ = v1::QLinear::NewStub(*channel_);
  }

  grpc::Status Forward(const v1::ForwardRequest& request,
                       v1::ForwardResponse* response) {
    grpc::ClientContext context;
    return stub_->Forward(&context, request, response);
  }
  grpc::Status Matmul(const v1::MatmulRequest& request,
                      v1::MatmulResponse* response) {
    grpc::ClientContext context;
    return stub_->Matmul(&context, request, response);
  }

  static v1::ForwardRequest SmallForward(size_t rows, uint32_t seed) {
    v1::ForwardRequest request;
    request.set_model("small");
    *request.mutable_input() = RandomTensor(DType::kF32, rows, 256, seed);
    return request;
  }

  static TempDir* temp_dir_;
  static Server* server_;
  static std::shared_ptr<grpc::Channel>* channel_;
  static model::LinearStack* small_;  // small/2, loaded locally
  static model::LinearStack* intx_;   // intx_bf16/3, loaded locally
  std::unique_ptr<v1::QLinear::Stub> stub_;
};

TempDir* ServerTest::temp_dir_ = nullptr;
Server* ServerTest::server_ = nullptr;
std::shared_ptr<grpc::Channel>* ServerTest::channel_ = nullptr;
model::LinearStack* ServerTest::small_ = nullptr;
model::LinearStack* ServerTest::intx_ = nullptr;

TEST_F(ServerTest, ForwardMatchesLocalModelInBothModes) {
  struct Mode {
    v1::ActQuant wire;
    ActQuant local;
  };
  const Mode modes[] = {
      {v1::ACT_QUANT_MODEL_DEFAULT, ActQuant::kNone},
      {v1::ACT_QUANT_NONE, ActQuant::kNone},
      {v1::ACT_QUANT_INT8_ASYM_PER_TOKEN, ActQuant::kInt8AsymPerToken}};
  for (const Mode& mode : modes) {
    SCOPED_TRACE(v1::ActQuant_Name(mode.wire));
    v1::ForwardRequest request = SmallForward(5, 11);
    request.set_act_quant(mode.wire);
    request.set_request_id("req-42");
    v1::ForwardResponse response;
    ASSERT_TRUE(Forward(request, &response).ok());
    EXPECT_EQ(response.model(), "small");
    EXPECT_EQ(response.version(), "2");
    EXPECT_EQ(response.request_id(), "req-42");
    EXPECT_FALSE(response.has_timings());
    EXPECT_EQ(response.output().dtype(), v1::DATA_TYPE_FP32);
    EXPECT_THAT(response.output().shape(), ElementsAre(5, 64));
    EXPECT_EQ(response.output().data(),
              ReferenceForward(*small_, request.input(), 0, 2, mode.local));
  }
}

TEST_F(ServerTest, ForwardOfBf16IntxModelUsesTheManifestDefaultMode) {
  v1::ForwardRequest request;
  request.set_model("intx_bf16");
  *request.mutable_input() = RandomTensor(DType::kBF16, 3, 128, 12);
  v1::ForwardResponse response;
  ASSERT_TRUE(Forward(request, &response).ok());
  EXPECT_EQ(response.version(), "3");
  EXPECT_EQ(response.output().dtype(), v1::DATA_TYPE_BF16);
  EXPECT_THAT(response.output().shape(), ElementsAre(3, 32));
  const std::string int8 = ReferenceForward(*intx_, request.input(), 0, 2,
                                            ActQuant::kInt8AsymPerToken);
  EXPECT_EQ(response.output().data(), int8);

  request.set_act_quant(v1::ACT_QUANT_NONE);
  ASSERT_TRUE(Forward(request, &response).ok());
  const std::string none =
      ReferenceForward(*intx_, request.input(), 0, 2, ActQuant::kNone);
  EXPECT_EQ(response.output().data(), none);
  EXPECT_NE(none, int8);  // the two modes really differ
}

TEST_F(ServerTest, ForwardOfALayerRange) {
  v1::ForwardRequest request;
  request.set_model("small");
  request.set_layer_start(1);
  request.set_layer_end(2);
  request.set_act_quant(v1::ACT_QUANT_INT8_ASYM_PER_TOKEN);
  *request.mutable_input() = RandomTensor(DType::kF32, 4, 128, 13);
  v1::ForwardResponse response;
  ASSERT_TRUE(Forward(request, &response).ok());
  EXPECT_THAT(response.output().shape(), ElementsAre(4, 64));
  EXPECT_EQ(response.output().data(),
            ReferenceForward(*small_, request.input(), 1, 2,
                             ActQuant::kInt8AsymPerToken));

  // Only the first layer: output [M, 128].
  request.clear_layer_start();
  request.set_layer_end(1);
  *request.mutable_input() = RandomTensor(DType::kF32, 2, 256, 14);
  ASSERT_TRUE(Forward(request, &response).ok());
  EXPECT_THAT(response.output().shape(), ElementsAre(2, 128));
  EXPECT_EQ(response.output().data(),
            ReferenceForward(*small_, request.input(), 0, 1,
                             ActQuant::kInt8AsymPerToken));
}

TEST_F(ServerTest, MatmulMatchesLocalModelInBothModes) {
  for (ActQuant mode : {ActQuant::kNone, ActQuant::kInt8AsymPerToken}) {
    v1::MatmulRequest request;
    request.set_model("small");
    request.set_layer("fc2");
    request.set_act_quant(mode == ActQuant::kNone
                              ? v1::ACT_QUANT_NONE
                              : v1::ACT_QUANT_INT8_ASYM_PER_TOKEN);
    request.set_request_id("m");
    *request.mutable_input() = RandomTensor(DType::kF32, 3, 128, 15);
    v1::MatmulResponse response;
    ASSERT_TRUE(Matmul(request, &response).ok());
    EXPECT_EQ(response.request_id(), "m");
    EXPECT_THAT(response.output().shape(), ElementsAre(3, 64));
    EXPECT_EQ(response.output().data(),
              ReferenceMatmul(*small_, request.input(), 1, mode));
  }
  // bf16 intx, first layer (whose activation function Matmul skips).
  v1::MatmulRequest request;
  request.set_model("intx_bf16");
  request.set_layer("fc1");
  *request.mutable_input() = RandomTensor(DType::kBF16, 2, 128, 16);
  v1::MatmulResponse response;
  ASSERT_TRUE(Matmul(request, &response).ok());
  EXPECT_THAT(response.output().shape(), ElementsAre(2, 96));
  EXPECT_EQ(
      response.output().data(),
      ReferenceMatmul(*intx_, request.input(), 0, ActQuant::kInt8AsymPerToken));
}

TEST_F(ServerTest, TimingsAreReturnedWhenAsked) {
  v1::ForwardRequest request = SmallForward(3, 17);
  request.set_return_timings(true);
  v1::ForwardResponse response;
  ASSERT_TRUE(Forward(request, &response).ok());
  ASSERT_TRUE(response.has_timings());
  const v1::Timings& t = response.timings();
  EXPECT_GT(t.total_seconds(), 0.0);
  EXPECT_EQ(t.batch_rows(), 3);
  ASSERT_EQ(t.layers_size(), 2);
  EXPECT_EQ(t.layers(0).layer(), "fc1");
  EXPECT_EQ(t.layers(1).layer(), "fc2");
  EXPECT_EQ(t.layers(0).kernel(),
            small_->layer(0).kernel_name(ActQuant::kNone));
  EXPECT_GE(t.layers(0).kernel_seconds(), 0.0);
  EXPECT_LE(t.layers(0).kernel_seconds() + t.layers(1).kernel_seconds(),
            t.total_seconds());

  v1::MatmulRequest matmul;
  matmul.set_model("small");
  matmul.set_layer("fc1");
  matmul.set_return_timings(true);
  *matmul.mutable_input() = request.input();
  v1::MatmulResponse matmul_response;
  ASSERT_TRUE(Matmul(matmul, &matmul_response).ok());
  ASSERT_EQ(matmul_response.timings().layers_size(), 1);
  EXPECT_EQ(matmul_response.timings().layers(0).layer(), "fc1");
}

TEST_F(ServerTest, ActQuantQualityIsReturnedWhenAsked) {
  v1::ForwardRequest request = SmallForward(3, 19);
  request.set_act_quant(v1::ACT_QUANT_INT8_ASYM_PER_TOKEN);
  request.set_return_act_quant_quality(true);
  v1::ForwardResponse response;
  ASSERT_TRUE(Forward(request, &response).ok());
  // The output is the request's own, unchanged by the check.
  EXPECT_EQ(response.output().data(),
            ReferenceForward(*small_, request.input(), 0, 2,
                             ActQuant::kInt8AsymPerToken));
  QualityInput local;
  local.begin = 0;
  local.end = 2;
  local.rows = 3;
  local.input = Decode(DType::kF32, request.input());
  auto expected = CompareActQuant(*small_, local, nullptr);
  ASSERT_THAT(expected, IsOk());
  ASSERT_EQ(response.act_quant_quality_size(), 2);
  for (int i = 0; i < 2; ++i) {
    SCOPED_TRACE(i);
    const v1::LayerActQuantQuality& got = response.act_quant_quality(i);
    const LayerQuality& want = (*expected)[i];
    EXPECT_EQ(got.layer(), small_->layer_spec(want.layer).name);
    EXPECT_EQ(got.sqnr_db(), want.all.sqnr_db);
    EXPECT_GT(got.sqnr_db(), 10.0);
    EXPECT_EQ(got.rel_max_error(), want.all.rel_max_error);
    EXPECT_EQ(got.outlier_ratio(), want.all.outlier_ratio);
    ASSERT_EQ(got.row_sqnr_db_size(), 3);
    for (int r = 0; r < 3; ++r)
      EXPECT_EQ(got.row_sqnr_db(r), want.rows[r].sqnr_db);
  }

  // A none-mode request compares on its own (none) layer inputs.
  request.set_act_quant(v1::ACT_QUANT_NONE);
  ASSERT_TRUE(Forward(request, &response).ok());
  local.chain = ActQuant::kNone;
  expected = CompareActQuant(*small_, local, nullptr);
  ASSERT_THAT(expected, IsOk());
  ASSERT_EQ(response.act_quant_quality_size(), 2);
  EXPECT_EQ(response.act_quant_quality(1).sqnr_db(),
            (*expected)[1].all.sqnr_db);

  // Matmul: its one layer, without the activation function.
  v1::MatmulRequest matmul;
  matmul.set_model("small");
  matmul.set_layer("fc2");
  matmul.set_act_quant(v1::ACT_QUANT_INT8_ASYM_PER_TOKEN);
  matmul.set_return_act_quant_quality(true);
  *matmul.mutable_input() = RandomTensor(DType::kF32, 2, 128, 20);
  v1::MatmulResponse matmul_response;
  ASSERT_TRUE(Matmul(matmul, &matmul_response).ok());
  local.begin = 1;
  local.end = 2;
  local.rows = 2;
  local.apply_activation = false;
  local.chain = ActQuant::kInt8AsymPerToken;
  local.input = Decode(DType::kF32, matmul.input());
  expected = CompareActQuant(*small_, local, nullptr);
  ASSERT_THAT(expected, IsOk());
  ASSERT_EQ(matmul_response.act_quant_quality_size(), 1);
  EXPECT_EQ(matmul_response.act_quant_quality(0).layer(), "fc2");
  EXPECT_EQ(matmul_response.act_quant_quality(0).sqnr_db(),
            (*expected)[0].all.sqnr_db);

  // Not asked: none.
  request.set_return_act_quant_quality(false);
  v1::ForwardResponse plain;
  ASSERT_TRUE(Forward(request, &plain).ok());
  EXPECT_EQ(plain.act_quant_quality_size(), 0);
}

TEST_F(ServerTest, MalformedRequestsAreInvalidArgumentNamingTheField) {
  struct Case {
    const char* name;
    v1::ForwardRequest request;
    const char* message_prefix;
  };
  std::vector<Case> cases;
  {
    v1::ForwardRequest r = SmallForward(2, 1);
    *r.mutable_input() = RandomTensor(DType::kF32, 2, 512, 1);
    cases.push_back(
        {"shape", r, "input.shape: expected [M, 256], got [2, 512]"});
  }
  {
    v1::ForwardRequest r = SmallForward(2, 1);
    *r.mutable_input() = RandomTensor(DType::kBF16, 2, 256, 1);
    cases.push_back(
        {"dtype", r, "input.dtype: BF16 does not match the model dtype fp32"});
  }
  {
    v1::ForwardRequest r = SmallForward(1, 1);
    r.mutable_input()->mutable_data()->resize(100);
    cases.push_back(
        {"bytes", r,
         "input.data: 100 bytes, expected 1024 for shape [1, 256] x fp32"});
  }
  {
    v1::ForwardRequest r = SmallForward(2, 1);
    StoreFromFloat(DType::kF32, std::numeric_limits<float>::quiet_NaN(),
                   r.mutable_input()->mutable_data()->data(), 5);
    cases.push_back({"nan", r, "input.data: element 5 is not finite"});
  }
  {
    v1::ForwardRequest r = SmallForward(2, 1);
    r.set_layer_start(1);
    r.set_layer_end(1);
    cases.push_back(
        {"range", r, "layer_start: 1 must be less than layer_end 1"});
  }
  {
    v1::ForwardRequest r = SmallForward(2, 1);
    r.set_layer_end(3);
    cases.push_back({"range_end", r, "layer_end: 3 is out of range"});
  }
  {
    v1::ForwardRequest r = SmallForward(kMaxRows + 1, 1);
    cases.push_back(
        {"rows", r,
         "input.shape: 65 rows exceed the limit of 64 rows per request"});
  }
  {
    v1::ForwardRequest r = SmallForward(1, 1);
    r.set_act_quant(static_cast<v1::ActQuant>(5));
    cases.push_back({"act_quant", r, "act_quant: unknown value 5"});
  }
  {
    v1::ForwardRequest r = SmallForward(1, 1);
    r.clear_input();
    cases.push_back({"no_input", r, "input: required"});
  }
  for (const Case& c : cases) {
    SCOPED_TRACE(c.name);
    v1::ForwardResponse response;
    const grpc::Status status = Forward(c.request, &response);
    EXPECT_EQ(status.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
    EXPECT_THAT(status.error_message(), StartsWith(c.message_prefix));
  }

  v1::MatmulRequest matmul;
  matmul.set_model("small");
  matmul.set_layer("fc9");
  *matmul.mutable_input() = RandomTensor(DType::kF32, 1, 256, 1);
  v1::MatmulResponse response;
  const grpc::Status status = Matmul(matmul, &response);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_EQ(status.error_message(), "layer: model 'small' has no layer 'fc9'");
}

TEST_F(ServerTest, UnknownModelOrVersionIsNotFound) {
  v1::ForwardRequest request = SmallForward(1, 2);
  request.set_model("nope");
  v1::ForwardResponse response;
  grpc::Status status = Forward(request, &response);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::NOT_FOUND);
  EXPECT_EQ(status.error_message(), "model 'nope' not found");

  // Only the latest version (2) of "small" is loaded.
  request.set_model("small");
  request.set_version("1");
  status = Forward(request, &response);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::NOT_FOUND);
  EXPECT_EQ(status.error_message(), "model 'small' has no version '1'");

  request.set_version("2");
  EXPECT_TRUE(Forward(request, &response).ok());

  v1::MatmulRequest matmul;
  matmul.set_model("nope");
  matmul.set_layer("fc1");
  v1::MatmulResponse matmul_response;
  EXPECT_EQ(Matmul(matmul, &matmul_response).error_code(),
            grpc::StatusCode::NOT_FOUND);

  grpc::ClientContext context;
  v1::GetModelRequest get;
  get.set_model("small");
  get.set_version("7");
  v1::GetModelResponse get_response;
  status = stub_->GetModel(&context, get, &get_response);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::NOT_FOUND);
  EXPECT_EQ(status.error_message(), "model 'small' has no version '7'");
}

TEST_F(ServerTest, HealthIsServing) {
  auto health = grpc::health::v1::Health::NewStub(*channel_);
  for (const char* service : {"", "qlinear.v1.QLinear"}) {
    SCOPED_TRACE(service);
    grpc::ClientContext context;
    grpc::health::v1::HealthCheckRequest request;
    request.set_service(service);
    grpc::health::v1::HealthCheckResponse response;
    ASSERT_TRUE(health->Check(&context, request, &response).ok());
    EXPECT_EQ(response.status(),
              grpc::health::v1::HealthCheckResponse::SERVING);
  }
}

TEST_F(ServerTest, ReflectionListsTheServices) {
  auto reflection =
      grpc::reflection::v1alpha::ServerReflection::NewStub(*channel_);
  grpc::ClientContext context;
  auto stream = reflection->ServerReflectionInfo(&context);
  grpc::reflection::v1alpha::ServerReflectionRequest request;
  request.set_list_services("");
  ASSERT_TRUE(stream->Write(request));
  stream->WritesDone();
  std::vector<std::string> services;
  grpc::reflection::v1alpha::ServerReflectionResponse response;
  while (stream->Read(&response)) {
    for (const auto& service : response.list_services_response().service()) {
      services.push_back(service.name());
    }
  }
  ASSERT_TRUE(stream->Finish().ok());
  EXPECT_THAT(
      services,
      ::testing::UnorderedElementsAre(
          "qlinear.v1.QLinear", "inference.GRPCInferenceService",
          "grpc.health.v1.Health", "grpc.reflection.v1alpha.ServerReflection"));
}

TEST_F(ServerTest, ListModelsShowsTheLatestVersionOfEachModel) {
  grpc::ClientContext context;
  v1::ListModelsResponse response;
  ASSERT_TRUE(
      stub_->ListModels(&context, v1::ListModelsRequest(), &response).ok());
  ASSERT_EQ(response.models_size(), 2);
  EXPECT_EQ(response.models(0).name(), "intx_bf16");
  EXPECT_EQ(response.models(0).version(), "3");
  EXPECT_TRUE(response.models(0).ready());
  EXPECT_EQ(response.models(1).name(), "small");
  EXPECT_EQ(response.models(1).version(), "2");
  EXPECT_TRUE(response.models(1).ready());
}

TEST_F(ServerTest, GetModelDescribesLayers) {
  grpc::ClientContext context;
  v1::GetModelRequest request;
  request.set_model("small");
  v1::GetModelResponse response;
  ASSERT_TRUE(stub_->GetModel(&context, request, &response).ok());
  EXPECT_EQ(response.name(), "small");
  EXPECT_EQ(response.version(), "2");
  EXPECT_EQ(response.dtype(), v1::DATA_TYPE_FP32);
  EXPECT_EQ(response.default_act_quant(), v1::ACT_QUANT_NONE);
  EXPECT_EQ(response.packed_bytes(), small_->packed_bytes());
  EXPECT_EQ(response.held_bytes(), small_->held_bytes());
  EXPECT_GT(response.held_bytes(), response.packed_bytes());
  EXPECT_LT(response.held_bytes(), response.packed_bytes() + 8192);
  ASSERT_EQ(response.layers_size(), 2);
  const v1::LayerInfo& fc1 = response.layers(0);
  EXPECT_EQ(fc1.name(), "fc1");
  EXPECT_EQ(fc1.in_features(), 256u);
  EXPECT_EQ(fc1.out_features(), 128u);
  EXPECT_EQ(fc1.format(), "int4_opaque");
  EXPECT_EQ(fc1.group_size(), 32u);
  EXPECT_EQ(fc1.bits(), 4u);
  EXPECT_EQ(fc1.mapping(), "");
  EXPECT_TRUE(fc1.bias());
  EXPECT_EQ(fc1.activation(), "silu");
  EXPECT_EQ(fc1.kernel(), small_->layer(0).kernel_name(ActQuant::kNone));
  EXPECT_EQ(fc1.kernel_none(), small_->layer(0).kernel_name(ActQuant::kNone));
  EXPECT_EQ(fc1.kernel_int8_asym_per_token(),
            small_->layer(0).kernel_name(ActQuant::kInt8AsymPerToken));
  EXPECT_NE(fc1.kernel_none(), fc1.kernel_int8_asym_per_token());
  EXPECT_EQ(fc1.packed_bytes(), small_->layer(0).packed_bytes());
  EXPECT_EQ(fc1.held_bytes(), small_->layer(0).held_bytes());
  EXPECT_EQ(response.layers(1).out_features(), 64u);
  EXPECT_EQ(response.layers(1).activation(), "none");

  grpc::ClientContext intx_context;
  request.set_model("intx_bf16");
  ASSERT_TRUE(stub_->GetModel(&intx_context, request, &response).ok());
  EXPECT_EQ(response.dtype(), v1::DATA_TYPE_BF16);
  EXPECT_EQ(response.default_act_quant(), v1::ACT_QUANT_INT8_ASYM_PER_TOKEN);
  ASSERT_EQ(response.layers_size(), 2);
  EXPECT_EQ(response.layers(0).format(), "intx_opaque");
  EXPECT_EQ(response.layers(0).bits(), 4u);
  EXPECT_EQ(response.layers(0).mapping(), "symmetric");
}

TEST(ServerStartupTest, ServesTheDefaultModelWithoutARepository) {
  ServerOptions options;
  options.host = "127.0.0.1";
  options.port = 0;
  auto server = Server::Create(options);
  ASSERT_THAT(server, IsOk());
  auto stub = Connect((*server)->port());

  grpc::ClientContext list_context;
  v1::ListModelsResponse list;
  ASSERT_TRUE(
      stub->ListModels(&list_context, v1::ListModelsRequest(), &list).ok());
  ASSERT_EQ(list.models_size(), 1);
  EXPECT_EQ(list.models(0).name(), model::kDefaultModelName);
  EXPECT_EQ(list.models(0).version(), "1");

  auto reference = model::BuildDefaultModel();
  ASSERT_THAT(reference, IsOk());
  v1::ForwardRequest request;
  request.set_model(model::kDefaultModelName);
  *request.mutable_input() = RandomTensor(DType::kF32, 1, 1024, 21);
  v1::ForwardResponse response;
  grpc::ClientContext context;
  ASSERT_TRUE(stub->Forward(&context, request, &response).ok());
  EXPECT_THAT(response.output().shape(), ElementsAre(1, 1024));
  EXPECT_EQ(
      response.output().data(),
      ReferenceForward(**reference, request.input(), 0, 4, ActQuant::kNone));
  (*server)->Shutdown();
}

// The quality sampler end to end: at --quality-sample-rate 1 every int8
// request of "sampled" is compared after its answer and recorded; none-mode
// requests are not; "off" sets quality_sample_rate 0 in its manifest.
TEST(QualitySamplingTest, SamplesInt8RequestsAtTheServerOrManifestRate) {
  TempDir temp;
  const fs::path repo = temp.path() / "repo";
  model::SyntheticModelSpec spec;
  spec.widths = {256, 128, 64};
  spec.group_size = 32;
  WriteModelDir(repo / "sampled" / "1", spec, ActQuant::kNone);
  model::SyntheticModelFiles off = model::MakeSyntheticModelFiles(spec);
  off.manifest.quality_sample_rate = 0.0;
  WriteFile(repo / "off" / "1" / "model.json",
            model::ManifestToJson(off.manifest));
  WriteFile(repo / "off" / "1" / "model.safetensors", off.safetensors);
  auto local = model::LoadModelDir((repo / "sampled" / "1").string());
  ASSERT_THAT(local, IsOk());

  ServerOptions options;
  options.host = "127.0.0.1";
  options.port = 0;
  options.model_repository = repo.string();
  options.quality_sample_rate = 1.0;
  auto server = Server::Create(options);
  ASSERT_THAT(server, IsOk());
  auto stub = Connect((*server)->port());
  auto forward = [&](const std::string& model, v1::ActQuant mode,
                     uint32_t seed) {
    v1::ForwardRequest request;
    request.set_model(model);
    request.set_act_quant(mode);
    *request.mutable_input() = RandomTensor(DType::kF32, 2, 256, seed);
    v1::ForwardResponse response;
    grpc::ClientContext context;
    EXPECT_TRUE(stub->Forward(&context, request, &response).ok());
    return request;
  };
  // One at a time, each compared before the next, so none is dropped.
  std::vector<v1::ForwardRequest> sampled;
  sampled.push_back(forward("sampled", v1::ACT_QUANT_INT8_ASYM_PER_TOKEN, 40));
  ASSERT_TRUE((*server)->WaitForQualitySamples(1, absl::Seconds(60)));
  forward("sampled", v1::ACT_QUANT_NONE, 41);
  forward("off", v1::ACT_QUANT_INT8_ASYM_PER_TOKEN, 42);
  sampled.push_back(forward("sampled", v1::ACT_QUANT_INT8_ASYM_PER_TOKEN, 43));
  ASSERT_TRUE((*server)->WaitForQualitySamples(2, absl::Seconds(60)));

  const std::string text = (*server)->metrics().Scrape();
  auto value = [&text](const std::string& series) {
    return ::qlinear::testing::ExpositionValue(text, series);
  };
  EXPECT_EQ(value("qlinear_quality_samples_total{model=\"sampled\"}"), 2);
  EXPECT_EQ(value("qlinear_quality_samples_dropped_total{model=\"sampled\"}"),
            0);
  EXPECT_EQ(value("qlinear_quality_samples_total{model=\"off\"}"), 0);
  EXPECT_EQ(value("qlinear_quality_samples_dropped_total{model=\"off\"}"), 0);
  // Two requests of two rows per layer, with the figures of a local
  // comparison of the same inputs.
  double fc2_sum = 0;
  for (const v1::ForwardRequest& request : sampled) {
    QualityInput input;
    input.begin = 0;
    input.end = 2;
    input.rows = 2;
    input.input = Decode(DType::kF32, request.input());
    auto layers = CompareActQuant(**local, input, nullptr);
    ASSERT_THAT(layers, IsOk());
    for (const RowQuality& row : (*layers)[1].rows) fc2_sum += row.sqnr_db;
  }
  EXPECT_EQ(
      value("qlinear_act_quant_sqnr_db_count{layer=\"fc1\",model=\"sampled\"}"),
      4);
  EXPECT_NEAR(
      value("qlinear_act_quant_sqnr_db_sum{layer=\"fc2\",model=\"sampled\"}"),
      fc2_sum, 0.01);
  EXPECT_EQ(value("qlinear_act_quant_outlier_ratio_count{layer=\"fc2\",model="
                  "\"sampled\"}"),
            4);
  EXPECT_EQ(
      value("qlinear_act_quant_sqnr_db_count{layer=\"fc1\",model=\"off\"}"), 0);
  (*server)->Shutdown();
}

TEST(ServerStartupTest, FailsWithTheModelNamedWhenALoadFails) {
  TempDir temp;
  const fs::path repo = temp.path() / "repo";
  model::SyntheticModelSpec spec;
  spec.widths = {64, 32};
  spec.group_size = 32;
  WriteModelDir(repo / "good" / "1", spec, ActQuant::kNone);
  WriteFile(repo / "broken" / "4" / "model.json", "{");
  WriteFile(repo / "broken" / "4" / "model.safetensors", "");
  ServerOptions options;
  options.host = "127.0.0.1";
  options.port = 0;
  options.model_repository = repo.string();
  EXPECT_THAT(
      Server::Create(options),
      StatusIs(absl::StatusCode::kInvalidArgument,
               HasSubstr("loading model 'broken' version 4: model.json: ")));
}

TEST(ServerStartupTest, FailsForAMissingRepository) {
  TempDir temp;
  ServerOptions options;
  options.host = "127.0.0.1";
  options.port = 0;
  options.model_repository = (temp.path() / "absent").string();
  EXPECT_THAT(Server::Create(options),
              StatusIs(absl::StatusCode::kNotFound, ::testing::_));
}

TEST(ServerStartupTest, RejectsBadOptionsByName) {
  ServerOptions options;
  options.port = 70000;
  EXPECT_THAT(
      Server::Create(options),
      StatusIs(absl::StatusCode::kInvalidArgument, StartsWith("port: 70000")));
  options.port = 0;
  options.max_rows_per_request = 0;
  EXPECT_THAT(Server::Create(options),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       StartsWith("max_rows_per_request: 0")));
  options.max_rows_per_request = 4096;
  options.quality_sample_rate = 1.5;
  EXPECT_THAT(Server::Create(options),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       StartsWith("quality_sample_rate: 1.5 is not in 0..1")));
}

}  // namespace
}  // namespace qlinear::server
