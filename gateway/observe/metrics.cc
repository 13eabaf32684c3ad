#include "gateway/observe/metrics.h"

#include <algorithm>
#include <chrono>
#include <charconv>
#include <cmath>
#include <functional>
#include <stdexcept>

namespace portcullis::gateway::observe {

namespace {

// How long a series unlinked by sweep() stays allocated (see Family::sweep).
constexpr std::chrono::seconds kRetireGrace{10};

std::string escape_help(std::string_view v) {
  std::string s;
  for (char c : v) {
    if (c == '\\') {
      s += "\\\\";
    } else if (c == '\n') {
      s += "\\n";
    } else {
      s += c;
    }
  }
  return s;
}

std::string_view type_name(MetricType t) {
  switch (t) {
    case MetricType::counter: return "counter";
    case MetricType::gauge: return "gauge";
    case MetricType::histogram: return "histogram";
  }
  return "untyped";
}

// {a="x",b="y"} plus an optional extra label (le for histogram buckets); "" when empty.
std::string label_block(const std::vector<std::string>& names,
                        const std::vector<std::string>& values, std::string_view extra_name = {},
                        std::string_view extra_value = {}) {
  if (names.empty() && extra_name.empty()) {
    return {};
  }
  std::string s = "{";
  for (std::size_t i = 0; i < names.size(); ++i) {
    if (i > 0) {
      s += ',';
    }
    s += names[i] + "=\"" + escape_label_value(values[i]) + '"';
  }
  if (!extra_name.empty()) {
    if (!names.empty()) {
      s += ',';
    }
    s += std::string(extra_name) + "=\"" + std::string(extra_value) + '"';
  }
  s += '}';
  return s;
}

void header(std::string& out, const std::string& name, const std::string& help, MetricType t) {
  out += "# HELP " + name + ' ' + escape_help(help) + '\n';
  out += "# TYPE " + name + ' ' + std::string(type_name(t)) + '\n';
}

void render_series(std::string& out, const std::string& name,
                   const std::vector<std::string>& labels, const std::vector<std::string>& values,
                   const Counter& c) {
  out += name + label_block(labels, values) + ' ' + std::to_string(c.value()) + '\n';
}

void render_series(std::string& out, const std::string& name,
                   const std::vector<std::string>& labels, const std::vector<std::string>& values,
                   const Gauge& g) {
  out += name + label_block(labels, values) + ' ' + format_double(g.value()) + '\n';
}

void render_series(std::string& out, const std::string& name,
                   const std::vector<std::string>& labels, const std::vector<std::string>& values,
                   const Histogram& h) {
  // _count is the sum of the buckets read here, so +Inf and _count always agree even while
  // workers keep observing.
  std::uint64_t cumulative = 0;
  const auto bounds = h.bounds();
  for (std::size_t i = 0; i < bounds.size(); ++i) {
    cumulative += h.bucket(i);
    out += name + "_bucket" + label_block(labels, values, "le", format_double(bounds[i])) + ' ' +
           std::to_string(cumulative) + '\n';
  }
  cumulative += h.bucket(bounds.size());
  out += name + "_bucket" + label_block(labels, values, "le", "+Inf") + ' ' +
         std::to_string(cumulative) + '\n';
  out += name + "_sum" + label_block(labels, values) + ' ' + format_double(h.sum()) + '\n';
  out += name + "_count" + label_block(labels, values) + ' ' + std::to_string(cumulative) + '\n';
}

template <class Series>
MetricType type_of();
template <>
MetricType type_of<Counter>() { return MetricType::counter; }
template <>
MetricType type_of<Gauge>() { return MetricType::gauge; }
template <>
MetricType type_of<Histogram>() { return MetricType::histogram; }

std::size_t hash_values(std::span<const std::string_view> values) noexcept {
  std::size_t h = values.size();
  for (const std::string_view v : values) {
    h ^= std::hash<std::string_view>{}(v) + 0x9e3779b97f4a7c15ULL + (h << 6) + (h >> 2);
  }
  return h;
}

}  // namespace

std::string escape_label_value(std::string_view v) {
  std::string s;
  for (char c : v) {
    if (c == '\\') {
      s += "\\\\";
    } else if (c == '"') {
      s += "\\\"";
    } else if (c == '\n') {
      s += "\\n";
    } else {
      s += c;
    }
  }
  return s;
}

std::string format_double(double v) {
  if (std::isnan(v)) {
    return "NaN";
  }
  if (std::isinf(v)) {
    return v > 0 ? "+Inf" : "-Inf";
  }
  char buf[64];
  // Integers print as integers: a gauge of 120000 connections reads "120000", not "1.2e+05".
  constexpr double kExactInt = 9007199254740992.0;  // 2^53
  if (v == std::trunc(v) && std::fabs(v) < kExactInt) {
    auto [p, ec] = std::to_chars(buf, buf + sizeof buf, static_cast<std::int64_t>(v));
    return std::string(buf, p);
  }
  auto [p, ec] = std::to_chars(buf, buf + sizeof buf, v);
  if (ec != std::errc{}) {
    return "NaN";
  }
  return std::string(buf, p);
}

bool valid_metric_name(std::string_view n) {
  if (n.empty() || (n[0] >= '0' && n[0] <= '9')) {
    return false;
  }
  return std::all_of(n.begin(), n.end(), [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
           c == '_' || c == ':';
  });
}

bool valid_label_name(std::string_view n) {
  return valid_metric_name(n) && n.find(':') == std::string_view::npos &&
         !n.starts_with("__");
}

Histogram::Histogram(std::span<const double> bounds)
    : bounds_(bounds), counts_(std::make_unique<std::atomic<std::uint64_t>[]>(bounds.size() + 1)) {}

void Histogram::observe(double v) noexcept {
  // le is inclusive: v == bound counts in that bucket.
  const auto it = std::lower_bound(bounds_.begin(), bounds_.end(), v);
  counts_[static_cast<std::size_t>(it - bounds_.begin())].fetch_add(1, std::memory_order_relaxed);
  sum_.fetch_add(v, std::memory_order_relaxed);
}

template <class Series>
struct Family<Series>::Node {
  Node(std::span<const std::string_view> v, std::size_t h, std::span<const double> bounds)
      : values(v.begin(), v.end()), hash(h), series(make(bounds)) {}

