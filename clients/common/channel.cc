#include "clients/common/channel.h"

#include <arpa/inet.h>
#include <google/protobuf/struct.pb.h>
#include <google/protobuf/util/json_util.h>
#include <grpc/grpc.h>
#include <grpc/support/alloc.h>

#include <algorithm>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"

namespace qlinear::clients {
namespace {

// The methods a retry may repeat: unary and free of side effects.
constexpr const char* kRetriedMethods[][2] = {
    {"qlinear.v1.QLinear", "Forward"},
    {"qlinear.v1.QLinear", "Matmul"},
    {"qlinear.v1.QLinear", "GetModel"},
    {"inference.GRPCInferenceService", "ModelInfer"},
    {"inference.GRPCInferenceService", "ModelMetadata"},
    {"inference.GRPCInferenceService", "ModelConfig"},
    {"inference.GRPCInferenceService", "ModelStatistics"},
    {"inference.GRPCInferenceService", "ModelReady"},
};

// Reconnection backoff, initial and most, in milliseconds.
constexpr int kReconnectBackoffMs[2] = {200, 1000};

// Which address family `host_port` ("IP:PORT" or "[IP6]:PORT") is: 4, 6, or
// 0 when it is not an IP literal with a port.
int AddressFamily(absl::string_view host_port) {
  const size_t colon = host_port.rfind(':');
  if (colon == absl::string_view::npos) return 0;
  absl::string_view host = host_port.substr(0, colon);
  int port = 0;
  if (!absl::SimpleAtoi(host_port.substr(colon + 1), &port) || port < 1 ||
      port > 65535) {
    return 0;
  }
  unsigned char buffer[16];
  const std::string h(host);
  if (inet_pton(AF_INET, h.c_str(), buffer) == 1) return 4;
  if (absl::ConsumePrefix(&host, "[") && absl::ConsumeSuffix(&host, "]") &&
      inet_pton(AF_INET6, std::string(host).c_str(), buffer) == 1) {
    return 6;
  }
  return 0;
}

// A channelz JSON document as a protobuf Struct (empty on a parse error).
google::protobuf::Struct ParseChannelz(char* json) {
  google::protobuf::Struct out;
  if (json == nullptr) return out;
  if (!google::protobuf::util::JsonStringToMessage(json, &out).ok()) {
    out.Clear();
  }
  gpr_free(json);
  return out;
}

const google::protobuf::Value& Field(const google::protobuf::Struct& s,
                                     const char* name) {
  static const google::protobuf::Value* const kNone =
      new google::protobuf::Value();
  auto it = s.fields().find(name);
  return it == s.fields().end() ? *kNone : it->second;
}

// channelz writes int64 counters as JSON strings.
int64_t Counter(const google::protobuf::Value& data, const char* name) {
  const google::protobuf::Value& v = Field(data.struct_value(), name);
  int64_t n = 0;
  if (v.has_string_value() && absl::SimpleAtoi(v.string_value(), &n)) return n;
  return v.has_number_value() ? static_cast<int64_t>(v.number_value()) : 0;
}

}  // namespace

std::string ServiceConfigJson(Balancing balancing) {
  std::vector<std::string> names;
  for (const auto& m : kRetriedMethods) {
    names.push_back(absl::StrCat(R"({"service": ")", m[0], R"(", "method": ")",
                                 m[1], R"("})"));
  }
  return absl::StrCat(
      R"({"loadBalancingConfig": [{")",
      balancing == Balancing::kRoundRobin ? "round_robin" : "pick_first",
      R"(": {}}], "healthCheckConfig": {"serviceName": ""}, )",
      R"("methodConfig": [{"name": [)", absl::StrJoin(names, ", "),
      R"(], "retryPolicy": {"maxAttempts": 5, "initialBackoff": "0.01s", )",
      R"("maxBackoff": "0.3s", "backoffMultiplier": 2, )",
      R"("retryableStatusCodes": ["UNAVAILABLE"]}}]})");
}

absl::StatusOr<std::string> ChannelTarget(absl::string_view targets) {
  if (targets.empty()) {
    return absl::InvalidArgumentError("target: empty");
  }
  // gRPC name syntax: a scheme the resolver registry knows.
  for (const char* scheme :
       {"dns:", "ipv4:", "ipv6:", "unix:", "unix-abstract:"}) {
    if (absl::StartsWith(targets, scheme)) return std::string(targets);
  }
  if (!absl::StrContains(targets, ',')) return std::string(targets);
  int family = 0;
  for (absl::string_view entry : absl::StrSplit(targets, ',')) {
    const int f = AddressFamily(entry);
    if (f == 0) {
      return absl::InvalidArgumentError(absl::StrCat(
          "target: '", entry,
          "' in a list of targets must be IP:PORT or [IPv6]:PORT; for a name "
          "with several addresses use dns:///NAME:PORT"));
    }
    if (family != 0 && f != family) {
      return absl::InvalidArgumentError(
          "target: IPv4 and IPv6 addresses cannot be mixed in one list");
    }
    family = f;
  }
  return absl::StrCat(family == 4 ? "ipv4:" : "ipv6:", targets);
}

grpc::ChannelArguments ClientChannelArguments(Balancing balancing) {
  grpc::ChannelArguments args;
  args.SetMaxReceiveMessageSize(-1);  // outputs may be large
  args.SetServiceConfigJSON(ServiceConfigJson(balancing));
  args.SetInt(GRPC_ARG_ENABLE_RETRIES, 1);
  // Reconnect to a restarted replica within about a second, not gRPC's
  // default backoff of up to 2 minutes.
  args.SetInt(GRPC_ARG_INITIAL_RECONNECT_BACKOFF_MS, kReconnectBackoffMs[0]);
  args.SetInt(GRPC_ARG_MIN_RECONNECT_BACKOFF_MS, kReconnectBackoffMs[0]);
  args.SetInt(GRPC_ARG_MAX_RECONNECT_BACKOFF_MS, kReconnectBackoffMs[1]);
  return args;
}

CallCounts ChannelzCallCounts() {
  CallCounts counts;
  intptr_t start = 0;
  for (;;) {
    const google::protobuf::Struct page =
        ParseChannelz(grpc_channelz_get_top_channels(start));
    const google::protobuf::Value& channels = Field(page, "channel");
    for (const google::protobuf::Value& channel :
         channels.list_value().values()) {
      const google::protobuf::Struct& c = channel.struct_value();
      counts.calls += Counter(Field(c, "data"), "callsStarted");
      int64_t id = 0;
      if (absl::SimpleAtoi(
              Field(Field(c, "ref").struct_value(), "channelId").string_value(),
              &id)) {
        start = std::max<intptr_t>(start, static_cast<intptr_t>(id) + 1);
      }
      for (const google::protobuf::Value& ref :
           Field(c, "subchannelRef").list_value().values()) {
        int64_t sub_id = 0;
        if (!absl::SimpleAtoi(
                Field(ref.struct_value(), "subchannelId").string_value(),
                &sub_id)) {
          continue;
        }
        const google::protobuf::Struct sub = ParseChannelz(
            grpc_channelz_get_subchannel(static_cast<intptr_t>(sub_id)));
        counts.attempts +=
            Counter(Field(Field(sub, "subchannel").struct_value(), "data"),
                    "callsStarted");
      }
    }
    if (Field(page, "end").bool_value() ||
        channels.list_value().values_size() == 0) {
      break;
    }
  }
  return counts;
}

}  // namespace qlinear::clients
