#include "model/safetensors.h"

#include <fcntl.h>
#include <unistd.h>

#include <cstdint>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <map>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/testing/proc_status.h"
#include "tests/testing/status_matchers.h"

namespace qlinear::model {
namespace {

using ::qlinear::testing::IsOk;
using ::qlinear::testing::StatusIs;
using ::testing::HasSubstr;

// 8-byte little-endian length, `header`, then `data_bytes` bytes of data.
std::string MakeFile(const std::string& header, size_t data_bytes,
                     uint64_t header_length) {
  std::string out;
  for (int i = 0; i < 8; ++i) {
    out.push_back(static_cast<char>((header_length >> (8 * i)) & 0xff));
  }
  out += header;
  for (size_t i = 0; i < data_bytes; ++i) out.push_back(static_cast<char>(i));
  return out;
}
std::string MakeFile(const std::string& header, size_t data_bytes) {
  return MakeFile(header, data_bytes, header.size());
}

absl::StatusOr<std::unique_ptr<SafetensorsFile>> ParseString(
    const std::string& bytes) {
  return SafetensorsFile::Parse(reinterpret_cast<const uint8_t*>(bytes.data()),
                                bytes.size());
}

// A valid file: "a" F32 [2, 2] at [0, 16], "b" U8 [8] at [16, 24].
const char kValidHeader[] =
    R"({"a":{"dtype":"F32","shape":[2,2],"data_offsets":[0,16]},)"
    R"("b":{"dtype":"U8","shape":[8],"data_offsets":[16,24]}})";

std::string ValidFile() { return MakeFile(kValidHeader, 24); }

TEST(SafetensorsTest, ParsesValidFile) {
  const std::string bytes = ValidFile();
  auto file = ParseString(bytes);
  ASSERT_THAT(file, IsOk());
  const auto& tensors = (*file)->tensors();
  ASSERT_EQ(tensors.size(), 2u);
  EXPECT_EQ(tensors[0].name, "a");
  EXPECT_EQ(tensors[0].dtype, TensorDType::kF32);
  EXPECT_EQ(tensors[0].shape, (std::vector<int64_t>{2, 2}));
  EXPECT_EQ(tensors[0].num_elements(), 4);
  EXPECT_EQ(tensors[0].size_bytes, 16u);
  const auto* data_start =
      reinterpret_cast<const uint8_t*>(bytes.data()) + 8 + strlen(kValidHeader);
  EXPECT_EQ(tensors[0].data, data_start);
  EXPECT_EQ(tensors[1].name, "b");
  EXPECT_EQ(tensors[1].dtype, TensorDType::kU8);
  EXPECT_EQ(tensors[1].data, data_start + 16);
  EXPECT_EQ(tensors[1].data[3], 19);  // MakeFile writes byte i as i
  EXPECT_EQ((*file)->Find("b"), &tensors[1]);
  EXPECT_EQ((*file)->Find("c"), nullptr);
  EXPECT_TRUE((*file)->metadata().empty());
}

TEST(SafetensorsTest, TensorsAreSortedByDataOffset) {
  // Name order ("a" < "z") is the reverse of offset order.
  const std::string bytes =
      MakeFile(R"({"a":{"dtype":"I8","shape":[4],"data_offsets":[4,8]},)"
               R"("z":{"dtype":"I8","shape":[4],"data_offsets":[0,4]}})",
               8);
  auto file = ParseString(bytes);
  ASSERT_THAT(file, IsOk());
  ASSERT_EQ((*file)->tensors().size(), 2u);
  EXPECT_EQ((*file)->tensors()[0].name, "z");
  EXPECT_EQ((*file)->tensors()[1].name, "a");
}

TEST(SafetensorsTest, AcceptsEmptyTensorsAnywhereGapsAndMetadata) {
  // "e" and "s" are empty and sit inside "a"'s range; "huge" has a zero
  // dimension next to dimensions whose product would overflow. There is a
  // gap [16, 20) and trailing data after "b". The header has trailing spaces.
  const std::string bytes =
      MakeFile(R"({"__metadata__":{"format":"pt","k":""},)"
               R"("a":{"dtype":"F16","shape":[8],"data_offsets":[0,16]},)"
               R"("e":{"dtype":"F32","shape":[0,3],"data_offsets":[4,4]},)"
               R"("huge":{"dtype":"BF16","shape":[0,4611686018427387904,)"
               R"(4611686018427387904],"data_offsets":[8,8]},)"
               R"("b":{"dtype":"BF16","shape":[2],"data_offsets":[20,24]},)"
               R"("s":{"dtype":"I8","shape":[],"data_offsets":[24,25]}}   )",
               32);
  auto file = ParseString(bytes);
  ASSERT_THAT(file, IsOk());
  const auto& tensors = (*file)->tensors();
  ASSERT_EQ(tensors.size(), 5u);
  EXPECT_EQ(tensors[0].name, "a");
  EXPECT_EQ(tensors[1].name, "e");
  EXPECT_EQ(tensors[1].num_elements(), 0);
  EXPECT_EQ(tensors[2].name, "huge");
  EXPECT_EQ(tensors[2].size_bytes, 0u);
  EXPECT_EQ(tensors[3].name, "b");
  EXPECT_EQ(tensors[4].name, "s");
  EXPECT_EQ(tensors[4].num_elements(), 1);  // a scalar
  EXPECT_EQ((*file)->metadata(),
            (std::map<std::string, std::string>{{"format", "pt"}, {"k", ""}}));
}

struct CorruptCase {
  const char* label;
  std::string bytes;
  std::string message;  // expected substring
};

std::vector<CorruptCase> CorruptCases() {
  const std::string valid = ValidFile();
  const size_t header_size = strlen(kValidHeader);
  const size_t header_end = 8 + header_size;
  auto entry = [](const std::string& body) {
    return MakeFile(absl::StrCat(R"({"w":)", body, "}"), 64);
  };
  std::string deep = R"({"w":{"dtype":"F32","shape":)";
  for (int i = 0; i < 100; ++i) deep += "[";
  for (int i = 0; i < 100; ++i) deep += "]";
  deep += R"(,"data_offsets":[0,0]}})";
  return {
      {"empty file", "",
       "safetensors: file is 0 bytes, shorter than the 8-byte"},
      {"truncated in length field", valid.substr(0, 7), "file is 7 bytes"},
      {"truncated after length field", valid.substr(0, 8),
       absl::StrCat("header length ", header_size,
                    " exceeds the 0 bytes after the length field")},
      {"truncated in header", valid.substr(0, 60),
       absl::StrCat("header length ", header_size,
                    " exceeds the 52 bytes after the length field")},
      {"truncated at end of header", valid.substr(0, header_end),
       "tensor 'a': data_offsets [0, 16] end past the data region of 0 bytes"},
      {"truncated in data", valid.substr(0, header_end + 20),
       "tensor 'b': data_offsets [16, 24] end past the data region of 20 "
       "bytes"},
      {"header length past the file", MakeFile(kValidHeader, 24, 1000),
       absl::StrCat("header length 1000 exceeds the ", header_size + 24,
                    " bytes after the length field")},
      {"header length absurd", MakeFile(kValidHeader, 24, uint64_t{1} << 40),
       "header length 1099511627776 exceeds the limit of 104857600 bytes"},
      {"header length all ones", MakeFile(kValidHeader, 24, ~uint64_t{0}),
       "header length 18446744073709551615 exceeds the limit"},
      {"header length too short", MakeFile(kValidHeader, 24, 30),
       "header is not valid JSON"},
      {"header length zero", MakeFile("", 0), "header is not valid JSON"},
      {"header not JSON", MakeFile("{nope}", 0), "header is not valid JSON"},
      {"header with trailing garbage", MakeFile("{} x", 0),
       "header is not valid JSON"},
      {"header invalid UTF-8", MakeFile("{\"\xff\":1}", 0),
       "header is not valid JSON"},
      {"header an array", MakeFile("[1, 2]", 0),
       "header is an array, not a JSON object"},
      {"header a number", MakeFile("42", 0), "header is 42, not a JSON object"},
      {"entry not an object", entry("5"),
       "tensor 'w': entry is 5, not an object"},
      {"unknown entry key",
       entry(R"({"dtype":"F32","shape":[1],"data_offsets":[0,4],"offset":0})"),
       "tensor 'w': unknown key 'offset'"},
      {"missing dtype", entry(R"({"shape":[1],"data_offsets":[0,4]})"),
       "tensor 'w': missing key 'dtype'"},
      {"missing shape", entry(R"({"dtype":"F32","data_offsets":[0,4]})"),
       "tensor 'w': missing key 'shape'"},
      {"missing data_offsets", entry(R"({"dtype":"F32","shape":[1]})"),
       "tensor 'w': missing key 'data_offsets'"},
      {"dtype F64",
       entry(R"({"dtype":"F64","shape":[1],"data_offsets":[0,8]})"),
       "tensor 'w': unsupported dtype 'F64'"},
      {"dtype I32",
       entry(R"({"dtype":"I32","shape":[1],"data_offsets":[0,4]})"),
       "tensor 'w': unsupported dtype 'I32'"},
      {"dtype lower case",
       entry(R"({"dtype":"f32","shape":[1],"data_offsets":[0,4]})"),
       "tensor 'w': unsupported dtype 'f32'"},
      {"dtype not a string",
       entry(R"({"dtype":4,"shape":[1],"data_offsets":[0,4]})"),
       "tensor 'w': dtype is 4, not a string"},
      {"shape not an array",
       entry(R"({"dtype":"F32","shape":4,"data_offsets":[0,16]})"),
       "tensor 'w': shape is 4, not an array"},
      {"negative shape entry",
       entry(R"({"dtype":"F32","shape":[2,-4],"data_offsets":[0,32]})"),
       "tensor 'w': shape[1] is -4, not a non-negative integer"},
      {"float shape entry",
       entry(R"({"dtype":"F32","shape":[2.5],"data_offsets":[0,10]})"),
       "tensor 'w': shape[0] is 2.5, not a non-negative integer"},
      {"string shape entry",
       entry(R"({"dtype":"F32","shape":["2"],"data_offsets":[0,8]})"),
       "tensor 'w': shape[0] is \"2\", not a non-negative integer"},
      {"shape entry above int64",
       entry(R"({"dtype":"F32","shape":[0,18446744073709551615],)"
             R"("data_offsets":[0,0]})"),
       "tensor 'w': shape[1] is 18446744073709551615, larger than 2^63-1"},
      {"shape product overflow",
       entry(R"({"dtype":"F32","shape":[4294967296,4294967296],)"
             R"("data_offsets":[0,0]})"),
       "tensor 'w': shape [4294967296, 4294967296] x F32 is too large: its "
       "byte size overflows 64 bits"},
      {"shape times element size overflow",
       entry(R"({"dtype":"F32","shape":[4611686018427387904],)"
             R"("data_offsets":[0,0]})"),
       "tensor 'w': shape [4611686018427387904] x F32 is too large"},
      {"shape too deep", MakeFile(deep, 0),
       "header JSON nests deeper than 64 levels"},
      {"data_offsets not an array",
       entry(R"({"dtype":"F32","shape":[1],"data_offsets":4})"),
       "tensor 'w': data_offsets is 4, not an array of 2 integers"},
      {"data_offsets of 3",
       entry(R"({"dtype":"F32","shape":[1],"data_offsets":[0,4,8]})"),
       "tensor 'w': data_offsets is an array of 3 entries, not an array of 2"},
      {"negative data_offsets",
       entry(R"({"dtype":"F32","shape":[1],"data_offsets":[-4,0]})"),
       "tensor 'w': data_offsets[0] is -4, not a non-negative integer"},
      {"float data_offsets",
       entry(R"({"dtype":"F32","shape":[1],"data_offsets":[0,4.0]})"),
       "tensor 'w': data_offsets[1] is 4.0, not a non-negative integer"},
      {"begin after end",
       entry(R"({"dtype":"F32","shape":[1],"data_offsets":[8,4]})"),
       "tensor 'w': data_offsets [8, 4]: begin is after end"},
      {"offsets past the data",
       entry(R"({"dtype":"F32","shape":[16],"data_offsets":[32,96]})"),
       "tensor 'w': data_offsets [32, 96] end past the data region of 64 "
       "bytes"},
      {"offsets far past the data",
       entry(R"({"dtype":"U8","shape":[0],)"
             R"("data_offsets":[18446744073709551615,18446744073709551615]})"),
       "tensor 'w': data_offsets [18446744073709551615, 18446744073709551615] "
       "end past the data region"},
      {"shape x dtype mismatch",
       entry(R"({"dtype":"F32","shape":[4,8],"data_offsets":[0,100]})"),
       "tensor 'w': data_offsets [0, 100] hold 100 bytes but shape [4, 8] x "
       "F32 needs 128"},
      {"overlap",
       MakeFile(R"({"a":{"dtype":"U8","shape":[16],"data_offsets":[0,16]},)"
                R"("b":{"dtype":"U8","shape":[16],"data_offsets":[8,24]}})",
                24),
       "tensor 'b': data_offsets [8, 24] overlap tensor 'a' at [0, 16]"},
      {"overlap contained",
       MakeFile(R"({"a":{"dtype":"U8","shape":[16],"data_offsets":[0,16]},)"
                R"("b":{"dtype":"U8","shape":[16],"data_offsets":[16,32]},)"
                R"("c":{"dtype":"U8","shape":[4],"data_offsets":[20,24]}})",
                32),
       "tensor 'c': data_offsets [20, 24] overlap tensor 'b' at [16, 32]"},
      {"same range",
       MakeFile(R"({"a":{"dtype":"U8","shape":[4],"data_offsets":[0,4]},)"
                R"("b":{"dtype":"I8","shape":[4],"data_offsets":[0,4]}})",
                4),
       "tensor 'b': data_offsets [0, 4] overlap tensor 'a' at [0, 4]"},
      {"duplicate tensor name",
       MakeFile(R"({"a":{"dtype":"U8","shape":[4],"data_offsets":[0,4]},)"
                R"("a":{"dtype":"U8","shape":[4],"data_offsets":[4,8]}})",
                8),
       "tensor 'a': duplicate tensor name"},
      {"duplicate entry key",
       entry(R"({"dtype":"U8","dtype":"I8","shape":[4],)"
             R"("data_offsets":[0,4]})"),
       "tensor 'w': duplicate key 'dtype'"},
      {"metadata not an object", MakeFile(R"({"__metadata__":["a"]})", 0),
       "__metadata__ is an array, not an object of strings"},
      {"metadata value not a string",
       MakeFile(R"({"__metadata__":{"format":"pt","n":1}})", 0),
       "__metadata__: value of 'n' is 1, not a string"},
      {"metadata duplicate key",
       MakeFile(R"({"__metadata__":{"k":"1","k":"2"}})", 0),
       "__metadata__: duplicate key 'k'"},
      {"metadata twice",
       MakeFile(R"({"__metadata__":{},"__metadata__":{}})", 0),
       "duplicate key '__metadata__'"},
      {"name with control characters",
       MakeFile("{\"a\\nb\":{\"dtype\":\"F64\",\"shape\":[],"
                "\"data_offsets\":[0,8]}}",
                8),
       "tensor 'a\\nb': unsupported dtype 'F64'"},
  };
}

TEST(SafetensorsTest, RejectsCorruptFiles) {
  for (const CorruptCase& c : CorruptCases()) {
    SCOPED_TRACE(c.label);
    EXPECT_THAT(
        ParseString(c.bytes),
        StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr(c.message)));
  }
}

TEST(SafetensorsTest, EveryTruncationFailsCleanly) {
  const std::string valid = ValidFile();
  for (size_t n = 0; n < valid.size(); ++n) {
    SCOPED_TRACE(n);
    EXPECT_THAT(ParseString(valid.substr(0, n)),
                StatusIs(absl::StatusCode::kInvalidArgument,
                         HasSubstr("safetensors: ")));
  }
}

TEST(SafetensorsTest, WriteRoundTrips) {
  const std::vector<float> f32 = {1.5f, -2.0f, 3.25f, 0.0f, 7.0f, 8.0f};
  const std::vector<uint16_t> half = {0x3c00, 0xbc00, 0x7bff};
  const std::vector<uint8_t> bytes = {0, 1, 2, 250, 255};
  const std::vector<int8_t> int8 = {-128, 127, 0};
  std::vector<TensorView> views(6);
  views[0] = {"layer.weight",
              TensorDType::kF32,
              {2, 3},
              reinterpret_cast<const uint8_t*>(f32.data()),
              24};
  views[1] = {"layer.bias",
              TensorDType::kBF16,
              {3},
              reinterpret_cast<const uint8_t*>(half.data()),
              6};
  views[2] = {"empty", TensorDType::kF16, {0, 5}, nullptr, 0};
  views[3] = {"h",
              TensorDType::kF16,
              {3},
              reinterpret_cast<const uint8_t*>(half.data()),
              6};
  views[4] = {"q", TensorDType::kU8, {5}, bytes.data(), 5};
  views[5] = {"z",
              TensorDType::kI8,
              {1, 3},
              reinterpret_cast<const uint8_t*>(int8.data()),
              3};
  const std::map<std::string, std::string> metadata = {{"format", "pt"},
                                                       {"note", "a \"b\""}};
  const std::string file = WriteSafetensors(views, metadata);

  uint64_t header_size = 0;
  for (int i = 7; i >= 0; --i) {
    header_size = (header_size << 8) | static_cast<uint8_t>(file[i]);
  }
  EXPECT_EQ(header_size % 8, 0u);
  EXPECT_EQ(file.size(), 8 + header_size + 24 + 6 + 6 + 5 + 3);
  // Entries keep the given order; dtype, shape and data_offsets in order.
  const std::string header = file.substr(8, header_size);
  EXPECT_LT(header.find("__metadata__"), header.find("layer.weight"));
  EXPECT_LT(header.find("layer.weight"), header.find("layer.bias"));
  EXPECT_NE(header.find(R"("layer.bias":{"dtype":"BF16","shape":[3],)"
                        R"("data_offsets":[24,30]})"),
            std::string::npos);

  auto parsed = ParseString(file);
  ASSERT_THAT(parsed, IsOk());
  EXPECT_EQ((*parsed)->metadata(), metadata);
  const auto& tensors = (*parsed)->tensors();
  ASSERT_EQ(tensors.size(), views.size());
  for (size_t i = 0; i < views.size(); ++i) {
    SCOPED_TRACE(views[i].name);
    // Written contiguously in order, so offset order is the given order.
    EXPECT_EQ(tensors[i].name, views[i].name);
    EXPECT_EQ(tensors[i].dtype, views[i].dtype);
    EXPECT_EQ(tensors[i].shape, views[i].shape);
    ASSERT_EQ(tensors[i].size_bytes, views[i].size_bytes);
    if (views[i].size_bytes > 0) {
      EXPECT_EQ(
          std::memcmp(tensors[i].data, views[i].data, views[i].size_bytes), 0);
    }
  }
  // The data region starts 8-byte aligned relative to the file start.
  EXPECT_EQ(tensors[0].data - reinterpret_cast<const uint8_t*>(file.data()),
            static_cast<ptrdiff_t>(8 + header_size));
}

TEST(SafetensorsTest, WriteEmpty) {
  const std::string file = WriteSafetensors({});
  EXPECT_EQ(file.size() % 8, 0u);
  auto parsed = ParseString(file);
  ASSERT_THAT(parsed, IsOk());
  EXPECT_TRUE((*parsed)->tensors().empty());
  EXPECT_TRUE((*parsed)->metadata().empty());
}

TEST(SafetensorsTest, DTypeNamesAndSizes) {
  EXPECT_EQ(TensorDTypeName(TensorDType::kF32), "F32");
  EXPECT_EQ(TensorDTypeName(TensorDType::kBF16), "BF16");
  EXPECT_EQ(TensorDTypeName(TensorDType::kF16), "F16");
  EXPECT_EQ(TensorDTypeName(TensorDType::kU8), "U8");
  EXPECT_EQ(TensorDTypeName(TensorDType::kI8), "I8");
  EXPECT_EQ(TensorDTypeSize(TensorDType::kF32), 4u);
  EXPECT_EQ(TensorDTypeSize(TensorDType::kBF16), 2u);
  EXPECT_EQ(TensorDTypeSize(TensorDType::kF16), 2u);
  EXPECT_EQ(TensorDTypeSize(TensorDType::kU8), 1u);
  EXPECT_EQ(TensorDTypeSize(TensorDType::kI8), 1u);
}

// A file in a fresh temporary directory, removed at the end of the test.
class SafetensorsFileTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string pattern = ::testing::TempDir() + "safetensors_test_XXXXXX";
    ASSERT_NE(mkdtemp(pattern.data()), nullptr);
    dir_ = pattern;
  }
  void TearDown() override {
    for (const std::string& path : written_) std::remove(path.c_str());
    rmdir(dir_.c_str());
  }
  std::string Write(const std::string& name, const std::string& bytes) {
    const std::string path = dir_ + "/" + name;
    FILE* f = std::fopen(path.c_str(), "wb");
    EXPECT_NE(f, nullptr);
    if (f == nullptr) return path;
    EXPECT_EQ(std::fwrite(bytes.data(), 1, bytes.size(), f), bytes.size());
    std::fclose(f);
    written_.push_back(path);
    return path;
  }

  std::string dir_;
  std::vector<std::string> written_;
};

