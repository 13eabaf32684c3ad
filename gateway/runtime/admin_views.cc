// Server, admin views: what /metrics and /config show (admin::AdminViews).
//
// /metrics is the one registry (events' GatewayMetrics) rendered whole: the process families
// below and endpoint health (HealthRegistry::publish) are callback families registered on it,
// read at scrape time. /config is config_view.h.
#include <chrono>
#include <string>

#include "gateway/observe/metrics.h"
#include "gateway/runtime/config_view.h"
#include "gateway/runtime/process_metrics.h"
#include "gateway/runtime/server.h"

namespace portcullis::gateway::runtime {

void Server::publish_metrics() {
  observe::Registry& metrics = events_.metrics_registry();
  health_.publish(metrics);
  publish_process_metrics(metrics, published_);
  published_.push_back(metrics.callback_gauge(
      "portcullis_certificate_expiry_seconds", "Seconds until the certificate expires.",
      {"certificate"}, [this](observe::SampleSink& out) {
        const SnapshotPtr snap = snapshot();
        if (!snap) {
          return;  // before the first config is loaded
        }
        const auto now = std::chrono::duration_cast<std::chrono::seconds>(
                             std::chrono::system_clock::now().time_since_epoch())
                             .count();
        for (const auto& c : snap->certs) {
          out.add({c.name}, static_cast<double>(c.not_after - now));
        }
      }));
  published_.push_back(metrics.callback_gauge(
      "portcullis_memory_rss_bytes", "Resident memory of the gateway process.", {},
      [this](observe::SampleSink& out) { out.add(static_cast<double>(memory_.rss())); }));
  published_.push_back(metrics.callback_gauge(
      "portcullis_memory_budget_bytes", "[limits].memory_budget in bytes (0 = off).", {},
      [this](observe::SampleSink& out) { out.add(static_cast<double>(memory_.budget())); }));
  published_.push_back(metrics.callback_gauge(
      "portcullis_memory_in_use_bytes",
      "Memory the budget is charged: heap in use plus non-heap resident.", {},
      [this](observe::SampleSink& out) { out.add(static_cast<double>(memory_.in_use())); }));
  published_.push_back(metrics.callback_counter(
      "portcullis_memory_trims_total", "Freed heap handed back to the kernel (malloc_trim).", {},
      [this](observe::SampleSink& out) { out.add(static_cast<double>(memory_.trims())); }));
  published_.push_back(metrics.callback_gauge(
      "portcullis_memory_shedding", "1 while new requests are shed for memory.", {},
      [this](observe::SampleSink& out) { out.add(memory_.shedding() ? 1 : 0); }));
  published_.push_back(metrics.callback_counter(
      "portcullis_access_log_write_failures_total", "Log lines that could not be written.",
      {"log"}, [this](observe::SampleSink& out) {
        out.add({"access"}, static_cast<double>(events_.access_write_failures()));
        out.add({"audit"}, static_cast<double>(events_.audit_write_failures()));
      }));
}

std::string Server::metrics_text() const { return events_.render_metrics(); }

// The running configuration without key material: key paths and ticket key paths are left out.
std::string Server::config_json() const {
  const SnapshotPtr snap = snapshot();
  return runtime::config_json(snap->config, snap->generation, snap->gateway_identity);
}

}  // namespace portcullis::gateway::runtime
