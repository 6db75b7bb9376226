// qlinear-cli: a command-line client of qlinear's native API, its KServe v2
// API and the health service.
//
//   qlinear-cli --target HOST:PORT health
//   qlinear-cli --target HOST:PORT models            (alias: list)
//   qlinear-cli --target HOST:PORT describe MODEL
//   qlinear-cli --target HOST:PORT forward [--model M] [--rows R | --input F]
//   qlinear-cli --target HOST:PORT matmul --layer NAME [--model M] ...
//   qlinear-cli --target HOST:PORT infer [--model M] ...     (KServe v2)
//   qlinear-cli --target HOST:PORT load MODEL [--version V] --admin-token T
//   qlinear-cli --target HOST:PORT unload MODEL --admin-token T
//   qlinear-cli service-config       (the gRPC service config it uses)
//
// --target also takes several IP:PORT separated by commas, or gRPC name
// syntax (dns:///NAME:PORT, ipv4:IP:PORT,IP:PORT): calls are balanced
// round_robin over every address (clients/common/channel.h).
//
// Exit status: 0 on success, 1 when the server returns an error (printed as
// "error: CODE: message") or health is not SERVING, 2 for a usage error.
#include <grpcpp/grpcpp.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <iterator>
#include <limits>
#include <memory>
#include <string>
#include <vector>

#include "absl/flags/flag.h"
#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/time/time.h"
#include "clients/common/channel.h"
#include "clients/common/npy.h"
#include "clients/common/tensor_util.h"
#include "common/flags.h"
#include "google/protobuf/util/json_util.h"
#include "grpc/health/v1/health.grpc.pb.h"
#include "inference/grpc_service.grpc.pb.h"
#include "qlinear/v1/qlinear.grpc.pb.h"

ABSL_FLAG(std::string, target, "localhost:8001",
          "Server address: HOST:PORT, several IP:PORT separated by commas, or "
          "gRPC name syntax (dns:///NAME:PORT, ipv4:IP:PORT,IP:PORT). Calls "
          "are balanced round_robin over every address, and inference and "
          "metadata calls are retried on UNAVAILABLE.");
ABSL_FLAG(bool, json, false, "Print machine-readable JSON instead of text.");
ABSL_FLAG(absl::Duration, timeout, absl::Seconds(60),
          "Deadline of each call, e.g. 30s.");
ABSL_FLAG(std::string, service, "qlinear.v1.QLinear",
          "health: the service to check (empty: the whole server; "
          "inference.GRPCInferenceService: the KServe API).");
ABSL_FLAG(std::string, model, "default", "forward/matmul/infer: model name.");
ABSL_FLAG(std::string, version, "",
          "forward/matmul/infer/describe/load: model version (empty: "
          "latest).");
ABSL_FLAG(int64_t, rows, 1,
          "forward/matmul/infer: rows M of the random input.");
ABSL_FLAG(std::string, act_quant, "default",
          "forward/matmul/infer: activation mode: default (the model's), none "
          "or int8_asym_per_token.");
ABSL_FLAG(uint64_t, seed, 1, "forward/matmul/infer: seed of the random input.");
ABSL_FLAG(std::string, input, "",
          "forward/matmul/infer: input file instead of random values: a .npy "
          "file (float32 or float16, little-endian, C order, [M, K] or [K]; "
          "converted to the model dtype), or raw little-endian values in the "
          "model dtype, row-major (M = size / (K * element size)). Overrides "
          "--rows.");
ABSL_FLAG(std::string, input_format, "auto",
          "--input format: auto (.npy when the file starts with the .npy "
          "magic), npy or raw.");
ABSL_FLAG(std::string, output, "",
          "forward/matmul/infer: also write the whole output here as a "
          "float32 .npy file.");
ABSL_FLAG(int, layer_start, -1, "forward/infer: first layer to run (-1: 0).");
ABSL_FLAG(int, layer_end, -1,
          "forward/infer: one past the last layer to run (-1: all).");
ABSL_FLAG(std::string, layer, "", "matmul: name of the layer to run.");
ABSL_FLAG(bool, timings, false,
          "forward/matmul: ask the server for its timings (queue, batch rows, "
          "per-layer kernel time).");
ABSL_FLAG(bool, act_quant_quality, false,
          "forward/matmul: ask the server to also run each quantized layer "
          "in both activation modes and print, per layer, the "
          "int8_asym_per_token output against the none output on the same "
          "layer input: SQNR (dB), relative max error, the input's outlier "
          "ratio and the lowest row SQNR (docs/operations.md, \"Quality "
          "telemetry\"). About twice the request's compute: for debugging.");
