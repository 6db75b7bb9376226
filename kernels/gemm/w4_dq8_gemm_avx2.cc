// int4_opaque kernel with int8 activations for AVX2: vpdpbusd emulated with
// vpmaddubsw (u8 x s8 pairs, at most 2 * 255 * 15, so never saturating) and
// vpmaddwd against ones, which gives the same exact dword sums. The tiled
// pair keeps the shared unpacked layout (gemm.h) and reads each 64-byte row of
// it (16 columns) as two ymm halves: columns 0..7, then 8..15.
#include <immintrin.h>

#include <cassert>
#include <cstdint>

#include "kernels/gemm/gemm.h"

namespace qlinear {
namespace {

inline __m256i DotBytes(__m256i acc, __m256i u8, __m256i s8) {
  const __m256i pairs = _mm256_maddubs_epi16(u8, s8);
  return _mm256_add_epi32(acc, _mm256_madd_epi16(pairs, _mm256_set1_epi16(1)));
}

inline __m256i Broadcast4Bytes(const uint8_t* p) {
  int32_t v;
  __builtin_memcpy(&v, p, 4);
  return _mm256_set1_epi32(v);
}

template <size_t MR>
void Dq8Gemm(size_t k, size_t group_size, const uint8_t* a, size_t a_stride,
             const Dq8Row* rows, const uint8_t* packed_block, float* c,
             size_t c_stride) {
  __m256 acc[MR][2];
  for (size_t r = 0; r < MR; ++r) acc[r][0] = acc[r][1] = _mm256_setzero_ps();
  const size_t segment = W4SegmentBytes(group_size);
  const __m256i nibble = _mm256_set1_epi8(0x0f);
  const __m256i ones = _mm256_set1_epi8(1);
  const int32_t gs = static_cast<int32_t>(group_size);
  for (size_t g = 0; g < k / group_size; ++g) {
    const uint8_t* seg = packed_block + g * segment;
    __m256i dot[MR][2];
    for (size_t r = 0; r < MR; ++r)
      dot[r][0] = dot[r][1] = _mm256_setzero_si256();
    // Σq per column: lo + hi bytes summed in u8 over up to 8 octets (at most
    // 8 * 2 * 15 = 240), then widened with one DotBytes per half.
    __m256i code_sum[2] = {_mm256_setzero_si256(), _mm256_setzero_si256()};
    __m256i byte_sum[2] = {_mm256_setzero_si256(), _mm256_setzero_si256()};
    const size_t octets = group_size / 8;
    for (size_t o = 0; o < octets; ++o) {
      if (MR >= kDq8PrefetchMinRows) {
        _mm_prefetch(reinterpret_cast<const char*>(seg + 128 + o * 64 +
                                                   kDq8PrefetchBytes),
                     _MM_HINT_T0);
      }
      const uint8_t* ua = a + g * group_size + o * 8;
      for (int half = 0; half < 2; ++half) {
        const __m256i octet = _mm256_loadu_si256(
            reinterpret_cast<const __m256i*>(seg + 128 + o * 64 + 32 * half));
        const __m256i lo = _mm256_and_si256(octet, nibble);
        const __m256i hi =
            _mm256_and_si256(_mm256_srli_epi16(octet, 4), nibble);
        byte_sum[half] =
            _mm256_add_epi8(byte_sum[half], _mm256_add_epi8(lo, hi));
        if (o % 8 == 7 || o + 1 == octets) {
          code_sum[half] = DotBytes(code_sum[half], byte_sum[half], ones);
          byte_sum[half] = _mm256_setzero_si256();
        }
        for (size_t r = 0; r < MR; ++r) {
          dot[r][half] =
              DotBytes(dot[r][half], Broadcast4Bytes(ua + r * a_stride), lo);
          dot[r][half] = DotBytes(dot[r][half],
                                  Broadcast4Bytes(ua + r * a_stride + 4), hi);
        }
      }
    }
    const float* sf = reinterpret_cast<const float*>(seg);
    for (size_t r = 0; r < MR; ++r) {
      const int32_t asum = rows[r].group_sums[g] - rows[r].offset * gs;
      const __m256 asum_f = _mm256_set1_ps(static_cast<float>(asum));
      for (int half = 0; half < 2; ++half) {
        __m256i isum = _mm256_sub_epi32(
            dot[r][half], _mm256_mullo_epi32(_mm256_set1_epi32(rows[r].offset),
                                             code_sum[half]));
        isum = _mm256_sub_epi32(isum, _mm256_set1_epi32(8 * asum));
        acc[r][half] = _mm256_fmadd_ps(_mm256_loadu_ps(sf + 8 * half),
                                       _mm256_cvtepi32_ps(isum), acc[r][half]);
        acc[r][half] = _mm256_fmadd_ps(_mm256_loadu_ps(sf + 16 + 8 * half),
                                       asum_f, acc[r][half]);
      }
    }
  }
  for (size_t r = 0; r < MR; ++r) {
    const __m256 s = _mm256_set1_ps(rows[r].scale);
    _mm256_storeu_ps(c + r * c_stride, _mm256_mul_ps(acc[r][0], s));
    _mm256_storeu_ps(c + r * c_stride + 8, _mm256_mul_ps(acc[r][1], s));
  }
}

// --- Large-M path: unpack once, then a register-blocked tile -------------

// One group of one unpacked block (layout in gemm.h).
constexpr size_t kScaleOffset = 0, kZeroOffset = 64, kWsumOffset = 128,
                 kCodesOffset = 192;
// vpmaddubsw of ua (<= 255) and q - 8 (in [-8, 7]) gives pair sums in
// [-4080, 3570]: eight of them still fit an int16 exactly, so the tile adds
// eight quads' products in int16 before one vpmaddwd widens them.
constexpr size_t kQuadsPerWiden = 8;

// MR rows x one unpacked block over `groups` groups: per quad, two weight
// loads (the column halves) feed 2·MR vpmaddubsw. Registers: 2·MR int16
// sums, 2·MR int32 sums, the two weight halves and a broadcast (MR <= 3
// fits the 16 ymm registers). The fp32 chains live in c between groups.
template <size_t MR>
void Dq8Tile(size_t groups, size_t group_size, const uint8_t* a,
             size_t a_stride, const Dq8Row* rows, const float* asum,
             size_t asum_stride, const uint8_t* unpacked, float* c,
             size_t c_stride, bool accumulate, bool finish) {
  if (!accumulate) {
    for (size_t r = 0; r < MR; ++r) {
      _mm256_storeu_ps(c + r * c_stride, _mm256_setzero_ps());
      _mm256_storeu_ps(c + r * c_stride + 8, _mm256_setzero_ps());
    }
  }
  const size_t group_bytes = W4Dq8UnpackedGroupBytes(group_size);
  const size_t quads = group_size / 4;
  const __m256i ones16 = _mm256_set1_epi16(1);
  static_assert(MR >= 1 && MR <= 3);
  for (size_t g = 0; g < groups; ++g) {
    const uint8_t* hg = unpacked + g * group_bytes;
    const uint8_t* wg = hg + kCodesOffset;
    const uint8_t* ag = a + g * group_size;
    // Named variables, not arrays: GCC 12 spills __m256i arrays here.
    __m256i d0l, d0h, d1l, d1h, d2l, d2h;
    d0l = d0h = d1l = d1h = d2l = d2h = _mm256_setzero_si256();
    for (size_t t0 = 0; t0 < quads; t0 += kQuadsPerWiden) {
      __m256i p0l, p0h, p1l, p1h, p2l, p2h;
      p0l = p0h = p1l = p1h = p2l = p2h = _mm256_setzero_si256();
#define QL_ROW_QUAD(r)                                                 \
  if (MR > r) {                                                        \
    const __m256i ur = Broadcast4Bytes(ag + r * a_stride + 4 * t);     \
    p##r##l = _mm256_add_epi16(_mm256_maddubs_epi16(ur, w0), p##r##l); \
    p##r##h = _mm256_add_epi16(_mm256_maddubs_epi16(ur, w1), p##r##h); \
  }
#define QL_ROW_WIDEN(r)                                                      \
  if (MR > r) {                                                              \
    d##r##l = _mm256_add_epi32(d##r##l, _mm256_madd_epi16(p##r##l, ones16)); \
    d##r##h = _mm256_add_epi32(d##r##h, _mm256_madd_epi16(p##r##h, ones16)); \
  }
      // Not unrolled: unrolled, GCC reassociates the int16 sums into a
      // tree of all eight quads' products and spills them.
#pragma GCC unroll 1
      for (size_t t = t0; t < t0 + kQuadsPerWiden; ++t) {
        const __m256i w0 =
            _mm256_load_si256(reinterpret_cast<const __m256i*>(wg + 64 * t));
        const __m256i w1 = _mm256_load_si256(
            reinterpret_cast<const __m256i*>(wg + 64 * t + 32));
        QL_ROW_QUAD(0)
        QL_ROW_QUAD(1)
        QL_ROW_QUAD(2)
      }
      QL_ROW_WIDEN(0)
      QL_ROW_WIDEN(1)
      QL_ROW_WIDEN(2)
#undef QL_ROW_QUAD
#undef QL_ROW_WIDEN
    }
    const __m256i dot[3][2] = {{d0l, d0h}, {d1l, d1h}, {d2l, d2h}};
    // isum = Σua·(q - 8) - c·Σ(q - 8) = Σ(qa - zp_a)(q - 8), exact; then
    // acc = fma(scale, isum, acc), acc = fma(zero, asum, acc).
    for (size_t r = 0; r < MR; ++r) {
      // The int16 pair (-c, 0) of vpmaddwd: (-c)·wsum + 0·0.
      const __m256i neg_offset = _mm256_set1_epi32((-rows[r].offset) & 0xffff);
      const __m256 as = _mm256_set1_ps(asum[r * asum_stride + g]);
      for (size_t h = 0; h < 2; ++h) {
        float* cr = c + r * c_stride + 8 * h;
        const __m256i wsum = _mm256_load_si256(
            reinterpret_cast<const __m256i*>(hg + kWsumOffset + 32 * h));
        const __m256i isum =
            _mm256_add_epi32(dot[r][h], _mm256_madd_epi16(neg_offset, wsum));
        const float* hf = reinterpret_cast<const float*>(hg);
        __m256 acc = _mm256_loadu_ps(cr);
        acc = _mm256_fmadd_ps(_mm256_load_ps(hf + kScaleOffset / 4 + 8 * h),
                              _mm256_cvtepi32_ps(isum), acc);
        acc = _mm256_fmadd_ps(_mm256_load_ps(hf + kZeroOffset / 4 + 8 * h), as,
                              acc);
        _mm256_storeu_ps(cr, acc);
      }
    }
  }
  if (finish) {
    for (size_t r = 0; r < MR; ++r) {
      const __m256 s = _mm256_set1_ps(rows[r].scale);
      for (size_t h = 0; h < 2; ++h) {
        float* cr = c + r * c_stride + 8 * h;
        _mm256_storeu_ps(cr, _mm256_mul_ps(_mm256_loadu_ps(cr), s));
      }
    }
  }
}

// Rows [0, MR) of every block: the rows' activations stay in L1 while the
// tile walks the blocks.
template <size_t MR>
void Dq8TileBlocks(size_t blocks, size_t groups, size_t group_size,
                   const uint8_t* a, size_t a_stride, const Dq8Row* rows,
                   const float* asum, size_t asum_stride,
                   const uint8_t* unpacked, size_t block_bytes, float* c,
                   size_t c_stride, bool accumulate, bool finish) {
  for (size_t b = 0; b < blocks; ++b) {
    Dq8Tile<MR>(groups, group_size, a, a_stride, rows, asum, asum_stride,
                unpacked + b * block_bytes, c + b * kW4BlockColumns, c_stride,
                accumulate, finish);
  }
}

}  // namespace

void w4_dq8_unpack_avx2(size_t groups, size_t group_size,
                        const uint8_t* segments, uint8_t* out) {
  assert(group_size % 8 == 0 && group_size <= 256);
  const size_t segment = W4SegmentBytes(group_size);
  const size_t group_bytes = W4Dq8UnpackedGroupBytes(group_size);
  const __m256i nibble = _mm256_set1_epi8(0x0f);
  const __m256i eight = _mm256_set1_epi8(8);
  const __m256i ones = _mm256_set1_epi8(1);
  const __m256i low16 = _mm256_set1_epi32(0xffff);
  const size_t octets = group_size / 8;
  for (size_t g = 0; g < groups; ++g) {
    const uint8_t* seg = segments + g * segment;
    uint8_t* o = out + g * group_bytes;
    for (size_t h = 0; h < 2; ++h) {
      const auto load = [&](size_t offset) {
        return _mm256_loadu_si256(
            reinterpret_cast<const __m256i*>(seg + offset + 32 * h));
      };
      const auto store = [&](size_t offset, __m256i v) {
        _mm256_store_si256(reinterpret_cast<__m256i*>(o + offset + 32 * h), v);
      };
      store(kScaleOffset, load(0));
      store(kZeroOffset, load(64));
      // Σq per column: lo + hi bytes over up to 8 octets (<= 240) in u8,
      // then widened exactly (DotBytes against ones).
      __m256i code_sum = _mm256_setzero_si256();
      __m256i byte_sum = _mm256_setzero_si256();
      for (size_t i = 0; i < octets; ++i) {
        const __m256i octet = load(128 + i * 64);
        const __m256i lo = _mm256_and_si256(octet, nibble);
        const __m256i hi =
            _mm256_and_si256(_mm256_srli_epi16(octet, 4), nibble);
        byte_sum = _mm256_add_epi8(byte_sum, _mm256_add_epi8(lo, hi));
        if (i % 8 == 7 || i + 1 == octets) {
          code_sum = DotBytes(code_sum, byte_sum, ones);
          byte_sum = _mm256_setzero_si256();
        }
        store(kCodesOffset + 128 * i, _mm256_sub_epi8(lo, eight));
        store(kCodesOffset + 128 * i + 64, _mm256_sub_epi8(hi, eight));
      }
      // wsum = Σq - 8·gs in [-2048, 1792]: an int16 in the low half.
      const __m256i wsum = _mm256_sub_epi32(
          code_sum, _mm256_set1_epi32(8 * static_cast<int32_t>(group_size)));
      store(kWsumOffset, _mm256_and_si256(wsum, low16));
    }
  }
}

void w4_dq8_tile_gemm_avx2(size_t m, size_t blocks, size_t groups,
                           size_t group_size, const uint8_t* a, size_t a_stride,
                           const Dq8Row* rows, const float* asum,
                           size_t asum_stride, const uint8_t* unpacked,
                           size_t block_bytes, float* c, size_t c_stride,
                           bool accumulate, bool finish) {
  assert(m >= 1 && blocks >= 1 && blocks <= kW4Dq8TileMaxBlocks &&
         group_size % (4 * kQuadsPerWiden) == 0 && block_bytes % 64 == 0 &&
         reinterpret_cast<uintptr_t>(unpacked) % 64 == 0);
  constexpr size_t kMR = kW4Dq8TileRowsAvx2;
  size_t r = 0;
  for (; r + kMR <= m; r += kMR) {
    Dq8TileBlocks<kMR>(blocks, groups, group_size, a + r * a_stride, a_stride,
                       rows + r, asum + r * asum_stride, asum_stride, unpacked,
                       block_bytes, c + r * c_stride, c_stride, accumulate,
                       finish);
  }
  a += r * a_stride;
  rows += r;
  asum += r * asum_stride;
  c += r * c_stride;
  switch (m - r) {
    case 0:
      return;
    case 1:
      return Dq8TileBlocks<1>(blocks, groups, group_size, a, a_stride, rows,
                              asum, asum_stride, unpacked, block_bytes, c,
                              c_stride, accumulate, finish);
    default:
      static_assert(kMR == 3);
      return Dq8TileBlocks<2>(blocks, groups, group_size, a, a_stride, rows,
                              asum, asum_stride, unpacked, block_bytes, c,
                              c_stride, accumulate, finish);
  }
}

void w4_dq8_gemm_avx2(size_t m, size_t k, size_t group_size, const uint8_t* a,
                      size_t a_stride, const Dq8Row* rows,
                      const uint8_t* packed_block, float* c, size_t c_stride) {
  assert(m >= 1 && m <= kW4MaxRows && k % group_size == 0 &&
         group_size % 8 == 0);
  // Sixteen ymm registers hold at most four rows of accumulators.
  if (m > 4) {
    Dq8Gemm<4>(k, group_size, a, a_stride, rows, packed_block, c, c_stride);
    return w4_dq8_gemm_avx2(m - 4, k, group_size, a + 4 * a_stride, a_stride,
                            rows + 4, packed_block, c + 4 * c_stride, c_stride);
  }
  switch (m) {
    case 1:
      return Dq8Gemm<1>(k, group_size, a, a_stride, rows, packed_block, c,
                        c_stride);
    case 2:
      return Dq8Gemm<2>(k, group_size, a, a_stride, rows, packed_block, c,
                        c_stride);
    case 3:
      return Dq8Gemm<3>(k, group_size, a, a_stride, rows, packed_block, c,
                        c_stride);
    default:
      return Dq8Gemm<4>(k, group_size, a, a_stride, rows, packed_block, c,
                        c_stride);
  }
}

}  // namespace qlinear
