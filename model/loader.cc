#include "model/loader.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cmath>
#include <cstring>
#include <map>
#include <string>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "common/status_macros.h"
#include "kernels/reference/quantize.h"
#include "model/internal/strict_json.h"
#include "nlohmann/json.hpp"

namespace qlinear::model {
namespace {

using internal::Describe;
using internal::Quote;
using json = nlohmann::json;
using reference::IntxQMax;
using reference::IntxQMin;

std::string ShapeString(const std::vector<int64_t>& shape) {
  return absl::StrCat("[", absl::StrJoin(shape, ", "), "]");
}

absl::Status TensorError(const std::string& name, const std::string& problem) {
  return absl::InvalidArgumentError(
      absl::StrCat("tensor '", name, "': ", problem));
}

// Finds `name` and checks its shape; `dtype_ok` says which dtypes are allowed
// and `expected_dtypes` names them for the message.
absl::StatusOr<const TensorView*> GetTensor(
    const SafetensorsFile& file, const std::string& name,
    const std::string& layer, const std::vector<int64_t>& shape,
    const std::vector<TensorDType>& dtypes) {
  const TensorView* t = file.Find(name);
  if (t == nullptr) {
    return TensorError(name,
                       absl::StrCat("missing (needed by layer '", layer, "')"));
  }
  bool dtype_ok = false;
  std::vector<std::string> names;
  for (TensorDType d : dtypes) {
    dtype_ok |= d == t->dtype;
    names.emplace_back(TensorDTypeName(d));
  }
  if (!dtype_ok) {
    return TensorError(
        name, absl::StrCat("dtype ", std::string(TensorDTypeName(t->dtype)),
                           ", expected ", absl::StrJoin(names, " or ")));
  }
  if (t->shape != shape) {
    return TensorError(name, absl::StrCat("shape ", ShapeString(t->shape),
                                          ", expected ", ShapeString(shape)));
  }
  return t;
}

// Float tensor values rounded to `t`; rejects non-finite values.
// Elements [begin, begin + count) of a float tensor, rounded to t.
absl::Status ReadFloatRange(const TensorView& view, DType t, size_t begin,
                            size_t count, std::vector<float>* out) {
  const DType src = FloatDTypeOf(view.dtype);
  out->resize(count);
  for (size_t i = 0; i < count; ++i) {
    const float v = LoadAsFloat(src, view.data, begin + i);
    if (!std::isfinite(v)) {
      return TensorError(view.name,
                         absl::StrCat("element ", begin + i, " is not finite"));
    }
    (*out)[i] = RoundTo(t, v);
  }
  return absl::OkStatus();
}

absl::StatusOr<std::vector<float>> ReadFloats(const TensorView& view, DType t) {
  std::vector<float> out;
  QL_RETURN_IF_ERROR(ReadFloatRange(
      view, t, 0, static_cast<size_t>(view.num_elements()), &out));
  return out;
}

// An error of Linear::Create for the layer `spec`.
absl::Status LayerError(const LayerSpec& spec, const absl::Status& status) {
  return absl::InvalidArgumentError(
      absl::StrCat("layer '", spec.name, "': ", status.message()));
}

// Rows of a slab of a streamed load: about 1M weights.
size_t SlabRows(size_t k) { return std::max<size_t>(1, (size_t{1} << 20) / k); }

// Releases the mapped pages of rows [row_begin, row_begin + rows) of the
// source tensor `view` (rows along its first dimension) once consumed.
void ReleaseRows(const SafetensorsFile& file, const TensorView& view,
                 size_t row_begin, size_t rows) {
  const size_t row_bytes =
      view.size_bytes /
      static_cast<size_t>(std::max<int64_t>(1, view.shape[0]));
  file.Release(view.data + row_begin * row_bytes, rows * row_bytes);
}

// Writes the plain weights of rows [row_begin, row_begin + rows) of a layer
// into `slab` (Linear::RowSource), from the layer's source tensors, and
// releases the mapped ranges it has read.
using SlabSource = Linear::RowSource;

// The quantized layer `spec` (int4_opaque or intx_opaque), packed by
// Linear::CreateStreamed a slab of SlabRows(in_features) rows at a time from
// `source`, whatever the source's kind: the load holds neither a float copy
// nor the plain codes of the whole layer. `header` holds everything but the
// plain tensors. Errors of the source tensors are reported as they are, those
// of Linear with the layer named.
absl::StatusOr<std::unique_ptr<Linear>> BuildStreamed(
    const LayerSpec& spec, const LinearWeights& header,
    const SlabSource& source) {
  absl::Status source_error;
  const auto rows = [&](size_t row_begin, size_t count, LinearWeights* slab) {
    source_error = source(row_begin, count, slab);
    return source_error;
  };
  absl::StatusOr<std::unique_ptr<Linear>> linear =
      Linear::CreateStreamed(header, SlabRows(spec.in_features), rows);
  if (!source_error.ok()) return source_error;
  if (!linear.ok()) return LayerError(spec, linear.status());
  return linear;
}

// The slabs of a float source quantized to the layer's format (rows are
// quantized independently, so slab-wise equals whole-matrix quantization).
SlabSource FloatSlabs(const Manifest& manifest, const LayerSpec& spec,
                      const SafetensorsFile& file, const TensorView& view) {
  return [&manifest, &spec, &file, &view, values = std::vector<float>()](
             size_t row_begin, size_t rows,
             LinearWeights* slab) mutable -> absl::Status {
    const size_t k = spec.in_features;
    QL_RETURN_IF_ERROR(
        ReadFloatRange(view, manifest.dtype, row_begin * k, rows * k, &values));
    ReleaseRows(file, view, row_begin, rows);
    if (spec.format == WeightFormat::kInt4Opaque) {
      slab->int4 = reference::QuantizeInt4Weights(
          values.data(), rows, k, spec.group_size, manifest.dtype);
    } else {
      slab->intx = reference::QuantizeIntxWeights(
          values.data(), rows, k, spec.group_size, spec.bits, spec.mapping,
          manifest.dtype, manifest.scale_floor);
    }
    return absl::OkStatus();
  };
}

// The slabs of an int4_plain source (docs/manifest.md, "int4_plain"):
// qweight as nibble pairs [N, K/2] (U8) or one code per byte [N, K] (U8 or
// I8), scales and zeros [N, K/group_size]. The qweight is looked up here, the
// scales and zeros with the first slab, after its codes are checked, so the
// first problem of a file is the one reported.
absl::StatusOr<SlabSource> Int4PlainSlabs(const Manifest& manifest,
                                          const LayerSpec& spec,
                                          const SafetensorsFile& file) {
  const int64_t n = static_cast<int64_t>(spec.out_features);
  const int64_t k = static_cast<int64_t>(spec.in_features);
  const std::string qweight_name = spec.name + ".qweight";
  const TensorView* found = file.Find(qweight_name);
  const bool unpacked =
      found != nullptr && found->shape.size() == 2 && found->shape[1] == k;
  QL_ASSIGN_OR_RETURN(const TensorView* qweight,
                      unpacked
                          ? GetTensor(file, qweight_name, spec.name, {n, k},
                                      {TensorDType::kU8, TensorDType::kI8})
                          : GetTensor(file, qweight_name, spec.name, {n, k / 2},
                                      {TensorDType::kU8}));
  const int64_t groups = k / static_cast<int64_t>(spec.group_size);
  return
      [&manifest, &spec, &file, qweight, unpacked, n, groups](
          size_t row_begin, size_t rows, LinearWeights* slab) -> absl::Status {
        const size_t cols = spec.in_features;
        const size_t g = static_cast<size_t>(groups);
        Int4PlainWeights& p = slab->int4;
        p.n = rows;
        p.k = cols;
        p.group_size = spec.group_size;
        p.q.resize(rows * cols);
        if (unpacked) {
          const uint8_t* codes = qweight->data + row_begin * cols;
          for (size_t i = 0; i < rows * cols; ++i) {
            const int code = qweight->dtype == TensorDType::kI8
                                 ? static_cast<int8_t>(codes[i])
                                 : codes[i];
            if (code < 0 || code > 15) {
              const size_t at = row_begin * cols + i;
              return TensorError(
                  qweight->name,
                  absl::StrCat("code ", code, " at [", at / cols, ", ",
                               at % cols, "] is out of range 0..15"));
            }
            p.q[i] = static_cast<uint8_t>(code);
          }
        } else {
          const uint8_t* pairs = qweight->data + row_begin * cols / 2;
          for (size_t i = 0; i < rows * cols / 2; ++i) {
            p.q[2 * i] = pairs[i] & 0x0f;  // low nibble: even k
            p.q[2 * i + 1] = pairs[i] >> 4;
          }
        }
        ReleaseRows(file, *qweight, row_begin, rows);
        const TensorDType scale_dtype = TensorDTypeOf(manifest.dtype);
        QL_ASSIGN_OR_RETURN(const TensorView* scales,
                            GetTensor(file, spec.name + ".scales", spec.name,
                                      {n, groups}, {scale_dtype}));
        QL_ASSIGN_OR_RETURN(const TensorView* zeros,
                            GetTensor(file, spec.name + ".zeros", spec.name,
                                      {n, groups}, {scale_dtype}));
        QL_RETURN_IF_ERROR(ReadFloatRange(*scales, manifest.dtype,
                                          row_begin * g, rows * g, &p.scale));
        QL_RETURN_IF_ERROR(ReadFloatRange(*zeros, manifest.dtype, row_begin * g,
                                          rows * g, &p.zero));
        ReleaseRows(file, *scales, row_begin, rows);
        ReleaseRows(file, *zeros, row_begin, rows);
        return absl::OkStatus();
      };
}

// The torch dtype name torchao's metadata uses for `t`.
std::string_view TorchDTypeName(DType t) {
  switch (t) {
    case DType::kF32:
      return "float32";
    case DType::kBF16:
      return "bfloat16";
    case DType::kF16:
      return "float16";
  }
  return "float32";
}

// A JSON value for a message: strings single-quoted, the rest described.
std::string ValueText(const json& v) {
  return v.is_string() ? Quote(v.get<std::string>()) : Describe(v);
}

// The name of a {"_type": "torch.dtype", "_data": name} value, or "" when
// `v` is something else.
std::string TorchDTypeOf(const json& v) {
  if (!v.is_object()) return "";
  const auto type = v.find("_type");
  const auto data = v.find("_data");
  if (type == v.end() || data == v.end() || !type->is_string() ||
      *type != "torch.dtype" || !data->is_string()) {
    return "";
  }
  return data->get<std::string>();
}

// Parses one __metadata__ value written by torchao (a JSON object in a
// string); errors name the original tensor key.
absl::StatusOr<json> ParseMetadataEntry(const std::string& key,
                                        const std::string& text) {
  absl::StatusOr<json> parsed = internal::ParseStrictJson(
      text, [&key](const internal::StrictJsonError& e) {
        return absl::StrCat("tensor '", key,
                            "': __metadata__ value is not valid JSON");
      });
  if (!parsed.ok()) return parsed.status();
  if (!parsed->is_object()) {
    return TensorError(key,
                       absl::StrCat("__metadata__ value is ", Describe(*parsed),
                                    ", not a JSON object"));
  }
  return parsed;
}

// Cross-checks torchao's safetensors __metadata__ (docs/manifest.md,
// "torchao_intx"),
// when the file has it, against the manifest: the weight's class, block size,
// target dtype (bits) and dtype, and that the bias is a plain tensor. A file
// without metadata for the layer is accepted as it is.
absl::Status CheckTorchaoMetadata(const Manifest& manifest,
                                  const LayerSpec& spec,
                                  const SafetensorsFile& file) {
  const std::map<std::string, std::string>& metadata = file.metadata();
  const auto names = metadata.find("tensor_names");
  if (names != metadata.end()) {
    absl::StatusOr<json> list = internal::ParseStrictJson(
        names->second, [](const internal::StrictJsonError&) {
          return std::string("__metadata__ 'tensor_names' is not valid JSON");
        });
    if (!list.ok()) return list.status();
    if (!list->is_array()) {
      return absl::InvalidArgumentError(
          absl::StrCat("__metadata__ 'tensor_names' is ", Describe(*list),
                       ", not a JSON list of tensor names"));
    }
    for (const json& name : *list) {
      if (!name.is_string()) {
        return absl::InvalidArgumentError(
            absl::StrCat("__metadata__ 'tensor_names' holds ", Describe(name),
                         ", not a tensor name"));
      }
      if (metadata.find(name.get<std::string>()) == metadata.end()) {
        return TensorError(name.get<std::string>(),
                           "listed in __metadata__ 'tensor_names' but has no "
                           "__metadata__ entry");
      }
    }
  }

  const std::string weight_key = spec.name + ".weight";
  const auto entry = metadata.find(weight_key);
  if (entry != metadata.end()) {
    QL_ASSIGN_OR_RETURN(const json meta,
                        ParseMetadataEntry(weight_key, entry->second));
    const auto type = meta.find("_type");
    if (type == meta.end() || !type->is_string() ||
        *type != "IntxUnpackedToInt8Tensor") {
      return TensorError(
          weight_key,
          absl::StrCat("__metadata__ _type is ",
                       type == meta.end() ? "missing" : ValueText(*type),
                       ", expected 'IntxUnpackedToInt8Tensor' for source "
                       "torchao_intx"));
    }
    const auto data = meta.find("_data");
    if (data == meta.end() || !data->is_object()) {
      return TensorError(weight_key,
                         "__metadata__ has no _data object of attributes");
    }
    if (const auto block = data->find("block_size"); block != data->end()) {
      const bool pair = block->is_array() && block->size() == 2 &&
                        (*block)[0].is_number_integer() &&
                        (*block)[1].is_number_integer();
      if (!pair) {
        return TensorError(
            weight_key,
            absl::StrCat("__metadata__ block_size is ", block->dump(),
                         ", expected [1, group_size]"));
      }
      const int64_t rows = (*block)[0].get<int64_t>();
      const int64_t cols = (*block)[1].get<int64_t>();
      if (rows != 1 || cols != static_cast<int64_t>(spec.group_size)) {
        return TensorError(
            weight_key,
            absl::StrCat("__metadata__ block_size [", rows, ", ", cols,
                         "] does not match group_size ", spec.group_size,
                         " of layer '", spec.name, "' (expected [1, ",
                         spec.group_size, "])"));
      }
    }
    if (const auto target = data->find("target_dtype"); target != data->end()) {
      const std::string name = TorchDTypeOf(*target);
      const std::string want = absl::StrCat("int", spec.bits);
      if (name != want) {
        return TensorError(
            weight_key,
            absl::StrCat("__metadata__ target_dtype ",
                         name.empty() ? target->dump() : Quote(name),
                         " does not match bits ", spec.bits, " of layer '",
                         spec.name, "' (expected '", want, "')"));
      }
    }
    if (const auto dtype = data->find("dtype"); dtype != data->end()) {
      const std::string name = TorchDTypeOf(*dtype);
      const std::string want(TorchDTypeName(manifest.dtype));
      if (name != want) {
        return TensorError(
            weight_key, absl::StrCat("__metadata__ dtype ",
                                     name.empty() ? dtype->dump() : Quote(name),
                                     " does not match the model dtype ",
                                     std::string(DTypeName(manifest.dtype)),
                                     " (expected '", want, "')"));
      }
    }
    if (const auto names = meta.find("_tensor_data_names");
        names != meta.end()) {
      bool qdata = false, scale = false;
      if (names->is_array()) {
        for (const json& n : *names) {
          qdata |= n == "qdata";
          scale |= n == "scale";
        }
      }
      if (!qdata || !scale) {
        return TensorError(
            weight_key,
            absl::StrCat("__metadata__ _tensor_data_names is ", names->dump(),
                         ", expected qdata, scale and zero_point"));
      }
    }
  }

  const std::string bias_key = spec.name + ".bias";
  const auto bias = metadata.find(bias_key);
  if (spec.bias && bias != metadata.end()) {
    QL_ASSIGN_OR_RETURN(const json meta,
                        ParseMetadataEntry(bias_key, bias->second));
    const auto type = meta.find("_type");
    if (type == meta.end() || *type != "Tensor") {
      return TensorError(
          bias_key,
          absl::StrCat("__metadata__ _type is ",
                       type == meta.end() ? "missing" : ValueText(*type),
                       ", expected 'Tensor' (a plain bias)"));
    }
  }
  return absl::OkStatus();
}

// The slabs of a torchao_intx source (docs/manifest.md, "torchao_intx"):
// _weight_qdata I8 [N, K], _weight_scale [N, K/group_size] in the model
// dtype, _weight_zero_point I8 [N, K/group_size], after the cross-check of
// torchao's __metadata__.
absl::StatusOr<SlabSource> TorchaoIntxSlabs(const Manifest& manifest,
                                            const LayerSpec& spec,
                                            const SafetensorsFile& file) {
  const int64_t n = static_cast<int64_t>(spec.out_features);
  const int64_t k = static_cast<int64_t>(spec.in_features);
  const int64_t groups = k / static_cast<int64_t>(spec.group_size);
  QL_RETURN_IF_ERROR(CheckTorchaoMetadata(manifest, spec, file));
  QL_ASSIGN_OR_RETURN(const TensorView* qdata,
                      GetTensor(file, spec.name + "._weight_qdata", spec.name,
                                {n, k}, {TensorDType::kI8}));
  QL_ASSIGN_OR_RETURN(const TensorView* scale,
                      GetTensor(file, spec.name + "._weight_scale", spec.name,
                                {n, groups}, {TensorDTypeOf(manifest.dtype)}));
  QL_ASSIGN_OR_RETURN(const TensorView* zero_point,
                      GetTensor(file, spec.name + "._weight_zero_point",
                                spec.name, {n, groups}, {TensorDType::kI8}));
  return [&manifest, &spec, &file, qdata, scale, zero_point](
             size_t row_begin, size_t rows,
             LinearWeights* slab) -> absl::Status {
    const size_t cols = spec.in_features;
    const size_t g = cols / spec.group_size;
    const int qmin = IntxQMin(spec.bits), qmax = IntxQMax(spec.bits);
    IntxPlainWeights& p = slab->intx;
    p.n = rows;
    p.k = cols;
    p.group_size = spec.group_size;
    p.bits = spec.bits;
    const int8_t* codes =
        reinterpret_cast<const int8_t*>(qdata->data) + row_begin * cols;
    p.q.assign(codes, codes + rows * cols);
    for (size_t i = 0; i < p.q.size(); ++i) {
      if (p.q[i] < qmin || p.q[i] > qmax) {
        const size_t at = row_begin * cols + i;
        return TensorError(
            qdata->name,
            absl::StrCat("code ", static_cast<int>(p.q[i]), " at [", at / cols,
                         ", ", at % cols, "] is out of range ", qmin, "..",
                         qmax, " for ", spec.bits, " bits"));
      }
    }
    const int8_t* zeros =
        reinterpret_cast<const int8_t*>(zero_point->data) + row_begin * g;
    p.zero_point.assign(zeros, zeros + rows * g);
    for (size_t i = 0; i < p.zero_point.size(); ++i) {
      if (p.zero_point[i] < qmin || p.zero_point[i] > qmax) {
        return TensorError(
            zero_point->name,
            absl::StrCat("zero point ", static_cast<int>(p.zero_point[i]),
                         " at index ", row_begin * g + i, " is out of range ",
                         qmin, "..", qmax, " for ", spec.bits, " bits"));
      }
    }
    QL_RETURN_IF_ERROR(ReadFloatRange(*scale, manifest.dtype, row_begin * g,
                                      rows * g, &p.scale));
    ReleaseRows(file, *qdata, row_begin, rows);
    ReleaseRows(file, *scale, row_begin, rows);
    ReleaseRows(file, *zero_point, row_begin, rows);
    return absl::OkStatus();
  };
}

absl::StatusOr<std::unique_ptr<Linear>> BuildLayer(
    const Manifest& manifest, const LayerSpec& spec,
    const SafetensorsFile& file) {
  LinearWeights w;
  w.format = spec.format;
  w.dtype = manifest.dtype;
  w.n = spec.out_features;
  w.k = spec.in_features;
  w.activation = spec.activation;
  w.act_scale_floor = manifest.scale_floor;
  w.int4.group_size = spec.group_size;
  w.intx.group_size = spec.group_size;
  w.intx.bits = spec.bits;
  // The source tensors are looked up (and the fp32 weights read) first, then
  // the bias; a quantized layer then streams its slabs from the source.
  SlabSource slabs;
  switch (spec.source) {
    case WeightSource::kFloat: {
      QL_ASSIGN_OR_RETURN(
          const TensorView* weight,
          GetTensor(
              file, spec.name + ".weight", spec.name,
              {static_cast<int64_t>(w.n), static_cast<int64_t>(w.k)},
              {TensorDType::kF32, TensorDType::kBF16, TensorDType::kF16}));
      if (spec.format == WeightFormat::kFp32) {
        // Kept as it is, not quantized: the layer computes with it.
        QL_ASSIGN_OR_RETURN(w.fp32, ReadFloats(*weight, manifest.dtype));
      } else {
        slabs = FloatSlabs(manifest, spec, file, *weight);
      }
      break;
    }
    case WeightSource::kInt4Plain: {
      QL_ASSIGN_OR_RETURN(slabs, Int4PlainSlabs(manifest, spec, file));
      break;
    }
    case WeightSource::kTorchaoIntx: {
      QL_ASSIGN_OR_RETURN(slabs, TorchaoIntxSlabs(manifest, spec, file));
      break;
    }
  }
  if (spec.bias) {
    QL_ASSIGN_OR_RETURN(
        const TensorView* bias,
        GetTensor(file, spec.name + ".bias", spec.name,
                  {static_cast<int64_t>(spec.out_features)},
                  {TensorDType::kF32, TensorDType::kBF16, TensorDType::kF16}));
    QL_ASSIGN_OR_RETURN(w.bias, ReadFloats(*bias, manifest.dtype));
  }
  if (slabs) return BuildStreamed(spec, w, slabs);
  absl::StatusOr<std::unique_ptr<Linear>> linear = Linear::Create(std::move(w));
  if (!linear.ok()) return LayerError(spec, linear.status());
  return linear;
}

struct FdCloser {
  int fd;
  ~FdCloser() { ::close(fd); }
};

// The text of the manifest at `path`: a regular file of at most
// kMaxManifestBytes. Opened non-blocking, so a FIFO cannot hang the load
// (which holds the load lock), and never read past the limit, so a device or
// a file that grows cannot exhaust memory.
absl::StatusOr<std::string> ReadFile(const std::string& path) {
  int fd;
  do {
    fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NONBLOCK);
  } while (fd < 0 && errno == EINTR);
  if (fd < 0) return absl::NotFoundError(absl::StrCat(path, ": cannot open"));
  const FdCloser closer{fd};
  struct stat st;
  if (::fstat(fd, &st) != 0) {
    return absl::InvalidArgumentError(
        absl::StrCat(path, ": cannot stat: ", std::strerror(errno)));
  }
  if (!S_ISREG(st.st_mode)) {
    return absl::InvalidArgumentError(
        absl::StrCat(path,
                     ": not a regular file (a manifest is a regular "
                     "file of at most ",
                     kMaxManifestBytes, " bytes)"));
  }
  const auto too_large = [&](uint64_t size) {
    return absl::InvalidArgumentError(
        absl::StrCat(path, ": ", size, " bytes exceed the manifest limit of ",
                     kMaxManifestBytes, " bytes"));
  };
  if (static_cast<uint64_t>(st.st_size) > kMaxManifestBytes)
    return too_large(static_cast<uint64_t>(st.st_size));
  // One byte more than the limit tells a file that grew since fstat.
  std::string text(kMaxManifestBytes + 1, '\0');
  size_t size = 0;
  while (size < text.size()) {
    const ssize_t n = ::read(fd, text.data() + size, text.size() - size);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) {
      return absl::InvalidArgumentError(
          absl::StrCat(path, ": cannot read: ", std::strerror(errno)));
    }
    if (n == 0) break;
    size += static_cast<size_t>(n);
  }
  if (size > kMaxManifestBytes) return too_large(size);
  text.resize(size);
  return text;
}

