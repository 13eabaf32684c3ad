// Metrics: a small Prometheus registry (counters, gauges, fixed-bucket histograms).
//
// Hot path without locks: a family (name + help + label names) hands out one series per label
// set through with({...}); that lookup takes the family's mutex, so callers do it once (at
// snapshot build or connection start) and keep the returned reference. The reference stays valid
// for the registry's lifetime (series are heap-allocated and never removed). Updating a series
// is one relaxed atomic operation.
//
// render() produces the Prometheus text exposition format (version 0.0.4): # HELP and # TYPE per
// family, label values escaped, histograms as cumulative _bucket{le="..."} plus _sum and _count.
//
// Thread: series updates from any thread; with()/render() from any thread (family mutex);
// registering families (counter()/gauge()/histogram()) from any thread (registry mutex).
// Bad metric or label names are programming errors and throw std::invalid_argument at
// registration, never on the request path.
#pragma once

#include <atomic>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace portcullis::gateway::observe {

// Latency buckets in seconds.
inline constexpr double kLatencyBuckets[] = {.001, .005, .01, .025, .05, .1,
                                             .25,  .5,   1,   2.5,  5,   10};

class Counter {
 public:
  void inc(std::uint64_t n = 1) noexcept { v_.fetch_add(n, std::memory_order_relaxed); }
  std::uint64_t value() const noexcept { return v_.load(std::memory_order_relaxed); }

 private:
  std::atomic<std::uint64_t> v_{0};
};

class Gauge {
 public:
  void set(double v) noexcept { v_.store(v, std::memory_order_relaxed); }
  void add(double d) noexcept { v_.fetch_add(d, std::memory_order_relaxed); }
  double value() const noexcept { return v_.load(std::memory_order_relaxed); }

 private:
  std::atomic<double> v_{0};
};

class Histogram {
 public:
  explicit Histogram(std::span<const double> bounds);
  void observe(double v) noexcept;
  // Non-cumulative count of bucket i (i == bounds().size() is the +Inf overflow bucket).
  std::uint64_t bucket(std::size_t i) const noexcept {
    return counts_[i].load(std::memory_order_relaxed);
  }
  double sum() const noexcept { return sum_.load(std::memory_order_relaxed); }
  std::span<const double> bounds() const noexcept { return bounds_; }

 private:
  std::vector<double> bounds_;
  std::unique_ptr<std::atomic<std::uint64_t>[]> counts_;
  std::atomic<double> sum_{0};
};

enum class MetricType : std::uint8_t { counter, gauge, histogram };

template <class Series>
class Family {
 public:
  Family(std::string name, std::string help, std::vector<std::string> label_names,
         std::vector<double> bounds = {});

  // The series for these label values (in label_names order), created on first use. The
  // reference is stable; cache it. Throws std::invalid_argument on a wrong number of values.
  Series& with(const std::vector<std::string>& label_values);
  // The series of a family without labels.
  Series& get() { return with({}); }

  const std::string& name() const noexcept { return name_; }
  void render(std::string& out) const;

 private:
  std::string name_;
  std::string help_;
  std::vector<std::string> label_names_;
  std::vector<double> bounds_;  // histograms only
  mutable std::mutex mu_;
  std::map<std::vector<std::string>, std::unique_ptr<Series>> series_;
};

using CounterFamily = Family<Counter>;
using GaugeFamily = Family<Gauge>;
using HistogramFamily = Family<Histogram>;

class Registry {
 public:
  // Registering the same name again with the same type and labels returns the same family.
  CounterFamily& counter(std::string name, std::string help,
                         std::vector<std::string> label_names = {});
  GaugeFamily& gauge(std::string name, std::string help,
                     std::vector<std::string> label_names = {});
  HistogramFamily& histogram(std::string name, std::string help,
                             std::vector<std::string> label_names = {},
                             std::span<const double> bounds = kLatencyBuckets);

  // The whole registry in text exposition format, families in registration order.
  std::string render() const;

 private:
  struct Entry {
    MetricType type;
    std::vector<std::string> label_names;
    std::unique_ptr<CounterFamily> counter;
    std::unique_ptr<GaugeFamily> gauge;
    std::unique_ptr<HistogramFamily> histogram;
  };
  Entry& find_or_add(MetricType type, std::string& name, std::string& help,
                     std::vector<std::string>& labels, std::span<const double> bounds);

  mutable std::mutex mu_;
  std::vector<std::unique_ptr<Entry>> entries_;
};

// Helpers exposed for tests.
std::string escape_label_value(std::string_view v);
std::string format_double(double v);  // Prometheus float text: "0.005", "2.5", "+Inf", "NaN"
bool valid_metric_name(std::string_view name);
bool valid_label_name(std::string_view name);

}  // namespace portcullis::gateway::observe
