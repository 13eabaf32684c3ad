#include "gateway/observe/metrics.h"

#include <algorithm>
#include <charconv>
#include <cmath>
#include <stdexcept>

namespace portcullis::gateway::observe {

namespace {

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

template <class Series>
std::unique_ptr<Series> make_series(const std::vector<double>& bounds) {
  if constexpr (std::is_same_v<Series, Histogram>) {
    return std::make_unique<Histogram>(bounds);
  } else {
    (void)bounds;
    return std::make_unique<Series>();
  }
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
    : bounds_(bounds.begin(), bounds.end()),
      counts_(std::make_unique<std::atomic<std::uint64_t>[]>(bounds.size() + 1)) {
  for (std::size_t i = 0; i <= bounds_.size(); ++i) {
    counts_[i].store(0, std::memory_order_relaxed);
  }
}

void Histogram::observe(double v) noexcept {
  // le is inclusive: v == bound counts in that bucket.
  const auto it = std::lower_bound(bounds_.begin(), bounds_.end(), v);
  counts_[static_cast<std::size_t>(it - bounds_.begin())].fetch_add(1, std::memory_order_relaxed);
  sum_.fetch_add(v, std::memory_order_relaxed);
}

template <class Series>
Family<Series>::Family(std::string name, std::string help, std::vector<std::string> label_names,
                       std::vector<double> bounds)
    : name_(std::move(name)),
      help_(std::move(help)),
      label_names_(std::move(label_names)),
      bounds_(std::move(bounds)) {}

template <class Series>
Series& Family<Series>::with(const std::vector<std::string>& label_values) {
  if (label_values.size() != label_names_.size()) {
    throw std::invalid_argument("metric " + name_ + ": expected " +
                                std::to_string(label_names_.size()) + " label values");
  }
  std::lock_guard lock(mu_);
  auto& slot = series_[label_values];
  if (!slot) {
    slot = make_series<Series>(bounds_);
  }
  return *slot;
}

template <class Series>
void Family<Series>::render(std::string& out) const {
  header(out, name_, help_, type_of<Series>());
  std::lock_guard lock(mu_);
  for (const auto& [values, series] : series_) {
    render_series(out, name_, label_names_, values, *series);
  }
}

template class Family<Counter>;
template class Family<Gauge>;
template class Family<Histogram>;

Registry::Entry& Registry::find_or_add(MetricType type, std::string& name, std::string& help,
                                       std::vector<std::string>& labels,
                                       std::span<const double> bounds) {
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
    const std::string& existing = e->counter     ? e->counter->name()
                                  : e->gauge     ? e->gauge->name()
                                                 : e->histogram->name();
    if (existing == name) {
      if (e->type != type || e->label_names != labels) {
        throw std::invalid_argument("metric registered twice with different shape: " + name);
      }
      return *e;
    }
  }
  auto e = std::make_unique<Entry>();
  e->type = type;
  e->label_names = labels;
  switch (type) {
    case MetricType::counter:
      e->counter = std::make_unique<CounterFamily>(std::move(name), std::move(help), labels);
      break;
    case MetricType::gauge:
      e->gauge = std::make_unique<GaugeFamily>(std::move(name), std::move(help), labels);
      break;
    case MetricType::histogram:
      e->histogram = std::make_unique<HistogramFamily>(
          std::move(name), std::move(help), labels,
          std::vector<double>(bounds.begin(), bounds.end()));
      break;
  }
  entries_.push_back(std::move(e));
  return *entries_.back();
}

CounterFamily& Registry::counter(std::string name, std::string help,
                                 std::vector<std::string> label_names) {
  return *find_or_add(MetricType::counter, name, help, label_names, {}).counter;
}

GaugeFamily& Registry::gauge(std::string name, std::string help,
                             std::vector<std::string> label_names) {
  return *find_or_add(MetricType::gauge, name, help, label_names, {}).gauge;
}

HistogramFamily& Registry::histogram(std::string name, std::string help,
                                     std::vector<std::string> label_names,
                                     std::span<const double> bounds) {
  return *find_or_add(MetricType::histogram, name, help, label_names, bounds).histogram;
}

std::string Registry::render() const {
  std::string out;
  std::lock_guard lock(mu_);
  for (const auto& e : entries_) {
    if (e->counter) {
      e->counter->render(out);
    } else if (e->gauge) {
      e->gauge->render(out);
    } else {
      e->histogram->render(out);
    }
  }
  return out;
}

}  // namespace portcullis::gateway::observe
