// Metrics: a small Prometheus registry (counters, gauges, fixed-bucket histograms).
//
// Hot path without locks: a family (name + help + label names) hands out one series per label
// set through with({...}). Finding an existing series is lock-free (an insert-only open-addressing
// table read with acquire loads); only creating a series takes the family's mutex. Updating a
// series is one relaxed atomic operation. References stay valid for the family's lifetime
// (series are never removed), so a caller may also keep them.
//
// Cardinality: a family holds at most max_series label sets. Past that, new label sets share one
// series whose every label value is kOverflowLabelValue, so totals stay exact and memory bounded.
//
// render() produces the Prometheus text exposition format (version 0.0.4): # HELP and # TYPE per
// family, series sorted by label values, label values escaped, histograms as cumulative
// _bucket{le="..."} plus _sum and _count.
//
// Thread: series lookups and updates from any thread; render() from any thread (family mutex);
// registering families (counter()/gauge()/histogram()) from any thread (registry mutex).
// Bad metric or label names are programming errors and throw std::invalid_argument at
// registration; a wrong number of label values throws from with().
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <initializer_list>
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
inline constexpr std::size_t kDefaultMaxSeries = 10000;
inline constexpr std::string_view kOverflowLabelValue = "__overflow__";

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
  // bounds: sorted, and must outlive the histogram (its family owns them).
  explicit Histogram(std::span<const double> bounds);
  void observe(double v) noexcept;
  // Non-cumulative count of bucket i (i == bounds().size() is the +Inf overflow bucket).
  std::uint64_t bucket(std::size_t i) const noexcept {
    return counts_[i].load(std::memory_order_relaxed);
  }
  double sum() const noexcept { return sum_.load(std::memory_order_relaxed); }
  std::span<const double> bounds() const noexcept { return bounds_; }

 private:
  std::span<const double> bounds_;
  std::unique_ptr<std::atomic<std::uint64_t>[]> counts_;
  std::atomic<double> sum_{0};
};

enum class MetricType : std::uint8_t { counter, gauge, histogram };

template <class Series>
class Family {
 public:
  Family(std::string name, std::string help, std::vector<std::string> label_names,
         std::vector<double> bounds = {}, std::size_t max_series = kDefaultMaxSeries);
  ~Family();
  Family(const Family&) = delete;
  Family& operator=(const Family&) = delete;

  // The series for these label values (in label_names order), created on first use; past
  // max_series, the shared overflow series. Throws std::invalid_argument on a wrong count.
  Series& with(std::span<const std::string_view> label_values);
  Series& with(std::initializer_list<std::string_view> label_values) {
    return with(std::span<const std::string_view>(label_values.begin(), label_values.size()));
  }
  // The series of a family without labels.
  Series& get() { return with(std::span<const std::string_view>{}); }

  const std::string& name() const noexcept { return name_; }
  void render(std::string& out) const;

 private:
  struct Node;
  struct Table;
  static Node* find(const Table& t, std::span<const std::string_view> values,
                    std::size_t hash) noexcept;
  Series& create(std::span<const std::string_view> values, std::size_t hash);
  Node& insert_locked(std::span<const std::string_view> values, std::size_t hash);
  Series& overflow_locked();

  std::string name_;
  std::string help_;
  std::vector<std::string> label_names_;
  std::vector<double> bounds_;  // histograms only
  std::size_t max_series_;

  // Readers load table_ and probe it without a lock. Writers (under mu_) either fill an empty
  // slot of the current table or publish a twice-as-large copy. Superseded tables stay in
  // tables_ until destruction, since a reader may still be probing one; doubling keeps them
  // under the size of the current table.
  std::atomic<Table*> table_;
  std::atomic<Series*> overflow_{nullptr};  // set once the family is full
  mutable std::mutex mu_;
  std::vector<std::unique_ptr<Node>> nodes_;
  std::vector<std::unique_ptr<Table>> tables_;
};

// Defined and instantiated in metrics.cc.
extern template class Family<Counter>;
extern template class Family<Gauge>;
extern template class Family<Histogram>;

using CounterFamily = Family<Counter>;
using GaugeFamily = Family<Gauge>;
using HistogramFamily = Family<Histogram>;

class Registry {
 public:
  // Registering the same name again with the same type and labels returns the same family.
  CounterFamily& counter(std::string name, std::string help,
                         std::vector<std::string> label_names = {},
                         std::size_t max_series = kDefaultMaxSeries);
  GaugeFamily& gauge(std::string name, std::string help,
                     std::vector<std::string> label_names = {},
                     std::size_t max_series = kDefaultMaxSeries);
  HistogramFamily& histogram(std::string name, std::string help,
                             std::vector<std::string> label_names = {},
                             std::span<const double> bounds = kLatencyBuckets,
                             std::size_t max_series = kDefaultMaxSeries);

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
                     std::vector<std::string>& labels, std::span<const double> bounds,
                     std::size_t max_series);

  mutable std::mutex mu_;
  std::vector<std::unique_ptr<Entry>> entries_;
};

// Helpers exposed for tests.
std::string escape_label_value(std::string_view v);
// Prometheus float text: integers as integers ("3", "120000"), else the shortest round-trip
// form ("0.005", "2.5"); "+Inf", "-Inf", "NaN".
std::string format_double(double v);
bool valid_metric_name(std::string_view name);
bool valid_label_name(std::string_view name);

}  // namespace portcullis::gateway::observe
