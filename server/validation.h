// Request validation and tensor coding for the native API: turns a request
// proto and the model it names into what LinearStack needs, or into an
// INVALID_ARGUMENT status that names the offending field (docs/api.md,
// "Status codes"). Pure functions: no gRPC calls, no I/O; thread-safe. The
// fuzz targets tests/fuzz/native_request_fuzz.cc (Forward, Matmul) and
// forward_stream_fuzz.cc (ForwardStream) feed them arbitrary requests.
#ifndef QLINEAR_SERVER_VALIDATION_H_
#define QLINEAR_SERVER_VALIDATION_H_

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string_view>
#include <utility>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/types/span.h"
#include "kernels/types.h"
#include "model/linear_stack.h"
#include "qlinear/v1/qlinear.pb.h"

namespace qlinear::server {

// Limits every request is checked against.
struct RequestLimits {
  // Most rows (M) one request may carry. Larger requests are rejected with
  // INVALID_ARGUMENT; this also bounds the server's max message size.
  int64_t max_rows_per_request = 4096;
  // Most bytes of output tensor one response may carry (rows x output
  // width x dtype size). Larger requests are rejected with INVALID_ARGUMENT
  // before any compute: the response would cost that much memory several
  // times over, and protobuf cannot encode 2 GiB.
  int64_t max_response_bytes = int64_t{256} << 20;
};

// A validated input tensor [rows, cols], widened to fp32. Every value is
// finite and exactly representable in the model dtype.
struct DecodedInput {
  size_t rows = 0;
  size_t cols = 0;
  std::vector<float> values;  // rows * cols, row-major
};

// A validated Forward request: the arguments of LinearStack::Forward.
struct ForwardCall {
  size_t layer_begin = 0;
  size_t layer_end = 0;  // exclusive
  ActQuant act_quant = ActQuant::kNone;
  DecodedInput input;
};

// A validated Matmul request: the arguments of LinearStack::Matmul.
struct MatmulCall {
  size_t layer = 0;
  ActQuant act_quant = ActQuant::kNone;
  DecodedInput input;
};

// Validates `request` against `model` (the model it names, already looked
// up) and decodes its input. Checks, in order: act_quant, the layer range,
// then the input (present, dtype, shape [M, in_features(layer_start)],
// 1 <= M <= limits.max_rows_per_request, byte length, finite values).
// Errors: INVALID_ARGUMENT with the field named, e.g.
// "input.shape: expected [M, 1024], got [2, 512]".
absl::StatusOr<ForwardCall> ValidateForwardRequest(
    const v1::ForwardRequest& request, const model::LinearStack& model,
    const RequestLimits& limits);

// As ValidateForwardRequest, for one named layer. Errors: INVALID_ARGUMENT,
// e.g. "layer: model 'default' has no layer 'fc9'".
absl::StatusOr<MatmulCall> ValidateMatmulRequest(
    const v1::MatmulRequest& request, const model::LinearStack& model,
    const RequestLimits& limits);

// --- Building blocks (also used by tests and later APIs) -------------------

// The wire enum of `t`.
v1::DataType ToProtoDataType(DType t);
// The wire enum of `a` (never ACT_QUANT_MODEL_DEFAULT).
v1::ActQuant ToProtoActQuant(ActQuant a);

// The mode a request runs in: `requested`, or `model_default` for
// ACT_QUANT_MODEL_DEFAULT. Errors: INVALID_ARGUMENT
// "act_quant: unknown value 7" for a value outside the enum.
absl::StatusOr<ActQuant> ResolveActQuant(v1::ActQuant requested,
                                         ActQuant model_default);

// Validates and decodes `tensor` as a [M, cols] matrix of `dtype` with
// 1 <= M <= max_rows. `field` names the tensor in messages ("input").
// Errors: INVALID_ARGUMENT naming "<field>.dtype", "<field>.shape" or
// "<field>.data".
absl::StatusOr<DecodedInput> DecodeMatrix(const v1::Tensor& tensor,
                                          std::string_view field, DType dtype,
                                          size_t cols, int64_t max_rows);

// Checks that `rows` rows of `cols` outputs of `dtype` fit in
// limits.max_response_bytes. Errors: INVALID_ARGUMENT naming `shape_field`,
// with the size, the limit and the rows that fit.
absl::Status CheckResponseBytes(size_t rows, size_t cols, DType dtype,
                                const RequestLimits& limits,
                                std::string_view shape_field);

// Layers [begin, end) of a request: `start` (absent: 0) and `end` (absent:
// the number of layers) of `model`, named `model_name` in messages. Errors:
// INVALID_ARGUMENT naming `start_field` or `end_field`, e.g.
// "layer_end: 9 is out of range for model 'm' with 3 layers".
absl::StatusOr<std::pair<size_t, size_t>> ResolveLayerRange(
    std::optional<int64_t> start, std::optional<int64_t> end,
    const model::LinearStack& model, std::string_view model_name,
    std::string_view start_field, std::string_view end_field);

// Checks that `shape` is [M, cols] with 1 <= M <= max_rows and returns M.
// Errors: INVALID_ARGUMENT naming `shape_field`, e.g.
// "input.shape: expected [M, 1024], got [2, 512]".
absl::StatusOr<size_t> CheckMatrixShape(absl::Span<const int64_t> shape,
                                        size_t cols, int64_t max_rows,
                                        std::string_view shape_field);

// Decodes `data` as a row-major little-endian [rows, cols] matrix of `dtype`.
// Errors: INVALID_ARGUMENT naming `data_field`: the byte length is not
// rows * cols * DTypeSize(dtype) (the message shows the shape and
// `dtype_label`), or an element is not finite.
absl::StatusOr<DecodedInput> DecodeRawMatrix(std::string_view data, DType dtype,
                                             size_t rows, size_t cols,
                                             std::string_view data_field,
                                             std::string_view dtype_label);

// Takes `values` as a row-major [rows, cols] fp32 matrix. Errors:
// INVALID_ARGUMENT naming `field`: not rows * cols values, or a value is not
// finite.
absl::StatusOr<DecodedInput> DecodeFloatMatrix(absl::Span<const float> values,
                                               size_t rows, size_t cols,
                                               std::string_view field);

// Writes `values` ([rows, cols], fp32 holding values of `dtype`) to `out`
// as a little-endian `dtype` tensor. REQUIRES: values.size() == rows * cols.
void EncodeMatrix(DType dtype, size_t rows, size_t cols,
                  absl::Span<const float> values, v1::Tensor* out);

// Writes `values` as little-endian `dtype` elements to `out` (replacing its
// contents).
void EncodeValues(DType dtype, absl::Span<const float> values,
                  std::string* out);

}  // namespace qlinear::server

#endif  // QLINEAR_SERVER_VALIDATION_H_
