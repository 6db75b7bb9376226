#include "server/admin_auth.h"

#include <algorithm>
#include <fstream>
#include <string_view>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"

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

absl::StatusOr<std::string> ReadAdminTokenFile(const std::string& path) {
  const auto invalid = [&path](std::string_view problem) {
    return absl::InvalidArgumentError(
        absl::StrCat("admin_token_file: '", path, "' ",
                     absl::string_view(problem.data(), problem.size())));
  };
  std::ifstream in(path, std::ios::binary);
  if (!in) return invalid("cannot be read");
  std::string text(kMaxAdminTokenFileBytes + 1, '\0');
  in.read(text.data(), static_cast<std::streamsize>(text.size()));
  if (in.bad()) return invalid("cannot be read");
  text.resize(static_cast<size_t>(in.gcount()));
  if (text.size() > kMaxAdminTokenFileBytes) {
    return invalid(absl::StrCat("is larger than ", kMaxAdminTokenFileBytes,
                                " bytes; it should hold one token line"));
  }
  const std::string line = text.substr(0, text.find('\n'));
  const absl::string_view token = absl::StripAsciiWhitespace(line);
  if (token.empty()) return invalid("holds no token (its first line is empty)");
  if (!std::all_of(token.begin(), token.end(),
                   [](char c) { return c >= 0x20 && c <= 0x7e; })) {
    return invalid(
        "holds a byte that is not printable ASCII, which gRPC metadata "
        "cannot carry");
  }
  return std::string(token);
}

}  // namespace qlinear::server
