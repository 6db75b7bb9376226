// Timing, statistics and JSON output shared by the benchmark programs.
//
// Thread-compatible: one owner at a time. No intrinsics here
// (docs/architecture.md, "ISA flags"): this header is included by files of
// every ISA.
#ifndef QLINEAR_BENCH_BENCH_UTIL_H_
#define QLINEAR_BENCH_BENCH_UTIL_H_

#include <chrono>
#include <cstddef>
#include <cstdio>
#include <functional>
#include <string>
#include <utility>
#include <vector>

namespace qlinear::bench {

using Clock = std::chrono::steady_clock;

inline double SecondsSince(Clock::time_point start) {
  return std::chrono::duration<double>(Clock::now() - start).count();
}

// Median, min and max of a set of samples, in seconds per call.
struct Stats {
  double median = 0, min = 0, max = 0;
  size_t samples = 0;  // timed samples
  size_t inner = 0;    // calls per sample
};

Stats Summarize(std::vector<double> samples, size_t inner);

// How Measure() spends its time.
struct MeasureOptions {
  // Timed samples wanted; fewer are taken (but at least min_samples) when
  // the calls are so slow that `max_seconds` would be exceeded.
  size_t samples = 11;
  size_t min_samples = 3;
  double max_seconds = 4.0;
  // Warmup: at least this many calls and this long.
  size_t warmup_calls = 2;
  double warmup_seconds = 0.05;
  // A sample times enough back-to-back calls to last this long (short calls
  // are batched so the clock's resolution does not matter).
  double min_sample_seconds = 0.002;
  size_t max_inner = 100000;
};

// Times `call(i)` with i = 0, 1, 2, ... (callers cycle through data with
// i). Returns seconds per call.
Stats Measure(const std::function<void(size_t)>& call,
              const MeasureOptions& options);

// A flat JSON object written in insertion order.
class JsonObject {
 public:
  JsonObject& Add(const std::string& key, double value);
  JsonObject& Add(const std::string& key, int value) {
    return AddRaw(key, std::to_string(value));
  }
  JsonObject& Add(const std::string& key, size_t value) {
    return AddRaw(key, std::to_string(value));
  }
  JsonObject& Add(const std::string& key, bool value) {
    return AddRaw(key, value ? "true" : "false");
  }
  JsonObject& Add(const std::string& key, const std::string& value);
  JsonObject& Add(const std::string& key, const char* value) {
    return Add(key, std::string(value));
  }
  // Adds key_median, key_min, key_max in microseconds.
  JsonObject& AddStatsUs(const std::string& key, const Stats& s);
  JsonObject& AddNull(const std::string& key) { return AddRaw(key, "null"); }
  // An array of numbers, each scaled by `scale` (e.g. 1e6 for seconds ->
  // microseconds).
  JsonObject& AddArray(const std::string& key, const std::vector<double>& v,
                       double scale = 1.0);

  std::string ToString() const;

 private:
  JsonObject& AddRaw(const std::string& key, std::string raw);
  std::vector<std::pair<std::string, std::string>> fields_;
};

std::string JsonQuote(const std::string& s);

// Collects JSON objects and writes them as one JSON array.
class JsonLog {
 public:
  void Append(const JsonObject& o) { objects_.push_back(o.ToString()); }
  // Returns false when the file cannot be written.
  bool WriteArray(const std::string& path) const;

 private:
  std::vector<std::string> objects_;
};

}  // namespace qlinear::bench

#endif  // QLINEAR_BENCH_BENCH_UTIL_H_
