// inference.GRPCInferenceService (KServe v2 / Open Inference Protocol plus
// Triton's extensions) over real gRPC on loopback: every RPC, ModelInfer with
// raw and typed contents on FP32, BF16 and FP16 models compared bitwise with
// the native Forward, every validation rule answering INVALID_ARGUMENT with
// the rule named, and the statistics: request counts, batch sizes, and no
// compute (or fewer layers) for deadlined and cancelled requests.
#include <grpcpp/grpcpp.h>

#include <chrono>
#include <cstring>
#include <functional>
#include <limits>
#include <map>
#include <memory>
#include <string>
#include <tuple>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/synchronization/notification.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "inference/grpc_service.grpc.pb.h"
#include "model/loader.h"
#include "server/server.h"
#include "tests/testing/serving_test_util.h"

namespace qlinear::server {
namespace {

namespace fs = std::filesystem;
using ::inference::GRPCInferenceService;
using ::inference::ModelInferRequest;
using ::inference::ModelInferResponse;
using ::qlinear::testing::Decode;
using ::qlinear::testing::RandomTensor;
using ::qlinear::testing::TempDir;
using ::qlinear::testing::WriteModelDir;
using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::UnorderedElementsAre;

// Layers of the model that the cancellation test interrupts.
constexpr int kDeepLayers = 24;
constexpr size_t kDeepWidth = 1024;

model::SyntheticModelSpec Spec(std::vector<size_t> widths, DType dtype,
                               uint64_t seed) {
  model::SyntheticModelSpec spec;
  spec.widths = std::move(widths);
  spec.group_size = 32;
  spec.dtype = dtype;
  spec.seed = seed;
  return spec;
}

// One server for the suite, with a repository of:
//   fp32/1: fp32, int4 gs 32, 256 -> 128 -> 64, default act_quant none;
//   bf16/1: bf16, 128 -> 96 -> 32, default int8_asym_per_token;
//   fp16/1: fp16, 64 -> 64 -> 32;
//   stats/1, swap/1: as fp32 (their counters and state are the tests' own);
//   delayed/1: as fp32, its queue waits up to 5 s to fill 64 rows;
//   deep/1: fp32, kDeepLayers layers of kDeepWidth.
class KServeTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    temp_dir_ = new TempDir();
    const fs::path repo = temp_dir_->path() / "repo";
    WriteModelDir(repo / "fp32" / "1", Spec({256, 128, 64}, DType::kF32, 1),
                  ActQuant::kNone);
    WriteModelDir(repo / "bf16" / "1", Spec({128, 96, 32}, DType::kBF16, 2),
                  ActQuant::kInt8AsymPerToken);
    WriteModelDir(repo / "fp16" / "1", Spec({64, 64, 32}, DType::kF16, 3),
                  ActQuant::kNone);
    WriteModelDir(repo / "stats" / "1", Spec({256, 128, 64}, DType::kF32, 4),
                  ActQuant::kNone);
    WriteModelDir(repo / "swap" / "1", Spec({256, 128, 64}, DType::kF32, 5),
                  ActQuant::kNone);
    {
      model::SyntheticModelFiles files =
          model::MakeSyntheticModelFiles(Spec({256, 128, 64}, DType::kF32, 6));
      files.manifest.batching.max_batch_rows = 64;
      files.manifest.batching.max_queue_delay_us = 5'000'000;
      const fs::path dir = repo / "delayed" / "1";
      ::qlinear::testing::WriteFile(dir / "model.json",
                                    model::ManifestToJson(files.manifest));
      ::qlinear::testing::WriteFile(dir / "model.safetensors",
                                    files.safetensors);
    }
    WriteModelDir(
        repo / "deep" / "1",
        Spec(std::vector<size_t>(kDeepLayers + 1, kDeepWidth), DType::kF32, 7),
        ActQuant::kNone);

    ServerOptions options;
    options.host = "127.0.0.1";
    options.port = 0;
    options.model_repository = repo.string();
    options.threads = 2;
    auto server = Server::Create(options);
    ASSERT_TRUE(server.ok()) << server.status();
    server_ = std::move(server).value().release();
    channel_ = new std::shared_ptr<grpc::Channel>(
        grpc::CreateChannel("127.0.0.1:" + std::to_string(server_->port()),
                            grpc::InsecureChannelCredentials()));
  }

  static void TearDownTestSuite() {
    delete channel_;
    if (server_ != nullptr) server_->Shutdown();
    delete server_;
    delete temp_dir_;
  }

  void SetUp() override {
    ASSERT_NE(server_, nullptr);
    kserve_ = GRPCInferenceService::NewStub(*channel_);
    native_ = v1::QLinear::NewStub(*channel_);
  }

  grpc::Status Infer(const ModelInferRequest& request,
                     ModelInferResponse* response) {
    grpc::ClientContext context;
    context.set_deadline(std::chrono::system_clock::now() +
                         std::chrono::seconds(60));
    return kserve_->ModelInfer(&context, request, response);
  }

