#include "bench/onednn_matmul.h"

#include <omp.h>

#include <cstdint>
#include <cstring>
#include <map>
#include <random>
#include <unordered_map>
#include <utility>
#include <vector>

#include "common/check.h"
#include "kernels/types.h"
#include "oneapi/dnnl/dnnl.hpp"

namespace qlinear::bench {

using dnnl::memory;
using Dt = memory::data_type;
using Tag = memory::format_tag;

namespace {

Dt SrcType(DnnlKind kind) {
  switch (kind) {
    case DnnlKind::kF32:
      return Dt::f32;
    case DnnlKind::kU8S8:
      return Dt::u8;
    case DnnlKind::kBf16:
      return Dt::bf16;
  }
  return Dt::f32;
}

Dt WeightType(DnnlKind kind) {
  switch (kind) {
    case DnnlKind::kF32:
      return Dt::f32;
    case DnnlKind::kU8S8:
      return Dt::s8;
    case DnnlKind::kBf16:
      return Dt::bf16;
  }
  return Dt::f32;
}

// Fills `count` elements of type `dt` at `p` with random values.
void FillRandom(Dt dt, void* p, size_t count, uint32_t seed) {
  std::mt19937 rng(seed);
  std::uniform_real_distribution<float> real(-1.0f, 1.0f);
  switch (dt) {
    case Dt::f32: {
      float* f = static_cast<float*>(p);
      for (size_t i = 0; i < count; ++i) f[i] = real(rng);
      return;
    }
    case Dt::bf16: {
      uint16_t* h = static_cast<uint16_t*>(p);
      for (size_t i = 0; i < count; ++i) h[i] = FloatToBf16(real(rng));
      return;
    }
    case Dt::s8: {
      int8_t* q = static_cast<int8_t*>(p);
      for (size_t i = 0; i < count; ++i)
        q[i] = static_cast<int8_t>(static_cast<int>(rng() % 255) - 127);
      return;
    }
    case Dt::u8: {
      uint8_t* q = static_cast<uint8_t*>(p);
      for (size_t i = 0; i < count; ++i) q[i] = static_cast<uint8_t>(rng());
      return;
    }
    default:
      QL_CHECK(false);
  }
}

const char* StatusName(dnnl_status_t status) {
  switch (status) {
    case dnnl_unimplemented:
      return "unimplemented";
    case dnnl_invalid_arguments:
      return "invalid_arguments";
    case dnnl_out_of_memory:
      return "out_of_memory";
    default:
      return "error";
  }
}

// The ISA oneDNN dispatches to on this CPU, for the unavailable reason.
const char* CpuIsaName(dnnl::cpu_isa isa) {
  switch (isa) {
    case dnnl::cpu_isa::sse41:
      return "sse41";
    case dnnl::cpu_isa::avx:
      return "avx";
    case dnnl::cpu_isa::avx2:
      return "avx2";
    case dnnl::cpu_isa::avx2_vnni:
      return "avx2_vnni";
    case dnnl::cpu_isa::avx512_core:
      return "avx512_core";
    case dnnl::cpu_isa::avx512_core_vnni:
      return "avx512_core_vnni";
    case dnnl::cpu_isa::avx512_core_bf16:
      return "avx512_core_bf16";
    case dnnl::cpu_isa::avx512_core_amx:
      return "avx512_core_amx";
    default:
      return "other";
  }
}

}  // namespace

struct DnnlMatmul::State {
  DnnlKind kind;
  size_t k, n, copies;
  dnnl::engine engine{dnnl::engine::kind::cpu, 0};
  dnnl::stream stream{engine};
  memory plain_weights;  // [K, N] row-major
  // Weight copies per layout the primitives asked for.
  std::vector<std::pair<memory::desc, std::vector<memory>>> layouts;
  struct PerThreads {
    dnnl::matmul::primitive_desc pd;
    dnnl::matmul primitive;
    size_t layout = 0;  // index into `layouts`
  };
  std::map<int, PerThreads> per_threads;
  memory src, dst, zero_point;
  std::unordered_map<int, memory> args;
  std::string unavailable_reason;
};

DnnlMatmul::DnnlMatmul(DnnlKind kind, size_t k, size_t n, size_t copies)
    : state_(new State) {
  QL_CHECK(copies >= 1);
  State& s = *state_;
  s.kind = kind;
  s.k = k;
  s.n = n;
  s.copies = copies;
  const memory::dims dims = {static_cast<memory::dim>(k),
                             static_cast<memory::dim>(n)};
  s.plain_weights = memory({dims, WeightType(kind), Tag::ab}, s.engine);
  FillRandom(WeightType(kind), s.plain_weights.get_data_handle(), k * n, 7);
}

DnnlMatmul::~DnnlMatmul() = default;

const char* DnnlKindName(DnnlKind kind) {
  switch (kind) {
    case DnnlKind::kF32:
      return "f32";
    case DnnlKind::kU8S8:
      return "u8s8";
    case DnnlKind::kBf16:
      return "bf16";
  }
  return "?";
}

size_t DnnlWeightElementBytes(DnnlKind kind) {
  switch (kind) {
    case DnnlKind::kF32:
      return 4;
    case DnnlKind::kU8S8:
      return 1;
    case DnnlKind::kBf16:
      return 2;
  }
  return 4;
}

std::string DnnlMatmul::Version() {
  const dnnl_version_t* v = dnnl_version();
  return std::to_string(v->major) + "." + std::to_string(v->minor) + "." +
         std::to_string(v->patch);
}

bool DnnlMatmul::Prepare(size_t m, const std::vector<int>& threads) {
  State& s = *state_;
  s.unavailable_reason.clear();
  const auto md = static_cast<memory::dim>(m);
  const auto kd = static_cast<memory::dim>(s.k);
  const auto nd = static_cast<memory::dim>(s.n);
  const memory::desc src_md({md, kd}, SrcType(s.kind), Tag::ab);
  const memory::desc weights_md({kd, nd}, WeightType(s.kind), Tag::any);
  const memory::desc dst_md({md, nd}, Dt::f32, Tag::ab);

  dnnl::primitive_attr attr;
  if (s.kind == DnnlKind::kU8S8) {
    // Dynamic quantization: the source zero point changes with every call
    // (runtime); the output scales are the per-column weight scales, fixed
    // at creation. The per-row activation scale would be one more M x N
    // multiply, not included. (Runtime output scales would make oneDNN 2.6
    // fall back from brg:avx512_core_vnni to gemm:jit, 5x slower at M=1.)
    attr.set_zero_points(DNNL_ARG_SRC, 0, {DNNL_RUNTIME_S32_VAL});
    std::vector<float> scales(s.n);
    for (size_t j = 0; j < s.n; ++j) scales[j] = 1e-3f * (1.0f + j % 7);
    attr.set_output_scales(1 << 1, scales);
  }
  std::vector<std::pair<memory::desc, std::vector<memory>>> layouts;
  s.per_threads.clear();
  for (int t : threads) {
    omp_set_num_threads(t);
    State::PerThreads& p = s.per_threads[t];
    try {
      p.pd = dnnl::matmul::primitive_desc(
          dnnl::matmul::desc(src_md, weights_md, dst_md), attr, s.engine);
      p.primitive = dnnl::matmul(p.pd);
    } catch (const dnnl::error& e) {
      // No implementation of this kind on this CPU. Weight copies moved out
      // of s.layouts are dropped; a later Prepare() reorders new ones.
      s.per_threads.clear();
      s.unavailable_reason = std::string(StatusName(e.status)) + ": " +
                             e.what() + " (oneDNN " + Version() + ", CPU ISA " +
                             CpuIsaName(dnnl::get_effective_cpu_isa()) + ")";
      return false;
    }
    const memory::desc want = p.pd.weights_desc();
    size_t index = layouts.size();
    for (size_t i = 0; i < layouts.size(); ++i) {
      if (layouts[i].first == want) index = i;
    }
    if (index == layouts.size()) {
      // Reuse copies already in this layout, else reorder new ones.
      std::vector<memory> copies;
      for (auto& old : s.layouts) {
        if (old.first == want && !old.second.empty()) {
          copies = std::move(old.second);
          break;
        }
      }
      if (copies.empty()) {
        for (size_t c = 0; c < s.copies; ++c) {
          memory w(want, s.engine);
          dnnl::reorder(s.plain_weights, w)
              .execute(s.stream, s.plain_weights, w);
          copies.push_back(std::move(w));
        }
        s.stream.wait();
      }
      layouts.emplace_back(want, std::move(copies));
    }
    p.layout = index;
  }
  s.layouts = std::move(layouts);

  const State::PerThreads& first = s.per_threads.begin()->second;
  s.src = memory(first.pd.src_desc(), s.engine);
  FillRandom(SrcType(s.kind), s.src.get_data_handle(), m * s.k, 11);
  s.dst = memory(first.pd.dst_desc(), s.engine);
  s.args.clear();
  s.args[DNNL_ARG_SRC] = s.src;
  s.args[DNNL_ARG_DST] = s.dst;
  if (s.kind == DnnlKind::kU8S8) {
    s.zero_point = memory({{1}, Dt::s32, Tag::x}, s.engine);
    *static_cast<int32_t*>(s.zero_point.get_data_handle()) = 3;
    s.args[DNNL_ARG_ATTR_ZERO_POINTS | DNNL_ARG_SRC] = s.zero_point;
  }
  return true;
}

const std::string& DnnlMatmul::unavailable_reason() const {
  return state_->unavailable_reason;
}

void DnnlMatmul::Run(size_t i, int threads) {
  State& s = *state_;
  const State::PerThreads& p = s.per_threads.at(threads);
  omp_set_num_threads(threads);
  s.args[DNNL_ARG_WEIGHTS] = s.layouts[p.layout].second[i % s.copies];
  p.primitive.execute(s.stream, s.args);
  s.stream.wait();
}

size_t DnnlMatmul::copies() const { return state_->copies; }

std::string DnnlMatmul::impl_name(int threads) const {
  auto it = state_->per_threads.find(threads);
  return it == state_->per_threads.end() ? "" : it->second.pd.impl_info_str();
}

}  // namespace qlinear::bench
