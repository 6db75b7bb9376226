// Packing of int4_opaque weights into the layout of kernels/PACKING.md.
// Thread-compatible: a PackedW4 is immutable after PackW4() and safe to share.
#ifndef QLINEAR_KERNELS_W4_PACKING_H_
#define QLINEAR_KERNELS_W4_PACKING_H_

#include <cstddef>
#include <cstdint>
#include <memory>

#include "kernels/weights.h"

namespace qlinear {

struct FreeDeleter {
  void operator()(void* p) const;
};

// A 64-byte aligned, zero-initialized byte buffer.
using AlignedBytes = std::unique_ptr<uint8_t[], FreeDeleter>;
AlignedBytes AllocateAligned(size_t bytes);

struct PackedW4 {
  size_t n = 0, k = 0, group_size = 0;
  size_t blocks = 0;       // ceil(n / kW4BlockColumns)
  size_t block_bytes = 0;  // groups * W4SegmentBytes(group_size)
  AlignedBytes data;       // blocks * block_bytes

  const uint8_t* block(size_t b) const { return data.get() + b * block_bytes; }
  size_t bytes() const { return blocks * block_bytes; }
};

// REQUIRES: w is valid (ValidateLinearWeights); group_size % 8 == 0.
PackedW4 PackW4(const Int4PlainWeights& w);

// The streaming form of PackW4: AllocateW4 sizes the buffer of an [n, k]
// layer (padding columns packed as ŵ = 0), then PackW4Rows packs the rows
// [row_begin, row_begin + rows.n) held by `rows`, so that a layer can be
// packed a slab of rows at a time. PackW4(w) equals AllocateW4 followed by
// PackW4Rows over any split of w into slabs.
// REQUIRES: group_size % 8 == 0, k % group_size == 0; for PackW4Rows,
// row_begin % kW4BlockColumns == 0, rows.k and rows.group_size those of p,
// row_begin + rows.n <= p->n, and rows valid.
PackedW4 AllocateW4(size_t n, size_t k, size_t group_size);
void PackW4Rows(const Int4PlainWeights& rows, size_t row_begin, PackedW4* p);

// The plain weights `p` was packed from (UnpackW4(PackW4(w)) == w): for
// tests and tools, which no longer find them in the Linear.
Int4PlainWeights UnpackW4(const PackedW4& p);

}  // namespace qlinear

#endif  // QLINEAR_KERNELS_W4_PACKING_H_
