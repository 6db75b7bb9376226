#include "kernels/wx_packing.h"

#include <cstring>

#include "common/check.h"

namespace qlinear {
namespace {

// Writes the unsigned code `u` of column j at offset kk into a unit
// (kernels/PACKING.md, "Unit"). The unit must start zeroed.
void PutUnitCode(uint8_t* unit, int bits, size_t j, size_t kk, int u) {
  const size_t t = kk / 4;
  const size_t pos = 4 * j + kk % 4;
  if (bits == 8) {
    unit[64 * t + pos] = static_cast<uint8_t>(u);
    return;
  }
  int shift = 0;
  uint8_t* p = unit;
  if (bits & 4) {
    p[64 * (t / 2) + pos] |= static_cast<uint8_t>((u & 0x0f) << (4 * (t % 2)));
    shift = 4;
    p += 128;
  }
  if (bits & 2) {
    p[pos] |= static_cast<uint8_t>(((u >> shift) & 3) << (2 * t));
    shift += 2;
    p += 64;
  }
  if (bits & 1) {
    p[pos % 32] |=
        static_cast<uint8_t>(((u >> shift) & 1) << (t + 4 * (pos / 32)));
  }
}

}  // namespace

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

PackedWx PackWx(const IntxPlainWeights& w) {
  PackedWx p;
  p.n = w.n;
  p.geometry = MakeWxGeometry(w.k, w.group_size, w.bits);
  const WxGeometry& geo = p.geometry;
  QL_CHECK(geo.groups == 1 || w.group_size % kWxUnitK == 0);
  p.blocks = (w.n + kWxBlockColumns - 1) / kWxBlockColumns;
  p.block_bytes = geo.groups * geo.segment_bytes;
  p.data = AllocateAligned(p.bytes());  // zeroed: padding stays 0
  const int qmin = -(1 << (w.bits - 1));
  const size_t unit_bytes = WxUnitBytes(w.bits);
  for (size_t b = 0; b < p.blocks; ++b) {
    for (size_t g = 0; g < geo.groups; ++g) {
      uint8_t* seg = p.data.get() + b * p.block_bytes + g * geo.segment_bytes;
      for (size_t j = 0; j < kWxBlockColumns; ++j) {
        const size_t n = b * kWxBlockColumns + j;
        // Padding columns keep scale 0, zero 0, code sum 0 and codes 0.
        if (n >= w.n) continue;
        const float scale = w.scale[n * geo.groups + g];
        const int32_t zero = w.zero_point[n * geo.groups + g] - qmin;
        int32_t code_sum = 0;
        const int8_t* q = w.q.data() + n * w.k + g * w.group_size;
        for (size_t i = 0; i < w.group_size; ++i) {
          const int u = q[i] - qmin;
          code_sum += u;
          PutUnitCode(seg + kWxHeaderBytes + (i / kWxUnitK) * unit_bytes,
                      w.bits, j, i % kWxUnitK, u);
        }
        std::memcpy(seg + 4 * j, &scale, 4);
        std::memcpy(seg + 64 + 4 * j, &code_sum, 4);
        seg[128 + j] = static_cast<uint8_t>(zero);
      }
    }
  }
  return p;
}

}  // namespace qlinear
