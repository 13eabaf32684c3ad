// Server, reload: build a new generation (off the main loop when big), then publish or refuse it.
#include <cstdio>
#include <exception>
#include <optional>
#include <string_view>
#include <unordered_map>

#include "gateway/runtime/sd_notify.h"
#include "gateway/runtime/server.h"
#include "gateway/runtime/tenant_expiry.h"
#include "gateway/runtime/watcher.h"
#include "gateway/runtime/worker.h"

namespace portcullis::gateway::runtime {
namespace {

std::int64_t elapsed_ms(std::chrono::steady_clock::time_point start) {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::steady_clock::now() - start)
      .count();
}

// One reload build, on the Reloader's background thread or inline. Never throws: it may run on a
// thread of its own or under a libuv callback.
// With `changed` (the watcher's paths), only the tenants those files belong to are read and
// built again when that is all that changed (reload_tenants); else everything is loaded.
BuildResult build_reload(const std::string& config_path, std::uint64_t generation,
                         upstream::HealthRegistry* health, const tls::TicketKeyStore* tickets,
                         const Snapshot* previous, const std::vector<std::string>& changed,
                         std::chrono::steady_clock::time_point asked) noexcept {
  BuildResult built;
  try {
    std::optional<BuildResult> partial;
    if (!changed.empty() && previous != nullptr) {
      partial = reload_tenants(*previous, changed, generation, health, tickets);
    }
    built = partial ? std::move(*partial)
                    : load_snapshot(config_path, generation, health, tickets, previous);
  } catch (const std::exception& e) {  // out of memory: refuse the reload, keep serving
    built = BuildResult{};
    built.errors.push_back(config::Diagnostic{config::Diagnostic::Severity::error,
                                              config::Pos{config_path, 0, 0},
                                              std::string("reload failed: ") + e.what(), ""});
  }
  built.build_ms = elapsed_ms(asked);  // from the request: time queued counts too
  return built;
}

}  // namespace

TenantDelta tenant_delta(const Snapshot& before, const Snapshot& after) {
  TenantDelta d;
  const config::Config& a = before.config;
  const config::Config& b = after.config;
  // Only the tenants that are not the very same objects are compared: a per-tenant reload
  // shares every other one (cow_vector.h); a full reload shares none and takes the long way.
  if (a.tenants.size() != b.tenants.size() || a.file != b.file ||
      a.gateway.tenants_dir != b.gateway.tenants_dir || a.mesh.ca != b.mesh.ca ||
      a.mesh.cert != b.mesh.cert || a.mesh.key != b.mesh.key ||
      a.gateway.ticket_keys != b.gateway.ticket_keys || a.egress.size() != b.egress.size()) {
    return d;
  }
  for (std::size_t i = 0; i < a.egress.size(); ++i) {
    if (a.egress[i].ca != b.egress[i].ca) {
      return d;
    }
  }
  d.same_files = true;
  d.same_shape = true;
  for (std::size_t i = 0; i < b.tenants.size() && (d.same_files || d.same_shape); ++i) {
    if (const std::size_t run = b.tenants.same_run(i, a.tenants); run > 0) {
      i += run - 1;  // shared: a whole chunk at a time
      continue;
    }
    const config::TenantConfig& x = a.tenants[i];
    const config::TenantConfig& y = b.tenants[i];
    d.same_files = d.same_files && x.cert == y.cert && x.key == y.key &&
                   x.client_ca == y.client_ca;
    bool shape = x.name == y.name && x.routes.size() == y.routes.size() &&
                 x.clusters.size() == y.clusters.size();
    for (std::size_t c = 0; shape && c < x.clusters.size(); ++c) {
      shape = x.clusters[c].name == y.clusters[c].name;
    }
    d.same_shape = d.same_shape && shape;
  }
  return d;
}

