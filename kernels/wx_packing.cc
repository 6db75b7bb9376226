#include "kernels/wx_packing.h"

#include <algorithm>
#include <cstring>

#include "common/check.h"

namespace qlinear {
int WxUnitCode(const uint8_t* unit, int bits, size_t j, size_t kk) {
  const size_t t = kk / 4;
  const size_t pos = 4 * j + kk % 4;
  if (bits == 8) return unit[64 * t + pos];
  int u = 0, shift = 0;
  const uint8_t* p = unit;
  if (bits & 4) {
    u = (p[64 * (t / 2) + pos] >> (4 * (t % 2))) & 0x0f;
    shift = 4;
    p += 128;
  }
  if (bits & 2) {
    u |= ((p[pos] >> (2 * t)) & 3) << shift;
    shift += 2;
    p += 64;
  }
  if (bits & 1) {
    u |= ((p[pos % 32] >> (t + 4 * (pos / 32))) & 1) << shift;
  }
  return u;
}

WxGeometry MakeWxGeometry(size_t k, size_t group_size, int bits) {
  QL_CHECK(bits >= 1 && bits <= 8 && group_size >= 1 && k % group_size == 0);
  WxGeometry g;
  g.k = k;
  g.group_size = group_size;
  g.groups = k / group_size;
  g.group_units = (group_size + kWxUnitK - 1) / kWxUnitK;
  g.bits = bits;
  g.segment_bytes = kWxHeaderBytes + g.group_units * WxUnitBytes(bits);
  return g;
}

PackedWx AllocateWx(size_t n, size_t k, size_t group_size, int bits) {
  PackedWx p;
  p.n = n;
  p.geometry = MakeWxGeometry(k, group_size, bits);
  QL_CHECK(p.geometry.groups == 1 || group_size % kWxUnitK == 0);
  p.blocks = (n + kWxBlockColumns - 1) / kWxBlockColumns;
  p.block_bytes = p.geometry.groups * p.geometry.segment_bytes;
  p.data = AllocateAligned(p.bytes());  // zeroed: padding stays 0
  return p;
}

PackedWx PackWx(const IntxPlainWeights& w) {
  PackedWx p = AllocateWx(w.n, w.k, w.group_size, w.bits);
  PackWxRows(w, 0, &p);
  return p;
}

void PackWxRows(const IntxPlainWeights& w, size_t row_begin, PackedWx* out) {
  PackedWx& p = *out;
  const WxGeometry& geo = p.geometry;
  QL_CHECK(row_begin % kWxBlockColumns == 0 && w.k == geo.k &&
           w.group_size == geo.group_size && w.bits == geo.bits &&
           (w.n % kWxBlockColumns == 0 || row_begin + w.n == p.n) &&
           row_begin + w.n <= p.n);
  const int bits = w.bits;
  const int qmin = -(1 << (bits - 1));
  const size_t unit_bytes = WxUnitBytes(bits);
  const size_t first_block = row_begin / kWxBlockColumns;
  const size_t slab_blocks = (w.n + kWxBlockColumns - 1) / kWxBlockColumns;
  for (size_t sb = 0; sb < slab_blocks; ++sb) {
    const size_t b = first_block + sb;
    const size_t cols = std::min(kWxBlockColumns, w.n - sb * kWxBlockColumns);
    for (size_t g = 0; g < geo.groups; ++g) {
      uint8_t* seg = p.data.get() + b * p.block_bytes + g * geo.segment_bytes;
      int32_t code_sum[kWxBlockColumns] = {};
      for (size_t v = 0; v < geo.group_units; ++v) {
        // The unit's codes as four quads: quad[t][4j + i] = u of column j at
        // k = 4t + i (kernels/PACKING.md); 0 for padding.
        uint8_t quad[4][64] = {};
        const size_t k0 = g * w.group_size + v * kWxUnitK;
        const size_t count = std::min(kWxUnitK, w.group_size - v * kWxUnitK);
        for (size_t j = 0; j < cols; ++j) {
          const int8_t* q = w.q.data() + (sb * kWxBlockColumns + j) * w.k + k0;
          for (size_t kk = 0; kk < count; ++kk) {
            const int u = q[kk] - qmin;
            quad[kk / 4][4 * j + kk % 4] = static_cast<uint8_t>(u);
            code_sum[j] += u;
          }
        }
        uint8_t* out = seg + kWxHeaderBytes + v * unit_bytes;
        if (bits == 8) {
          std::memcpy(out, quad, sizeof(quad));
          continue;
        }
        int shift = 0;
        if (bits & 4) {
          for (size_t h = 0; h < 2; ++h) {
            for (size_t pos = 0; pos < 64; ++pos) {
              out[64 * h + pos] =
                  static_cast<uint8_t>((quad[2 * h][pos] & 0x0f) |
                                       ((quad[2 * h + 1][pos] & 0x0f) << 4));
            }
          }
          out += 128;
          shift = 4;
        }
        if (bits & 2) {
          for (size_t pos = 0; pos < 64; ++pos) {
            int byte = 0;
            for (int t = 0; t < 4; ++t) {
              byte |= ((quad[t][pos] >> shift) & 3) << (2 * t);
            }
            out[pos] = static_cast<uint8_t>(byte);
          }
          out += 64;
          shift += 2;
        }
        if (bits & 1) {
          for (size_t x = 0; x < 32; ++x) {
            int byte = 0;
            for (int t = 0; t < 4; ++t) {
              byte |= ((quad[t][x] >> shift) & 1) << t;
              byte |= ((quad[t][x + 32] >> shift) & 1) << (t + 4);
            }
            out[x] = static_cast<uint8_t>(byte);
          }
        }
      }
      for (size_t j = 0; j < cols; ++j) {
        const size_t n = sb * kWxBlockColumns + j;  // row of the slab
        const float scale = w.scale[n * geo.groups + g];
        std::memcpy(seg + 4 * j, &scale, 4);
        std::memcpy(seg + 64 + 4 * j, &code_sum[j], 4);
        seg[128 + j] =
            static_cast<uint8_t>(w.zero_point[n * geo.groups + g] - qmin);
      }
    }
  }
}

IntxPlainWeights UnpackWx(const PackedWx& p) {
  const WxGeometry& geo = p.geometry;
  IntxPlainWeights w;
  w.n = p.n;
  w.k = geo.k;
  w.group_size = geo.group_size;
  w.bits = geo.bits;
  const int qmin = -(1 << (geo.bits - 1));
  const size_t unit_bytes = WxUnitBytes(geo.bits);
  w.q.resize(p.n * geo.k);
  w.scale.resize(p.n * geo.groups);
  w.zero_point.resize(p.n * geo.groups);
  for (size_t n = 0; n < p.n; ++n) {
    const size_t j = n % kWxBlockColumns;
    for (size_t g = 0; g < geo.groups; ++g) {
      const uint8_t* seg = p.block(n / kWxBlockColumns) + g * geo.segment_bytes;
      std::memcpy(&w.scale[n * geo.groups + g], seg + 4 * j, sizeof(float));
      w.zero_point[n * geo.groups + g] =
          static_cast<int8_t>(seg[128 + j] + qmin);
      for (size_t v = 0; v < geo.group_units; ++v) {
        const uint8_t* unit = seg + kWxHeaderBytes + v * unit_bytes;
        const size_t k0 = g * geo.group_size + v * kWxUnitK;
        const size_t count = std::min(kWxUnitK, geo.group_size - v * kWxUnitK);
        for (size_t kk = 0; kk < count; ++kk) {
          w.q[n * geo.k + k0 + kk] =
              static_cast<int8_t>(WxUnitCode(unit, geo.bits, j, kk) + qmin);
        }
      }
    }
  }
  return w;
}

}  // namespace qlinear
