#include "model/safetensors.h"

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <limits>
#include <optional>
#include <string>
#include <tuple>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "common/check.h"
#include "common/status_macros.h"
#include "model/internal/strict_json.h"
#include "nlohmann/json.hpp"

namespace qlinear::model {
namespace {

using internal::AbslView;
using internal::Describe;
using internal::Quote;
using json = nlohmann::json;

// A header longer than this is rejected before it is parsed.
constexpr uint64_t kMaxHeaderBytes = uint64_t{100} << 20;
// Shapes printed in messages show at most this many dimensions.
constexpr size_t kMaxPrintedDims = 16;

std::string ShapeString(const std::vector<int64_t>& shape) {
  std::string out = "[";
  for (size_t i = 0; i < shape.size(); ++i) {
    if (i == kMaxPrintedDims) {
      absl::StrAppend(&out, ", ... (", shape.size(), " dims)");
      break;
    }
    absl::StrAppend(&out, i == 0 ? "" : ", ", shape[i]);
  }
  return out + "]";
}

std::string OffsetsString(uint64_t begin, uint64_t end) {
  return absl::StrCat("[", begin, ", ", end, "]");
}

template <typename... Args>
absl::Status Corrupt(const std::string& file, const Args&... args) {
  return absl::InvalidArgumentError(absl::StrCat(file, ": ", args...));
}

absl::Status TooShort(const std::string& file, uint64_t size) {
  return Corrupt(file, "file is ", size,
                 " bytes, shorter than the 8-byte header length field");
}

// The message for a header that ParseStrictJson rejects, after "file: ".
std::string HeaderJsonError(const internal::StrictJsonError& e) {
  switch (e.kind) {
    case internal::StrictJsonError::Kind::kNotJson:
      return absl::StrCat("header is not valid JSON: ", e.syntax_error);
    case internal::StrictJsonError::Kind::kTooDeep:
      return absl::StrCat("header JSON nests deeper than ",
                          internal::kMaxJsonDepth, " levels");
    case internal::StrictJsonError::Kind::kDuplicateKey:
      break;
  }
  if (e.path.empty()) {
    if (e.key == "__metadata__") return "duplicate key '__metadata__'";
    return absl::StrCat("tensor ", Quote(e.key), ": duplicate tensor name");
  }
  if (!e.path[0].is_index && e.path[0].key == "__metadata__") {
    return absl::StrCat("__metadata__: duplicate key ", Quote(e.key));
  }
  return absl::StrCat("tensor ", Quote(internal::JsonPath({e.path[0]})),
                      ": duplicate key ", Quote(e.key));
}

absl::StatusOr<json> ParseHeader(const std::string& file,
                                 std::string_view text) {
  return internal::ParseStrictJson(
      text, [&file](const internal::StrictJsonError& e) {
        return absl::StrCat(file, ": ", HeaderJsonError(e));
      });
}

// A non-negative JSON integer, or nullopt (negative, float, other type).
std::optional<uint64_t> AsNonNegativeInt(const json& v) {
  if (v.is_number_unsigned()) return v.get<uint64_t>();
  if (v.is_number_integer() && v.get<int64_t>() >= 0) {
    return static_cast<uint64_t>(v.get<int64_t>());
  }
  return std::nullopt;
}

std::optional<TensorDType> ParseTensorDType(std::string_view name) {
  for (TensorDType t :
       {TensorDType::kF32, TensorDType::kBF16, TensorDType::kF16,
        TensorDType::kU8, TensorDType::kI8}) {
    if (TensorDTypeName(t) == name) return t;
  }
  return std::nullopt;
}

// One validated header entry.
struct Entry {
  TensorView view;
  uint64_t begin = 0;
  uint64_t end = 0;
};

absl::StatusOr<Entry> ParseEntry(const std::string& file,
                                 const std::string& name, const json& value,
                                 const uint8_t* data_region,
                                 uint64_t data_size) {
  const std::string tensor = absl::StrCat("tensor ", Quote(name));
  if (!value.is_object()) {
    return Corrupt(file, tensor, ": entry is ", Describe(value),
                   ", not an object");
  }
  for (auto it = value.begin(); it != value.end(); ++it) {
    if (it.key() != "dtype" && it.key() != "shape" &&
        it.key() != "data_offsets") {
      return Corrupt(file, tensor, ": unknown key ", Quote(it.key()));
    }
  }
  for (const char* key : {"dtype", "shape", "data_offsets"}) {
    if (!value.contains(key)) {
      return Corrupt(file, tensor, ": missing key '", key, "'");
    }
  }

  Entry entry;
  entry.view.name = name;

  const json& dtype = value["dtype"];
  if (!dtype.is_string()) {
    return Corrupt(file, tensor, ": dtype is ", Describe(dtype),
                   ", not a string");
  }
  const std::optional<TensorDType> parsed_dtype =
      ParseTensorDType(dtype.get_ref<const std::string&>());
  if (!parsed_dtype.has_value()) {
    return Corrupt(file, tensor, ": unsupported dtype ",
                   Quote(dtype.get_ref<const std::string&>()),
                   " (qlinear reads F32, BF16, F16, U8 and I8)");
  }
  entry.view.dtype = *parsed_dtype;

  const json& shape = value["shape"];
  if (!shape.is_array()) {
    return Corrupt(file, tensor, ": shape is ", Describe(shape),
                   ", not an array");
  }
  entry.view.shape.reserve(shape.size());
  for (size_t i = 0; i < shape.size(); ++i) {
    const std::optional<uint64_t> dim = AsNonNegativeInt(shape[i]);
    if (!dim.has_value()) {
      return Corrupt(file, tensor, ": shape[", i, "] is ", Describe(shape[i]),
                     ", not a non-negative integer");
    }
    if (*dim > static_cast<uint64_t>(std::numeric_limits<int64_t>::max())) {
      return Corrupt(file, tensor, ": shape[", i, "] is ", *dim,
                     ", larger than 2^63-1");
    }
    entry.view.shape.push_back(static_cast<int64_t>(*dim));
  }

  const json& offsets = value["data_offsets"];
  if (!offsets.is_array() || offsets.size() != 2) {
    return Corrupt(file, tensor, ": data_offsets is ", Describe(offsets),
                   offsets.is_array()
                       ? absl::StrCat(" of ", offsets.size(), " entries")
                       : "",
                   ", not an array of 2 integers [begin, end]");
  }
  for (size_t i = 0; i < 2; ++i) {
    if (!AsNonNegativeInt(offsets[i]).has_value()) {
      return Corrupt(file, tensor, ": data_offsets[", i, "] is ",
                     Describe(offsets[i]), ", not a non-negative integer");
    }
  }
  entry.begin = *AsNonNegativeInt(offsets[0]);
  entry.end = *AsNonNegativeInt(offsets[1]);
  const std::string offsets_text = OffsetsString(entry.begin, entry.end);
  if (entry.begin > entry.end) {
    return Corrupt(file, tensor, ": data_offsets ", offsets_text,
                   ": begin is after end");
  }

  // Byte size = product(shape) * element size, without overflow. A zero
  // dimension makes the tensor empty whatever the other dimensions are.
  const std::string shape_text =
      absl::StrCat(ShapeString(entry.view.shape), " x ",
                   AbslView(TensorDTypeName(entry.view.dtype)));
  uint64_t bytes = TensorDTypeSize(entry.view.dtype);
  bool overflow = false;
  for (int64_t dim : entry.view.shape) {
    if (dim == 0) {
      bytes = 0;
      overflow = false;
      break;
    }
    if (!overflow &&
        __builtin_mul_overflow(bytes, static_cast<uint64_t>(dim), &bytes)) {
      overflow = true;
    }
  }
  if (overflow) {
    return Corrupt(file, tensor, ": shape ", shape_text,
                   " is too large: its byte size overflows 64 bits");
  }
  if (bytes != entry.end - entry.begin) {
    return Corrupt(file, tensor, ": data_offsets ", offsets_text, " hold ",
                   entry.end - entry.begin, " bytes but shape ", shape_text,
                   " needs ", bytes);
  }
  if (entry.end > data_size) {
    return Corrupt(file, tensor, ": data_offsets ", offsets_text,
                   " end past the data region of ", data_size, " bytes");
  }
  entry.view.data = data_region + entry.begin;
  entry.view.size_bytes = static_cast<size_t>(bytes);
  return entry;
}

absl::Status ParseMetadata(const std::string& file, const json& value,
                           std::map<std::string, std::string>* metadata) {
  if (!value.is_object()) {
    return Corrupt(file, "__metadata__ is ", Describe(value),
                   ", not an object of strings");
  }
  for (auto it = value.begin(); it != value.end(); ++it) {
    if (!it.value().is_string()) {
      return Corrupt(file, "__metadata__: value of ", Quote(it.key()), " is ",
                     Describe(it.value()), ", not a string");
    }
    (*metadata)[it.key()] = it.value().get<std::string>();
  }
  return absl::OkStatus();
}

// Validates the safetensors bytes `data[0, size)` and fills `tensors` (sorted
// by data offset) and `metadata`. `file` starts every message.
absl::Status ParseInto(const std::string& file, const uint8_t* data,
                       size_t size, std::vector<TensorView>* tensors,
                       std::map<std::string, std::string>* metadata) {
  if (size < 8) return TooShort(file, size);
  uint64_t header_size = 0;
  for (int i = 7; i >= 0; --i) header_size = (header_size << 8) | data[i];
  if (header_size > kMaxHeaderBytes) {
    return Corrupt(file, "header length ", header_size,
                   " exceeds the limit of ", kMaxHeaderBytes,
                   " bytes (100 MiB)");
  }
  if (header_size > size - 8) {
    return Corrupt(file, "header length ", header_size, " exceeds the ",
                   size - 8, " bytes after the length field");
  }
  const std::string_view header_text(reinterpret_cast<const char*>(data + 8),
                                     static_cast<size_t>(header_size));
  QL_ASSIGN_OR_RETURN(const json header, ParseHeader(file, header_text));
  if (!header.is_object()) {
    return Corrupt(file, "header is ", Describe(header), ", not a JSON object");
  }

  const uint8_t* data_region = data + 8 + header_size;
  const uint64_t data_size = size - 8 - header_size;
  std::vector<Entry> entries;
  entries.reserve(header.size());
  for (auto it = header.begin(); it != header.end(); ++it) {
    if (it.key() == "__metadata__") {
      QL_RETURN_IF_ERROR(ParseMetadata(file, it.value(), metadata));
      continue;
    }
    QL_ASSIGN_OR_RETURN(Entry entry, ParseEntry(file, it.key(), it.value(),
                                                data_region, data_size));
    entries.push_back(std::move(entry));
  }

  std::sort(entries.begin(), entries.end(), [](const Entry& a, const Entry& b) {
    return std::tie(a.begin, a.end, a.view.name) <
           std::tie(b.begin, b.end, b.view.name);
  });
  // Sorted by begin, the first overlap is with the last non-empty tensor.
  const Entry* previous = nullptr;
  for (const Entry& entry : entries) {
    if (entry.begin == entry.end) continue;  // empty: allowed anywhere
    if (previous != nullptr && entry.begin < previous->end) {
      return Corrupt(file, "tensor ", Quote(entry.view.name), ": data_offsets ",
                     OffsetsString(entry.begin, entry.end), " overlap tensor ",
                     Quote(previous->view.name), " at ",
                     OffsetsString(previous->begin, previous->end));
    }
    previous = &entry;
  }

  tensors->clear();
  tensors->reserve(entries.size());
  for (Entry& entry : entries) tensors->push_back(std::move(entry.view));
  return absl::OkStatus();
}

}  // namespace

std::string_view TensorDTypeName(TensorDType t) {
  switch (t) {
    case TensorDType::kF32:
      return "F32";
    case TensorDType::kBF16:
      return "BF16";
    case TensorDType::kF16:
      return "F16";
    case TensorDType::kU8:
      return "U8";
    case TensorDType::kI8:
      return "I8";
  }
  return "unknown";
}

size_t TensorDTypeSize(TensorDType t) {
  switch (t) {
    case TensorDType::kF32:
      return 4;
    case TensorDType::kBF16:
    case TensorDType::kF16:
      return 2;
    case TensorDType::kU8:
    case TensorDType::kI8:
      return 1;
  }
  return 1;
}

int64_t TensorView::num_elements() const {
  // Unsigned arithmetic: wraps instead of undefined behavior on a shape that
  // did not come from a validated file.
  uint64_t n = 1;
  for (int64_t dim : shape) n *= static_cast<uint64_t>(dim);
  return static_cast<int64_t>(n);
}

absl::StatusOr<std::unique_ptr<SafetensorsFile>> SafetensorsFile::Open(
    const std::string& path) {
  int fd;
  do {
    // Non-blocking: a FIFO in place of the file must not hang the load.
    fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NONBLOCK);
  } while (fd < 0 && errno == EINTR);
  if (fd < 0) {
    const int error = errno;
    if (error == ENOENT || error == ENOTDIR) {
      return absl::NotFoundError(absl::StrCat(path, ": no such file"));
    }
    return Corrupt(path, "cannot open: ", std::strerror(error));
  }
  struct stat st;
  if (::fstat(fd, &st) != 0) {
    const int error = errno;
    ::close(fd);
    return Corrupt(path, "cannot stat: ", std::strerror(error));
  }
  if (!S_ISREG(st.st_mode)) {
    ::close(fd);
    return Corrupt(path, "not a regular file");
  }
  const size_t size = static_cast<size_t>(st.st_size);
  if (size < 8) {  // also avoids mmap of an empty file, which fails
    ::close(fd);
    return TooShort(path, size);
  }
  void* mapping = ::mmap(nullptr, size, PROT_READ, MAP_PRIVATE, fd, 0);
  const int mmap_error = errno;
  ::close(fd);  // the mapping keeps the file open
  if (mapping == MAP_FAILED) {
    return Corrupt(path, "cannot map: ", std::strerror(mmap_error));
  }
  std::unique_ptr<SafetensorsFile> file(new SafetensorsFile());
  file->mapping_ = mapping;
  file->mapping_size_ = size;
  QL_RETURN_IF_ERROR(ParseInto(path, static_cast<const uint8_t*>(mapping), size,
                               &file->tensors_, &file->metadata_));
  return file;
}

