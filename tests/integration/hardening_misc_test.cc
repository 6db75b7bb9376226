// Hardening against hostile clients and files, over real gRPC on loopback
// (issue 15, defects 4, 6, 7, 8, 9 and 11): client strings in logs and
// errors are escaped and bounded, idle /metrics connections are closed, a
// second server cannot share a port, a model.json is bounded and must be a
// regular file, the repository RPCs need the admin token and show no server
// paths, a CRLF token file works, and a bad TLS file is named at start-up.
#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/time/time.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "inference/grpc_service.grpc.pb.h"
#include "model/manifest.h"
#include "server/admin_auth.h"
#include "server/client_text.h"
#include "server/metrics.h"
#include "server/server.h"
#include "tests/testing/log_capture.h"
#include "tests/testing/serving_test_util.h"

namespace qlinear::server {
namespace {

using ::qlinear::testing::LogCapture;
using ::qlinear::testing::RandomTensor;
using ::qlinear::testing::StatusIs;
using ::qlinear::testing::TempDir;
using ::qlinear::testing::WriteFile;
using ::qlinear::testing::WriteModelDir;
using ::testing::HasSubstr;
using ::testing::Not;
using Clock = std::chrono::steady_clock;
namespace fs = std::filesystem;

model::SyntheticModelSpec SmallSpec() {
  model::SyntheticModelSpec spec;
  spec.widths = {128, 64};
  spec.group_size = 32;
  spec.seed = 7;
  return spec;
}

ServerOptions LoopbackOptions(const TempDir& dir) {
  ServerOptions options;
  options.host = "127.0.0.1";
  options.port = 0;
  options.model_repository = (dir.path() / "repo").string();
  options.threads = 1;
  return options;
}

// A server on loopback serving model "a" (128 -> 64) from a repository in a
// temp dir, with stubs of both APIs.
class HardeningTest : public ::testing::Test {
 protected:
  void StartServer(const std::string& admin_token = "", int metrics_port = 0) {
    WriteModelDir(repo() / "a" / "1", SmallSpec(), ActQuant::kNone);
    ServerOptions options = LoopbackOptions(dir_);
    options.admin_token = admin_token;
    options.metrics_port = metrics_port;
    auto server = Server::Create(options);
    ASSERT_TRUE(server.ok()) << server.status();
    server_ = std::move(*server);
    auto channel =
        grpc::CreateChannel("127.0.0.1:" + std::to_string(server_->port()),
                            grpc::InsecureChannelCredentials());
    stub_ = v1::QLinear::NewStub(channel);
    kserve_ = inference::GRPCInferenceService::NewStub(channel);
  }

  fs::path repo() const { return dir_.path() / "repo"; }

  grpc::Status Forward(const v1::ForwardRequest& request) {
    grpc::ClientContext context;
    context.set_deadline(std::chrono::system_clock::now() +
                         std::chrono::seconds(30));
    v1::ForwardResponse response;
    return stub_->Forward(&context, request, &response);
  }

  grpc::Status Load(const std::string& model, const std::string& token = "") {
    grpc::ClientContext context;
    context.set_deadline(std::chrono::system_clock::now() +
                         std::chrono::seconds(30));
    if (!token.empty()) context.AddMetadata("authorization", "Bearer " + token);
    v1::LoadModelRequest request;
    request.set_model(model);
    v1::LoadModelResponse response;
    return stub_->LoadModel(&context, request, &response);
  }

  grpc::Status List(v1::ListModelsResponse* response,
                    const std::string& token = "") {
    grpc::ClientContext context;
    if (!token.empty()) context.AddMetadata("authorization", "Bearer " + token);
    return stub_->ListModels(&context, v1::ListModelsRequest(), response);
  }

  grpc::Status Index(inference::RepositoryIndexResponse* response,
                     const std::string& token = "") {
    grpc::ClientContext context;
    if (!token.empty()) context.AddMetadata("authorization", "Bearer " + token);
    return kserve_->RepositoryIndex(
        &context, inference::RepositoryIndexRequest(), response);
  }

