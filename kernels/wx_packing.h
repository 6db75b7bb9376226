// Packing of intx_opaque weights into the layout of kernels/PACKING.md.
// Thread-compatible: a PackedWx is immutable after PackWx() and safe to share.
#ifndef QLINEAR_KERNELS_WX_PACKING_H_
#define QLINEAR_KERNELS_WX_PACKING_H_

#include <cstddef>
#include <cstdint>

#include "kernels/gemm/gemm.h"
#include "kernels/w4_packing.h"
#include "kernels/weights.h"

namespace qlinear {

struct PackedWx {
  size_t n = 0;
  WxGeometry geometry;
  size_t blocks = 0;       // ceil(n / kWxBlockColumns)
  size_t block_bytes = 0;  // geometry.groups * geometry.segment_bytes
  AlignedBytes data;       // blocks * block_bytes

  const uint8_t* block(size_t b) const { return data.get() + b * block_bytes; }
  size_t bytes() const { return blocks * block_bytes; }
};

// The geometry of a layer with these dimensions.
// REQUIRES: 1 <= bits <= 8, group_size >= 1, k % group_size == 0.
WxGeometry MakeWxGeometry(size_t k, size_t group_size, int bits);

// REQUIRES: w is valid (ValidateLinearWeights).
PackedWx PackWx(const IntxPlainWeights& w);

// The streaming form of PackWx (as AllocateW4/PackW4Rows): AllocateWx sizes
// the zeroed buffer of an [n, k] layer, PackWxRows packs the rows
// [row_begin, row_begin + rows.n) held by `rows`. Blocks share bytes between
// columns, so a slab covers whole blocks.
// REQUIRES: as PackWx; row_begin % kWxBlockColumns == 0, rows.n a multiple
// of kWxBlockColumns or the slab the last one (row_begin + rows.n == p->n),
// rows.k, group_size and bits those of p.
PackedWx AllocateWx(size_t n, size_t k, size_t group_size, int bits);
void PackWxRows(const IntxPlainWeights& rows, size_t row_begin, PackedWx* p);

// The plain weights `p` was packed from (UnpackWx(PackWx(w)) == w): for
// tests and tools, which no longer find them in the Linear.
IntxPlainWeights UnpackWx(const PackedWx& p);

// Unsigned code u = q - qmin of column j (0..15) at offset kk (0..15) of one
// packed unit: the scalar reader of the layout, for the scalar kernels and
// tests (never on a SIMD path).
int WxUnitCode(const uint8_t* unit, int bits, size_t j, size_t kk);

}  // namespace qlinear

#endif  // QLINEAR_KERNELS_WX_PACKING_H_