ABSL_FLAG(int, show, 8, "forward/matmul/infer: output values to print.");
ABSL_FLAG(std::string, admin_token, "",
          "load/unload/models: the admin token, sent as 'authorization: Bearer "
          "<token>'. Prefer --admin-token-file or $QLINEAR_ADMIN_TOKEN: a "
          "command line is visible to other users.");
ABSL_FLAG(std::string, admin_token_file, "",
          "load/unload/models: file whose first line is the admin token.");

namespace {

namespace v1 = ::qlinear::v1;
using ::grpc::health::v1::HealthCheckRequest;
using ::grpc::health::v1::HealthCheckResponse;
using ::qlinear::clients::DataTypeLabel;
using ::qlinear::clients::ElementSize;
using ::qlinear::clients::JsonNumber;
using ::qlinear::clients::JsonString;

constexpr int kExitError = 1;

int UsageError(const std::string& message) {
  return qlinear::PrintUsageError("qlinear-cli", message);
}

int RpcError(const grpc::Status& status) {
  std::fprintf(stderr, "error: %s: %s\n",
               qlinear::clients::StatusCodeName(status.error_code()),
               status.error_message().c_str());
  return kExitError;
}

void SetDeadline(grpc::ClientContext* context) {
  context->set_deadline(
      absl::ToChronoTime(absl::Now() + absl::GetFlag(FLAGS_timeout)));
}

double SecondsSince(std::chrono::steady_clock::time_point start) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - start)
      .count();
}

// Prints `message` as proto3 JSON with the .proto field names.
void PrintProtoJson(const google::protobuf::Message& message) {
  google::protobuf::util::JsonPrintOptions options;
  options.preserve_proto_field_names = true;
  options.always_print_primitive_fields = true;
  options.always_print_enums_as_ints = false;
  std::string json;
  if (!google::protobuf::util::MessageToJsonString(message, &json, options)
           .ok())
    json = "{}";
  std::printf("%s\n", json.c_str());
}

// Prints rows of cells as columns separated by one space; cells of columns
// in `right` are right-aligned.
void PrintColumns(const std::vector<std::vector<std::string>>& rows,
                  const std::vector<bool>& right) {
  std::vector<size_t> width;
  for (const auto& row : rows) {
    width.resize(std::max(width.size(), row.size()), 0);
    for (size_t i = 0; i < row.size(); ++i) {
      width[i] = std::max(width[i], row[i].size());
    }
  }
  for (const auto& row : rows) {
    std::string line;
    for (size_t i = 0; i < row.size(); ++i) {
      const std::string pad(width[i] - row[i].size(), ' ');
      const bool is_right = i < right.size() && right[i];
      if (i > 0) line += ' ';
      line += is_right ? pad + row[i] : row[i];
      if (!is_right && i + 1 < row.size()) line += pad;
    }
    std::printf("%s\n", line.c_str());
  }
}

// --- Commands without compute ------------------------------------------------

int Health(const std::shared_ptr<grpc::Channel>& channel) {
  auto stub = grpc::health::v1::Health::NewStub(channel);
  grpc::ClientContext context;
  SetDeadline(&context);
  HealthCheckRequest request;
  request.set_service(absl::GetFlag(FLAGS_service));
  HealthCheckResponse response;
  const grpc::Status status = stub->Check(&context, request, &response);
  if (!status.ok()) return RpcError(status);
  const std::string name =
      HealthCheckResponse::ServingStatus_Name(response.status());
  if (absl::GetFlag(FLAGS_json)) {
    std::printf("{\"service\": %s, \"status\": %s}\n",
                JsonString(request.service()).c_str(),
                JsonString(name).c_str());
  } else {
    std::printf("%s\n", name.c_str());
  }
  return response.status() == HealthCheckResponse::SERVING ? 0 : kExitError;
}

std::string AdminToken(std::string* error);

int List(v1::QLinear::Stub* stub) {
  std::string error;
  const std::string token = AdminToken(&error);
  if (!error.empty()) return UsageError(error);
  grpc::ClientContext context;
  SetDeadline(&context);
  // A server with an admin token lists its repository only with it.
  if (!token.empty()) context.AddMetadata("authorization", "Bearer " + token);
  v1::ListModelsResponse response;
  const grpc::Status status =
      stub->ListModels(&context, v1::ListModelsRequest(), &response);
  if (!status.ok()) return RpcError(status);
  if (absl::GetFlag(FLAGS_json)) {
    PrintProtoJson(response);
    return 0;
  }
  std::vector<std::vector<std::string>> rows = {
      {"MODEL", "VERSION", "READY", "STATE", "REASON"}};
  for (const v1::ModelVersionStatus& m : response.models()) {
    rows.push_back({m.name(), m.version().empty() ? "-" : m.version(),
                    m.ready() ? "yes" : "no",
                    m.state().empty() ? "-" : m.state(), m.reason()});
  }
  PrintColumns(rows, {});
  return 0;
}

