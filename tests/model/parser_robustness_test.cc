// Runs the safetensors and manifest parsers over deterministic random
// mutations of valid inputs: each must return OK or INVALID_ARGUMENT, never
// crash, and whatever it accepts must satisfy the documented invariants.
// A cheap, always-on companion of the libFuzzer targets in tests/fuzz/.
#include <algorithm>
#include <cctype>
#include <cstdint>
#include <cstring>
#include <random>
#include <string>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "model/manifest.h"
#include "model/safetensors.h"

namespace qlinear::model {
namespace {

constexpr int kIterations = 20000;

// Byte-level mutations, biased towards the first `hot_size` bytes (the
// JSON) and towards bytes that matter to a JSON parser.
class Mutator {
 public:
  explicit Mutator(uint32_t seed) : rng_(seed) {}

  std::string Mutate(std::string s, size_t hot_size) {
    const int count = 1 + static_cast<int>(Below(4));
    for (int i = 0; i < count; ++i) MutateOnce(&s, hot_size);
    return s;
  }

 private:
  size_t Below(size_t n) { return n == 0 ? 0 : rng_() % n; }

  // A position in [0, size], usually inside the hot region.
  size_t Position(const std::string& s, size_t hot_size) {
    const size_t limit =
        Below(10) < 8 ? std::min(hot_size, s.size()) : s.size();
    return Below(limit + 1);
  }

  std::string Token() {
    static const char* const kTokens[] = {"{",
                                          "}",
                                          "[",
                                          "]",
                                          "\"",
                                          ",",
                                          ":",
                                          "-",
                                          "0",
                                          "1",
                                          "9",
                                          ".",
                                          "e",
                                          "\\",
                                          " ",
                                          "null",
                                          "true",
                                          "-1",
                                          "2.5",
                                          "1e999",
                                          "4294967296",
                                          "9223372036854775807",
                                          "18446744073709551615",
                                          "65536",
                                          "16",
                                          "\"F64\"",
                                          "\"I8\"",
                                          "\"__metadata__\"",
                                          "\"dtype\"",
                                          "\"shape\"",
                                          "\"data_offsets\"",
                                          "\"group_size\"",
                                          "\"bits\"",
                                          "\"format\"",
                                          "\"fp32\"",
                                          "\"intx_opaque\"",
                                          "\"int4_opaque\"",
                                          "\xff",
                                          "\xc3"};
    const size_t n = sizeof(kTokens) / sizeof(kTokens[0]);
    const size_t i = Below(n + 1);
    if (i == n) return std::string(1, '\0');
    return kTokens[i];
  }

  void MutateOnce(std::string* s, size_t hot_size) {
    const size_t pos = Position(*s, hot_size);
    switch (Below(9)) {
      case 0:  // flip a bit
        if (pos < s->size()) (*s)[pos] ^= static_cast<char>(1u << Below(8));
        break;
      case 1:  // random byte
        if (pos < s->size()) (*s)[pos] = static_cast<char>(Below(256));
        break;
      case 2:  // overwrite with a token
        if (pos < s->size()) {
          const std::string t = Token();
          s->replace(pos, std::min(t.size(), s->size() - pos), t);
        }
        break;
      case 3:  // truncate
        s->resize(pos);
        break;
      case 4:  // insert a token
        s->insert(pos, Token());
        break;
      case 5:  // insert random bytes
        for (size_t n = 1 + Below(4); n > 0; --n) {
          s->insert(s->begin() + static_cast<std::ptrdiff_t>(pos),
                    static_cast<char>(Below(256)));
        }
        break;
      case 6:  // delete a range
        s->erase(pos, 1 + Below(16));
        break;
      case 7: {  // copy a range elsewhere
        if (s->empty()) break;
        const size_t from = Below(s->size());
        const std::string chunk = s->substr(from, 1 + Below(32));
        s->insert(std::min(pos, s->size()), chunk);
        break;
      }
      case 8:  // replace a digit run with another number
        if (pos < s->size()) {
          size_t begin = pos;
          while (begin < s->size() &&
                 !std::isdigit(static_cast<unsigned char>((*s)[begin]))) {
            ++begin;
          }
          size_t end = begin;
          while (end < s->size() &&
                 std::isdigit(static_cast<unsigned char>((*s)[end]))) {
            ++end;
          }
          static const char* const kNumbers[] = {"0",
                                                 "1",
                                                 "3",
                                                 "7",
                                                 "8",
                                                 "15",
                                                 "16",
                                                 "32",
                                                 "-1",
                                                 "255",
                                                 "256",
                                                 "1048576",
                                                 "4294967296",
                                                 "9223372036854775808",
                                                 "18446744073709551615",
                                                 "99999999999999999999",
                                                 "0.0"};
          s->replace(begin, end - begin,
                     kNumbers[Below(sizeof(kNumbers) / sizeof(kNumbers[0]))]);
        }
        break;
    }
  }

