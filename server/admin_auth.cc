#include "server/admin_auth.h"

#include <string_view>

namespace qlinear::server {
namespace {

// Constant-time comparison, so the token cannot be guessed byte by byte.
bool SameToken(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  unsigned char diff = 0;
  for (size_t i = 0; i < a.size(); ++i)
    diff |= static_cast<unsigned char>(a[i] ^ b[i]);
  return diff == 0;
}

}  // namespace

absl::Status CheckAdminToken(const grpc::ServerContextBase& context,
                             const std::string& token) {
  if (token.empty()) return absl::OkStatus();
  const auto& metadata = context.client_metadata();
  auto it = metadata.find("authorization");
  if (it == metadata.end()) {
    return absl::UnauthenticatedError(
        "this call needs the admin token: send metadata 'authorization: Bearer "
        "<token>'");
  }
  const std::string_view value(it->second.data(), it->second.size());
  constexpr std::string_view kBearer = "Bearer ";
  if (value.substr(0, kBearer.size()) != kBearer ||
      !SameToken(value.substr(kBearer.size()), token)) {
    return absl::PermissionDeniedError("the admin token does not match");
  }
  return absl::OkStatus();
}

}  // namespace qlinear::server
