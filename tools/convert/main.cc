// qlinear-convert: turns a float safetensors checkpoint plus a small JSON
// spec into a qlinear model directory (model.json + model.safetensors with
// quantized plain tensors), and prints a per-layer summary. The spec format
// is documented in model/convert.h.
//
//   qlinear-convert --input weights.safetensors --spec spec.json --output DIR
//                   [--verify] [--force]
//
// Exit status: 0 on success, 1 when the conversion (or --verify) fails, 2 for
// a usage error.
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "absl/flags/flag.h"
#include "common/flags.h"
#include "model/convert.h"
#include "model/safetensors.h"

ABSL_FLAG(std::string, input, "",
          "Float checkpoint: safetensors with <layer>.weight [N, K] (F32, BF16 "
          "or F16) and optional <layer>.bias [N].");
ABSL_FLAG(std::string, spec, "",
          "JSON spec file: formats per layer or one for all (see "
          "model/convert.h).");
ABSL_FLAG(std::string, output, "",
          "Model directory to write (model.json, model.safetensors).");
ABSL_FLAG(bool, verify, false,
          "After writing, load the model and check that it computes exactly "
          "what the float checkpoint quantized at load computes.");
ABSL_FLAG(bool, force, false, "Overwrite the files of an existing --output.");

namespace {

constexpr int kExitError = 1;

int UsageError(const std::string& message) {
  return qlinear::PrintUsageError("qlinear-convert", message);
}

int Error(const std::string& message) {
  std::fprintf(stderr, "qlinear-convert: error: %s\n", message.c_str());
  return kExitError;
}

int Run() {
  const std::string input_path = absl::GetFlag(FLAGS_input);
  const std::string spec_path = absl::GetFlag(FLAGS_spec);
  const std::string output = absl::GetFlag(FLAGS_output);
  if (input_path.empty()) return UsageError("--input is required");
  if (spec_path.empty()) return UsageError("--spec is required");
  if (output.empty()) return UsageError("--output is required");
  if (!absl::GetFlag(FLAGS_force) &&
      std::filesystem::exists(output + "/model.json")) {
    return UsageError(output +
                      "/model.json exists; pass --force to overwrite it");
  }

  std::ifstream spec_file(spec_path, std::ios::binary);
  if (!spec_file) return Error(spec_path + ": cannot open");
  std::ostringstream spec_text;
  spec_text << spec_file.rdbuf();
  auto spec = qlinear::model::ParseConvertSpec(spec_text.str());
  if (!spec.ok()) return Error(spec_path + ": " + spec.status().ToString());

  auto input = qlinear::model::SafetensorsFile::Open(input_path);
  if (!input.ok()) return Error(input.status().ToString());
  auto result = qlinear::model::Convert(**input, *spec);
  if (!result.ok()) {
    return Error(input_path + ": " + result.status().ToString());
  }
  absl::Status written = qlinear::model::WriteModelDirectory(output, *result);
  if (!written.ok()) return Error(written.ToString());
  std::printf("%s", qlinear::model::FormatConvertSummary(*result).c_str());
  std::printf("wrote %s/model.json and %s/model.safetensors\n", output.c_str(),
              output.c_str());
  if (absl::GetFlag(FLAGS_verify)) {
    absl::Status verified = qlinear::model::VerifyConvertedModel(
        output, result->float_manifest, **input);
    if (!verified.ok()) return Error("verify: " + verified.ToString());
    std::printf(
        "verified: the model loads and equals the float checkpoint quantized "
        "at load, bit for bit, in both activation modes\n");
  }
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  const std::vector<char*> positional = qlinear::ParseFlags(
      argc, argv,
      "Converts a float safetensors checkpoint into a qlinear model "
      "directory.\n"
      "Usage: qlinear-convert --input W.safetensors --spec SPEC.json "
      "--output DIR [--verify] [--force]",
      "tools/convert/main.cc");
  if (positional.size() > 1) {
    return UsageError(std::string("unexpected argument ") + positional[1]);
  }
  return Run();
}
