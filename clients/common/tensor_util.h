// Element conversions, random inputs and status names shared by the C++
// clients (qlinear-cli, qlinear-bench). Depends only on the generated protos
// and gRPC. Stateless functions: thread-safe.
#ifndef QLINEAR_CLIENTS_COMMON_TENSOR_UTIL_H_
#define QLINEAR_CLIENTS_COMMON_TENSOR_UTIL_H_

#include <grpcpp/grpcpp.h>

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "qlinear/v1/qlinear.pb.h"

namespace qlinear::clients {

// Bytes per element: 4 for FP32, 2 for BF16 and FP16 (and UNSPECIFIED).
size_t ElementSize(v1::DataType t);

// "FP32" for DATA_TYPE_FP32: the KServe v2 datatype name of `t`.
std::string DataTypeLabel(v1::DataType t);

// Parses "fp32"/"FP32", "bf16"/"BF16", "fp16"/"FP16"; false otherwise.
bool ParseDataType(std::string_view name, v1::DataType* out);

// IEEE binary16 <-> binary32. FloatToHalf and FloatToBf16 round to nearest
// even; NaN stays NaN, overflow becomes infinity.
float HalfToFloat(uint16_t h);
uint16_t FloatToHalf(float x);
float Bf16ToFloat(uint16_t b);
uint16_t FloatToBf16(float x);

// Element `i` of the raw little-endian bytes `data` of dtype `t`, as float.
// REQUIRES: data.size() >= (i + 1) * ElementSize(t).
float LoadElement(v1::DataType t, std::string_view data, size_t i);

// Writes `x` rounded to `t` as element `i` of `data`.
// REQUIRES: data->size() >= (i + 1) * ElementSize(t).
void StoreElement(v1::DataType t, float x, std::string* data, size_t i);

// Replaces `data` with `count` elements of dtype `t`, drawn with a fixed
// generator from `seed`: multiples of 1/256 in [-1, 1], exact in every
// dtype, so the same seed gives the same values in any dtype.
void FillRandom(v1::DataType t, size_t count, uint64_t seed, std::string* data);

// "RESOURCE_EXHAUSTED" for grpc::StatusCode::RESOURCE_EXHAUSTED; "UNKNOWN"
// for values outside the canonical codes.
// The int overload does the lookup: casting an int outside the enum's range
// to grpc::StatusCode is undefined behaviour (UBSan's -fsanitize=enum).
const char* StatusCodeName(int code);
inline const char* StatusCodeName(grpc::StatusCode code) {
  return StatusCodeName(static_cast<int>(code));
}

// Number of canonical status codes (OK = 0 .. UNAUTHENTICATED = 16).
inline constexpr int kNumStatusCodes = 17;

// A JSON string literal of `s`, quoted and escaped.
std::string JsonString(std::string_view s);
// A JSON number: "%.9g" of `x`, or null when it is not finite.
std::string JsonNumber(double x);

}  // namespace qlinear::clients

#endif  // QLINEAR_CLIENTS_COMMON_TENSOR_UTIL_H_
