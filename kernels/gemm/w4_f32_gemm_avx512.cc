// int4_opaque weight-only kernels for AVX-512 (F, BW, DQ, VL).
#include <immintrin.h>

#include <cassert>

#include "kernels/gemm/gemm.h"

namespace qlinear {
namespace {

// (q - 8) as fp32 for codes q = 0..15: vpermps reads only the low 4 bits of
// each index, so one shift and one permute turn a nibble into its value.
inline __m512 CodeTable() {
  return _mm512_setr_ps(-8.0f, -7.0f, -6.0f, -5.0f, -4.0f, -3.0f, -2.0f, -1.0f,
                        0.0f, 1.0f, 2.0f, 3.0f, 4.0f, 5.0f, 6.0f, 7.0f);
}

// Code t (0..7) of an octet for all 16 columns, minus 8: byte t % 4 of each
// 32-bit lane, low nibble for t < 4, high nibble otherwise.
template <int t>
inline __m512 CodeMinus8(__m512i octet, __m512 table) {
  constexpr int kShift = 8 * (t % 4) + 4 * (t / 4);
  const __m512i index = kShift == 0 ? octet : _mm512_srli_epi32(octet, kShift);
  return _mm512_permutexvar_ps(index, table);
}

// ŵ = (q - 8) * scale + zero with two roundings, as the reference.
template <int t>
inline __m512 Dequant(__m512i octet, __m512 table, __m512 scale, __m512 zero) {
  return _mm512_add_ps(_mm512_mul_ps(CodeMinus8<t>(octet, table), scale), zero);
}

// Code t of the current octet of NB blocks into their MR-row chains. The NB
// blocks' chains are independent, so with few rows they keep the FMA units
// busy while each chain (k ascending, serial) waits for its last result.
template <size_t MR, size_t NB, int t>
inline void FmaCode(const __m512i* octet, __m512 table, const __m512* scale,
                    const __m512* zero, const float* x, size_t a_stride,
                    __m512 (*acc)[MR]) {
  for (size_t b = 0; b < NB; ++b) {
    const __m512 w = Dequant<t>(octet[b], table, scale[b], zero[b]);
    for (size_t r = 0; r < MR; ++r) {
      acc[b][r] =
          _mm512_fmadd_ps(_mm512_set1_ps(x[r * a_stride + t]), w, acc[b][r]);
    }
  }
}

// Rows 0..MR-1 of NB consecutive blocks.
template <size_t MR, size_t NB>
void F32Gemm(size_t k, size_t group_size, const float* a, size_t a_stride,
             const uint8_t* packed_block, float* c, size_t c_stride) {
  __m512 acc[NB][MR];
  for (size_t b = 0; b < NB; ++b) {
    for (size_t r = 0; r < MR; ++r) acc[b][r] = _mm512_setzero_ps();
  }
  const __m512 table = CodeTable();
  const size_t segment = W4SegmentBytes(group_size);
  const size_t block_bytes = k / group_size * segment;
  for (size_t g = 0; g < k / group_size; ++g) {
    const uint8_t* seg = packed_block + g * segment;
    __m512 scale[NB], zero[NB];
    for (size_t b = 0; b < NB; ++b) {
      scale[b] = _mm512_loadu_ps(seg + b * block_bytes);
      zero[b] = _mm512_loadu_ps(seg + b * block_bytes + 64);
    }
    for (size_t o = 0; o < group_size / 8; ++o) {
      __m512i octet[NB];
      for (size_t b = 0; b < NB; ++b) {
        octet[b] = _mm512_loadu_si512(seg + b * block_bytes + 128 + o * 64);
      }
      const float* x = a + g * group_size + o * 8;
      FmaCode<MR, NB, 0>(octet, table, scale, zero, x, a_stride, acc);
      FmaCode<MR, NB, 1>(octet, table, scale, zero, x, a_stride, acc);
      FmaCode<MR, NB, 2>(octet, table, scale, zero, x, a_stride, acc);
      FmaCode<MR, NB, 3>(octet, table, scale, zero, x, a_stride, acc);
      FmaCode<MR, NB, 4>(octet, table, scale, zero, x, a_stride, acc);
      FmaCode<MR, NB, 5>(octet, table, scale, zero, x, a_stride, acc);
      FmaCode<MR, NB, 6>(octet, table, scale, zero, x, a_stride, acc);
      FmaCode<MR, NB, 7>(octet, table, scale, zero, x, a_stride, acc);
    }
  }
  for (size_t b = 0; b < NB; ++b) {
    for (size_t r = 0; r < MR; ++r) {
      _mm512_storeu_ps(c + r * c_stride + b * kW4BlockColumns, acc[b][r]);
    }
  }
}

template <size_t MR>
void TileGemm(size_t k, const float* a, size_t a_stride, const float* w,
              float* c, size_t c_stride, bool accumulate) {
  __m512 acc[MR];
  for (size_t r = 0; r < MR; ++r) {
    acc[r] =
        accumulate ? _mm512_loadu_ps(c + r * c_stride) : _mm512_setzero_ps();
  }
  for (size_t kk = 0; kk < k; ++kk) {
    const __m512 wv = _mm512_load_ps(w + kk * kW4BlockColumns);
    for (size_t r = 0; r < MR; ++r) {
      acc[r] =
          _mm512_fmadd_ps(_mm512_set1_ps(a[r * a_stride + kk]), wv, acc[r]);
    }
  }
  for (size_t r = 0; r < MR; ++r) _mm512_storeu_ps(c + r * c_stride, acc[r]);
}

}  // namespace

void w4_f32_unpack_avx512(size_t groups, size_t group_size,
                          const uint8_t* segments, float* w) {
  assert(group_size % 8 == 0);
  const size_t segment = W4SegmentBytes(group_size);
  const __m512 table = CodeTable();
  for (size_t g = 0; g < groups; ++g) {
    const uint8_t* seg = segments + g * segment;
    const __m512 scale = _mm512_loadu_ps(seg);
    const __m512 zero = _mm512_loadu_ps(seg + 64);
    float* out = w + g * group_size * kW4BlockColumns;
    for (size_t o = 0; o < group_size / 8; ++o) {
      const __m512i octet = _mm512_loadu_si512(seg + 128 + o * 64);
      float* dst = out + o * 8 * kW4BlockColumns;
      // Same ŵ as FmaCode: (q - 8) * scale + zero, two roundings.
      _mm512_store_ps(dst + 0 * 16, Dequant<0>(octet, table, scale, zero));
      _mm512_store_ps(dst + 1 * 16, Dequant<1>(octet, table, scale, zero));
      _mm512_store_ps(dst + 2 * 16, Dequant<2>(octet, table, scale, zero));
      _mm512_store_ps(dst + 3 * 16, Dequant<3>(octet, table, scale, zero));
      _mm512_store_ps(dst + 4 * 16, Dequant<4>(octet, table, scale, zero));
      _mm512_store_ps(dst + 5 * 16, Dequant<5>(octet, table, scale, zero));
      _mm512_store_ps(dst + 6 * 16, Dequant<6>(octet, table, scale, zero));
      _mm512_store_ps(dst + 7 * 16, Dequant<7>(octet, table, scale, zero));
    }
  }
}

void f32_tile_gemm_avx512(size_t m, size_t k, const float* a, size_t a_stride,
                          const float* w, float* c, size_t c_stride,
                          bool accumulate) {
  assert(m >= 1 && m <= kW4MaxRows);
  switch (m) {
    case 1:
      return TileGemm<1>(k, a, a_stride, w, c, c_stride, accumulate);
    case 2:
      return TileGemm<2>(k, a, a_stride, w, c, c_stride, accumulate);
    case 3:
      return TileGemm<3>(k, a, a_stride, w, c, c_stride, accumulate);
    case 4:
      return TileGemm<4>(k, a, a_stride, w, c, c_stride, accumulate);
    case 5:
      return TileGemm<5>(k, a, a_stride, w, c, c_stride, accumulate);
    case 6:
      return TileGemm<6>(k, a, a_stride, w, c, c_stride, accumulate);
    case 7:
      return TileGemm<7>(k, a, a_stride, w, c, c_stride, accumulate);
    default:
      return TileGemm<8>(k, a, a_stride, w, c, c_stride, accumulate);
  }
}

namespace {

void Rows(size_t m, size_t k, size_t group_size, const float* a,
          size_t a_stride, const uint8_t* packed_block, float* c,
          size_t c_stride) {
  switch (m) {
    case 1:
      return F32Gemm<1, 1>(k, group_size, a, a_stride, packed_block, c,
                           c_stride);
    case 2:
      return F32Gemm<2, 1>(k, group_size, a, a_stride, packed_block, c,
                           c_stride);
    case 3:
      return F32Gemm<3, 1>(k, group_size, a, a_stride, packed_block, c,
                           c_stride);
    case 4:
      return F32Gemm<4, 1>(k, group_size, a, a_stride, packed_block, c,
                           c_stride);
    case 5:
      return F32Gemm<5, 1>(k, group_size, a, a_stride, packed_block, c,
                           c_stride);
    case 6:
      return F32Gemm<6, 1>(k, group_size, a, a_stride, packed_block, c,
                           c_stride);
    case 7:
      return F32Gemm<7, 1>(k, group_size, a, a_stride, packed_block, c,
                           c_stride);
    default:
      return F32Gemm<8, 1>(k, group_size, a, a_stride, packed_block, c,
                           c_stride);
  }
}

}  // namespace

void w4_f32_gemm_avx512(size_t m, size_t blocks, size_t k, size_t group_size,
                        const float* a, size_t a_stride,
                        const uint8_t* packed_block, float* c,
                        size_t c_stride) {
  assert(m >= 1 && m <= kW4MaxRows && blocks >= 1 && k % group_size == 0 &&
         group_size % 8 == 0);
  const size_t block_bytes = k / group_size * W4SegmentBytes(group_size);
  size_t b = 0;
  // One or two rows: four or two blocks at a time (four or more chains).
  if (m == 1) {
    for (; b + 4 <= blocks; b += 4) {
      F32Gemm<1, 4>(k, group_size, a, a_stride, packed_block + b * block_bytes,
                    c + b * kW4BlockColumns, c_stride);
    }
  } else if (m == 2) {
    for (; b + 2 <= blocks; b += 2) {
      F32Gemm<2, 2>(k, group_size, a, a_stride, packed_block + b * block_bytes,
                    c + b * kW4BlockColumns, c_stride);
    }
  }
  for (; b < blocks; ++b) {
    Rows(m, k, group_size, a, a_stride, packed_block + b * block_bytes,
         c + b * kW4BlockColumns, c_stride);
  }
}

}  // namespace qlinear