  TempDir dir_;
  std::unique_ptr<Server> server_;
  std::unique_ptr<v1::QLinear::Stub> stub_;
  std::unique_ptr<inference::GRPCInferenceService::Stub> kserve_;
};

// --- Defect 4: log injection and amplification ----------------------------

size_t Count(const std::string& text, const std::string& needle) {
  size_t count = 0;
  for (size_t at = text.find(needle); at != std::string::npos;
       at = text.find(needle, at + needle.size())) {
    ++count;
  }
  return count;
}

TEST_F(HardeningTest, RejectionLogLinesEscapeAndBoundClientStrings) {
  StartServer();
  LogCapture capture;
  // A name that would forge a whole line, and a 1 MiB name and request id
  // (the 8 MB names wrote 16 MB of log per request).
  v1::ForwardRequest forged;
  forged.set_model("nope\nevent=model_loaded model=evil version=1");
  forged.set_request_id("r1\r\nevent=forged");
  EXPECT_EQ(Forward(forged).error_code(), grpc::StatusCode::NOT_FOUND);
  v1::ForwardRequest huge;
  huge.set_model(std::string(1 << 20, 'm'));
  huge.set_request_id(std::string(1 << 20, 'q'));
  EXPECT_EQ(Forward(huge).error_code(), grpc::StatusCode::NOT_FOUND);
  // A served model with a bad request: the model and id are logged too.
  v1::ForwardRequest bad_shape;
  bad_shape.set_model("a");
  bad_shape.set_request_id("id\n\"quoted\"");
  *bad_shape.mutable_input() = RandomTensor(DType::kF32, 1, 64, 1);
  EXPECT_EQ(Forward(bad_shape).error_code(),
            grpc::StatusCode::INVALID_ARGUMENT);

  std::vector<std::string> rejected;
  for (const std::string& line : capture.Lines()) {
    if (line.rfind("event=request_rejected", 0) == 0) rejected.push_back(line);
  }
  ASSERT_EQ(rejected.size(), 3u);
  for (const std::string& line : rejected) {
    EXPECT_EQ(line.find_first_of("\r\n"), std::string::npos) << line;
    EXPECT_LT(line.size(), 4096u);
  }
  EXPECT_THAT(rejected[0], HasSubstr("nope\\\\nevent=model_loaded model=evil"));
  EXPECT_THAT(rejected[0], HasSubstr("request_id=r1\\r\\nevent=forged "));
  // The unknown name is logged once (in the reason), cut with its size.
  EXPECT_EQ(Count(rejected[1], std::string(64, 'm')),
            kMaxClientStringBytes / 64);
  EXPECT_THAT(rejected[1], HasSubstr("...(1048576 bytes)"));
  EXPECT_THAT(rejected[1], HasSubstr(" model=- "));
  EXPECT_THAT(rejected[1],
              HasSubstr(absl::StrCat(
                  "request_id=", std::string(kMaxClientStringBytes, 'q'),
                  "...(1048576 bytes) ")));
  EXPECT_THAT(rejected[2], HasSubstr("model=a "));
  EXPECT_THAT(rejected[2], HasSubstr("request_id=id\\n\\\"quoted\\\" "));
}

// --- Defect 9: errors echo bounded client strings --------------------------

TEST_F(HardeningTest, ErrorsCutLongClientStringsSoTheClientSeesTheCode) {
  StartServer();
  const std::string name(16384, 'x');
  const std::string cut =
      absl::StrCat(std::string(kMaxClientStringBytes, 'x'), "...(16384 bytes)");
  v1::ForwardRequest request;
  request.set_model(name);
  grpc::Status s = Forward(request);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::NOT_FOUND);
  EXPECT_EQ(s.error_message(), absl::StrCat("model '", cut, "' not found"));

  request.set_model("a");
  request.set_version(name);
  s = Forward(request);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::NOT_FOUND);
  EXPECT_EQ(s.error_message(),
            absl::StrCat("model 'a' has no version '", cut, "'"));