grpc::Status GetModel(v1::QLinear::Stub* stub, const std::string& model,
                      v1::GetModelResponse* response) {
  grpc::ClientContext context;
  SetDeadline(&context);
  v1::GetModelRequest request;
  request.set_model(model);
  request.set_version(absl::GetFlag(FLAGS_version));
  return stub->GetModel(&context, request, response);
}

int Describe(v1::QLinear::Stub* stub, const std::string& model) {
  v1::GetModelResponse response;
  const grpc::Status status = GetModel(stub, model, &response);
  if (!status.ok()) return RpcError(status);
  if (absl::GetFlag(FLAGS_json)) {
    PrintProtoJson(response);
    return 0;
  }
  std::printf(
      "model %s version %s: dtype %s, default act_quant %s, %d layers, %llu "
      "packed bytes, %llu bytes held in all\n",
      response.name().c_str(), response.version().c_str(),
      DataTypeLabel(response.dtype()).c_str(),
      v1::ActQuant_Name(response.default_act_quant()).c_str(),
      response.layers_size(),
      static_cast<unsigned long long>(response.packed_bytes()),
      static_cast<unsigned long long>(response.held_bytes()));
  std::vector<std::vector<std::string>> rows = {
      {"#", "LAYER", "IN", "OUT", "FORMAT", "GROUP", "BITS", "MAPPING", "BIAS",
       "ACTIVATION", "PACKED_BYTES", "HELD_BYTES", "KERNEL_NONE",
       "KERNEL_INT8"}};
  int i = 0;
  for (const v1::LayerInfo& l : response.layers()) {
    rows.push_back(
        {std::to_string(i++), l.name(), std::to_string(l.in_features()),
         std::to_string(l.out_features()), l.format(),
         std::to_string(l.group_size()), std::to_string(l.bits()),
         l.mapping().empty() ? "-" : l.mapping(), l.bias() ? "yes" : "no",
         l.activation(), std::to_string(l.packed_bytes()),
         std::to_string(l.held_bytes()),
         l.kernel_none().empty() ? "-" : l.kernel_none(),
         l.kernel_int8_asym_per_token().empty()
             ? "-"
             : l.kernel_int8_asym_per_token()});
  }
  PrintColumns(rows, {true, false, true, true, false, true, true, false, false,
                      false, true, false, false});
  return 0;
}

// The admin token from --admin-token, --admin-token-file or
// $QLINEAR_ADMIN_TOKEN, in that order; "" when none is given.
std::string AdminToken(std::string* error) {
  std::string token = absl::GetFlag(FLAGS_admin_token);
  const std::string file = absl::GetFlag(FLAGS_admin_token_file);
  if (token.empty() && !file.empty()) {
    std::ifstream in(file);
    // Surrounding whitespace (a CRLF file's "\r") is no part of the token.
    if (std::getline(in, token)) {
      token = std::string(absl::StripAsciiWhitespace(token));
    }
    if (!in || token.empty()) {
      *error = "--admin-token-file: cannot read a token from " + file;
      return "";
    }
  }
  if (token.empty()) {
    if (const char* env = std::getenv("QLINEAR_ADMIN_TOKEN")) token = env;
  }
  return token;
}

int LoadOrUnload(v1::QLinear::Stub* stub, bool load, const std::string& model) {
  std::string error;
  const std::string token = AdminToken(&error);
  if (!error.empty()) return UsageError(error);
  grpc::ClientContext context;
  SetDeadline(&context);
  if (!token.empty()) context.AddMetadata("authorization", "Bearer " + token);
  const bool json = absl::GetFlag(FLAGS_json);
  if (load) {
    v1::LoadModelRequest request;
    request.set_model(model);
    request.set_version(absl::GetFlag(FLAGS_version));
    v1::LoadModelResponse response;
    const grpc::Status status = stub->LoadModel(&context, request, &response);
    if (!status.ok()) return RpcError(status);
    if (json) {
      PrintProtoJson(response);
    } else {
      std::printf("loaded %s version %s in %.3f s\n", response.model().c_str(),
                  response.version().c_str(), response.load_seconds());
    }
    return 0;
  }
  v1::UnloadModelRequest request;
  request.set_model(model);
  v1::UnloadModelResponse response;
  const grpc::Status status = stub->UnloadModel(&context, request, &response);
  if (!status.ok()) return RpcError(status);
  if (json) {
    std::printf("{\"model\": %s, \"unloaded\": true}\n",
                JsonString(model).c_str());
  } else {
    std::printf("unloaded %s\n", model.c_str());
  }
  return 0;
}

