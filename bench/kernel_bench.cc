// qlinear-kernel-bench: int4_opaque and intx_opaque Linear::Run side by side
// with oneDNN
// (f32, u8s8 int8, bf16 matmul) and the machine's own limits (read bandwidth
// at the working-set size, register-only FMA / VNNI / bf16 peaks), all
// measured in one process, interleaved in rounds. Also times the microkernels
// of kernels/gemm/gemm_kernels.inc on L1-resident data, the ThreadPool
// dispatch, the int8 activation-quantization prologue and packing at load.
// docs/benchmarks.md explains the method and the output (text, and with
// --json an array of objects, one per point).
//
// Usage: qlinear-kernel-bench [--quick] [--json FILE] [--threads 1,2]
//          [--m 1,2,4] [--shapes 4096x4096,...] (KxN) [--gs 32,128]
//          [--modes none,int8] [--repeats N] [--residency l3|dram|both]
//          [--formats int4,intx] [--intx-bits 2,4,8] [--intx-gs 32,pc]
//          [--no-onednn] [--no-packing] [--no-microkernels]
//          [--metrics-overhead | --no-metrics-overhead]
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <map>
#include <memory>
#include <random>
#include <string>
#include <thread>
#include <tuple>
#include <utility>
#include <vector>

#include "bench/bench_util.h"
#include "bench/machine_limits.h"
#include "bench/onednn_matmul.h"
#include "kernels/cpu_features.h"
#include "kernels/gemm/gemm.h"
#include "kernels/linear.h"
#include "kernels/reference/quantize.h"
#include "kernels/thread_pool.h"
#include "kernels/types.h"
#include "kernels/w4_packing.h"
#include "kernels/wx_packing.h"
#include "model/default_model.h"
#include "model/linear_stack.h"
#include "server/batch_runner.h"
#include "server/batching/batcher.h"
#include "server/batching/clock.h"
#include "server/batching/task.h"
#include "server/inference_task.h"
#include "server/metrics.h"
#include "server/request_recorder.h"
#include "server/stats.h"

namespace qlinear::bench {
namespace {

// A stack of layers whose packed weights exceed the L3 by far (12x a 32 MiB
// L3): each call of the "dram" residency touches cold weights.
constexpr size_t kDramStackBytes = size_t{384} << 20;
// Buffer of the DRAM read-bandwidth measurement.
constexpr size_t kDramBufferBytes = size_t{1} << 30;

enum class Residency { kL3, kDram };

const char* ResidencyName(Residency r) {
  return r == Residency::kL3 ? "l3" : "dram";
}

struct Options {
  std::string json_path;
  bool quick = false;
  std::vector<int> threads = {1, 2};
  std::vector<size_t> ms = {1, 2, 4, 8, 16, 32, 64, 128, 256};
  std::vector<std::pair<size_t, size_t>> shapes = {
      {4096, 4096}, {4096, 11008}, {11008, 4096}, {1024, 1024}};  // (K, N)
  std::vector<size_t> group_sizes = {32, 128};                    // int4_opaque
  bool int4 = true;
  bool intx = true;
  std::vector<int> intx_bits = {2, 4, 8};
  std::vector<size_t> intx_group_sizes = {32, 0};  // 0: per channel
  std::vector<ActQuant> modes = {ActQuant::kNone, ActQuant::kInt8AsymPerToken};
  std::vector<Residency> residencies = {Residency::kL3, Residency::kDram};
  size_t repeats = 11;
  bool onednn = true;
  bool packing = true;
  bool microkernels = true;
  // The cost of the server's per-request metric recording on the default
  // model (MetricsOverhead()); `metrics_overhead_only` skips the rest.
  bool metrics_overhead = true;
  bool metrics_overhead_only = false;
  std::string command_line;
};

[[noreturn]] void Usage(const char* error) {
  std::fprintf(stderr,
               "error: %s\n"
               "usage: qlinear-kernel-bench [--quick] [--json FILE] "
               "[--threads 1,2] [--m 1,2,4] [--shapes KxN,...] [--gs 32,128] "
               "[--modes none,int8] [--repeats N] [--residency l3|dram|both] "
               "[--formats int4,intx] [--intx-bits 2,4,8] [--intx-gs 32,pc] "
               "[--no-onednn] [--no-packing] [--no-microkernels] "
               "[--metrics-overhead | --no-metrics-overhead]\n",
               error);
  std::exit(2);
}

std::vector<std::string> SplitComma(const std::string& s) {
  std::vector<std::string> out;
  size_t start = 0;
  while (start <= s.size()) {
    const size_t comma = s.find(',', start);
    const size_t end = comma == std::string::npos ? s.size() : comma;
    if (end > start) out.push_back(s.substr(start, end - start));
    if (comma == std::string::npos) break;
    start = comma + 1;
  }
  return out;
}

size_t ParseSize(const std::string& s, const char* flag) {
  char* end = nullptr;
  const unsigned long long v = std::strtoull(s.c_str(), &end, 10);
  if (s.empty() || *end != '\0' || v == 0) {
    Usage((std::string("bad value for ") + flag + ": " + s).c_str());
  }
  return static_cast<size_t>(v);
}

Options ParseOptions(int argc, char** argv) {
  Options o;
  for (int i = 0; i < argc; ++i) {
    if (i > 0) o.command_line += " ";
    o.command_line += argv[i];
  }
  for (int i = 1; i < argc; ++i) {
    if (std::strcmp(argv[i], "--quick") == 0) o.quick = true;
  }
  if (o.quick) {
    o.ms = {1, 8, 64};
    o.shapes = {{1024, 1024}};
    o.residencies = {Residency::kL3};
    o.repeats = 3;
    o.intx_bits = {4};
  }
  for (int i = 1; i < argc; ++i) {
    const std::string flag = argv[i];
    auto value = [&]() -> std::string {
      if (i + 1 >= argc) Usage((flag + " needs a value").c_str());
      return argv[++i];
    };
    if (flag == "--quick") {
      continue;
    } else if (flag == "--json") {
      o.json_path = value();
    } else if (flag == "--threads") {
      o.threads.clear();
      for (const std::string& t : SplitComma(value()))
        o.threads.push_back(static_cast<int>(ParseSize(t, "--threads")));
    } else if (flag == "--m") {
      o.ms.clear();
      for (const std::string& m : SplitComma(value()))
        o.ms.push_back(ParseSize(m, "--m"));
    } else if (flag == "--shapes") {
      o.shapes.clear();
      for (const std::string& s : SplitComma(value())) {
        const size_t x = s.find('x');
        if (x == std::string::npos) Usage("--shapes wants KxN,...");
        o.shapes.emplace_back(ParseSize(s.substr(0, x), "--shapes"),
                              ParseSize(s.substr(x + 1), "--shapes"));
      }
    } else if (flag == "--gs") {
      o.group_sizes.clear();
      for (const std::string& g : SplitComma(value()))
        o.group_sizes.push_back(ParseSize(g, "--gs"));
    } else if (flag == "--formats") {
      o.int4 = o.intx = false;
      for (const std::string& f : SplitComma(value())) {
        if (f == "int4" || f == "int4_opaque") {
          o.int4 = true;
        } else if (f == "intx" || f == "intx_opaque") {
          o.intx = true;
        } else {
          Usage(("unknown format " + f).c_str());
        }
      }
    } else if (flag == "--intx-bits") {
      o.intx_bits.clear();
      for (const std::string& b : SplitComma(value())) {
        const size_t bits = ParseSize(b, "--intx-bits");
        if (bits > 8) Usage("--intx-bits wants values in 1..8");
        o.intx_bits.push_back(static_cast<int>(bits));
      }
    } else if (flag == "--intx-gs") {
      o.intx_group_sizes.clear();
      for (const std::string& g : SplitComma(value())) {
        o.intx_group_sizes.push_back(
            g == "pc" || g == "per_channel" ? 0 : ParseSize(g, "--intx-gs"));
      }
    } else if (flag == "--modes") {
      o.modes.clear();
      for (const std::string& m : SplitComma(value())) {
        if (m == "none") {
          o.modes.push_back(ActQuant::kNone);
        } else if (m == "int8" || m == "int8_asym_per_token") {
          o.modes.push_back(ActQuant::kInt8AsymPerToken);
        } else {
          Usage(("unknown mode " + m).c_str());
        }
      }
    } else if (flag == "--repeats") {
      o.repeats = ParseSize(value(), "--repeats");
    } else if (flag == "--residency") {
      const std::string r = value();
      if (r == "l3") {
        o.residencies = {Residency::kL3};
      } else if (r == "dram") {
        o.residencies = {Residency::kDram};
      } else if (r == "both") {
        o.residencies = {Residency::kL3, Residency::kDram};
      } else {
        Usage("--residency wants l3, dram or both");
      }
    } else if (flag == "--no-onednn") {
      o.onednn = false;
    } else if (flag == "--no-packing") {
      o.packing = false;
    } else if (flag == "--no-microkernels") {
      o.microkernels = false;
    } else if (flag == "--metrics-overhead") {
      o.metrics_overhead = o.metrics_overhead_only = true;
    } else if (flag == "--no-metrics-overhead") {
      o.metrics_overhead = o.metrics_overhead_only = false;
    } else {
      Usage(("unknown flag " + flag).c_str());
    }
  }
  if (o.threads.empty() || o.ms.empty() || o.shapes.empty() ||
      o.group_sizes.empty() || o.modes.empty() || o.intx_bits.empty() ||
      o.intx_group_sizes.empty() || !(o.int4 || o.intx)) {
    Usage("empty list");
  }
  return o;
}

MeasureOptions TimingOptions(const Options& o) {
  MeasureOptions m;
  m.samples = o.repeats;
  m.min_samples = std::min<size_t>(3, o.repeats);
  m.max_seconds = o.quick ? 0.3 : 3.0;
  m.warmup_seconds = o.quick ? 0.01 : 0.05;
  m.min_sample_seconds = o.quick ? 0.001 : 0.002;
  return m;
}

std::string ReadFirstLine(const char* path) {
  std::ifstream f(path);
  std::string line;
  std::getline(f, line);
  return line;
}

std::string CpuModelName() {
  std::ifstream f("/proc/cpuinfo");
  std::string line;
  while (std::getline(f, line)) {
    if (line.rfind("model name", 0) == 0) {
      const size_t colon = line.find(':');
      if (colon != std::string::npos) return line.substr(colon + 2);
    }
  }
  return "unknown";
}

// Random fp32 weights [n, k] in [-1, 1].
std::vector<float> RandomFloats(size_t count, uint32_t seed) {
  std::mt19937 rng(seed);
  std::uniform_real_distribution<float> dist(-1.0f, 1.0f);
  std::vector<float> v(count);
  for (float& x : v) x = dist(rng);
  return v;
}

LinearWeights Int4Layer(const Int4PlainWeights& plain) {
  LinearWeights w;
  w.format = WeightFormat::kInt4Opaque;
  w.dtype = DType::kF32;
  w.n = plain.n;
  w.k = plain.k;
  w.int4 = plain;
  return w;
}

LinearWeights IntxLayer(IntxPlainWeights plain) {
  LinearWeights w;
  w.format = WeightFormat::kIntxOpaque;
  w.dtype = DType::kF32;
  w.n = plain.n;
  w.k = plain.k;
  w.intx = std::move(plain);
  return w;
}

// One benchmarked weight format: int4_opaque at a group size, or
// intx_opaque at a bit width and group size (per channel: group_size = K).
struct LayerConfig {
  WeightFormat format = WeightFormat::kInt4Opaque;
  size_t group_size = 0;
  int bits = 4;
  bool per_channel = false;