  // The native Forward output bytes of `input` on `model`.
  std::string NativeForward(
      const std::string& model, const v1::Tensor& input,
      v1::ActQuant act_quant = v1::ACT_QUANT_MODEL_DEFAULT,
      int layer_start = -1, int layer_end = -1) {
    v1::ForwardRequest request;
    request.set_model(model);
    *request.mutable_input() = input;
    request.set_act_quant(act_quant);
    if (layer_start >= 0) request.set_layer_start(layer_start);
    if (layer_end >= 0) request.set_layer_end(layer_end);
    v1::ForwardResponse response;
    grpc::ClientContext context;
    const grpc::Status status = native_->Forward(&context, request, &response);
    EXPECT_TRUE(status.ok()) << status.error_message();
    return response.output().data();
  }

  // A raw ModelInfer request of `input` (the native tensor's bytes).
  static ModelInferRequest RawRequest(const std::string& model,
                                      const v1::Tensor& input,
                                      const std::string& datatype) {
    ModelInferRequest request;
    request.set_model_name(model);
    auto* tensor = request.add_inputs();
    tensor->set_name("input");
    tensor->set_datatype(datatype);
    tensor->add_shape(input.shape(0));
    tensor->add_shape(input.shape(1));
    request.add_raw_input_contents(input.data());
    return request;
  }

  // A typed (fp32_contents) ModelInfer request of the FP32 `input`.
  static ModelInferRequest TypedRequest(const std::string& model,
                                        const v1::Tensor& input) {
    ModelInferRequest request = RawRequest(model, input, "FP32");
    request.clear_raw_input_contents();
    for (float x : Decode(DType::kF32, input))
      request.mutable_inputs(0)->mutable_contents()->add_fp32_contents(x);
    return request;
  }

  inference::ModelStatistics Statistics(const std::string& model) {
    grpc::ClientContext context;
    inference::ModelStatisticsRequest request;
    request.set_name(model);
    inference::ModelStatisticsResponse response;
    const grpc::Status status =
        kserve_->ModelStatistics(&context, request, &response);
    EXPECT_TRUE(status.ok()) << status.error_message();
    EXPECT_EQ(response.model_stats_size(), 1);
    return response.model_stats_size() == 1 ? response.model_stats(0)
                                            : inference::ModelStatistics();
  }

  // The server's counters of `model` version 1, read in-process.
  static ModelStatsSnapshot Counters(const std::string& model) {
    std::shared_ptr<const ModelStats> stats = server_->stats().Find(model, "1");
    return stats == nullptr ? ModelStatsSnapshot() : stats->Snapshot();
  }

  // Waits (bounded, 60 s) until the counters of `model` version 1 satisfy
  // `done`: ModelStats::AwaitSnapshot wakes at each record, no polling.
  static bool AwaitCounters(
      const std::string& model,
      const std::function<bool(const ModelStatsSnapshot&)>& done) {
    std::shared_ptr<const ModelStats> stats = server_->stats().Find(model, "1");
    return stats != nullptr && stats->AwaitSnapshot(done, absl::Seconds(60));
  }

  static TempDir* temp_dir_;
  static Server* server_;
  static std::shared_ptr<grpc::Channel>* channel_;
  std::unique_ptr<GRPCInferenceService::Stub> kserve_;
  std::unique_ptr<v1::QLinear::Stub> native_;
};

TempDir* KServeTest::temp_dir_ = nullptr;
Server* KServeTest::server_ = nullptr;
std::shared_ptr<grpc::Channel>* KServeTest::channel_ = nullptr;

TEST_F(KServeTest, ServerLiveReadyAndMetadata) {
  {
    grpc::ClientContext context;
    inference::ServerLiveResponse response;
    ASSERT_TRUE(kserve_->ServerLive(&context, {}, &response).ok());
    EXPECT_TRUE(response.live());
  }
  {
    grpc::ClientContext context;
    inference::ServerReadyResponse response;
    ASSERT_TRUE(kserve_->ServerReady(&context, {}, &response).ok());
    EXPECT_TRUE(response.ready());
  }
  grpc::ClientContext context;
  inference::ServerMetadataResponse response;
  ASSERT_TRUE(kserve_->ServerMetadata(&context, {}, &response).ok());
  EXPECT_EQ(response.name(), "qlinear");
  EXPECT_FALSE(response.version().empty());
  EXPECT_THAT(response.extensions(),
              UnorderedElementsAre("model_configuration", "model_repository",
                                   "statistics"));
}

TEST_F(KServeTest, ModelReadyPerModelAndVersion) {
  struct Case {
    std::string name, version;
    bool ready;
  };
  for (const Case& c : {Case{"fp32", "", true}, Case{"fp32", "1", true},
                        Case{"fp32", "2", false}, Case{"nope", "", false}}) {
    SCOPED_TRACE(c.name + "/" + c.version);
    grpc::ClientContext context;
    inference::ModelReadyRequest request;
    request.set_name(c.name);
    request.set_version(c.version);
    inference::ModelReadyResponse response;
    ASSERT_TRUE(kserve_->ModelReady(&context, request, &response).ok());
    EXPECT_EQ(response.ready(), c.ready);
  }
  grpc::ClientContext context;
  inference::ModelReadyResponse response;
  EXPECT_EQ(kserve_->ModelReady(&context, {}, &response).error_code(),
            grpc::StatusCode::INVALID_ARGUMENT);
}