absl::StatusOr<std::unique_ptr<SafetensorsFile>> SafetensorsFile::Parse(
    const uint8_t* data, size_t size) {
  QL_DCHECK(data != nullptr || size == 0);
  std::unique_ptr<SafetensorsFile> file(new SafetensorsFile());
  QL_RETURN_IF_ERROR(
      ParseInto("safetensors", data, size, &file->tensors_, &file->metadata_));
  return file;
}

SafetensorsFile::~SafetensorsFile() {
  if (mapping_ != nullptr) ::munmap(mapping_, mapping_size_);
}

void SafetensorsFile::Release(const uint8_t* data, size_t size) const {
  if (mapping_ == nullptr || size == 0) return;
  const uintptr_t base = reinterpret_cast<uintptr_t>(mapping_);
  const uintptr_t page = static_cast<uintptr_t>(::sysconf(_SC_PAGESIZE));
  const uintptr_t begin = reinterpret_cast<uintptr_t>(data);
  if (begin < base || begin + size > base + mapping_size_) return;
  const uintptr_t first = (begin + page - 1) / page * page;
  const uintptr_t last = (begin + size) / page * page;
  // Advice only: a failure leaves the pages resident, which is harmless.
  if (last > first) {
    ::madvise(reinterpret_cast<void*>(first), last - first, MADV_DONTNEED);
  }
}

