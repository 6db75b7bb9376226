// Status propagation macros. absl 20220623 ships none, so these are ours.
#ifndef QLINEAR_COMMON_STATUS_MACROS_H_
#define QLINEAR_COMMON_STATUS_MACROS_H_

#include <utility>

#include "absl/status/status.h"
#include "absl/status/statusor.h"

#define QL_STATUS_MACROS_CONCAT_INNER_(x, y) x##y
#define QL_STATUS_MACROS_CONCAT_(x, y) QL_STATUS_MACROS_CONCAT_INNER_(x, y)

// Returns from the enclosing function if `expr` (an absl::Status) is not OK.
#define QL_RETURN_IF_ERROR(expr)             \
  do {                                       \
    ::absl::Status ql_status_ = (expr);      \
    if (!ql_status_.ok()) return ql_status_; \
  } while (0)

// `QL_ASSIGN_OR_RETURN(auto x, MakeX());` assigns the value of an
// absl::StatusOr or returns its error from the enclosing function.
#define QL_ASSIGN_OR_RETURN(lhs, expr)                                        \
  QL_ASSIGN_OR_RETURN_IMPL_(QL_STATUS_MACROS_CONCAT_(ql_statusor_, __LINE__), \
                            lhs, expr)

#define QL_ASSIGN_OR_RETURN_IMPL_(statusor, lhs, expr) \
  auto statusor = (expr);                              \
  if (!statusor.ok()) return statusor.status();        \
  lhs = std::move(statusor).value()

#endif  // QLINEAR_COMMON_STATUS_MACROS_H_