TEST_F(KServeTest, ModelMetadataDescribesInputAndOutput) {
  for (const auto& [model, datatype, k, n] :
       {std::make_tuple("fp32", "FP32", 256, 64),
        std::make_tuple("bf16", "BF16", 128, 32),
        std::make_tuple("fp16", "FP16", 64, 32)}) {
    SCOPED_TRACE(model);
    grpc::ClientContext context;
    inference::ModelMetadataRequest request;
    request.set_name(model);
    inference::ModelMetadataResponse response;
    ASSERT_TRUE(kserve_->ModelMetadata(&context, request, &response).ok());
    EXPECT_EQ(response.name(), model);
    EXPECT_THAT(response.versions(), ElementsAre("1"));
    EXPECT_EQ(response.platform(), "qlinear");
    ASSERT_EQ(response.inputs_size(), 1);
    EXPECT_EQ(response.inputs(0).name(), "input");
    EXPECT_EQ(response.inputs(0).datatype(), datatype);
    EXPECT_THAT(response.inputs(0).shape(), ElementsAre(-1, k));
    ASSERT_EQ(response.outputs_size(), 1);
    EXPECT_EQ(response.outputs(0).name(), "output");
    EXPECT_EQ(response.outputs(0).datatype(), datatype);
    EXPECT_THAT(response.outputs(0).shape(), ElementsAre(-1, n));
  }
  grpc::ClientContext context;
  inference::ModelMetadataRequest request;
  request.set_name("nope");
  inference::ModelMetadataResponse response;
  EXPECT_EQ(kserve_->ModelMetadata(&context, request, &response).error_code(),
            grpc::StatusCode::NOT_FOUND);
}

TEST_F(KServeTest, ModelConfigFollowsTritonConventions) {
  grpc::ClientContext context;
  inference::ModelConfigRequest request;
  request.set_name("bf16");
  inference::ModelConfigResponse response;
  ASSERT_TRUE(kserve_->ModelConfig(&context, request, &response).ok());
  const inference::ModelConfig& config = response.config();
  EXPECT_EQ(config.name(), "bf16");
  EXPECT_EQ(config.platform(), "qlinear");
  EXPECT_EQ(config.max_batch_size(), 4096);  // the server's rows per request
  ASSERT_EQ(config.input_size(), 1);
  EXPECT_EQ(config.input(0).name(), "input");
  EXPECT_EQ(config.input(0).data_type(), inference::TYPE_BF16);
  EXPECT_THAT(config.input(0).dims(), ElementsAre(128));
  ASSERT_EQ(config.output_size(), 1);
  EXPECT_EQ(config.output(0).name(), "output");
  EXPECT_THAT(config.output(0).dims(), ElementsAre(32));
  EXPECT_TRUE(config.has_dynamic_batching());
  ASSERT_EQ(config.instance_group_size(), 1);
  EXPECT_EQ(config.instance_group(0).kind(),
            inference::ModelInstanceGroup::KIND_CPU);
  EXPECT_EQ(config.parameters().at("default_act_quant").string_value(),
            "int8_asym_per_token");
  EXPECT_EQ(config.parameters().at("num_layers").string_value(), "2");
}

TEST_F(KServeTest, RawFp32InferIsBitwiseTheNativeForward) {
  const v1::Tensor input = RandomTensor(DType::kF32, 3, 256, 21);
  ModelInferRequest request = RawRequest("fp32", input, "FP32");
  request.set_id("req-7");
  ModelInferResponse response;
  const grpc::Status status = Infer(request, &response);
  ASSERT_TRUE(status.ok()) << status.error_message();
  EXPECT_EQ(response.model_name(), "fp32");
  EXPECT_EQ(response.model_version(), "1");
  EXPECT_EQ(response.id(), "req-7");
  ASSERT_EQ(response.outputs_size(), 1);
  EXPECT_EQ(response.outputs(0).name(), "output");
  EXPECT_EQ(response.outputs(0).datatype(), "FP32");
  EXPECT_THAT(response.outputs(0).shape(), ElementsAre(3, 64));
  ASSERT_EQ(response.raw_output_contents_size(), 1);
  EXPECT_EQ(response.raw_output_contents(0), NativeForward("fp32", input));
}

TEST_F(KServeTest, TypedFp32InferIsBitwiseTheNativeForward) {
  const v1::Tensor input = RandomTensor(DType::kF32, 2, 256, 22);
  ModelInferResponse response;
  const grpc::Status status = Infer(TypedRequest("fp32", input), &response);
  ASSERT_TRUE(status.ok()) << status.error_message();
  ASSERT_EQ(response.raw_output_contents_size(), 1);
  EXPECT_EQ(response.raw_output_contents(0), NativeForward("fp32", input));
}

TEST_F(KServeTest, RawBf16AndFp16InferAreBitwiseTheNativeForward) {
  for (const auto& [model, dtype, datatype, k] :
       {std::make_tuple("bf16", DType::kBF16, "BF16", 128),
        std::make_tuple("fp16", DType::kF16, "FP16", 64)}) {
    SCOPED_TRACE(model);
    const v1::Tensor input = RandomTensor(dtype, 4, k, 23);
    ModelInferResponse response;
    const grpc::Status status =
        Infer(RawRequest(model, input, datatype), &response);
    ASSERT_TRUE(status.ok()) << status.error_message();
    EXPECT_EQ(response.outputs(0).datatype(), datatype);
    EXPECT_THAT(response.outputs(0).shape(), ElementsAre(4, 32));
    EXPECT_EQ(response.raw_output_contents(0), NativeForward(model, input));
  }
}

