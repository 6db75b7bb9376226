#include "bench/bench_util.h"

#include <algorithm>
#include <cmath>
#include <fstream>

namespace qlinear::bench {

Stats Summarize(std::vector<double> samples, size_t inner) {
  Stats s;
  s.samples = samples.size();
  s.inner = inner;
  if (samples.empty()) return s;
  std::sort(samples.begin(), samples.end());
  const size_t n = samples.size();
  s.median =
      n % 2 == 1 ? samples[n / 2] : 0.5 * (samples[n / 2 - 1] + samples[n / 2]);
  s.min = samples.front();
  s.max = samples.back();
  return s;
}

Stats Measure(const std::function<void(size_t)>& call,
              const MeasureOptions& options) {
  size_t index = 0;
  // Warmup, which also estimates the time of one call.
  const Clock::time_point warm_start = Clock::now();
  size_t warm_calls = 0;
  double elapsed = 0;
  while (warm_calls < options.warmup_calls ||
         elapsed < options.warmup_seconds) {
    call(index++);
    ++warm_calls;
    elapsed = SecondsSince(warm_start);
    if (warm_calls >= options.warmup_calls &&
        elapsed > options.max_seconds / 4) {
      break;  // very slow calls: the warmup calls suffice
    }
  }
  const double per_call = elapsed / static_cast<double>(warm_calls);
  size_t inner = 1;
  if (per_call > 0 && per_call < options.min_sample_seconds) {
    inner =
        static_cast<size_t>(std::ceil(options.min_sample_seconds / per_call));
  }
  inner = std::min(inner, options.max_inner);
  size_t samples = options.samples;
  const double sample_seconds = per_call * static_cast<double>(inner);
  if (sample_seconds > 0 &&
      sample_seconds * static_cast<double>(samples) > options.max_seconds) {
    samples =
        std::max(options.min_samples,
                 static_cast<size_t>(options.max_seconds / sample_seconds));
    samples = std::min(samples, options.samples);
  }
  std::vector<double> times;
  times.reserve(samples);
  for (size_t s = 0; s < samples; ++s) {
    const Clock::time_point start = Clock::now();
    for (size_t i = 0; i < inner; ++i) call(index++);
    times.push_back(SecondsSince(start) / static_cast<double>(inner));
  }
  return Summarize(std::move(times), inner);
}

std::string JsonQuote(const std::string& s) {
  std::string out = "\"";
  for (char c : s) {
    switch (c) {
      case '"':
        out += "\\\"";
        break;
      case '\\':
        out += "\\\\";
        break;
      case '\n':
        out += "\\n";
        break;
      case '\t':
        out += "\\t";
        break;
      default:
        if (static_cast<unsigned char>(c) < 0x20) {
          char buf[8];
          std::snprintf(buf, sizeof(buf), "\\u%04x", c);
          out += buf;
        } else {
          out += c;
        }
    }
  }
  out += "\"";
  return out;
}

JsonObject& JsonObject::AddRaw(const std::string& key, std::string raw) {
  fields_.emplace_back(key, std::move(raw));
  return *this;
}

JsonObject& JsonObject::Add(const std::string& key, double value) {
  if (!std::isfinite(value)) return AddRaw(key, "null");
  char buf[32];
  std::snprintf(buf, sizeof(buf), "%.6g", value);
  return AddRaw(key, buf);
}

JsonObject& JsonObject::Add(const std::string& key, const std::string& value) {
  return AddRaw(key, JsonQuote(value));
}

JsonObject& JsonObject::AddArray(const std::string& key,
                                 const std::vector<double>& v, double scale) {
  std::string raw = "[";
  for (size_t i = 0; i < v.size(); ++i) {
    if (i > 0) raw += ", ";
    const double x = v[i] * scale;
    if (std::isfinite(x)) {
      char buf[32];
      std::snprintf(buf, sizeof(buf), "%.6g", x);
      raw += buf;
    } else {
      raw += "null";
    }
  }
  raw += "]";
  return AddRaw(key, std::move(raw));
}

JsonObject& JsonObject::AddStatsUs(const std::string& key, const Stats& s) {
  Add(key + "_median", s.median * 1e6);
  Add(key + "_min", s.min * 1e6);
  Add(key + "_max", s.max * 1e6);
  return *this;
}

std::string JsonObject::ToString() const {
  std::string out = "{";
  for (size_t i = 0; i < fields_.size(); ++i) {
    if (i > 0) out += ", ";
    out += JsonQuote(fields_[i].first);
    out += ": ";
    out += fields_[i].second;
  }
  out += "}";
  return out;
}

bool JsonLog::WriteArray(const std::string& path) const {
  std::ofstream f(path);
  if (!f) return false;
  f << "[\n";
  for (size_t i = 0; i < objects_.size(); ++i) {
    f << "  " << objects_[i] << (i + 1 < objects_.size() ? ",\n" : "\n");
  }
  f << "]\n";
  return static_cast<bool>(f);
}

}  // namespace qlinear::bench
