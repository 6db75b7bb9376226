// CPU features and the ISA path the kernels use.
//
// The path is chosen once per process from CPUID, lowered by the environment
// variable QLINEAR_ISA (avx512vnni | avx512 | avx2 | scalar), which may only
// force a lower path than the machine supports. Thread-safe.
#ifndef QLINEAR_KERNELS_CPU_FEATURES_H_
#define QLINEAR_KERNELS_CPU_FEATURES_H_

#include <cstddef>
#include <optional>
#include <string_view>

namespace qlinear {

// Ordered from lowest to highest. Names are metric labels: do not rename.
enum class Isa : int { kScalar = 0, kAvx2 = 1, kAvx512 = 2, kAvx512Vnni = 3 };

std::string_view IsaName(Isa isa);
std::optional<Isa> ParseIsa(std::string_view name);

// The best path this CPU (and OS) supports, ignoring QLINEAR_ISA.
Isa DetectedIsa();

// The path kernels use: DetectedIsa(), lowered by QLINEAR_ISA, and by a
// ScopedIsaOverrideForTest while one is alive.
Isa ActiveIsa();

// Whether this machine can run `isa`.
inline bool IsaSupported(Isa isa) {
  return static_cast<int>(isa) <= static_cast<int>(DetectedIsa());
}

// Per-core data cache sizes in bytes, read once per process (sysconf, which
// glibc answers from CPUID), with conservative defaults where the machine
// does not tell: 32 KiB L1d, 512 KiB L2. Kernels size their cache blocking
// from these; a row's results never depend on them.
struct DataCacheSizes {
  size_t l1d = 0;
  size_t l2 = 0;
};
const DataCacheSizes& DataCaches();

// Tests only: forces ActiveIsa() to `isa` (which must be supported) for the
// object's lifetime. Not thread-safe against concurrent kernel creation.
class ScopedIsaOverrideForTest {
 public:
  explicit ScopedIsaOverrideForTest(Isa isa);
  ~ScopedIsaOverrideForTest();
  ScopedIsaOverrideForTest(const ScopedIsaOverrideForTest&) = delete;
  ScopedIsaOverrideForTest& operator=(const ScopedIsaOverrideForTest&) = delete;

 private:
  int previous_;
};

}  // namespace qlinear

#endif  // QLINEAR_KERNELS_CPU_FEATURES_H_