TEST_F(KServeTest, ParametersSelectModeAndLayerRange) {
  // bf16's default mode is int8; "none" must give the native "none" output.
  const v1::Tensor input = RandomTensor(DType::kBF16, 2, 128, 24);
  ModelInferRequest request = RawRequest("bf16", input, "BF16");
  (*request.mutable_parameters())["act_quant"].set_string_param("none");
  ModelInferResponse none;
  ASSERT_TRUE(Infer(request, &none).ok());
  EXPECT_EQ(none.raw_output_contents(0),
            NativeForward("bf16", input, v1::ACT_QUANT_NONE));
  EXPECT_NE(none.raw_output_contents(0), NativeForward("bf16", input));

  // Layer 1 only: input [M, 128], output [M, 64].
  const v1::Tensor mid = RandomTensor(DType::kF32, 3, 128, 25);
  request = RawRequest("fp32", mid, "FP32");
  (*request.mutable_parameters())["layer_start"].set_int64_param(1);
  (*request.mutable_parameters())["layer_end"].set_uint64_param(2);
  (*request.mutable_parameters())["act_quant"].set_string_param(
      "int8_asym_per_token");
  (*request.mutable_parameters())["priority"].set_int64_param(3);
  (*request.mutable_parameters())["timeout"].set_int64_param(30'000'000);
  ModelInferResponse ranged;
  const grpc::Status status = Infer(request, &ranged);
  ASSERT_TRUE(status.ok()) << status.error_message();
  EXPECT_THAT(ranged.outputs(0).shape(), ElementsAre(3, 64));
  EXPECT_EQ(
      ranged.raw_output_contents(0),
      NativeForward("fp32", mid, v1::ACT_QUANT_INT8_ASYM_PER_TOKEN, 1, 2));
}

TEST_F(KServeTest, ActQuantQualityParameterReturnsPerLayerFigures) {
  const v1::Tensor input = RandomTensor(DType::kF32, 2, 256, 31);
  ModelInferRequest request = RawRequest("fp32", input, "FP32");
  (*request.mutable_parameters())["act_quant"].set_string_param(
      "int8_asym_per_token");
  (*request.mutable_parameters())["act_quant_quality"].set_bool_param(true);
  ModelInferResponse response;
  const grpc::Status status = Infer(request, &response);
  ASSERT_TRUE(status.ok()) << status.error_message();
  // The output is that of the request without the check.
  EXPECT_EQ(response.raw_output_contents(0),
            NativeForward("fp32", input, v1::ACT_QUANT_INT8_ASYM_PER_TOKEN));
  // Per quantized layer: the figures of a local comparison.
  auto stack =
      model::LoadModelDir((temp_dir_->path() / "repo" / "fp32" / "1").string());
  ASSERT_TRUE(stack.ok()) << stack.status();
  QualityInput local;
  local.begin = 0;
  local.end = 2;
  local.rows = 2;
  local.input = Decode(DType::kF32, input);
  auto expected = CompareActQuant(**stack, local, nullptr);
  ASSERT_TRUE(expected.ok()) << expected.status();
  const auto& p = response.parameters();
  EXPECT_EQ(p.size(), 8u);
  for (const LayerQuality& lq : *expected) {
    const std::string layer = (*stack)->layer_spec(lq.layer).name;
    SCOPED_TRACE(layer);
    ASSERT_EQ(p.count("act_quant_sqnr_db." + layer), 1u);
    EXPECT_EQ(p.at("act_quant_sqnr_db." + layer).double_param(),
              lq.all.sqnr_db);
    EXPECT_GT(lq.all.sqnr_db, 10.0);
    EXPECT_EQ(p.at("act_quant_rel_max_error." + layer).double_param(),
              lq.all.rel_max_error);
    EXPECT_EQ(p.at("act_quant_outlier_ratio." + layer).double_param(),
              lq.all.outlier_ratio);
    EXPECT_EQ(p.at("act_quant_row_sqnr_db." + layer).string_param(),
              absl::StrCat(lq.rows[0].sqnr_db, ",", lq.rows[1].sqnr_db));
  }

  // Without the parameter, no figures.
  request.mutable_parameters()->erase("act_quant_quality");
  ModelInferResponse plain;
  ASSERT_TRUE(Infer(request, &plain).ok());
  EXPECT_TRUE(plain.parameters().empty());
  EXPECT_EQ(plain.raw_output_contents(0), response.raw_output_contents(0));
}

