// Client-controlled strings in status messages and log lines: escaped and
// cut to a bound, so that a client can neither forge log lines (a newline in
// a model name) nor make an error exceed the client's metadata limit (gRPC
// then reports RESOURCE_EXHAUSTED instead of the error). docs/operations.md,
// "Limits and failure modes", lists the bounds. Pure functions; thread-safe.
#ifndef QLINEAR_SERVER_CLIENT_TEXT_H_
#define QLINEAR_SERVER_CLIENT_TEXT_H_

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "absl/status/status.h"
#include "absl/types/span.h"

namespace qlinear::server {

// Bytes of one client string (model name, version, request id, parameter
// key, ...) kept in a status message or a log line; the rest is replaced by
// the marker "...(<total> bytes)". Every valid model name (at most 255
// bytes) fits whole.
inline constexpr size_t kMaxClientStringBytes = 256;
// Dimensions of a client shape printed in a message; the rest is replaced by
// "...(<total> dims)".
inline constexpr size_t kMaxPrintedDims = 8;
// Bytes of a whole status message sent to a client (ToGrpcStatus cuts the
// rest, with the marker): the net under the per-string bound, well inside
// gRPC's default 8 KiB metadata limit even when percent-encoded.
inline constexpr size_t kMaxStatusMessageBytes = 2048;

// `s` for a message or a log line: its first `max_bytes` bytes C-escaped
// (control bytes, quotes, backslashes and bytes >= 0x80 as \n, \", \xNN,
// ...), then "...(<size> bytes)" when `s` is longer. The result holds no
// control byte and at most 4 * max_bytes + 32 bytes.
std::string ClientText(std::string_view s,
                       size_t max_bytes = kMaxClientStringBytes);

// The text of an absl status message, which (absl::string_view) need not be
// a std::string_view.
inline std::string_view MessageOf(const absl::Status& status) {
  return std::string_view(status.message().data(), status.message().size());
}

// `shape` as "[2, 512]"; beyond kMaxPrintedDims dimensions
// "[1, 1, 1, 1, 1, 1, 1, 1, ...(200000 dims)]".
std::string ShapeText(absl::Span<const int64_t> shape);

// `message` cut to `max_bytes` (at a UTF-8 character boundary) followed by
// "...(<size> bytes)" when longer; unchanged otherwise.
std::string TruncateMessage(std::string_view message,
                            size_t max_bytes = kMaxStatusMessageBytes);

}  // namespace qlinear::server

#endif  // QLINEAR_SERVER_CLIENT_TEXT_H_
