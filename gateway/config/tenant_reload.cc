#include "gateway/config/tenant_reload.h"

#include <algorithm>
#include <filesystem>
#include <string_view>
#include <unordered_set>
#include <utility>

#include "gateway/config/toml_loader.h"
#include "gateway/config/validate.h"

namespace portcullis::gateway::config {

namespace {

// What Validator::adopt() + read_tenant() would say about `t` against the unchanged tenants,
// found through `host_owner` and a binary search by name (previous.tenants is sorted).
void check_against_unchanged(const Config& previous, const std::unordered_set<std::string_view>& files,
                             const HostOwner& host_owner, const TenantConfig& t,
                             const Pos& name_pos, std::vector<Diagnostic>& out) {
  const auto held = [&](const std::string& file) { return files.count(file) == 0; };
  const auto& ts = previous.tenants;
  const auto it = std::lower_bound(ts.begin(), ts.end(), t.name,
                                   [](const TenantConfig& x, const std::string& n) { return x.name < n; });
  std::string other;
  if (it != ts.end() && it->name == t.name && held(it->file)) {
    other = it->file;
  }
  for (const auto& q : previous.quarantined) {
    if (other.empty() && q.name == t.name && held(q.file)) {
      other = q.file;
    }
  }
  if (!other.empty()) {
    out.push_back(Diagnostic{Diagnostic::Severity::error, name_pos,
                             "tenant name \"" + t.name + "\" is already used by " + other,
                             "a name used by no other tenant"});
  }
  for (std::size_t i = 0; i < t.hosts.size(); ++i) {
    const auto owner = host_owner(t.hosts[i]);
    if (!owner) {
      continue;
    }
    std::string tenant;
    Pos at;
    if (*owner < ts.size()) {
      const TenantConfig& o = ts[*owner];
      if (!held(o.file)) {
        continue;
      }
      tenant = o.name;
      at = Pos{o.file, 0, 0};
      for (std::size_t h = 0; h < o.hosts.size() && h < o.pos_hosts.size(); ++h) {
        if (o.hosts[h] == t.hosts[i]) {
          at = o.pos_hosts[h];
        }
      }
    } else if (*owner - ts.size() < previous.quarantined.size()) {
      const QuarantinedTenant& q = previous.quarantined[*owner - ts.size()];
      if (!held(q.file)) {
        continue;
      }
      tenant = q.name;
      at = Pos{q.file, 0, 0};
    } else {
      continue;
    }
    out.push_back(Diagnostic{
        Diagnostic::Severity::error, i < t.pos_hosts.size() ? t.pos_hosts[i] : Pos{t.file, 0, 0},
        "host \"" + t.hosts[i] + "\" is already claimed by tenant \"" + tenant + "\" in " +
            at.file + ":" + std::to_string(at.line) + ":" + std::to_string(at.col),
        "a host name that no other tenant lists"});
  }
}

// Where each tenant of `fresh` (sorted by name) replaces its previous version in place: the
// index in previous.tenants of the tenant with its name and file, one per file read again, none
// quarantined, and no quarantined tenant of `previous` among the files. nullopt otherwise (a
// tenant added, removed, renamed, quarantined or brought back: the caller merges).
std::optional<std::vector<std::size_t>> in_place(const Config& previous, const Config& fresh,
                                                 const std::unordered_set<std::string_view>& files,
                                                 std::size_t file_count,
                                                 const HostOwner& host_owner) {
  if (!host_owner || !fresh.quarantined.empty() || fresh.tenants.size() != file_count ||
      files.size() != file_count) {
    return std::nullopt;
  }
  for (const auto& q : previous.quarantined) {
    if (files.count(q.file) != 0) {
      return std::nullopt;
    }
  }
  const auto& ts = previous.tenants;
  std::vector<std::size_t> slots;
  slots.reserve(fresh.tenants.size());
  for (const auto& t : fresh.tenants) {
    const auto it = std::lower_bound(
        ts.begin(), ts.end(), t.name,
        [](const TenantConfig& x, const std::string& n) { return x.name < n; });
    if (it == ts.end() || it->name != t.name || it->file != t.file) {
      return std::nullopt;
    }
    slots.push_back(static_cast<std::size_t>(it - ts.begin()));
  }
  return slots;
}

}  // namespace

LoadResult reload_tenant_files(const Config& previous,
                               const std::vector<std::string>& tenant_files,
                               const HostOwner& host_owner) {
  LoadResult result;
  const std::unordered_set<std::string_view> files(tenant_files.begin(), tenant_files.end());
  // Every section gateway.toml owns, as it was (a new section of Config belongs here too: a
  // tenant schema may read it, as [tls] acme = true reads [acme]); then the tenants.
  Config cfg;
  cfg.file = previous.file;
  cfg.file_id = previous.file_id;  // gateway.toml did not change (else: a full reload)
  cfg.acme = previous.acme;
  cfg.gateway = previous.gateway;
  cfg.limits = previous.limits;
  cfg.admin = previous.admin;
  cfg.log = previous.log;
  cfg.mesh = previous.mesh;
  cfg.listeners = previous.listeners;
  cfg.egress = previous.egress;
  // The files read again go into `fresh` (only they are sorted, quarantined, judged); the
  // unchanged tenants are shared with `previous`, never copied (cow_vector.h).
  Config fresh = cfg;
  Config kept = cfg;
  const Config& unchanged = kept;
  // The unchanged tenants are listed only when needed: to adopt them (no host_owner), or when
  // the files read again do not each replace the tenant of the same name and file in place.
  const auto keep_unchanged = [&] {
    kept.tenants.reserve(previous.tenants.size());
    for (std::size_t i = 0; i < previous.tenants.size(); ++i) {
      if (files.count(previous.tenants[i].file) == 0) {
        kept.tenants.push_shared(previous.tenants.shared(i));
      }
    }
  };
  if (!host_owner) {
    keep_unchanged();
  }
  for (const auto& q : previous.quarantined) {
    if (files.count(q.file) == 0) {
      kept.quarantined.push_back(q);
    }
  }
  auto& diags = result.diagnostics;
  Validator v(diags);
  if (host_owner) {
    Config seen = cfg;  // [mesh] and the quarantined ones: a few; the tenants are looked up
    seen.quarantined = unchanged.quarantined;
    v.adopt(seen);
  } else {
    v.adopt(unchanged);  // the names and hosts the unchanged tenants hold
  }
  std::vector<std::string> read;  // the files that exist, in name order (load()'s order)
  for (const auto& f : tenant_files) {
    std::error_code ec;
    if (std::filesystem::is_regular_file(f, ec)) {
      read.push_back(f);
    }
  }
  std::sort(read.begin(), read.end());
  for (const auto& f : read) {
    FileIdentity id;
    if (auto t = parse_toml_file(f, diags, &id)) {
      const std::size_t before = fresh.tenants.size();
      v.read_tenant(*t, f, fresh);
      if (fresh.tenants.size() > before) {
        fresh.tenants.back().file_id = id;  // what a full reload compares (load_isolating)
      }
      if (host_owner && fresh.tenants.size() > before) {
        Pos name_pos{f, 0, 0};
        if (const toml::node* n = t->get("name")) {
          name_pos = Pos{f, static_cast<int>(n->source().begin.line),
                         static_cast<int>(n->source().begin.column)};
        }
        check_against_unchanged(previous, files, host_owner, std::as_const(fresh.tenants).back(),
                                name_pos, diags);
      }
    }
  }
  v.finish(fresh);  // sorts the tenants read

  std::vector<Diagnostic> errors;
  for (const auto& d : diags) {
    if (d.severity == Diagnostic::Severity::error) {
      if (!is_tenant_error(fresh, d) ||
          fresh.gateway.tenant_errors != GatewaySection::TenantErrors::quarantine) {
        return result;  // not for this path to judge: the caller loads everything
      }
      errors.push_back(d);
    }
  }
  quarantine_unparsed(fresh, read, errors);
  quarantine_tenants(fresh, errors);

  // The usual change: each file read again still holds the tenant it held, under the same
  // name, with no error. Then the tenants are the previous ones with those replaced at their
  // index (no tenant moves), found by name: no pass over the unchanged tenants.
  if (const auto slots = in_place(previous, fresh, files, tenant_files.size(), host_owner)) {
    cfg.tenants = previous.tenants;  // pointers to the same elements (cow_vector.h)
    for (std::size_t b = 0; b < slots->size(); ++b) {
      cfg.tenants.set_shared((*slots)[b], fresh.tenants.shared(b));  // that slot alone changes
    }
    cfg.quarantined = previous.quarantined;  // none of theirs was read again
    result.config = std::move(cfg);
    return result;
  }
  if (host_owner) {
    keep_unchanged();
  }

  // Both sorted by name, names unique: merge by pointer.
  const Config& added = fresh;
  cfg.tenants.reserve(unchanged.tenants.size() + added.tenants.size());
  std::size_t a = 0;
  std::size_t b = 0;
  while (a < unchanged.tenants.size() || b < added.tenants.size()) {
    const bool take_added =
        a == unchanged.tenants.size() ||
        (b < added.tenants.size() && added.tenants[b].name < unchanged.tenants[a].name);
    cfg.tenants.push_shared(take_added ? added.tenants.shared(b++) : unchanged.tenants.shared(a++));
  }
  cfg.quarantined = std::move(kept.quarantined);
  for (auto& q : fresh.quarantined) {
    cfg.quarantined.push_back(std::move(q));
  }
  std::sort(cfg.quarantined.begin(), cfg.quarantined.end(),
            [](const QuarantinedTenant& x, const QuarantinedTenant& y) { return x.name < y.name; });
  // unknown_sni must still name a serving tenant (load() checks it against every file).
  const Config& merged = cfg;
  for (const auto& l : merged.listeners) {
    if (l.unknown_sni == "reject") {
      continue;
    }
    const auto it = std::lower_bound(
        merged.tenants.begin(), merged.tenants.end(), l.unknown_sni,
        [](const TenantConfig& t, const std::string& name) { return t.name < name; });
    if (it == merged.tenants.end() || it->name != l.unknown_sni) {
      return result;
    }
  }
  result.config = std::move(cfg);
  return result;
}

}  // namespace portcullis::gateway::config