TEST_F(KServeTest, EveryValidationRuleIsInvalidArgumentNamingTheRule) {
  const v1::Tensor fp32 = RandomTensor(DType::kF32, 2, 256, 26);
  const v1::Tensor bf16 = RandomTensor(DType::kBF16, 2, 128, 27);
  const ModelInferRequest raw = RawRequest("fp32", fp32, "FP32");
  const ModelInferRequest typed = TypedRequest("fp32", fp32);
  using Mutate = std::function<void(ModelInferRequest*)>;
  struct Case {
    std::string rule;
    ModelInferRequest base;
    Mutate mutate;
  };
  auto param = [](ModelInferRequest* r, const std::string& key) {
    return &(*r->mutable_parameters())[key];
  };
  const float nan = std::numeric_limits<float>::quiet_NaN();
  const std::vector<Case> cases = {
      {"model_name: required", raw,
       [](ModelInferRequest* r) { r->clear_model_name(); }},
      {"inputs: expected exactly 1 input ('input'), got 0", raw,
       [](ModelInferRequest* r) { r->clear_inputs(); }},
      {"inputs: expected exactly 1 input ('input'), got 2", raw,
       [](ModelInferRequest* r) { *r->add_inputs() = r->inputs(0); }},
      {"inputs[0].name: expected 'input', got 'x'", raw,
       [](ModelInferRequest* r) { r->mutable_inputs(0)->set_name("x"); }},
      {"inputs[0].datatype: 'FP16' does not match the model datatype FP32", raw,
       [](ModelInferRequest* r) {
         r->mutable_inputs(0)->set_datatype("FP16");
       }},
      {"inputs[0].datatype: 'INT8' does not match", raw,
       [](ModelInferRequest* r) {
         r->mutable_inputs(0)->set_datatype("INT8");
       }},
      {"inputs[0].shape: expected [M, 256], got [512]", raw,
       [](ModelInferRequest* r) {
         r->mutable_inputs(0)->clear_shape();
         r->mutable_inputs(0)->add_shape(512);
       }},
      {"inputs[0].shape: expected [M, 256], got [2, 128]", raw,
       [](ModelInferRequest* r) { r->mutable_inputs(0)->set_shape(1, 128); }},
      {"inputs[0].shape: M must be at least 1", raw,
       [](ModelInferRequest* r) { r->mutable_inputs(0)->set_shape(0, 0); }},
      {"inputs[0].shape: 5000 rows exceed the limit of 4096", raw,
       [](ModelInferRequest* r) { r->mutable_inputs(0)->set_shape(0, 5000); }},
      {"inputs[0].parameters: 'shared_memory_region' is not supported", raw,
       [](ModelInferRequest* r) {
         (*r->mutable_inputs(0)->mutable_parameters())["shared_memory_region"]
             .set_string_param("r");
       }},
      {"raw_input_contents: 2 entries for 1 input; the counts must be equal",
       raw,
       [](ModelInferRequest* r) {
         r->add_raw_input_contents(r->raw_input_contents(0));
       }},
      {"inputs[0].contents: must not be set when raw_input_contents is used",
       raw,
       [](ModelInferRequest* r) {
         r->mutable_inputs(0)->mutable_contents()->add_fp32_contents(1.0f);
       }},
      {"raw_input_contents[0]: 2044 bytes, expected 2048 for shape [2, 256] x "
       "FP32",
       raw,
       [](ModelInferRequest* r) {
         r->mutable_raw_input_contents(0)->resize(2044);
       }},
      {"raw_input_contents[0]: element 3 is not finite", raw,
       [nan](ModelInferRequest* r) {
         std::memcpy(r->mutable_raw_input_contents(0)->data() + 12, &nan, 4);
       }},
      {"inputs[0].contents.fp32_contents: 511 values, expected 512 for shape "
       "[2, 256]",
       typed,
       [](ModelInferRequest* r) {
         r->mutable_inputs(0)
             ->mutable_contents()
             ->mutable_fp32_contents()
             ->RemoveLast();
       }},
      {"inputs[0].contents.fp32_contents: element 0 is not finite", typed,
       [nan](ModelInferRequest* r) {
         r->mutable_inputs(0)->mutable_contents()->set_fp32_contents(0, nan);
       }},
      {"inputs[0].contents.int_contents: does not match datatype FP32", typed,
       [](ModelInferRequest* r) {
         r->mutable_inputs(0)->mutable_contents()->add_int_contents(1);
       }},
      {"inputs[0].contents: the protocol defines no typed contents for BF16",
       RawRequest("bf16", bf16, "BF16"),
       [](ModelInferRequest* r) {
         r->clear_raw_input_contents();
         for (int i = 0; i < 256; ++i)
           r->mutable_inputs(0)->mutable_contents()->add_fp32_contents(0.5f);
       }},
      {"inputs[0]: no data: set raw_input_contents or inputs[0].contents", raw,
       [](ModelInferRequest* r) { r->clear_raw_input_contents(); }},
      {"outputs[0].name: unknown output 'y'", raw,
       [](ModelInferRequest* r) { r->add_outputs()->set_name("y"); }},
      {"outputs[0].parameters: 'classification' is not supported", raw,
       [](ModelInferRequest* r) {
         auto* out = r->add_outputs();
         out->set_name("output");
         (*out->mutable_parameters())["classification"].set_int64_param(3);
       }},
      {"parameters: unknown parameter 'sequence_id'", raw,
       [&](ModelInferRequest* r) {
         param(r, "sequence_id")->set_int64_param(1);
       }},
      {"parameters.act_quant_quality: must be a bool_param", raw,
       [&](ModelInferRequest* r) {
         param(r, "act_quant_quality")->set_string_param("true");
       }},
      {"parameters.act_quant: unknown mode 'int4'", raw,
       [&](ModelInferRequest* r) {
         param(r, "act_quant")->set_string_param("int4");
       }},
      {"parameters.act_quant: must be a string_param", raw,
       [&](ModelInferRequest* r) {
         param(r, "act_quant")->set_int64_param(1);
       }},
      {"parameters.priority: 4294967296 is out of the int32 range", raw,
       [&](ModelInferRequest* r) {
         param(r, "priority")->set_uint64_param(uint64_t{1} << 32);
       }},
      {"parameters.priority: must be an int64_param or uint64_param", raw,
       [&](ModelInferRequest* r) {
         param(r, "priority")->set_bool_param(true);
       }},
      {"parameters.timeout: -5 is negative", raw,
       [&](ModelInferRequest* r) { param(r, "timeout")->set_int64_param(-5); }},
      {"parameters.layer_start: 2 is out of range for model 'fp32' with 2 "
       "layers",
       raw,
       [&](ModelInferRequest* r) {
         param(r, "layer_start")->set_int64_param(2);
       }},
      {"parameters.layer_end: 3 is out of range", raw,
       [&](ModelInferRequest* r) {
         param(r, "layer_end")->set_int64_param(3);
       }},
      {"parameters.layer_start: 1 must be less than parameters.layer_end 1",
       raw,
       [&](ModelInferRequest* r) {
         param(r, "layer_start")->set_int64_param(1);
         param(r, "layer_end")->set_int64_param(1);
       }},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.rule);
    ModelInferRequest request = c.base;
    c.mutate(&request);
    ModelInferResponse response;
    const grpc::Status status = Infer(request, &response);
    EXPECT_EQ(status.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
    EXPECT_THAT(status.error_message(), HasSubstr(c.rule));
  }
}