  // A 200 000-dimension shape is printed with its first dimensions.
  request.clear_version();
  v1::Tensor* input = request.mutable_input();
  *input = RandomTensor(DType::kF32, 1, 128, 1);
  input->clear_shape();
  for (int i = 0; i < 200000; ++i) input->add_shape(1);
  s = Forward(request);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_EQ(s.error_message(),
            "input.shape: expected [M, 128], got [1, 1, 1, 1, 1, 1, 1, 1, "
            "...(200000 dims)]");

  v1::MatmulRequest matmul;
  matmul.set_model("a");
  matmul.set_layer(name);
  *matmul.mutable_input() = RandomTensor(DType::kF32, 1, 128, 1);
  {
    grpc::ClientContext context;
    v1::MatmulResponse response;
    s = stub_->Matmul(&context, matmul, &response);
  }
  EXPECT_EQ(s.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_EQ(s.error_message(),
            absl::StrCat("layer: model 'a' has no layer '", cut, "'"));

  // KServe: the model name, an unknown parameter key and a datatype.
  inference::ModelInferRequest infer;
  infer.set_model_name(name);
  {
    grpc::ClientContext context;
    inference::ModelInferResponse response;
    s = kserve_->ModelInfer(&context, infer, &response);
  }
  EXPECT_EQ(s.error_code(), grpc::StatusCode::NOT_FOUND);
  EXPECT_EQ(s.error_message(), absl::StrCat("model '", cut, "' not found"));
  infer.set_model_name("a");
  (*infer.mutable_parameters())[name].set_int64_param(1);
  {
    grpc::ClientContext context;
    inference::ModelInferResponse response;
    s = kserve_->ModelInfer(&context, infer, &response);
  }
  EXPECT_EQ(s.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_EQ(s.error_message(),
            absl::StrCat("parameters: unknown parameter '", cut,
                         "'; known: act_quant, priority, timeout, "
                         "layer_start, layer_end, act_quant_quality"));

  // Whatever a message holds, the whole is bounded (here the load's
  // invalid-name message).
  s = Load(name);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_LE(s.error_message().size(), kMaxStatusMessageBytes + 32);
}

// --- Defect 8: model.json bounded, a regular file --------------------------

TEST_F(HardeningTest, OversizedOrSpecialManifestsFailTheLoadByName) {
  StartServer();
  // Valid JSON padded past the limit, and a device in place of the file
  // (/dev/null here; the issue's /dev/zero took the RSS past 2 GB).
  WriteModelDir(repo() / "big" / "1", SmallSpec(), ActQuant::kNone);
  WriteFile(repo() / "big" / "1" / "model.json",
            model::ManifestToJson(
                model::MakeSyntheticModelFiles(SmallSpec()).manifest) +
                std::string(model::kMaxManifestBytes, ' '));
  const uint64_t big_size = fs::file_size(repo() / "big" / "1" / "model.json");
  WriteModelDir(repo() / "zero" / "1", SmallSpec(), ActQuant::kNone);
  fs::remove(repo() / "zero" / "1" / "model.json");
  fs::create_symlink("/dev/null", repo() / "zero" / "1" / "model.json");

  grpc::Status s = Load("big");
  EXPECT_EQ(s.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_EQ(s.error_message(),
            absl::StrCat("loading model 'big' version 1: model.json: ",
                         big_size, " bytes exceed the manifest limit of ",
                         model::kMaxManifestBytes, " bytes"));
  s = Load("zero");
  EXPECT_EQ(s.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_THAT(s.error_message(),
              HasSubstr("loading model 'zero' version 1: model.json: not a "
                        "regular file"));
  // The serving model is untouched.
  v1::ForwardRequest request;
  request.set_model("a");
  *request.mutable_input() = RandomTensor(DType::kF32, 1, 128, 1);
  EXPECT_TRUE(Forward(request).ok());
}

TEST_F(HardeningTest, AFifoAsManifestDoesNotHangTheLoad) {
  StartServer();
  WriteModelDir(repo() / "fifo" / "1", SmallSpec(), ActQuant::kNone);
  fs::remove(repo() / "fifo" / "1" / "model.json");
  ASSERT_EQ(::mkfifo((repo() / "fifo" / "1" / "model.json").c_str(), S_IRUSR),
            0);
  // Before the fix the open() blocked for ever, holding the load lock (the
  // call then ends with DEADLINE_EXCEEDED).
  const grpc::Status s = Load("fifo");
  EXPECT_EQ(s.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_THAT(s.error_message(), HasSubstr("model.json: not a regular file"));
  // Releases a reader blocked in open() (none with the fix: ENXIO), so the
  // server can shut down either way.
  const int writer = ::open((repo() / "fifo" / "1" / "model.json").c_str(),
                            O_WRONLY | O_NONBLOCK | O_CLOEXEC);
  if (writer >= 0) ::close(writer);
}

// --- Defect 11: the repository RPCs, paths, the token file, TLS files ------

TEST_F(HardeningTest, RepositoryListingsNeedTheTokenAndShowNoServerPaths) {
  StartServer("s3cret");
  WriteFile(repo() / "broken" / "1" / "model.json", "{");
  WriteFile(repo() / "broken" / "1" / "model.safetensors", "");
  const grpc::Status load = Load("broken", "s3cret");
  EXPECT_EQ(load.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_THAT(load.error_message(),
              HasSubstr("loading model 'broken' version 1: model.json: "));

  v1::ListModelsResponse list;
  EXPECT_EQ(List(&list).error_code(), grpc::StatusCode::UNAUTHENTICATED);
  EXPECT_EQ(List(&list, "wrong").error_code(),
            grpc::StatusCode::PERMISSION_DENIED);
  inference::RepositoryIndexResponse index;
  EXPECT_EQ(Index(&index).error_code(), grpc::StatusCode::UNAUTHENTICATED);
  EXPECT_EQ(Index(&index, "wrong").error_code(),
            grpc::StatusCode::PERMISSION_DENIED);

  ASSERT_TRUE(List(&list, "s3cret").ok());
  ASSERT_TRUE(Index(&index, "s3cret").ok());
  ASSERT_EQ(list.models_size(), 2);
  ASSERT_EQ(index.models_size(), 2);
  EXPECT_EQ(list.models(1).name(), "broken");
  EXPECT_THAT(list.models(1).reason(),
              HasSubstr("loading model 'broken' version 1: model.json: "));
  const std::string root = dir_.path().string();
  EXPECT_THAT(load.error_message(), Not(HasSubstr(root)));
  EXPECT_THAT(list.models(1).reason(), Not(HasSubstr(root)));
  EXPECT_THAT(index.models(1).reason(), Not(HasSubstr(root)));
  EXPECT_EQ(index.models(1).reason(), list.models(1).reason());
}

TEST(AdminTokenFileTest, ACrlfTokenFileAuthenticatesOverGrpc) {
  TempDir dir;
  WriteModelDir(dir.path() / "repo" / "a" / "1", SmallSpec(), ActQuant::kNone);
  WriteFile(dir.path() / "token", "s3cret \r\n");
  absl::StatusOr<std::string> token =
      ReadAdminTokenFile((dir.path() / "token").string());
  ASSERT_TRUE(token.ok()) << token.status();
  EXPECT_EQ(*token, "s3cret");
  ServerOptions options = LoopbackOptions(dir);
  options.admin_token = *token;
  auto server = Server::Create(options);
  ASSERT_TRUE(server.ok()) << server.status();
  auto stub = ::qlinear::testing::Connect((*server)->port());
  grpc::ClientContext context;
  context.AddMetadata("authorization", "Bearer s3cret");
  v1::ListModelsResponse list;
  EXPECT_TRUE(stub->ListModels(&context, v1::ListModelsRequest(), &list).ok());

  WriteFile(dir.path() / "blank", " \r\n");
  EXPECT_THAT(ReadAdminTokenFile((dir.path() / "blank").string()),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("admin_token_file: ")));
}

TEST(TlsFilesTest, ABadPemIsNamedAtStartUp) {
  TempDir dir;
  auto path = [&](const std::string& name) {
    return (dir.path() / name).string();
  };
  const std::string self_signed =
      "openssl req -x509 -newkey rsa:2048 -nodes -days 1 -subj /CN=";
  for (const std::string& command :
       {self_signed + "one -keyout " + path("one.key") + " -out " +
            path("one.pem") + " >/dev/null 2>&1",
        self_signed + "two -keyout " + path("two.key") + " -out " +
            path("two.pem") + " >/dev/null 2>&1"}) {
    if (std::system(command.c_str()) != 0)
      GTEST_SKIP() << "openssl is not available";
  }
  WriteFile(dir.path() / "garbage.pem", "-----BEGIN CERTIFICATE-----\nnot\n");
  WriteModelDir(dir.path() / "repo" / "a" / "1", SmallSpec(), ActQuant::kNone);
  ServerOptions options = LoopbackOptions(dir);
  const auto start = [&](const std::string& cert, const std::string& key,
                         const std::string& ca) {
    options.tls_cert_file = path(cert);
    options.tls_key_file = path(key);
    options.tls_client_ca_file = ca.empty() ? "" : path(ca);
    return Server::Create(options).status();
  };
  EXPECT_THAT(start("garbage.pem", "one.key", ""),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("tls_cert: '" + path("garbage.pem") +
                                 "' is not a PEM certificate")));
  EXPECT_THAT(start("one.pem", "garbage.pem", ""),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("tls_key: '" + path("garbage.pem") +
                                 "' is not a PEM private key")));
  EXPECT_THAT(start("one.pem", "two.key", ""),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("tls_key: '" + path("two.key") +
                                 "' is not the key of the certificate")));
  EXPECT_THAT(start("one.pem", "one.key", "garbage.pem"),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("tls_client_ca: '" + path("garbage.pem") +
                                 "' is not a PEM certificate")));
  EXPECT_TRUE(start("one.pem", "one.key", "two.pem").ok());
}

// --- Defect 7: one server per port -----------------------------------------

TEST(PortTest, ASecondServerOnTheSamePortsFailsToStart) {
  TempDir dir;
  WriteModelDir(dir.path() / "repo" / "a" / "1", SmallSpec(), ActQuant::kNone);
  ServerOptions options = LoopbackOptions(dir);
  options.metrics_port = -1;
  auto first = Server::Create(options);
  ASSERT_TRUE(first.ok()) << first.status();

  ServerOptions same_grpc = options;
  same_grpc.port = (*first)->port();
  same_grpc.metrics_port = 0;
  EXPECT_THAT(Server::Create(same_grpc).status(),
              StatusIs(absl::StatusCode::kUnavailable,
                       HasSubstr(absl::StrCat("cannot listen on 127.0.0.1:",
                                              (*first)->port()))));
  ServerOptions same_metrics = options;
  same_metrics.metrics_port = (*first)->metrics_port();
  EXPECT_THAT(Server::Create(same_metrics).status(),
              StatusIs(absl::StatusCode::kUnavailable,
                       HasSubstr("cannot serve /metrics on 127.0.0.1:")));
  // The first server still serves.
  auto stub = ::qlinear::testing::Connect((*first)->port());
  grpc::ClientContext context;
  v1::ListModelsResponse list;
  EXPECT_TRUE(stub->ListModels(&context, v1::ListModelsRequest(), &list).ok());
}

// --- Defect 6: idle and slow /metrics connections ---------------------------

// A TCP connection to 127.0.0.1:port (-1 on failure).
int ConnectTcp(int port) {
  const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return -1;
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_port = htons(static_cast<uint16_t>(port));
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (::connect(fd, reinterpret_cast<const sockaddr*>(&address),
                sizeof(address)) != 0) {
    ::close(fd);
    return -1;
  }
  return fd;
}

bool SendAll(int fd, const std::string& bytes) {
  size_t sent = 0;
  while (sent < bytes.size()) {
    const ssize_t n =
        ::send(fd, bytes.data() + sent, bytes.size() - sent, MSG_NOSIGNAL);
    if (n <= 0) return false;
    sent += static_cast<size_t>(n);
  }
  return true;
}

// Reads from `fd` until the peer closes it or `deadline` passes; true when
// it closed (end of stream or reset). The bytes read go to *out if set.
bool ReadUntilClosed(int fd, Clock::time_point deadline,
                     std::string* out = nullptr) {
  char buffer[4096];
  while (true) {
    const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
        deadline - Clock::now());
    if (left.count() <= 0) return false;
    pollfd p{fd, POLLIN, 0};
    const int ready = ::poll(&p, 1, static_cast<int>(left.count()));
    if (ready < 0) return false;
    if (ready == 0) continue;  // the deadline check above ends the loop
    const ssize_t n = ::recv(fd, buffer, sizeof(buffer), 0);
    if (n <= 0) return true;
    if (out != nullptr) out->append(buffer, static_cast<size_t>(n));
  }
}