// Certificates that changed with this reload: one cert_reload line each. Facts shared with the
// running generation (the same objects) did not change; by name (names are unique: "mesh",
// "tenant:NAME") when the lists do not line up.
void Server::report_cert_changes(const Snapshot& before, const Snapshot& after) {
  const auto& was = before.certs;
  const auto& now = after.certs;
  bool aligned = was.size() == now.size();
  for (std::size_t i = 0; aligned && i < now.size(); ++i) {
    aligned = now.same(i, &was[i]) || now[i].name == was[i].name;
  }
  if (aligned) {
    for (std::size_t i = 0; i < now.size(); ++i) {
      if (!now.same(i, &was[i]) && now[i].sha256 != was[i].sha256) {
        events_.cert_reloaded(now[i].name, now[i].file);
      }
    }
    return;
  }
  std::unordered_map<std::string_view, std::string_view> by_name;
  by_name.reserve(was.size());
  for (const auto& c : was) {
    by_name.emplace(c.name, c.sha256);
  }
  for (const auto& c : now) {
    const auto it = by_name.find(c.name);
    if (it == by_name.end() || it->second != c.sha256) {
      events_.cert_reloaded(c.name, c.file);
    }
  }
}

// Tenants whose state (quarantined, stale, serving) or error changed with this reload: one
// tenant_state audit line each, and a line on stderr.
void Server::report_tenant_states(const Snapshot& before, const Snapshot& after) {
  struct State {
    Reason why;
    std::string_view error;
  };
  std::unordered_map<std::string_view, State> was;  // by tenant file; serving ones absent
  for (const auto& q : before.config.quarantined) {
    was.emplace(q.file, State{Reason::tenant_quarantined, q.error});
  }
  for (const auto& q : before.stale) {
    was.emplace(q.file, State{Reason::tenant_stale, q.error});
  }
  auto report = [&](const config::QuarantinedTenant& q, Reason why) {
    const auto it = was.find(q.file);
    if (it == was.end() || it->second.why != why || it->second.error != q.error) {
      log_tenant_state(q, why);
      if (why == Reason::tenant_stale && (q.error.find("certificate") != std::string::npos ||
                                          q.error.find(" key") != std::string::npos)) {
        events_.cert_rejected(q.file, q.error + "; the running certificate keeps serving");
      }
    }
    if (it != was.end()) {
      was.erase(it);
    }
  };
  for (const auto& q : after.config.quarantined) {
    report(q, Reason::tenant_quarantined);
  }
  for (const auto& q : after.stale) {
    report(q, Reason::tenant_stale);
  }
  if (was.empty()) {
    return;
  }
  for (const auto& t : after.tenants) {  // the rest of `was` that serves now is back
    if (was.count(t.cfg->file) != 0) {
      std::fprintf(stderr, "portcullis: tenant %s back in service\n", t.cfg->name.c_str());
      events_.tenant_state(t.cfg->name, t.cfg->file, Reason::config_valid, "");
    }
  }
}

void Server::log_tenant_state(const config::QuarantinedTenant& q, Reason why) {
  std::fprintf(stderr, "portcullis: tenant %s %s (%zu error%s): %s\n", q.name.c_str(),
               why == Reason::tenant_stale ? "kept at its previous version" : "quarantined",
               q.errors, q.errors == 1 ? "" : "s", q.error.c_str());
  events_.tenant_state(q.name, q.file, why, q.error);
}

// A reload builds its snapshot off the main loop when it is big (see Reloader): with 100k
// tenants a build takes seconds to minutes, and the main loop must keep answering /healthz and
// /readyz (a liveness probe would restart the gateway) and handling signals meanwhile.
void Server::reload(std::vector<std::string> changed) {
  if (draining_) {
    return;
  }
  sd_notify(sd_reloading_message());
  // The running generation lends the contexts of unchanged tenants: pinned until the build ends.
  reloader_.request(current_->tenants.size(),
                    [path = config_path_, generation = generation_ + 1, health = &health_,
                     tickets = &tickets_, previous = current_, changed = std::move(changed),
                     asked = std::chrono::steady_clock::now()]() {
                      return build_reload(path, generation, health, tickets, previous.get(),
                                          changed, asked);
                    });
}