TEST_F(KServeTest, UnknownModelOrVersionIsNotFound) {
  const v1::Tensor input = RandomTensor(DType::kF32, 1, 256, 28);
  ModelInferRequest request = RawRequest("nope", input, "FP32");
  ModelInferResponse response;
  grpc::Status status = Infer(request, &response);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::NOT_FOUND);
  EXPECT_THAT(status.error_message(), HasSubstr("model 'nope' not found"));

  request.set_model_name("fp32");
  request.set_model_version("7");
  status = Infer(request, &response);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::NOT_FOUND);
  EXPECT_THAT(status.error_message(), HasSubstr("has no version '7'"));
}

TEST_F(KServeTest, StatisticsCountEveryRequestOfBothApisAndEveryBatch) {
  const inference::ModelStatistics before = Statistics("stats");
  EXPECT_EQ(before.inference_stats().success().count(), 0u);
  EXPECT_EQ(before.execution_count(), 0u);

  // KServe: 3 successes of 1, 2 and 3 rows, and 2 failures.
  for (int m = 1; m <= 3; ++m) {
    ModelInferResponse response;
    ASSERT_TRUE(
        Infer(RawRequest("stats", RandomTensor(DType::kF32, m, 256, m), "FP32"),
              &response)
            .ok());
  }
  ModelInferRequest bad =
      RawRequest("stats", RandomTensor(DType::kF32, 1, 256, 9), "FP32");
  bad.mutable_inputs(0)->set_datatype("FP16");
  ModelInferResponse response;
  EXPECT_FALSE(Infer(bad, &response).ok());
  (*bad.mutable_parameters())["nope"].set_bool_param(true);
  EXPECT_FALSE(Infer(bad, &response).ok());
  // Native: 2 successes of 1 and 2 rows, and 1 failure.
  NativeForward("stats", RandomTensor(DType::kF32, 1, 256, 10));
  NativeForward("stats", RandomTensor(DType::kF32, 2, 256, 11));
  {
    v1::ForwardRequest request;
    request.set_model("stats");
    *request.mutable_input() = RandomTensor(DType::kF32, 1, 128, 12);
    v1::ForwardResponse forward;
    grpc::ClientContext context;
    EXPECT_EQ(native_->Forward(&context, request, &forward).error_code(),
              grpc::StatusCode::INVALID_ARGUMENT);
  }
  // A request for an unknown model counts nowhere.
  EXPECT_FALSE(
      Infer(RawRequest("nope", RandomTensor(DType::kF32, 1, 256, 9), "FP32"),
            &response)
          .ok());

  const inference::ModelStatistics after = Statistics("stats");
  EXPECT_EQ(after.name(), "stats");
  EXPECT_EQ(after.version(), "1");
  const inference::InferStatistics& s = after.inference_stats();
  EXPECT_EQ(s.success().count(), 5u);
  EXPECT_GT(s.success().ns(), 0u);
  EXPECT_EQ(s.fail().count(), 3u);
  EXPECT_EQ(s.queue().count(), 5u);
  EXPECT_EQ(s.compute_input().count(), 5u);
  EXPECT_EQ(s.compute_infer().count(), 5u);
  EXPECT_GT(s.compute_infer().ns(), 0u);
  EXPECT_EQ(s.compute_output().count(), 5u);
  EXPECT_EQ(after.inference_count(), 1u + 2u + 3u + 1u + 2u);
  // One request at a time, so one batch per request, of its own rows.
  EXPECT_EQ(after.execution_count(), 5u);
  ASSERT_EQ(after.batch_stats_size(), 3);
  const uint64_t batches_of[] = {0, 2, 2, 1};
  for (int i = 0; i < 3; ++i) {
    const auto& batch = after.batch_stats(i);
    EXPECT_EQ(batch.batch_size(), static_cast<uint64_t>(i + 1));
    EXPECT_EQ(batch.compute_infer().count(), batches_of[i + 1]);
  }
  const auto now_ms = std::chrono::duration_cast<std::chrono::milliseconds>(
                          std::chrono::system_clock::now().time_since_epoch())
                          .count();
  EXPECT_GT(after.last_inference(), 0u);
  EXPECT_LE(after.last_inference(), static_cast<uint64_t>(now_ms));

  // The same counters, by RPC and code, and through the native GetModel.
  const ModelStatsSnapshot counters = Counters("stats");
  const auto& infer = counters.requests[static_cast<int>(Rpc::kModelInfer)];
  const auto& forward = counters.requests[static_cast<int>(Rpc::kForward)];
  EXPECT_EQ(infer[grpc::StatusCode::OK], 3u);
  EXPECT_EQ(infer[grpc::StatusCode::INVALID_ARGUMENT], 2u);
  EXPECT_EQ(forward[grpc::StatusCode::OK], 2u);
  EXPECT_EQ(forward[grpc::StatusCode::INVALID_ARGUMENT], 1u);
  EXPECT_EQ(counters.layers_executed, 5u * 2u);
  {
    grpc::ClientContext context;
    v1::GetModelRequest request;
    request.set_model("stats");
    v1::GetModelResponse model;
    ASSERT_TRUE(native_->GetModel(&context, request, &model).ok());
    EXPECT_EQ(model.stats().success_count(), 5u);
    EXPECT_EQ(model.stats().fail_count(), 3u);
    EXPECT_EQ(model.stats().inference_rows(), 9u);
    EXPECT_EQ(model.stats().batches(), 5u);
    EXPECT_EQ(model.stats().layers_executed(), 10u);
    EXPECT_EQ(model.stats().row_layers_executed(), 9u * 2u);
    EXPECT_GT(model.stats().compute_seconds(), 0.0);
  }

  // No name: every loaded model.
  grpc::ClientContext context;
  inference::ModelStatisticsResponse all;
  ASSERT_TRUE(kserve_->ModelStatistics(&context, {}, &all).ok());
  EXPECT_EQ(all.model_stats_size(), 7);
  // An unknown model is NOT_FOUND.
  grpc::ClientContext context2;
  inference::ModelStatisticsRequest unknown;
  unknown.set_name("nope");
  EXPECT_EQ(kserve_->ModelStatistics(&context2, unknown, &all).error_code(),
            grpc::StatusCode::NOT_FOUND);
}

