// The admin token check of the model-control RPCs (load, unload).
#ifndef QLINEAR_SERVER_ADMIN_AUTH_H_
#define QLINEAR_SERVER_ADMIN_AUTH_H_

#include <grpcpp/server_context.h>

#include <string>

#include "absl/status/status.h"

namespace qlinear::server {

// OK when `token` is empty (no token configured) or the call carries the
// metadata "authorization: Bearer <token>". Errors: UNAUTHENTICATED (no
// token sent), PERMISSION_DENIED (a different token). Thread-safe.
absl::Status CheckAdminToken(const grpc::ServerContextBase& context,
                             const std::string& token);

}  // namespace qlinear::server

#endif  // QLINEAR_SERVER_ADMIN_AUTH_H_
