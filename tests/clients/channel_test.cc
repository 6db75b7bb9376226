// The clients' channel helpers: the --target syntax and the service config
// (round_robin and the retry policy; docs/deploy.md, "Load balancing gRPC
// across replicas").
#include "clients/common/channel.h"

#include <google/protobuf/struct.pb.h>
#include <google/protobuf/util/json_util.h>

#include <string>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/testing/status_matchers.h"

namespace qlinear::clients {
namespace {

using ::qlinear::testing::StatusIs;
using ::testing::HasSubstr;

TEST(ChannelTargetTest, PassesGrpcNameSyntaxAndOneAddressThrough) {
  for (const std::string t :
       {"dns:///qlinear-headless:8001", "ipv4:127.0.0.1:9001,127.0.0.1:9002",
        "ipv6:[::1]:9001", "unix:/tmp/q.sock", "localhost:8001",
        "10.0.0.1:8001"}) {
    EXPECT_EQ(ChannelTarget(t).value_or(""), t);
  }
}

TEST(ChannelTargetTest, TurnsAListOfAddressesIntoOneTarget) {
  EXPECT_EQ(ChannelTarget("127.0.0.1:9001,127.0.0.1:9002").value_or(""),
            "ipv4:127.0.0.1:9001,127.0.0.1:9002");
  EXPECT_EQ(ChannelTarget("[::1]:9001,[fe80::1]:9002").value_or(""),
            "ipv6:[::1]:9001,[fe80::1]:9002");
}

TEST(ChannelTargetTest, RejectsWhatCannotBeOneTarget) {
  EXPECT_THAT(ChannelTarget(""),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("empty")));
  EXPECT_THAT(ChannelTarget("127.0.0.1:9001,qlinear:9002"),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("'qlinear:9002' in a list of targets")));
  EXPECT_THAT(ChannelTarget("127.0.0.1:9001,127.0.0.1"),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("'127.0.0.1' in a list")));
  EXPECT_THAT(ChannelTarget("127.0.0.1:9001,127.0.0.1:70000"),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("'127.0.0.1:70000'")));
  EXPECT_THAT(ChannelTarget("127.0.0.1:9001,[::1]:9002"),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("cannot be mixed")));
}

TEST(ServiceConfigTest, BalancesAndRetriesUnavailableOnInferenceCalls) {
  google::protobuf::Struct config;
  ASSERT_TRUE(google::protobuf::util::JsonStringToMessage(
                  ServiceConfigJson(Balancing::kRoundRobin), &config)
                  .ok());
  const auto& lb = config.fields().at("loadBalancingConfig").list_value();
  ASSERT_EQ(lb.values_size(), 1);
  EXPECT_TRUE(lb.values(0).struct_value().fields().contains("round_robin"));
  EXPECT_EQ(config.fields()
                .at("healthCheckConfig")
                .struct_value()
                .fields()
                .at("serviceName")
                .string_value(),
            "");
  const auto& method =
      config.fields().at("methodConfig").list_value().values(0).struct_value();
  std::string names;
  for (const auto& n : method.fields().at("name").list_value().values()) {
    names += n.struct_value().fields().at("method").string_value() + " ";
  }
  EXPECT_EQ(names,
            "Forward Matmul GetModel ModelInfer ModelMetadata ModelConfig "
            "ModelStatistics ModelReady ");
  const auto& retry = method.fields().at("retryPolicy").struct_value();
  EXPECT_EQ(retry.fields().at("maxAttempts").number_value(), 5);
  const auto& codes = retry.fields().at("retryableStatusCodes").list_value();
  ASSERT_EQ(codes.values_size(), 1);
  EXPECT_EQ(codes.values(0).string_value(), "UNAVAILABLE");

  EXPECT_THAT(ServiceConfigJson(Balancing::kPickFirst),
              HasSubstr(R"({"pick_first": {}})"));
}

}  // namespace
}  // namespace qlinear::clients
