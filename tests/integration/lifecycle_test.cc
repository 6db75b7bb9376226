// The model lifecycle over real gRPC: load, swap and unload under continuous
// traffic with no failed request, a failed load that keeps the serving
// version, a model answering UNAVAILABLE while its first version loads (with
// server readiness steady), per-model health, the admin token, TLS, one
// model directory served by name (KServe's layout), and GOAWAY after
// max_connection_age.
#include <grpcpp/grpcpp.h>

#include <atomic>
#include <cstdlib>
#include <functional>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "absl/cleanup/cleanup.h"
#include "absl/synchronization/notification.h"
#include "gmock/gmock.h"
#include "grpc/health/v1/health.grpc.pb.h"
#include "gtest/gtest.h"
#include "inference/grpc_service.grpc.pb.h"
#include "model/loader.h"
#include "server/server.h"
#include "tests/testing/serving_test_util.h"
#include "tests/testing/status_matchers.h"

namespace qlinear::server {
namespace {

using ::qlinear::testing::RandomTensor;
using ::qlinear::testing::ReferenceForward;
using ::qlinear::testing::StatusIs;
using ::qlinear::testing::TempDir;
using ::qlinear::testing::WriteFile;
using ::qlinear::testing::WriteModelDir;
using ::testing::HasSubstr;

model::SyntheticModelSpec Spec(uint64_t seed) {
  model::SyntheticModelSpec spec;
  spec.widths = {128, 64, 32};
  spec.group_size = 32;
  spec.seed = seed;
  return spec;
}

class LifecycleTest : public ::testing::Test {
 protected:
  void StartServer(const std::string& admin_token = "",
                   std::function<void(const std::string&, const std::string&)>
                       load_hook = nullptr) {
    WriteModelDir(dir_.path() / "a" / "1", Spec(1), ActQuant::kNone);
    WriteModelDir(dir_.path() / "b" / "1", Spec(2), ActQuant::kNone);
    ServerOptions options;
    options.host = "127.0.0.1";
    options.port = 0;
    options.model_repository = dir_.path().string();
    options.threads = 2;
    options.admin_token = admin_token;
    options.model_load_hook_for_test = std::move(load_hook);
    auto server = Server::Create(options);
    ASSERT_TRUE(server.ok()) << server.status();
    server_ = std::move(*server);
    channel_ =
        grpc::CreateChannel("127.0.0.1:" + std::to_string(server_->port()),
                            grpc::InsecureChannelCredentials());
    stub_ = v1::QLinear::NewStub(channel_);
  }

  grpc::Status Load(const std::string& model, const std::string& version,
                    const std::string& token = "") {
    grpc::ClientContext context;
    if (!token.empty()) context.AddMetadata("authorization", "Bearer " + token);
    v1::LoadModelRequest request;
    request.set_model(model);
    request.set_version(version);
    v1::LoadModelResponse response;
    return stub_->LoadModel(&context, request, &response);
  }

  grpc::Status Unload(const std::string& model, const std::string& token = "") {
    grpc::ClientContext context;
    if (!token.empty()) context.AddMetadata("authorization", "Bearer " + token);
    v1::UnloadModelRequest request;
    request.set_model(model);
    v1::UnloadModelResponse response;
    return stub_->UnloadModel(&context, request, &response);
  }

  grpc::Status Forward(const std::string& model, const v1::Tensor& input,
                       v1::ForwardResponse* response) {
    grpc::ClientContext context;
    context.set_deadline(std::chrono::system_clock::now() +
                         std::chrono::seconds(30));
    v1::ForwardRequest request;
    request.set_model(model);
    *request.mutable_input() = input;
    return stub_->Forward(&context, request, response);
  }

