// libFuzzer target: ParseManifest on arbitrary text. Whatever it accepts
// must survive ManifestToJson and parse again to the same canonical text.
// Build with -DQLINEAR_BUILD_FUZZERS=ON (clang).
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>

#include "model/manifest.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  auto manifest = qlinear::model::ParseManifest(text);
  if (!manifest.ok()) {
    if (manifest.status().code() != absl::StatusCode::kInvalidArgument) {
      abort();
    }
    return 0;
  }
  const std::string canonical = qlinear::model::ManifestToJson(*manifest);
  auto again = qlinear::model::ParseManifest(canonical);
  if (!again.ok()) abort();
  if (qlinear::model::ManifestToJson(*again) != canonical) abort();
  return 0;
}
