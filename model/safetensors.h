// A validating reader of the safetensors format: an 8-byte little-endian
// header length, a JSON header, then the tensor data.
//
// SafetensorsFile is immutable after Open()/Parse(); safe to share between
// threads. Tensor views point into the mapping (or the caller's buffer) and
// stay valid as long as the SafetensorsFile (or that buffer) lives.
#ifndef QLINEAR_MODEL_SAFETENSORS_H_
#define QLINEAR_MODEL_SAFETENSORS_H_

#include <cstddef>
#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"
#include "kernels/types.h"

namespace qlinear::model {

// The element types qlinear reads. Other safetensors dtypes are rejected.
enum class TensorDType { kF32, kBF16, kF16, kU8, kI8 };

std::string_view TensorDTypeName(TensorDType t);  // "F32", "BF16", ...
size_t TensorDTypeSize(TensorDType t);

// The tensor dtype that stores values of model dtype `t`.
inline TensorDType TensorDTypeOf(DType t) {
  switch (t) {
    case DType::kF32:
      return TensorDType::kF32;
    case DType::kBF16:
      return TensorDType::kBF16;
    case DType::kF16:
      return TensorDType::kF16;
  }
  return TensorDType::kF32;
}

// The model dtype of the float tensor dtype `t` (kF32, kBF16 or kF16); the
// integer dtypes give kF32.
inline DType FloatDTypeOf(TensorDType t) {
  return t == TensorDType::kBF16
             ? DType::kBF16
             : (t == TensorDType::kF16 ? DType::kF16 : DType::kF32);
}

struct TensorView {
  std::string name;
  TensorDType dtype;
  std::vector<int64_t> shape;
  const uint8_t* data = nullptr;  // little-endian, possibly unaligned
  size_t size_bytes = 0;          // = product(shape) * element size

  int64_t num_elements() const;
};

class SafetensorsFile {
 public:
  // Maps `path` read-only and validates it.
  // Errors: NOT_FOUND (no such file), INVALID_ARGUMENT (corrupt: the message
  // names the file, the tensor or field, and the problem).
  static absl::StatusOr<std::unique_ptr<SafetensorsFile>> Open(
      const std::string& path);

  // Validates a buffer already in memory; views point into `data`, which the
  // caller keeps alive. Same errors as Open(). Used by tests and fuzzers.
  static absl::StatusOr<std::unique_ptr<SafetensorsFile>> Parse(
      const uint8_t* data, size_t size);

  ~SafetensorsFile();
  SafetensorsFile(const SafetensorsFile&) = delete;
  SafetensorsFile& operator=(const SafetensorsFile&) = delete;

  // nullptr when there is no tensor `name`.
  const TensorView* Find(std::string_view name) const;
  // All tensors, in file order of their data offsets.
  const std::vector<TensorView>& tensors() const { return tensors_; }
  // Tells the kernel that the mapped pages wholly inside [data, data + size)
  // are no longer needed, so they leave the process's resident set; a later
  // read of them faults them back in from the file (views stay valid). A
  // no-op for Parse()d buffers and ranges outside the mapping. The loader calls
  // it for each slab of source rows it has consumed, so a load holds about
  // one slab of a layer's source at a time.
  void Release(const uint8_t* data, size_t size) const;
  void Release(const TensorView& view) const {
    Release(view.data, view.size_bytes);
  }

  // The optional "__metadata__" string map.
  const std::map<std::string, std::string>& metadata() const {
    return metadata_;
  }

 private:
  SafetensorsFile() = default;

  void* mapping_ = nullptr;  // owned mmap, or nullptr for Parse()
  size_t mapping_size_ = 0;
  std::vector<TensorView> tensors_;
  std::map<std::string, std::string> metadata_;
};

// Serializes tensors to the safetensors format (for tests, qlinear-convert
// and the default model). `data` of each view is copied.
std::string WriteSafetensors(
    const std::vector<TensorView>& tensors,
    const std::map<std::string, std::string>& metadata = {});

}  // namespace qlinear::model

#endif  // QLINEAR_MODEL_SAFETENSORS_H_
