// Memory figures of this process from /proc/self/status, for tests that
// check what is resident or mapped.
#ifndef QLINEAR_TESTS_TESTING_PROC_STATUS_H_
#define QLINEAR_TESTS_TESTING_PROC_STATUS_H_

#include <cstddef>
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

}  // namespace qlinear::testing

#endif  // QLINEAR_TESTS_TESTING_PROC_STATUS_H_
