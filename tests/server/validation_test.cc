// Request validation (one case per INVALID_ARGUMENT rule of docs/api.md,
// "Status codes", with the message that names the field), tensor coding, and
// the absl -> gRPC status conversion (every kind of status in that table).
#include "server/validation.h"

#include <cmath>
#include <limits>
#include <memory>
#include <string>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "model/default_model.h"
#include "model/loader.h"
#include "model/safetensors.h"
#include "server/status_util.h"
#include "tests/testing/status_matchers.h"

namespace qlinear::server {
namespace {

using ::qlinear::testing::IsOk;
using ::qlinear::testing::StatusIs;
using ::testing::ElementsAre;
using ::testing::HasSubstr;

// A synthetic model 64 -> 32 -> 16 (layers fc1, fc2), int4 gs 32, whose
// manifest's default mode is `default_act_quant`.
std::unique_ptr<model::LinearStack> SmallModel(DType dtype,
                                               ActQuant default_act_quant) {
  model::SyntheticModelSpec spec;
  spec.widths = {64, 32, 16};
  spec.group_size = 32;
  spec.dtype = dtype;
  model::SyntheticModelFiles files = model::MakeSyntheticModelFiles(spec);
  files.manifest.default_act_quant = default_act_quant;
  auto tensors = model::SafetensorsFile::Parse(
      reinterpret_cast<const uint8_t*>(files.safetensors.data()),
      files.safetensors.size());
  EXPECT_THAT(tensors, IsOk());
  auto stack = model::BuildLinearStack(files.manifest, **tensors);
  EXPECT_THAT(stack, IsOk());
  return std::move(stack).value();
}

// A [rows, cols] tensor of `dtype` holding values[i] = (i % 7 - 3) / 4.
v1::Tensor MakeTensor(DType dtype, int64_t rows, int64_t cols) {
  std::vector<float> values(static_cast<size_t>(rows * cols));
  for (size_t i = 0; i < values.size(); ++i)
    values[i] = static_cast<float>(i % 7) / 4 - 0.75f;
  v1::Tensor tensor;
  EncodeMatrix(dtype, static_cast<size_t>(rows), static_cast<size_t>(cols),
               values, &tensor);
  return tensor;
}

class ValidationTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    fp32_model_ = SmallModel(DType::kF32, ActQuant::kNone).release();
    bf16_model_ =
        SmallModel(DType::kBF16, ActQuant::kInt8AsymPerToken).release();
  }
  static void TearDownTestSuite() {
    delete fp32_model_;
    delete bf16_model_;
  }

  // A valid Forward request for the fp32 model with `rows` rows.
  static v1::ForwardRequest ForwardRequest(int64_t rows = 2) {
    v1::ForwardRequest request;
    request.set_model("small");
    *request.mutable_input() = MakeTensor(DType::kF32, rows, 64);
    return request;
  }

  static v1::MatmulRequest MatmulRequest(const std::string& layer,
                                         int64_t cols) {
    v1::MatmulRequest request;
    request.set_model("small");
    request.set_layer(layer);
    *request.mutable_input() = MakeTensor(DType::kF32, 3, cols);
    return request;
  }

  absl::Status ValidateForward(const v1::ForwardRequest& request) const {
    return ValidateForwardRequest(request, *fp32_model_, limits_).status();
  }

  static model::LinearStack* fp32_model_;
  static model::LinearStack* bf16_model_;
  RequestLimits limits_;
};

model::LinearStack* ValidationTest::fp32_model_ = nullptr;
model::LinearStack* ValidationTest::bf16_model_ = nullptr;

constexpr absl::StatusCode kInvalid = absl::StatusCode::kInvalidArgument;

TEST_F(ValidationTest, ValidForwardDecodesInputAndDefaultsToWholeStack) {
  const v1::ForwardRequest request = ForwardRequest(2);
  auto call = ValidateForwardRequest(request, *fp32_model_, limits_);
  ASSERT_THAT(call, IsOk());
  EXPECT_EQ(call->layer_begin, 0u);
  EXPECT_EQ(call->layer_end, 2u);
  EXPECT_EQ(call->act_quant, ActQuant::kNone);
  EXPECT_EQ(call->input.rows, 2u);
  EXPECT_EQ(call->input.cols, 64u);
  ASSERT_EQ(call->input.values.size(), 128u);
  EXPECT_EQ(call->input.values[0], -0.75f);
  EXPECT_EQ(call->input.values[8], -0.5f);  // 8 % 7 = 1
}

