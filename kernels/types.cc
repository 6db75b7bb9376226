#include "kernels/types.h"

#include <cmath>
#include <limits>

namespace qlinear {
namespace {

template <typename E, size_t N>
std::optional<E> ParseByName(std::string_view s,
                             const std::pair<E, std::string_view> (&table)[N]) {
  for (const auto& [value, name] : table) {
    if (name == s) return value;
  }
  return std::nullopt;
}

template <typename E, size_t N>
std::string_view NameOf(E e, const std::pair<E, std::string_view> (&table)[N]) {
  for (const auto& [value, name] : table) {
    if (value == e) return name;
  }
  return "unknown";
}

constexpr std::pair<DType, std::string_view> kDTypeNames[] = {
    {DType::kF32, "fp32"}, {DType::kBF16, "bf16"}, {DType::kF16, "fp16"}};
constexpr std::pair<WeightFormat, std::string_view> kFormatNames[] = {
    {WeightFormat::kInt4Opaque, "int4_opaque"},
    {WeightFormat::kIntxOpaque, "intx_opaque"},
    {WeightFormat::kFp32, "fp32"}};
constexpr std::pair<ActQuant, std::string_view> kActQuantNames[] = {
    {ActQuant::kNone, "none"},
    {ActQuant::kInt8AsymPerToken, "int8_asym_per_token"}};
constexpr std::pair<Activation, std::string_view> kActivationNames[] = {
    {Activation::kNone, "none"},
    {Activation::kRelu, "relu"},
    {Activation::kGelu, "gelu"},
    {Activation::kGeluTanh, "gelu_tanh"},
    {Activation::kSilu, "silu"}};
constexpr std::pair<Mapping, std::string_view> kMappingNames[] = {
    {Mapping::kSymmetric, "symmetric"},
    {Mapping::kAsymmetric, "asymmetric"},
    {Mapping::kSymmetricNoClippingErr, "symmetric_no_clipping_err"}};
constexpr std::pair<ScaleFloor, std::string_view> kScaleFloorNames[] = {
    {ScaleFloor::kSmallestNormal, "smallest_normal"},
    {ScaleFloor::kFinfoEps, "finfo_eps"}};

}  // namespace

std::string_view DTypeName(DType t) { return NameOf(t, kDTypeNames); }
std::string_view WeightFormatName(WeightFormat f) {
  return NameOf(f, kFormatNames);
}
std::string_view ActQuantName(ActQuant a) { return NameOf(a, kActQuantNames); }
std::string_view ActivationName(Activation a) {
  return NameOf(a, kActivationNames);
}
std::string_view MappingName(Mapping m) { return NameOf(m, kMappingNames); }
std::string_view ScaleFloorName(ScaleFloor f) {
  return NameOf(f, kScaleFloorNames);
}

std::optional<DType> ParseDType(std::string_view s) {
  return ParseByName(s, kDTypeNames);
}
std::optional<WeightFormat> ParseWeightFormat(std::string_view s) {
  return ParseByName(s, kFormatNames);
}
std::optional<ActQuant> ParseActQuant(std::string_view s) {
  return ParseByName(s, kActQuantNames);
}
std::optional<Activation> ParseActivation(std::string_view s) {
  return ParseByName(s, kActivationNames);
}
std::optional<Mapping> ParseMapping(std::string_view s) {
  return ParseByName(s, kMappingNames);
}
std::optional<ScaleFloor> ParseScaleFloor(std::string_view s) {
  return ParseByName(s, kScaleFloorNames);
}

size_t DTypeSize(DType t) { return t == DType::kF32 ? 4 : 2; }

uint16_t FloatToFp16(float f) {
  const uint32_t u = FloatBits(f);
  const uint16_t sign = static_cast<uint16_t>((u >> 16) & 0x8000u);
  const uint32_t abs = u & 0x7fffffffu;
  if (abs > 0x7f800000u) return sign | 0x7e00u;   // NaN
  if (abs >= 0x477ff000u) return sign | 0x7c00u;  // rounds to >= 65520: inf
  if (abs >= 0x38800000u) {                       // normal half (>= 2^-14)
    uint32_t m = abs - 0x38000000u;               // rebias exponent 127 -> 15
    m += 0xfffu + ((m >> 13) & 1u);
    return sign | static_cast<uint16_t>(m >> 13);
  }
  // Subnormal half or zero: value = mant * 2^-24. Round |f| * 2^24 to even.
  const float scaled = BitsToFloat(abs) * 16777216.0f;  // exact (power of two)
  const float r = std::nearbyint(scaled);               // default mode: to even
  return sign | static_cast<uint16_t>(r);
}

float Fp16ToFloat(uint16_t h) {
  const uint32_t sign = static_cast<uint32_t>(h & 0x8000u) << 16;
  const uint32_t exp = (h >> 10) & 0x1fu;
  const uint32_t mant = h & 0x3ffu;
  if (exp == 0) {
    const float v = static_cast<float>(mant) * (1.0f / 16777216.0f);
    return sign ? -v : v;
  }
  if (exp == 31) return BitsToFloat(sign | 0x7f800000u | (mant << 13));
  return BitsToFloat(sign | ((exp + 112u) << 23) | (mant << 13));
}

float ScaleFloorValue(DType t, ScaleFloor floor) {
  switch (t) {
    case DType::kF32:
      return floor == ScaleFloor::kSmallestNormal
                 ? std::numeric_limits<float>::min()
                 : std::numeric_limits<float>::epsilon();
    case DType::kBF16:
      return floor == ScaleFloor::kSmallestNormal
                 ? std::numeric_limits<float>::min()
                 : 0.0078125f;  // 2^-7
    case DType::kF16:
      return floor == ScaleFloor::kSmallestNormal ? 6.103515625e-05f  // 2^-14
                                                  : 9.765625e-04f;    // 2^-10
  }
  return std::numeric_limits<float>::min();
}

}  // namespace qlinear
