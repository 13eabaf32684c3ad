// Config: the validated, immutable configuration, as plain data.
//
// Produced by config::load() (toml_loader + validate) on the main thread; read-only afterwards.
// Every path in it is absolute (relative paths were resolved against the directory of the file
// that named them). Every value keeps the position it came from, so later stages (certificate
// loading, analyzers) can still report file:line:col.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "gateway/config/cow_vector.h"

struct stat;

namespace portcullis::gateway::config {

// Where a value came from. line/col are 1-based; 0 means "the file as a whole".
struct Pos {
  std::string file;
  int line = 0;
  int col = 0;
};

// One error or warning. format() gives "file:line:col: error: message (accepted: ...)".
struct Diagnostic {
  enum class Severity : std::uint8_t { error, warning };
  Severity severity = Severity::error;
  Pos pos;
  std::string message;
  std::string accepted;  // what would have been accepted; may be empty
  std::string format() const;
};

using Millis = std::chrono::milliseconds;

// Every limit the gateway enforces: one member per row of limits_table.cc, which holds each
// key's default, bounds and doc (README's [limits] table is checked against it). The members
// start at zero here; the constructor applies the table's defaults.
struct Limits {
  Limits() noexcept;

  std::uint32_t h2_max_concurrent_streams{};
  std::uint32_t h2_stream_window{};
  std::uint32_t h2_connection_window{};
  std::size_t max_request_headers{};
  std::uint32_t max_header_count{};
  Millis header_timeout{};
  Millis tls_handshake_timeout{};
  Millis idle_timeout{};
  std::uint32_t max_requests_per_connection{};
  std::size_t buffer_per_direction{};
  std::uint32_t max_connections_per_listener{};
  std::uint32_t max_connections_per_ip{};      // 0 = no cap; the PROXY-protocol client address
  std::uint32_t max_connections_per_tenant{};  // 0 = no cap
  // HTTP/2 flood and abuse bounds (each past-the-limit event is counted in
  // portcullis_rejections_total under h2_flood or h2_protocol_error).
  std::uint32_t h2_header_table_size{};
  std::uint32_t h2_max_continuations{};
  std::uint32_t h2_max_settings{};
  std::uint32_t h2_max_outbound_control_frames{};
  std::uint32_t h2_max_client_resets{};
  std::uint32_t h2_max_server_resets{};
  // The upstream HTTP/2 client's windows and ACK queue bound (not read yet: it has constants).
  std::uint32_t upstream_h2_stream_window{};
  std::uint32_t upstream_h2_connection_window{};
  std::uint32_t upstream_h2_max_outbound_control_frames{};
  // Per cluster (or egress entry) and worker: open + dialling upstream connections, and
  // requests queued for one past that (503 upstream_overflow beyond).
  std::uint32_t max_upstream_connections{};
  std::uint32_t max_pending_requests{};
  // A request body must be complete this long after the request reached its upstream (408).
  Millis request_body_timeout{};
  // memory_budget: resident memory past which new requests are shed with 503 (reason
  // memory_budget) until it falls below 90% of the budget. "auto" = 90% of the cgroup's
  // memory.max, or of MemTotal when there is no cgroup limit; "off" never sheds.
  static constexpr std::uint64_t kMemoryBudgetAuto = ~std::uint64_t{0};
  std::uint64_t memory_budget{};  // bytes; 0 = off
  // Per client address and worker (token bucket, rate_limiter.h); 0 = off / burst = rate.
  std::uint32_t client_requests_per_second{};
  std::uint32_t client_request_burst{};
  std::uint32_t tenant_upgraded_connections{};  // open WebSockets per tenant; 0 = no cap
  // Tenant TLS contexts in memory: above this many tenants, contexts are built at the first
  // handshake (tls/lazy_context.h); 0 = every tenant built at start.
  std::uint32_t max_tenant_contexts{};
  std::uint64_t max_request_body{};  // bytes of one request body; 0 = no limit (413 past it)
  Pos pos_memory_budget;          // for check's warning when off
  Pos pos_max_connections_per_listener;  // set when explicit: check's descriptor-limit warning
};

struct GatewaySection {
  std::uint32_t workers = 0;  // 0 = one per usable CPU, capped by the cgroup quota
  std::string tenants_dir;    // absolute
  // SIGTERM: /readyz 503 at once, new connections still served for drain_delay (so a load
  // balancer's health checks take the instance out first), then drain_timeout for the rest.
  Millis drain_delay{10'000};
  Millis drain_timeout{15'000};
  // Where the hand-off socket lives (runtime/handoff.h); absolute. "" = no hand-off.
  std::string state_dir = "/run/portcullis";
  std::string ticket_keys;    // optional absolute path
  std::string resolver;       // optional "ip:port", or several comma-separated
  // What an error confined to one tenant (its file, certificate or key) does at start and
  // reload: quarantine that tenant and serve the others, or refuse the whole configuration.
  enum class TenantErrors : std::uint8_t { quarantine, refuse };
  TenantErrors tenant_errors = TenantErrors::quarantine;
};

struct AdminSection {
  std::string listen = "127.0.0.1:9901";  // "" disables the admin server
  Pos pos;                                 // of the listen value (added by config)
  // Bearer token (admin_schema.cc): token_file's content, trimmed, read at start and on every
  // reload. Secret: never shown by /config. "" = no token.
  std::string token_file, token;
  Pos pos_token_file;
  // TLS on the admin listener (cert and key), with client certificates required and verified
  // against client_ca when it is set. Absolute paths; "" = plain HTTP.
  std::string cert, key, client_ca;
  Pos pos_cert;
  bool protect_metrics = false;  // /metrics needs the token too (the probes never do)
};

struct LogSection {
  std::string access = "-";  // "-" = stdout, "" = off, "syslog", else absolute path
  std::string audit;         // absolute path; "-" = stderr; "syslog"
  std::string audit_key;     // optional absolute path: HMAC key of the audit hash chain
  double access_sample = 1.0;  // fraction of successful requests logged (errors: all)
};

struct MeshSection {
  std::string trust_domain;
  std::string ca, cert, key;  // absolute paths
  Pos pos_ca, pos_cert, pos_key;
};

// [acme]: the ACME (RFC 8555) client that issues certificates for tenants with [tls] acme = true.
struct AcmeSection {
  bool enabled = false;         // the section is present
  std::string directory;        // the directory URL (https)
  std::vector<std::string> contact;  // "mailto:..." URLs
  std::string state_dir;        // absolute: account key, issued keys and chains (mode 0600)
  std::string ca;               // absolute PEM bundle trusted for the directory; "" = system
  std::string eab_kid;          // external account binding (both or neither)
  std::string eab_hmac_key;     // base64url
  std::string challenge = "http-01";  // "http-01" | "tls-alpn-01"
  std::uint32_t max_orders = 4;       // orders in flight at once
  Millis retry_base{30'000};          // first backoff after a failure; doubles each time
  Millis retry_cap{3'600'000};        // cap of the exponential backoff after a failure
  Pos pos;
};

// The subject O of the self-signed certificate an ACME tenant serves before its first issuance.
inline constexpr const char* kAcmePlaceholderOrg = "Portcullis ACME placeholder";

// Where [acme] keeps a tenant's issued key and chain.
std::string acme_cert_path(const AcmeSection& a, const std::string& tenant);
std::string acme_key_path(const AcmeSection& a, const std::string& tenant);

struct ListenerConfig {
  // http: plain HTTP that answers ACME HTTP-01 challenges and redirects the rest to https (308).
  enum class Kind : std::uint8_t { ingress, egress, http };
  enum class ProxyProtocol : std::uint8_t { off, v1, v2, any };
  enum class ClientAuth : std::uint8_t { mesh, none };
  std::string name;
  Kind kind = Kind::ingress;
  std::string address;  // "host:port" or "[v6]:port"
  ProxyProtocol proxy_protocol = ProxyProtocol::off;
  std::vector<std::string> trusted_proxies;  // CIDRs
  std::string unknown_sni = "reject";        // "reject" or a tenant name
  ClientAuth client_auth = ClientAuth::mesh;  // egress only
  Pos pos;
};

struct EgressConfig {
  std::string host;  // exact or "*.suffix"
  std::uint16_t port = 443;
  std::string ca = "system";  // "system" or absolute path
  std::vector<std::string> pins;   // "sha256/BASE64"
  std::vector<std::string> allow;  // SPIFFE IDs or "*"
  std::string min_tls = "1.2";     // "1.2" | "1.3"
  std::string mode = "originate";  // "originate" | "tunnel"
  bool allow_private = false;
  Pos pos;
};

struct RouteConfig {
  std::string path;         // exact path, when !prefix
  std::string path_prefix;  // prefix, when prefix
  bool prefix = false;
  std::string cluster;          // empty when direct_response is set
  // A response the gateway writes itself (no upstream). "{client_identity}" in the body is
  // replaced by the verified client certificate identity (SPIFFE ID, else subject CN), "{tenant}"
  // by the tenant name. Used by the demo's mesh service and for health/maintenance pages.
  std::optional<std::string> direct_response;
  int status = 200;
  bool websocket = true;  // false: WebSocket upgrades on this route get 403 (upgrade_refused)
  Pos pos;
};

struct ClusterConfig {
  enum class Protocol : std::uint8_t { h2, http1 };
  std::string name;
  std::vector<std::string> endpoints;  // "host:port"
  std::string identity;                // expected SPIFFE URI SAN, may be empty
  std::string server_name;             // SNI + DNS SAN when no identity
  Protocol protocol = Protocol::http1;
  bool plaintext = false;
  Millis connect_timeout{5'000};
  Millis request_timeout{30'000};
  // Active health checks: GET health_path on every endpoint (same mTLS and identity checks).
  std::string health_path;        // "" = no active checks
  Millis health_interval{5'000};
  std::uint32_t healthy_threshold = 2;    // consecutive successes to mark healthy
  std::uint32_t unhealthy_threshold = 3;  // consecutive failures to mark unhealthy
  // Passive ejection: consecutive connect/TLS/5xx failures of real traffic.
  std::uint32_t max_failures = 5;
  Millis eject_time{30'000};
  Pos pos;
};

// A file's stat identity when the loader read it (all zero: not known).
struct FileIdentity {
  std::uint64_t dev = 0, ino = 0, size = 0;
  std::int64_t mtime_ns = 0, ctime_ns = 0;
  // Read when its mtime and ctime were at least a second old: a later change of the file then
  // shows in its stat identity. One changed in the same clock tick as the read could change
  // again with the same identity (file times move by the kernel's tick, not by the
  // nanosecond): such a file is read again rather than trusted (git's "racy clean").
  bool settled = false;
  static FileIdentity of(const struct stat& st) noexcept;  // settled left false
  bool known() const noexcept { return dev != 0 || ino != 0; }
  bool operator==(const FileIdentity& o) const noexcept {  // settled is about the read
    return dev == o.dev && ino == o.ino && size == o.size && mtime_ns == o.mtime_ns &&
           ctime_ns == o.ctime_ns;
  }
};

struct TenantConfig;
// Whether t's file is still the one it was read from (a stat, no read): same stat identity and
// read once settled. Unknown identities (not read by the loader) are never unchanged.
bool file_unchanged(const TenantConfig& t);

struct TenantConfig {
  std::string name;
  std::string file;  // absolute path of the tenant file
  // `file` as last read (at start-up, a full or a per-tenant reload): the watcher's first check
  // compares against it, and a full reload takes the tenant as it is while it still holds.
  FileIdentity file_id;
  std::vector<std::string> hosts;
  std::string cert, key, client_ca;  // absolute; client_ca may be empty
  std::string min_tls = "1.2";
  std::vector<RouteConfig> routes;
  std::vector<ClusterConfig> clusters;
  Pos pos_cert, pos_key, pos_client_ca;
  std::vector<Pos> pos_hosts;  // parallel to hosts (added by config)
  // [rate_limit], per worker; 0 = no limit / burst = the rate.
  std::uint32_t requests_per_second = 0;
  std::uint32_t request_burst = 0;
  // [tls] acme = true: cert and key are issued by [acme] into its state directory (cert and key
  // above then point there).
  bool acme = false;
  Pos pos_acme;
};

// A tenant left out of a generation for its own errors: its hosts are refused at the handshake
// (reason tenant_quarantined) while every other tenant serves.
struct QuarantinedTenant {
  std::string name;   // from the file, else the file's stem (a file that does not parse)
  std::string file;   // absolute path of the tenant file
  std::vector<std::string> hosts;  // as far as the file could be read; may be empty
  std::string error;  // the first error, Diagnostic::format()ted
  std::size_t errors = 0;
};

struct Config {
  std::string file;  // absolute path of gateway.toml
  FileIdentity file_id;  // gateway.toml as load() read it (unknown from other paths)
  GatewaySection gateway;
  Limits limits;
  AdminSection admin;
  LogSection log;
  MeshSection mesh;
  AcmeSection acme;
  std::vector<ListenerConfig> listeners;
  std::vector<EgressConfig> egress;
  // Sorted by name. Shared element by element with the previous generation on a per-tenant
  // reload (cow_vector.h): read through a const Config to keep them shared.
  CowVector<TenantConfig> tenants;
  std::vector<QuarantinedTenant> quarantined;  // sorted by name; only from load_isolating()
};

struct LoadResult {
  std::optional<Config> config;  // set when there are no errors
  std::vector<Diagnostic> diagnostics;
  bool ok() const noexcept { return config.has_value(); }
};

// Parses gateway.toml and every tenants_dir/*.toml, and validates structure and policy (names,
// tenant isolation, unique hosts, enum values, addresses, durations). Does not read certificates.
// Never throws.
LoadResult load(const std::string& gateway_toml_path);

// load(), for `run` and reload: when [gateway].tenant_errors = "quarantine" (the default) and
// every error lies in tenant files, the config is given with those tenants moved to
// `quarantined`; `diagnostics` still holds every error. Errors anywhere else refuse as load().
// `previous` (a reload: the running configuration): when gateway.toml is the very file it read
// (same stat identity), a tenant file whose stat identity is the one `previous` read is not
// parsed again: its tenant is `previous`'s object, shared (cow_vector.h). Same bytes and the
// same gateway.toml around them give the same tenant, and a full reload then holds one copy
// of the unchanged tenants instead of two. One whose name or hosts another file now claims is
// parsed, so the errors read as ever.
LoadResult load_isolating(const std::string& gateway_toml_path, const Config* previous = nullptr);

// Moves each tenant of cfg.tenants that has an error in `errors` (one positioned in its file)
// to cfg.quarantined. Returns the indexes (into cfg.tenants as it was) of the tenants that
// stayed, in order. Errors in no tenant's file are left to the caller.
std::vector<std::size_t> quarantine_tenants(Config& cfg, const std::vector<Diagnostic>& errors);

// A tenant file of `files` that gave no tenant (it did not parse) but has an error in `errors`
// goes to cfg.quarantined under its file's stem, hosts unknown.
void quarantine_unparsed(Config& cfg, const std::vector<std::string>& files,
                         const std::vector<Diagnostic>& errors);

// True when `d` is positioned in a file of tenants_dir: an error confined to that tenant.
bool is_tenant_error(const Config& cfg, const Diagnostic& d);

// For every [tls] acme = true tenant whose key or certificate file is missing: writes a
// self-signed placeholder for its hosts (key mode 0600), so the tenant can be built and served
// until the first issuance replaces it. Errors go to stderr; the build then reports the file.
void ensure_acme_placeholders(const Config& cfg);

}  // namespace portcullis::gateway::config
