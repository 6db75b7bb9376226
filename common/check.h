// Assertion tiers (docs/architecture.md, "Errors"). Network and file input
// never reaches these: it gets an absl::Status. QL_CHECK guards conditions
// that cannot happen after start-up and aborts with a message; QL_DCHECK is
// for debug builds.
#ifndef QLINEAR_COMMON_CHECK_H_
#define QLINEAR_COMMON_CHECK_H_

#include <cstdio>
#include <cstdlib>

#define QL_CHECK(cond)                                                         \
  do {                                                                         \
    if (!(cond)) {                                                             \
      std::fprintf(stderr, "%s:%d: QL_CHECK failed: %s\n", __FILE__, __LINE__, \
                   #cond);                                                     \
      std::abort();                                                            \
    }                                                                          \
  } while (0)

#ifdef NDEBUG
#define QL_DCHECK(cond) \
  do {                  \
  } while (0)
#else
#define QL_DCHECK(cond) QL_CHECK(cond)
#endif

#endif  // QLINEAR_COMMON_CHECK_H_
