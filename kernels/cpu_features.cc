#include "kernels/cpu_features.h"

#include <cpuid.h>
#include <unistd.h>

#include <atomic>
#include <cstdint>
#include <cstdlib>

#include "common/check.h"

namespace qlinear {
namespace {

// -1: no override; otherwise an Isa value. Relaxed: tests set it between runs.
std::atomic<int> g_override{-1};

uint64_t Xgetbv() {
  uint32_t eax, edx;
  __asm__ volatile("xgetbv" : "=a"(eax), "=d"(edx) : "c"(0));
  return (static_cast<uint64_t>(edx) << 32) | eax;
}

Isa Detect() {
  unsigned eax, ebx, ecx, edx;
  if (!__get_cpuid(1, &eax, &ebx, &ecx, &edx)) return Isa::kScalar;
  const bool osxsave = ecx & bit_OSXSAVE;
  const bool fma = ecx & bit_FMA;
  const bool f16c = ecx & bit_F16C;
  if (!osxsave) return Isa::kScalar;
  const uint64_t xcr0 = Xgetbv();
  const bool ymm_state = (xcr0 & 0x6) == 0x6;
  const bool zmm_state = (xcr0 & 0xe6) == 0xe6;
  if (!__get_cpuid_count(7, 0, &eax, &ebx, &ecx, &edx)) return Isa::kScalar;
  const bool avx2 = ebx & bit_AVX2;
  const bool avx512f = ebx & bit_AVX512F;
  const bool avx512bw = ebx & bit_AVX512BW;
  const bool avx512dq = ebx & bit_AVX512DQ;
  const bool avx512vl = ebx & bit_AVX512VL;
  const bool avx512vnni = ecx & bit_AVX512VNNI;
  if (!(ymm_state && avx2 && fma && f16c)) return Isa::kScalar;
  if (!(zmm_state && avx512f && avx512bw && avx512dq && avx512vl))
    return Isa::kAvx2;
  return avx512vnni ? Isa::kAvx512Vnni : Isa::kAvx512;
}

Isa EnvironmentLimited(Isa detected) {
  const char* env = std::getenv("QLINEAR_ISA");
  if (env == nullptr || *env == '\0') return detected;
  const std::optional<Isa> wanted = ParseIsa(env);
  // An unknown or higher value cannot raise the path; it is ignored.
  if (!wanted.has_value() ||
      static_cast<int>(*wanted) > static_cast<int>(detected)) {
    return detected;
  }
  return *wanted;
}

}  // namespace

std::string_view IsaName(Isa isa) {
  switch (isa) {
    case Isa::kScalar:
      return "scalar";
    case Isa::kAvx2:
      return "avx2";
    case Isa::kAvx512:
      return "avx512";
    case Isa::kAvx512Vnni:
      return "avx512vnni";
  }
  return "unknown";
}

std::optional<Isa> ParseIsa(std::string_view name) {
  for (Isa isa : {Isa::kScalar, Isa::kAvx2, Isa::kAvx512, Isa::kAvx512Vnni}) {
    if (IsaName(isa) == name) return isa;
  }
  return std::nullopt;
}

Isa DetectedIsa() {
  static const Isa detected = Detect();
  return detected;
}

Isa ActiveIsa() {
  const int forced = g_override.load(std::memory_order_relaxed);
  if (forced >= 0) return static_cast<Isa>(forced);
  static const Isa active = EnvironmentLimited(DetectedIsa());
  return active;
}

const DataCacheSizes& DataCaches() {
  static const DataCacheSizes sizes = [] {
    auto read = [](int name, size_t fallback) {
      const long v = sysconf(name);
      // Implausible answers (0, -1, a VM's odd values) take the default.
      return v >= 4096 && v <= (long{1} << 30) ? static_cast<size_t>(v)
                                               : fallback;
    };
    DataCacheSizes s;
    s.l1d = read(_SC_LEVEL1_DCACHE_SIZE, size_t{32} << 10);
    s.l2 = read(_SC_LEVEL2_CACHE_SIZE, size_t{512} << 10);
    return s;
  }();
  return sizes;
}

ScopedIsaOverrideForTest::ScopedIsaOverrideForTest(Isa isa)
    : previous_(g_override.load(std::memory_order_relaxed)) {
  QL_CHECK(IsaSupported(isa));
  g_override.store(static_cast<int>(isa), std::memory_order_relaxed);
}

ScopedIsaOverrideForTest::~ScopedIsaOverrideForTest() {
  g_override.store(previous_, std::memory_order_relaxed);
}

}  // namespace qlinear