TEST_F(ValidationTest, ActQuantModelDefaultResolvesToTheManifestDefault) {
  v1::ForwardRequest request;
  request.set_model("small_bf16");
  *request.mutable_input() = MakeTensor(DType::kBF16, 1, 64);
  auto call = ValidateForwardRequest(request, *bf16_model_, limits_);
  ASSERT_THAT(call, IsOk());
  EXPECT_EQ(call->act_quant, ActQuant::kInt8AsymPerToken);

  request.set_act_quant(v1::ACT_QUANT_NONE);
  call = ValidateForwardRequest(request, *bf16_model_, limits_);
  ASSERT_THAT(call, IsOk());
  EXPECT_EQ(call->act_quant, ActQuant::kNone);

  v1::ForwardRequest fp32_request = ForwardRequest();
  fp32_request.set_act_quant(v1::ACT_QUANT_INT8_ASYM_PER_TOKEN);
  call = ValidateForwardRequest(fp32_request, *fp32_model_, limits_);
  ASSERT_THAT(call, IsOk());
  EXPECT_EQ(call->act_quant, ActQuant::kInt8AsymPerToken);
}

TEST_F(ValidationTest, RejectsUnknownActQuant) {
  v1::ForwardRequest request = ForwardRequest();
  request.set_act_quant(static_cast<v1::ActQuant>(7));
  EXPECT_THAT(ValidateForward(request),
              StatusIs(kInvalid, "act_quant: unknown value 7"));
}

TEST_F(ValidationTest, RejectsMissingInput) {
  v1::ForwardRequest request = ForwardRequest();
  request.clear_input();
  EXPECT_THAT(ValidateForward(request), StatusIs(kInvalid, "input: required"));
}

TEST_F(ValidationTest, RejectsUnspecifiedDtype) {
  v1::ForwardRequest request = ForwardRequest();
  request.mutable_input()->set_dtype(v1::DATA_TYPE_UNSPECIFIED);
  EXPECT_THAT(
      ValidateForward(request),
      StatusIs(kInvalid, "input.dtype: must be set (the model dtype is fp32)"));
}

TEST_F(ValidationTest, RejectsDtypeOtherThanTheModels) {
  v1::ForwardRequest request = ForwardRequest(1);
  *request.mutable_input() = MakeTensor(DType::kBF16, 1, 64);
  EXPECT_THAT(
      ValidateForward(request),
      StatusIs(kInvalid,
               "input.dtype: BF16 does not match the model dtype fp32"));
  request.mutable_input()->set_dtype(static_cast<v1::DataType>(9));
  EXPECT_THAT(
      ValidateForward(request),
      StatusIs(kInvalid, "input.dtype: 9 does not match the model dtype fp32"));
}

TEST_F(ValidationTest, RejectsShapeOfWrongRankOrWidth) {
  v1::ForwardRequest request = ForwardRequest(2);
  request.mutable_input()->clear_shape();
  request.mutable_input()->add_shape(128);
  EXPECT_THAT(ValidateForward(request),
              StatusIs(kInvalid, "input.shape: expected [M, 64], got [128]"));

  *request.mutable_input() = MakeTensor(DType::kF32, 4, 32);
  EXPECT_THAT(ValidateForward(request),
              StatusIs(kInvalid, "input.shape: expected [M, 64], got [4, 32]"));

  request.mutable_input()->add_shape(1);
  EXPECT_THAT(
      ValidateForward(request),
      StatusIs(kInvalid, "input.shape: expected [M, 64], got [4, 32, 1]"));
}

TEST_F(ValidationTest, RejectsRowCountBelowOne) {
  v1::ForwardRequest request = ForwardRequest(1);
  request.mutable_input()->set_shape(0, 0);
  EXPECT_THAT(
      ValidateForward(request),
      StatusIs(kInvalid, "input.shape: M must be at least 1, got [0, 64]"));
  request.mutable_input()->set_shape(0, -3);
  EXPECT_THAT(ValidateForward(request),
              StatusIs(kInvalid, HasSubstr("input.shape: M must")));
}

TEST_F(ValidationTest, RejectsMoreRowsThanTheLimit) {
  limits_.max_rows_per_request = 4;
  EXPECT_THAT(ValidateForward(ForwardRequest(4)), IsOk());
  EXPECT_THAT(
      ValidateForward(ForwardRequest(5)),
      StatusIs(kInvalid,
               "input.shape: 5 rows exceed the limit of 4 rows per request"));
}

TEST_F(ValidationTest, RejectsWrongByteLength) {
  v1::ForwardRequest request = ForwardRequest(1);
  request.mutable_input()->mutable_data()->resize(100);
  EXPECT_THAT(
      ValidateForward(request),
      StatusIs(kInvalid,
               "input.data: 100 bytes, expected 256 for shape [1, 64] x fp32"));
  request.mutable_input()->mutable_data()->resize(260);
  EXPECT_THAT(ValidateForward(request),
              StatusIs(kInvalid, HasSubstr("input.data: 260 bytes")));
}

