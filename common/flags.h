// Command-line set-up shared by the binaries (qlinear-server, qlinear-cli,
// qlinear-bench, qlinear-convert): absl flags with dashed names, --help
// limited to the binary's own flags, and the usage-error convention.
//
// Header-only. ParseFlags() needs absl::flags_parse and absl::flags_usage,
// which every binary defining flags links already.
#ifndef QLINEAR_COMMON_FLAGS_H_
#define QLINEAR_COMMON_FLAGS_H_

#include <cstdio>
#include <cstring>
#include <string>
#include <vector>

#include "absl/flags/parse.h"
#include "absl/flags/usage.h"
#include "absl/flags/usage_config.h"
#include "absl/strings/match.h"
#include "absl/strings/string_view.h"

namespace qlinear {

// Exit status of a usage error (a bad flag value or argument), in every
// binary.
inline constexpr int kExitUsage = 2;

// absl flags are snake_case, while the command-line contract (README.md,
// docs/operations.md) spells them with dashes: rewrites "--model-repository=x"
// to
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

// Sets up absl flags for one binary and parses its command line:
//   - the usage message is `usage` followed by the line "Flag names may be
//     written with dashes or underscores.";
//   - --help and --helpshort list the flags defined in files whose path ends
//     with `main_file` (e.g. "server/main.cc"), not the ones absl would pick
//     by the program name;
//   - dashed flag names are accepted (DashedFlagNamesToUnderscores);
//   - absl::ParseCommandLine() then parses argv, and itself exits the process
//     on --help, an unknown flag or a bad flag value.
// Returns the positional arguments, argv[0] first; the pointers point into
// argv. Call once, at the start of main(); argv is rewritten in place.
inline std::vector<char*> ParseFlags(int argc, char** argv,
                                     const std::string& usage,
                                     const std::string& main_file) {
  absl::SetProgramUsageMessage(
      usage + "\nFlag names may be written with dashes or underscores.");
  absl::FlagsUsageConfig usage_config;
  usage_config.contains_help_flags = [main_file](absl::string_view file) {
    return absl::EndsWith(file, main_file);
  };
  usage_config.contains_helpshort_flags = usage_config.contains_help_flags;
  absl::SetFlagsUsageConfig(usage_config);
  DashedFlagNamesToUnderscores(argc, argv);
  return absl::ParseCommandLine(argc, argv);
}

// Prints "<program>: <message>" and a pointer to --help on stderr, and
// returns kExitUsage for main() to return.
inline int PrintUsageError(const char* program, const std::string& message) {
  std::fprintf(stderr, "%s: %s\nRun with --help for usage.\n", program,
               message.c_str());
  return kExitUsage;
}

}  // namespace qlinear

#endif  // QLINEAR_COMMON_FLAGS_H_
