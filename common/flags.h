// Command-line helpers shared by the binaries (header-only, no dependencies).
#ifndef QLINEAR_COMMON_FLAGS_H_
#define QLINEAR_COMMON_FLAGS_H_

#include <cstring>

namespace qlinear {

// absl flags are snake_case, while the command-line contract (SYSTEM.md)
// spells them with dashes: rewrites "--model-repository=x" to
// "--model_repository=x" in place (flag names only, up to a bare "--").
inline void DashedFlagNamesToUnderscores(int argc, char** argv) {
  for (int i = 1; i < argc; ++i) {
    char* arg = argv[i];
    if (arg[0] != '-') continue;
    if (std::strcmp(arg, "--") == 0) break;
    for (char* p = arg + (arg[1] == '-' ? 2 : 1); *p != '\0' && *p != '=';
         ++p) {
      if (*p == '-') *p = '_';
    }
  }
}

}  // namespace qlinear

#endif  // QLINEAR_COMMON_FLAGS_H_
