// qlinear-cli: a command-line client of qlinear's native API.
//
//   qlinear-cli --target HOST:PORT health
//   qlinear-cli --target HOST:PORT list
//   qlinear-cli --target HOST:PORT describe MODEL
//   qlinear-cli --target HOST:PORT forward [--model M] [--rows R] ...
//   qlinear-cli --target HOST:PORT matmul --layer NAME [--model M] ...
//
// Exit status: 0 on success, 1 when the server returns an error (printed as
// "error: CODE: message") or health is not SERVING, 2 for a usage error.
#include <grpcpp/grpcpp.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <iterator>
#include <memory>
#include <random>
#include <sstream>
#include <string>
#include <vector>

#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "absl/flags/usage.h"
#include "absl/flags/usage_config.h"
#include "absl/strings/match.h"
#include "absl/time/time.h"
#include "common/flags.h"
#include "google/protobuf/util/json_util.h"
#include "grpc/health/v1/health.grpc.pb.h"
#include "qlinear/v1/qlinear.grpc.pb.h"

ABSL_FLAG(std::string, target, "localhost:8001", "Server address, HOST:PORT.");
ABSL_FLAG(bool, json, false, "Print machine-readable JSON instead of text.");
ABSL_FLAG(absl::Duration, timeout, absl::Seconds(60),
          "Deadline of each call, e.g. 30s.");
ABSL_FLAG(std::string, model, "default", "forward/matmul: model name.");
ABSL_FLAG(std::string, version, "",
          "forward/matmul/describe: model version (empty: latest).");
ABSL_FLAG(int64_t, rows, 1, "forward/matmul: rows M of the random input.");
ABSL_FLAG(std::string, act_quant, "default",
          "forward/matmul: activation mode: default (the model's), none or "
          "int8_asym_per_token.");
ABSL_FLAG(uint64_t, seed, 1, "forward/matmul: seed of the random input.");
ABSL_FLAG(std::string, input, "",
          "forward/matmul: file of raw little-endian input values in the model "
          "dtype, "
          "row-major; M is its size / (K * element size). Overrides --rows.");
ABSL_FLAG(int, layer_start, -1, "forward: first layer to run (-1: 0).");
ABSL_FLAG(int, layer_end, -1,
          "forward: one past the last layer to run (-1: all).");
ABSL_FLAG(std::string, layer, "", "matmul: name of the layer to run.");
ABSL_FLAG(bool, timings, false,
          "forward/matmul: ask the server for per-layer timings.");
ABSL_FLAG(int, show, 8, "forward/matmul: how many output values to print.");

