// Memory figures of this process from /proc/self/status, for tests that
// check what is resident or mapped.
#ifndef QLINEAR_TESTS_TESTING_PROC_STATUS_H_
#define QLINEAR_TESTS_TESTING_PROC_STATUS_H_

#include <malloc.h>

#include <cstddef>
#include <cstdlib>
#include <fstream>
#include <string>

#include "gtest/gtest.h"

namespace qlinear::testing {

// The value of a "<field>: <n> kB" line (VmSize, VmRSS, RssAnon, RssFile,
// ...) in bytes. A missing field fails the test and reads as 0.
inline size_t ProcStatusBytes(const std::string& field) {
  std::ifstream status("/proc/self/status");
  const std::string prefix = field + ":";
  std::string line;
  while (std::getline(status, line)) {
    if (line.rfind(prefix, 0) == 0) {
      return std::stoul(line.substr(prefix.size())) * 1024;
    }
  }
  ADD_FAILURE() << "no " << field << " in /proc/self/status";
  return 0;
}

// Whether malloc is glibc's, whose accounting (mallinfo2) sees a block at
// once: resident-set figures mean what a test expects only then (a
// sanitizer's allocator keeps freed blocks in quarantine).
inline bool MallocIsGlibcs() {
  const size_t before = mallinfo2().uordblks;
  char* volatile probe = static_cast<char*>(std::malloc(1 << 16));
  probe[0] = 1;
  const bool tracked = mallinfo2().uordblks >= before + (1 << 16);
  std::free(probe);
  return tracked;
}

}  // namespace qlinear::testing

#endif  // QLINEAR_TESTS_TESTING_PROC_STATUS_H_
