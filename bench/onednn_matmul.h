// oneDNN 2.6 (v2 API) matmul baselines on a [K, N] weight matrix:
//   kF32:  f32 src x f32 weights -> f32 dst
//   kU8S8: u8 src (runtime zero point) x s8 weights -> f32 dst, per-column
//          output scales (the weight scales) set at creation
//   kBf16: bf16 src x bf16 weights -> f32 dst
// Weights are random, reordered once into the layout the primitive asks for
// (format_tag::any), as an inference engine does at load. `copies` distinct
// copies let a caller cycle weights that do not fit the caches.
//
// Thread-compatible: one owner at a time. oneDNN here runs on OpenMP; Run()
// sets the OpenMP thread count.
#ifndef QLINEAR_BENCH_ONEDNN_MATMUL_H_
#define QLINEAR_BENCH_ONEDNN_MATMUL_H_

#include <cstddef>
#include <memory>
#include <string>
#include <vector>

namespace qlinear::bench {

enum class DnnlKind { kF32, kU8S8, kBf16 };

const char* DnnlKindName(DnnlKind kind);

// Bytes per weight of `kind` in plain layout.
size_t DnnlWeightElementBytes(DnnlKind kind);

class DnnlMatmul {
 public:
  DnnlMatmul(DnnlKind kind, size_t k, size_t n, size_t copies);
  ~DnnlMatmul();
  DnnlMatmul(const DnnlMatmul&) = delete;
  DnnlMatmul& operator=(const DnnlMatmul&) = delete;

  // "major.minor.patch" of the linked library.
  static std::string Version();

  // Creates one primitive for `m` rows per thread count in `threads` (oneDNN
  // sizes its blocking for the thread count at creation), and reorders the
  // weight copies into each layout they ask for. Returns false when oneDNN
  // cannot create the primitive here (oneDNN 2.6 has no bf16 matmul, for
  // one, on a CPU without avx512_core); unavailable_reason() then says why
  // and Run() must not be called until a Prepare() succeeds.
  bool Prepare(size_t m, const std::vector<int>& threads);
  // Why the last Prepare() failed (oneDNN's status and message, and the CPU
  // ISA it detected); empty after a success.
  const std::string& unavailable_reason() const;
  // Runs one matmul on `threads` OpenMP threads (a count given to
  // Prepare()) on weight copy `i % copies`, and waits for it.
  void Run(size_t i, int threads);

  size_t copies() const;
  // oneDNN's name of the implementation for `threads`.
  std::string impl_name(int threads) const;

 private:
  struct State;
  std::unique_ptr<State> state_;
};

}  // namespace qlinear::bench

#endif  // QLINEAR_BENCH_ONEDNN_MATMUL_H_
