// LogCapture: routes spdlog's default logger to memory while in scope, so a
// test can assert on the lines the code logged. Level: trace (everything).
//
// Thread-safe: lines may be logged from any thread; Lines() copies them.
#ifndef QLINEAR_TESTS_TESTING_LOG_CAPTURE_H_
#define QLINEAR_TESTS_TESTING_LOG_CAPTURE_H_

#include <spdlog/sinks/base_sink.h>
#include <spdlog/spdlog.h>

#include <memory>
#include <mutex>
#include <string>
#include <vector>

namespace qlinear::testing {

// Keeps the text of every log message.
class CaptureSink final : public spdlog::sinks::base_sink<std::mutex> {
 public:
  std::vector<std::string> Lines() {
    std::lock_guard<std::mutex> lock(mutex_);
    return lines_;
  }

 protected:
  void sink_it_(const spdlog::details::log_msg& msg) override {
    lines_.emplace_back(msg.payload.data(), msg.payload.size());
  }
  void flush_() override {}

 private:
  std::vector<std::string> lines_;  // guarded by base_sink's mutex_
};

// Restores the previous default logger when it goes out of scope.
class LogCapture {
 public:
  LogCapture()
      : sink_(std::make_shared<CaptureSink>()),
        previous_(spdlog::default_logger()) {
    auto logger = std::make_shared<spdlog::logger>("capture", sink_);
    logger->set_level(spdlog::level::trace);
    spdlog::set_default_logger(logger);
  }
  ~LogCapture() { spdlog::set_default_logger(previous_); }
  LogCapture(const LogCapture&) = delete;
  LogCapture& operator=(const LogCapture&) = delete;

  std::vector<std::string> Lines() { return sink_->Lines(); }

 private:
  std::shared_ptr<CaptureSink> sink_;
  std::shared_ptr<spdlog::logger> previous_;
};

}  // namespace qlinear::testing

#endif  // QLINEAR_TESTS_TESTING_LOG_CAPTURE_H_
