#include "bench/machine_limits.h"

#include <cpuid.h>

#include <algorithm>
#include <atomic>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <thread>
#include <vector>

#include "bench/bench_util.h"
#include "bench/machine_limits_avx512.h"
#include "common/check.h"
#include "kernels/cpu_features.h"

namespace qlinear::bench {
namespace {

// Keeps loop results alive.
std::atomic<uint64_t> g_sink{0};

uint64_t ReadSweepPortable(const uint8_t* p, size_t bytes) {
  uint64_t a0 = 0, a1 = 0, a2 = 0, a3 = 0;
  size_t i = 0;
  for (; i + 32 <= bytes; i += 32) {
    uint64_t v[4];
    std::memcpy(v, p + i, 32);
    a0 ^= v[0];
    a1 ^= v[1];
    a2 ^= v[2];
    a3 ^= v[3];
  }
  return a0 ^ a1 ^ a2 ^ a3 ^ i;
}

uint64_t ReadSweep(const uint8_t* p, size_t bytes) {
  return HaveAvx512Vnni() ? internal::ReadSweepAvx512(p, bytes)
                          : ReadSweepPortable(p, bytes);
}

double OpsPerIteration(PeakKind kind) {
  const double n = internal::kInstructionsPerIteration;
  switch (kind) {
    case PeakKind::kFp32Fma:
      return n * 32;  // 16 lanes x 2
    case PeakKind::kVnni:
      return n * 128;  // 16 lanes x 4 products x 2
    case PeakKind::kBf16:
      return n * 64;  // 16 lanes x 2 products x 2
  }
  return 0;
}

bool Supported(PeakKind kind) {
  return kind == PeakKind::kBf16 ? HaveAvx512Bf16() : HaveAvx512Vnni();
}

void RunPeakLoop(PeakKind kind, size_t iterations) {
  int64_t v = 0;
  switch (kind) {
    case PeakKind::kFp32Fma:
      v = static_cast<int64_t>(internal::FmaLoopAvx512(iterations));
      break;
    case PeakKind::kVnni:
      v = internal::VnniLoopAvx512(iterations);
      break;
    case PeakKind::kBf16:
      v = static_cast<int64_t>(internal::Bf16LoopAvx512(iterations));
      break;
  }
  g_sink += static_cast<uint64_t>(v);
}

double PeakOps(PeakKind kind, int threads, size_t samples) {
  const size_t iterations = PeakIterations(kind, 0.02);
  if (iterations == 0) return 0;
  std::vector<double> rates;
  for (size_t s = 0; s < samples; ++s)
    rates.push_back(PeakSample(kind, threads, iterations));
  return Summarize(rates, 1).median;
}

}  // namespace

bool HaveAvx512Vnni() { return IsaSupported(Isa::kAvx512Vnni); }

bool HaveAvx512Bf16() {
  if (!HaveAvx512Vnni()) return false;
  unsigned eax = 0, ebx = 0, ecx = 0, edx = 0;
  if (!__get_cpuid_count(7, 1, &eax, &ebx, &ecx, &edx)) return false;
  return (eax & (1u << 5)) != 0;  // CPUID.(7,1):EAX[5] = AVX512_BF16
}

double RunOnThreads(int threads, const std::function<void(int)>& fn) {
  QL_CHECK(threads >= 1);
  std::atomic<int> ready{0};
  std::atomic<bool> go{false};
  std::vector<std::thread> workers;
  for (int t = 1; t < threads; ++t) {
    workers.emplace_back([&, t] {
      ready.fetch_add(1, std::memory_order_acq_rel);
      while (!go.load(std::memory_order_acquire)) std::this_thread::yield();
      fn(t);
    });
  }
  while (ready.load(std::memory_order_acquire) < threads - 1) {
    std::this_thread::yield();
  }
  const Clock::time_point start = Clock::now();
  go.store(true, std::memory_order_release);
  fn(0);
  for (std::thread& w : workers) w.join();
  return SecondsSince(start);
}

double ReadBandwidthOf(const uint8_t* buffer, size_t bytes, int threads,
                       size_t samples, bool warmup) {
  // Each thread's slice is a multiple of 512 bytes (the AVX-512 loop step).
  const size_t slice = std::max<size_t>(512, bytes / threads / 512 * 512);
  const size_t total = slice * threads;
  // Sweeps per sample: about 256 MiB read per sample, at least one sweep.
  const size_t sweeps =
      std::max<size_t>(1, (size_t{256} << 20) / std::max<size_t>(total, 1));
  std::vector<double> rates;
  const size_t first = warmup ? 0 : 1;
  for (size_t s = first; s < samples + 1; ++s) {  // sample 0 is warmup
    const double seconds = RunOnThreads(threads, [&](int t) {
      uint64_t x = 0;
      for (size_t r = 0; r < sweeps; ++r)
        x += ReadSweep(buffer + t * slice, slice);
      g_sink += x;
    });
    if (s > 0) {
      rates.push_back(static_cast<double>(total) * static_cast<double>(sweeps) /
                      seconds);
    }
  }
  return Summarize(rates, 1).median;
}

double ReadBandwidth(size_t bytes, int threads, size_t samples) {
  const size_t total = std::max<size_t>(bytes, 512 * threads);
  const size_t alloc = (total + 4095) / 4096 * 4096;
  void* raw = std::aligned_alloc(4096, alloc);
  QL_CHECK(raw != nullptr);
  // Written (not just allocated) so that every page is real memory.
  std::memset(raw, 0x5a, alloc);
  const double bw = ReadBandwidthOf(static_cast<const uint8_t*>(raw), total,
                                    threads, samples, /*warmup=*/true);
  std::free(raw);
  return bw;
}

size_t PeakIterations(PeakKind kind, double seconds) {
  if (!Supported(kind)) return 0;
  size_t iterations = 1 << 14;
  for (;;) {
    const Clock::time_point start = Clock::now();
    RunPeakLoop(kind, iterations);
    const double s = SecondsSince(start);
    if (s > seconds / 4) {
      return static_cast<size_t>(static_cast<double>(iterations) * seconds /
                                 s) +
             1;
    }
    iterations *= 4;
  }
}

double PeakSample(PeakKind kind, int threads, size_t iterations) {
  if (iterations == 0 || !Supported(kind)) return 0;
  const double seconds =
      RunOnThreads(threads, [&](int) { RunPeakLoop(kind, iterations); });
  return OpsPerIteration(kind) * static_cast<double>(iterations) * threads /
         seconds;
}

double PeakFp32FmaOps(int threads, size_t samples) {
  return PeakOps(PeakKind::kFp32Fma, threads, samples);
}

double PeakVnniOps(int threads, size_t samples) {
  return PeakOps(PeakKind::kVnni, threads, samples);
}

double PeakBf16Ops(int threads, size_t samples) {
  return PeakOps(PeakKind::kBf16, threads, samples);
}

}  // namespace qlinear::bench
