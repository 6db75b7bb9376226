// Writes the generated seeds of the fuzz targets:
//   fuzz_seed_gen DIR
// fills DIR/native_request_fuzz, DIR/infer_request_fuzz and
// DIR/forward_stream_fuzz with valid requests of each kind, model and dtype
// (fuzz_models.h) and with edge cases each rule of validation rejects, and
// DIR/manifest_fuzz and DIR/safetensors_fuzz with the fuzz models' files.
// Deterministic: the committed tests/fuzz/corpus/ holds its output (and a
// few hand-written seeds besides).
#include <google/protobuf/io/coded_stream.h>
#include <google/protobuf/io/zero_copy_stream_impl_lite.h>

#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <limits>
#include <string>
#include <vector>

#include "inference/grpc_service.pb.h"
#include "model/default_model.h"
#include "model/manifest.h"
#include "model/safetensors.h"
#include "qlinear/v1/qlinear.pb.h"
#include "server/kserve_validation.h"
#include "server/validation.h"
#include "tests/fuzz/fuzz_models.h"

namespace qlinear::fuzz {
namespace {

namespace fs = std::filesystem;
using ::inference::ModelInferRequest;

// Serialized with map entries in a fixed order.
std::string Serialize(const google::protobuf::MessageLite& message) {
  std::string out;
  {
    google::protobuf::io::StringOutputStream stream(&out);
    google::protobuf::io::CodedOutputStream coded(&stream);
    coded.SetSerializationDeterministic(true);
    message.SerializeToCodedStream(&coded);
  }
  return out;
}

void Write(const fs::path& dir, const std::string& name,
           const std::string& bytes) {
  fs::create_directories(dir);
  std::ofstream out(dir / name, std::ios::binary);
  out.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
  if (!out.good()) {
    std::fprintf(stderr, "cannot write %s\n", (dir / name).c_str());
    std::exit(1);
  }
}

// rows x cols values exactly representable in every dtype.
std::vector<float> Values(size_t rows, size_t cols) {
  std::vector<float> v(rows * cols);
  for (size_t i = 0; i < v.size(); ++i)
    v[i] = static_cast<float>(static_cast<int>(i % 9) - 4) * 0.125f;
  return v;
}

v1::Tensor Matrix(DType dtype, size_t rows, size_t cols) {
  v1::Tensor t;
  server::EncodeMatrix(dtype, rows, cols, Values(rows, cols), &t);
  return t;
}

// The models, with their built stacks, in registry order.
struct Model {
  std::string name;
  const model::LinearStack* stack;
};
std::vector<Model> Models() {
  std::vector<Model> out;
  for (const FuzzModel& m : FuzzModels()) {
    out.push_back({m.name, FuzzRegistry().Get(m.name, "")->stack.get()});
  }
  return out;
}

v1::ForwardRequest Forward(const Model& m, size_t rows) {
  v1::ForwardRequest r;
  r.set_model(m.name);
  r.set_request_id("r");
  *r.mutable_input() =
      Matrix(m.stack->dtype(), rows, m.stack->layer_spec(0).in_features);
  return r;
}

void NativeSeeds(const fs::path& dir) {
  // Selector byte: even Forward, odd Matmul (native_request_fuzz.cc).
  auto forward = [&](const std::string& name, const v1::ForwardRequest& r) {
    Write(dir, name, std::string(1, '\0') + Serialize(r));
  };
  auto matmul = [&](const std::string& name, const v1::MatmulRequest& r) {
    Write(dir, name, std::string(1, '\1') + Serialize(r));
  };
  for (const Model& m : Models()) {
    const model::LinearStack& s = *m.stack;
    const size_t max_rows =
        static_cast<size_t>(FuzzLimits().max_rows_per_request);
    for (size_t rows : {size_t{1}, size_t{3}, max_rows}) {
      forward("forward_" + m.name + "_rows" + std::to_string(rows),
              Forward(m, rows));
    }
    v1::ForwardRequest r = Forward(m, 2);
    r.set_act_quant(v1::ACT_QUANT_INT8_ASYM_PER_TOKEN);
    r.set_priority(-3);
    r.set_return_timings(true);
    r.set_version("1");
    forward("forward_" + m.name + "_int8", r);
    r.set_act_quant(v1::ACT_QUANT_NONE);
    forward("forward_" + m.name + "_none", r);
    if (s.num_layers() > 1) {
      v1::ForwardRequest tail;
      tail.set_model(m.name);
      tail.set_layer_start(1);
      tail.set_layer_end(static_cast<uint32_t>(s.num_layers()));
      *tail.mutable_input() = Matrix(s.dtype(), 2, s.layer_spec(1).in_features);
      forward("forward_" + m.name + "_tail", tail);
      tail.set_layer_start(0);
      tail.set_layer_end(1);
      *tail.mutable_input() = Matrix(s.dtype(), 2, s.layer_spec(0).in_features);
      forward("forward_" + m.name + "_head", tail);
    }
    for (size_t i = 0; i < s.num_layers(); ++i) {
      v1::MatmulRequest mm;
      mm.set_model(m.name);
      mm.set_layer(s.layer_spec(i).name);
      mm.set_act_quant(i % 2 ? v1::ACT_QUANT_INT8_ASYM_PER_TOKEN
                             : v1::ACT_QUANT_MODEL_DEFAULT);
      *mm.mutable_input() = Matrix(s.dtype(), 2, s.layer_spec(i).in_features);
      matmul("matmul_" + m.name + "_" + s.layer_spec(i).name, mm);
    }
  }
  // Rejections, one rule each, on the fp32 model.
  const Model m = Models()[0];
  v1::ForwardRequest bad = Forward(m, 2);
  bad.set_model("");
  forward("bad_no_model", bad);
  bad.set_model("nope");
  forward("bad_unknown_model", bad);
  bad = Forward(m, 2);
  bad.set_version("9");
  forward("bad_unknown_version", bad);
  bad = Forward(m, 2);
  bad.set_act_quant(static_cast<v1::ActQuant>(7));
  forward("bad_act_quant", bad);
  bad = Forward(m, 2);
  bad.set_layer_start(2);
  forward("bad_layer_start", bad);
  bad.set_layer_start(1);
  bad.set_layer_end(1);
  forward("bad_layer_order", bad);
  bad = Forward(m, 2);
  bad.clear_input();
  forward("bad_no_input", bad);
  bad = Forward(m, 2);
  bad.mutable_input()->set_dtype(v1::DATA_TYPE_BF16);
  forward("bad_dtype", bad);
  bad.mutable_input()->set_dtype(v1::DATA_TYPE_UNSPECIFIED);
  forward("bad_dtype_unset", bad);
  bad = Forward(m, 2);
  bad.mutable_input()->set_shape(1, 63);
  forward("bad_shape_cols", bad);
  bad.mutable_input()->add_shape(1);
  forward("bad_shape_rank", bad);
  bad = Forward(m, 2);
  bad.mutable_input()->set_shape(0, 0);
  forward("bad_shape_zero_rows", bad);
  bad.mutable_input()->set_shape(0, std::numeric_limits<int64_t>::max());
  forward("bad_shape_huge_rows", bad);
  bad.mutable_input()->set_shape(0, -1);
  forward("bad_shape_negative", bad);
  bad = Forward(m, 2);
  bad.mutable_input()->mutable_data()->pop_back();
  forward("bad_data_short", bad);
  bad = Forward(m, 2);
  const float nan = std::nanf("");
  bad.mutable_input()->mutable_data()->replace(
      4, 4, reinterpret_cast<const char*>(&nan), 4);
  forward("bad_data_nan", bad);
  v1::MatmulRequest mm;
  mm.set_model(m.name);
  mm.set_layer("fc9");
  *mm.mutable_input() = Matrix(DType::kF32, 1, 64);
  matmul("bad_matmul_layer", mm);
  mm.clear_layer();
  matmul("bad_matmul_no_layer", mm);
}

ModelInferRequest Infer(const Model& m, size_t rows) {
  ModelInferRequest r;
  r.set_model_name(m.name);
  r.set_id("r");
  const size_t cols = m.stack->layer_spec(0).in_features;
  auto* input = r.add_inputs();
  input->set_name(server::kKServeInputName);
  input->set_datatype(std::string(server::KServeDatatype(m.stack->dtype())));
  input->add_shape(static_cast<int64_t>(rows));
  input->add_shape(static_cast<int64_t>(cols));
  server::EncodeValues(m.stack->dtype(), Values(rows, cols),
                       r.add_raw_input_contents());
  return r;
}

void InferSeeds(const fs::path& dir) {
  for (const Model& m : Models()) {
    const model::LinearStack& s = *m.stack;
    Write(dir, "infer_" + m.name + "_rows1", Serialize(Infer(m, 1)));
    ModelInferRequest r = Infer(m, 3);
    r.set_model_version("1");
    r.add_outputs()->set_name(server::kKServeOutputName);
    (*r.mutable_parameters())["act_quant"].set_string_param(
        "int8_asym_per_token");
    (*r.mutable_parameters())["priority"].set_int64_param(5);
    (*r.mutable_parameters())["timeout"].set_uint64_param(1000);
    Write(dir, "infer_" + m.name + "_params", Serialize(r));
    if (s.num_layers() > 1) {
      ModelInferRequest tail = Infer(m, 2);
      (*tail.mutable_parameters())["layer_start"].set_int64_param(1);
      (*tail.mutable_parameters())["layer_end"].set_uint64_param(2);
      tail.mutable_inputs(0)->set_shape(
          1, static_cast<int64_t>(s.layer_spec(1).in_features));
      tail.clear_raw_input_contents();
      server::EncodeValues(s.dtype(), Values(2, s.layer_spec(1).in_features),
                           tail.add_raw_input_contents());
      Write(dir, "infer_" + m.name + "_tail", Serialize(tail));
    }
  }
  const Model m = Models()[0];
  ModelInferRequest typed = Infer(m, 2);
  typed.clear_raw_input_contents();
  for (float v : Values(2, 64))
    typed.mutable_inputs(0)->mutable_contents()->add_fp32_contents(v);
  Write(dir, "infer_f32_typed", Serialize(typed));
  // Rejections, one rule each.
  ModelInferRequest bad = Infer(m, 2);
  (*bad.mutable_parameters())["act_quant"].set_string_param("int4");
  Write(dir, "bad_act_quant", Serialize(bad));
  bad = Infer(m, 2);
  (*bad.mutable_parameters())["act_quant"].set_int64_param(1);
  Write(dir, "bad_act_quant_type", Serialize(bad));
  bad = Infer(m, 2);
  (*bad.mutable_parameters())["priority"].set_int64_param(int64_t{1} << 40);
  Write(dir, "bad_priority", Serialize(bad));
  bad = Infer(m, 2);
  (*bad.mutable_parameters())["timeout"].set_int64_param(-1);
  Write(dir, "bad_timeout", Serialize(bad));
  bad = Infer(m, 2);
  (*bad.mutable_parameters())["layer_end"].set_uint64_param(~uint64_t{0});
  Write(dir, "bad_layer_end", Serialize(bad));
  bad = Infer(m, 2);
  (*bad.mutable_parameters())["shared_memory_region"].set_string_param("x");
  Write(dir, "bad_parameter", Serialize(bad));
  bad = Infer(m, 2);
  bad.add_outputs()->set_name("logits");
  Write(dir, "bad_output", Serialize(bad));
  bad = Infer(m, 2);
  *bad.add_inputs() = bad.inputs(0);
  Write(dir, "bad_two_inputs", Serialize(bad));
  bad = Infer(m, 2);
  bad.mutable_inputs(0)->set_name("x");
  Write(dir, "bad_input_name", Serialize(bad));
  bad = Infer(m, 2);
  bad.mutable_inputs(0)->set_datatype("FP16");
  Write(dir, "bad_datatype", Serialize(bad));
  bad = Infer(m, 2);
  bad.mutable_inputs(0)->set_shape(0, 9);
  Write(dir, "bad_rows", Serialize(bad));
  bad = Infer(m, 2);
  bad.add_raw_input_contents("");
  Write(dir, "bad_raw_count", Serialize(bad));
  bad = Infer(m, 2);
  bad.mutable_inputs(0)->mutable_contents()->add_fp32_contents(1.0f);
  Write(dir, "bad_mixed_contents", Serialize(bad));
  bad = typed;
  bad.mutable_inputs(0)->mutable_contents()->add_int_contents(1);
  Write(dir, "bad_int_contents", Serialize(bad));
  bad = typed;
  bad.mutable_inputs(0)->mutable_contents()->set_fp32_contents(
      0, std::numeric_limits<float>::infinity());
  Write(dir, "bad_typed_inf", Serialize(bad));
  bad = Infer(m, 2);
  bad.clear_raw_input_contents();
  Write(dir, "bad_no_data", Serialize(bad));
  bad = Infer(Models()[1], 2);
  bad.clear_raw_input_contents();
  bad.mutable_inputs(0)->mutable_contents()->add_fp32_contents(1.0f);
  Write(dir, "bad_bf16_typed", Serialize(bad));
}

// forward_stream_fuzz.cc's input: a header, then [control][u16 length][msg].
std::string Chunk(uint8_t control, const std::string& message) {
  std::string out(1, static_cast<char>(control));
  out.push_back(static_cast<char>(message.size() & 0xff));
  out.push_back(static_cast<char>(message.size() >> 8));
  return out + message;
}

void StreamSeeds(const fs::path& dir) {
  const std::vector<Model> models = Models();
  // max_batch_rows 8, max_queue_rows 32, no delay, no deadline.
  const std::string roomy("\x07\x1f\x00", 3);
  std::string all = roomy;
  for (const Model& m : models) all += Chunk(0, Serialize(Forward(m, 2)));
  Write(dir, "stream_each_model", all);

  // Several requests of one model batch together, with priorities.
  std::string batch = roomy;
  for (int i = 0; i < 4; ++i) {
    v1::ForwardRequest r = Forward(models[0], 1 + i % 3);
    r.set_priority(i % 2);
    if (i == 3) r.set_act_quant(v1::ACT_QUANT_INT8_ASYM_PER_TOKEN);
    batch += Chunk(0, Serialize(r));
  }
  Write(dir, "stream_batch", batch);

  // The executor runs between messages; a delay; the clock moves.
  std::string interleaved("\x03\x1f\x02", 3);
  for (int i = 0; i < 4; ++i) {
    interleaved +=
        Chunk(i % 2 ? 0x08 | 0x02 : 0x01, Serialize(Forward(models[i % 3], 2)));
  }
  Write(dir, "stream_interleaved", interleaved);

  // A full queue (max_queue_rows 4), then a bad request, then a good one.
  std::string full("\x07\x03\x00", 3);
  for (int i = 0; i < 3; ++i)
    full += Chunk(0, Serialize(Forward(models[0], 3)));
  v1::ForwardRequest unknown = Forward(models[0], 1);
  unknown.set_model("nope");
  full += Chunk(0, Serialize(unknown));
  full += Chunk(0x08, Serialize(Forward(models[1], 1)));
  Write(dir, "stream_full_queue", full);

  // The client cancels midway; then the server drains.
  std::string cancel = roomy;
  cancel += Chunk(0, Serialize(Forward(models[0], 2)));
  cancel += Chunk(0x10, Serialize(Forward(models[0], 2)));
  Write(dir, "stream_cancel", cancel);
  std::string drain = roomy;
  drain += Chunk(0, Serialize(Forward(models[2], 2)));
  drain += Chunk(0x20, Serialize(Forward(models[2], 2)));
  Write(dir, "stream_shutdown", drain);

  // A stream deadline that passes while queued (delay 750 us, deadline
  // 500 us).
  std::string late("\x07\x1f\x07", 3);
  late += Chunk(0, Serialize(Forward(models[0], 1)));
  late += Chunk(0x03, Serialize(Forward(models[0], 1)));
  Write(dir, "stream_deadline", late);

  // An unparseable message ends the stream.
  std::string garbage = roomy;
  garbage += Chunk(0, Serialize(Forward(models[0], 1)));
  garbage += Chunk(0, std::string("\xff\xff\xff", 3));
  garbage += Chunk(0, Serialize(Forward(models[0], 1)));
  Write(dir, "stream_unparseable", garbage);
}

void ModelFileSeeds(const fs::path& manifest_dir,
                    const fs::path& safetensors_dir) {
  for (const FuzzModel& m : FuzzModels()) {
    model::SyntheticModelFiles files = model::MakeSyntheticModelFiles(m.spec);
    files.manifest.default_act_quant = m.default_act_quant;
    Write(manifest_dir, m.name + ".json",
          model::ManifestToJson(files.manifest));
    Write(safetensors_dir, m.name + ".safetensors", files.safetensors);
  }
  // Every tensor dtype, a scalar, an empty tensor and metadata.
  const std::vector<uint8_t> bytes = {1, 2, 3, 4, 5, 6, 7, 8};
  using model::TensorDType;
  const std::vector<model::TensorView> views = {
      {"f32", TensorDType::kF32, {2}, bytes.data(), 8},
      {"bf16", TensorDType::kBF16, {2, 2}, bytes.data(), 8},
      {"f16", TensorDType::kF16, {1, 4}, bytes.data(), 8},
      {"u8", TensorDType::kU8, {8}, bytes.data(), 8},
      {"i8", TensorDType::kI8, {}, bytes.data(), 1},
      {"empty", TensorDType::kF32, {0, 3}, bytes.data(), 0},
  };
  Write(safetensors_dir, "dtypes.safetensors",
        model::WriteSafetensors(views, {{"format", "pt"}}));
}

}  // namespace
}  // namespace qlinear::fuzz

int main(int argc, char** argv) {
  if (argc != 2) {
    std::fprintf(stderr, "usage: %s CORPUS_DIR\n", argv[0]);
    return 2;
  }
  const std::filesystem::path root = argv[1];
  qlinear::fuzz::NativeSeeds(root / "native_request_fuzz");
  qlinear::fuzz::InferSeeds(root / "infer_request_fuzz");
  qlinear::fuzz::StreamSeeds(root / "forward_stream_fuzz");
  qlinear::fuzz::ModelFileSeeds(root / "manifest_fuzz",
                                root / "safetensors_fuzz");
  return 0;
}
