#include "clients/common/tensor_util.h"

#include <cmath>
#include <cstdio>
#include <cstring>
#include <random>

namespace qlinear::clients {

size_t ElementSize(v1::DataType t) { return t == v1::DATA_TYPE_FP32 ? 4 : 2; }

std::string DataTypeLabel(v1::DataType t) {
  switch (t) {
    case v1::DATA_TYPE_FP32:
      return "FP32";
    case v1::DATA_TYPE_BF16:
      return "BF16";
    case v1::DATA_TYPE_FP16:
      return "FP16";
    default:
      return "UNSPECIFIED";
  }
}

bool ParseDataType(std::string_view name, v1::DataType* out) {
  if (name == "fp32" || name == "FP32") {
    *out = v1::DATA_TYPE_FP32;
  } else if (name == "bf16" || name == "BF16") {
    *out = v1::DATA_TYPE_BF16;
  } else if (name == "fp16" || name == "FP16") {
    *out = v1::DATA_TYPE_FP16;
  } else {
    return false;
  }
  return true;
}

float HalfToFloat(uint16_t h) {
  const int exponent = (h >> 10) & 0x1f;
  const uint32_t mantissa = h & 0x3ffu;
  float magnitude;
  if (exponent == 0) {
    magnitude = std::ldexp(static_cast<float>(mantissa), -24);
  } else if (exponent == 31) {
    magnitude = mantissa == 0 ? INFINITY : NAN;
  } else {
    magnitude =
        std::ldexp(static_cast<float>(mantissa | 0x400u), exponent - 25);
  }
  return (h & 0x8000u) != 0 ? -magnitude : magnitude;
}

uint16_t FloatToHalf(float x) {
  uint32_t bits;
  std::memcpy(&bits, &x, 4);
  const uint16_t sign = static_cast<uint16_t>((bits >> 16) & 0x8000u);
  const uint32_t abs = bits & 0x7fffffffu;
  if (abs > 0x7f800000u) return sign | 0x7e00u;   // NaN
  if (abs >= 0x477ff000u) return sign | 0x7c00u;  // >= 65520: infinity
  if (abs < 0x38800000u) {
    // Below 2^-14: a half subnormal (or the smallest normal after rounding),
    // whose code is round(|x| * 2^24); the scaling is exact.
    float a;
    std::memcpy(&a, &abs, 4);
    return static_cast<uint16_t>(
        sign | static_cast<uint16_t>(std::nearbyint(a * 16777216.0f)));
  }
  const uint32_t mantissa = abs & 0x7fffffu;
  const uint32_t exponent = (abs >> 23) - 127 + 15;
  uint32_t h = (exponent << 10) | (mantissa >> 13);
  const uint32_t rest = mantissa & 0x1fffu;
  if (rest > 0x1000u || (rest == 0x1000u && (h & 1u) != 0)) ++h;
  return static_cast<uint16_t>(sign | h);
}

float Bf16ToFloat(uint16_t b) {
  const uint32_t bits = static_cast<uint32_t>(b) << 16;
  float f;
  std::memcpy(&f, &bits, 4);
  return f;
}

uint16_t FloatToBf16(float x) {
  uint32_t bits;
  std::memcpy(&bits, &x, 4);
  if ((bits & 0x7fffffffu) > 0x7f800000u) {
    return static_cast<uint16_t>((bits >> 16) | 0x40u);  // quiet NaN
  }
  bits += 0x7fffu + ((bits >> 16) & 1u);
  return static_cast<uint16_t>(bits >> 16);
}

float LoadElement(v1::DataType t, std::string_view data, size_t i) {
  if (t == v1::DATA_TYPE_FP32) {
    float f;
    std::memcpy(&f, data.data() + 4 * i, 4);
    return f;
  }
  uint16_t h;
  std::memcpy(&h, data.data() + 2 * i, 2);
  return t == v1::DATA_TYPE_FP16 ? HalfToFloat(h) : Bf16ToFloat(h);
}

void StoreElement(v1::DataType t, float x, std::string* data, size_t i) {
  if (t == v1::DATA_TYPE_FP32) {
    std::memcpy(&(*data)[4 * i], &x, 4);
    return;
  }
  const uint16_t h = t == v1::DATA_TYPE_FP16 ? FloatToHalf(x) : FloatToBf16(x);
  std::memcpy(&(*data)[2 * i], &h, 2);
}

void FillRandom(v1::DataType t, size_t count, uint64_t seed,
                std::string* data) {
  data->assign(count * ElementSize(t), '\0');
  std::mt19937_64 rng(seed);
  std::uniform_int_distribution<int> steps(-256, 256);
  for (size_t i = 0; i < count; ++i) {
    StoreElement(t, static_cast<float>(steps(rng)) / 256.0f, data, i);
  }
}

const char* StatusCodeName(int code) {
  static constexpr const char* kNames[kNumStatusCodes] = {"OK",
                                                          "CANCELLED",
                                                          "UNKNOWN",
                                                          "INVALID_ARGUMENT",
                                                          "DEADLINE_EXCEEDED",
                                                          "NOT_FOUND",
                                                          "ALREADY_EXISTS",
                                                          "PERMISSION_DENIED",
                                                          "RESOURCE_EXHAUSTED",
                                                          "FAILED_PRECONDITION",
                                                          "ABORTED",
                                                          "OUT_OF_RANGE",
                                                          "UNIMPLEMENTED",
                                                          "INTERNAL",
                                                          "UNAVAILABLE",
                                                          "DATA_LOSS",
                                                          "UNAUTHENTICATED"};
  return code >= 0 && code < kNumStatusCodes ? kNames[code] : "UNKNOWN";
}

std::string JsonString(std::string_view s) {
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

}  // namespace qlinear::clients