TEST(MetricsEndpointTest, IdleAndSlowConnectionsNeitherBlockScrapesNorStay) {
  TempDir dir;
  WriteModelDir(dir.path() / "repo" / "a" / "1", SmallSpec(), ActQuant::kNone);
  ServerOptions options = LoopbackOptions(dir);
  options.metrics_port = -1;
  auto server = Server::Create(options);
  ASSERT_TRUE(server.ok()) << server.status();
  const int port = (*server)->metrics_port();

  // Twice as many connections as the endpoint has threads: half send
  // nothing, half stop in the middle of their request headers (slowloris).
  constexpr int kHeld = 2 * Metrics::kHttpThreads;
  std::vector<int> held;
  for (int i = 0; i < kHeld; ++i) {
    const int fd = ConnectTcp(port);
    ASSERT_GE(fd, 0);
    held.push_back(fd);
    if (i % 2 == 1) {
      ASSERT_TRUE(SendAll(fd, "GET /metrics HTTP/1.1\r\nHost: x\r\nAcc"));
    }
  }
  // The scrape waits its turn behind the held connections, each of which
  // holds a thread for at most the request timeout (metrics.h): about
  // ceil((kHeld + 1) / threads) timeouts, 3 here; 6 leave room for a busy
  // machine. Before the fix (2 threads, civetweb's 30 s) it took minutes.
  const auto timeout =
      std::chrono::milliseconds(Metrics::kHttpRequestTimeoutMs);
  const Clock::time_point start = Clock::now();
  const int scrape = ConnectTcp(port);
  ASSERT_GE(scrape, 0);
  ASSERT_TRUE(SendAll(scrape,
                      "GET /metrics HTTP/1.1\r\nHost: x\r\nConnection: "
                      "close\r\n\r\n"));
  std::string response;
  EXPECT_TRUE(ReadUntilClosed(scrape, start + 6 * timeout, &response));
  ::close(scrape);
  EXPECT_THAT(response, HasSubstr("HTTP/1.1 200"));
  EXPECT_THAT(response, HasSubstr("qlinear_inflight_requests"));
  // The one complete request is the one scrape counted (Scrape() is not).
  (*server)->metrics().Scrape();
  EXPECT_EQ((*server)->metrics().http_scrapes(), 1u);
  EXPECT_TRUE((*server)->metrics().AwaitHttpScrapes(1, absl::ZeroDuration()));

  // Every held connection has been closed by the server by now, or is
  // within one more timeout.
  int closed = 0;
  for (int fd : held) {
    if (ReadUntilClosed(fd, start + 7 * timeout)) ++closed;
    ::close(fd);
  }
  EXPECT_EQ(closed, kHeld);
}

}  // namespace
}  // namespace qlinear::server