TEST_F(KServeTest, TimeoutWhileQueuedIsDeadlineExceededWithoutCompute) {
  // delayed's queue waits 5 s for 64 rows, so a 100 ms timeout passes while
  // the request is queued.
  ModelInferRequest request =
      RawRequest("delayed", RandomTensor(DType::kF32, 1, 256, 30), "FP32");
  (*request.mutable_parameters())["timeout"].set_int64_param(100'000);
  ModelInferResponse response;
  const grpc::Status status = Infer(request, &response);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::DEADLINE_EXCEEDED);

  const inference::ModelStatistics stats = Statistics("delayed");
  EXPECT_EQ(stats.inference_stats().fail().count(), 1u);
  EXPECT_EQ(stats.inference_stats().success().count(), 0u);
  EXPECT_EQ(stats.inference_stats().compute_infer().count(), 0u);
  EXPECT_EQ(stats.execution_count(), 0u);
  const ModelStatsSnapshot counters = Counters("delayed");
  EXPECT_EQ(counters.layers_executed, 0u);
  EXPECT_EQ(counters.requests[static_cast<int>(Rpc::kModelInfer)]
                             [grpc::StatusCode::DEADLINE_EXCEEDED],
            1u);
}

TEST_F(KServeTest, CancelledRequestStopsBetweenLayers) {
  // 2048 rows through kDeepLayers layers of 1024 x 1024 take long enough
  // that the cancel lands after the first layer and well before the last.
  ModelInferRequest request = RawRequest(
      "deep", RandomTensor(DType::kF32, 2048, kDeepWidth, 31), "FP32");
  grpc::ClientContext context;
  ModelInferResponse response;
  grpc::Status status;
  absl::Notification done;
  kserve_->async()->ModelInfer(&context, &request, &response,
                               [&](grpc::Status s) {
                                 status = std::move(s);
                                 done.Notify();
                               });
  ASSERT_TRUE(AwaitCounters("deep", [](const ModelStatsSnapshot& s) {
    return s.layers_executed >= 1;
  }));
  context.TryCancel();
  done.WaitForNotification();
  EXPECT_EQ(status.error_code(), grpc::StatusCode::CANCELLED);

  // The server drops the request at the next layer boundary, then records
  // the stopped batch.
  ASSERT_TRUE(AwaitCounters("deep", [](const ModelStatsSnapshot& s) {
    return s.fail.count == 1 && s.execution_count == 1;
  }));
  const ModelStatsSnapshot s = Counters("deep");
  EXPECT_GE(s.layers_executed, 1u);
  EXPECT_LT(s.layers_executed, static_cast<uint64_t>(kDeepLayers));
  EXPECT_EQ(s.row_layers_executed, 2048u * s.layers_executed);
  EXPECT_EQ(s.success.count, 0u);
  EXPECT_EQ(s.requests[static_cast<int>(Rpc::kModelInfer)]
                      [grpc::StatusCode::CANCELLED],
            1u);
  EXPECT_EQ(Statistics("deep").inference_stats().fail().count(), 1u);
}

