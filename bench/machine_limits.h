// The machine's own limits, measured in-process: streaming read bandwidth at
// a given working-set size and register-only peak rates of the instructions
// the kernels use. Every function runs `threads` threads at once and returns
// the aggregate rate (median of `samples` samples).
//
// Thread-compatible. The AVX-512 loops live in machine_limits_avx512.cc and
// are only called when the CPU runs them.
#ifndef QLINEAR_BENCH_MACHINE_LIMITS_H_
#define QLINEAR_BENCH_MACHINE_LIMITS_H_

#include <cstddef>
#include <cstdint>
#include <functional>

namespace qlinear::bench {

// Whether the AVX-512 loops (machine_limits_avx512.h) can run here.
bool HaveAvx512Vnni();
bool HaveAvx512Bf16();

// Bytes/s of reading a `bytes` buffer (written once beforehand), each thread
// sweeping its own contiguous slice. `bytes` ~ 1 GiB measures DRAM; a buffer
// that fits the caches measures the cache level holding it.
double ReadBandwidth(size_t bytes, int threads, size_t samples);

// The same on a caller-owned buffer of `bytes` (64-byte aligned, already
// written), e.g. a DRAM-sized buffer kept for repeated measurements. With
// `warmup`, one untimed pass first brings a cache-sized buffer back in.
double ReadBandwidthOf(const uint8_t* buffer, size_t bytes, int threads,
                       size_t samples, bool warmup);

// Register-only peaks in ops/s, counting a multiply-add as 2 ops. Return 0
// when the CPU lacks the instruction.
double PeakFp32FmaOps(int threads, size_t samples);  // vfmadd231ps zmm
double PeakVnniOps(int threads, size_t samples);     // vpdpbusd zmm
double PeakBf16Ops(int threads, size_t samples);     // vdpbf16ps zmm

// Single samples of the peaks above, for interleaving with other
// measurements: PeakIterations() calibrates a loop length of about
// `seconds` on one thread (0 when unsupported), PeakSample() returns the
// ops/s of `threads` threads each running that many iterations.
enum class PeakKind { kFp32Fma, kVnni, kBf16 };
size_t PeakIterations(PeakKind kind, double seconds);
double PeakSample(PeakKind kind, int threads, size_t iterations);

// Runs fn(thread_index) on `threads` threads started together (the caller's
// thread is index 0) and returns the wall time in seconds from the common
// start until the last one finished.
double RunOnThreads(int threads, const std::function<void(int)>& fn);

}  // namespace qlinear::bench

#endif  // QLINEAR_BENCH_MACHINE_LIMITS_H_
