// The RequestKinds of qlinear-bench over real gRPC on loopback, against an
// in-process server answering ListModels and grpc.health.v1 Check: a call
// lets go of everything it holds (its ClientContext, with its reference to
// the channel) before it reports, so a load point that has seen its last
// completion may destroy the kind and the channels, and the process may
// exit, with no gRPC thread still touching them. Short runs with calls in
// flight at the end of the window exercise that teardown many times.
#include "clients/bench/rpcs.h"

#include <grpcpp/grpcpp.h>

#include <chrono>
#include <memory>
#include <string>
#include <vector>

#include "absl/synchronization/notification.h"
#include "absl/time/time.h"
#include "clients/bench/load_generator.h"
#include "gtest/gtest.h"
#include "qlinear/v1/qlinear.grpc.pb.h"

namespace qlinear::bench {
namespace {

class FakeQLinear final : public v1::QLinear::Service {
  grpc::Status ListModels(grpc::ServerContext* context,
                          const v1::ListModelsRequest* request,
                          v1::ListModelsResponse* response) override {
    for (const char* name : {"a", "b", "default"}) {
      v1::ModelVersionStatus* m = response->add_models();
      m->set_name(name);
      m->set_version("1");
      m->set_ready(true);
      m->set_state("READY");
    }
    return grpc::Status::OK;
  }
};

class RpcsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    grpc::EnableDefaultHealthCheckService(true);
    grpc::ServerBuilder builder;
    builder.AddListeningPort("127.0.0.1:0", grpc::InsecureServerCredentials(),
                             &port_);
    builder.RegisterService(&service_);
    server_ = builder.BuildAndStart();
    ASSERT_NE(server_, nullptr);
    ASSERT_GT(port_, 0);
  }
  void TearDown() override {
    if (server_ != nullptr) server_->Shutdown();
  }

  // A channel with a connection of its own, as qlinear-bench makes them.
  std::shared_ptr<grpc::Channel> NewChannel() {
    grpc::ChannelArguments args;
    args.SetInt(GRPC_ARG_USE_LOCAL_SUBCHANNEL_POOL, 1);
    return grpc::CreateCustomChannel("127.0.0.1:" + std::to_string(port_),
                                     grpc::InsecureChannelCredentials(), args);
  }

  static std::unique_ptr<RequestKind> MakeKind(
      const std::string& rpc,
      const std::vector<std::shared_ptr<grpc::Channel>>& channels) {
    RequestOptions options;
    options.rpc = rpc;
    absl::StatusOr<std::unique_ptr<RequestKind>> kind =
        MakeRequestKind(options, channels);
    EXPECT_TRUE(kind.ok()) << kind.status();
    return kind.ok() ? *std::move(kind) : nullptr;
  }

  FakeQLinear service_;
  int port_ = 0;
  std::unique_ptr<grpc::Server> server_;
};

TEST_F(RpcsTest, CallReleasesTheChannelBeforeReporting) {
  for (const std::string rpc : {"list", "health"}) {
    SCOPED_TRACE(rpc);
    std::shared_ptr<grpc::Channel> channel = NewChannel();
    std::unique_ptr<RequestKind> kind = MakeKind(rpc, {channel});
    ASSERT_NE(kind, nullptr);
    // The test's reference and the stub's.
    const long idle_refs = channel.use_count();
    for (int i = 0; i < 20; ++i) {
      absl::Notification done;
      CallOutcome outcome;
      long refs_in_done = -1;
      kind->Start(0,
                  std::chrono::system_clock::now() + std::chrono::seconds(10),
                  [&](const CallOutcome& o) {
                    // The call's ClientContext (which holds the channel) is
                    // gone by now: nothing of the call outlives `done`.
                    refs_in_done = channel.use_count();
                    outcome = o;
                    done.Notify();
                  });
      done.WaitForNotification();
      EXPECT_EQ(outcome.code, grpc::StatusCode::OK);
      EXPECT_GT(outcome.response_bytes, 0u);
      EXPECT_EQ(refs_in_done, idle_refs);
    }
  }
}

// Many short load points, closed and open loop, each with calls in flight
// when its window ends; right after each returns, the kind and the channels
// are destroyed, and the channels must be gone then (no call of the run
// still holds one).
TEST_F(RpcsTest, ShortRunsEndWithNoCallHoldingTheChannels) {
  struct Point {
    std::string rpc;
    bool open;
    int concurrency;
    size_t channels;
  };
  const Point points[] = {
      {"list", false, 1, 1},
      {"list", false, 16, 2},
      {"health", false, 16, 1},
      {"list", true, 0, 2},
  };
  for (int iteration = 0; iteration < 25; ++iteration) {
    for (const Point& point : points) {
      SCOPED_TRACE(::testing::Message()
                   << point.rpc << (point.open ? " open" : " closed") << " c"
                   << point.concurrency << " iteration " << iteration);
      std::vector<std::shared_ptr<grpc::Channel>> channels;
      for (size_t c = 0; c < point.channels; ++c) {
        channels.push_back(NewChannel());
      }
      std::unique_ptr<RequestKind> kind = MakeKind(point.rpc, channels);
      ASSERT_NE(kind, nullptr);
      LoadOptions options;
      options.warmup = absl::ZeroDuration();
      options.duration = absl::Milliseconds(10);
      options.timeout = absl::Seconds(10);
      options.channels = point.channels;
      options.concurrency = point.concurrency;
      options.rate = 5000;
      const StatsFetcher no_stats = [] {
        return std::optional<ServerCounters>();
      };
      const PointSummary p = point.open
                                 ? RunOpenLoop(kind.get(), options, no_stats)
                                 : RunClosedLoop(kind.get(), options, no_stats);
      EXPECT_EQ(p.errors, 0u);
      kind.reset();
      std::vector<std::weak_ptr<grpc::Channel>> gone(channels.begin(),
                                                     channels.end());
      channels.clear();
      for (const std::weak_ptr<grpc::Channel>& channel : gone) {
        EXPECT_TRUE(channel.expired());
      }
    }
  }
}

}  // namespace
}  // namespace qlinear::bench
