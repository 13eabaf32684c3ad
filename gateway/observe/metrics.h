// Metrics: a small Prometheus registry (counters, gauges, fixed-bucket histograms).
//
// Hot path without locks: a family (name + help + label names) hands out one series per label
// set through with({...}). Finding an existing series is lock-free (an insert-only open-addressing
// table read with acquire loads); only creating a series takes the family's mutex. Updating a
// series is one relaxed atomic operation. References stay valid for the family's lifetime
// unless the family is swept (sweep(): the series of removed tenants and clusters go at a
// reload); callers of a swept family use the Series& from with() at once and never keep it.
//
// Cardinality: a family holds at most max_series label sets. Past that, new label sets share one
// series whose every label value is kOverflowLabelValue, so totals stay exact and memory bounded.
//
// Callback families (callback_gauge()/callback_counter()): samples that another object already
// keeps (endpoint health, certificate expiry, memory, log write failures) are read by a function
// at every render instead of being copied into series, so the registry is the one writer of the
// /metrics page. The returned CallbackRegistration keeps the function registered (RAII).
//
// render() produces the Prometheus text exposition format (version 0.0.4): # HELP and # TYPE per
// family, series sorted by label values, label values escaped, histograms as cumulative
// _bucket{le="..."} plus _sum and _count.
//
// Thread: series lookups and updates from any thread; render() from any thread (family mutex);
// registering families (counter()/gauge()/histogram()/callback_*()) from any thread (registry
// mutex). render() runs the callbacks on its own thread without the registry mutex held.
// Bad metric or label names are programming errors and throw std::invalid_argument at
// registration; a wrong number of label values throws from with().
#pragma once

#include <atomic>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
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

  // Drops every series whose label values `keep` refuses (but the overflow series, which keeps
  // its totals), and lets new label sets in again when that leaves room. A dropped series is
  // unlinked at once but freed only at the next sweep: a thread that found it an instant before
  // may still bump it (sweeps come with reloads, far apart). Returns how many were dropped.
  std::size_t sweep(const std::function<bool(std::span<const std::string>)>& keep);
  // A new cap (a reload that adds tenants raises it); takes effect for label sets not yet seen.
  void set_max_series(std::size_t n);
  std::size_t size() const;

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
  // Unlinked by a sweep; freed by a later sweep once kRetireGrace has passed, since a thread
  // may still hold a Series& from with() or be probing an old table (see sweep()).
  struct Retired {
    std::chrono::steady_clock::time_point at;
    std::vector<std::unique_ptr<Node>> nodes;
    std::vector<std::unique_ptr<Table>> tables;
  };
  std::vector<Retired> retired_;
};

// What a callback family's function writes its samples into, once per render.
class SampleSink {
 public:
  // One sample; label values in the family's label_names order. A wrong count throws
  // std::invalid_argument (render() then drops that callback's samples, see CallbackFamily).
  void add(std::span<const std::string_view> label_values, double value);
  void add(std::initializer_list<std::string_view> label_values, double value) {
    add(std::span<const std::string_view>(label_values.begin(), label_values.size()), value);
  }
  void add(double value) { add(std::span<const std::string_view>{}, value); }  // no labels

 private:
  friend class CallbackFamily;
  explicit SampleSink(std::size_t label_count) : label_count_(label_count) {}
  struct Sample {
    std::vector<std::string> values;
    double value;
  };
  std::size_t label_count_;
  std::vector<Sample> samples_;
};

// Called at every render of its family, on the rendering thread. It must not register metrics
// or reset its own registration (both would deadlock).
using Collect = std::function<void(SampleSink&)>;

// Owns one callback's place in a family: while it lives, render() calls the callback.
// reset() (or destruction) unregisters it and waits for a render that is running it right now,
// so once reset() returns the callback is never called again. Whatever the callback reads must
// outlive the registration: declare it as the owner's last member. The family may outlive it.
class CallbackRegistration {
 public:
  CallbackRegistration() = default;
  CallbackRegistration(CallbackRegistration&&) noexcept = default;
  CallbackRegistration& operator=(CallbackRegistration&& other) noexcept;
  CallbackRegistration(const CallbackRegistration&) = delete;
  CallbackRegistration& operator=(const CallbackRegistration&) = delete;
  ~CallbackRegistration() { reset(); }

  void reset() noexcept;
  explicit operator bool() const noexcept { return slot_ != nullptr; }

 private:
  friend class CallbackFamily;
  struct Slot;
  explicit CallbackRegistration(std::shared_ptr<Slot> slot) : slot_(std::move(slot)) {}
  std::shared_ptr<Slot> slot_;
};

// A gauge or counter family whose samples come from callbacks. Several callbacks may feed one
// family (each registration adds one); their label sets should not overlap: when two give the
// same label set, the first registered wins. A callback that throws adds no samples to that
// render and leaves a "# " comment line saying so (a scrape never fails for one bad callback).
class CallbackFamily {
 public:
  CallbackFamily(std::string name, std::string help, MetricType type,
                 std::vector<std::string> label_names);
  CallbackFamily(const CallbackFamily&) = delete;
  CallbackFamily& operator=(const CallbackFamily&) = delete;

  CallbackRegistration add(Collect collect);
  const std::string& name() const noexcept { return name_; }
  void render(std::string& out) const;

 private:
  std::string name_;
  std::string help_;
  MetricType type_;
  std::vector<std::string> label_names_;
  mutable std::mutex mu_;
  std::vector<std::shared_ptr<CallbackRegistration::Slot>> slots_;  // registration order
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
  // A family read through `collect` at every render (see CallbackFamily). Registering the same
  // name again with the same shape adds one more callback to that family.
  [[nodiscard]] CallbackRegistration callback_gauge(std::string name, std::string help,
                                                    std::vector<std::string> label_names,
                                                    Collect collect);
  [[nodiscard]] CallbackRegistration callback_counter(std::string name, std::string help,
                                                      std::vector<std::string> label_names,
                                                      Collect collect);

  // The whole registry in text exposition format, families in registration order.
  std::string render() const;

 private:
  // Exactly one family pointer is set. Entries are never removed.
  struct Entry {
    std::string name;
    MetricType type;
    bool callback = false;
    std::vector<std::string> label_names;
    std::unique_ptr<CounterFamily> counter;
    std::unique_ptr<GaugeFamily> gauge;
    std::unique_ptr<HistogramFamily> histogram;
    std::unique_ptr<CallbackFamily> callbacks;
  };
  Entry& find_or_add(MetricType type, bool callback, std::string& name, std::string& help,
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
