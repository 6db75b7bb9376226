// libFuzzer target: the ForwardStream path, a sequence of messages on one
// stream scheduled into a real Batcher on a fake clock, then drained.
//
// Each message takes the per-message path of QLinearService's stream
// handler, ScheduleForward (server/native_requests.h: model lookup,
// validation, the task, Batcher::Schedule, and on completion the encoded
// response); a scheduling error completes the message at once, as the
// reactor does. An unparseable message ends the stream. Between
// messages the input moves the clock, runs a ready batch (the executor),
// cancels the stream (the client leaves) or shuts the batcher down (drain).
// At the end the batcher is drained and checked: every message completed
// exactly once, with a documented status, an OK response holds bitwise the
// model's output for that request alone (batch_runner.h), nothing OK was
// cancelled or past its deadline, and every queue is empty.
//
// Input: 3 header bytes (max_batch_rows, max_queue_rows, delay and stream
// deadline), then chunks of [control byte][u16 little-endian length][bytes
// of a serialized ForwardRequest]; a short last chunk takes what is left.
// Build with -DQLINEAR_BUILD_FUZZERS=ON (clang).
#include <algorithm>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/time/time.h"
#include "kernels/thread_pool.h"
#include "qlinear/v1/qlinear.pb.h"
#include "server/batch_runner.h"
#include "server/batching/batcher.h"
#include "server/batching/clock.h"
#include "server/native_requests.h"
#include "server/validation.h"
#include "tests/fuzz/fuzz_models.h"

namespace qlinear::fuzz {
namespace {

using server::batching::Batcher;
using server::batching::FakeClock;

// Control byte of a chunk, applied before its message is read.
constexpr uint8_t kAdvanceMask = 0x07;  // advance the clock 250 us per unit
constexpr uint8_t kRunBatch = 0x08;     // the executor runs one ready batch
constexpr uint8_t kCancel = 0x10;       // the client cancels the stream
constexpr uint8_t kShutdown = 0x20;     // the server starts draining

// Reads the fuzz input front to back.
class Reader {
 public:
  Reader(const uint8_t* data, size_t size) : data_(data), size_(size) {}
  bool empty() const { return size_ == 0; }
  uint8_t Byte() {
    if (size_ == 0) return 0;
    --size_;
    return *data_++;
  }
  // Up to `n` bytes (fewer at the end of the input).
  std::pair<const uint8_t*, size_t> Bytes(size_t n) {
    n = std::min(n, size_);
    const uint8_t* p = data_;
    data_ += n;
    size_ -= n;
    return {p, n};
  }

 private:
  const uint8_t* data_;
  size_t size_;
};

// One message of the stream and how it ended.
struct Message {
  int completions = 0;
  absl::Status status;
  v1::ForwardRequest request;                     // what it asked for
  std::unique_ptr<v1::ForwardResponse> response;  // filled when OK
};

class StreamFuzz {
 public:
  explicit StreamFuzz(Reader* in) : in_(in), batcher_(&clock_) {
    server::batching::QueueOptions options;
    options.max_batch_rows = 1 + in->Byte() % 16;
    options.max_queue_rows = 1 + in->Byte() % 32;
    const uint8_t timing = in->Byte();
    options.max_queue_delay = absl::Microseconds(250 * (timing & 3));
    // The stream's deadline (the call's, shared by its messages).
    if ((timing & 0x0c) != 0) {
      deadline_ = clock_.Now() + absl::Microseconds(500 * ((timing >> 2) & 3));
    }
    for (const FuzzModel& m : FuzzModels()) batcher_.SetQueue(m.name, options);
  }

  void Run() {
    while (!in_->empty()) {
      const uint8_t control = in_->Byte();
      const uint8_t lo = in_->Byte();
      const size_t length = lo | (size_t{in_->Byte()} << 8);
      clock_.Advance(absl::Microseconds(250 * (control & kAdvanceMask)));
      if (control & kRunBatch) RunOneBatch();
      if (control & kCancel) *cancelled_ = true;
      if (control & kShutdown) batcher_.Shutdown();
      const auto [bytes, size] = in_->Bytes(length);
      v1::ForwardRequest request;
      if (!request.ParseFromArray(bytes, static_cast<int>(size))) break;
      const size_t index = messages_.size();
      messages_.emplace_back();
      const absl::Status scheduled = Schedule(request, index);
      if (!scheduled.ok()) {
        FuzzCheck(scheduled.code() == absl::StatusCode::kInvalidArgument ||
                  scheduled.code() == absl::StatusCode::kNotFound ||
                  scheduled.code() == absl::StatusCode::kResourceExhausted ||
                  scheduled.code() == absl::StatusCode::kUnavailable);
        Complete(index, scheduled, /*scheduled=*/false);
      }
    }
    Drain();
    for (const Message& m : messages_) FuzzCheck(m.completions == 1);
    FuzzCheck(batcher_.total_queued_tasks() == 0);
    for (const auto& queue : batcher_.QueuedRowsByModel()) {
      FuzzCheck(queue.second == 0);
    }
  }