const TensorView* SafetensorsFile::Find(std::string_view name) const {
  for (const TensorView& t : tensors_) {
    if (t.name == name) return &t;
  }
  return nullptr;
}

std::string WriteSafetensors(
    const std::vector<TensorView>& tensors,
    const std::map<std::string, std::string>& metadata) {
  using ordered_json = nlohmann::ordered_json;
  ordered_json header = ordered_json::object();
  if (!metadata.empty()) {
    ordered_json meta = ordered_json::object();
    for (const auto& [key, value] : metadata) meta[key] = value;
    header["__metadata__"] = std::move(meta);
  }
  uint64_t offset = 0;
  for (const TensorView& t : tensors) {
    QL_DCHECK(t.size_bytes == static_cast<uint64_t>(t.num_elements()) *
                                  TensorDTypeSize(t.dtype));
    QL_DCHECK(!header.contains(t.name));
    ordered_json entry = ordered_json::object();
    entry["dtype"] = std::string(TensorDTypeName(t.dtype));
    entry["shape"] = t.shape;
    entry["data_offsets"] =
        ordered_json::array({offset, offset + t.size_bytes});
    header[t.name] = std::move(entry);
    offset += t.size_bytes;
  }
  std::string header_text = header.dump(-1, ' ', /*ensure_ascii=*/false,
                                        ordered_json::error_handler_t::replace);
  // Pad with spaces so that the data starts 8-byte aligned.
  header_text.append((8 - header_text.size() % 8) % 8, ' ');

  std::string out;
  out.reserve(8 + header_text.size() + offset);
  const uint64_t header_size = header_text.size();
  for (int i = 0; i < 8; ++i) {
    out.push_back(static_cast<char>((header_size >> (8 * i)) & 0xff));
  }
  out += header_text;
  for (const TensorView& t : tensors) {
    if (t.size_bytes > 0) {
      out.append(reinterpret_cast<const char*>(t.data), t.size_bytes);
    }
  }
  return out;
}

}  // namespace qlinear::model
