#include "kernels/layer_kernels.h"

#include <array>

namespace qlinear {
namespace {

constexpr int kIsaCount = static_cast<int>(Isa::kAvx512Vnni) + 1;

struct AllKernels {
  std::array<W4Kernels, kIsaCount> w4;
  std::array<WxKernels, kIsaCount> wx;
};

AllKernels BuildTables() {
  AllKernels t;
  for (int i = 0; i < kIsaCount; ++i) {
    W4Kernels& w4 = t.w4[i];
    WxKernels& wx = t.wx[i];
    w4.isa = wx.isa = static_cast<Isa>(i);
    // The list is lowest ISA first: the last entry the ISA runs wins.
#define QL_IF_ISA(min_isa) if (i >= static_cast<int>(Isa::min_isa))
#define QL_W4_F32_KERNEL(fn, min_isa) \
  QL_IF_ISA(min_isa) {                \
    w4.f32 = fn;                      \
    w4.f32_name = #fn;                \
  }
#define QL_W4_DQ8_KERNEL(fn, min_isa) \
  QL_IF_ISA(min_isa) {                \
    w4.dq8 = fn;                      \
    w4.dq8_name = #fn;                \
  }
#define QL_W4_F32_TILED(unpack, gemm, min_isa, min_rows) \
  QL_IF_ISA(min_isa) {                                   \
    w4.f32_unpack = unpack;                              \
    w4.f32_tile_gemm = gemm;                             \
    w4.f32_tiled_min_rows = min_rows;                    \
  }
#define QL_W4_DQ8_TILED(unpack, gemm, min_isa, min_rows) \
  QL_IF_ISA(min_isa) {                                   \
    w4.dq8_unpack = unpack;                              \
    w4.dq8_tile_gemm = gemm;                             \
    w4.dq8_tiled_min_rows = min_rows;                    \
  }
#define QL_W4_DQ8_UNTILED(min_isa) \
  QL_IF_ISA(min_isa) {             \
    w4.dq8_unpack = nullptr;       \
    w4.dq8_tile_gemm = nullptr;    \
  }
#define QL_WX_F32_KERNEL(fn, min_isa) \
  QL_IF_ISA(min_isa) {                \
    wx.f32 = fn;                      \
    wx.f32_name = #fn;                \
  }
#define QL_WX_DQ8_KERNEL(fn, min_isa) \
  QL_IF_ISA(min_isa) {                \
    wx.dq8 = fn;                      \
    wx.dq8_name = #fn;                \
  }
#define QL_WX_F32_TILED(unpack, gemm, min_isa) \
  QL_IF_ISA(min_isa) {                         \
    wx.f32_unpack = unpack;                    \
    wx.f32_tile_gemm = gemm;                   \
  }
#define QL_DQ8_QUANTIZE_ROW(fn, min_isa) \
  QL_IF_ISA(min_isa) { w4.quantize_row = wx.quantize_row = fn; }
#include "kernels/gemm/gemm_kernels.inc"
#undef QL_DQ8_QUANTIZE_ROW
#undef QL_W4_F32_KERNEL
#undef QL_W4_DQ8_KERNEL
#undef QL_W4_F32_TILED
#undef QL_W4_DQ8_TILED
#undef QL_W4_DQ8_UNTILED
#undef QL_WX_F32_KERNEL
#undef QL_WX_DQ8_KERNEL
#undef QL_WX_F32_TILED
#undef QL_IF_ISA
  }
  return t;
}

const AllKernels& Tables() {
  static const AllKernels* const tables = new AllKernels(BuildTables());
  return *tables;
}

}  // namespace

const W4Kernels& W4KernelsFor(Isa isa) {
  return Tables().w4[static_cast<int>(isa)];
}

const WxKernels& WxKernelsFor(Isa isa) {
  return Tables().wx[static_cast<int>(isa)];
}

}  // namespace qlinear