  static Series make(std::span<const double> bounds) {
    if constexpr (std::is_same_v<Series, Histogram>) {
      return Histogram(bounds);
    } else {
      (void)bounds;
      return Series();
    }
  }

  std::vector<std::string> values;
  std::size_t hash;
  Series series;
};

// Open addressing with linear probing, at most half full so a probe always meets an empty slot.
template <class Series>
struct Family<Series>::Table {
  explicit Table(std::size_t capacity)
      : mask(capacity - 1), slots(std::make_unique<std::atomic<Node*>[]>(capacity)) {}

  std::size_t capacity() const noexcept { return mask + 1; }
  void place(Node* n) noexcept {
    std::size_t i = n->hash & mask;
    while (slots[i].load(std::memory_order_relaxed) != nullptr) {
      i = (i + 1) & mask;
    }
    slots[i].store(n, std::memory_order_release);
  }

  std::size_t mask;
  std::unique_ptr<std::atomic<Node*>[]> slots;
};

template <class Series>
Family<Series>::Family(std::string name, std::string help, std::vector<std::string> label_names,
                       std::vector<double> bounds, std::size_t max_series)
    : name_(std::move(name)),
      help_(std::move(help)),
      label_names_(std::move(label_names)),
      bounds_(std::move(bounds)),
      max_series_(std::max<std::size_t>(max_series, 1)) {
  tables_.push_back(std::make_unique<Table>(8));
  table_.store(tables_.back().get(), std::memory_order_release);
}

template <class Series>
Family<Series>::~Family() = default;

template <class Series>
typename Family<Series>::Node* Family<Series>::find(const Table& t,
                                                    std::span<const std::string_view> values,
                                                    std::size_t hash) noexcept {
  for (std::size_t i = hash & t.mask;; i = (i + 1) & t.mask) {
    Node* n = t.slots[i].load(std::memory_order_acquire);
    if (n == nullptr) {
      return nullptr;
    }
    if (n->hash == hash &&
        std::equal(n->values.begin(), n->values.end(), values.begin(), values.end())) {
      return n;
    }
  }
}

template <class Series>
Series& Family<Series>::with(std::span<const std::string_view> label_values) {
  if (label_values.size() != label_names_.size()) {
    throw std::invalid_argument("metric " + name_ + ": expected " +
                                std::to_string(label_names_.size()) + " label values");
  }
  const std::size_t hash = hash_values(label_values);
  if (Node* n = find(*table_.load(std::memory_order_acquire), label_values, hash)) {
    return n->series;
  }
  if (Series* o = overflow_.load(std::memory_order_acquire)) {
    // Full: no series is added any more, so a look at the latest table is final.
    Node* n = find(*table_.load(std::memory_order_acquire), label_values, hash);
    return n != nullptr ? n->series : *o;
  }
  return create(label_values, hash);
}

template <class Series>
Series& Family<Series>::create(std::span<const std::string_view> values, std::size_t hash) {
  std::lock_guard lock(mu_);
  if (Node* n = find(*table_.load(std::memory_order_relaxed), values, hash)) {
    return n->series;  // another thread created it first
  }
  if (nodes_.size() >= max_series_) {
    return overflow_locked();
  }
  return insert_locked(values, hash).series;
}

template <class Series>
Series& Family<Series>::overflow_locked() {
  if (Series* o = overflow_.load(std::memory_order_relaxed)) {
    return *o;
  }
  const std::vector<std::string_view> values(label_names_.size(), kOverflowLabelValue);
  const std::size_t hash = hash_values(values);
  Node* n = find(*table_.load(std::memory_order_relaxed), values, hash);
  if (n == nullptr) {
    n = &insert_locked(values, hash);  // the one series allowed past max_series
  }
  overflow_.store(&n->series, std::memory_order_release);
  return n->series;
}

template <class Series>
typename Family<Series>::Node& Family<Series>::insert_locked(
    std::span<const std::string_view> values, std::size_t hash) {
  // Everything that can throw comes first, so a failure publishes nothing.
  auto node = std::make_unique<Node>(values, hash, bounds_);
  Table* table = table_.load(std::memory_order_relaxed);
  std::unique_ptr<Table> bigger;
  if ((nodes_.size() + 1) * 2 > table->capacity()) {
    bigger = std::make_unique<Table>(table->capacity() * 2);
    tables_.reserve(tables_.size() + 1);
  }
  nodes_.reserve(nodes_.size() + 1);

  Node& added = *node;
  nodes_.push_back(std::move(node));
  if (bigger) {
    for (const auto& n : nodes_) {
      bigger->place(n.get());
    }
    tables_.push_back(std::move(bigger));
    table_.store(tables_.back().get(), std::memory_order_release);
  } else {
    table->place(&added);
  }
  return added;
}

template <class Series>
std::size_t Family<Series>::sweep(const std::function<bool(std::span<const std::string>)>& keep) {
  std::lock_guard lock(mu_);
  const Series* overflow = overflow_.load(std::memory_order_relaxed);
  std::vector<std::unique_ptr<Node>> kept;
  std::vector<std::unique_ptr<Node>> dropped;
  kept.reserve(nodes_.size());
  for (auto& n : nodes_) {
    (&n->series == overflow || keep(n->values) ? kept : dropped).push_back(std::move(n));
  }
  const std::size_t count = dropped.size();
  nodes_ = std::move(kept);
  std::vector<std::unique_ptr<Table>> old_tables;
  if (count > 0) {
    std::size_t capacity = 8;
    while (capacity < nodes_.size() * 2 + 2) {
      capacity *= 2;
    }
    auto table = std::make_unique<Table>(capacity);
    for (const auto& n : nodes_) {
      table->place(n.get());
    }
    Table* published = table.get();
    old_tables = std::move(tables_);
    tables_.clear();
    tables_.push_back(std::move(table));
    table_.store(published, std::memory_order_release);
  } else {
    // Superseded (grown) tables are retired too, so memory does not grow with reloads.
    while (tables_.size() > 1) {
      old_tables.push_back(std::move(tables_.front()));
      tables_.erase(tables_.begin());
    }
  }
  // Sweeps come with reloads. A with().inc() in flight holds a node for microseconds, so what
  // was unlinked kRetireGrace ago is let go of now, and the rest waits for a later sweep.
  const auto now = std::chrono::steady_clock::now();
  std::erase_if(retired_, [&](const Retired& r) { return now - r.at > kRetireGrace; });
  if (!dropped.empty() || !old_tables.empty()) {
    retired_.push_back(Retired{now, std::move(dropped), std::move(old_tables)});
  }
  if (nodes_.size() < max_series_) {
    overflow_.store(nullptr, std::memory_order_release);  // room again; overflow_locked finds it
  }
  return count;
}

template <class Series>
void Family<Series>::set_max_series(std::size_t n) {
  std::lock_guard lock(mu_);
  max_series_ = std::max<std::size_t>(n, 1);
  if (nodes_.size() < max_series_) {
    overflow_.store(nullptr, std::memory_order_release);
  }
}

template <class Series>
std::size_t Family<Series>::size() const {
  std::lock_guard lock(mu_);
  return nodes_.size();
}

template <class Series>
void Family<Series>::render(std::string& out) const {
  header(out, name_, help_, type_of<Series>());
  std::vector<const Node*> sorted;
  {
    std::lock_guard lock(mu_);
    sorted.reserve(nodes_.size());
    for (const auto& n : nodes_) {
      sorted.push_back(n.get());
    }
  }
  // Nodes are never removed or changed but for their atomics, so they are read unlocked.
  std::sort(sorted.begin(), sorted.end(),
            [](const Node* a, const Node* b) { return a->values < b->values; });
  for (const Node* n : sorted) {
    render_series(out, name_, label_names_, n->values, n->series);
  }
}

template class Family<Counter>;
template class Family<Gauge>;
template class Family<Histogram>;

struct CallbackRegistration::Slot {
  std::mutex mu;    // held while the callback runs, so reset() waits for a running render
  Collect collect;  // empty once reset
};

CallbackRegistration& CallbackRegistration::operator=(CallbackRegistration&& other) noexcept {
  if (this != &other) {
    reset();
    slot_ = std::move(other.slot_);
  }
  return *this;
}

void CallbackRegistration::reset() noexcept {
  if (slot_) {
    Collect dead;
    {
      std::lock_guard lock(slot_->mu);
      dead.swap(slot_->collect);
    }
    slot_.reset();
  }  // `dead` (and what it captured) goes here, outside the slot's lock
}

void SampleSink::add(std::span<const std::string_view> label_values, double value) {
  if (label_values.size() != label_count_) {
    throw std::invalid_argument("callback sample: expected " + std::to_string(label_count_) +
                                " label values");
  }
  samples_.push_back({std::vector<std::string>(label_values.begin(), label_values.end()), value});
}

CallbackFamily::CallbackFamily(std::string name, std::string help, MetricType type,
                               std::vector<std::string> label_names)
    : name_(std::move(name)),
      help_(std::move(help)),
      type_(type),
      label_names_(std::move(label_names)) {}

CallbackRegistration CallbackFamily::add(Collect collect) {
  auto slot = std::make_shared<CallbackRegistration::Slot>();
  slot->collect = std::move(collect);
  std::lock_guard lock(mu_);
  // Drop the slots whose registration is gone (only this family still holds them).
  std::erase_if(slots_, [](const auto& s) { return s.use_count() == 1; });
  slots_.push_back(slot);
  return CallbackRegistration(std::move(slot));
}

void CallbackFamily::render(std::string& out) const {
  header(out, name_, help_, type_);
  std::vector<std::shared_ptr<CallbackRegistration::Slot>> slots;
  {
    std::lock_guard lock(mu_);
    slots = slots_;
  }
  std::vector<SampleSink::Sample> samples;
  for (const auto& slot : slots) {
    SampleSink sink(label_names_.size());
    std::lock_guard lock(slot->mu);
    if (!slot->collect) {
      continue;
    }
    try {
      slot->collect(sink);
    } catch (const std::exception& e) {
      // A comment line (not HELP/TYPE) is ignored by scrapers; the other callbacks still count.
      out += "# " + name_ + ": a callback failed: " + escape_help(e.what()) + '\n';
      continue;
    }
    for (auto& smp : sink.samples_) {
      samples.push_back(std::move(smp));
    }
  }
  // Stable: among equal label sets the first registered callback's sample comes first and is
  // the one kept (a repeated series would make the page invalid).
  std::stable_sort(samples.begin(), samples.end(),
                   [](const auto& a, const auto& b) { return a.values < b.values; });
  const std::vector<std::string>* previous = nullptr;
  for (const auto& smp : samples) {
    if (previous != nullptr && *previous == smp.values) {
      continue;
    }
    previous = &smp.values;
    out += name_ + label_block(label_names_, smp.values) + ' ' + format_double(smp.value) + '\n';
  }
}

Registry::Entry& Registry::find_or_add(MetricType type, bool callback, std::string& name,
                                       std::string& help, std::vector<std::string>& labels,
                                       std::span<const double> bounds, std::size_t max_series) {
  if (!valid_metric_name(name)) {
    throw std::invalid_argument("invalid metric name: " + name);
  }
  for (const auto& l : labels) {
    if (!valid_label_name(l) || (type == MetricType::histogram && l == "le")) {
      throw std::invalid_argument("invalid label name for " + name + ": " + l);
    }
  }
  if (type == MetricType::histogram && !std::is_sorted(bounds.begin(), bounds.end())) {
    throw std::invalid_argument("histogram buckets must be sorted: " + name);
  }
  std::lock_guard lock(mu_);
  for (auto& e : entries_) {
    if (e->name == name) {
      if (e->type != type || e->callback != callback || e->label_names != labels) {
        throw std::invalid_argument("metric registered twice with different shape: " + name);
      }
      return *e;
    }
  }
  auto e = std::make_unique<Entry>();
  e->name = name;
  e->type = type;
  e->callback = callback;
  e->label_names = labels;
  if (callback) {
    e->callbacks =
        std::make_unique<CallbackFamily>(std::move(name), std::move(help), type, labels);
  } else {
    switch (type) {
      case MetricType::counter:
        e->counter = std::make_unique<CounterFamily>(std::move(name), std::move(help), labels,
                                                     std::vector<double>{}, max_series);
        break;
      case MetricType::gauge:
        e->gauge = std::make_unique<GaugeFamily>(std::move(name), std::move(help), labels,
                                                 std::vector<double>{}, max_series);
        break;
      case MetricType::histogram:
        e->histogram = std::make_unique<HistogramFamily>(
            std::move(name), std::move(help), labels,
            std::vector<double>(bounds.begin(), bounds.end()), max_series);
        break;
    }
  }
  entries_.push_back(std::move(e));
  return *entries_.back();
}

CounterFamily& Registry::counter(std::string name, std::string help,
                                 std::vector<std::string> label_names, std::size_t max_series) {
  return *find_or_add(MetricType::counter, false, name, help, label_names, {}, max_series)
              .counter;
}

GaugeFamily& Registry::gauge(std::string name, std::string help,
                             std::vector<std::string> label_names, std::size_t max_series) {
  return *find_or_add(MetricType::gauge, false, name, help, label_names, {}, max_series).gauge;
}

HistogramFamily& Registry::histogram(std::string name, std::string help,
                                     std::vector<std::string> label_names,
                                     std::span<const double> bounds, std::size_t max_series) {
  return *find_or_add(MetricType::histogram, false, name, help, label_names, bounds, max_series)
              .histogram;
}

CallbackRegistration Registry::callback_gauge(std::string name, std::string help,
                                              std::vector<std::string> label_names,
                                              Collect collect) {
  return find_or_add(MetricType::gauge, true, name, help, label_names, {}, 0)
      .callbacks->add(std::move(collect));
}

CallbackRegistration Registry::callback_counter(std::string name, std::string help,
                                                std::vector<std::string> label_names,
                                                Collect collect) {
  return find_or_add(MetricType::counter, true, name, help, label_names, {}, 0)
      .callbacks->add(std::move(collect));
}

std::string Registry::render() const {
  // Entries are never removed, so their addresses are taken under the lock and the families
  // rendered without it: a callback may take its own locks without ordering them after ours.
  std::vector<const Entry*> entries;
  {
    std::lock_guard lock(mu_);
    entries.reserve(entries_.size());
    for (const auto& e : entries_) {
      entries.push_back(e.get());
    }
  }
  std::string out;
  for (const Entry* e : entries) {
    if (e->counter) {
      e->counter->render(out);
    } else if (e->gauge) {
      e->gauge->render(out);
    } else if (e->histogram) {
      e->histogram->render(out);
    } else {
      e->callbacks->render(out);
    }
  }
  return out;
}

}  // namespace portcullis::gateway::observe
