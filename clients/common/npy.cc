#include "clients/common/npy.h"

#include <cctype>
#include <cstring>
#include <limits>

#include "absl/strings/str_cat.h"

namespace qlinear::clients {
namespace {

constexpr char kMagic[] = "\x93NUMPY";
constexpr size_t kMagicSize = 6;

absl::Status Invalid(absl::string_view what) {
  return absl::InvalidArgumentError(absl::StrCat(".npy: ", what));
}

// The text after `'key':` in a header dict, with leading spaces skipped, or
// an empty view if the key is absent.
absl::string_view ValueOf(absl::string_view header, absl::string_view key) {
  for (const char quote : {'\'', '"'}) {
    const std::string needle =
        absl::StrCat(std::string(1, quote), key, std::string(1, quote));
    size_t at = header.find(needle);
    if (at == absl::string_view::npos) continue;
    at += needle.size();
    while (at < header.size() && header[at] == ' ') ++at;
    if (at >= header.size() || header[at] != ':') return {};
    ++at;
    while (at < header.size() && header[at] == ' ') ++at;
    return header.substr(at);
  }
  return {};
}

}  // namespace

absl::StatusOr<NpyArray> ParseNpy(absl::string_view bytes) {
  if (bytes.size() < kMagicSize + 4 ||
      bytes.substr(0, kMagicSize) != absl::string_view(kMagic, kMagicSize)) {
    return Invalid("not a .npy file (no \\x93NUMPY magic)");
  }
  const int major = static_cast<unsigned char>(bytes[kMagicSize]);
  size_t header_len = 0;
  size_t header_start = 0;
  if (major == 1) {
    header_len = static_cast<unsigned char>(bytes[8]) |
                 static_cast<size_t>(static_cast<unsigned char>(bytes[9])) << 8;
    header_start = 10;
  } else if (major == 2 || major == 3) {
    if (bytes.size() < 12) return Invalid("truncated header length");
    for (int i = 3; i >= 0; --i) {
      header_len = header_len << 8 | static_cast<unsigned char>(bytes[8 + i]);
    }
    header_start = 12;
  } else {
    return Invalid(absl::StrCat("unsupported format version ", major));
  }
  if (header_len > bytes.size() - header_start) {
    return Invalid(absl::StrCat("header of ", header_len,
                                " bytes runs past the end of the file"));
  }
  const absl::string_view header = bytes.substr(header_start, header_len);

  NpyArray array;
  absl::string_view descr = ValueOf(header, "descr");
  if (descr.empty() || (descr[0] != '\'' && descr[0] != '"')) {
    return Invalid("header has no 'descr' string");
  }
  const size_t descr_end = descr.find(descr[0], 1);
  if (descr_end == absl::string_view::npos)
    return Invalid("unterminated descr");
  array.descr = std::string(descr.substr(1, descr_end - 1));
  if (array.descr != "<f4" && array.descr != "<f2") {
    return Invalid(absl::StrCat("dtype '", array.descr,
                                "' is not supported; use little-endian float32 "
                                "('<f4') or float16 ('<f2')"));
  }

  const absl::string_view fortran = ValueOf(header, "fortran_order");
  if (fortran.substr(0, 5) == "False") {
    // C order: supported.
  } else if (fortran.substr(0, 4) == "True") {
    return Invalid(
        "Fortran-order arrays are not supported; save a C-order "
        "array (numpy.ascontiguousarray)");
  } else {
    return Invalid("header has no fortran_order True/False");
  }

  absl::string_view shape = ValueOf(header, "shape");
  if (shape.empty() || shape[0] != '(') return Invalid("header has no shape");
  const size_t close = shape.find(')');
  if (close == absl::string_view::npos) return Invalid("unterminated shape");
  shape = shape.substr(1, close - 1);
  uint64_t elements = 1;
  size_t i = 0;
  while (i < shape.size()) {
    while (i < shape.size() && (shape[i] == ' ' || shape[i] == ',')) ++i;
    if (i >= shape.size()) break;
    if (!std::isdigit(static_cast<unsigned char>(shape[i]))) {
      return Invalid(absl::StrCat("bad shape '(", shape, ")'"));
    }
    uint64_t dim = 0;
    while (i < shape.size() &&
           std::isdigit(static_cast<unsigned char>(shape[i]))) {
      dim = dim * 10 + static_cast<uint64_t>(shape[i] - '0');
      if (dim > (uint64_t{1} << 40)) return Invalid("dimension too large");
      ++i;
    }
    array.shape.push_back(static_cast<int64_t>(dim));
    elements *= dim;
    if (elements > (uint64_t{1} << 40)) return Invalid("array too large");
  }
  if (array.shape.size() != 1 && array.shape.size() != 2) {
    return Invalid(absl::StrCat("rank ", array.shape.size(),
                                " is not supported; expected [K] or [M, K]"));
  }
  const size_t item = array.descr == "<f4" ? 4 : 2;
  const size_t data_start = header_start + header_len;
  const uint64_t want = elements * item;
  if (bytes.size() - data_start != want) {
    return Invalid(absl::StrCat("data is ", bytes.size() - data_start,
                                " bytes, but the shape and dtype need ", want));
  }
  array.data = std::string(bytes.substr(data_start));
  return array;
}

std::string MakeNpyFloat32(const std::vector<int64_t>& shape,
                           const std::vector<float>& values) {
  std::string dims;
  for (int64_t d : shape) absl::StrAppend(&dims, d, ",");
  if (shape.size() > 1) dims.pop_back();  // "(3,)" for rank 1, "(2,3)" else
  std::string header = absl::StrCat(
      "{'descr': '<f4', 'fortran_order': False, 'shape': (", dims, "), }");
  // Pad with spaces so that the data starts at a multiple of 64 bytes, and
  // end with a newline.
  const size_t unpadded = kMagicSize + 4 + header.size() + 1;
  header.append((64 - unpadded % 64) % 64, ' ');
  header += '\n';
  std::string out(kMagic, kMagicSize);
  out += '\x01';
  out += '\x00';
  out += static_cast<char>(header.size() & 0xff);
  out += static_cast<char>(header.size() >> 8);
  out += header;
  const size_t at = out.size();
  out.resize(at + values.size() * 4);
  if (!values.empty()) std::memcpy(&out[at], values.data(), values.size() * 4);
  return out;
}

}  // namespace qlinear::clients
