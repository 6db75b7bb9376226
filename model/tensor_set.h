// TensorSet: tensors built in memory, for WriteSafetensors() (qlinear-convert
// and tests). Thread-compatible: one owner at a time.
#ifndef QLINEAR_MODEL_TENSOR_SET_H_
#define QLINEAR_MODEL_TENSOR_SET_H_

#include <cstdint>
#include <cstring>
#include <deque>
#include <map>
#include <string>
#include <utility>
#include <vector>

#include "kernels/types.h"
#include "model/safetensors.h"

namespace qlinear::model {

// Owns the bytes of the tensors added to it; views() point into them and
// stay valid, at the same addresses, as long as the TensorSet lives (adding
// more tensors does not move them). Header-only.
class TensorSet {
 public:
  // Adds tensor `name` holding `bytes`, which must be product(shape) elements
  // of `dtype`, little-endian.
  void Add(const std::string& name, TensorDType dtype,
           std::vector<int64_t> shape, std::string bytes) {
    blobs_.push_back(std::move(bytes));
    views_.push_back({name, dtype, std::move(shape),
                      reinterpret_cast<const uint8_t*>(blobs_.back().data()),
                      blobs_.back().size()});
  }
  // Adds `v` stored as model dtype `t` (TensorDTypeOf(t)), each value
  // rounded as StoreFromFloat() does.
  void AddFloats(const std::string& name, DType t, std::vector<int64_t> shape,
                 const std::vector<float>& v) {
    std::string bytes(v.size() * DTypeSize(t), '\0');
    for (size_t i = 0; i < v.size(); ++i) {
      StoreFromFloat(t, v[i], bytes.data(), i);
    }
    Add(name, TensorDTypeOf(t), std::move(shape), std::move(bytes));
  }
  // Adds the one-byte values `v` (codes, zero points) as `dtype`.
  template <typename T>
  void AddBytes(const std::string& name, TensorDType dtype,
                std::vector<int64_t> shape, const std::vector<T>& v) {
    static_assert(sizeof(T) == 1);
    std::string bytes(v.size(), '\0');
    if (!v.empty()) std::memcpy(bytes.data(), v.data(), v.size());
    Add(name, dtype, std::move(shape), std::move(bytes));
  }
  // Sets the "__metadata__" entry `key` that Serialize() writes.
  void AddMetadata(const std::string& key, const std::string& value) {
    metadata_[key] = value;
  }

  // Bytes of the last tensor added. REQUIRES: one was added.
  size_t last_bytes() const { return blobs_.back().size(); }
  // The tensors, in the order added.
  const std::vector<TensorView>& views() const { return views_; }
  // The safetensors file of the tensors and metadata (WriteSafetensors()).
  std::string Serialize() const { return WriteSafetensors(views_, metadata_); }

 private:
  std::deque<std::string> blobs_;  // a deque: stable addresses
  std::vector<TensorView> views_;
  std::map<std::string, std::string> metadata_;
};

}  // namespace qlinear::model

#endif  // QLINEAR_MODEL_TENSOR_SET_H_