// --- Inputs and outputs
// ---------------------------------------------------------

bool ParseActQuant(const std::string& s, v1::ActQuant* out) {
  if (s == "default") {
    *out = v1::ACT_QUANT_MODEL_DEFAULT;
  } else if (s == "none") {
    *out = v1::ACT_QUANT_NONE;
  } else if (s == "int8_asym_per_token") {
    *out = v1::ACT_QUANT_INT8_ASYM_PER_TOKEN;
  } else {
    return false;
  }
  return true;
}

// Fills `tensor` ([M, k] in `dtype`) from --input, or randomly from --rows
// and --seed (multiples of 1/256 in [-1, 1], exact in every dtype). Returns
// an error message, or "" on success.
std::string MakeInput(v1::DataType dtype, uint64_t k, v1::Tensor* tensor) {
  const size_t row_bytes = k * ElementSize(dtype);
  tensor->set_dtype(dtype);
  std::string* data = tensor->mutable_data();
  int64_t rows = 0;
  const std::string path = absl::GetFlag(FLAGS_input);
  const std::string format = absl::GetFlag(FLAGS_input_format);
  if (format != "auto" && format != "npy" && format != "raw") {
    return "--input-format must be auto, npy or raw";
  }
  if (!path.empty()) {
    std::ifstream file(path, std::ios::binary);
    if (!file) return "--input: cannot open " + path;
    std::string bytes((std::istreambuf_iterator<char>(file)),
                      std::istreambuf_iterator<char>());
    const bool npy = format == "npy" ||
                     (format == "auto" && absl::StartsWith(bytes, "\x93NUMPY"));
    if (npy) {
      absl::StatusOr<qlinear::clients::NpyArray> array =
          qlinear::clients::ParseNpy(bytes);
      if (!array.ok()) {
        return "--input " + path + ": " + std::string(array.status().message());
      }
      const int64_t width = array->shape.back();
      if (width != static_cast<int64_t>(k)) {
        return "--input " + path + ": the last dimension is " +
               std::to_string(width) +
               ", but the model needs K = " + std::to_string(k);
      }
      rows = array->shape.size() == 2 ? array->shape[0] : 1;
      if (rows < 1) return "--input " + path + ": the array has no rows";
      const v1::DataType from =
          array->descr == "<f4" ? v1::DATA_TYPE_FP32 : v1::DATA_TYPE_FP16;
      const size_t count = static_cast<size_t>(rows) * k;
      data->assign(count * ElementSize(dtype), '\0');
      for (size_t i = 0; i < count; ++i) {
        qlinear::clients::StoreElement(
            dtype, qlinear::clients::LoadElement(from, array->data, i), data,
            i);
      }
    } else {
      *data = std::move(bytes);
      if (row_bytes == 0 || data->empty() || data->size() % row_bytes != 0) {
        return "--input: " + std::to_string(data->size()) +
               " bytes is not a whole number of " + std::to_string(row_bytes) +
               "-byte rows (K = " + std::to_string(k) + ", " +
               DataTypeLabel(dtype) + ")";
      }
      rows = static_cast<int64_t>(data->size() / row_bytes);
    }
  } else {
    rows = absl::GetFlag(FLAGS_rows);
    if (rows < 1) return "--rows must be at least 1";
    qlinear::clients::FillRandom(dtype, static_cast<size_t>(rows) * k,
                                 absl::GetFlag(FLAGS_seed), data);
  }
  tensor->add_shape(rows);
  tensor->add_shape(static_cast<int64_t>(k));
  return "";
}

// An output to print: from Forward, Matmul or ModelInfer.
struct Output {
  std::string model;
  std::string version;
  std::vector<int64_t> shape;
  v1::DataType dtype = v1::DATA_TYPE_FP32;
  std::string data;
  double latency_seconds = 0;
  const v1::Timings* timings = nullptr;  // may be null
  // Set when --act-quant-quality asked for it: one entry per quantized layer
  // run, in order (empty when the range has none).
  const google::protobuf::RepeatedPtrField<v1::LayerActQuantQuality>*
      act_quant_quality = nullptr;
};