  // "gs32" for int4, "b4/gs32" or "b2/pc" for intx: the table's column.
  std::string Label() const {
    const std::string gs =
        per_channel ? std::string("pc") : "gs" + std::to_string(group_size);
    if (format == WeightFormat::kInt4Opaque) return gs;
    return "b" + std::to_string(bits) + "/" + gs;
  }
};

std::unique_ptr<Linear> CreateOrDie(LinearWeights w) {
  absl::StatusOr<std::unique_ptr<Linear>> l = Linear::Create(std::move(w));
  if (!l.ok()) {
    std::fprintf(stderr, "Linear::Create failed: %s\n",
                 std::string(l.status().message()).c_str());
    std::exit(1);
  }
  return std::move(*l);
}

// Lets the spinning workers of the contender just timed go to sleep before
// the next one runs: OpenMP's (oneDNN) spin for milliseconds, our pool's for
// ThreadPool::kSpinMicros.
void LetWorkersIdle(bool openmp) {
  std::this_thread::sleep_for(
      openmp ? std::chrono::microseconds(20000)
             : std::chrono::microseconds(4 * ThreadPool::kSpinMicros));
}

// `v` as printf's "%<width>.<precision>f", or "-" right-aligned when it was
// not measured.
std::string Cell(bool measured, double v, int width, int precision) {
  char buf[64];
  if (measured) {
    std::snprintf(buf, sizeof(buf), "%*.*f", width, precision, v);
  } else {
    std::snprintf(buf, sizeof(buf), "%*s", width, "-");
  }
  return buf;
}

// The machine limits of one thread count.
struct Peaks {
  double fma = 0, vnni = 0, bf16 = 0;  // ops/s
  double dram_bw = 0;                  // bytes/s
};

class Bench {
 public:
  explicit Bench(Options o) : o_(std::move(o)), timing_(TimingOptions(o_)) {}

  int Run();

 private:
  void Machine();
  void Limits();
  void RemeasurePeaks();
  void PoolOverhead();
  void MicroKernels();
  void MicroKernelsIntx(size_t k, const Peaks& p1);
  void Packing();
  void MetricsOverhead();
  void Shape(size_t k, size_t n);
  void ShapeBatch(size_t k, size_t n, const std::vector<float>& wf,
                  const std::vector<LayerConfig>& configs);
  double DramBandwidth(int threads, size_t samples);
  const uint8_t* DramBuffer();
  Stats ActQuantPrologue(size_t m, size_t k, size_t group_size);
  ThreadPool& Pool(int threads);
  void Emit(const JsonObject& o) { log_.Append(o); }
  void Flush() {
    if (!o_.json_path.empty() && !log_.WriteArray(o_.json_path)) {
      std::fprintf(stderr, "cannot write %s\n", o_.json_path.c_str());
      std::exit(1);
    }
  }

