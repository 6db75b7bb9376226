#include "server/native_requests.h"

#include <chrono>
#include <memory>
#include <string>
#include <utility>

#include "common/status_macros.h"
#include "server/request_recorder.h"

namespace qlinear::server {
namespace {

using Clock = std::chrono::steady_clock;

// Fills the fields that ForwardResponse and MatmulResponse share.
template <typename Response>
void FillResponse(const ModelEntry& entry, const std::string& request_id,
                  size_t rows, size_t cols, absl::Span<const float> output,
                  Response* response) {
  response->set_model(entry.name);
  response->set_version(entry.version);
  response->set_request_id(request_id);
  EncodeMatrix(entry.stack->dtype(), rows, cols, output,
               response->mutable_output());
}

void FillTimings(const model::LinearStack& stack, const TaskResult& result,
                 Clock::time_point start, v1::Timings* timings) {
  timings->set_queue_seconds(result.queue_seconds);
  timings->set_batch_rows(static_cast<int64_t>(result.batch_rows));
  for (const model::LayerTiming& t : result.layers) {
    v1::LayerTiming* out = timings->add_layers();
    out->set_layer(stack.layer_spec(t.layer).name);
    out->set_kernel(std::string(t.kernel));
    out->set_kernel_seconds(t.kernel_seconds);
  }
  timings->set_total_seconds(SecondsSince(start));
}

// The synchronous quality check's figures (TaskResult::quality).
template <typename Response>
void FillActQuantQuality(const model::LinearStack& stack,
                         const TaskResult& result, Response* response) {
  for (const LayerQuality& lq : result.quality) {
    v1::LayerActQuantQuality* out = response->add_act_quant_quality();
    out->set_layer(stack.layer_spec(lq.layer).name);
    out->set_sqnr_db(lq.all.sqnr_db);
    out->set_rel_max_error(lq.all.rel_max_error);
    out->set_outlier_ratio(lq.all.outlier_ratio);
    for (const RowQuality& row : lq.rows) out->add_row_sqnr_db(row.sqnr_db);
  }
}

// The completion of a native task: fills `response` and calls `finish` with
// the outcome. The call is finished only by `finish` (or by the caller when
// scheduling fails), so `response` outlives the task.
template <typename Response>
TaskDone NativeDone(const ModelEntry& entry, std::string request_id,
                    bool want_timings, Response* response,
                    absl::AnyInvocable<void(absl::Status)> finish,
                    RequestRecorder recorder) {
  const Clock::time_point start = recorder.start;
  return [entry, request_id = std::move(request_id), want_timings, response,
          finish = std::move(finish), start, recorder = std::move(recorder)](
             absl::Status status, TaskResult result) mutable {
    if (status.ok()) {
      const Clock::time_point encode_start = Clock::now();
      FillResponse(entry, request_id, result.rows, result.cols, result.output(),
                   response);
      if (want_timings) {
        FillTimings(*entry.stack, result, start, response->mutable_timings());
      }
      FillActQuantQuality(*entry.stack, result, response);
      recorder.Success(result.rows, result, encode_start);
    } else {
      status = recorder.Failure(std::move(status));
    }
    finish(status);
  };
}

// The steps Forward and Matmul share: the model, the request validated into
// an InferenceCall by `to_call`, the task and its queue.
template <typename Request, typename Response, typename ToCall>
absl::Status Schedule(const RequestScheduling& scheduling, CallControl control,
                      const Request& request, Rpc rpc, Response* response,
                      absl::AnyInvocable<void(absl::Status)> done,
                      ToCall to_call) {
  RequestRecorder recorder;
  QL_ASSIGN_OR_RETURN(
      const ModelEntry entry,
      BeginRequest(*scheduling.registry, scheduling.metrics, rpc, "model",
                   request.model(), request.version(), request.request_id(),
                   Clock::now(), &recorder));
  absl::StatusOr<InferenceCall> run = to_call(*entry.stack);
  if (!run.ok()) return recorder.Failure(run.status());
  recorder.compute_input_ns = NanosSince(recorder.start);
  run->priority = request.priority();
  run->deadline = control.deadline;
  run->is_cancelled = std::move(control.is_cancelled);
  run->quality_check = request.return_act_quant_quality();
  std::unique_ptr<batching::Task> task = MakeInferenceTask(
      entry, *std::move(run), recorder,
      NativeDone(entry, request.request_id(), request.return_timings(),
                 response, std::move(done), recorder));
  return recorder.Failure(scheduling.batcher->Schedule(entry.name, &task));
}

}  // namespace

absl::Status ScheduleForward(const RequestScheduling& scheduling,
                             CallControl control,
                             const v1::ForwardRequest& request, Rpc rpc,
                             v1::ForwardResponse* response,
                             absl::AnyInvocable<void(absl::Status)> done) {
  return Schedule(
      scheduling, std::move(control), request, rpc, response, std::move(done),
      [&](const model::LinearStack& stack) -> absl::StatusOr<InferenceCall> {
        QL_ASSIGN_OR_RETURN(
            ForwardCall call,
            ValidateForwardRequest(request, stack, scheduling.limits));
        InferenceCall run;
        run.layer_begin = call.layer_begin;
        run.layer_end = call.layer_end;
        run.input = std::move(call.input);
        run.act_quant = call.act_quant;
        return run;
      });
}

absl::Status ScheduleMatmul(const RequestScheduling& scheduling,
                            CallControl control,
                            const v1::MatmulRequest& request,
                            v1::MatmulResponse* response,
                            absl::AnyInvocable<void(absl::Status)> done) {
  return Schedule(
      scheduling, std::move(control), request, Rpc::kMatmul, response,
      std::move(done),
      [&](const model::LinearStack& stack) -> absl::StatusOr<InferenceCall> {
        QL_ASSIGN_OR_RETURN(
            MatmulCall call,
            ValidateMatmulRequest(request, stack, scheduling.limits));
        InferenceCall run;
        run.layer_begin = call.layer;
        run.layer_end = call.layer + 1;
        run.matmul = true;
        run.input = std::move(call.input);
        run.act_quant = call.act_quant;
        return run;
      });
}

}  // namespace qlinear::server
