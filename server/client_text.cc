#include "server/client_text.h"

#include <algorithm>

#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/string_view.h"

namespace qlinear::server {
namespace {

std::string SizeMarker(size_t size, std::string_view unit) {
  return absl::StrCat("...(", size, " ",
                      absl::string_view(unit.data(), unit.size()), ")");
}

}  // namespace

std::string ClientText(std::string_view s, size_t max_bytes) {
  const std::string_view kept = s.substr(0, max_bytes);
  std::string out =
      absl::CHexEscape(absl::string_view(kept.data(), kept.size()));
  if (s.size() > kept.size()) out += SizeMarker(s.size(), "bytes");
  return out;
}

std::string ShapeText(absl::Span<const int64_t> shape) {
  const size_t shown = std::min(shape.size(), kMaxPrintedDims);
  std::string out =
      absl::StrCat("[", absl::StrJoin(shape.subspan(0, shown), ", "));
  if (shown < shape.size()) {
    absl::StrAppend(&out, ", ", SizeMarker(shape.size(), "dims"));
  }
  out += "]";
  return out;
}

std::string TruncateMessage(std::string_view message, size_t max_bytes) {
  if (message.size() <= max_bytes) return std::string(message);
  size_t cut = max_bytes;
  // Do not split a UTF-8 character: back off over continuation bytes.
  while (cut > 0 && (static_cast<unsigned char>(message[cut]) & 0xC0) == 0x80)
    --cut;
  return absl::StrCat(absl::string_view(message.data(), cut),
                      SizeMarker(message.size(), "bytes"));
}

}  // namespace qlinear::server
