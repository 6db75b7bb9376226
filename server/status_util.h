// The one conversion from absl::Status (used inside the server) to
// grpc::Status (used at the RPC edge); docs/api.md, "Status codes".
#ifndef QLINEAR_SERVER_STATUS_UTIL_H_
#define QLINEAR_SERVER_STATUS_UTIL_H_

#include <grpcpp/support/status.h>

#include "absl/status/status.h"

namespace qlinear::server {

// Same code (absl and gRPC share google.rpc.Code) and the same message,
// cut to kMaxStatusMessageBytes (client_text.h) with a "...(<size> bytes)"
// marker, so that it always fits the client's metadata limit. An OK status
// maps to grpc::Status::OK; a code unknown to gRPC to UNKNOWN.
// Thread-safe (pure function).
grpc::Status ToGrpcStatus(const absl::Status& status);

}  // namespace qlinear::server

#endif  // QLINEAR_SERVER_STATUS_UTIL_H_