  std::mt19937 rng_;
};

// Replaces the 8-byte length prefix, sometimes, with a value near the truth.
void MaybeRewriteLength(std::mt19937* rng, std::string* file,
                        uint64_t header_size) {
  if (file->size() < 8 || (*rng)() % 8 != 0) return;
  static const uint64_t kDeltas[] = {0, 1, 7, 8, 64};
  uint64_t value;
  switch ((*rng)() % 4) {
    case 0:
      value = header_size + kDeltas[(*rng)() % 5];
      break;
    case 1:
      value = header_size - kDeltas[(*rng)() % 5];
      break;
    case 2:
      value = (uint64_t{1} << ((*rng)() % 64));
      break;
    default:
      value = (static_cast<uint64_t>((*rng)()) << 32) | (*rng)();
      break;
  }
  for (int i = 0; i < 8; ++i) {
    (*file)[i] = static_cast<char>((value >> (8 * i)) & 0xff);
  }
}

std::string BaseSafetensors(uint64_t* header_size) {
  static const std::vector<float> f32 = {1, 2, 3, 4, 5, 6, 7, 8};
  static const std::vector<uint16_t> f16 = {1, 2, 3, 4, 5, 6};
  static const std::vector<uint8_t> u8 = {1, 2, 3, 4, 5};
  std::vector<TensorView> views = {
      {"fc1.weight",
       TensorDType::kF32,
       {2, 4},
       reinterpret_cast<const uint8_t*>(f32.data()),
       32},
      {"fc1.bias",
       TensorDType::kBF16,
       {2},
       reinterpret_cast<const uint8_t*>(f16.data()),
       4},
      {"fc1.scales",
       TensorDType::kF16,
       {3, 2},
       reinterpret_cast<const uint8_t*>(f16.data()),
       12},
      {"fc1.qweight", TensorDType::kU8, {5}, u8.data(), 5},
      {"fc1._weight_zero_point", TensorDType::kI8, {1, 5}, u8.data(), 5},
      {"empty", TensorDType::kF32, {0, 4}, nullptr, 0},
  };
  const std::string file =
      WriteSafetensors(views, {{"format", "pt"}, {"version", "2"}});
  *header_size = 0;
  for (int i = 7; i >= 0; --i) {
    *header_size = (*header_size << 8) | static_cast<uint8_t>(file[i]);
  }
  return file;
}

TEST(ParserRobustnessTest, SafetensorsMutations) {
  uint64_t header_size = 0;
  const std::string base = BaseSafetensors(&header_size);
  Mutator mutator(12345);
  std::mt19937 rng(777);
  int accepted = 0;
  int rejected = 0;
  uint64_t checksum = 0;
  for (int iteration = 0; iteration < kIterations; ++iteration) {
    std::string mutated = mutator.Mutate(base, 8 + header_size);
    MaybeRewriteLength(&rng, &mutated, header_size);
    // An exactly sized heap copy, so that sanitizers catch any over-read.
    const std::vector<uint8_t> bytes(mutated.begin(), mutated.end());
    const uint8_t* begin = bytes.empty() ? nullptr : bytes.data();
    auto file = SafetensorsFile::Parse(begin, bytes.size());
    if (!file.ok()) {
      ASSERT_EQ(file.status().code(), absl::StatusCode::kInvalidArgument)
          << "iteration " << iteration << ": " << file.status();
      ASSERT_THAT(std::string(file.status().message()),
                  ::testing::StartsWith("safetensors: "));
      ++rejected;
      continue;
    }
    ++accepted;
    const uint8_t* end = begin + bytes.size();
    const uint8_t* previous_end = nullptr;
    for (const TensorView& t : (*file)->tensors()) {
      SCOPED_TRACE(iteration);
      ASSERT_GE(t.num_elements(), 0);
      ASSERT_EQ(t.size_bytes, static_cast<uint64_t>(t.num_elements()) *
                                  TensorDTypeSize(t.dtype));
      ASSERT_GE(t.data, begin + 8);
      ASSERT_LE(t.data + t.size_bytes, end);
      if (t.size_bytes == 0) continue;
      if (previous_end != nullptr) {
        ASSERT_GE(t.data, previous_end);
      }
      previous_end = t.data + t.size_bytes;
      for (size_t i = 0; i < t.size_bytes; ++i) checksum += t.data[i];
      ASSERT_EQ((*file)->Find(t.name), &t);
    }
  }
  RecordProperty("accepted", accepted);
  RecordProperty("rejected", rejected);
  EXPECT_GT(accepted, 0);
  EXPECT_GT(rejected, kIterations / 2);
  EXPECT_GT(checksum, 0u);
}

const char kBaseManifest[] = R"({
  "dtype": "bf16",
  "default_act_quant": "int8_asym_per_token",
  "scale_floor": "finfo_eps",
  "layers": [
    {"name": "fc1", "in_features": 256, "out_features": 512, "bias": true,
     "activation": "silu", "format": "int4_opaque", "group_size": 128,
     "source": "int4_plain"},
    {"name": "fc2", "in_features": 512, "out_features": 96, "bias": false,
     "activation": "gelu_tanh", "format": "intx_opaque", "group_size": 32,
     "bits": 3, "mapping": "asymmetric", "source": "torchao_intx"},
    {"name": "head", "in_features": 96, "out_features": 10,
     "activation": "relu", "format": "fp32"}
  ],
  "batching": {"max_batch_rows": 64, "max_queue_delay_us": 500,
               "max_queue_rows": 1024}
})";

