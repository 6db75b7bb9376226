// intx_opaque weight-only kernels for AVX-512 (F, BW, DQ, VL): codes are
// unpacked one unit (16 k x 16 columns) at a time, dequantized with the
// reference's exact roundings to the model dtype, and accumulated with FMA.
#include <immintrin.h>

#include <algorithm>
#include <cassert>

#include "kernels/gemm/gemm.h"
#include "kernels/gemm/wx_unpack_avx512.h"

namespace qlinear {
namespace {

// R_T of an fp32 vector, round to nearest even (the scalar RoundTo).
template <DType T>
inline __m512 RoundToT(__m512 w) {
  if constexpr (T == DType::kBF16) {
    // No NaN can occur here (finite scales); infinities stay infinite.
    const __m512i u = _mm512_castps_si512(w);
    const __m512i lsb =
        _mm512_and_si512(_mm512_srli_epi32(u, 16), _mm512_set1_epi32(1));
    const __m512i r =
        _mm512_add_epi32(u, _mm512_add_epi32(lsb, _mm512_set1_epi32(0x7fff)));
    return _mm512_castsi512_ps(
        _mm512_and_si512(r, _mm512_set1_epi32(static_cast<int>(0xffff0000u))));
  } else if constexpr (T == DType::kF16) {
    return _mm512_cvtph_ps(
        _mm512_cvtps_ph(w, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC));
  } else {
    return w;
  }
}

// 2^23 as fp32 bits: OR-ing a byte u into it gives the float 2^23 + u.
constexpr int kMagic = 0x4b000000;

// ŵ of code i (0..3) of quad `quad` for 16 columns:
// R_T(R_T(u - zero) * scale). `zero` holds 2^23 + zero, so that
// (2^23 + u) - (2^23 + zero) is u - zero, exact (as in the reference, where
// u - zero is exact in fp32 and in T).
template <DType T, int i>
inline __m512 Dequant(__m512i quad, __m512 zero, __m512 scale) {
  const __m512i shifted = i == 0 ? quad : _mm512_srli_epi32(quad, 8 * i);
  // kMagic | (shifted & 0xff) in one ternary-logic op (0xf8: A | (B & C)).
  const __m512i code = _mm512_ternarylogic_epi32(
      _mm512_set1_epi32(kMagic), shifted, _mm512_set1_epi32(0xff), 0xf8);
  return RoundToT<T>(
      _mm512_mul_ps(_mm512_sub_ps(_mm512_castsi512_ps(code), zero), scale));
}

template <size_t MR, DType T, int i>
inline void FmaCode(__m512i quad, __m512 zero, __m512 scale, const float* x,
                    size_t a_stride, __m512* acc) {
  const __m512 w = Dequant<T, i>(quad, zero, scale);
  for (size_t r = 0; r < MR; ++r) {
    acc[r] = _mm512_fmadd_ps(_mm512_set1_ps(x[r * a_stride + i]), w, acc[r]);
  }
}

// The 16 x 16 ŵ of one unit as [k][16] floats; only k < count is written.
template <DType T>
inline void DequantUnit(const __m512i* q, __m512 zero, __m512 scale,
                        size_t count, float* out) {
  __m512 w[16];
  for (int t = 0; t < 4; ++t) {
    w[4 * t + 0] = Dequant<T, 0>(q[t], zero, scale);
    w[4 * t + 1] = Dequant<T, 1>(q[t], zero, scale);
    w[4 * t + 2] = Dequant<T, 2>(q[t], zero, scale);
    w[4 * t + 3] = Dequant<T, 3>(q[t], zero, scale);
  }
  for (size_t kk = 0; kk < count; ++kk) _mm512_storeu_ps(out + 16 * kk, w[kk]);
}

// Scale and 2^23 + zero of one (block, group) segment header.
inline void LoadHeader(const uint8_t* seg, __m512* scale, __m512* zero) {
  *scale = _mm512_loadu_ps(seg);
  *zero = _mm512_castsi512_ps(_mm512_or_si512(
      _mm512_cvtepu8_epi32(
          _mm_loadu_si128(reinterpret_cast<const __m128i*>(seg + 128))),
      _mm512_set1_epi32(kMagic)));
}

// Rows 0..MR-1 of NB consecutive blocks. With NB > 1, the NB blocks' FMA
// chains interleave: a row's chain is serial (k ascending), so one block
// alone leaves the FMA units waiting when MR is small.
template <size_t MR, size_t NB, DType T>
void F32Gemm(const float* a, size_t a_stride, const uint8_t* packed_block,
             const WxGeometry& geo, float* c, size_t c_stride) {
  __m512 acc[NB][MR];
  for (size_t b = 0; b < NB; ++b) {
    for (size_t r = 0; r < MR; ++r) acc[b][r] = _mm512_setzero_ps();
  }
  const size_t unit_bytes = WxUnitBytes(geo.bits);
  const size_t block_bytes = geo.groups * geo.segment_bytes;
  for (size_t g = 0; g < geo.groups; ++g) {
    const uint8_t* seg0 = packed_block + g * geo.segment_bytes;
    const float* xg = a + g * geo.group_size;
    for (size_t u = 0; u < geo.group_units; ++u) {
      const float* x = xg + u * kWxUnitK;
      const size_t count = std::min(kWxUnitK, geo.group_size - u * kWxUnitK);
      for (size_t b = 0; b < NB; ++b) {
        const uint8_t* seg = seg0 + b * block_bytes;
        __m512 scale, zero;
        LoadHeader(seg, &scale, &zero);
        __m512i q[4];
        WxUnpackUnit(seg + kWxHeaderBytes + u * unit_bytes, geo.bits, q);
        if (count == kWxUnitK) {
          for (int t = 0; t < 4; ++t) {
            FmaCode<MR, T, 0>(q[t], zero, scale, x + 4 * t, a_stride, acc[b]);
            FmaCode<MR, T, 1>(q[t], zero, scale, x + 4 * t, a_stride, acc[b]);
            FmaCode<MR, T, 2>(q[t], zero, scale, x + 4 * t, a_stride, acc[b]);
            FmaCode<MR, T, 3>(q[t], zero, scale, x + 4 * t, a_stride, acc[b]);
          }
        } else {
          // The last unit of a per-channel group whose k is not a multiple
          // of 16: only the real k are accumulated.
          alignas(64) float w[kWxUnitK * kWxBlockColumns];
          DequantUnit<T>(q, zero, scale, count, w);
          for (size_t kk = 0; kk < count; ++kk) {
            const __m512 wv = _mm512_load_ps(w + 16 * kk);
            for (size_t r = 0; r < MR; ++r) {
              acc[b][r] = _mm512_fmadd_ps(_mm512_set1_ps(x[r * a_stride + kk]),
                                          wv, acc[b][r]);
            }
          }
        }
      }
    }
  }
  for (size_t b = 0; b < NB; ++b) {
    for (size_t r = 0; r < MR; ++r) {
      _mm512_storeu_ps(c + r * c_stride + b * kWxBlockColumns, acc[b][r]);
    }
  }
}

template <DType T>
void F32GemmRows(size_t m, const float* a, size_t a_stride,
                 const uint8_t* packed_block, const WxGeometry& geo, float* c,
                 size_t c_stride) {
  switch (m) {
    case 1:
      return F32Gemm<1, 1, T>(a, a_stride, packed_block, geo, c, c_stride);
    case 2:
      return F32Gemm<2, 1, T>(a, a_stride, packed_block, geo, c, c_stride);
    case 3:
      return F32Gemm<3, 1, T>(a, a_stride, packed_block, geo, c, c_stride);
    case 4:
      return F32Gemm<4, 1, T>(a, a_stride, packed_block, geo, c, c_stride);
    case 5:
      return F32Gemm<5, 1, T>(a, a_stride, packed_block, geo, c, c_stride);
    case 6:
      return F32Gemm<6, 1, T>(a, a_stride, packed_block, geo, c, c_stride);
    case 7:
      return F32Gemm<7, 1, T>(a, a_stride, packed_block, geo, c, c_stride);
    default:
      return F32Gemm<8, 1, T>(a, a_stride, packed_block, geo, c, c_stride);
  }
}

template <DType T>
void F32GemmBlocks(size_t m, size_t blocks, const float* a, size_t a_stride,
                   const uint8_t* packed_block, const WxGeometry& geo, float* c,
                   size_t c_stride) {
  const size_t block_bytes = geo.groups * geo.segment_bytes;
  size_t b = 0;
  // One or two rows: four or two blocks at a time (four or more chains).
  if (m == 1) {
    for (; b + 4 <= blocks; b += 4) {
      F32Gemm<1, 4, T>(a, a_stride, packed_block + b * block_bytes, geo,
                       c + b * kWxBlockColumns, c_stride);
    }
  } else if (m == 2) {
    for (; b + 2 <= blocks; b += 2) {
      F32Gemm<2, 2, T>(a, a_stride, packed_block + b * block_bytes, geo,
                       c + b * kWxBlockColumns, c_stride);
    }
  }
  for (; b < blocks; ++b) {
    F32GemmRows<T>(m, a, a_stride, packed_block + b * block_bytes, geo,
                   c + b * kWxBlockColumns, c_stride);
  }
}

template <DType T>
void Unpack(const uint8_t* packed_block, const WxGeometry& geo, size_t k_begin,
            size_t k_count, float* w) {
  const size_t unit_bytes = WxUnitBytes(geo.bits);
  const size_t k_end = k_begin + k_count;
  for (size_t k0 = k_begin; k0 < k_end; k0 += kWxUnitK) {
    const size_t g = k0 / geo.group_size;
    const size_t u = (k0 - g * geo.group_size) / kWxUnitK;
    const uint8_t* seg = packed_block + g * geo.segment_bytes;
    __m512 scale, zero;
    LoadHeader(seg, &scale, &zero);
    __m512i q[4];
    WxUnpackUnit(seg + kWxHeaderBytes + u * unit_bytes, geo.bits, q);
    const size_t count =
        std::min({kWxUnitK, geo.group_size - u * kWxUnitK, k_end - k0});
    DequantUnit<T>(q, zero, scale, count, w + (k0 - k_begin) * kWxBlockColumns);
  }
}

}  // namespace

void wx_f32_gemm_avx512(size_t m, size_t blocks, const float* a,
                        size_t a_stride, const uint8_t* packed_block,
                        const WxGeometry& geometry, DType dtype, float* c,
                        size_t c_stride) {
  assert(m >= 1 && m <= kWxMaxRows && blocks >= 1);
  switch (dtype) {
    case DType::kF32:
      return F32GemmBlocks<DType::kF32>(m, blocks, a, a_stride, packed_block,
                                        geometry, c, c_stride);
    case DType::kBF16:
      return F32GemmBlocks<DType::kBF16>(m, blocks, a, a_stride, packed_block,
                                         geometry, c, c_stride);
    case DType::kF16:
      return F32GemmBlocks<DType::kF16>(m, blocks, a, a_stride, packed_block,
                                        geometry, c, c_stride);
  }
}

void wx_f32_unpack_avx512(const uint8_t* packed_block,
                          const WxGeometry& geometry, DType dtype,
                          size_t k_begin, size_t k_count, float* w) {
  assert(k_begin % kWxUnitK == 0 && k_begin + k_count <= geometry.k);
  switch (dtype) {
    case DType::kF32:
      return Unpack<DType::kF32>(packed_block, geometry, k_begin, k_count, w);
    case DType::kBF16:
      return Unpack<DType::kBF16>(packed_block, geometry, k_begin, k_count, w);
    case DType::kF16:
      return Unpack<DType::kF16>(packed_block, geometry, k_begin, k_count, w);
  }
}

}  // namespace qlinear
