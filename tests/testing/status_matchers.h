// gMock matchers for absl::Status / StatusOr (absl 20220623 ships none).
#ifndef QLINEAR_TESTS_TESTING_STATUS_MATCHERS_H_
#define QLINEAR_TESTS_TESTING_STATUS_MATCHERS_H_

#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "gmock/gmock.h"

namespace qlinear::testing {

inline const absl::Status& GetStatus(const absl::Status& s) { return s; }
template <typename T>
const absl::Status& GetStatus(const absl::StatusOr<T>& s) {
  return s.status();
}

// EXPECT_THAT(x, IsOk());
MATCHER(IsOk, "is OK") {
  const absl::Status& s = ::qlinear::testing::GetStatus(arg);
  if (!s.ok()) *result_listener << "status is " << s.ToString();
  return s.ok();
}

// EXPECT_THAT(x, StatusIs(absl::StatusCode::kInvalidArgument,
// HasSubstr("...")));
MATCHER_P2(StatusIs, code, message_matcher, "") {
  const absl::Status& s = ::qlinear::testing::GetStatus(arg);
  *result_listener << "status is " << s.ToString();
  return s.code() == code &&
         ::testing::Matches(message_matcher)(std::string(s.message()));
}

}  // namespace qlinear::testing

#endif  // QLINEAR_TESTS_TESTING_STATUS_MATCHERS_H_