// The lowest of a layer's row SQNRs (+inf when it has none).
double MinRowSqnrDb(const v1::LayerActQuantQuality& q) {
  double low = std::numeric_limits<double>::infinity();
  for (double db : q.row_sqnr_db()) low = std::min(low, db);
  return low;
}

// Writes --output (float32 .npy). Returns an error message or "".
std::string SaveOutput(const Output& out) {
  const std::string path = absl::GetFlag(FLAGS_output);
  if (path.empty()) return "";
  const size_t count = out.data.size() / ElementSize(out.dtype);
  std::vector<float> values(count);
  for (size_t i = 0; i < count; ++i) {
    values[i] = qlinear::clients::LoadElement(out.dtype, out.data, i);
  }
  std::ofstream file(path, std::ios::binary | std::ios::trunc);
  file << qlinear::clients::MakeNpyFloat32(out.shape, values);
  file.close();
  return file ? "" : "--output: cannot write " + path;
}

void PrintOutput(const Output& out) {
  const size_t count = out.data.size() / ElementSize(out.dtype);
  const size_t show = std::min<size_t>(
      count, static_cast<size_t>(std::max(0, absl::GetFlag(FLAGS_show))));
  const std::string shape = absl::StrJoin(out.shape, ", ");
  if (absl::GetFlag(FLAGS_json)) {
    std::string values;
    for (size_t i = 0; i < show; ++i) {
      values += (i ? ", " : "") + JsonNumber(qlinear::clients::LoadElement(
                                      out.dtype, out.data, i));
    }
    std::printf(
        "{\"model\": %s, \"version\": %s, \"output_shape\": [%s], \"dtype\": "
        "%s, \"first_values\": [%s], \"latency_seconds\": %s",
        JsonString(out.model).c_str(), JsonString(out.version).c_str(),
        shape.c_str(), JsonString(DataTypeLabel(out.dtype)).c_str(),
        values.c_str(), JsonNumber(out.latency_seconds).c_str());
    if (out.timings != nullptr) {
      const v1::Timings& t = *out.timings;
      std::printf(
          ", \"timings\": {\"total_seconds\": %s, \"queue_seconds\": %s, "
          "\"batch_rows\": %lld, \"layers\": [",
          JsonNumber(t.total_seconds()).c_str(),
          JsonNumber(t.queue_seconds()).c_str(),
          static_cast<long long>(t.batch_rows()));
      for (int i = 0; i < t.layers_size(); ++i) {
        std::printf("%s{\"layer\": %s, \"kernel\": %s, \"kernel_seconds\": %s}",
                    i ? ", " : "", JsonString(t.layers(i).layer()).c_str(),
                    JsonString(t.layers(i).kernel()).c_str(),
                    JsonNumber(t.layers(i).kernel_seconds()).c_str());
      }
      std::printf("]}");
    }
    if (out.act_quant_quality != nullptr) {
      std::printf(", \"act_quant_quality\": [");
      int i = 0;
      for (const v1::LayerActQuantQuality& q : *out.act_quant_quality) {
        std::string rows;
        for (double db : q.row_sqnr_db()) {
          rows += (rows.empty() ? "" : ", ") + JsonNumber(db);
        }
        std::printf(
            "%s{\"layer\": %s, \"sqnr_db\": %s, \"rel_max_error\": %s, "
            "\"outlier_ratio\": %s, \"row_sqnr_db\": [%s]}",
            i++ ? ", " : "", JsonString(q.layer()).c_str(),
            JsonNumber(q.sqnr_db()).c_str(),
            JsonNumber(q.rel_max_error()).c_str(),
            JsonNumber(q.outlier_ratio()).c_str(), rows.c_str());
      }
      std::printf("]");
    }
    std::printf("}\n");
    return;
  }
  std::printf("model %s version %s: output [%s] %s\n", out.model.c_str(),
              out.version.c_str(), shape.c_str(),
              DataTypeLabel(out.dtype).c_str());
  std::printf("first values:");
  for (size_t i = 0; i < show; ++i) {
    std::printf(" %.6g", qlinear::clients::LoadElement(out.dtype, out.data, i));
  }
  std::printf("\nlatency: %.3f ms\n", out.latency_seconds * 1e3);
  if (out.timings != nullptr) {
    const v1::Timings& t = *out.timings;
    std::printf("server: total %.3f ms, queue %.3f ms, batch rows %lld\n",
                t.total_seconds() * 1e3, t.queue_seconds() * 1e3,
                static_cast<long long>(t.batch_rows()));
    for (const v1::LayerTiming& l : t.layers()) {
      std::printf("  %-16s %-24s %.3f ms\n", l.layer().c_str(),
                  l.kernel().c_str(), l.kernel_seconds() * 1e3);
    }
  }
  if (out.act_quant_quality != nullptr) {
    std::printf(
        "act_quant_quality: int8_asym_per_token vs none, quantized layers "
        "%d\n",
        out.act_quant_quality->size());
    for (const v1::LayerActQuantQuality& q : *out.act_quant_quality) {
      std::printf(
          "  %-16s sqnr_db %.3f rel_max_error %.6g outlier_ratio %.4f "
          "min_row_sqnr_db %.3f\n",
          q.layer().c_str(), q.sqnr_db(), q.rel_max_error(), q.outlier_ratio(),
          MinRowSqnrDb(q));
    }
  }
}

