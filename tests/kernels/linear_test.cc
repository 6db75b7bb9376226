#include "kernels/linear.h"

#include <malloc.h>

#include <cmath>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "kernels/reference/linear.h"
#include "kernels/reference/quantize.h"
#include "tests/testing/status_matchers.h"

namespace qlinear {
namespace {

using ::qlinear::testing::IsOk;
using ::qlinear::testing::StatusIs;
using ::testing::HasSubstr;

LinearWeights ValidInt4Layer() {
  std::vector<float> w(8 * 64);
  for (size_t i = 0; i < w.size(); ++i)
    w[i] = static_cast<float>(i % 13) / 7.0f - 0.8f;
  LinearWeights layer;
  layer.format = WeightFormat::kInt4Opaque;
  layer.n = 8;
  layer.k = 64;
  layer.int4 = reference::QuantizeInt4Weights(w.data(), 8, 64, 32, DType::kF32);
  layer.bias.assign(8, 0.5f);
  layer.activation = Activation::kRelu;
  return layer;
}

TEST(LinearTest, RunMatchesReference) {
  const LinearWeights w = ValidInt4Layer();
  auto linear = Linear::Create(w);
  ASSERT_THAT(linear, IsOk());
  EXPECT_EQ((*linear)->n(), 8u);
  EXPECT_EQ((*linear)->k(), 64u);
  EXPECT_THAT(std::string((*linear)->kernel_name(ActQuant::kNone)),
              ::testing::StartsWith("w4_f32_gemm_"));
  EXPECT_THAT(std::string((*linear)->kernel_name(ActQuant::kInt8AsymPerToken)),
              ::testing::StartsWith("w4_dq8_gemm_"));
  std::vector<float> x(2 * 64);
  for (size_t i = 0; i < x.size(); ++i) x[i] = static_cast<float>(i % 5) - 2.0f;
  for (ActQuant mode : {ActQuant::kNone, ActQuant::kInt8AsymPerToken}) {
    std::vector<float> y(16), ref(16), raw(16);
    (*linear)->Run(x.data(), 2, mode, /*apply_activation=*/true, y.data());
    reference::Linear(w, x.data(), 2, mode, Activation::kRelu, ref.data());
    EXPECT_EQ(y, ref);
    (*linear)->Run(x.data(), 2, mode, /*apply_activation=*/false, raw.data());
    for (size_t i = 0; i < 16; ++i) EXPECT_EQ(y[i], raw[i] > 0 ? raw[i] : 0.0f);
  }
}

TEST(LinearTest, CreateRejectsInconsistentWeights) {
  {
    LinearWeights w = ValidInt4Layer();
    w.int4.group_size = 48;
    EXPECT_THAT(Linear::Create(w),
                StatusIs(absl::StatusCode::kInvalidArgument,
                         HasSubstr("group_size 48 is not one of")));
  }
  {
    LinearWeights w = ValidInt4Layer();
    w.int4.q[3] = 16;
    EXPECT_THAT(Linear::Create(w),
                StatusIs(absl::StatusCode::kInvalidArgument,
                         HasSubstr("int4 code 16 out of range")));
  }
  {
    LinearWeights w = ValidInt4Layer();
    w.bias.pop_back();
    EXPECT_THAT(Linear::Create(w), StatusIs(absl::StatusCode::kInvalidArgument,
                                            HasSubstr("bias has 7 values")));
  }
  {
    LinearWeights w = ValidInt4Layer();
    w.int4.scale[0] = std::numeric_limits<float>::infinity();
    EXPECT_THAT(Linear::Create(w), StatusIs(absl::StatusCode::kInvalidArgument,
                                            HasSubstr("non-finite")));
  }
  {
    LinearWeights w;
    w.format = WeightFormat::kIntxOpaque;
    w.n = 1;
    w.k = 32;
    w.intx.n = 1;
    w.intx.k = 32;
    w.intx.group_size = 32;
    w.intx.bits = 2;
    w.intx.q.assign(32, 2);  // 2 bits: -2..1
    w.intx.scale.assign(1, 1.0f);
    w.intx.zero_point.assign(1, 0);
    EXPECT_THAT(Linear::Create(w),
                StatusIs(absl::StatusCode::kInvalidArgument,
                         HasSubstr("intx code 2 out of range -2..1")));
  }
}

std::vector<float> Ramp(size_t count) {
  std::vector<float> v(count);
  for (size_t i = 0; i < count; ++i) v[i] = std::sin(0.37f * i) * 0.9f;
  return v;
}

void ExpectSamePlain(const LinearWeights& a, const LinearWeights& b) {
  EXPECT_EQ(a.format, b.format);
  EXPECT_EQ(a.n, b.n);
  EXPECT_EQ(a.k, b.k);
  EXPECT_EQ(a.dtype, b.dtype);
  EXPECT_EQ(a.bias, b.bias);
  EXPECT_EQ(a.activation, b.activation);
  EXPECT_EQ(a.act_scale_floor, b.act_scale_floor);
  EXPECT_EQ(a.fp32, b.fp32);
  EXPECT_EQ(a.int4.group_size, b.int4.group_size);
  EXPECT_EQ(a.int4.q, b.int4.q);
  EXPECT_EQ(a.int4.scale, b.int4.scale);
  EXPECT_EQ(a.int4.zero, b.int4.zero);
  EXPECT_EQ(a.intx.group_size, b.intx.group_size);
  EXPECT_EQ(a.intx.q, b.intx.q);
  EXPECT_EQ(a.intx.scale, b.intx.scale);
  EXPECT_EQ(a.intx.zero_point, b.intx.zero_point);
}

// The packed layouts are lossless: PlainWeights() rebuilds the input of
// Create() bit for bit, ragged N (padding columns) included.
TEST(LinearTest, PlainWeightsRebuildsTheInputFromThePackedLayout) {
  for (size_t gs : {32, 64, 128, 256}) {
    const size_t n = 37, k = 512;
    const std::vector<float> f = Ramp(n * k);
    LinearWeights w;
    w.format = WeightFormat::kInt4Opaque;
    w.n = n;
    w.k = k;
    w.int4 = reference::QuantizeInt4Weights(f.data(), n, k, gs, DType::kF32);
    w.bias = Ramp(n);
    w.activation = Activation::kGelu;
    w.act_scale_floor = ScaleFloor::kFinfoEps;
    auto linear = Linear::Create(w);
    ASSERT_THAT(linear, IsOk());
    SCOPED_TRACE(gs);
    ExpectSamePlain((*linear)->PlainWeights(), w);
  }
  for (int bits = 1; bits <= 8; ++bits) {
    // Group-wise, and per channel with k not a multiple of the unit.
    for (size_t k : {size_t{96}, size_t{40}}) {
      const size_t n = 19, gs = k == 96 ? 32 : k;
      const std::vector<float> f = Ramp(n * k);
      LinearWeights w;
      w.format = WeightFormat::kIntxOpaque;
      w.dtype = DType::kBF16;
      w.n = n;
      w.k = k;
      w.intx = reference::QuantizeIntxWeights(
          f.data(), n, k, gs, bits, Mapping::kAsymmetric, DType::kBF16,
          ScaleFloor::kSmallestNormal);
      auto linear = Linear::Create(w);
      ASSERT_THAT(linear, IsOk());
      SCOPED_TRACE(::testing::Message() << "bits " << bits << " k " << k);
      ExpectSamePlain((*linear)->PlainWeights(), w);
    }
  }
  LinearWeights w;
  w.n = 5;
  w.k = 7;
  w.fp32 = Ramp(35);
  auto linear = Linear::Create(w);
  ASSERT_THAT(linear, IsOk());
  ExpectSamePlain((*linear)->PlainWeights(), w);
}

// Bytes allocated, from the arenas and as separate mappings.
// The rows [begin, begin + count) of plain weights `w` as a slab.
void CopyRows(const LinearWeights& w, size_t begin, size_t count,
              LinearWeights* slab) {
  if (w.format == WeightFormat::kInt4Opaque) {
    const size_t groups = w.k / w.int4.group_size;
    Int4PlainWeights& p = slab->int4;
    p = {count, w.k, w.int4.group_size, {}, {}, {}};
    p.q.assign(w.int4.q.begin() + begin * w.k,
               w.int4.q.begin() + (begin + count) * w.k);
    p.scale.assign(w.int4.scale.begin() + begin * groups,
                   w.int4.scale.begin() + (begin + count) * groups);
    p.zero.assign(w.int4.zero.begin() + begin * groups,
                  w.int4.zero.begin() + (begin + count) * groups);
  } else {
    const size_t groups = w.k / w.intx.group_size;
    IntxPlainWeights& p = slab->intx;
    p = {count, w.k, w.intx.group_size, w.intx.bits, {}, {}, {}};
    p.q.assign(w.intx.q.begin() + begin * w.k,
               w.intx.q.begin() + (begin + count) * w.k);
    p.scale.assign(w.intx.scale.begin() + begin * groups,
                   w.intx.scale.begin() + (begin + count) * groups);
    p.zero_point.assign(w.intx.zero_point.begin() + begin * groups,
                        w.intx.zero_point.begin() + (begin + count) * groups);
  }
}

// Packing a slab of rows at a time gives the layer Create() builds, bit for
// bit, for any slab size (ragged N, a last short slab).
TEST(LinearTest, CreateStreamedEqualsCreate) {
  const size_t n = 71, k = 256;
  const std::vector<float> f = Ramp(n * k);
  std::vector<float> x = Ramp(3 * k);
  for (WeightFormat format :
       {WeightFormat::kInt4Opaque, WeightFormat::kIntxOpaque}) {
    LinearWeights w;
    w.format = format;
    w.n = n;
    w.k = k;
    w.bias = Ramp(n);
    w.activation = Activation::kSilu;
    if (format == WeightFormat::kInt4Opaque) {
      w.int4 = reference::QuantizeInt4Weights(f.data(), n, k, 64, DType::kF32);
    } else {
      w.intx = reference::QuantizeIntxWeights(f.data(), n, k, 32, 3,
                                              Mapping::kAsymmetric, DType::kF32,
                                              ScaleFloor::kSmallestNormal);
    }
    auto whole = Linear::Create(w);
    ASSERT_THAT(whole, IsOk());
    LinearWeights header = w;
    header.int4.q.clear();
    header.intx.q.clear();
    for (size_t slab_rows : {1, 16, 32, 70, 200}) {
      SCOPED_TRACE(::testing::Message()
                   << WeightFormatName(format) << " slab " << slab_rows);
      size_t calls = 0;
      auto streamed = Linear::CreateStreamed(
          header, slab_rows,
          [&](size_t begin, size_t count, LinearWeights* slab) {
            EXPECT_EQ(begin % 16, 0u);
            ++calls;
            CopyRows(w, begin, count, slab);
            return absl::OkStatus();
          });
      ASSERT_THAT(streamed, IsOk());
      const size_t rounded = (slab_rows + 15) / 16 * 16;
      EXPECT_EQ(calls, (n + rounded - 1) / rounded);
      ExpectSamePlain((*streamed)->PlainWeights(), (*whole)->PlainWeights());
      EXPECT_EQ((*streamed)->packed_bytes(), (*whole)->packed_bytes());
      for (ActQuant mode : {ActQuant::kNone, ActQuant::kInt8AsymPerToken}) {
        std::vector<float> a(3 * n), b(3 * n);
        (*streamed)->Run(x.data(), 3, mode, true, a.data());
        (*whole)->Run(x.data(), 3, mode, true, b.data());
        EXPECT_EQ(a, b);
      }
    }
  }
}

TEST(LinearTest, CreateStreamedReportsSourceAndSlabErrors) {
  const LinearWeights w = ValidInt4Layer();
  LinearWeights header = w;
  header.int4.q.clear();
  EXPECT_THAT(Linear::CreateStreamed(header, 16,
                                     [](size_t, size_t, LinearWeights*) {
                                       return absl::DataLossError("disk");
                                     }),
              StatusIs(absl::StatusCode::kDataLoss, "disk"));
  EXPECT_THAT(Linear::CreateStreamed(
                  header, 16,
                  [&](size_t begin, size_t count, LinearWeights* slab) {
                    CopyRows(w, begin, count, slab);
                    slab->int4.q[5] = 16;
                    return absl::OkStatus();
                  }),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("int4 code 16 out of range")));
  header.int4.group_size = 48;
  EXPECT_THAT(Linear::CreateStreamed(
                  header, 16,
                  [&](size_t begin, size_t count, LinearWeights* slab) {
                    CopyRows(w, begin, count, slab);
                    slab->int4.group_size = 48;
                    return absl::OkStatus();
                  }),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("group_size 48 is not one of")));
  header = w;
  header.bias.pop_back();
  EXPECT_THAT(Linear::CreateStreamed(header, 16,
                                     [](size_t, size_t, LinearWeights*) {
                                       return absl::OkStatus();
                                     }),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("bias has 7 values")));
}