namespace {

namespace v1 = ::qlinear::v1;
using HealthCheckRequest = ::grpc::health::v1::HealthCheckRequest;
using HealthCheckResponse = ::grpc::health::v1::HealthCheckResponse;

constexpr int kExitError = 1;
constexpr int kExitUsage = 2;

int UsageError(const std::string& message) {
  std::fprintf(stderr, "qlinear-cli: %s\nRun with --help for usage.\n",
               message.c_str());
  return kExitUsage;
}

const char* StatusCodeName(grpc::StatusCode code) {
  switch (code) {
    case grpc::StatusCode::OK:
      return "OK";
    case grpc::StatusCode::CANCELLED:
      return "CANCELLED";
    case grpc::StatusCode::UNKNOWN:
      return "UNKNOWN";
    case grpc::StatusCode::INVALID_ARGUMENT:
      return "INVALID_ARGUMENT";
    case grpc::StatusCode::DEADLINE_EXCEEDED:
      return "DEADLINE_EXCEEDED";
    case grpc::StatusCode::NOT_FOUND:
      return "NOT_FOUND";
    case grpc::StatusCode::ALREADY_EXISTS:
      return "ALREADY_EXISTS";
    case grpc::StatusCode::PERMISSION_DENIED:
      return "PERMISSION_DENIED";
    case grpc::StatusCode::RESOURCE_EXHAUSTED:
      return "RESOURCE_EXHAUSTED";
    case grpc::StatusCode::FAILED_PRECONDITION:
      return "FAILED_PRECONDITION";
    case grpc::StatusCode::ABORTED:
      return "ABORTED";
    case grpc::StatusCode::OUT_OF_RANGE:
      return "OUT_OF_RANGE";
    case grpc::StatusCode::UNIMPLEMENTED:
      return "UNIMPLEMENTED";
    case grpc::StatusCode::INTERNAL:
      return "INTERNAL";
    case grpc::StatusCode::UNAVAILABLE:
      return "UNAVAILABLE";
    case grpc::StatusCode::DATA_LOSS:
      return "DATA_LOSS";
    case grpc::StatusCode::UNAUTHENTICATED:
      return "UNAUTHENTICATED";
    default:
      return "UNKNOWN";
  }
}

int RpcError(const grpc::Status& status) {
  std::fprintf(stderr, "error: %s: %s\n", StatusCodeName(status.error_code()),
               status.error_message().c_str());
  return kExitError;
}

void SetDeadline(grpc::ClientContext* context) {
  context->set_deadline(
      absl::ToChronoTime(absl::Now() + absl::GetFlag(FLAGS_timeout)));
}

// --- Element conversion ------------------------------------------------------

size_t ElementSize(v1::DataType t) { return t == v1::DATA_TYPE_FP32 ? 4 : 2; }

// "FP32" for DATA_TYPE_FP32.
std::string DataTypeLabel(v1::DataType t) {
  const std::string& name = v1::DataType_Name(t);
  return name.size() > 10 ? name.substr(10) : name;
}

float HalfToFloat(uint16_t h) {
  const uint32_t sign = (h & 0x8000u) << 16;
  const int exponent = (h >> 10) & 0x1f;
  const uint32_t mantissa = h & 0x3ffu;
  float magnitude;
  if (exponent == 0) {
    magnitude =
        std::ldexp(static_cast<float>(mantissa), -24);  // zero or subnormal
  } else if (exponent == 31) {
    magnitude = mantissa == 0 ? INFINITY : NAN;
  } else {
    magnitude =
        std::ldexp(static_cast<float>(mantissa | 0x400u), exponent - 25);
  }
  return sign != 0 ? -magnitude : magnitude;
}

// Exact only for 0 and normal fp16 values (all the random inputs are).
uint16_t ExactFloatToHalf(float x) {
  uint32_t bits;
  std::memcpy(&bits, &x, 4);
  const uint16_t sign = static_cast<uint16_t>((bits >> 16) & 0x8000u);
  if ((bits & 0x7fffffffu) == 0) return sign;
  const int exponent = static_cast<int>((bits >> 23) & 0xff) - 127 + 15;
  return static_cast<uint16_t>(sign | (exponent << 10) |
                               ((bits >> 13) & 0x3ffu));
}

float LoadElement(v1::DataType t, const std::string& data, size_t i) {
  if (t == v1::DATA_TYPE_FP32) {
    float f;
    std::memcpy(&f, data.data() + 4 * i, 4);
    return f;
  }
  uint16_t h;
  std::memcpy(&h, data.data() + 2 * i, 2);
  if (t == v1::DATA_TYPE_FP16) return HalfToFloat(h);
  const uint32_t bits = static_cast<uint32_t>(h) << 16;  // bf16
  float f;
  std::memcpy(&f, &bits, 4);
  return f;
}

// Writes `x`, which must be exactly representable in `t`, as element `i`.
void StoreExactElement(v1::DataType t, float x, std::string* data, size_t i) {
  if (t == v1::DATA_TYPE_FP32) {
    std::memcpy(&(*data)[4 * i], &x, 4);
    return;
  }
  uint16_t h;
  if (t == v1::DATA_TYPE_FP16) {
    h = ExactFloatToHalf(x);
  } else {
    uint32_t bits;
    std::memcpy(&bits, &x, 4);
    h = static_cast<uint16_t>(bits >> 16);  // bf16: exact, so truncation
  }
  std::memcpy(&(*data)[2 * i], &h, 2);
}

// --- Output helpers
// -------------------------------------------------------------

std::string JsonString(const std::string& s) {
  std::string out = "\"";
  for (char c : s) {
    if (c == '"' || c == '\\') {
      out += '\\';
      out += c;
    } else if (static_cast<unsigned char>(c) < 0x20) {
      char buf[8];
      std::snprintf(buf, sizeof(buf), "\\u%04x", c);
      out += buf;
    } else {
      out += c;
    }
  }
  return out + "\"";
}

std::string JsonNumber(double x) {
  if (!std::isfinite(x)) return "null";
  char buf[32];
  std::snprintf(buf, sizeof(buf), "%.9g", x);
  return buf;
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

// --- Commands
// -------------------------------------------------------------------

int Health(const std::shared_ptr<grpc::Channel>& channel) {
  auto stub = grpc::health::v1::Health::NewStub(channel);
  grpc::ClientContext context;
  SetDeadline(&context);
  HealthCheckRequest request;
  request.set_service("qlinear.v1.QLinear");
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

int List(v1::QLinear::Stub* stub) {
  grpc::ClientContext context;
  SetDeadline(&context);
  v1::ListModelsResponse response;
  const grpc::Status status =
      stub->ListModels(&context, v1::ListModelsRequest(), &response);
  if (!status.ok()) return RpcError(status);
  if (absl::GetFlag(FLAGS_json)) {
    PrintProtoJson(response);
    return 0;
  }
  std::printf("%-24s %-8s %s\n", "MODEL", "VERSION", "READY");
  for (const v1::ModelVersionStatus& m : response.models()) {
    std::printf("%-24s %-8s %s\n", m.name().c_str(), m.version().c_str(),
                m.ready() ? "yes" : "no");
  }
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
      "model %s version %s: dtype %s, default act_quant %s, %llu packed "
      "bytes\n",
      response.name().c_str(), response.version().c_str(),
      DataTypeLabel(response.dtype()).c_str(),
      v1::ActQuant_Name(response.default_act_quant()).c_str(),
      static_cast<unsigned long long>(response.packed_bytes()));
  std::printf("%-4s %-16s %7s %7s %-12s %5s %4s %-26s %-4s %-10s %-12s %s\n",
              "#", "LAYER", "IN", "OUT", "FORMAT", "GROUP", "BITS", "MAPPING",
              "BIAS", "ACTIVATION", "KERNEL", "PACKED_BYTES");
  int i = 0;
  for (const v1::LayerInfo& l : response.layers()) {
    std::printf(
        "%-4d %-16s %7llu %7llu %-12s %5u %4u %-26s %-4s %-10s %-12s %llu\n",
        i++, l.name().c_str(), static_cast<unsigned long long>(l.in_features()),
        static_cast<unsigned long long>(l.out_features()), l.format().c_str(),
        l.group_size(), l.bits(),
        l.mapping().empty() ? "-" : l.mapping().c_str(),
        l.bias() ? "yes" : "no", l.activation().c_str(), l.kernel().c_str(),
        static_cast<unsigned long long>(l.packed_bytes()));
  }
  return 0;
}

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
// and --seed. Random values are multiples of 1/256 in [-1, 1], exact in
// every dtype. Returns an error message, or "" on success.
std::string MakeInput(v1::DataType dtype, uint64_t k, v1::Tensor* tensor) {
  const size_t row_bytes = k * ElementSize(dtype);
  tensor->set_dtype(dtype);
  std::string* data = tensor->mutable_data();
  int64_t rows = 0;
  const std::string path = absl::GetFlag(FLAGS_input);
  if (!path.empty()) {
    std::ifstream file(path, std::ios::binary);
    if (!file) return "--input: cannot open " + path;
    data->assign(std::istreambuf_iterator<char>(file),
                 std::istreambuf_iterator<char>());
    if (row_bytes == 0 || data->empty() || data->size() % row_bytes != 0) {
      return "--input: " + std::to_string(data->size()) +
             " bytes is not a whole number of " + std::to_string(row_bytes) +
             "-byte rows (K = " + std::to_string(k) + ", " +
             DataTypeLabel(dtype) + ")";
    }
    rows = static_cast<int64_t>(data->size() / row_bytes);
  } else {
    rows = absl::GetFlag(FLAGS_rows);
    if (rows < 1) return "--rows must be at least 1";
    data->resize(static_cast<size_t>(rows) * row_bytes);
    std::mt19937_64 rng(absl::GetFlag(FLAGS_seed));
    std::uniform_int_distribution<int> steps(-256, 256);
    for (size_t i = 0; i < static_cast<size_t>(rows) * k; ++i) {
      StoreExactElement(dtype, static_cast<float>(steps(rng)) / 256.0f, data,
                        i);
    }
  }
  tensor->add_shape(rows);
  tensor->add_shape(static_cast<int64_t>(k));
  return "";
}

// Prints the result of Forward or Matmul.
template <typename Response>
void PrintResult(const Response& response, double latency_seconds) {
  const v1::Tensor& out = response.output();
  const size_t count = out.data().size() / ElementSize(out.dtype());
  const size_t show = std::min<size_t>(
      count, static_cast<size_t>(std::max(0, absl::GetFlag(FLAGS_show))));
  std::string shape;
  for (int i = 0; i < out.shape_size(); ++i) {
    shape += (i ? ", " : "") + std::to_string(out.shape(i));
  }
  if (absl::GetFlag(FLAGS_json)) {
    std::string values;
    for (size_t i = 0; i < show; ++i) {
      values +=
          (i ? ", " : "") + JsonNumber(LoadElement(out.dtype(), out.data(), i));
    }
    std::printf(
        "{\"model\": %s, \"version\": %s, \"output_shape\": [%s], \"dtype\": "
        "%s, "
        "\"first_values\": [%s], \"latency_seconds\": %s",
        JsonString(response.model()).c_str(),
        JsonString(response.version()).c_str(), shape.c_str(),
        JsonString(DataTypeLabel(out.dtype())).c_str(), values.c_str(),
        JsonNumber(latency_seconds).c_str());
    if (response.has_timings()) {
      const v1::Timings& t = response.timings();
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
    std::printf("}\n");
    return;
  }
  std::printf("model %s version %s: output [%s] %s\n", response.model().c_str(),
              response.version().c_str(), shape.c_str(),
              DataTypeLabel(out.dtype()).c_str());
  std::printf("first values:");
  for (size_t i = 0; i < show; ++i)
    std::printf(" %.6g", LoadElement(out.dtype(), out.data(), i));
  std::printf("\nlatency: %.3f ms\n", latency_seconds * 1e3);
  if (response.has_timings()) {
    const v1::Timings& t = response.timings();
    std::printf("server: total %.3f ms, queue %.3f ms, batch rows %lld\n",
                t.total_seconds() * 1e3, t.queue_seconds() * 1e3,
                static_cast<long long>(t.batch_rows()));
    for (const v1::LayerTiming& l : t.layers()) {
      std::printf("  %-16s %-12s %.3f ms\n", l.layer().c_str(),
                  l.kernel().c_str(), l.kernel_seconds() * 1e3);
    }
  }
}

// The forward or matmul command.
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
    v1::MatmulResponse response;
    status = stub->Matmul(&context, request, &response);
    if (!status.ok()) return RpcError(status);
    PrintResult(response, std::chrono::duration<double>(
                              std::chrono::steady_clock::now() - start)
                              .count());
  } else {
    v1::ForwardRequest request;
    request.set_model(model);
    request.set_version(absl::GetFlag(FLAGS_version));
    *request.mutable_input() = std::move(input);
    request.set_act_quant(act_quant);
    if (layer_start >= 0)
      request.set_layer_start(static_cast<uint32_t>(layer_start));
    if (layer_end >= 0) request.set_layer_end(static_cast<uint32_t>(layer_end));
    request.set_return_timings(absl::GetFlag(FLAGS_timings));
    v1::ForwardResponse response;
    status = stub->Forward(&context, request, &response);
    if (!status.ok()) return RpcError(status);
    PrintResult(response, std::chrono::duration<double>(
                              std::chrono::steady_clock::now() - start)
                              .count());
  }
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  absl::SetProgramUsageMessage(
      "A client of the qlinear server.\n"
      "Usage: qlinear-cli --target HOST:PORT <command> [flags]\n"
      "Commands:\n"
      "  health            health of qlinear.v1.QLinear (exit 0 iff SERVING)\n"
      "  list              the loaded models\n"
      "  describe MODEL    a model's dtype and layers\n"
      "  forward           runs random input (or --input) through the model\n"
      "  matmul --layer L  runs one layer without its activation function\n"
      "Flag names may be written with dashes or underscores.");
  // --help lists the flags of this file (absl matches the program name).
  absl::FlagsUsageConfig usage_config;
  usage_config.contains_help_flags = [](absl::string_view file) {
    return absl::EndsWith(file, "cli/main.cc");
  };
  usage_config.contains_helpshort_flags = usage_config.contains_help_flags;
  absl::SetFlagsUsageConfig(usage_config);
  qlinear::DashedFlagNamesToUnderscores(argc, argv);
  const std::vector<char*> args = absl::ParseCommandLine(argc, argv);
  if (args.size() < 2) return UsageError("missing command");
  const std::string command = args[1];

  grpc::ChannelArguments channel_args;
  channel_args.SetMaxReceiveMessageSize(-1);  // outputs may be large
  auto channel = grpc::CreateCustomChannel(absl::GetFlag(FLAGS_target),
                                           grpc::InsecureChannelCredentials(),
                                           channel_args);
  auto stub = v1::QLinear::NewStub(channel);

  const bool known = command == "health" || command == "list" ||
                     command == "describe" || command == "forward" ||
                     command == "matmul";
  if (!known) return UsageError("unknown command '" + command + "'");
  const size_t expected_args = command == "describe" ? 3 : 2;
  if (args.size() != expected_args) {
    return UsageError(command == "describe"
                          ? "usage: describe MODEL"
                          : "unexpected argument '" +
                                std::string(args[expected_args]) + "'");
  }
  if (command == "health") return Health(channel);
  if (command == "list") return List(stub.get());
  if (command == "describe") return Describe(stub.get(), args[2]);
  return Run(stub.get(), /*matmul=*/command == "matmul");
}