TEST_F(SafetensorsFileTest, OpensRealFile) {
  const std::vector<float> values = {1, 2, 3, 4};
  const std::vector<TensorView> views = {
      {"w",
       TensorDType::kF32,
       {2, 2},
       reinterpret_cast<const uint8_t*>(values.data()),
       16}};
  const std::string path = Write("model.safetensors", WriteSafetensors(views));
  auto file = SafetensorsFile::Open(path);
  ASSERT_THAT(file, IsOk());
  const TensorView* w = (*file)->Find("w");
  ASSERT_NE(w, nullptr);
  ASSERT_EQ(w->size_bytes, 16u);
  float read[4];
  std::memcpy(read, w->data, sizeof(read));
  EXPECT_EQ(read[0], 1.0f);
  EXPECT_EQ(read[3], 4.0f);
}

TEST_F(SafetensorsFileTest, ReleaseDropsPagesAndKeepsTheViewReadable) {
  std::vector<float> values(1 << 20);  // 4 MiB
  for (size_t i = 0; i < values.size(); ++i) values[i] = static_cast<float>(i);
  const std::vector<TensorView> views = {
      {"w",
       TensorDType::kF32,
       {static_cast<int64_t>(values.size())},
       reinterpret_cast<const uint8_t*>(values.data()),
       values.size() * sizeof(float)}};
  const std::string path = Write("big.safetensors", WriteSafetensors(views));
  auto file = SafetensorsFile::Open(path);
  ASSERT_THAT(file, IsOk());
  const TensorView& w = *(*file)->Find("w");
  auto read_all = [&] {
    std::vector<float> read(values.size());
    std::memcpy(read.data(), w.data, w.size_bytes);
    return read;
  };
  EXPECT_EQ(read_all(), values);
  const size_t resident = ::qlinear::testing::ProcStatusBytes("RssFile");
  (*file)->Release(w);
  EXPECT_LT(
      ::qlinear::testing::ProcStatusBytes("RssFile") + 3 * (size_t{1} << 20),
      resident);
  EXPECT_EQ(read_all(), values);  // faulted back in from the file
}

