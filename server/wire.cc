#include "server/wire.h"

#include <grpcpp/support/proto_buffer_reader.h>
#include <grpcpp/support/proto_buffer_writer.h>

#include <climits>

#include "absl/strings/str_cat.h"

namespace qlinear::server {

absl::Status ParseRequest(const grpc::ByteBuffer& bytes,
                          google::protobuf::Message* message) {
  message->Clear();
  grpc::ByteBuffer copy(bytes);  // shares the slices; the reader consumes
  const size_t size = copy.Length();
  bool parsed = false;
  {
    grpc::ProtoBufferReader reader(&copy);
    parsed = reader.status().ok() && message->ParseFromZeroCopyStream(&reader);
  }
  if (!parsed) {
    message->Clear();
    return absl::InvalidArgumentError(
        absl::StrCat("request: ", size, " bytes are not a valid ",
                     message->GetTypeName(), " message"));
  }
  return absl::OkStatus();
}

absl::Status SerializeResponse(const google::protobuf::Message& message,
                               grpc::ByteBuffer* bytes) {
  const size_t size = message.ByteSizeLong();
  if (size > static_cast<size_t>(INT_MAX)) {
    return absl::InternalError(
        absl::StrCat("response: ", size, " bytes exceed protobuf's 2 GiB"));
  }
  bytes->Clear();
  grpc::ProtoBufferWriter writer(bytes, grpc::kProtoBufferWriterMaxBufferLength,
                                 static_cast<int>(size));
  if (!message.SerializeToZeroCopyStream(&writer)) {
    return absl::InternalError("response: serialization failed");
  }
  return absl::OkStatus();
}

}  // namespace qlinear::server
