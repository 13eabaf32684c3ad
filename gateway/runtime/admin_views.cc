// Server, admin views: what /metrics and /config show (admin::AdminViews).
//
// /metrics is the one registry (events' GatewayMetrics) rendered whole: the process families
// below and endpoint health (HealthRegistry::publish) are callback families registered on it,
// read at scrape time. /config is config_view.h.
#include <chrono>
#include <fcntl.h>
#include <string>
#include <string_view>
#include <unistd.h>
#include <unordered_set>
#include <vector>

#include "gateway/admin/admin_auth.h"
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
        // Tenants built on demand have no CertFact: their files' expiry, read in the
        // background (tls/expiry_scan.h) whether or not the context was ever built.
        for (const auto& t : snap->tenants) {
          if (t.lazy && t.tls_source.leaf_sha256.empty() && t.lazy->file_leaf_not_after() != 0) {
            out.add({"tenant:" + t.cfg->name},
                    static_cast<double>(t.lazy->file_leaf_not_after() - now));
          }
        }
      }));
  published_.push_back(metrics.callback_gauge(
      "portcullis_tenant_state",
      "1 for each tenant in its state: serving, stale (its new files have errors; the previous "
      "version serves) or quarantined (refused at the handshake).",
      {"tenant", "state"}, [this](observe::SampleSink& out) {
        const SnapshotPtr snap = snapshot();
        if (!snap) {
          return;
        }
        std::unordered_set<std::string_view> stale;
        for (const auto& q : snap->stale) {
          stale.insert(q.file);
        }
        for (const auto& t : snap->tenants) {
          const bool failed = t.lazy && t.lazy->state() == tls::LazyContext::State::failed;
          out.add({t.cfg->name, failed                           ? "quarantined"
                                : stale.count(t.cfg->file) != 0 ? "stale"
                                                                : "serving"},
                  1);
        }
        for (const auto& q : snap->config.quarantined) {
          out.add({q.name, "quarantined"}, 1);
        }
      }));
  published_.push_back(metrics.callback_gauge(
      "portcullis_tenant_contexts",
      "Tenant TLS contexts in memory (state built); above [limits] max_tenant_contexts tenants, "
      "they are built at the first handshake and the least recently used dropped.",
      {"state"}, [](observe::SampleSink& out) {
        out.add({"built"}, static_cast<double>(tls::ContextCache::instance().built()));
      }));
  published_.push_back(metrics.callback_counter(
      "portcullis_tenant_context_evictions_total",
      "Tenant TLS contexts dropped to stay within [limits] max_tenant_contexts.", {},
      [](observe::SampleSink& out) {
        out.add(static_cast<double>(tls::ContextCache::instance().evictions()));
      }));
  published_.push_back(metrics.callback_counter(
      "portcullis_tenant_context_builds_total",
      "Tenant TLS contexts built at a first handshake (off the event loop; handshakes waiting "
      "for the same tenant share one build).",
      {}, [](observe::SampleSink& out) {
        out.add(static_cast<double>(tls::ContextCache::instance().builds()));
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

// The dashboard's "latest audit denials": the deny lines among the last 256 KiB of the audit
// file, newest first, at most 20. Each line is already one JSON object.
std::string Server::audit_denials_json() const {
  const SnapshotPtr snap = snapshot();
  const std::string& path = snap ? snap->config.log.audit : std::string();
  if (path.empty() || path == "-" || path == "syslog") {
    return "[]";
  }
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    return "[]";
  }
  constexpr off_t kWindow = 256 * 1024;
  const off_t size = ::lseek(fd, 0, SEEK_END);
  const off_t start = size > kWindow ? size - kWindow : 0;
  std::string buf(static_cast<std::size_t>(size - start), '\0');
  const ssize_t n = size > 0 ? ::pread(fd, buf.data(), buf.size(), start) : 0;
  ::close(fd);
  buf.resize(n > 0 ? static_cast<std::size_t>(n) : 0);
  std::vector<std::string_view> lines;
  std::string_view v(buf);
  if (start > 0) {  // the window began inside a line: skip it
    const auto nl = v.find('\n');
    v = nl == std::string_view::npos ? std::string_view{} : v.substr(nl + 1);
  }
  while (!v.empty()) {
    const auto nl = v.find('\n');
    if (nl == std::string_view::npos) {
      break;  // a line still being written
    }
    const std::string_view line = v.substr(0, nl);
    v.remove_prefix(nl + 1);
    if (line.starts_with("{") && line.find(R"("decision":"deny")") != std::string_view::npos) {
      lines.push_back(line);
    }
  }
  std::string out = "[";
  std::size_t count = 0;
  for (auto it = lines.rbegin(); it != lines.rend() && count < 20; ++it, ++count) {
    out += (count == 0 ? "" : ",");
    out.append(*it);
  }
  return out + "]";
}

// The running generation's token: token_file is read again by every full reload.
admin::AdminAccess Server::admin_access() const {
  const SnapshotPtr snap = snapshot();
  if (!snap) {
    return {};
  }
  return {snap->config.admin.token, snap->config.admin.protect_metrics};
}

// Every refusal is counted; at most 10 a second are audited, so a client guessing tokens
// cannot flood the audit log (the metric still shows the rate).
void Server::admin_rejected(const std::string& client, const std::string& path) {
  constexpr unsigned kAuditsPerSecond = 10;
  const auto now = std::chrono::steady_clock::now();
  if (now - admin_audit_window_ >= std::chrono::seconds(1)) {
    admin_audit_window_ = now;
    admin_audited_ = 0;
  }
  if (admin_audited_ < kAuditsPerSecond) {
    ++admin_audited_;
    events_.admin_rejected(client, path, Reason::admin_unauthorized);
  } else {
    events_.connection_refused(Reason::admin_unauthorized);  // counted only
  }
}

}  // namespace portcullis::gateway::runtime
