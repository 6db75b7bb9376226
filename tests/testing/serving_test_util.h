// Helpers of the server integration tests: model directories on disk,
// tensors on the wire, and the local reference outputs to compare with.
#ifndef QLINEAR_TESTS_TESTING_SERVING_TEST_UTIL_H_
#define QLINEAR_TESTS_TESTING_SERVING_TEST_UTIL_H_

#include <grpcpp/grpcpp.h>
#include <stdlib.h>

#include <filesystem>
#include <fstream>
#include <iterator>
#include <memory>
#include <random>
#include <string>
#include <vector>

#include "gtest/gtest.h"
#include "model/default_model.h"
#include "model/linear_stack.h"
#include "model/manifest.h"
#include "qlinear/v1/qlinear.grpc.pb.h"
#include "tests/testing/status_matchers.h"

namespace qlinear::testing {

namespace fs = std::filesystem;
namespace v1 = ::qlinear::v1;

// A fresh directory under the test temp dir; removed by the destructor.
class TempDir {
 public:
  TempDir() {
    std::string pattern = ::testing::TempDir() + "qlinear_server_test_XXXXXX";
    path_ = mkdtemp(pattern.data());
  }
  ~TempDir() {
    std::error_code ignored;
    fs::remove_all(path_, ignored);
  }
  const fs::path& path() const { return path_; }

 private:
  fs::path path_;
};

inline void WriteFile(const fs::path& path, const std::string& bytes) {
  fs::create_directories(path.parent_path());
  std::ofstream out(path, std::ios::binary);
  out.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
  ASSERT_TRUE(out.good()) << path;
}

// Writes a synthetic model directory (model.json + model.safetensors).
inline void WriteModelDir(const fs::path& dir,
                          const model::SyntheticModelSpec& spec,
                          ActQuant default_act_quant) {
  model::SyntheticModelFiles files = model::MakeSyntheticModelFiles(spec);
  files.manifest.default_act_quant = default_act_quant;
  WriteFile(dir / "model.json", model::ManifestToJson(files.manifest));
  WriteFile(dir / "model.safetensors", files.safetensors);
}

// A [rows, cols] tensor of random values in [-1, 1] rounded to `dtype`.
inline v1::Tensor RandomTensor(DType dtype, size_t rows, size_t cols,
                               uint32_t seed) {
  std::mt19937 rng(seed);
  std::uniform_real_distribution<float> dist(-1.0f, 1.0f);
  v1::Tensor tensor;
  tensor.set_dtype(dtype == DType::kF32    ? v1::DATA_TYPE_FP32
                   : dtype == DType::kBF16 ? v1::DATA_TYPE_BF16
                                           : v1::DATA_TYPE_FP16);
  tensor.add_shape(static_cast<int64_t>(rows));
  tensor.add_shape(static_cast<int64_t>(cols));
  std::string* data = tensor.mutable_data();
  data->resize(rows * cols * DTypeSize(dtype));
  for (size_t i = 0; i < rows * cols; ++i)
    StoreFromFloat(dtype, dist(rng), data->data(), i);
  return tensor;
}

inline std::vector<float> Decode(DType dtype, const v1::Tensor& tensor) {
  std::vector<float> values(tensor.data().size() / DTypeSize(dtype));
  for (size_t i = 0; i < values.size(); ++i)
    values[i] = LoadAsFloat(dtype, tensor.data().data(), i);
  return values;
}

inline std::string Encode(DType dtype, const std::vector<float>& values) {
  std::string bytes(values.size() * DTypeSize(dtype), '\0');
  for (size_t i = 0; i < values.size(); ++i)
    StoreFromFloat(dtype, values[i], bytes.data(), i);
  return bytes;
}

// The output bytes of layers [begin, end) of `stack` on `input`, computed
// locally.
inline std::string ReferenceForward(const model::LinearStack& stack,
                                    const v1::Tensor& input, size_t begin,
                                    size_t end, ActQuant mode) {
  const std::vector<float> x = Decode(stack.dtype(), input);
  std::vector<float> y;
  EXPECT_THAT(stack.Forward(x.data(), static_cast<size_t>(input.shape(0)),
                            begin, end, mode, &y),
              ::qlinear::testing::IsOk());
  return Encode(stack.dtype(), y);
}

inline std::string ReferenceMatmul(const model::LinearStack& stack,
                                   const v1::Tensor& input, size_t layer,
                                   ActQuant mode) {
  const std::vector<float> x = Decode(stack.dtype(), input);
  std::vector<float> y;
  EXPECT_THAT(stack.Matmul(layer, x.data(), static_cast<size_t>(input.shape(0)),
                           mode, &y),
              ::qlinear::testing::IsOk());
  return Encode(stack.dtype(), y);
}

inline std::unique_ptr<v1::QLinear::Stub> Connect(int port) {
  return v1::QLinear::NewStub(grpc::CreateChannel(
      "127.0.0.1:" + std::to_string(port), grpc::InsecureChannelCredentials()));
}

// The bytes of `path` (empty if it cannot be read).
inline std::string ReadFileForTest(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in),
                     std::istreambuf_iterator<char>());
}

}  // namespace qlinear::testing

#endif  // QLINEAR_TESTS_TESTING_SERVING_TEST_UTIL_H_