 private:
  // The service's own per-message path (server/native_requests.h) with the
  // stream's deadline and cancellation.
  absl::Status Schedule(const v1::ForwardRequest& request, size_t index) {
    Message& m = messages_[index];
    m.request = request;
    m.response = std::make_unique<v1::ForwardResponse>();
    server::RequestScheduling scheduling;
    scheduling.registry = &FuzzRegistry();
    scheduling.limits = FuzzLimits();
    scheduling.batcher = &batcher_;
    server::CallControl control;
    control.deadline = deadline_;
    control.is_cancelled = [cancelled = cancelled_] { return *cancelled; };
    return server::ScheduleForward(
        scheduling, std::move(control), request, server::Rpc::kForwardStream,
        m.response.get(), [this, index](absl::Status status) {
          Complete(index, status, /*scheduled=*/true);
        });
  }

  // The reactor's Complete(): checks the outcome of message `index`.
  void Complete(size_t index, const absl::Status& status, bool scheduled) {
    Message& m = messages_[index];
    ++m.completions;
    FuzzCheck(m.completions == 1);
    m.status = status;
    if (!scheduled) return;
    if (!status.ok()) {
      FuzzCheck(status.code() == absl::StatusCode::kDeadlineExceeded ||
                status.code() == absl::StatusCode::kCancelled ||
                status.code() == absl::StatusCode::kUnavailable);
      return;
    }
    FuzzCheck(!*cancelled_);
    FuzzCheck(clock_.Now() < deadline_);
    // The oracle: the same request validated again and run alone.
    absl::StatusOr<server::ModelEntry> entry =
        FuzzRegistry().Lookup("model", m.request.model(), m.request.version());
    FuzzCheck(entry.ok());
    const model::LinearStack& stack = *entry->stack;
    absl::StatusOr<server::ForwardCall> call =
        server::ValidateForwardRequest(m.request, stack, FuzzLimits());
    FuzzCheck(call.ok());
    const size_t cols = stack.layer_spec(call->layer_end - 1).out_features;
    std::vector<float> alone;
    FuzzCheck(stack
                  .Forward(call->input.values.data(), call->input.rows,
                           call->layer_begin, call->layer_end, call->act_quant,
                           &alone)
                  .ok());
    // Bitwise: the values are exact in the dtype, so equal encodings are
    // equal values.
    v1::Tensor want;
    server::EncodeMatrix(stack.dtype(), call->input.rows, cols, alone, &want);
    const v1::Tensor& got = m.response->output();
    FuzzCheck(got.data() == want.data());
    FuzzCheck(got.shape_size() == 2 &&
              got.shape(0) == static_cast<int64_t>(call->input.rows) &&
              got.shape(1) == static_cast<int64_t>(cols));
    FuzzCheck(m.response->model() == entry->name);
  }

  // One step of the executor: runs a batch if one is ready now.
  bool RunOneBatch() {
    absl::Time wake_at;
    std::optional<server::batching::Batch> batch =
        batcher_.TryNextBatch(&wake_at);
    if (!batch.has_value()) return false;
    server::RunBatch(std::move(*batch), clock_, &Pool());
    return true;
  }

  // Runs everything still queued, moving the clock to each queue's delay.
  void Drain() {
    for (int steps = 0; steps < 100000; ++steps) {
      absl::Time wake_at;
      std::optional<server::batching::Batch> batch =
          batcher_.TryNextBatch(&wake_at);
      if (batch.has_value()) {
        server::RunBatch(std::move(*batch), clock_, &Pool());
        continue;
      }
      if (wake_at == absl::InfiniteFuture()) return;
      clock_.Advance(std::max(wake_at - clock_.Now(), absl::Nanoseconds(1)));
    }
    FuzzCheck(false);  // the batcher never ran dry
  }

  static ThreadPool& Pool() {
    static ThreadPool* pool = new ThreadPool(1);
    return *pool;
  }

  Reader* const in_;
  FakeClock clock_;
  // Before batcher_: its destructor completes tasks still queued.
  std::vector<Message> messages_;
  absl::Time deadline_ = absl::InfiniteFuture();
  std::shared_ptr<bool> cancelled_ = std::make_shared<bool>(false);
  Batcher batcher_;
};

}  // namespace
}  // namespace qlinear::fuzz

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  qlinear::fuzz::Reader in(data, size);
  qlinear::fuzz::StreamFuzz(&in).Run();
  return 0;
}