// The build is back on the main thread: publish it, or refuse it and keep the running one.
void Server::apply_reload(BuildResult built, bool off_loop) {
  if (draining_) {
    return;
  }
  if (built.snapshot && !refresh_ticket_keys(built.snapshot->config, false)) {
    built.errors.push_back(config::Diagnostic{config::Diagnostic::Severity::error,
                                              config::Pos{built.snapshot->config.gateway.ticket_keys,
                                                          0, 0},
                                              "ticket key file refused", ""});
    built.snapshot.reset();
  }
  if (built.snapshot) {
    // Listening sockets outlive generations; changing them needs a restart.
    const auto& a = current_->listeners;
    const auto& b = built.snapshot->listeners;
    bool same = a.size() == b.size();
    for (std::size_t i = 0; same && i < a.size(); ++i) {
      same = a[i].cfg->name == b[i].cfg->name && a[i].cfg->address == b[i].cfg->address;
    }
    if (!same) {
      built.errors.push_back(config::Diagnostic{config::Diagnostic::Severity::error,
                                                config::Pos{config_path_, 0, 0},
                                                "listeners changed: restart to apply", ""});
      built.snapshot.reset();
    }
  }
  if (!built.snapshot) {
    std::string detail;
    for (const auto& d : built.errors) {
      detail += (detail.empty() ? "" : "; ") + d.format();
    }
    events_.config_rejected(true, config_path_, detail);
    for (const auto& d : built.errors) {
      const std::string& f = d.pos.file;
      if (f.size() > 4 && (f.ends_with(".pem") || f.ends_with(".key") || f.ends_with(".crt") ||
                           d.message.find("certificate") != std::string::npos)) {
        events_.cert_rejected(f, d.message + "; the running certificate keeps serving");
      }
    }
    events_.reload_result(false, generation_);
    sd_notify("READY=1\nSTATUS=reload refused, the previous configuration keeps serving");
    std::fprintf(stderr, "portcullis: reload refused, keeping generation %llu: %s\n",
                 static_cast<unsigned long long>(generation_), detail.c_str());
    return;
  }
  ++generation_;
  report_cert_changes(*current_, *built.snapshot);
  report_tenant_states(*current_, *built.snapshot);
  SnapshotPtr replaced = current_;
  {
    std::lock_guard lock{snap_mu_};
    current_ = built.snapshot;
  }
  for (auto& w : workers_) {
    w->publish(built.snapshot);
  }
  memory_.configure(built.snapshot->config.limits.memory_budget);
  events_.config_loaded(true, generation_, config_path_);
  const TenantDelta delta = tenant_delta(*replaced, *built.snapshot);
  if (!delta.same_files) {
    watcher_->rebuild(config_path_, built.snapshot->config);
  }
  if (acme_) {
    acme_->update(built.snapshot->config);
  }
  events_.reload_result(true, generation_);
  if (!delta.same_shape) {
    events_.config_published(*built.snapshot);
  }
  scan_new_tenant_expiry(*replaced, *built.snapshot);
  sd_notify("READY=1\nSTATUS=serving generation " + std::to_string(generation_));
  reloader_.retire(std::move(replaced));  // freed later, off the loop, if big
  const std::string files_read =
      built.partial ? "; " + std::to_string(built.tenant_files_read) + " tenant files read" : "";
  std::fprintf(stderr, "portcullis: reloaded, generation %llu, built in %lld ms %s (%zu "
               "tenant contexts built, %zu unchanged and reused); tenants: %zu quarantined, %zu "
               "stale%s%s\n",
               static_cast<unsigned long long>(generation_),
               static_cast<long long>(built.build_ms),
               off_loop ? "off the main loop" : "on the main loop", built.tenants_built,
               built.tenants_reused, built.snapshot->config.quarantined.size(),
               built.snapshot->stale.size(),
               built.in_place ? "; per-tenant reload, in place"
               : built.partial ? "; per-tenant reload" : "",
               files_read.c_str());
}

}  // namespace portcullis::gateway::runtime
