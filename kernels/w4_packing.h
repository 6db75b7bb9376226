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

// The plain weights `p` was packed from (UnpackW4(PackW4(w)) == w): for
// tests and tools, which no longer find them in the Linear.
Int4PlainWeights UnpackW4(const PackedW4& p);

}  // namespace qlinear

#endif  // QLINEAR_KERNELS_W4_PACKING_H_
