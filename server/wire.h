// The request and response bytes of the inference RPCs, which the services
// take raw (grpc::ByteBuffer) so that a request that does not parse gets a
// precise INVALID_ARGUMENT and is counted, instead of gRPC's bare
// UNIMPLEMENTED, and so that a ForwardStream survives one bad message
// (docs/operations.md, "Limits and failure modes").
//
// Thread-safe (pure functions).
#ifndef QLINEAR_SERVER_WIRE_H_
#define QLINEAR_SERVER_WIRE_H_

#include <grpcpp/support/byte_buffer.h>

#include "absl/status/status.h"
#include "google/protobuf/message.h"

namespace qlinear::server {

// Parses `bytes` as `message` (cleared first). Errors: INVALID_ARGUMENT
// "request: <size> bytes are not a valid <message type>".
absl::Status ParseRequest(const grpc::ByteBuffer& bytes,
                          google::protobuf::Message* message);

// Serializes `message` into `bytes`. Errors: INTERNAL when it does not
// serialize (larger than protobuf's 2 GiB; validation bounds responses
// well below, so this is a last line).
absl::Status SerializeResponse(const google::protobuf::Message& message,
                               grpc::ByteBuffer* bytes);

}  // namespace qlinear::server

#endif  // QLINEAR_SERVER_WIRE_H_
