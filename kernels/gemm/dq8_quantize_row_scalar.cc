// Portable per-row activation quantization: the reference itself, plus the
// group sums.
#include <cassert>

#include "kernels/gemm/gemm.h"
#include "kernels/reference/quantize.h"

namespace qlinear {

Dq8RowQuant dq8_quantize_row_scalar(const float* x, size_t k, size_t group,
                                    float eps, int8_t* q, int32_t* group_sums) {
  assert(group >= 1 && k % group == 0);
  // The reference takes the floor as a policy; both policies' fp32 values are
  // the only ones callers pass.
  const ScaleFloor floor =
      eps == ScaleFloorValue(DType::kF32, ScaleFloor::kFinfoEps)
          ? ScaleFloor::kFinfoEps
          : ScaleFloor::kSmallestNormal;
  assert(eps == ScaleFloorValue(DType::kF32, floor));
  const reference::RowQParams rq =
      reference::QuantizeActivationRow(x, k, floor, q);
  for (size_t g = 0; g < k / group; ++g) {
    int32_t sum = 0;
    for (size_t i = g * group; i < (g + 1) * group; ++i) sum += q[i];
    group_sums[g] = sum;
  }
  return {rq.scale, rq.zero_point};
}

}  // namespace qlinear
