// Reading the Prometheus text exposition (Metrics::Scrape()) in tests.
#ifndef QLINEAR_TESTS_TESTING_EXPOSITION_H_
#define QLINEAR_TESTS_TESTING_EXPOSITION_H_

#include <sstream>
#include <string>

namespace qlinear::testing {

// The value of the sample line of `text` that starts with `series`
// ("name{labels}", labels as the exposition orders them), or -1 when there
// is none.
inline double ExpositionValue(const std::string& text,
                              const std::string& series) {
  std::istringstream in(text);
  for (std::string line; std::getline(in, line);) {
    if (line.rfind(series + " ", 0) == 0)
      return std::stod(line.substr(series.size() + 1));
  }
  return -1;
}

}  // namespace qlinear::testing

#endif  // QLINEAR_TESTS_TESTING_EXPOSITION_H_