int Finish(const Output& out) {
  const std::string error = SaveOutput(out);
  if (!error.empty()) {
    std::fprintf(stderr, "qlinear-cli: %s\n", error.c_str());
    return kExitError;
  }
  PrintOutput(out);
  return 0;
}

template <typename Response>
Output FromResponse(const Response& response, double latency_seconds) {
  Output out;
  out.model = response.model();
  out.version = response.version();
  out.shape.assign(response.output().shape().begin(),
                   response.output().shape().end());
  out.dtype = response.output().dtype();
  out.data = response.output().data();
  out.latency_seconds = latency_seconds;
  return out;
}

// --- Commands with compute
// ----------------------------------------------------------

// The forward or matmul command (native API).
int Run(v1::QLinear::Stub* stub, bool matmul) {
  v1::ActQuant act_quant;
  if (!ParseActQuant(absl::GetFlag(FLAGS_act_quant), &act_quant)) {
    return UsageError(
        "--act-quant must be default, none or int8_asym_per_token");
  }
  const std::string model = absl::GetFlag(FLAGS_model);
  const std::string layer = absl::GetFlag(FLAGS_layer);
  const int layer_start = absl::GetFlag(FLAGS_layer_start);
  const int layer_end = absl::GetFlag(FLAGS_layer_end);
  const bool quality = absl::GetFlag(FLAGS_act_quant_quality);
  if (matmul && layer.empty()) return UsageError("matmul needs --layer NAME");

  // The input width K and the dtype come from the model description.
  v1::GetModelResponse info;
  grpc::Status status = GetModel(stub, model, &info);
  if (!status.ok()) return RpcError(status);
  uint64_t k = 0;
  if (matmul) {
    for (const v1::LayerInfo& l : info.layers()) {
      if (l.name() == layer) k = l.in_features();
    }
    if (k == 0)
      return UsageError("model '" + model + "' has no layer '" + layer + "'");
  } else {
    const int first = std::max(layer_start, 0);
    if (first >= info.layers_size()) {
      return UsageError("--layer-start " + std::to_string(first) +
                        " is out of range for " +
                        std::to_string(info.layers_size()) + " layers");
    }
    k = info.layers(first).in_features();
  }

  v1::Tensor input;
  const std::string error = MakeInput(info.dtype(), k, &input);
  if (!error.empty()) return UsageError(error);

  grpc::ClientContext context;
  SetDeadline(&context);
  const auto start = std::chrono::steady_clock::now();
  if (matmul) {
    v1::MatmulRequest request;
    request.set_model(model);
    request.set_version(absl::GetFlag(FLAGS_version));
    *request.mutable_input() = std::move(input);
    request.set_act_quant(act_quant);
    request.set_layer(layer);
    request.set_return_timings(absl::GetFlag(FLAGS_timings));
    request.set_return_act_quant_quality(quality);
    v1::MatmulResponse response;
    status = stub->Matmul(&context, request, &response);
    if (!status.ok()) return RpcError(status);
    Output out = FromResponse(response, SecondsSince(start));
    if (response.has_timings()) out.timings = &response.timings();
    if (quality) out.act_quant_quality = &response.act_quant_quality();
    return Finish(out);
  }
  v1::ForwardRequest request;
  request.set_model(model);
  request.set_version(absl::GetFlag(FLAGS_version));
  *request.mutable_input() = std::move(input);
  request.set_act_quant(act_quant);
  if (layer_start >= 0)
    request.set_layer_start(static_cast<uint32_t>(layer_start));
  if (layer_end >= 0) request.set_layer_end(static_cast<uint32_t>(layer_end));
  request.set_return_timings(absl::GetFlag(FLAGS_timings));
  request.set_return_act_quant_quality(quality);
  v1::ForwardResponse response;
  status = stub->Forward(&context, request, &response);
  if (!status.ok()) return RpcError(status);
  Output out = FromResponse(response, SecondsSince(start));
  if (response.has_timings()) out.timings = &response.timings();
  if (quality) out.act_quant_quality = &response.act_quant_quality();
  return Finish(out);
}