TEST(ParserRobustnessTest, ManifestMutations) {
  const std::string base = kBaseManifest;
  Mutator mutator(54321);
  int accepted = 0;
  int rejected = 0;
  for (int iteration = 0; iteration < kIterations; ++iteration) {
    const std::string text = mutator.Mutate(base, base.size());
    auto manifest = ParseManifest(text);
    if (!manifest.ok()) {
      ASSERT_EQ(manifest.status().code(), absl::StatusCode::kInvalidArgument)
          << "iteration " << iteration << ": " << manifest.status();
      ASSERT_FALSE(manifest.status().message().empty());
      ++rejected;
      continue;
    }
    ++accepted;
    SCOPED_TRACE(text);
    ASSERT_FALSE(manifest->layers.empty());
    for (size_t i = 0; i < manifest->layers.size(); ++i) {
      const LayerSpec& layer = manifest->layers[i];
      if (i > 0) {
        ASSERT_EQ(layer.in_features, manifest->layers[i - 1].out_features);
      }
      if (layer.format != WeightFormat::kFp32) {
        ASSERT_GT(layer.group_size, 0u);
        ASSERT_EQ(layer.in_features % layer.group_size, 0u);
      }
    }
    ASSERT_LE(manifest->batching.max_batch_rows,
              manifest->batching.max_queue_rows);
    const std::string canonical = ManifestToJson(*manifest);
    auto again = ParseManifest(canonical);
    ASSERT_TRUE(again.ok()) << again.status() << "\n" << canonical;
    ASSERT_EQ(ManifestToJson(*again), canonical);
  }
  RecordProperty("accepted", accepted);
  RecordProperty("rejected", rejected);
  EXPECT_GT(accepted, 0);
  EXPECT_GT(rejected, kIterations / 2);
}

}  // namespace
}  // namespace qlinear::model
