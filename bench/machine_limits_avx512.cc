// Register-only peak loops and the streaming read loop, AVX-512. Compiled
// with AVX-512F/BW/VL/VNNI/BF16 flags (bench/CMakeLists.txt); only called
// after a CPU check (machine_limits.cc).
#include "bench/machine_limits_avx512.h"

#include <immintrin.h>

namespace qlinear::bench::internal {
namespace {

constexpr int kAcc = static_cast<int>(kInstructionsPerIteration);

// Horizontal sums through memory: GCC 12's _mm512_reduce_* trip
// -Wuninitialized.
float SumLanes(__m512 v) {
  alignas(64) float lanes[16];
  _mm512_store_ps(lanes, v);
  float s = 0;
  for (float x : lanes) s += x;
  return s;
}

int64_t SumLanes(__m512i v) {
  alignas(64) int32_t lanes[16];
  _mm512_store_si512(lanes, v);
  int64_t s = 0;
  for (int32_t x : lanes) s += x;
  return s;
}

}  // namespace

uint64_t ReadSweepAvx512(const uint8_t* p, size_t bytes) {
  __m512i a0 = _mm512_setzero_si512(), a1 = _mm512_setzero_si512();
  __m512i a2 = _mm512_setzero_si512(), a3 = _mm512_setzero_si512();
  size_t i = 0;
  for (; i + 512 <= bytes; i += 512) {
    const uint8_t* q = p + i;
    a0 = _mm512_xor_si512(a0, _mm512_load_si512(q));
    a1 = _mm512_xor_si512(a1, _mm512_load_si512(q + 64));
    a2 = _mm512_xor_si512(a2, _mm512_load_si512(q + 128));
    a3 = _mm512_xor_si512(a3, _mm512_load_si512(q + 192));
    a0 = _mm512_xor_si512(a0, _mm512_load_si512(q + 256));
    a1 = _mm512_xor_si512(a1, _mm512_load_si512(q + 320));
    a2 = _mm512_xor_si512(a2, _mm512_load_si512(q + 384));
    a3 = _mm512_xor_si512(a3, _mm512_load_si512(q + 448));
  }
  const __m512i x =
      _mm512_xor_si512(_mm512_xor_si512(a0, a1), _mm512_xor_si512(a2, a3));
  return static_cast<uint64_t>(SumLanes(x)) ^ i;
}

float FmaLoopAvx512(size_t iterations) {
  // acc = acc * 0.9999 + 0.001 converges to 10: no overflow, no denormals.
  const __m512 a = _mm512_set1_ps(0.9999f);
  const __m512 b = _mm512_set1_ps(0.001f);
  __m512 acc[kAcc];
  for (int j = 0; j < kAcc; ++j) acc[j] = _mm512_set1_ps(static_cast<float>(j));
  for (size_t i = 0; i < iterations; ++i) {
    for (int j = 0; j < kAcc; ++j) acc[j] = _mm512_fmadd_ps(acc[j], a, b);
  }
  __m512 s = acc[0];
  for (int j = 1; j < kAcc; ++j) s = _mm512_add_ps(s, acc[j]);
  return SumLanes(s);
}

int32_t VnniLoopAvx512(size_t iterations) {
  const __m512i a = _mm512_set1_epi8(3);
  const __m512i b = _mm512_set1_epi8(-5);
  __m512i acc[kAcc];
  for (int j = 0; j < kAcc; ++j) acc[j] = _mm512_set1_epi32(j);
  for (size_t i = 0; i < iterations; ++i) {
    for (int j = 0; j < kAcc; ++j) acc[j] = _mm512_dpbusd_epi32(acc[j], a, b);
  }
  __m512i s = acc[0];
  for (int j = 1; j < kAcc; ++j) s = _mm512_add_epi32(s, acc[j]);
  return static_cast<int32_t>(SumLanes(s));
}

float Bf16LoopAvx512(size_t iterations) {
  const __m512bh a =
      _mm512_cvtne2ps_pbh(_mm512_set1_ps(1e-3f), _mm512_set1_ps(2e-3f));
  const __m512bh b =
      _mm512_cvtne2ps_pbh(_mm512_set1_ps(0.5f), _mm512_set1_ps(0.25f));
  __m512 acc[kAcc];
  for (int j = 0; j < kAcc; ++j) acc[j] = _mm512_set1_ps(static_cast<float>(j));
  for (size_t i = 0; i < iterations; ++i) {
    for (int j = 0; j < kAcc; ++j) acc[j] = _mm512_dpbf16_ps(acc[j], a, b);
  }
  __m512 s = acc[0];
  for (int j = 1; j < kAcc; ++j) s = _mm512_add_ps(s, acc[j]);
  return SumLanes(s);
}

}  // namespace qlinear::bench::internal