// The infer command: KServe v2 ModelInfer.
int Infer(const std::shared_ptr<grpc::Channel>& channel,
          v1::QLinear::Stub* native) {
  const std::string act_quant = absl::GetFlag(FLAGS_act_quant);
  v1::ActQuant unused;
  if (!ParseActQuant(act_quant, &unused)) {
    return UsageError(
        "--act-quant must be default, none or int8_asym_per_token");
  }
  const std::string model = absl::GetFlag(FLAGS_model);
  const std::string version = absl::GetFlag(FLAGS_version);
  const int layer_start = absl::GetFlag(FLAGS_layer_start);
  const int layer_end = absl::GetFlag(FLAGS_layer_end);
  auto stub = inference::GRPCInferenceService::NewStub(channel);

  // K and the dtype: the KServe metadata of the model's one input, or, for
  // a layer range that starts later, the native description.
  v1::DataType dtype = v1::DATA_TYPE_UNSPECIFIED;
  uint64_t k = 0;
  std::string input_name = "input";
  if (layer_start > 0) {
    v1::GetModelResponse info;
    const grpc::Status status = GetModel(native, model, &info);
    if (!status.ok()) return RpcError(status);
    if (layer_start >= info.layers_size()) {
      return UsageError("--layer-start " + std::to_string(layer_start) +
                        " is out of range for " +
                        std::to_string(info.layers_size()) + " layers");
    }
    dtype = info.dtype();
    k = info.layers(layer_start).in_features();
  } else {
    grpc::ClientContext context;
    SetDeadline(&context);
    inference::ModelMetadataRequest request;
    request.set_name(model);
    request.set_version(version);
    inference::ModelMetadataResponse meta;
    const grpc::Status status = stub->ModelMetadata(&context, request, &meta);
    if (!status.ok()) return RpcError(status);
    if (meta.inputs_size() != 1 || meta.inputs(0).shape_size() != 2 ||
        meta.inputs(0).shape(1) <= 0 ||
        !qlinear::clients::ParseDataType(meta.inputs(0).datatype(), &dtype)) {
      std::fprintf(stderr,
                   "error: model '%s' does not have one [-1, K] input of "
                   "FP32, BF16 or FP16\n",
                   model.c_str());
      return kExitError;
    }
    input_name = meta.inputs(0).name();
    k = static_cast<uint64_t>(meta.inputs(0).shape(1));
  }

  v1::Tensor tensor;
  const std::string error = MakeInput(dtype, k, &tensor);
  if (!error.empty()) return UsageError(error);
  inference::ModelInferRequest request;
  request.set_model_name(model);
  request.set_model_version(version);
  auto* input = request.add_inputs();
  input->set_name(input_name);
  input->set_datatype(DataTypeLabel(dtype));
  for (int64_t d : tensor.shape()) input->add_shape(d);
  *request.add_raw_input_contents() = std::move(*tensor.mutable_data());
  auto& parameters = *request.mutable_parameters();
  if (act_quant != "default") {
    parameters["act_quant"].set_string_param(act_quant);
  }
  if (layer_start >= 0) parameters["layer_start"].set_int64_param(layer_start);
  if (layer_end >= 0) parameters["layer_end"].set_int64_param(layer_end);
  if (absl::GetFlag(FLAGS_timings)) {
    std::fprintf(stderr,
                 "qlinear-cli: note: KServe responses carry no per-request "
                 "timings; use forward --timings, or ModelStatistics\n");
  }
  if (absl::GetFlag(FLAGS_act_quant_quality)) {
    std::fprintf(stderr,
                 "qlinear-cli: note: infer does not print the act_quant "
                 "quality; use forward --act-quant-quality\n");
  }

  grpc::ClientContext context;
  SetDeadline(&context);
  const auto start = std::chrono::steady_clock::now();
  inference::ModelInferResponse response;
  const grpc::Status status = stub->ModelInfer(&context, request, &response);
  if (!status.ok()) return RpcError(status);
  Output out;
  out.latency_seconds = SecondsSince(start);
  out.model = response.model_name();
  out.version = response.model_version();
  if (response.outputs_size() < 1) {
    std::fprintf(stderr, "error: the response has no output\n");
    return kExitError;
  }
  const auto& output = response.outputs(0);
  out.shape.assign(output.shape().begin(), output.shape().end());
  if (!qlinear::clients::ParseDataType(output.datatype(), &out.dtype)) {
    std::fprintf(stderr, "error: output datatype '%s' is not supported\n",
                 output.datatype().c_str());
    return kExitError;
  }
  if (response.raw_output_contents_size() > 0) {
    out.data = response.raw_output_contents(0);
  } else {
    // Typed contents: fp32_contents, FP32 only.
    out.dtype = v1::DATA_TYPE_FP32;
    const auto& values = output.contents().fp32_contents();
    out.data.resize(static_cast<size_t>(values.size()) * 4);
    if (!values.empty()) {
      std::memcpy(out.data.data(), values.data(), out.data.size());
    }
  }
  return Finish(out);
}

}  // namespace

