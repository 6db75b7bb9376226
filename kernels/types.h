// Scalar types and enums shared by kernels, model and server.
//
// The enum names below are part of the manifest, the wire protocol and the
// metric labels: do not rename or renumber them.
#ifndef QLINEAR_KERNELS_TYPES_H_
#define QLINEAR_KERNELS_TYPES_H_

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <optional>
#include <string_view>

namespace qlinear {

// Activation (and output) element type of a model.
enum class DType : int { kF32 = 0, kBF16 = 1, kF16 = 2 };

// How a layer's weights are quantized.
enum class WeightFormat : int { kInt4Opaque = 0, kIntxOpaque = 1, kFp32 = 2 };

// Dynamic activation quantization applied per request.
enum class ActQuant : int { kNone = 0, kInt8AsymPerToken = 1 };

// Activation function applied after a layer's bias.
enum class Activation : int {
  kNone = 0,
  kRelu = 1,
  kGelu = 2,      // erf form
  kGeluTanh = 3,  // tanh approximation
  kSilu = 4,
};

// Intx weight mappings (docs/numerics.md, "Weights: intx_opaque").
enum class Mapping : int {
  kSymmetric = 0,
  kAsymmetric = 1,
  kSymmetricNoClippingErr = 2,
};

// Floor applied to quantization scales: torchao >= 0.18 uses the dtype's
// smallest normal; <= 0.17 used finfo(dtype).eps (docs/numerics.md, "Scale
// floor").
enum class ScaleFloor : int { kSmallestNormal = 0, kFinfoEps = 1 };

// Canonical lower-case names, as in model.json and metric labels.
std::string_view DTypeName(DType t);
std::string_view WeightFormatName(WeightFormat f);
std::string_view ActQuantName(ActQuant a);
std::string_view ActivationName(Activation a);
std::string_view MappingName(Mapping m);
std::string_view ScaleFloorName(ScaleFloor f);

// Inverse of the names above; nullopt for an unknown name.
std::optional<DType> ParseDType(std::string_view s);
std::optional<WeightFormat> ParseWeightFormat(std::string_view s);
std::optional<ActQuant> ParseActQuant(std::string_view s);
std::optional<Activation> ParseActivation(std::string_view s);
std::optional<Mapping> ParseMapping(std::string_view s);
std::optional<ScaleFloor> ParseScaleFloor(std::string_view s);

// Bytes per element of `t` (4 or 2).
size_t DTypeSize(DType t);

// --- Conversions (round to nearest even, IEEE special values kept) --------

inline uint32_t FloatBits(float f) {
  uint32_t u;
  std::memcpy(&u, &f, sizeof(u));
  return u;
}
inline float BitsToFloat(uint32_t u) {
  float f;
  std::memcpy(&f, &u, sizeof(f));
  return f;
}

inline uint16_t FloatToBf16(float f) {
  uint32_t u = FloatBits(f);
  if ((u & 0x7fffffffu) > 0x7f800000u)
    return static_cast<uint16_t>((u >> 16) | 0x40);  // quiet NaN
  u += 0x7fffu + ((u >> 16) & 1u);
  return static_cast<uint16_t>(u >> 16);
}
inline float Bf16ToFloat(uint16_t h) {
  return BitsToFloat(static_cast<uint32_t>(h) << 16);
}

uint16_t FloatToFp16(float f);
float Fp16ToFloat(uint16_t h);

// R_T of docs/numerics.md ("Notation"): rounds an fp32 value to `t` and back
// to fp32.
inline float RoundTo(DType t, float x) {
  switch (t) {
    case DType::kF32:
      return x;
    case DType::kBF16:
      return Bf16ToFloat(FloatToBf16(x));
    case DType::kF16:
      return Fp16ToFloat(FloatToFp16(x));
  }
  return x;
}

// Reads element `i` of a little-endian array of `t` as fp32.
inline float LoadAsFloat(DType t, const void* data, size_t i) {
  const auto* p = static_cast<const unsigned char*>(data);
  switch (t) {
    case DType::kF32: {
      float f;
      std::memcpy(&f, p + 4 * i, 4);
      return f;
    }
    case DType::kBF16: {
      uint16_t h;
      std::memcpy(&h, p + 2 * i, 2);
      return Bf16ToFloat(h);
    }
    case DType::kF16: {
      uint16_t h;
      std::memcpy(&h, p + 2 * i, 2);
      return Fp16ToFloat(h);
    }
  }
  return 0.0f;
}

// Writes `x` rounded to `t` as element `i` of a little-endian array.
inline void StoreFromFloat(DType t, float x, void* data, size_t i) {
  auto* p = static_cast<unsigned char*>(data);
  switch (t) {
    case DType::kF32:
      std::memcpy(p + 4 * i, &x, 4);
      return;
    case DType::kBF16: {
      uint16_t h = FloatToBf16(x);
      std::memcpy(p + 2 * i, &h, 2);
      return;
    }
    case DType::kF16: {
      uint16_t h = FloatToFp16(x);
      std::memcpy(p + 2 * i, &h, 2);
      return;
    }
  }
}

// Scale floor for dtype `t` under policy `floor`, as an fp32 value.
float ScaleFloorValue(DType t, ScaleFloor floor);

}  // namespace qlinear

#endif  // QLINEAR_KERNELS_TYPES_H_