TEST_F(ValidationTest, RejectsNonFiniteValues) {
  const float nan = std::numeric_limits<float>::quiet_NaN();
  const float inf = std::numeric_limits<float>::infinity();
  for (float bad : {nan, inf, -inf}) {
    v1::ForwardRequest request = ForwardRequest(2);
    StoreFromFloat(DType::kF32, bad,
                   request.mutable_input()->mutable_data()->data(), 5);
    EXPECT_THAT(ValidateForward(request),
                StatusIs(kInvalid, "input.data: element 5 is not finite"));
  }
  // A bf16 NaN in the second row.
  v1::ForwardRequest request;
  request.set_model("small_bf16");
  *request.mutable_input() = MakeTensor(DType::kBF16, 2, 64);
  StoreFromFloat(DType::kBF16, nan,
                 request.mutable_input()->mutable_data()->data(), 70);
  EXPECT_THAT(ValidateForwardRequest(request, *bf16_model_, limits_),
              StatusIs(kInvalid, "input.data: element 70 is not finite"));
}

TEST_F(ValidationTest, LayerRangeSelectsLayersAndInputWidth) {
  v1::ForwardRequest request = ForwardRequest();
  request.set_layer_start(0);
  request.set_layer_end(1);
  auto call = ValidateForwardRequest(request, *fp32_model_, limits_);
  ASSERT_THAT(call, IsOk());
  EXPECT_EQ(call->layer_begin, 0u);
  EXPECT_EQ(call->layer_end, 1u);

  // Starting at fc2, the input is [M, 32].
  request.clear_layer_end();
  request.set_layer_start(1);
  EXPECT_THAT(ValidateForward(request),
              StatusIs(kInvalid, "input.shape: expected [M, 32], got [2, 64]"));
  *request.mutable_input() = MakeTensor(DType::kF32, 2, 32);
  call = ValidateForwardRequest(request, *fp32_model_, limits_);
  ASSERT_THAT(call, IsOk());
  EXPECT_EQ(call->layer_begin, 1u);
  EXPECT_EQ(call->layer_end, 2u);
}

TEST_F(ValidationTest, RejectsBadLayerRange) {
  v1::ForwardRequest request = ForwardRequest();
  request.set_layer_start(1);
  request.set_layer_end(1);
  EXPECT_THAT(
      ValidateForward(request),
      StatusIs(kInvalid, "layer_start: 1 must be less than layer_end 1"));

  request.set_layer_start(0);
  request.set_layer_end(3);
  EXPECT_THAT(
      ValidateForward(request),
      StatusIs(kInvalid,
               "layer_end: 3 is out of range for model 'small' with 2 layers"));

  request.clear_layer_end();
  request.set_layer_start(2);
  EXPECT_THAT(
      ValidateForward(request),
      StatusIs(
          kInvalid,
          "layer_start: 2 is out of range for model 'small' with 2 layers"));

  request.clear_layer_start();
  request.set_layer_end(0);
  EXPECT_THAT(
      ValidateForward(request),
      StatusIs(kInvalid, "layer_start: 0 must be less than layer_end 0"));
}

TEST_F(ValidationTest, MatmulFindsTheLayerAndChecksItsWidth) {
  auto call =
      ValidateMatmulRequest(MatmulRequest("fc2", 32), *fp32_model_, limits_);
  ASSERT_THAT(call, IsOk());
  EXPECT_EQ(call->layer, 1u);
  EXPECT_EQ(call->input.rows, 3u);
  EXPECT_EQ(call->act_quant, ActQuant::kNone);

  EXPECT_THAT(
      ValidateMatmulRequest(MatmulRequest("fc2", 64), *fp32_model_, limits_),
      StatusIs(kInvalid, "input.shape: expected [M, 32], got [3, 64]"));
}

TEST_F(ValidationTest, MatmulRejectsUnknownOrMissingLayer) {
  EXPECT_THAT(
      ValidateMatmulRequest(MatmulRequest("fc9", 64), *fp32_model_, limits_),
      StatusIs(kInvalid, "layer: model 'small' has no layer 'fc9'"));
  EXPECT_THAT(
      ValidateMatmulRequest(MatmulRequest("", 64), *fp32_model_, limits_),
      StatusIs(kInvalid, "layer: required"));
}

TEST_F(ValidationTest, MatmulRejectsMissingInputAndBadActQuant) {
  v1::MatmulRequest request = MatmulRequest("fc1", 64);
  request.set_act_quant(static_cast<v1::ActQuant>(-1));
  EXPECT_THAT(ValidateMatmulRequest(request, *fp32_model_, limits_),
              StatusIs(kInvalid, "act_quant: unknown value -1"));
  request.set_act_quant(v1::ACT_QUANT_NONE);
  request.clear_input();
  EXPECT_THAT(ValidateMatmulRequest(request, *fp32_model_, limits_),
              StatusIs(kInvalid, "input: required"));
}

