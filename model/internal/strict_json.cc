#include "model/internal/strict_json.h"

#include <algorithm>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"

namespace qlinear::model::internal {
namespace {

using json = nlohmann::json;

// JSON parse errors in messages are cut to this many bytes.
constexpr size_t kMaxJsonErrorBytes = 256;

// Text for a message with non-printable bytes hex-escaped, cut to `limit`
// bytes.
std::string Printable(std::string_view s, size_t limit) {
  std::string out;
  for (size_t i = 0; i < s.size() && i < limit; ++i) {
    const unsigned char c = static_cast<unsigned char>(s[i]);
    if (c >= 0x20 && c < 0x7f) {
      out.push_back(static_cast<char>(c));
    } else {
      absl::StrAppend(&out, "\\x", absl::Hex(c, absl::kZeroPad2));
    }
  }
  if (s.size() > limit) out += "...";
  return out;
}

// Thrown by the parser callback (and caught in ParseStrictJson) to stop
// parsing at the first duplicate key or at excessive nesting.
struct DuplicateKeyError {
  std::vector<JsonPathStep> path;
  std::string key;
};
struct TooDeepError {};

// nlohmann's parser keeps the last of duplicate keys silently. This callback
// tracks the keys of every open object and throws DuplicateKeyError at the
// first repeated one; it also bounds the nesting depth.
class StrictJsonChecker {
 public:
  bool operator()(int /*depth*/, json::parse_event_t event, json& parsed) {
    switch (event) {
      case json::parse_event_t::object_start:
      case json::parse_event_t::array_start:
        if (frames_.size() >= kMaxJsonDepth) throw TooDeepError{};
        frames_.push_back(Frame{event == json::parse_event_t::object_start});
        break;
      case json::parse_event_t::key: {
        Frame& frame = frames_.back();
        const std::string& key = parsed.get_ref<const std::string&>();
        if (!frame.keys.insert(key).second) {
          throw DuplicateKeyError{PathToTop(), key};
        }
        frame.key = key;
        break;
      }
      case json::parse_event_t::object_end:
      case json::parse_event_t::array_end:
        frames_.pop_back();
        ElementDone();
        break;
      case json::parse_event_t::value:
        ElementDone();
        break;
    }
    return true;
  }

 private:
  struct Frame {
    bool is_object;
    std::set<std::string> keys = {};
    std::string key = {};  // objects: the key being parsed
    size_t index = 0;      // arrays: the element being parsed
  };

  void ElementDone() {
    if (!frames_.empty() && !frames_.back().is_object) ++frames_.back().index;
  }

  // The steps from the root down to the innermost open container.
  std::vector<JsonPathStep> PathToTop() const {
    std::vector<JsonPathStep> path;
    for (size_t i = 0; i + 1 < frames_.size(); ++i) {
      path.push_back(frames_[i].is_object
                         ? JsonPathStep{false, frames_[i].key, 0}
                         : JsonPathStep{true, "", frames_[i].index});
    }
    return path;
  }

  std::vector<Frame> frames_;
};

}  // namespace

absl::StatusOr<nlohmann::json> ParseStrictJson(
    std::string_view text,
    absl::FunctionRef<std::string(const StrictJsonError&)> message) {
  StrictJsonError error;
  StrictJsonChecker checker;
  try {
    return json::parse(
        text.begin(), text.end(),
        [&checker](int depth, json::parse_event_t event, json& parsed) {
          return checker(depth, event, parsed);
        });
  } catch (DuplicateKeyError& e) {
    error.kind = StrictJsonError::Kind::kDuplicateKey;
    error.path = std::move(e.path);
    error.key = std::move(e.key);
  } catch (const TooDeepError&) {
    error.kind = StrictJsonError::Kind::kTooDeep;
  } catch (const json::exception& e) {
    // what() is "[json.exception.parse_error.101] parse error at ...".
    std::string_view what = e.what();
    const size_t bracket = what.find("] ");
    if (bracket != std::string_view::npos) what.remove_prefix(bracket + 2);
    error.kind = StrictJsonError::Kind::kNotJson;
    error.syntax_error = Printable(what, kMaxJsonErrorBytes);
  }
  return absl::InvalidArgumentError(message(error));
}

std::string JsonPath(const std::vector<JsonPathStep>& path) {
  std::string out;
  for (const JsonPathStep& step : path) {
    if (step.is_index) {
      absl::StrAppend(&out, "[", step.index, "]");
    } else {
      out = out.empty() ? step.key : absl::StrCat(out, ".", step.key);
    }
  }
  return out;
}

std::string Quote(std::string_view s) {
  std::string out = absl::StrCat("'",
                                 absl::CHexEscape(AbslView(s.substr(
                                     0, std::min(s.size(), kMaxQuotedBytes)))),
                                 "'");
  if (s.size() > kMaxQuotedBytes) out += "...";
  return out;
}

std::string Describe(const json& v) {
  if (v.is_object()) return "an object";
  if (v.is_array()) return "an array";
  const std::string text =
      v.dump(-1, ' ', /*ensure_ascii=*/true, json::error_handler_t::replace);
  if (text.size() <= kMaxQuotedBytes) return text;
  return absl::StrCat(text.substr(0, kMaxQuotedBytes), "...");
}

}  // namespace qlinear::model::internal