TEST_F(KServeTest, RepositoryIndexLoadAndUnload) {
  auto index = [&](bool ready) {
    grpc::ClientContext context;
    inference::RepositoryIndexRequest request;
    request.set_ready(ready);
    inference::RepositoryIndexResponse response;
    EXPECT_TRUE(kserve_->RepositoryIndex(&context, request, &response).ok());
    std::map<std::string, std::string> states;
    for (const auto& m : response.models()) states[m.name()] = m.state();
    return states;
  };
  auto ready = [&](const std::string& model) {
    grpc::ClientContext context;
    inference::ModelReadyRequest request;
    request.set_name(model);
    inference::ModelReadyResponse response;
    EXPECT_TRUE(kserve_->ModelReady(&context, request, &response).ok());
    return response.ready();
  };
  auto server_ready = [&] {
    grpc::ClientContext context;
    inference::ServerReadyResponse response;
    EXPECT_TRUE(kserve_->ServerReady(&context, {}, &response).ok());
    return response.ready();
  };
  EXPECT_EQ(index(false).at("swap"), "READY");
  EXPECT_EQ(index(false).size(), 7u);

  {
    grpc::ClientContext context;
    inference::RepositoryModelUnloadRequest request;
    request.set_model_name("swap");
    (*request.mutable_parameters())["unload_dependents"].set_bool_param(false);
    inference::RepositoryModelUnloadResponse response;
    const grpc::Status status =
        kserve_->RepositoryModelUnload(&context, request, &response);
    ASSERT_TRUE(status.ok()) << status.error_message();
  }
  EXPECT_FALSE(ready("swap"));
  EXPECT_EQ(index(false).at("swap"), "UNAVAILABLE");
  EXPECT_EQ(index(true).count("swap"), 0u);
  EXPECT_TRUE(server_ready());  // an unloaded model does not count
  ModelInferResponse response;
  EXPECT_EQ(
      Infer(RawRequest("swap", RandomTensor(DType::kF32, 1, 256, 40), "FP32"),
            &response)
          .error_code(),
      grpc::StatusCode::NOT_FOUND);

  {
    grpc::ClientContext context;
    inference::RepositoryModelLoadRequest request;
    request.set_model_name("swap");
    (*request.mutable_parameters())["version"].set_string_param("1");
    inference::RepositoryModelLoadResponse response;
    const grpc::Status status =
        kserve_->RepositoryModelLoad(&context, request, &response);
    ASSERT_TRUE(status.ok()) << status.error_message();
  }
  EXPECT_TRUE(ready("swap"));
  EXPECT_TRUE(server_ready());
  EXPECT_TRUE(
      Infer(RawRequest("swap", RandomTensor(DType::kF32, 1, 256, 41), "FP32"),
            &response)
          .ok());

  struct Bad {
    std::string message;
    grpc::StatusCode code;
    std::function<grpc::Status()> call;
  };
  const std::vector<Bad> bad = {
      {"model 'nope'", grpc::StatusCode::NOT_FOUND,
       [&] {
         grpc::ClientContext context;
         inference::RepositoryModelLoadRequest request;
         request.set_model_name("nope");
         inference::RepositoryModelLoadResponse response;
         return kserve_->RepositoryModelLoad(&context, request, &response);
       }},
      {"parameters: 'config' is not supported",
       grpc::StatusCode::INVALID_ARGUMENT,
       [&] {
         grpc::ClientContext context;
         inference::RepositoryModelLoadRequest request;
         request.set_model_name("swap");
         (*request.mutable_parameters())["config"].set_string_param("{}");
         inference::RepositoryModelLoadResponse response;
         return kserve_->RepositoryModelLoad(&context, request, &response);
       }},
      {"repository_name: 'other' is not supported",
       grpc::StatusCode::INVALID_ARGUMENT,
       [&] {
         grpc::ClientContext context;
         inference::RepositoryIndexRequest request;
         request.set_repository_name("other");
         inference::RepositoryIndexResponse response;
         return kserve_->RepositoryIndex(&context, request, &response);
       }},
      {"model_name: required", grpc::StatusCode::INVALID_ARGUMENT,
       [&] {
         grpc::ClientContext context;
         inference::RepositoryModelUnloadResponse response;
         return kserve_->RepositoryModelUnload(&context, {}, &response);
       }},
  };
  for (const Bad& b : bad) {
    SCOPED_TRACE(b.message);
    const grpc::Status status = b.call();
    EXPECT_EQ(status.error_code(), b.code);
    EXPECT_THAT(status.error_message(), HasSubstr(b.message));
  }
}

}  // namespace
}  // namespace qlinear::server
