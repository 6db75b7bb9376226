// Strict JSON parsing and message helpers shared by the parsers of untrusted
// model files (model/safetensors.cc, model/manifest.cc). Not a public API.
//
// ParseStrictJson parses with nlohmann::json (plain JSON: no comments, no
// trailing commas, exactly one value) and rejects with INVALID_ARGUMENT also
// what nlohmann would accept silently or without bound: a key repeated in
// one object, and containers nested deeper than kMaxJsonDepth.
// The caller words the message from a StrictJsonError, so that each file
// format keeps its own messages. Nothing here throws on any input (nlohmann
// exceptions are caught), and nothing keeps state between calls: every
// function is safe to call from several threads at once.
#ifndef QLINEAR_MODEL_INTERNAL_STRICT_JSON_H_
#define QLINEAR_MODEL_INTERNAL_STRICT_JSON_H_

#include <cstddef>
#include <string>
#include <string_view>
#include <vector>

#include "absl/functional/function_ref.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "nlohmann/json.hpp"

namespace qlinear::model::internal {

// Deeper JSON is rejected while parsing (valid headers and manifests nest 3
// levels).
inline constexpr size_t kMaxJsonDepth = 64;
// Strings quoted (Quote) and values described (Describe) in messages are cut
// to this many bytes.
inline constexpr size_t kMaxQuotedBytes = 128;

// One step down from a JSON container: an object key or an array index.
struct JsonPathStep {
  bool is_index = false;
  std::string key;   // !is_index: the key of the object member
  size_t index = 0;  // is_index: the index of the array element
};

// Why ParseStrictJson rejected a text.
struct StrictJsonError {
  enum class Kind { kNotJson, kDuplicateKey, kTooDeep };
  Kind kind = Kind::kNotJson;
  // kNotJson: nlohmann's description, e.g. "parse error at line 1, column 2:
  // ...", with non-printable bytes hex-escaped and cut to 256 bytes.
  std::string syntax_error;
  // kDuplicateKey: the steps from the root down to the object that repeats
  // `key` (empty when that object is the root). `key` is the raw key.
  std::vector<JsonPathStep> path;
  std::string key;
};

// Parses `text` as strict JSON (see the top of this file). On failure
// returns INVALID_ARGUMENT with the message `message(error)`.
absl::StatusOr<nlohmann::json> ParseStrictJson(
    std::string_view text,
    absl::FunctionRef<std::string(const StrictJsonError&)> message);

// `path` as text: keys joined by '.', indexes as "[i]", e.g. "layers[1].bits";
// "" for the root.
std::string JsonPath(const std::vector<JsonPathStep>& path);

// `s` C-escaped, cut to kMaxQuotedBytes and single-quoted (with "..." when
// cut), so that a message stays printable and short whatever the file holds.
std::string Quote(std::string_view s);

// A JSON value for a message: scalars as JSON text (ASCII, cut to
// kMaxQuotedBytes), containers as "an object" or "an array".
std::string Describe(const nlohmann::json& v);

// For absl functions taking absl::string_view, which need not be
// std::string_view.
inline absl::string_view AbslView(std::string_view s) {
  return absl::string_view(s.data(), s.size());
}

}  // namespace qlinear::model::internal

#endif  // QLINEAR_MODEL_INTERNAL_STRICT_JSON_H_