  const Options o_;
  const MeasureOptions timing_;
  JsonLog log_;
  std::map<int, Peaks> peaks_;
  std::map<std::tuple<size_t, size_t, size_t>, Stats> act_quant_;
  std::map<int, std::unique_ptr<ThreadPool>> pools_;
  AlignedBytes dram_buffer_;  // kDramBufferBytes, written once
  // Cap on the rounds of one measurement group (at least 3 rounds).
  const double group_max_seconds_ = o_.quick ? 2.0 : 30.0;
};

ThreadPool& Bench::Pool(int threads) {
  std::unique_ptr<ThreadPool>& p = pools_[threads];
  if (!p) p = std::make_unique<ThreadPool>(threads);
  return *p;
}

// L3 size from sysfs ("32768K"); sysconf's CPUID-based value is wrong on
// some VMs (320 MiB on the development host).
long L3Bytes() {
  const std::string s =
      ReadFirstLine("/sys/devices/system/cpu/cpu0/cache/index3/size");
  char* end = nullptr;
  const long v = std::strtol(s.c_str(), &end, 10);
  if (v > 0 && end != nullptr && *end == 'K') return v * 1024;
  if (v > 0 && end != nullptr && *end == 'M') return v * 1024 * 1024;
  return sysconf(_SC_LEVEL3_CACHE_SIZE);
}

void Bench::Machine() {
  const long l3 = L3Bytes();
  JsonObject j;
  j.Add("kind", "machine")
      .Add("command", o_.command_line)
      .Add("cpu", CpuModelName())
      .Add("online_cpus", static_cast<int>(std::thread::hardware_concurrency()))
      .Add("l3_bytes", static_cast<double>(l3))
      .Add("isa", std::string(IsaName(ActiveIsa())))
      .Add("onednn", DnnlMatmul::Version())
      .Add("compiler", std::string(__VERSION__))
      .Add("loadavg_start", ReadFirstLine("/proc/loadavg"));
  Emit(j);
  std::printf(
      "qlinear-kernel-bench\n  %s\n  cpu: %s, %u online, L3 %ld KiB\n"
      "  isa: %s  oneDNN %s  compiler %s\n  loadavg: %s\n\n",
      o_.command_line.c_str(), CpuModelName().c_str(),
      std::thread::hardware_concurrency(), l3 / 1024,
      std::string(IsaName(ActiveIsa())).c_str(), DnnlMatmul::Version().c_str(),
      __VERSION__, ReadFirstLine("/proc/loadavg").c_str());
}

void Bench::Limits() {
  const size_t samples = o_.quick ? 3 : 7;
  const bool dram = std::find(o_.residencies.begin(), o_.residencies.end(),
                              Residency::kDram) != o_.residencies.end();
  std::printf("== machine limits (register-only peaks; streaming reads)\n");
  std::printf("%4s %12s %12s %12s %12s %12s\n", "thr", "fma GFLOP/s",
              "vnni GOP/s", "bf16 GFLOP/s", "L3 16M GB/s", "DRAM 1G GB/s");
  for (int t : o_.threads) {
    Peaks p;
    p.fma = PeakFp32FmaOps(t, samples);
    p.vnni = PeakVnniOps(t, samples);
    p.bf16 = PeakBf16Ops(t, samples);
    const double l3_bw = ReadBandwidth(size_t{16} << 20, t, samples);
    if (dram) p.dram_bw = DramBandwidth(t, samples);
    peaks_[t] = p;
    // A peak is 0 (not run) when the CPU lacks the instruction.
    std::printf("%4d %s %s %s %12.1f %s\n", t,
                Cell(p.fma > 0, p.fma / 1e9, 12, 1).c_str(),
                Cell(p.vnni > 0, p.vnni / 1e9, 12, 1).c_str(),
                Cell(p.bf16 > 0, p.bf16 / 1e9, 12, 1).c_str(), l3_bw / 1e9,
                Cell(dram, p.dram_bw / 1e9, 12, 1).c_str());
    JsonObject j;
    j.Add("kind", "limits")
        .Add("threads", t)
        .Add("fma_fp32_gflops", p.fma / 1e9)
        .Add("vnni_gops", p.vnni / 1e9)
        .Add("bf16_gflops", p.bf16 / 1e9)
        .Add("read_16mib_gbps", l3_bw / 1e9);
    if (dram) {
      j.Add("read_1gib_gbps", p.dram_bw / 1e9);
    } else {
      j.AddNull("read_1gib_gbps");
    }
    Emit(j);
  }
  if (!HaveAvx512Vnni()) {
    std::printf(
        "  -: not run, the peak loops need AVX-512 VNNI (bf16 also "
        "AVX512_BF16); the JSON has 0\n");
  } else if (!HaveAvx512Bf16()) {
    std::printf(
        "  -: not run, the bf16 loop needs AVX512_BF16; the JSON has 0\n");
  }
  std::printf("\n");
}

const uint8_t* Bench::DramBuffer() {
  if (!dram_buffer_) {
    dram_buffer_ = AllocateAligned(kDramBufferBytes);
    std::memset(dram_buffer_.get(), 0x5a, kDramBufferBytes);
  }
  return dram_buffer_.get();
}

double Bench::DramBandwidth(int threads, size_t samples) {
  return ReadBandwidthOf(DramBuffer(), kDramBufferBytes, threads, samples,
                         /*warmup=*/false);
}

void Bench::PoolOverhead() {
  std::printf("== ThreadPool::ParallelFor dispatch of 4*threads empty tasks\n");
  for (int t : o_.threads) {
    ThreadPool& pool = Pool(t);
    const size_t tasks = 4 * static_cast<size_t>(t);
    const Stats s = Measure(
        [&](size_t) { pool.ParallelFor(tasks, [](size_t) {}); }, timing_);
    std::printf("  threads %d: median %.2f us (min %.2f, max %.2f)\n", t,
                s.median * 1e6, s.min * 1e6, s.max * 1e6);
    JsonObject j;
    j.Add("kind", "pool_overhead").Add("threads", t).Add("tasks", tasks);
    j.AddStatsUs("us", s);
    Emit(j);
  }
  std::printf("\n");
}

// The microkernels of kernels/gemm/gemm_kernels.inc on one L1-resident
// block: the ceiling of each instruction mix, with no memory traffic,
// threading or activation quantization. A tiled entry is timed as its two
// halves: the unpack (ŵ of the block into fp32) and the fp32 tile gemm.
void Bench::MicroKernels() {
  struct Entry {
    const char* name;
    Isa isa;
    W4F32GemmFn f32;
    W4Dq8GemmFn dq8;
    W4F32UnpackFn unpack;
    F32TileGemmFn tile;
    W4Dq8UnpackFn dq8_unpack = nullptr;
    W4Dq8TileGemmFn dq8_tile = nullptr;
  };
  static const Entry kEntries[] = {
#define QL_W4_F32_KERNEL(fn, min_isa) \
  {#fn, Isa::min_isa, fn, nullptr, nullptr, nullptr, nullptr, nullptr},
#define QL_W4_DQ8_KERNEL(fn, min_isa) \
  {#fn, Isa::min_isa, nullptr, fn, nullptr, nullptr, nullptr, nullptr},
#define QL_W4_F32_TILED(unpack_fn, tile_fn, min_isa, min_rows) \
  {#unpack_fn, Isa::min_isa, nullptr, nullptr,                 \
   unpack_fn,  nullptr,      nullptr, nullptr},                \
      {#tile_fn, Isa::min_isa, nullptr, nullptr,               \
       nullptr,  tile_fn,      nullptr, nullptr},
#define QL_W4_DQ8_TILED(unpack_fn, tile_fn, min_isa, min_rows) \
  {#unpack_fn, Isa::min_isa, nullptr,   nullptr,               \
   nullptr,    nullptr,      unpack_fn, nullptr},              \
      {#tile_fn, Isa::min_isa, nullptr,   nullptr,             \
       nullptr,  nullptr,      unpack_fn, tile_fn},
#include "kernels/gemm/gemm_kernels.inc"
#undef QL_W4_F32_KERNEL
#undef QL_W4_DQ8_KERNEL
#undef QL_W4_F32_TILED
#undef QL_W4_DQ8_TILED
  };
  constexpr size_t kK = 512;
  const Peaks& p1 = peaks_.count(1) ? peaks_[1] : peaks_.begin()->second;
  std::printf(
      "== microkernels, one L1-resident block (16 columns, K=%zu), 1 thread\n"
      "%-26s %3s %3s %10s %10s %8s %12s\n",
      kK, "kernel", "gs", "MR", "ns/call", "GOP/s", "%peak", "codes GB/s");
  for (const Entry& e : kEntries) {
    if (!IsaSupported(e.isa)) continue;
    for (size_t gs : {size_t{32}, size_t{128}}) {
      if (e.tile != nullptr && gs != 128) continue;  // no group size
      const std::vector<float> w = RandomFloats(kW4BlockColumns * kK, 3);
      const PackedW4 packed = PackW4(reference::QuantizeInt4Weights(
          w.data(), kW4BlockColumns, kK, gs, DType::kF32));
      const std::vector<float> a = RandomFloats(kW4MaxRows * kK, 4);
      std::vector<uint8_t> ua(kW4MaxRows * kK);
      for (size_t i = 0; i < ua.size(); ++i) ua[i] = static_cast<uint8_t>(i);
      std::vector<int32_t> sums(kW4MaxRows * (kK / gs), 1000);
      const std::vector<float> asum(kW4MaxRows * (kK / gs), 1000.0f);
      std::vector<Dq8Row> rows(kW4MaxRows);
      for (size_t r = 0; r < kW4MaxRows; ++r) {
        rows[r] = {0.01f, 130, sums.data() + r * (kK / gs),
                   asum.data() + r * (kK / gs)};
      }
      AlignedBytes unpacked = AllocateAligned(kK * kW4BlockColumns * 4);
      float* wf = reinterpret_cast<float*>(unpacked.get());
      // The int8 tile runs kW4Dq8TileMaxBlocks copies of the block.
      const size_t nb = e.dq8_tile != nullptr ? kW4Dq8TileMaxBlocks : 1;
      const size_t dq8_block_bytes = (kK / gs) * W4Dq8UnpackedGroupBytes(gs);
      AlignedBytes dq8_unpacked = AllocateAligned(nb * dq8_block_bytes);
      for (size_t b = 0; b < nb && e.dq8_tile != nullptr; ++b) {
        e.dq8_unpack(kK / gs, gs, packed.block(0),
                     dq8_unpacked.get() + b * dq8_block_bytes);
      }
      std::vector<float> c(kW4MaxRows * kW4BlockColumns * nb);
      std::vector<size_t> mrs = {1, kW4MaxRows};
      if (e.unpack != nullptr ||
          (e.dq8_tile == nullptr && e.dq8_unpack != nullptr)) {
        mrs = {0};  // an unpack: no rows
      }
      for (size_t mr : mrs) {
        const Stats s = Measure(
            [&](size_t) {
              if (e.f32 != nullptr) {
                e.f32(mr, 1, kK, gs, a.data(), kK, packed.block(0), c.data(),
                      kW4BlockColumns);
              } else if (e.dq8 != nullptr) {
                e.dq8(mr, kK, gs, ua.data(), kK, rows.data(), packed.block(0),
                      c.data(), kW4BlockColumns);
              } else if (e.unpack != nullptr) {
                e.unpack(kK / gs, gs, packed.block(0), wf);
              } else if (e.dq8_tile != nullptr) {
                e.dq8_tile(mr, nb, kK / gs, gs, ua.data(), kK, rows.data(),
                           asum.data(), kK / gs, dq8_unpacked.get(),
                           dq8_block_bytes, c.data(), nb * kW4BlockColumns,
                           false, true);
              } else if (e.dq8_unpack != nullptr) {
                e.dq8_unpack(kK / gs, gs, packed.block(0), dq8_unpacked.get());
              } else {
                e.tile(mr, kK, a.data(), kK, wf, c.data(), kW4BlockColumns,
                       false);
              }
            },
            timing_);
        const double ops = 2.0 * mr * kW4BlockColumns * kK * nb;
        const bool int8 = e.dq8 != nullptr || e.dq8_tile != nullptr;
        const double peak = int8 ? p1.vnni : p1.fma;
        const double gops = ops / s.median / 1e9;
        const double frac = peak > 0 && mr > 0 ? ops / s.median / peak : NAN;
        const double code_gbps = packed.bytes() / s.median / 1e9;
        std::printf("%-26s %3zu %3zu %10.1f %10.1f %7.1f%% %12.1f\n", e.name,
                    gs, mr, s.median * 1e9, gops, 100 * frac, code_gbps);
        JsonObject j;
        j.Add("kind", "microkernel")
            .Add("kernel", e.name)
            .Add("mode", int8 ? "int8_asym_per_token" : "none")
            .Add("gs", gs)
            .Add("mr", mr)
            .Add("k", kK)
            .Add("ns_median", s.median * 1e9)
            .Add("gops", gops)
            .Add("frac_peak", frac)
            .Add("packed_gbps", code_gbps);
        Emit(j);
      }
    }
  }
  if (o_.intx) MicroKernelsIntx(kK, p1);
  std::printf("\n");
}

// The intx_opaque microkernels on one L1-resident block, as MicroKernels()
// does for int4: bit widths 2, 4, 8, group 32 and per channel.
void Bench::MicroKernelsIntx(size_t kK, const Peaks& p1) {
  struct Entry {
    const char* name;
    Isa isa;
    WxF32GemmFn f32;
    WxDq8GemmFn dq8;
    WxF32UnpackFn unpack;
  };
  static const Entry kEntries[] = {
#define QL_WX_F32_KERNEL(fn, min_isa) {#fn, Isa::min_isa, fn, nullptr, nullptr},
#define QL_WX_DQ8_KERNEL(fn, min_isa) {#fn, Isa::min_isa, nullptr, fn, nullptr},
#define QL_WX_F32_TILED(unpack_fn, tile_fn, min_isa) \
  {#unpack_fn, Isa::min_isa, nullptr, nullptr, unpack_fn},
#include "kernels/gemm/gemm_kernels.inc"
#undef QL_WX_F32_KERNEL
#undef QL_WX_DQ8_KERNEL
#undef QL_WX_F32_TILED
  };
  std::printf("%-26s %-7s %3s %10s %10s %8s %12s\n", "intx kernel", "weights",
              "MR", "ns/call", "GOP/s", "%peak", "codes GB/s");
  for (const Entry& e : kEntries) {
    if (!IsaSupported(e.isa)) continue;
    for (int bits : {2, 4, 8}) {
      for (size_t gs : {size_t{32}, kK}) {
        const std::vector<float> w = RandomFloats(kWxBlockColumns * kK, 3);
        const PackedWx packed = PackWx(reference::QuantizeIntxWeights(
            w.data(), kWxBlockColumns, kK, gs, bits, Mapping::kAsymmetric,
            DType::kF32, ScaleFloor::kSmallestNormal));
        const WxGeometry& geo = packed.geometry;
        const std::vector<float> a = RandomFloats(kWxMaxRows * kK, 4);
        std::vector<int8_t> qa(kWxMaxRows * geo.padded_k());
        for (size_t i = 0; i < qa.size(); ++i) qa[i] = static_cast<int8_t>(i);
        std::vector<int32_t> sums(kWxMaxRows * geo.groups, 1000);
        std::vector<WxDq8Row> rows(kWxMaxRows);
        for (size_t r = 0; r < kWxMaxRows; ++r)
          rows[r] = {0.01f, 3, sums.data() + r * geo.groups};
        AlignedBytes unpacked = AllocateAligned(kK * kWxBlockColumns * 4);
        float* wf = reinterpret_cast<float*>(unpacked.get());
        std::vector<float> c(kWxMaxRows * kWxBlockColumns);
        std::vector<size_t> mrs = {1, kWxMaxRows};
        if (e.unpack != nullptr) mrs = {0};  // no rows
        for (size_t mr : mrs) {
          const Stats s = Measure(
              [&](size_t) {
                if (e.f32 != nullptr) {
                  e.f32(mr, 1, a.data(), kK, packed.block(0), geo, DType::kF32,
                        c.data(), kWxBlockColumns);
                } else if (e.dq8 != nullptr) {
                  e.dq8(mr, qa.data(), geo.padded_k(), rows.data(),
                        packed.block(0), geo, c.data(), kWxBlockColumns);
                } else {
                  e.unpack(packed.block(0), geo, DType::kF32, 0, kK, wf);
                }
              },
              timing_);
          const double ops = 2.0 * mr * kWxBlockColumns * kK;
          const double peak = e.dq8 != nullptr ? p1.vnni : p1.fma;
          const double gops = ops / s.median / 1e9;
          const double frac = peak > 0 && mr > 0 ? ops / s.median / peak : NAN;
          const double code_gbps = packed.bytes() / s.median / 1e9;
          const std::string label =
              "b" + std::to_string(bits) + "/" +
              (gs == kK ? std::string("pc") : "gs" + std::to_string(gs));
          std::printf("%-26s %-7s %3zu %10.1f %10.1f %7.1f%% %12.1f\n", e.name,
                      label.c_str(), mr, s.median * 1e9, gops, 100 * frac,
                      code_gbps);
          JsonObject j;
          j.Add("kind", "microkernel")
              .Add("format", "intx_opaque")
              .Add("kernel", e.name)
              .Add("mode", e.dq8 != nullptr ? "int8_asym_per_token" : "none")
              .Add("bits", bits)
              .Add("gs", gs)
              .Add("per_channel", gs == kK)
              .Add("mr", mr)
              .Add("k", kK)
              .Add("ns_median", s.median * 1e9)
              .Add("gops", gops)
              .Add("frac_peak", frac)
              .Add("packed_gbps", code_gbps);
          Emit(j);
        }
      }
    }
  }
}

void Bench::Packing() {
  const size_t k = o_.quick ? 1024 : 4096, n = o_.quick ? 1024 : 11008;
  const size_t reps = o_.quick ? 1 : 3;
  std::printf("== packing a %zux%zu (KxN) layer on 1 thread (median of %zu)\n",
              k, n, reps);
  const std::vector<float> w = RandomFloats(n * k, 1);
  for (size_t gs : o_.int4 ? o_.group_sizes : std::vector<size_t>{}) {
    std::vector<double> quantize, validate, create;
    size_t packed_bytes = 0;
    for (size_t r = 0; r < reps; ++r) {
      Clock::time_point start = Clock::now();
      Int4PlainWeights plain =
          reference::QuantizeInt4Weights(w.data(), n, k, gs, DType::kF32);
      quantize.push_back(SecondsSince(start));
      LinearWeights lw = Int4Layer(plain);
      start = Clock::now();
      const absl::Status status = ValidateLinearWeights(lw);
      validate.push_back(SecondsSince(start));
      if (!status.ok()) std::exit(1);
      start = Clock::now();
      std::unique_ptr<Linear> layer = CreateOrDie(std::move(lw));
      create.push_back(SecondsSince(start));
      packed_bytes = layer->packed_bytes();
    }
    const Stats q = Summarize(quantize, 1), v = Summarize(validate, 1),
                c = Summarize(create, 1);
    std::printf(
        "  gs %3zu: quantize (reference::QuantizeInt4Weights) %.1f ms; "
        "Linear::Create %.1f ms (validation %.1f ms + packing %.1f ms); "
        "total %.1f ms; packed %.1f MB\n",
        gs, q.median * 1e3, c.median * 1e3, v.median * 1e3,
        (c.median - v.median) * 1e3, (q.median + c.median) * 1e3,
        packed_bytes / 1e6);
    JsonObject j;
    j.Add("kind", "packing")
        .Add("format", "int4_opaque")
        .Add("k", k)
        .Add("n", n)
        .Add("gs", gs)
        .Add("threads", 1)
        .Add("quantize_ms", q.median * 1e3)
        .Add("create_ms", c.median * 1e3)
        .Add("validate_ms", v.median * 1e3)
        .Add("pack_ms", (c.median - v.median) * 1e3)
        .Add("total_ms", (q.median + c.median) * 1e3)
        .Add("packed_bytes", packed_bytes);
    Emit(j);
  }
  if (o_.intx) {
    for (int bits : o_.intx_bits) {
      for (size_t g : o_.intx_group_sizes) {
        const size_t gs = g == 0 ? k : g;
        if (k % gs != 0) continue;
        std::vector<double> quantize, validate, create;
        size_t packed_bytes = 0;
        for (size_t r = 0; r < reps; ++r) {
          Clock::time_point start = Clock::now();
          IntxPlainWeights plain = reference::QuantizeIntxWeights(
              w.data(), n, k, gs, bits, Mapping::kAsymmetric, DType::kF32,
              ScaleFloor::kSmallestNormal);
          quantize.push_back(SecondsSince(start));
          LinearWeights lw = IntxLayer(std::move(plain));
          start = Clock::now();
          const absl::Status status = ValidateLinearWeights(lw);
          validate.push_back(SecondsSince(start));
          if (!status.ok()) std::exit(1);
          start = Clock::now();
          std::unique_ptr<Linear> layer = CreateOrDie(std::move(lw));
          create.push_back(SecondsSince(start));
          packed_bytes = layer->packed_bytes();
        }
        const Stats q = Summarize(quantize, 1), v = Summarize(validate, 1),
                    c = Summarize(create, 1);
        const std::string label =
            "b" + std::to_string(bits) + "/" +
            (g == 0 ? std::string("pc") : "gs" + std::to_string(gs));
        std::printf(
            "  intx %-7s: quantize (reference::QuantizeIntxWeights) %.1f ms; "
            "Linear::Create %.1f ms (validation %.1f ms + packing %.1f ms); "
            "total %.1f ms; packed %.1f MB\n",
            label.c_str(), q.median * 1e3, c.median * 1e3, v.median * 1e3,
            (c.median - v.median) * 1e3, (q.median + c.median) * 1e3,
            packed_bytes / 1e6);
        JsonObject j;
        j.Add("kind", "packing")
            .Add("format", "intx_opaque")
            .Add("bits", bits)
            .Add("per_channel", g == 0)
            .Add("k", k)
            .Add("n", n)
            .Add("gs", gs)
            .Add("threads", 1)
            .Add("quantize_ms", q.median * 1e3)
            .Add("create_ms", c.median * 1e3)
            .Add("validate_ms", v.median * 1e3)
            .Add("pack_ms", (c.median - v.median) * 1e3)
            .Add("total_ms", (q.median + c.median) * 1e3)
            .Add("packed_bytes", packed_bytes);
        Emit(j);
      }
    }
  }
  std::printf("\n");
}

// The row quantizer Linear uses on this machine
// (kernels/gemm/gemm_kernels.inc).
Dq8QuantizeRowFn ActiveDq8Quantizer() {
  Dq8QuantizeRowFn fn = nullptr;
  const Isa isa = ActiveIsa();
#define QL_DQ8_QUANTIZE_ROW(f, min_isa) \
  if (static_cast<int>(isa) >= static_cast<int>(Isa::min_isa)) fn = f;
#include "kernels/gemm/gemm_kernels.inc"
#undef QL_DQ8_QUANTIZE_ROW
  return fn;
}

// The activation-quantization prologue of Linear::Run in int8_asym_per_token
// mode (per-row codes and group sums with the dispatched quantizer), on one
// thread: Linear runs it on the calling thread for fewer than 8 rows and
// splits it over the pool otherwise.
Stats Bench::ActQuantPrologue(size_t m, size_t k, size_t group_size) {
  const auto key = std::make_tuple(m, k, group_size);
  auto it = act_quant_.find(key);
  if (it != act_quant_.end()) return it->second;
  const std::vector<float> x = RandomFloats(m * k, 9);
  std::vector<int8_t> qa(m * k);
  std::vector<int32_t> sums(m * (k / group_size));
  const Dq8QuantizeRowFn quantize = ActiveDq8Quantizer();
  const float eps = ScaleFloorValue(DType::kF32, ScaleFloor::kSmallestNormal);
  const Stats s = Measure(
      [&](size_t) {
        for (size_t r = 0; r < m; ++r) {
          quantize(x.data() + r * k, k, group_size, eps, qa.data() + r * k,
                   sums.data() + r * (k / group_size));
        }
      },
      timing_);
  act_quant_[key] = s;
  return s;
}

// One thing timed in the interleaved rounds of a measurement group.
struct Contender {
  std::function<void(size_t)> call;  // call(i): i counts up
  bool openmp = false;          // oneDNN: let OpenMP's workers idle afterwards
  size_t inner = 1;             // calls per sample
  size_t next = 0;              // next i
  std::vector<double> samples;  // seconds per call

  // Warmup; also sets `inner` so that a sample lasts min_sample_seconds.
  // Returns the seconds of one sample.
  double Calibrate(const MeasureOptions& o) {
    const Clock::time_point start = Clock::now();
    size_t calls = 0;
    double elapsed = 0;
    while (calls < o.warmup_calls || elapsed < o.warmup_seconds) {
      call(next++);
      ++calls;
      elapsed = SecondsSince(start);
    }
    const double per_call = elapsed / static_cast<double>(calls);
    inner = per_call >= o.min_sample_seconds
                ? 1
                : std::min<size_t>(o.max_inner,
                                   static_cast<size_t>(std::ceil(
                                       o.min_sample_seconds / per_call)));
    return per_call * static_cast<double>(inner);
  }

  void Sample() {
    const Clock::time_point start = Clock::now();
    for (size_t i = 0; i < inner; ++i) call(next++);
    samples.push_back(SecondsSince(start) / static_cast<double>(inner));
    LetWorkersIdle(openmp);
  }
};

// A limit sampled in the same rounds: one rate per round.
struct LimitSampler {
  std::function<double()> sample;
  std::vector<double> rates;
};

// Median of the per-round ratios a[r] / b[r] (paired, so host states that
// last a round cancel out).
double PairedRatio(const std::vector<double>& a, const std::vector<double>& b) {
  std::vector<double> r;
  for (size_t i = 0; i < std::min(a.size(), b.size()); ++i) {
    if (b[i] > 0) r.push_back(a[i] / b[i]);
  }
  return r.empty() ? NAN : Summarize(r, 1).median;
}

// Median over rounds of amount / (seconds[r] * limit[r]): the fraction of a
// limit reached, each sample against the limit sampled in its own round.
double PairedFraction(double amount, const std::vector<double>& seconds,
                      const std::vector<double>& limit) {
  std::vector<double> f;
  for (size_t i = 0; i < std::min(seconds.size(), limit.size()); ++i) {
    if (seconds[i] > 0 && limit[i] > 0)
      f.push_back(amount / (seconds[i] * limit[i]));
  }
  return f.empty() ? NAN : Summarize(f, 1).median;
}

// Every contender of one (shape, residency, M) -- oneDNN f32 / u8s8 / bf16
// and our layers for each group size and mode, each at every thread count --
// and the limits they are compared with, are measured in interleaved rounds:
// each round takes one sample of each, in a rotating order. The host's
// state (clock, co-scheduled vCPUs) changes over seconds; interleaving makes
// every ratio compare samples taken under the same conditions.
// The configs of one shape run in batches, each with its own oneDNN
// contenders and limits: int4_opaque (every group size), then intx_opaque
// one bit width at a time (its group sizes), so that only one batch's DRAM
// stacks (several hundred MiB of packed weights each) are alive at a time.
void Bench::Shape(size_t k, size_t n) {
  std::printf("== shape K=%zu N=%zu\n", k, n);
  std::fflush(stdout);
  const std::vector<float> wf = RandomFloats(n * k, 5);
  std::vector<std::vector<LayerConfig>> batches;
  if (o_.int4) {
    std::vector<LayerConfig> int4;
    for (size_t gs : o_.group_sizes) {
      if (k % gs != 0) continue;
      LayerConfig c;
      c.format = WeightFormat::kInt4Opaque;
      c.group_size = gs;
      int4.push_back(c);
    }
    if (!int4.empty()) batches.push_back(int4);
  }
  if (o_.intx) {
    for (int bits : o_.intx_bits) {
      std::vector<LayerConfig> intx;
      for (size_t gs : o_.intx_group_sizes) {
        if (gs != 0 && k % gs != 0) continue;
        LayerConfig c;
        c.format = WeightFormat::kIntxOpaque;
        c.bits = bits;
        c.per_channel = gs == 0;
        c.group_size = gs == 0 ? k : gs;
        intx.push_back(c);
      }
      if (!intx.empty()) batches.push_back(intx);
    }
  }
  for (const std::vector<LayerConfig>& configs : batches) {
    ShapeBatch(k, n, wf, configs);
  }
}

void Bench::ShapeBatch(size_t k, size_t n, const std::vector<float>& wf,
                       const std::vector<LayerConfig>& configs) {
  const bool want_dram = std::find(o_.residencies.begin(), o_.residencies.end(),
                                   Residency::kDram) != o_.residencies.end();
  // Layers: [config] -> one hot layer, and a stack for the DRAM case.
  std::map<size_t, std::vector<std::unique_ptr<Linear>>> hot, stack;
  // Buffers of the packed size, for the read bandwidth at the working set.
  std::map<size_t, AlignedBytes> l3_buffers;
  for (size_t ci = 0; ci < configs.size(); ++ci) {
    const LayerConfig& cfg = configs[ci];
    LinearWeights lw;
    if (cfg.format == WeightFormat::kInt4Opaque) {
      lw = Int4Layer(reference::QuantizeInt4Weights(
          wf.data(), n, k, cfg.group_size, DType::kF32));
    } else {
      lw = IntxLayer(reference::QuantizeIntxWeights(
          wf.data(), n, k, cfg.group_size, cfg.bits, Mapping::kAsymmetric,
          DType::kF32, ScaleFloor::kSmallestNormal));
    }
    hot[ci].push_back(CreateOrDie(lw));
    const size_t bytes = hot[ci][0]->packed_bytes();
    l3_buffers[ci] = AllocateAligned(bytes);
    std::memset(l3_buffers[ci].get(), 0x5a, bytes);
    if (want_dram) {
      const size_t count =
          std::max<size_t>(2, (kDramStackBytes + bytes - 1) / bytes);
      for (size_t i = 0; i < count; ++i) stack[ci].push_back(CreateOrDie(lw));
    }
  }
  const DnnlKind kinds[] = {DnnlKind::kF32, DnnlKind::kU8S8, DnnlKind::kBf16};
  const size_t fma_iterations = PeakIterations(PeakKind::kFp32Fma, 0.005);
  const size_t vnni_iterations = PeakIterations(PeakKind::kVnni, 0.005);
  for (Residency res : o_.residencies) {
    // oneDNN weights: one copy (hot), or enough copies to exceed the L3.
    std::vector<std::unique_ptr<DnnlMatmul>> dnnl;
    if (o_.onednn) {
      for (DnnlKind kind : kinds) {
        const size_t bytes = k * n * DnnlWeightElementBytes(kind);
        const size_t copies =
            res == Residency::kL3
                ? 1
                : std::max<size_t>(2, (kDramStackBytes + bytes - 1) / bytes);
        dnnl.push_back(std::make_unique<DnnlMatmul>(kind, k, n, copies));
      }
    }
    auto& layers = res == Residency::kL3 ? hot : stack;
    // The last unavailable reason noted per oneDNN kind, so that each
    // reason is printed once per residency.
    std::string noted[3];
    std::printf(
        "-- residency %s; times in us; xf32/xu8s8/xbf16 = oneDNN time / ours "
        "(> 1: ours faster); bw%% = weight GB/s / read GB/s at the working "
        "set (l3) or of 1 GiB (dram); pk%% = GOP/s / peak (FMA for none, "
        "VNNI for int8); bw%% and pk%% are medians over the rounds of each "
        "sample against the limit sampled in the same round\n"
        "%4s %3s %-7s %-5s %-24s %9s %9s %9s %8s %7s %9s %9s %9s %6s %6s %6s "
        "%5s %5s\n",
        ResidencyName(res), "M", "thr", "weights", "mode", "kernel", "median",
        "min", "max", "GOP/s", "wGB/s", "f32", "u8s8", "bf16", "xf32", "xu8s8",
        "xbf16", "bw%", "pk%");
    for (size_t m : o_.ms) {
      const std::vector<float> x = RandomFloats(m * k, 13);
      std::vector<float> y(m * n);
      // Contenders: [threads][kind] for oneDNN, [threads][config][mode] ours.
      std::map<std::pair<int, size_t>, Contender> onednn;
      std::map<std::tuple<int, size_t, ActQuant>, Contender> ours;
      std::vector<Contender*> all;
      // A oneDNN kind this CPU has no primitive for is not timed: its
      // columns show "-" and the JSON its reason (docs/benchmarks.md).
      bool available[3] = {false, false, false};
      std::string reason[3];
      if (o_.onednn) {
        for (size_t b = 0; b < 3; ++b) {
          available[b] = dnnl[b]->Prepare(m, o_.threads);
          if (available[b]) {
            noted[b].clear();  // a later failure is noted again
            continue;
          }
          reason[b] = dnnl[b]->unavailable_reason();
          if (reason[b] == noted[b]) continue;
          noted[b] = reason[b];
          std::printf(
              "     note: oneDNN %s matmul unavailable from M=%zu on (%s); "
              "its columns show -\n",
              DnnlKindName(kinds[b]), m, reason[b].c_str());
          JsonObject j;
          j.Add("kind", "onednn_unavailable")
              .Add("baseline", std::string("onednn_") + DnnlKindName(kinds[b]))
              .Add("m", m)
              .Add("k", k)
              .Add("n", n)
              .Add("residency", ResidencyName(res))
              .Add("reason", reason[b]);
          Emit(j);
        }
        for (int t : o_.threads) {
          for (size_t b = 0; b < 3; ++b) {
            if (!available[b]) continue;
            Contender& c = onednn[{t, b}];
            DnnlMatmul* d = dnnl[b].get();
            c.call = [d, t](size_t i) { d->Run(i, t); };
            c.openmp = true;
            all.push_back(&c);
          }
        }
      }
      for (int t : o_.threads) {
        ThreadPool* pool = &Pool(t);
        for (const auto& entry : layers) {
          const std::vector<std::unique_ptr<Linear>>* stack_gs = &entry.second;
          for (ActQuant mode : o_.modes) {
            Contender& c = ours[{t, entry.first, mode}];
            c.call = [stack_gs, pool, mode, m, &x, &y](size_t i) {
              (*stack_gs)[i % stack_gs->size()]->Run(x.data(), m, mode, false,
                                                     y.data(), pool);
            };
            all.push_back(&c);
          }
        }
      }
      // Limits: [threads] peaks, [threads][config] read bandwidth.
      std::map<int, LimitSampler> fma, vnni;
      std::map<std::pair<int, size_t>, LimitSampler> read;
      for (int t : o_.threads) {
        fma[t].sample = [t, fma_iterations] {
          return PeakSample(PeakKind::kFp32Fma, t, fma_iterations);
        };
        vnni[t].sample = [t, vnni_iterations] {
          return PeakSample(PeakKind::kVnni, t, vnni_iterations);
        };
        for (const auto& entry : layers) {
          const size_t gs = entry.first;
          if (res == Residency::kDram && gs != layers.begin()->first) {
            continue;  // one DRAM figure serves every config
          }
          const uint8_t* buf =
              res == Residency::kL3 ? l3_buffers[gs].get() : DramBuffer();
          const size_t bytes = res == Residency::kL3
                                   ? entry.second[0]->packed_bytes()
                                   : kDramBufferBytes;
          const bool warm = res == Residency::kL3;
          read[{t, gs}].sample = [buf, bytes, t, warm] {
            return ReadBandwidthOf(buf, bytes, t, 1, warm);
          };
        }
      }

      double round_seconds = 0;
      for (Contender* c : all) round_seconds += c->Calibrate(timing_);
      size_t rounds = o_.repeats;
      if (round_seconds * static_cast<double>(rounds) > group_max_seconds_) {
        rounds = std::max<size_t>(
            std::min<size_t>(3, o_.repeats),
            static_cast<size_t>(group_max_seconds_ / round_seconds));
      }
      for (size_t r = 0; r < rounds; ++r) {
        for (size_t i = 0; i < all.size(); ++i)
          all[(i + r) % all.size()]->Sample();
        for (auto& [t, l] : fma) l.rates.push_back(l.sample());
        for (auto& [t, l] : vnni) l.rates.push_back(l.sample());
        for (auto& [key, l] : read) l.rates.push_back(l.sample());
      }

      const double ops = 2.0 * m * n * k;
      for (int t : o_.threads) {
        const double fma_peak = Summarize(fma[t].rates, 1).median;
        const double vnni_peak = Summarize(vnni[t].rates, 1).median;
        Stats base[3];
        for (size_t b = 0; b < 3; ++b) {
          if (available[b]) {
            const Contender& c = onednn[{t, b}];
            base[b] = Summarize(c.samples, c.inner);
          }
        }
        for (const auto& entry : layers) {
          const size_t gs = entry.first;  // the config's index
          const LayerConfig& cfg = configs[gs];
          const size_t packed = entry.second[0]->packed_bytes();
          const LimitSampler& rl = res == Residency::kL3
                                       ? read[{t, gs}]
                                       : read[{t, layers.begin()->first}];
          const double bw = Summarize(rl.rates, 1).median;
          for (ActQuant mode : o_.modes) {
            const Contender& c = ours[{t, gs, mode}];
            const Stats s = Summarize(c.samples, c.inner);
            const double gops = ops / s.median / 1e9;
            const double wgbps = packed / s.median / 1e9;
            const bool int8 = mode == ActQuant::kInt8AsymPerToken;
            const double peak = int8 ? vnni_peak : fma_peak;
            const double frac_bw = bw > 0 ? wgbps * 1e9 / bw : NAN;
            const double frac_peak = peak > 0 ? gops * 1e9 / peak : NAN;
            const std::vector<double>& peak_rates =
                int8 ? vnni[t].rates : fma[t].rates;
            const double paired_bw = PairedFraction(static_cast<double>(packed),
                                                    c.samples, rl.rates);
            const double paired_peak =
                PairedFraction(ops, c.samples, peak_rates);
            const double roof = peak > 0 ? std::min(peak, ops / packed * bw)
                                         : ops / packed * bw;
            auto ratio = [&](size_t b) {
              return available[b] ? base[b].median / s.median : NAN;
            };
            const std::string kernel(entry.second[0]->kernel_name(mode));
            std::printf(
                "%4zu %3d %-7s %-5s %-24s %9.1f %9.1f %9.1f %8.1f %7.1f "
                "%s %s %s %s %s %s %5.0f %5.0f\n",
                m, t, cfg.Label().c_str(), int8 ? "int8" : "none",
                kernel.c_str(), s.median * 1e6, s.min * 1e6, s.max * 1e6, gops,
                wgbps, Cell(available[0], base[0].median * 1e6, 9, 1).c_str(),
                Cell(available[1], base[1].median * 1e6, 9, 1).c_str(),
                Cell(available[2], base[2].median * 1e6, 9, 1).c_str(),
                Cell(available[0], ratio(0), 6, 2).c_str(),
                Cell(available[1], ratio(1), 6, 2).c_str(),
                Cell(available[2], ratio(2), 6, 2).c_str(), 100 * paired_bw,
                100 * paired_peak);
            JsonObject j;
            j.Add("kind", "point")
                .Add("format", std::string(WeightFormatName(cfg.format)))
                .Add("m", m)
                .Add("k", k)
                .Add("n", n)
                .Add("gs", cfg.group_size)
                .Add("mode", std::string(ActQuantName(mode)))
                .Add("threads", t)
                .Add("residency", ResidencyName(res))
                .Add("kernel", kernel)
                .Add("layers", entry.second.size())
                .Add("bits",
                     cfg.format == WeightFormat::kIntxOpaque ? cfg.bits : 4)
                .Add("per_channel", cfg.per_channel)
                .Add("packed_bytes", packed)
                .AddStatsUs("us", s)
                .Add("rounds", rounds)
                .Add("calls_per_sample", c.inner)
                .Add("gops", gops)
                .Add("weight_gbps", wgbps)
                .Add("read_gbps", bw / 1e9)
                .Add("fma_peak_gflops", fma_peak / 1e9)
                .Add("vnni_peak_gops", vnni_peak / 1e9)
                .Add("peak_gops", peak / 1e9)
                .Add("frac_bw", frac_bw)
                .Add("frac_peak", frac_peak)
                .Add("paired_frac_bw", paired_bw)
                .Add("paired_frac_peak", paired_peak)
                .AddArray("us_samples", c.samples, 1e6)
                .AddArray("read_gbps_samples", rl.rates, 1e-9)
                .AddArray("peak_gops_samples", peak_rates, 1e-9)
                .Add("roofline_gops", roof / 1e9)
                .Add("frac_roofline", gops * 1e9 / roof);
            for (size_t b = 0; b < 3; ++b) {
              const std::string name =
                  std::string("onednn_") + DnnlKindName(kinds[b]);
              if (available[b]) {
                const Contender& d = onednn[{t, b}];
                j.AddStatsUs(name + "_us", base[b])
                    .Add(name + "_gops", ops / base[b].median / 1e9)
                    .Add(name + "_impl", dnnl[b]->impl_name(t))
                    .Add("ratio_vs_" + name, ratio(b))
                    .AddArray(name + "_us_samples", d.samples, 1e6)
                    .Add("paired_ratio_vs_" + name,
                         PairedRatio(d.samples, c.samples));
              } else {
                j.AddNull(name + "_us_median").AddNull("ratio_vs_" + name);
                if (!reason[b].empty()) j.Add(name + "_unavailable", reason[b]);
              }
            }
            // 1 -> t threads, paired within the rounds.
            if (t != o_.threads.front()) {
              const Contender& c1 = ours[{o_.threads.front(), gs, mode}];
              j.Add("speedup_vs_threads", o_.threads.front())
                  .Add("speedup", Summarize(c1.samples, 1).median / s.median)
                  .Add("paired_speedup", PairedRatio(c1.samples, c.samples));
            }
            if (int8) {
              const Stats q = ActQuantPrologue(m, k, cfg.group_size);
              j.Add("act_quant_us", q.median * 1e6)
                  .Add("act_quant_frac", q.median / s.median);
            }
            Emit(j);
          }
        }
      }
      std::fflush(stdout);
    }
    Flush();
  }
  std::printf("\n");
}

// Clocks drift on a shared host: the peaks are measured again at the end and
// the higher median is kept (the JSON has both). Points already printed used
// the first value; the JSON ratios are recomputed by bench/plot.py.
void Bench::RemeasurePeaks() {
  const size_t samples = o_.quick ? 3 : 7;
  for (int t : o_.threads) {
    const double fma = PeakFp32FmaOps(t, samples);
    const double vnni = PeakVnniOps(t, samples);
    const double bf16 = PeakBf16Ops(t, samples);
    std::printf(
        "== peaks again at the end, %d thread(s): fma %.1f GFLOP/s, "
        "vnni %.1f GOP/s, bf16 %.1f GFLOP/s\n",
        t, fma / 1e9, vnni / 1e9, bf16 / 1e9);
    JsonObject j;
    j.Add("kind", "limits_end")
        .Add("threads", t)
        .Add("fma_fp32_gflops", fma / 1e9)
        .Add("vnni_gops", vnni / 1e9)
        .Add("bf16_gflops", bf16 / 1e9);
    Emit(j);
  }
}

// ---------------------------------------------------------------------------
// The cost of the server's metrics (issue 6; docs/operations.md, "Cost of the
// metrics"). One M=1 request through the default model runs through the
// server's own batch runner (server/batch_runner.h RunBatch, a batch
// of one task) (a) bare, with no statistics and no metrics, and (b) with what
// the server records for it, through the real classes: the service's start
// time and the ModelStats and ModelMetrics its ModelEntry caches
// (qlinear_service.cc ScheduleForward; ModelManager creates them at load),
// the batcher's enqueue time, RunBatch's statistics and its queue, batch,
// kernel, act-quant and ops observations, and RequestRecorder::Success when
// the task completes.
namespace metrics_overhead {

// What the server holds to run and record one model version.
struct Served {
  std::shared_ptr<const model::LinearStack> stack;
  std::vector<float> x;  // the request's row
  std::string model, version;
  // What the model's ModelEntry caches at load.
  std::shared_ptr<server::ModelStats> stats;
  std::shared_ptr<server::ModelMetrics> metrics;
};

// One request of one row through every layer, recorded as the server
// records it when `record`. Returns the sum of the layer times RunBatch
// reports, so that the wall time minus this is the time spent outside the
// layers.
double Forward(const Served& s, ActQuant mode, ThreadPool* pool, bool record) {
  using SteadyClock = std::chrono::steady_clock;
  server::RequestRecorder recorder;
  if (record) {
    recorder.start = SteadyClock::now();
    recorder.rpc = server::Rpc::kForward;
    recorder.stats = s.stats;
    recorder.metrics = s.metrics;
    recorder.model = s.model;
    recorder.compute_input_ns = server::NanosSince(recorder.start);
  }
  server::InferenceCall call;
  call.layer_end = s.stack->num_layers();
  call.input.rows = 1;
  call.input.cols = s.x.size();
  call.input.values = s.x;
  call.act_quant = mode;
  server::ModelEntry entry;
  entry.stack = s.stack;
  std::unique_ptr<server::InferenceTask> task =
      server::MakeInferenceTask(entry, std::move(call), recorder, nullptr);
  double layer_seconds = 0.0;
  task->done = [&](absl::Status status, server::TaskResult result) {
    if (!status.ok()) std::exit(1);
    for (const model::LayerTiming& t : result.layers)
      layer_seconds += t.kernel_seconds;
    if (record) {
      recorder.Success(1, result, SteadyClock::now());
    }
  };
  const server::batching::Clock& clock = *server::batching::RealClock::Get();
  task->enqueued = clock.Now();
  server::batching::Batch batch;
  batch.tasks.push_back(std::move(task));
  server::RunBatch(std::move(batch), clock, pool);
  return layer_seconds;
}

// The median of `v` and a 95 % confidence interval of it (the order
// statistics n/2 -+ 0.98 sqrt(n)).
struct MedianCi {
  double median = NAN, low = NAN, high = NAN;
};
MedianCi MedianWithCi(std::vector<double> v) {
  MedianCi m;
  if (v.empty()) return m;
  std::sort(v.begin(), v.end());
  const size_t n = v.size();
  m.median = n % 2 == 1 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]);
  const double half = 0.98 * std::sqrt(static_cast<double>(n));
  const double lo = std::floor(static_cast<double>(n) / 2 - half);
  const double hi = std::ceil(static_cast<double>(n) / 2 + half);
  m.low = v[static_cast<size_t>(std::max(0.0, lo))];
  m.high = v[std::min(n - 1, static_cast<size_t>(hi))];
  return m;
}

// One (threads, mode) point: per pair, the wall time of each variant and
// its time outside the layers.
struct Point {
  int threads = 1;
  ActQuant mode = ActQuant::kNone;
  std::vector<double> bare, recorded;
  std::vector<double> bare_outside, recorded_outside;
};

}  // namespace metrics_overhead

// Every round runs, for each (threads, mode) point, one bare and one
// recorded forward back to back (their order alternating over rounds), each
// timed alone, so both calls of a pair see the same host state (clock,
// co-scheduled vCPUs). Reported per point, as medians over the pairs with
// 95 % confidence intervals:
//  - overhead: recorded - bare wall time, the whole cost including any
//    effect of the recording on the kernels, but noisy;
//  - outside: the same difference of the time outside the layers (wall
//    minus the layer times RunBatch reports), the recording's own time
//    with caches as the kernels left them; much less noisy.
void Bench::MetricsOverhead() {
  using metrics_overhead::MedianCi;
  using metrics_overhead::MedianWithCi;
  using metrics_overhead::Point;
  const Clock::time_point build_start = Clock::now();
  absl::StatusOr<std::unique_ptr<model::LinearStack>> built =
      model::BuildDefaultModel();
  if (!built.ok()) {
    std::fprintf(stderr, "BuildDefaultModel failed: %s\n",
                 std::string(built.status().message()).c_str());
    std::exit(1);
  }
  const double build_seconds = SecondsSince(build_start);
  server::StatsRegistry registry;
  absl::StatusOr<std::unique_ptr<server::Metrics>> metrics =
      server::Metrics::Create(/*address=*/"", {&registry, {}, {}});
  if (!metrics.ok()) std::exit(1);
  metrics_overhead::Served served;
  served.stack = std::move(*built);
  const model::LinearStack& stack = *served.stack;
  served.x = RandomFloats(stack.layer(0).k(), 17);
  served.model = model::kDefaultModelName;
  served.version = "1";
  // As ModelManager does when it loads a model.
  served.stats = registry.GetOrCreate(
      served.model, served.version,
      static_cast<size_t>(stack.manifest().batching.max_batch_rows));
  served.metrics = (*metrics)->AddModel(served.model, served.version, stack);

  std::vector<Point> points;
  for (int t : o_.threads) {
    for (ActQuant mode : o_.modes) {
      Point p;
      p.threads = t;
      p.mode = mode;
      points.push_back(p);
    }
  }
  auto run_pair = [&](Point* p, bool recorded_first) {
    ThreadPool* pool = &Pool(p->threads);
    for (int i = 0; i < 2; ++i) {
      const bool record = (i == 0) == recorded_first;
      const Clock::time_point start = Clock::now();
      const double layers =
          metrics_overhead::Forward(served, p->mode, pool, record);
      const double wall = SecondsSince(start);
      (record ? p->recorded : p->bare).push_back(wall);
      (record ? p->recorded_outside : p->bare_outside).push_back(wall - layers);
    }
  };
  // Warmup, then pairs until the round or time budget is spent.
  for (Point& p : points) {
    const Clock::time_point start = Clock::now();
    for (int i = 0; i < 3 || SecondsSince(start) < timing_.warmup_seconds;
         ++i) {
      run_pair(&p, i % 2 == 1);
    }
    p = Point{p.threads, p.mode, {}, {}, {}, {}};
  }
  const size_t max_rounds = o_.quick ? 51 : 2001;
  const double budget_seconds = o_.quick ? 1.0 : 20.0;
  const Clock::time_point start = Clock::now();
  size_t rounds = 0;
  while (rounds < max_rounds &&
         (rounds < 3 || SecondsSince(start) < budget_seconds)) {
    for (Point& p : points) run_pair(&p, rounds % 2 == 1);
    ++rounds;
  }

  std::printf(
      "== metrics overhead: one M=1 request through the default model (%zu "
      "layers, %.1f MB packed, built in %.1f s) and RunBatch, bare vs with "
      "the server's recording, %zu interleaved pairs per point; times in us, "
      "medians (95%% CI); overhead = recorded - bare wall time per pair; "
      "outside = the same for the time outside the layers\n"
      "%3s %-5s %8s %8s %8s %17s %7s %8s %17s %7s\n",
      stack.num_layers(), stack.packed_bytes() / 1e6, build_seconds, rounds,
      "thr", "mode", "bare", "recorded", "overhead", "(95% CI)", "%", "outside",
      "(95% CI)", "%");
  for (const Point& p : points) {
    const Stats sb = Summarize(p.bare, 1);
    const Stats sr = Summarize(p.recorded, 1);
    std::vector<double> diff, ratio, outside;
    for (size_t i = 0; i < p.bare.size(); ++i) {
      diff.push_back(p.recorded[i] - p.bare[i]);
      ratio.push_back(p.recorded[i] / p.bare[i] - 1.0);
      outside.push_back(p.recorded_outside[i] - p.bare_outside[i]);
    }
    const MedianCi overhead = MedianWithCi(diff);
    const MedianCi frac = MedianWithCi(ratio);
    const MedianCi out = MedianWithCi(outside);
    const bool int8 = p.mode == ActQuant::kInt8AsymPerToken;
    std::printf(
        "%3d %-5s %8.1f %8.1f %8.2f (%6.2f, %6.2f) %6.2f%% %8.2f (%6.2f, "
        "%6.2f) %6.2f%%\n",
        p.threads, int8 ? "int8" : "none", sb.median * 1e6, sr.median * 1e6,
        overhead.median * 1e6, overhead.low * 1e6, overhead.high * 1e6,
        100 * frac.median, out.median * 1e6, out.low * 1e6, out.high * 1e6,
        100 * out.median / sb.median);
    JsonObject j;
    j.Add("kind", "metrics_overhead")
        .Add("model", model::kDefaultModelName)
        .Add("layers", stack.num_layers())
        .Add("packed_bytes", stack.packed_bytes())
        .Add("m", size_t{1})
        .Add("mode", std::string(ActQuantName(p.mode)))
        .Add("threads", p.threads)
        .Add("kernel", std::string(stack.layer(1).kernel_name(p.mode)))
        .Add("pairs", rounds)
        .AddStatsUs("bare_us", sb)
        .AddStatsUs("recorded_us", sr)
        .Add("overhead_us", overhead.median * 1e6)
        .Add("overhead_us_ci_low", overhead.low * 1e6)
        .Add("overhead_us_ci_high", overhead.high * 1e6)
        .Add("overhead_frac", frac.median)
        .Add("overhead_frac_ci_low", frac.low)
        .Add("overhead_frac_ci_high", frac.high)
        .Add("outside_us", out.median * 1e6)
        .Add("outside_us_ci_low", out.low * 1e6)
        .Add("outside_us_ci_high", out.high * 1e6)
        .Add("outside_frac", out.median / sb.median);
    Emit(j);
  }
  // The recording really happened.
  const server::ModelStatsSnapshot snap =
      registry.Find(served.model, served.version)->Snapshot();
  std::printf("  recorded: %llu requests, %llu layer runs\n\n",
              static_cast<unsigned long long>(snap.success.count),
              static_cast<unsigned long long>(snap.layers_executed));
  Flush();
}

int Bench::Run() {
  Machine();
  if (o_.metrics_overhead_only) {
    MetricsOverhead();
  } else {
    Limits();
    PoolOverhead();
    if (o_.microkernels) MicroKernels();
    Flush();
    for (const auto& [k, n] : o_.shapes) Shape(k, n);
    if (o_.metrics_overhead) MetricsOverhead();
    if (o_.packing) Packing();
    RemeasurePeaks();
  }
  JsonObject end;
  end.Add("kind", "end").Add("loadavg_end", ReadFirstLine("/proc/loadavg"));
  Emit(end);
  Flush();
  return 0;
}

}  // namespace
}  // namespace qlinear::bench

int main(int argc, char** argv) {
  qlinear::bench::Bench bench(qlinear::bench::ParseOptions(argc, argv));
  return bench.Run();
}
