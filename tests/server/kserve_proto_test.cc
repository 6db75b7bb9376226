// proto/inference/*.proto mirror the public KServe v2 / Triton protocol:
// every field we keep must have the protocol's name, number and type, or
// public clients (tritonclient, perf_analyzer, any stub generated from
// grpc_service.proto) would misread it. This table, written from the public
// files, pins them.
#include <algorithm>
#include <string>
#include <vector>

#include "google/protobuf/descriptor.h"
#include "google/protobuf/descriptor.pb.h"
#include "gtest/gtest.h"
#include "inference/grpc_service.pb.h"
#include "inference/model_config.pb.h"

namespace qlinear::server {
namespace {

using google::protobuf::DescriptorPool;
using google::protobuf::FieldDescriptor;

struct Field {
  std::string message;  // full name
  std::string name;
  int number;
  FieldDescriptor::Type type;
  bool repeated;
};

constexpr auto kString = FieldDescriptor::TYPE_STRING;
constexpr auto kBool = FieldDescriptor::TYPE_BOOL;
constexpr auto kInt64 = FieldDescriptor::TYPE_INT64;
constexpr auto kUint64 = FieldDescriptor::TYPE_UINT64;
constexpr auto kInt32 = FieldDescriptor::TYPE_INT32;
constexpr auto kUint32 = FieldDescriptor::TYPE_UINT32;
constexpr auto kFloat = FieldDescriptor::TYPE_FLOAT;
constexpr auto kDouble = FieldDescriptor::TYPE_DOUBLE;
constexpr auto kBytes = FieldDescriptor::TYPE_BYTES;
constexpr auto kMessage = FieldDescriptor::TYPE_MESSAGE;
constexpr auto kEnum = FieldDescriptor::TYPE_ENUM;

const std::vector<Field>& PublicFields() {
  static const auto* fields = new std::vector<Field>{
      {"inference.ServerLiveResponse", "live", 1, kBool, false},
      {"inference.ServerReadyResponse", "ready", 1, kBool, false},
      {"inference.ModelReadyRequest", "name", 1, kString, false},
      {"inference.ModelReadyRequest", "version", 2, kString, false},
      {"inference.ModelReadyResponse", "ready", 1, kBool, false},
      {"inference.ServerMetadataResponse", "name", 1, kString, false},
      {"inference.ServerMetadataResponse", "version", 2, kString, false},
      {"inference.ServerMetadataResponse", "extensions", 3, kString, true},
      {"inference.ModelMetadataRequest", "name", 1, kString, false},
      {"inference.ModelMetadataRequest", "version", 2, kString, false},
      {"inference.ModelMetadataResponse.TensorMetadata", "name", 1, kString,
       false},
      {"inference.ModelMetadataResponse.TensorMetadata", "datatype", 2, kString,
       false},
      {"inference.ModelMetadataResponse.TensorMetadata", "shape", 3, kInt64,
       true},
      {"inference.ModelMetadataResponse", "name", 1, kString, false},
      {"inference.ModelMetadataResponse", "versions", 2, kString, true},
      {"inference.ModelMetadataResponse", "platform", 3, kString, false},
      {"inference.ModelMetadataResponse", "inputs", 4, kMessage, true},
      {"inference.ModelMetadataResponse", "outputs", 5, kMessage, true},
      {"inference.InferParameter", "bool_param", 1, kBool, false},
      {"inference.InferParameter", "int64_param", 2, kInt64, false},
      {"inference.InferParameter", "string_param", 3, kString, false},
      {"inference.InferParameter", "double_param", 4, kDouble, false},
      {"inference.InferParameter", "uint64_param", 5, kUint64, false},
      {"inference.InferTensorContents", "bool_contents", 1, kBool, true},
      {"inference.InferTensorContents", "int_contents", 2, kInt32, true},
      {"inference.InferTensorContents", "int64_contents", 3, kInt64, true},
      {"inference.InferTensorContents", "uint_contents", 4, kUint32, true},
      {"inference.InferTensorContents", "uint64_contents", 5, kUint64, true},
      {"inference.InferTensorContents", "fp32_contents", 6, kFloat, true},
      {"inference.InferTensorContents", "fp64_contents", 7, kDouble, true},
      {"inference.InferTensorContents", "bytes_contents", 8, kBytes, true},
      {"inference.ModelInferRequest.InferInputTensor", "name", 1, kString,
       false},
      {"inference.ModelInferRequest.InferInputTensor", "datatype", 2, kString,
       false},
      {"inference.ModelInferRequest.InferInputTensor", "shape", 3, kInt64,
       true},
      {"inference.ModelInferRequest.InferInputTensor", "parameters", 4,
       kMessage, true},
      {"inference.ModelInferRequest.InferInputTensor", "contents", 5, kMessage,
       false},
      {"inference.ModelInferRequest.InferRequestedOutputTensor", "name", 1,
       kString, false},
      {"inference.ModelInferRequest.InferRequestedOutputTensor", "parameters",
       2, kMessage, true},
      {"inference.ModelInferRequest", "model_name", 1, kString, false},
      {"inference.ModelInferRequest", "model_version", 2, kString, false},
      {"inference.ModelInferRequest", "id", 3, kString, false},
      {"inference.ModelInferRequest", "parameters", 4, kMessage, true},
      {"inference.ModelInferRequest", "inputs", 5, kMessage, true},
      {"inference.ModelInferRequest", "outputs", 6, kMessage, true},
      {"inference.ModelInferRequest", "raw_input_contents", 7, kBytes, true},
      {"inference.ModelInferResponse.InferOutputTensor", "name", 1, kString,
       false},
      {"inference.ModelInferResponse.InferOutputTensor", "datatype", 2, kString,
       false},
      {"inference.ModelInferResponse.InferOutputTensor", "shape", 3, kInt64,
       true},
      {"inference.ModelInferResponse.InferOutputTensor", "parameters", 4,
       kMessage, true},
      {"inference.ModelInferResponse.InferOutputTensor", "contents", 5,
       kMessage, false},
      {"inference.ModelInferResponse", "model_name", 1, kString, false},
      {"inference.ModelInferResponse", "model_version", 2, kString, false},
      {"inference.ModelInferResponse", "id", 3, kString, false},
      {"inference.ModelInferResponse", "parameters", 4, kMessage, true},
      {"inference.ModelInferResponse", "outputs", 5, kMessage, true},
      {"inference.ModelInferResponse", "raw_output_contents", 6, kBytes, true},
      {"inference.ModelConfigRequest", "name", 1, kString, false},
      {"inference.ModelConfigRequest", "version", 2, kString, false},
      {"inference.ModelConfigResponse", "config", 1, kMessage, false},
      {"inference.ModelStatisticsRequest", "name", 1, kString, false},
      {"inference.ModelStatisticsRequest", "version", 2, kString, false},
      {"inference.StatisticDuration", "count", 1, kUint64, false},
      {"inference.StatisticDuration", "ns", 2, kUint64, false},
      {"inference.InferStatistics", "success", 1, kMessage, false},
      {"inference.InferStatistics", "fail", 2, kMessage, false},
      {"inference.InferStatistics", "queue", 3, kMessage, false},
      {"inference.InferStatistics", "compute_input", 4, kMessage, false},
      {"inference.InferStatistics", "compute_infer", 5, kMessage, false},
      {"inference.InferStatistics", "compute_output", 6, kMessage, false},
      {"inference.InferBatchStatistics", "batch_size", 1, kUint64, false},
      {"inference.InferBatchStatistics", "compute_input", 2, kMessage, false},
      {"inference.InferBatchStatistics", "compute_infer", 3, kMessage, false},
      {"inference.InferBatchStatistics", "compute_output", 4, kMessage, false},
      {"inference.ModelStatistics", "name", 1, kString, false},
      {"inference.ModelStatistics", "version", 2, kString, false},
      {"inference.ModelStatistics", "last_inference", 3, kUint64, false},
      {"inference.ModelStatistics", "inference_count", 4, kUint64, false},
      {"inference.ModelStatistics", "execution_count", 5, kUint64, false},
      {"inference.ModelStatistics", "inference_stats", 6, kMessage, false},
      {"inference.ModelStatistics", "batch_stats", 7, kMessage, true},
      {"inference.ModelStatisticsResponse", "model_stats", 1, kMessage, true},
      {"inference.ModelRepositoryParameter", "bool_param", 1, kBool, false},
      {"inference.ModelRepositoryParameter", "int64_param", 2, kInt64, false},
      {"inference.ModelRepositoryParameter", "string_param", 3, kString, false},
      {"inference.ModelRepositoryParameter", "bytes_param", 4, kBytes, false},
      {"inference.RepositoryIndexRequest", "repository_name", 1, kString,
       false},
      {"inference.RepositoryIndexRequest", "ready", 2, kBool, false},
      {"inference.RepositoryIndexResponse.ModelIndex", "name", 1, kString,
       false},
      {"inference.RepositoryIndexResponse.ModelIndex", "version", 2, kString,
       false},
      {"inference.RepositoryIndexResponse.ModelIndex", "state", 3, kString,
       false},
      {"inference.RepositoryIndexResponse.ModelIndex", "reason", 4, kString,
       false},
      {"inference.RepositoryIndexResponse", "models", 1, kMessage, true},
      {"inference.RepositoryModelLoadRequest", "repository_name", 1, kString,
       false},
      {"inference.RepositoryModelLoadRequest", "model_name", 2, kString, false},
      {"inference.RepositoryModelLoadRequest", "parameters", 3, kMessage, true},
      {"inference.RepositoryModelUnloadRequest", "repository_name", 1, kString,
       false},
      {"inference.RepositoryModelUnloadRequest", "model_name", 2, kString,
       false},
      {"inference.RepositoryModelUnloadRequest", "parameters", 3, kMessage,
       true},
      // model_config.proto
      {"inference.ModelInstanceGroup", "name", 1, kString, false},
      {"inference.ModelInstanceGroup", "count", 2, kInt32, false},
      {"inference.ModelInstanceGroup", "kind", 4, kEnum, false},
      {"inference.ModelInput", "name", 1, kString, false},
      {"inference.ModelInput", "data_type", 2, kEnum, false},
      {"inference.ModelInput", "dims", 4, kInt64, true},
      {"inference.ModelOutput", "name", 1, kString, false},
      {"inference.ModelOutput", "data_type", 2, kEnum, false},
      {"inference.ModelOutput", "dims", 3, kInt64, true},
      {"inference.ModelDynamicBatching", "preferred_batch_size", 1, kInt32,
       true},
      {"inference.ModelDynamicBatching", "max_queue_delay_microseconds", 2,
       kUint64, false},
      {"inference.ModelParameter", "string_value", 1, kString, false},
      {"inference.ModelConfig", "name", 1, kString, false},
      {"inference.ModelConfig", "platform", 2, kString, false},
      {"inference.ModelConfig", "max_batch_size", 4, kInt32, false},
      {"inference.ModelConfig", "input", 5, kMessage, true},
      {"inference.ModelConfig", "output", 6, kMessage, true},
      {"inference.ModelConfig", "instance_group", 7, kMessage, true},
      {"inference.ModelConfig", "dynamic_batching", 11, kMessage, false},
      {"inference.ModelConfig", "parameters", 14, kMessage, true},
      {"inference.ModelConfig", "backend", 17, kString, false},
  };
  return *fields;
}

TEST(KServeProtoTest, EveryFieldHasThePublicNameNumberAndType) {
  // Linking the generated code registers the files in the generated pool.
  inference::ModelInferRequest force_link;
  inference::ModelConfig force_link_config;
  const DescriptorPool* pool = DescriptorPool::generated_pool();
  for (const Field& f : PublicFields()) {
    SCOPED_TRACE(f.message + "." + f.name);
    const auto* message = pool->FindMessageTypeByName(f.message);
    ASSERT_NE(message, nullptr);
    const FieldDescriptor* field = message->FindFieldByName(f.name);
    ASSERT_NE(field, nullptr);
    EXPECT_EQ(field->number(), f.number);
    EXPECT_EQ(field->type(), f.type);
    EXPECT_EQ(field->is_repeated(), f.repeated);
  }
}

TEST(KServeProtoTest, EveryFieldWeDeclareIsInThePublicTable) {
  // The reverse: no field of ours that the protocol does not have (a
  // private field could collide with a future public one).
  std::vector<std::string> declared;
  const DescriptorPool* pool = DescriptorPool::generated_pool();
  for (const char* file :
       {"inference/grpc_service.proto", "inference/model_config.proto"}) {
    const auto* fd = pool->FindFileByName(file);
    ASSERT_NE(fd, nullptr) << file;
    std::vector<const google::protobuf::Descriptor*> messages;
    for (int i = 0; i < fd->message_type_count(); ++i)
      messages.push_back(fd->message_type(i));
    for (size_t m = 0; m < messages.size(); ++m) {
      const auto* message = messages[m];
      if (message->options().map_entry()) continue;
      for (int i = 0; i < message->nested_type_count(); ++i)
        messages.push_back(message->nested_type(i));
      for (int i = 0; i < message->field_count(); ++i)
        declared.push_back(message->full_name() + "." +
                           message->field(i)->name());
    }
  }
  std::vector<std::string> known;
  for (const Field& f : PublicFields())
    known.push_back(f.message + "." + f.name);
  for (const std::string& name : declared) {
    EXPECT_NE(std::find(known.begin(), known.end(), name), known.end())
        << name << " is not in the public protocol table";
  }
}

TEST(KServeProtoTest, ServiceHasThePublicRpcNames) {
  const auto* service = DescriptorPool::generated_pool()->FindServiceByName(
      "inference.GRPCInferenceService");
  ASSERT_NE(service, nullptr);
  for (const char* rpc :
       {"ServerLive", "ServerReady", "ModelReady", "ServerMetadata",
        "ModelMetadata", "ModelInfer", "ModelConfig", "ModelStatistics",
        "RepositoryIndex", "RepositoryModelLoad", "RepositoryModelUnload"}) {
    EXPECT_NE(service->FindMethodByName(rpc), nullptr) << rpc;
  }
  EXPECT_EQ(service->method_count(), 11);
  // Enum values of model_config.proto.
  EXPECT_EQ(inference::TYPE_FP16, 10);
  EXPECT_EQ(inference::TYPE_FP32, 11);
  EXPECT_EQ(inference::TYPE_BF16, 14);
  EXPECT_EQ(inference::ModelInstanceGroup::KIND_CPU, 2);
}

}  // namespace
}  // namespace qlinear::server