int main(int argc, char** argv) {
  const std::vector<char*> args = qlinear::ParseFlags(
      argc, argv,
      "A client of the qlinear server.\n"
      "Usage: qlinear-cli --target HOST:PORT <command> [flags]\n"
      "Commands:\n"
      "  health            health of --service (exit 0 iff SERVING)\n"
      "  models, list      the models and their state\n"
      "  describe MODEL    a model's dtype and layers: shapes, formats, "
      "packed\n"
      "                    bytes and kernel paths per activation mode\n"
      "  forward           runs random input (or --input .npy/raw) through\n"
      "                    the model (native API)\n"
      "  matmul --layer L  runs one layer without its activation function\n"
      "                    (forward/matmul --act-quant-quality: also the\n"
      "                    server's int8-vs-none SQNR of each layer)\n"
      "  infer             forward over KServe v2 ModelInfer\n"
      "  load MODEL        loads (or reloads) a model version from the\n"
      "                    repository; needs the admin token if configured\n"
      "  unload MODEL      stops serving a model; needs the admin token\n"
      "  service-config    prints the gRPC service config of the clients\n"
      "                    (round_robin, retries on UNAVAILABLE)\n"
      "Errors print 'error: CODE: message' and exit 1; usage errors exit 2.",
      "cli/main.cc");
  if (args.size() < 2) return UsageError("missing command");
  const std::string command = args[1];

  const bool known = command == "health" || command == "list" ||
                     command == "models" || command == "describe" ||
                     command == "forward" || command == "matmul" ||
                     command == "infer" || command == "load" ||
                     command == "unload" || command == "service-config";
  if (!known) return UsageError("unknown command '" + command + "'");
  const bool takes_model =
      command == "describe" || command == "load" || command == "unload";
  const size_t expected_args = takes_model ? 3 : 2;
  if (args.size() != expected_args) {
    return UsageError(takes_model && args.size() < expected_args
                          ? "usage: " + command + " MODEL"
                          : "unexpected argument '" +
                                std::string(args[expected_args]) + "'");
  }

  if (command == "service-config") {
    std::printf("%s\n", qlinear::clients::ServiceConfigJson(
                            qlinear::clients::Balancing::kRoundRobin)
                            .c_str());
    return 0;
  }
  const absl::StatusOr<std::string> target =
      qlinear::clients::ChannelTarget(absl::GetFlag(FLAGS_target));
  if (!target.ok()) {
    return UsageError(std::string(target.status().message()));
  }
  // health asks one server what it says of itself, NOT_SERVING included:
  // pick_first, which does not hide a replica that health checking marks
  // unhealthy, as round_robin does.
  auto channel = grpc::CreateCustomChannel(
      *target, grpc::InsecureChannelCredentials(),
      qlinear::clients::ClientChannelArguments(
          command == "health" ? qlinear::clients::Balancing::kPickFirst
                              : qlinear::clients::Balancing::kRoundRobin));
  auto stub = v1::QLinear::NewStub(channel);
  if (command == "health") return Health(channel);
  if (command == "list" || command == "models") return List(stub.get());
  if (command == "describe") return Describe(stub.get(), args[2]);
  if (command == "load") return LoadOrUnload(stub.get(), true, args[2]);
  if (command == "unload") return LoadOrUnload(stub.get(), false, args[2]);
  if (command == "infer") return Infer(channel, stub.get());
  return Run(stub.get(), /*matmul=*/command == "matmul");
}