TEST_F(SafetensorsFileTest, MissingFileIsNotFound) {
  EXPECT_THAT(
      SafetensorsFile::Open(dir_ + "/missing.safetensors"),
      StatusIs(absl::StatusCode::kNotFound, HasSubstr("missing.safetensors")));
  EXPECT_THAT(
      SafetensorsFile::Open(dir_ + "/no_dir/x.safetensors"),
      StatusIs(absl::StatusCode::kNotFound, HasSubstr("x.safetensors")));
}

TEST_F(SafetensorsFileTest, CorruptFilesNameThePath) {
  const std::string empty = Write("empty.safetensors", "");
  EXPECT_THAT(SafetensorsFile::Open(empty),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr(empty + ": file is 0 bytes")));
  const std::string bad =
      Write("bad.safetensors",
            MakeFile(R"({"fc1.weight":{"dtype":"F32","shape":[4,8],)"
                     R"("data_offsets":[0,100]}})",
                     100));
  EXPECT_THAT(SafetensorsFile::Open(bad),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr(bad + ": tensor 'fc1.weight': data_offsets "
                                       "[0, 100] hold 100 bytes but shape "
                                       "[4, 8] x F32 needs 128")));
  EXPECT_THAT(SafetensorsFile::Open(dir_),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("not a regular file")));
}

}  // namespace
}  // namespace qlinear::model