absl::Status Prefixed(const std::string& prefix, const absl::Status& s) {
  return absl::Status(s.code(), absl::StrCat(prefix, ": ", s.message()));
}

}  // namespace

absl::StatusOr<std::unique_ptr<LinearStack>> BuildLinearStack(
    const Manifest& manifest, const SafetensorsFile& tensors,
    const AbandonCheck& abandoned) {
  // A manifest built in code gets the same checks as one read from a file.
  absl::StatusOr<Manifest> checked = ParseManifest(ManifestToJson(manifest));
  if (!checked.ok()) return checked.status();
  std::vector<std::unique_ptr<Linear>> layers;
  layers.reserve(manifest.layers.size());
  for (const LayerSpec& spec : manifest.layers) {
    if (abandoned && abandoned()) {
      return absl::CancelledError(
          absl::StrCat("abandoned before layer '", spec.name, "'"));
    }
    QL_ASSIGN_OR_RETURN(std::unique_ptr<Linear> layer,
                        BuildLayer(manifest, spec, tensors));
    layers.push_back(std::move(layer));
    // The layer is packed: its source tensors leave the resident set.
    const std::string prefix = spec.name + ".";
    for (const TensorView& view : tensors.tensors()) {
      if (view.name.compare(0, prefix.size(), prefix) == 0) {
        tensors.Release(view);
      }
    }
  }
  return LinearStack::Create(manifest, std::move(layers));
}

absl::StatusOr<std::unique_ptr<LinearStack>> LoadModelDir(
    const std::string& dir, const AbandonCheck& abandoned) {
  const std::string manifest_path = dir + "/model.json";
  const std::string tensors_path = dir + "/model.safetensors";
  QL_ASSIGN_OR_RETURN(std::string text, ReadFile(manifest_path));
  absl::StatusOr<Manifest> manifest = ParseManifest(text);
  if (!manifest.ok()) return Prefixed(manifest_path, manifest.status());
  QL_ASSIGN_OR_RETURN(std::unique_ptr<SafetensorsFile> file,
                      SafetensorsFile::Open(tensors_path));
  absl::StatusOr<std::unique_ptr<LinearStack>> stack =
      BuildLinearStack(*manifest, *file, abandoned);
  if (!stack.ok()) return Prefixed(tensors_path, stack.status());
  return stack;
}

}  // namespace qlinear::model