  grpc::health::v1::HealthCheckResponse::ServingStatus Health(
      const std::string& service) {
    auto health = grpc::health::v1::Health::NewStub(channel_);
    grpc::ClientContext context;
    grpc::health::v1::HealthCheckRequest request;
    request.set_service(service);
    grpc::health::v1::HealthCheckResponse response;
    const grpc::Status s = health->Check(&context, request, &response);
    return s.ok() ? response.status()
                  : grpc::health::v1::HealthCheckResponse::UNKNOWN;
  }

  TempDir dir_;
  std::unique_ptr<Server> server_;
  std::shared_ptr<grpc::Channel> channel_;
  std::unique_ptr<v1::QLinear::Stub> stub_;
};

TEST_F(LifecycleTest, SwapAndUnloadUnderTrafficLoseNoRequest) {
  StartServer();
  WriteModelDir(dir_.path() / "a" / "2", Spec(3), ActQuant::kNone);
  auto v1_local = model::LoadModelDir((dir_.path() / "a" / "1").string());
  auto v2_local = model::LoadModelDir((dir_.path() / "a" / "2").string());
  ASSERT_TRUE(v1_local.ok() && v2_local.ok());
  const v1::Tensor input = RandomTensor(DType::kF32, 2, 128, 11);
  const std::string out_v1 =
      ReferenceForward(**v1_local, input, 0, 2, ActQuant::kNone);
  const std::string out_v2 =
      ReferenceForward(**v2_local, input, 0, 2, ActQuant::kNone);
  ASSERT_NE(out_v1, out_v2);

  std::atomic<bool> stop{false};
  std::atomic<int> sent{0}, failed{0}, saw_v2{0}, wrong{0};
  std::thread traffic([&] {
    // Bounded: stops when told, or after 20000 requests.
    while (!stop.load() && sent.load() < 20000) {
      v1::ForwardResponse response;
      const grpc::Status s = Forward("a", input, &response);
      ++sent;
      if (!s.ok()) {
        ++failed;
        continue;
      }
      if (response.output().data() == out_v2) {
        ++saw_v2;
      } else if (response.output().data() != out_v1) {
        ++wrong;
      }
    }
  });
  while (sent.load() < 20) std::this_thread::yield();
  ASSERT_TRUE(Load("a", "2").ok());
  const int after_swap = sent.load();
  while (sent.load() < after_swap + 20) std::this_thread::yield();
  ASSERT_TRUE(Unload("b").ok());
  while (sent.load() < after_swap + 40) std::this_thread::yield();
  stop = true;
  traffic.join();
  EXPECT_EQ(failed.load(), 0);
  EXPECT_EQ(wrong.load(), 0);
  EXPECT_GT(saw_v2.load(), 0);

  v1::ForwardResponse response;
  EXPECT_EQ(Forward("b", RandomTensor(DType::kF32, 1, 128, 1), &response)
                .error_code(),
            grpc::StatusCode::NOT_FOUND);
  ASSERT_TRUE(Forward("a", input, &response).ok());
  EXPECT_EQ(response.version(), "2");
}

TEST_F(LifecycleTest, FailedLoadKeepsTheServingVersion) {
  StartServer();
  WriteFile(dir_.path() / "a" / "5" / "model.json",
            "{\"dtype\": \"fp32\", \"layerz\": []}");
  WriteFile(dir_.path() / "a" / "5" / "model.safetensors", "junk");
  const grpc::Status s = Load("a", "5");
  EXPECT_EQ(s.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_THAT(s.error_message(), HasSubstr("layerz"));
  v1::ForwardResponse response;
  ASSERT_TRUE(
      Forward("a", RandomTensor(DType::kF32, 1, 128, 2), &response).ok());
  EXPECT_EQ(response.version(), "1");
  EXPECT_EQ(Load("nope", "").error_code(), grpc::StatusCode::NOT_FOUND);
  EXPECT_EQ(Load("a", "9").error_code(), grpc::StatusCode::NOT_FOUND);
  EXPECT_EQ(Load("../a", "").error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_EQ(Unload("nope").error_code(), grpc::StatusCode::NOT_FOUND);

  grpc::ClientContext context;
  v1::ListModelsResponse list;
  ASSERT_TRUE(stub_->ListModels(&context, v1::ListModelsRequest(), &list).ok());
  ASSERT_EQ(list.models_size(), 2);
  EXPECT_EQ(list.models(0).name(), "a");
  EXPECT_EQ(list.models(0).state(), "READY");
  EXPECT_EQ(list.models(0).version(), "1");
}

TEST_F(LifecycleTest, PerModelHealthFollowsReadiness) {
  StartServer();
  using Status = grpc::health::v1::HealthCheckResponse;
  EXPECT_EQ(Health(""), Status::SERVING);
  EXPECT_EQ(Health("qlinear.v1.QLinear"), Status::SERVING);
  EXPECT_EQ(Health("a"), Status::SERVING);
  EXPECT_EQ(Health("b"), Status::SERVING);
  ASSERT_TRUE(Unload("b").ok());
  EXPECT_EQ(Health("b"), Status::NOT_SERVING);
  EXPECT_EQ(Health("a"), Status::SERVING);
  ASSERT_TRUE(Load("b", "").ok());
  EXPECT_EQ(Health("b"), Status::SERVING);

  grpc::ClientContext context;
  v1::ListModelsResponse list;
  ASSERT_TRUE(stub_->ListModels(&context, v1::ListModelsRequest(), &list).ok());
  EXPECT_EQ(list.models(1).state(), "READY");
}

TEST_F(LifecycleTest, ModelIsUnavailableUntilItsFirstVersionHasLoaded) {
  // The load of model "c" is held, deterministically, between being marked
  // loading and reading its files.
  absl::Notification c_loading, release_c;
  StartServer("", [&](const std::string& model, const std::string&) {
    if (model != "c") return;
    c_loading.Notify();
    release_c.WaitForNotification();
  });
  // Whatever happens below, the held load ends before the server does.
  auto release = absl::MakeCleanup([&] {
    if (!release_c.HasBeenNotified()) release_c.Notify();
  });
  WriteModelDir(dir_.path() / "c" / "1", Spec(4), ActQuant::kNone);
  auto c_local = model::LoadModelDir((dir_.path() / "c" / "1").string());
  ASSERT_TRUE(c_local.ok());
  auto kserve = inference::GRPCInferenceService::NewStub(channel_);
  auto server_ready = [&] {
    grpc::ClientContext context;
    inference::ServerReadyResponse response;
    EXPECT_TRUE(kserve->ServerReady(&context, {}, &response).ok());
    return response.ready();
  };
  auto model_ready = [&](const std::string& model) {
    grpc::ClientContext context;
    inference::ModelReadyRequest request;
    request.set_name(model);
    inference::ModelReadyResponse response;
    EXPECT_TRUE(kserve->ModelReady(&context, request, &response).ok());
    return response.ready();
  };
  auto infer = [&](const v1::Tensor& input) {
    grpc::ClientContext context;
    inference::ModelInferRequest request;
    request.set_model_name("c");
    auto* tensor = request.add_inputs();
    tensor->set_name("input");
    tensor->set_datatype("FP32");
    tensor->add_shape(input.shape(0));
    tensor->add_shape(input.shape(1));
    request.add_raw_input_contents(input.data());
    inference::ModelInferResponse response;
    return kserve->ModelInfer(&context, request, &response);
  };
  using HealthStatus = grpc::health::v1::HealthCheckResponse;
  auto server_is_ready = [&] {
    EXPECT_TRUE(server_ready());
    EXPECT_EQ(Health(""), HealthStatus::SERVING);
    EXPECT_EQ(Health("qlinear.v1.QLinear"), HealthStatus::SERVING);
    EXPECT_EQ(Health("a"), HealthStatus::SERVING);
  };
  server_is_ready();

  grpc::Status load_status;
  v1::LoadModelResponse loaded;
  grpc::ClientContext load_context;
  v1::LoadModelRequest load_request;
  load_request.set_model("c");
  absl::Notification load_done;
  stub_->async()->LoadModel(&load_context, &load_request, &loaded,
                            [&](grpc::Status s) {
                              load_status = std::move(s);
                              load_done.Notify();
                            });
  c_loading.WaitForNotification();

  // Held: every inference RPC on "c" is UNAVAILABLE, the rest serves.
  const v1::Tensor input = RandomTensor(DType::kF32, 2, 128, 21);
  v1::ForwardResponse response;
  grpc::Status s = Forward("c", input, &response);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::UNAVAILABLE);
  EXPECT_EQ(s.error_message(), "model 'c' is loading; retry shortly");
  {
    grpc::ClientContext context;
    v1::MatmulRequest request;
    request.set_model("c");
    request.set_layer("fc1");
    *request.mutable_input() = input;
    v1::MatmulResponse matmul;
    s = stub_->Matmul(&context, request, &matmul);
    EXPECT_EQ(s.error_code(), grpc::StatusCode::UNAVAILABLE);
    EXPECT_THAT(s.error_message(), HasSubstr("is loading"));
  }
  s = infer(input);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::UNAVAILABLE);
  EXPECT_THAT(s.error_message(), HasSubstr("is loading"));
  {
    grpc::ClientContext context;
    v1::GetModelRequest request;
    request.set_model("c");
    v1::GetModelResponse model;
    EXPECT_EQ(stub_->GetModel(&context, request, &model).error_code(),
              grpc::StatusCode::UNAVAILABLE);
  }
  EXPECT_FALSE(model_ready("c"));
  EXPECT_NE(Health("c"), HealthStatus::SERVING);
  {
    grpc::ClientContext context;
    v1::ListModelsResponse list;
    ASSERT_TRUE(
        stub_->ListModels(&context, v1::ListModelsRequest(), &list).ok());
    ASSERT_EQ(list.models_size(), 3);
    EXPECT_EQ(list.models(2).name(), "c");
    EXPECT_EQ(list.models(2).state(), "LOADING");
  }
  // Server readiness does not flap while an extra model loads.
  server_is_ready();
  EXPECT_TRUE(model_ready("a"));
  EXPECT_TRUE(Forward("a", input, &response).ok());
  EXPECT_FALSE(load_done.HasBeenNotified());

  release_c.Notify();
  load_done.WaitForNotification();
  ASSERT_TRUE(load_status.ok()) << load_status.error_message();
  EXPECT_EQ(loaded.version(), "1");
  s = Forward("c", input, &response);
  ASSERT_TRUE(s.ok()) << s.error_message();
  EXPECT_EQ(response.output().data(),
            ReferenceForward(**c_local, input, 0, 2, ActQuant::kNone));
  EXPECT_TRUE(infer(input).ok());
  EXPECT_TRUE(model_ready("c"));
  EXPECT_EQ(Health("c"), HealthStatus::SERVING);
  server_is_ready();
}

TEST_F(LifecycleTest, AdminTokenGuardsLoadAndUnload) {
  StartServer("s3cret");
  EXPECT_EQ(Load("a", "").error_code(), grpc::StatusCode::UNAUTHENTICATED);
  EXPECT_EQ(Load("a", "", "wrong").error_code(),
            grpc::StatusCode::PERMISSION_DENIED);
  EXPECT_EQ(Unload("a").error_code(), grpc::StatusCode::UNAUTHENTICATED);
  EXPECT_EQ(Unload("a", "wrong!").error_code(),
            grpc::StatusCode::PERMISSION_DENIED);
  EXPECT_TRUE(Load("a", "", "s3cret").ok());
  EXPECT_TRUE(Unload("a", "s3cret").ok());
  // Inference needs no token.
  v1::ForwardResponse response;
  EXPECT_TRUE(
      Forward("b", RandomTensor(DType::kF32, 1, 128, 3), &response).ok());
}

TEST(StartVersionsTest, LoadsTheNamedVersionsAtStart) {
  TempDir dir;
  WriteModelDir(dir.path() / "a" / "1", Spec(1), ActQuant::kNone);
  WriteModelDir(dir.path() / "a" / "2", Spec(2), ActQuant::kNone);
  ServerOptions options;
  options.host = "127.0.0.1";
  options.port = 0;
  options.model_repository = dir.path().string();
  options.threads = 1;
  options.start_versions = {{"a", "1"}};
  auto server = Server::Create(options);
  ASSERT_TRUE(server.ok()) << server.status();
  auto index = (*server)->models()->Index();
  ASSERT_EQ(index.size(), 1u);
  EXPECT_EQ(index[0].version, "1");
  EXPECT_EQ(index[0].state, ModelReadiness::kReady);

  options.start_versions = {{"missing", "1"}};
  auto bad = Server::Create(options);
  EXPECT_EQ(bad.status().code(), absl::StatusCode::kNotFound);
  options.start_versions = {{"a", "7"}};
  EXPECT_EQ(Server::Create(options).status().code(),
            absl::StatusCode::kNotFound);
}

// KServe's layout: one model directory (no versions), named by option.
TEST(ModelDirTest, ServesOneDirectoryUnderTheGivenName) {
  TempDir dir;
  WriteModelDir(dir.path() / "mnt" / "models", Spec(1), ActQuant::kNone);
  ServerOptions options;
  options.host = "127.0.0.1";
  options.port = 0;
  options.model_dir = (dir.path() / "mnt" / "models").string();
  options.model_name = "iris";
  options.threads = 1;
  auto server = Server::Create(options);
  ASSERT_TRUE(server.ok()) << server.status();
  auto index = (*server)->models()->Index();
  ASSERT_EQ(index.size(), 1u);
  EXPECT_EQ(index[0].name, "iris");
  EXPECT_EQ(index[0].version, "1");
  EXPECT_EQ(index[0].state, ModelReadiness::kReady);

  auto stub = ::qlinear::testing::Connect((*server)->port());
  const v1::Tensor input = RandomTensor(DType::kF32, 2, 128, 5);
  grpc::ClientContext context;
  v1::ForwardRequest request;
  request.set_model("iris");
  *request.mutable_input() = input;
  v1::ForwardResponse response;
  const grpc::Status forward = stub->Forward(&context, request, &response);
  ASSERT_TRUE(forward.ok()) << forward.error_message();
  EXPECT_EQ(response.version(), "1");
  EXPECT_EQ(response.output().shape(1), 32);
  // No repository: the load RPCs have nothing to load from.
  grpc::ClientContext load_context;
  v1::LoadModelRequest load;
  load.set_model("iris");
  v1::LoadModelResponse loaded;
  EXPECT_EQ(stub->LoadModel(&load_context, load, &loaded).error_code(),
            grpc::StatusCode::FAILED_PRECONDITION);
}

TEST(ModelDirTest, BadCombinationsAndMissingDirectoriesFailStartUp) {
  TempDir dir;
  WriteModelDir(dir.path() / "m", Spec(1), ActQuant::kNone);
  ServerOptions options;
  options.host = "127.0.0.1";
  options.port = 0;
  options.threads = 1;
  options.model_dir = (dir.path() / "m").string();
  const auto start = [&] { return Server::Create(options).status(); };
  EXPECT_THAT(start(), StatusIs(absl::StatusCode::kInvalidArgument,
                                HasSubstr("set both")));
  options.model_name = "../m";
  EXPECT_THAT(start(), StatusIs(absl::StatusCode::kInvalidArgument,
                                HasSubstr("is not a valid name")));
  options.model_name = "m";
  options.model_repository = dir.path().string();
  EXPECT_THAT(start(), StatusIs(absl::StatusCode::kInvalidArgument,
                                HasSubstr("cannot be combined")));
  options.model_repository = "";
  options.model_dir = (dir.path() / "absent").string();
  EXPECT_THAT(start(), StatusIs(absl::StatusCode::kNotFound,
                                HasSubstr("is not a directory")));
  // A directory without model files (e.g. the versioned repository layout).
  options.model_dir = dir.path().string();
  EXPECT_THAT(start(),
              StatusIs(absl::StatusCode::kNotFound, HasSubstr("model.json")));
}

// --max-connection-age: the server sends GOAWAY on an old connection, and
// the client's channel leaves READY (to reconnect, re-resolving its target).
TEST(ConnectionAgeTest, AnOldConnectionGetsGoaway) {
  ServerOptions options;
  options.host = "127.0.0.1";
  options.port = 0;
  options.threads = 1;
  options.max_connection_age = absl::Milliseconds(300);
  options.max_connection_age_grace = absl::Seconds(1);
  auto server = Server::Create(options);
  ASSERT_TRUE(server.ok()) << server.status();
  auto channel =
      grpc::CreateChannel("127.0.0.1:" + std::to_string((*server)->port()),
                          grpc::InsecureChannelCredentials());
  ASSERT_TRUE(channel->WaitForConnected(std::chrono::system_clock::now() +
                                        std::chrono::seconds(10)));
  EXPECT_TRUE(channel->WaitForStateChange(
      GRPC_CHANNEL_READY,
      std::chrono::system_clock::now() + std::chrono::seconds(10)));

  options.max_connection_age = absl::Milliseconds(-1);
  EXPECT_THAT(Server::Create(options).status(),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("max_connection_age")));
}

TEST(TlsTest, ServesOverTlsWithAGeneratedCertificate) {
  TempDir dir;
  const std::string cert = (dir.path() / "cert.pem").string();
  const std::string key = (dir.path() / "key.pem").string();
  const std::string command =
      "openssl req -x509 -newkey rsa:2048 -nodes -days 1 -subj /CN=localhost "
      "-addext subjectAltName=DNS:localhost -keyout " +
      key + " -out " + cert + " >/dev/null 2>&1";
  if (std::system(command.c_str()) != 0)
    GTEST_SKIP() << "openssl is not available";
  WriteModelDir(dir.path() / "repo" / "a" / "1", Spec(1), ActQuant::kNone);
  ServerOptions options;
  options.host = "127.0.0.1";
  options.port = 0;
  options.model_repository = (dir.path() / "repo").string();
  options.threads = 1;
  options.tls_cert_file = cert;
  options.tls_key_file = key;
  auto server = Server::Create(options);
  ASSERT_TRUE(server.ok()) << server.status();

  grpc::SslCredentialsOptions ssl;
  ssl.pem_root_certs = ::qlinear::testing::ReadFileForTest(cert);
  grpc::ChannelArguments args;
  args.SetSslTargetNameOverride("localhost");
  auto channel = grpc::CreateCustomChannel(
      "127.0.0.1:" + std::to_string((*server)->port()),
      grpc::SslCredentials(ssl), args);
  auto stub = v1::QLinear::NewStub(channel);
  grpc::ClientContext context;
  v1::ListModelsResponse list;
  ASSERT_TRUE(stub->ListModels(&context, v1::ListModelsRequest(), &list).ok());
  EXPECT_EQ(list.models_size(), 1);

  // A plaintext client cannot talk to it.
  auto plain = v1::QLinear::NewStub(
      grpc::CreateChannel("127.0.0.1:" + std::to_string((*server)->port()),
                          grpc::InsecureChannelCredentials()));
  grpc::ClientContext plain_context;
  plain_context.set_deadline(std::chrono::system_clock::now() +
                             std::chrono::seconds(5));
  EXPECT_FALSE(
      plain->ListModels(&plain_context, v1::ListModelsRequest(), &list).ok());
}

TEST(TlsTest, MutualTlsAdmitsOnlyClientsWithACertificateOfTheClientCa) {
  TempDir dir;
  auto path = [&](const std::string& name) {
    return (dir.path() / name).string();
  };
  // A self-signed server certificate, a client CA with one client
  // certificate it signed, and a client certificate signed by nobody known.
  const std::string quiet = " >/dev/null 2>&1";
  const std::string self_signed =
      "openssl req -x509 -newkey rsa:2048 -nodes -days 1 -subj /CN=";
  const std::vector<std::string> commands = {
      self_signed + "localhost -addext subjectAltName=DNS:localhost -keyout " +
          path("server.key") + " -out " + path("server.pem") + quiet,
      self_signed + "client-ca -keyout " + path("ca.key") + " -out " +
          path("ca.pem") + quiet,
      "openssl req -newkey rsa:2048 -nodes -subj /CN=client -keyout " +
          path("client.key") + " -out " + path("client.csr") + quiet,
      "openssl x509 -req -days 1 -in " + path("client.csr") + " -CA " +
          path("ca.pem") + " -CAkey " + path("ca.key") + " -set_serial 1 " +
          "-out " + path("client.pem") + quiet,
      self_signed + "stranger -keyout " + path("stranger.key") + " -out " +
          path("stranger.pem") + quiet,
  };
  for (const std::string& command : commands) {
    if (std::system(command.c_str()) != 0)
      GTEST_SKIP() << "openssl failed: " << command;
  }
  WriteModelDir(dir.path() / "repo" / "a" / "1", Spec(1), ActQuant::kNone);
  ServerOptions options;
  options.host = "127.0.0.1";
  options.port = 0;
  options.model_repository = (dir.path() / "repo").string();
  options.threads = 1;
  options.tls_cert_file = path("server.pem");
  options.tls_key_file = path("server.key");
  options.tls_client_ca_file = path("ca.pem");
  auto server = Server::Create(options);
  ASSERT_TRUE(server.ok()) << server.status();

  // ListModels with the client key and certificate named (none if empty).
  auto list_models = [&](const std::string& key, const std::string& cert) {
    grpc::SslCredentialsOptions ssl;
    ssl.pem_root_certs =
        ::qlinear::testing::ReadFileForTest(path("server.pem"));
    if (!key.empty()) {
      ssl.pem_private_key = ::qlinear::testing::ReadFileForTest(path(key));
      ssl.pem_cert_chain = ::qlinear::testing::ReadFileForTest(path(cert));
    }
    grpc::ChannelArguments args;
    args.SetSslTargetNameOverride("localhost");
    auto stub = v1::QLinear::NewStub(grpc::CreateCustomChannel(
        "127.0.0.1:" + std::to_string((*server)->port()),
        grpc::SslCredentials(ssl), args));
    grpc::ClientContext context;
    context.set_deadline(std::chrono::system_clock::now() +
                         std::chrono::seconds(10));
    v1::ListModelsResponse list;
    return stub->ListModels(&context, v1::ListModelsRequest(), &list);
  };
  const grpc::Status ok = list_models("client.key", "client.pem");
  EXPECT_TRUE(ok.ok()) << ok.error_message();
  EXPECT_FALSE(list_models("", "").ok());
  EXPECT_FALSE(list_models("stranger.key", "stranger.pem").ok());
}

TEST(TlsTest, ClientCaWithoutServerCertificateIsRejectedByName) {
  ServerOptions options;
  options.host = "127.0.0.1";
  options.port = 0;
  options.tls_client_ca_file = "/nonexistent/ca.pem";
  auto server = Server::Create(options);
  EXPECT_EQ(server.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(server.status().message()),
              HasSubstr("tls_client_ca"));
}

}  // namespace
}  // namespace qlinear::server