size_t HeapInUse() {
  const struct mallinfo2 info = mallinfo2();
  return info.uordblks + info.hblkhd;
}

// A Linear holds its packed weights and nothing of the plain tensors it was
// built from: its own account (held_bytes) is within a small constant of
// the packed bytes, and the heap confirms it.
TEST(LinearTest, HoldsOnlyThePackedWeights) {
  {
    // mallinfo2 sees the heap only without a sanitizer's allocator.
    const size_t before = HeapInUse();
    std::vector<char> probe(1 << 20, 1);
    if (HeapInUse() < before + probe.size()) {
      GTEST_SKIP() << "mallinfo2 does not track this allocator";
    }
  }
  const size_t n = 512, k = 1024;
  const std::vector<float> f = Ramp(n * k);
  for (WeightFormat format :
       {WeightFormat::kInt4Opaque, WeightFormat::kIntxOpaque}) {
    const size_t baseline = HeapInUse();
    LinearWeights w;
    w.format = format;
    w.n = n;
    w.k = k;
    w.bias = Ramp(n);
    if (format == WeightFormat::kInt4Opaque) {
      w.int4 = reference::QuantizeInt4Weights(f.data(), n, k, 128, DType::kF32);
    } else {
      w.intx = reference::QuantizeIntxWeights(f.data(), n, k, 32, 4,
                                              Mapping::kSymmetric, DType::kF32,
                                              ScaleFloor::kSmallestNormal);
    }
    const size_t plain_codes = n * k;  // one byte per code
    auto linear = Linear::Create(std::move(w));
    ASSERT_THAT(linear, IsOk());
    const Linear& l = **linear;
    SCOPED_TRACE(WeightFormatName(format));
    EXPECT_GE(l.held_bytes(), l.packed_bytes());
    EXPECT_LE(l.held_bytes(), l.packed_bytes() + 1024);
    // 4-bit codes: the whole layer is smaller than its plain codes alone.
    EXPECT_LT(l.held_bytes(), plain_codes);
    const size_t grown = HeapInUse() - baseline;
    EXPECT_LE(grown, l.held_bytes() + 64 * 1024);
  }
}

}  // namespace
}  // namespace qlinear