TEST(EncodeMatrixTest, WritesLittleEndianElementsOfTheDtype) {
  const std::vector<float> values = {1.0f, -2.5f, 0.15625f, 3.0f, 0.0f, -0.0f};
  for (DType dtype : {DType::kF32, DType::kBF16, DType::kF16}) {
    SCOPED_TRACE(std::string(DTypeName(dtype)));
    v1::Tensor tensor;
    EncodeMatrix(dtype, 2, 3, values, &tensor);
    EXPECT_EQ(tensor.dtype(), ToProtoDataType(dtype));
    EXPECT_THAT(tensor.shape(), ElementsAre(2, 3));
    ASSERT_EQ(tensor.data().size(), values.size() * DTypeSize(dtype));
    auto decoded = DecodeMatrix(tensor, "output", dtype, 3, 2);
    ASSERT_THAT(decoded, IsOk());
    for (size_t i = 0; i < values.size(); ++i) {
      EXPECT_EQ(FloatBits(decoded->values[i]), FloatBits(values[i])) << i;
    }
  }
  // bf16 1.0 is 0x3f80, stored low byte first.
  v1::Tensor tensor;
  EncodeMatrix(DType::kBF16, 1, 1, {1.0f}, &tensor);
  EXPECT_EQ(tensor.data(), std::string("\x80\x3f", 2));
}

TEST(EncodeMatrixTest, DecodeNamesTheGivenField) {
  v1::Tensor tensor = MakeTensor(DType::kF32, 1, 4);
  EXPECT_THAT(
      DecodeMatrix(tensor, "inputs[0]", DType::kF16, 4, 8),
      StatusIs(kInvalid,
               "inputs[0].dtype: FP32 does not match the model dtype fp16"));
}

TEST(ProtoEnumTest, ConvertsDtypesAndModes) {
  EXPECT_EQ(ToProtoDataType(DType::kF32), v1::DATA_TYPE_FP32);
  EXPECT_EQ(ToProtoDataType(DType::kBF16), v1::DATA_TYPE_BF16);
  EXPECT_EQ(ToProtoDataType(DType::kF16), v1::DATA_TYPE_FP16);
  EXPECT_EQ(ToProtoActQuant(ActQuant::kNone), v1::ACT_QUANT_NONE);
  EXPECT_EQ(ToProtoActQuant(ActQuant::kInt8AsymPerToken),
            v1::ACT_QUANT_INT8_ASYM_PER_TOKEN);
}

// One row per kind of status of docs/api.md, "Status codes": the code
// survives the conversion and so does the message.
TEST(ToGrpcStatusTest, CoversTheStatusTable) {
  struct Row {
    absl::Status status;
    grpc::StatusCode code;
  };
  const Row rows[] = {
      {absl::InvalidArgumentError(
           "input.shape: expected [M, 1024], got [2, 512]"),
       grpc::StatusCode::INVALID_ARGUMENT},  // malformed
      {absl::NotFoundError("model 'x' not found"),
       grpc::StatusCode::NOT_FOUND},  // unknown
      {absl::UnavailableError("model 'x' is loading"),
       grpc::StatusCode::UNAVAILABLE},  // loading
      {absl::ResourceExhaustedError("queue full; retry after 5 ms"),
       grpc::StatusCode::RESOURCE_EXHAUSTED},  // queue full
      {absl::DeadlineExceededError("deadline passed while queued"),
       grpc::StatusCode::DEADLINE_EXCEEDED},  // deadline
      {absl::CancelledError("client cancelled"),
       grpc::StatusCode::CANCELLED},  // cancelled
      {absl::UnavailableError("draining"),
       grpc::StatusCode::UNAVAILABLE},  // draining
      {absl::PermissionDeniedError("bad admin token"),
       grpc::StatusCode::PERMISSION_DENIED},
      {absl::UnauthenticatedError("no admin token"),
       grpc::StatusCode::UNAUTHENTICATED},
  };
  for (const Row& row : rows) {
    const grpc::Status status = ToGrpcStatus(row.status);
    EXPECT_EQ(status.error_code(), row.code) << row.status;
    EXPECT_EQ(status.error_message(), row.status.message());
  }
}

TEST(ToGrpcStatusTest, MapsOkAndEveryCodeToTheSameNumber) {
  EXPECT_TRUE(ToGrpcStatus(absl::OkStatus()).ok());
  for (int code = 1; code <= 16; ++code) {
    const absl::Status status(static_cast<absl::StatusCode>(code), "m");
    EXPECT_EQ(static_cast<int>(ToGrpcStatus(status).error_code()), code);
  }
  EXPECT_EQ(ToGrpcStatus(absl::Status(static_cast<absl::StatusCode>(99), "m"))
                .error_code(),
            grpc::StatusCode::UNKNOWN);
}

}  // namespace
}  // namespace qlinear::server
