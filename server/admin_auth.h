// The admin token: read from its file at start-up, and checked on the
// repository RPCs (those that list the repository, ListModels and
// RepositoryIndex, and those that change it, load and unload).
#ifndef QLINEAR_SERVER_ADMIN_AUTH_H_
#define QLINEAR_SERVER_ADMIN_AUTH_H_

#include <grpcpp/server_context.h>

#include <cstddef>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"

namespace qlinear::server {

// The largest admin token file read (a token is a line of printable ASCII).
inline constexpr size_t kMaxAdminTokenFileBytes = 4096;

// OK when `token` is empty (no token configured) or the call carries the
// metadata "authorization: Bearer <token>". Errors: UNAUTHENTICATED (no
// token sent), PERMISSION_DENIED (a different token). Thread-safe.
absl::Status CheckAdminToken(const grpc::ServerContextBase& context,
                             const std::string& token);

// The token in the file at `path`: its first line with surrounding ASCII
// whitespace (spaces, tabs, the "\r" of a CRLF file) stripped, so that the
// token a client sends can match. Errors: INVALID_ARGUMENT naming
// admin_token_file and `path`: the file cannot be read, is larger than
// kMaxAdminTokenFileBytes, its first line is empty after stripping, or holds
// a byte that gRPC metadata cannot carry (not printable ASCII). Thread-safe.
absl::StatusOr<std::string> ReadAdminTokenFile(const std::string& path);

}  // namespace qlinear::server

#endif  // QLINEAR_SERVER_ADMIN_AUTH_H_
