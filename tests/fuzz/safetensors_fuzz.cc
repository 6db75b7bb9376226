// libFuzzer target: SafetensorsFile::Parse on arbitrary bytes. On success it
// reads every byte of every tensor, so an out-of-bounds view is caught by
// AddressSanitizer. Build with -DQLINEAR_BUILD_FUZZERS=ON (clang).
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <vector>

#include "model/safetensors.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  auto file = qlinear::model::SafetensorsFile::Parse(data, size);
  if (!file.ok()) {
    if (file.status().code() != absl::StatusCode::kInvalidArgument) abort();
    return 0;
  }
  uint64_t sum = 0;
  for (const qlinear::model::TensorView& t : (*file)->tensors()) {
    if (t.num_elements() < 0) abort();
    if (t.size_bytes != static_cast<uint64_t>(t.num_elements()) *
                            qlinear::model::TensorDTypeSize(t.dtype)) {
      abort();
    }
    for (size_t i = 0; i < t.size_bytes; ++i) sum += t.data[i];
    if ((*file)->Find(t.name) != &t) abort();
  }
  // Keep the reads from being optimized away.
  volatile uint64_t sink = sum;
  (void)sink;
  return 0;
}
