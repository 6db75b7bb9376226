// Register-only peak loops and the streaming read loop, compiled with
// AVX-512F/BW/VL/VNNI/BF16 in machine_limits_avx512.cc. Call only after
// HaveAvx512Vnni() (HaveAvx512Bf16() for the bf16 loop). Deliberately
// includes no standard headers with inline code: nothing compiled with the
// AVX-512 flags may be shared with other files (docs/architecture.md, "ISA
// flags").
#ifndef QLINEAR_BENCH_MACHINE_LIMITS_AVX512_H_
#define QLINEAR_BENCH_MACHINE_LIMITS_AVX512_H_

#include <cstddef>
#include <cstdint>

namespace qlinear::bench::internal {

inline constexpr size_t kInstructionsPerIteration = 16;

// Each returns a value derived from every accumulator so the loop cannot be
// removed.
uint64_t ReadSweepAvx512(const uint8_t* p, size_t bytes);
float FmaLoopAvx512(size_t iterations);     // 16 vfmadd231ps zmm / iteration
int32_t VnniLoopAvx512(size_t iterations);  // 16 vpdpbusd zmm / iteration
float Bf16LoopAvx512(size_t iterations);    // 16 vdpbf16ps zmm / iteration

}  // namespace qlinear::bench::internal

#endif  // QLINEAR_BENCH_MACHINE_LIMITS_AVX512_H_
