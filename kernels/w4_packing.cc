#include "kernels/w4_packing.h"

#include <cstdlib>
#include <cstring>

#include "common/check.h"
#include "kernels/gemm/gemm.h"

namespace qlinear {

void FreeDeleter::operator()(void* p) const { std::free(p); }

AlignedBytes AllocateAligned(size_t bytes) {
  const size_t rounded = (bytes + 63) / 64 * 64;
  void* p = std::aligned_alloc(64, rounded == 0 ? 64 : rounded);
  QL_CHECK(p != nullptr);
  std::memset(p, 0, rounded == 0 ? 64 : rounded);
  return AlignedBytes(static_cast<uint8_t*>(p));
}

PackedW4 AllocateW4(size_t n, size_t k, size_t group_size) {
  QL_CHECK(group_size % 8 == 0 && k % group_size == 0);
  PackedW4 p;
  p.n = n;
  p.k = k;
  p.group_size = group_size;
  p.blocks = (n + kW4BlockColumns - 1) / kW4BlockColumns;
  const size_t groups = k / group_size;
  p.block_bytes = groups * W4SegmentBytes(group_size);
  p.data = AllocateAligned(p.bytes());
  // Padding columns: code 8, scale 0, zero 0, so ŵ = 0. Never stored.
  if (n % kW4BlockColumns != 0) {
    const size_t b = p.blocks - 1;
    for (size_t g = 0; g < groups; ++g) {
      uint8_t* codes = p.data.get() + b * p.block_bytes +
                       g * W4SegmentBytes(group_size) + 128;
      for (size_t j = n % kW4BlockColumns; j < kW4BlockColumns; ++j) {
        for (size_t o = 0; o < group_size / 8; ++o) {
          for (size_t i = 0; i < 4; ++i) codes[o * 64 + j * 4 + i] = 0x88;
        }
      }
    }
  }
  return p;
}

void PackW4Rows(const Int4PlainWeights& w, size_t row_begin, PackedW4* p) {
  QL_CHECK(row_begin % kW4BlockColumns == 0 && w.k == p->k &&
           w.group_size == p->group_size && row_begin + w.n <= p->n);
  const size_t groups = w.k / w.group_size;
  const size_t segment = W4SegmentBytes(w.group_size);
  for (size_t r = 0; r < w.n; ++r) {
    const size_t n = row_begin + r;
    const size_t j = n % kW4BlockColumns;
    uint8_t* block = p->data.get() + (n / kW4BlockColumns) * p->block_bytes;
    for (size_t g = 0; g < groups; ++g) {
      uint8_t* seg = block + g * segment;
      float* scale = reinterpret_cast<float*>(seg);
      float* zero = scale + kW4BlockColumns;
      uint8_t* codes = seg + 128;
      scale[j] = w.scale[r * groups + g];
      zero[j] = w.zero[r * groups + g];
      const uint8_t* q = w.q.data() + r * w.k + g * w.group_size;
      for (size_t o = 0; o < w.group_size / 8; ++o) {
        for (size_t i = 0; i < 4; ++i) {
          codes[o * 64 + j * 4 + i] =
              static_cast<uint8_t>(q[o * 8 + i] | (q[o * 8 + 4 + i] << 4));
        }
      }
    }
  }
}

PackedW4 PackW4(const Int4PlainWeights& w) {
  PackedW4 p = AllocateW4(w.n, w.k, w.group_size);
  PackW4Rows(w, 0, &p);
  return p;
}

Int4PlainWeights UnpackW4(const PackedW4& p) {
  Int4PlainWeights w;
  w.n = p.n;
  w.k = p.k;
  w.group_size = p.group_size;
  const size_t groups = p.k / p.group_size;
  const size_t segment = W4SegmentBytes(p.group_size);
  w.q.resize(p.n * p.k);
  w.scale.resize(p.n * groups);
  w.zero.resize(p.n * groups);
  for (size_t n = 0; n < p.n; ++n) {
    const size_t j = n % kW4BlockColumns;
    for (size_t g = 0; g < groups; ++g) {
      const uint8_t* seg = p.block(n / kW4BlockColumns) + g * segment;
      std::memcpy(&w.scale[n * groups + g], seg + 4 * j, sizeof(float));
      std::memcpy(&w.zero[n * groups + g], seg + 64 + 4 * j, sizeof(float));
      const uint8_t* codes = seg + 128;
      uint8_t* q = w.q.data() + n * p.k + g * p.group_size;
      for (size_t o = 0; o < p.group_size / 8; ++o) {
        for (size_t i = 0; i < 4; ++i) {
          const uint8_t byte = codes[o * 64 + j * 4 + i];
          q[o * 8 + i] = byte & 0x0f;
          q[o * 8 + 4 + i] = byte >> 4;
        }
      }
    }
  }
  return w;
}

}  // namespace qlinear
