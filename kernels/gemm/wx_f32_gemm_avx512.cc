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

// ŵ of code i (0..3) of quad `quad` for 16 columns:
// R_T(R_T(u - zero) * scale), where u - zero is exact in fp32 and in T.
template <DType T, int i>
inline __m512 Dequant(__m512i quad, __m512 zero, __m512 scale) {
  __m512i code = _mm512_srli_epi32(quad, 8 * i);
  if constexpr (i < 3) code = _mm512_and_si512(code, _mm512_set1_epi32(0xff));
  return RoundToT<T>(
      _mm512_mul_ps(_mm512_sub_ps(_mm512_cvtepi32_ps(code), zero), scale));
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

// Scale and zero of one (block, group) segment header.
inline void LoadHeader(const uint8_t* seg, __m512* scale, __m512* zero) {
  *scale = _mm512_loadu_ps(seg);
  *zero = _mm512_cvtepi32_ps(_mm512_cvtepu8_epi32(
      _mm_loadu_si128(reinterpret_cast<const __m128i*>(seg + 128))));
}

template <size_t MR, DType T>
void F32Gemm(const float* a, size_t a_stride, const uint8_t* packed_block,
             const WxGeometry& geo, float* c, size_t c_stride) {
  __m512 acc[MR];
  for (size_t r = 0; r < MR; ++r) acc[r] = _mm512_setzero_ps();
  const size_t unit_bytes = WxUnitBytes(geo.bits);
  for (size_t g = 0; g < geo.groups; ++g) {
    const uint8_t* seg = packed_block + g * geo.segment_bytes;
    __m512 scale, zero;
    LoadHeader(seg, &scale, &zero);
    const float* xg = a + g * geo.group_size;
    for (size_t u = 0; u < geo.group_units; ++u) {
      __m512i q[4];
      WxUnpackUnit(seg + kWxHeaderBytes + u * unit_bytes, geo.bits, q);
      const float* x = xg + u * kWxUnitK;
      const size_t count = std::min(kWxUnitK, geo.group_size - u * kWxUnitK);
      if (count == kWxUnitK) {
        for (int t = 0; t < 4; ++t) {
          FmaCode<MR, T, 0>(q[t], zero, scale, x + 4 * t, a_stride, acc);
          FmaCode<MR, T, 1>(q[t], zero, scale, x + 4 * t, a_stride, acc);
          FmaCode<MR, T, 2>(q[t], zero, scale, x + 4 * t, a_stride, acc);
          FmaCode<MR, T, 3>(q[t], zero, scale, x + 4 * t, a_stride, acc);
        }
      } else {
        // The last unit of a per-channel group whose k is not a multiple of
        // 16: only the real k are accumulated.
        alignas(64) float w[kWxUnitK * kWxBlockColumns];
        DequantUnit<T>(q, zero, scale, count, w);
        for (size_t kk = 0; kk < count; ++kk) {
          const __m512 wv = _mm512_load_ps(w + 16 * kk);
          for (size_t r = 0; r < MR; ++r) {
            acc[r] = _mm512_fmadd_ps(_mm512_set1_ps(x[r * a_stride + kk]), wv,
                                     acc[r]);
          }
        }
      }
    }
  }
  for (size_t r = 0; r < MR; ++r) _mm512_storeu_ps(c + r * c_stride, acc[r]);
}

template <DType T>
void F32GemmRows(size_t m, const float* a, size_t a_stride,
                 const uint8_t* packed_block, const WxGeometry& geo, float* c,
                 size_t c_stride) {
  switch (m) {
    case 1:
      return F32Gemm<1, T>(a, a_stride, packed_block, geo, c, c_stride);
    case 2:
      return F32Gemm<2, T>(a, a_stride, packed_block, geo, c, c_stride);
    case 3:
      return F32Gemm<3, T>(a, a_stride, packed_block, geo, c, c_stride);
    case 4:
      return F32Gemm<4, T>(a, a_stride, packed_block, geo, c, c_stride);
    case 5:
      return F32Gemm<5, T>(a, a_stride, packed_block, geo, c, c_stride);
    case 6:
      return F32Gemm<6, T>(a, a_stride, packed_block, geo, c, c_stride);
    case 7:
      return F32Gemm<7, T>(a, a_stride, packed_block, geo, c, c_stride);
    default:
      return F32Gemm<8, T>(a, a_stride, packed_block, geo, c, c_stride);
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

void wx_f32_gemm_avx512(size_t m, const float* a, size_t a_stride,
                        const uint8_t* packed_block, const WxGeometry& geometry,
                        DType dtype, float* c, size_t c_stride) {
  assert(m >= 1 && m <= kWxMaxRows);
  switch (dtype) {
    case DType::kF32:
      return F32GemmRows<DType::kF32>(m, a, a_stride, packed_block, geometry, c,
                                      c_stride);
    case DType::kBF16:
      return F32GemmRows<DType::kBF16>(m, a, a_stride, packed_block, geometry,
                                       c, c_stride);
    case DType::kF16:
      return F32GemmRows<DType::kF16>(m, a, a_stride, packed_block, geometry, c,
                                      c_stride);
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
