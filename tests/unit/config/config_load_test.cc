#include <catch2/catch.hpp>

#include <string>

#include "gateway/config/config.h"
#include "gateway/config/validate.h"
#include "tests/unit/config/tmp_dir.h"

namespace cfg = portcullis::gateway::config;
using portcullis::gateway::config::Diagnostic;
using portcullis::test::TmpDir;

namespace {

const char* const kGateway = R"(# gateway.toml
[gateway]
workers = 2
tenants_dir = "tenants.d"
drain_timeout = "15s"

[admin]
listen = "127.0.0.1:9901"

[log]
access = "-"
audit = "logs/audit.log"

[mesh]
trust_domain = "mesh.example"
ca = "mesh/ca.pem"
cert = "mesh/gateway.pem"
key = "/etc/portcullis/gateway.key"

[[listener]]
name = "public"
kind = "ingress"
address = "0.0.0.0:8443"

[[listener]]
name = "egress"
kind = "egress"
address = "127.0.0.1:15001"
client_auth = "mesh"
)";

const char* const kAcme = R"(name = "acme"
hosts = ["shop.acme.example", "*.api.acme.example"]

[tls]
cert = "certs/acme.pem"
key = "certs/acme.key"

[[route]]
path_prefix = "/api/"
cluster = "api"

[[route]]
path = "/health"
direct_response = "ok {tenant}"
status = 200

[cluster.api]
endpoints = ["10.0.1.10:8443", "api.acme.svc:8443"]
identity = "spiffe://mesh.example/ns/acme/sa/api"
protocol = "h2"
)";

// The error at file:line:col (file matched by suffix) whose message contains `text`.
const Diagnostic* find(const cfg::LoadResult& r, const std::string& file_suffix, int line, int col,
                       const std::string& text) {
  for (const auto& d : r.diagnostics) {
    if (d.pos.file.ends_with(file_suffix) && d.pos.line == line && d.pos.col == col &&
        d.message.find(text) != std::string::npos) {
      return &d;
    }
  }
  return nullptr;
}

std::string dump(const cfg::LoadResult& r) {
  std::string s;
  for (const auto& d : r.diagnostics) {
    s += d.format() + "\n";
  }
  return s;
}

// A valid layout; tests overwrite one file to break it.
void write_valid(TmpDir& dir) {
  dir.write("gateway.toml", kGateway);
  dir.write("tenants.d/acme.toml", kAcme);
}

}  // namespace

TEST_CASE("a valid configuration loads with absolute paths", "[config]") {
  TmpDir dir;
  write_valid(dir);
  auto r = cfg::load(dir.path("gateway.toml"));
  INFO(dump(r));
  REQUIRE(r.ok());
  const cfg::Config& c = *r.config;
  CHECK(c.file == dir.path("gateway.toml"));
  CHECK(c.gateway.workers == 2);
  CHECK(c.gateway.tenants_dir == dir.path("tenants.d"));
  CHECK(c.log.audit == dir.path("logs/audit.log"));
  CHECK(c.log.access == "-");
  CHECK(c.mesh.ca == dir.path("mesh/ca.pem"));
  CHECK(c.mesh.key == "/etc/portcullis/gateway.key");
  CHECK(c.mesh.pos_ca.line == 16);
  REQUIRE(c.listeners.size() == 2);
  CHECK(c.listeners[1].kind == cfg::ListenerConfig::Kind::egress);
  REQUIRE(c.tenants.size() == 1);
  const auto& t = c.tenants[0];
  CHECK(t.name == "acme");
  CHECK(t.file == dir.path("tenants.d/acme.toml"));
  // Relative to the tenant file's directory, not gateway.toml's.
  CHECK(t.cert == dir.path("tenants.d/certs/acme.pem"));
  CHECK(t.pos_cert.line == 5);
  CHECK(t.pos_cert.col == 8);
  REQUIRE(t.pos_hosts.size() == 2);
  CHECK(t.pos_hosts[1].col == 31);
  REQUIRE(t.routes.size() == 2);
  CHECK(t.routes[0].prefix);
  CHECK(t.routes[0].cluster == "api");
  CHECK(t.routes[1].direct_response == std::optional<std::string>("ok {tenant}"));
  REQUIRE(t.clusters.size() == 1);
  CHECK(t.clusters[0].protocol == cfg::ClusterConfig::Protocol::h2);
  CHECK(t.clusters[0].endpoints.size() == 2);
}

TEST_CASE("Diagnostic::format gives file:line:col, severity and accepted values", "[config]") {
  Diagnostic d{Diagnostic::Severity::error, {"/x/gateway.toml", 3, 18}, "bad", "\"a\", \"b\""};
  CHECK(d.format() == "/x/gateway.toml:3:18: error: bad (accepted: \"a\", \"b\")");
  d.severity = Diagnostic::Severity::warning;
  d.accepted.clear();
  CHECK(d.format() == "/x/gateway.toml:3:18: warning: bad");
}

TEST_CASE("TOML syntax errors carry the parser's position", "[config]") {
  TmpDir dir;
  write_valid(dir);
  dir.write("tenants.d/broken.toml", "name = \"broken\"\nhosts = [\n  \"a.example\",\n  = 3\n");
  auto r = cfg::load(dir.path("gateway.toml"));
  CHECK_FALSE(r.ok());
  REQUIRE(r.diagnostics.size() == 1);
  CHECK(r.diagnostics[0].pos.file == dir.path("tenants.d/broken.toml"));
  CHECK(r.diagnostics[0].pos.line == 4);
  CHECK(r.diagnostics[0].message.find("TOML syntax") != std::string::npos);
}

TEST_CASE("a missing gateway.toml is an error, not an exception", "[config]") {
  TmpDir dir;
  auto r = cfg::load(dir.path("nope.toml"));
  CHECK_FALSE(r.ok());
  REQUIRE(r.diagnostics.size() == 1);
  CHECK(r.diagnostics[0].message == "cannot read file");
}

TEST_CASE("enum values report the position and the accepted values", "[config]") {
  TmpDir dir;
  write_valid(dir);
  dir.write("gateway.toml", std::string(kGateway) + R"(
[[listener]]
name = "pp"
kind = "ingress"
address = "0.0.0.0:9443"
proxy_protocol = "v3"
)");
  auto r = cfg::load(dir.path("gateway.toml"));
  INFO(dump(r));
  CHECK_FALSE(r.ok());
  const auto* d = find(r, "gateway.toml", 35, 18, "proxy_protocol = \"v3\"");
  REQUIRE(d != nullptr);
  CHECK(d->accepted == R"("off", "v1", "v2", "any")");
  CHECK(d->format().ends_with(R"(:35:18: error: proxy_protocol = "v3" is not valid )"
                              R"((accepted: "off", "v1", "v2", "any"))"));
}

TEST_CASE("unknown keys are errors that list the known keys", "[config]") {
  TmpDir dir;
  write_valid(dir);
  std::string gw = kGateway;
  gw.replace(gw.find("drain_timeout"), 13, "drian_timeout");
  dir.write("gateway.toml", gw);
  auto r = cfg::load(dir.path("gateway.toml"));
  INFO(dump(r));
  CHECK_FALSE(r.ok());
  const auto* d = find(r, "gateway.toml", 5, 1, "unknown key 'drian_timeout' in [gateway]");
  REQUIRE(d != nullptr);
  CHECK(d->accepted.find("drain_timeout") != std::string::npos);

  // In a tenant file too, including nested tables.
  dir.write("gateway.toml", kGateway);
  std::string acme = kAcme;
  acme.replace(acme.find("protocol"), 8, "protocl");
  dir.write("tenants.d/acme.toml", acme);
  r = cfg::load(dir.path("gateway.toml"));
  CHECK(find(r, "acme.toml", 20, 1, "unknown key 'protocl' in [cluster.api]") != nullptr);
}

TEST_CASE("listener checks: names, addresses, kind, CIDRs, unknown_sni, client_auth",
          "[config]") {
  TmpDir dir;
  write_valid(dir);
  dir.write("gateway.toml", std::string(kGateway) + R"(
[[listener]]
name = "public"
kind = "sideways"
address = "1.2.3:80"
trusted_proxies = ["10.0.0.0/8", "10.0.0.0/33", "::1"]
unknown_sni = "nobody"
client_auth = "none"

[[listener]]
name = "v6"
kind = "egress"
address = "[::1]:70000"
client_auth = "maybe"
)");
  auto r = cfg::load(dir.path("gateway.toml"));
  INFO(dump(r));
  CHECK_FALSE(r.ok());
  CHECK(find(r, "gateway.toml", 32, 8, "duplicate listener name \"public\"") != nullptr);
  CHECK(find(r, "gateway.toml", 33, 8, "kind = \"sideways\"") != nullptr);
  CHECK(find(r, "gateway.toml", 34, 11, "not a valid listen address") != nullptr);
  CHECK(find(r, "gateway.toml", 35, 34, "\"10.0.0.0/33\" is not a CIDR") != nullptr);
  CHECK(find(r, "gateway.toml", 36, 15, "unknown_sni = \"nobody\" is not a tenant") != nullptr);
  const auto* sni = find(r, "gateway.toml", 36, 15, "unknown_sni");
  REQUIRE(sni != nullptr);
  CHECK(sni->accepted == "\"reject\", \"acme\"");
  CHECK(find(r, "gateway.toml", 37, 15, "client_auth applies to egress listeners only") !=
        nullptr);
  CHECK(find(r, "gateway.toml", 42, 11, "\"[::1]:70000\"") != nullptr);
  CHECK(find(r, "gateway.toml", 43, 15, "client_auth = \"maybe\"") != nullptr);
  CHECK(r.diagnostics.size() == 8);
}

TEST_CASE("duplicate listen addresses are refused, port 0 is allowed for tests", "[config]") {
  TmpDir dir;
  write_valid(dir);
  dir.write("gateway.toml", std::string(kGateway) + R"(
[[listener]]
name = "again"
kind = "ingress"
address = "0.0.0.0:8443"

[[listener]]
name = "test0"
kind = "ingress"
address = "[::1]:0"
)");
  auto r = cfg::load(dir.path("gateway.toml"));
  INFO(dump(r));
  REQUIRE(r.diagnostics.size() == 1);
  CHECK(find(r, "gateway.toml", 34, 11, "already used by another listener") != nullptr);
}

TEST_CASE("durations, sizes and limits", "[config]") {
  CHECK(cfg::parse_duration("15s") == cfg::Millis{15000});
  CHECK(cfg::parse_duration("500ms") == cfg::Millis{500});
  CHECK(cfg::parse_duration("2m") == cfg::Millis{120000});
  CHECK(cfg::parse_duration("1h") == cfg::Millis{3600000});
  CHECK_FALSE(cfg::parse_duration("15"));
  CHECK_FALSE(cfg::parse_duration("s"));
  CHECK_FALSE(cfg::parse_duration("-1s"));
  CHECK_FALSE(cfg::parse_duration("1.5s"));
  CHECK(cfg::parse_size("64KiB") == 65536U);
  CHECK(cfg::parse_size("1MiB") == 1048576U);
  CHECK(cfg::parse_size("4096") == 4096U);
  CHECK_FALSE(cfg::parse_size("64KB"));
  CHECK_FALSE(cfg::parse_size("KiB"));

  TmpDir dir;
  write_valid(dir);
  dir.write("gateway.toml", std::string(kGateway) + R"(
[limits]
h2_max_concurrent_streams = 50
max_request_headers = "32KiB"
buffer_per_direction = 131072
idle_timeout = "2m"
header_timeout = 10
tls_handshake_timeout = "10 s"
max_header_count = 0
h2_stream_window = "2GiB"
)");
  auto r = cfg::load(dir.path("gateway.toml"));
  INFO(dump(r));
  CHECK_FALSE(r.ok());
  CHECK(find(r, "gateway.toml", 36, 18, "'header_timeout' must be a duration string") !=
        nullptr);
  const auto* d = find(r, "gateway.toml", 37, 25, "is not a duration");
  REQUIRE(d != nullptr);
  CHECK(d->accepted == R"("500ms", "15s", "2m", "1h")");
  CHECK(find(r, "gateway.toml", 38, 20, "max_header_count = 0 is out of range") != nullptr);
  CHECK(find(r, "gateway.toml", 39, 20, "out of range") != nullptr);
  CHECK(r.diagnostics.size() == 4);

  // The valid ones are applied.
  dir.write("gateway.toml", std::string(kGateway) + R"(
[limits]
h2_max_concurrent_streams = 50
max_request_headers = "32KiB"
buffer_per_direction = 131072
idle_timeout = "2m"
)");
  r = cfg::load(dir.path("gateway.toml"));
  REQUIRE(r.ok());
  CHECK(r.config->limits.h2_max_concurrent_streams == 50);
  CHECK(r.config->limits.max_request_headers == 32 * 1024);
  CHECK(r.config->limits.buffer_per_direction == 131072);
  CHECK(r.config->limits.idle_timeout == cfg::Millis{120000});
  CHECK(r.config->limits.header_timeout == cfg::Millis{10000});  // default kept
  CHECK(r.config->limits.h2_max_client_resets == 1000);          // default kept
  CHECK(r.config->limits.memory_budget == cfg::Limits::kMemoryBudgetAuto);
}

TEST_CASE("[limits]: HTTP/2 flood bounds and the memory budget", "[config]") {
  TmpDir dir;
  write_valid(dir);
  dir.write("gateway.toml", std::string(kGateway) + R"(
[limits]
h2_header_table_size = "8KiB"
h2_max_continuations = 4
h2_max_settings = 16
h2_max_outbound_control_frames = 500
h2_max_client_resets = 200
h2_max_server_resets = 300
memory_budget = "2GiB"
)");
  auto r = cfg::load(dir.path("gateway.toml"));
  INFO(dump(r));
  REQUIRE(r.ok());
  const cfg::Limits& l = r.config->limits;
  CHECK(l.h2_header_table_size == 8192);
  CHECK(l.h2_max_continuations == 4);
  CHECK(l.h2_max_settings == 16);
  CHECK(l.h2_max_outbound_control_frames == 500);
  CHECK(l.h2_max_client_resets == 200);
  CHECK(l.h2_max_server_resets == 300);
  CHECK(l.memory_budget == 2ULL << 30);

  dir.write("gateway.toml", std::string(kGateway) + "[limits]\nmemory_budget = \"off\"\n");
  r = cfg::load(dir.path("gateway.toml"));
  REQUIRE(r.ok());
  CHECK(r.config->limits.memory_budget == 0);
  dir.write("gateway.toml", std::string(kGateway) + "[limits]\nmemory_budget = \"lots\"\n");
  r = cfg::load(dir.path("gateway.toml"));
  CHECK_FALSE(r.ok());
  CHECK(find(r, "gateway.toml", 31, 17, "memory_budget = \"lots\" is not valid") != nullptr);

  // Out of range, wrong type, a budget too small to run in: each named at its line and column.
  dir.write("gateway.toml", std::string(kGateway) + R"(
[limits]
h2_max_settings = 2
h2_max_client_resets = 0
h2_max_continuations = "8"
memory_budget = "1MiB"
)");
  r = cfg::load(dir.path("gateway.toml"));
  INFO(dump(r));
  CHECK_FALSE(r.ok());
  CHECK(find(r, "gateway.toml", 32, 19, "h2_max_settings = 2 is out of range") != nullptr);
  CHECK(find(r, "gateway.toml", 33, 24, "h2_max_client_resets = 0 is out of range") != nullptr);
  CHECK(find(r, "gateway.toml", 34, 24, "'h2_max_continuations' must be an integer") != nullptr);
  CHECK(find(r, "gateway.toml", 35, 17, "memory_budget = 1048576 bytes is out of range") != nullptr);
  CHECK(r.diagnostics.size() == 4);
}

TEST_CASE("tenant isolation: a cluster identity must lie under the tenant's namespace",
          "[config]") {
  TmpDir dir;
  write_valid(dir);
  std::string acme = kAcme;
  acme.replace(acme.find("ns/acme/sa/api"), 14, "ns/globex/sa/api");
  dir.write("tenants.d/acme.toml", acme);
  auto r = cfg::load(dir.path("gateway.toml"));
  INFO(dump(r));
  CHECK_FALSE(r.ok());
  const auto* d = find(r, "acme.toml", 19, 12, "tenant isolation");
  REQUIRE(d != nullptr);
  CHECK(d->accepted == "an identity under spiffe://mesh.example/ns/acme/");
  CHECK(r.diagnostics.size() == 1);

  // Another trust domain is outside too, and so is the bare namespace.
  acme = kAcme;
  acme.replace(acme.find("mesh.example"), 12, "evil.example");
  dir.write("tenants.d/acme.toml", acme);
  r = cfg::load(dir.path("gateway.toml"));
  CHECK(find(r, "acme.toml", 19, 12, "tenant isolation") != nullptr);

  acme = kAcme;
  acme.replace(acme.find("ns/acme/sa/api"), 14, "ns/acme");
  dir.write("tenants.d/acme.toml", acme);
  r = cfg::load(dir.path("gateway.toml"));
  CHECK(find(r, "acme.toml", 19, 12, "tenant isolation") != nullptr);

  acme = kAcme;
  acme.replace(acme.find("spiffe://"), 9, "https://");
  dir.write("tenants.d/acme.toml", acme);
  r = cfg::load(dir.path("gateway.toml"));
  CHECK(find(r, "acme.toml", 19, 12, "is not a SPIFFE ID") != nullptr);
}

TEST_CASE("a route may only name a cluster of its own tenant", "[config]") {
  TmpDir dir;
  write_valid(dir);
  dir.write("tenants.d/globex.toml", R"(name = "globex"
hosts = ["globex.example"]
[tls]
cert = "g.pem"
key = "g.key"
[[route]]
path_prefix = "/"
cluster = "api"
)");
  auto r = cfg::load(dir.path("gateway.toml"));
  INFO(dump(r));
  CHECK_FALSE(r.ok());
  const auto* d = find(r, "globex.toml", 8, 11, "route cluster \"api\" is not a cluster of tenant");
  REQUIRE(d != nullptr);
  CHECK(d->accepted == "a [cluster.NAME] defined in this file");
}

TEST_CASE("host names are unique across tenants; the error names both files", "[config]") {
  TmpDir dir;
  write_valid(dir);
  dir.write("tenants.d/zeta.toml", R"(name = "zeta"
hosts = ["zeta.example", "SHOP.acme.example"]
[tls]
cert = "z.pem"
key = "z.key"
[[route]]
path_prefix = "/"
direct_response = "hi"
)");
  auto r = cfg::load(dir.path("gateway.toml"));
  INFO(dump(r));
  CHECK_FALSE(r.ok());
  REQUIRE(r.diagnostics.size() == 1);
  const auto& d = r.diagnostics[0];
  CHECK(d.pos.file == dir.path("tenants.d/zeta.toml"));
  CHECK(d.pos.line == 2);
  CHECK(d.pos.col == 26);
  CHECK(d.message.find("tenant \"acme\"") != std::string::npos);
  CHECK(d.message.find(dir.path("tenants.d/acme.toml") + ":2:10") != std::string::npos);
}

TEST_CASE("tenant names: syntax and uniqueness", "[config]") {
  TmpDir dir;
  write_valid(dir);
  dir.write("tenants.d/b.toml", R"(name = "Bad_Name"
hosts = ["b.example"]
[tls]
cert = "b.pem"
key = "b.key"
)");
  dir.write("tenants.d/c.toml", R"(name = "acme"
hosts = ["c.example"]
[tls]
cert = "c.pem"
key = "c.key"
)");
  auto r = cfg::load(dir.path("gateway.toml"));
  INFO(dump(r));
  CHECK(find(r, "b.toml", 1, 8, "tenant name \"Bad_Name\" is not valid") != nullptr);
  CHECK(find(r, "c.toml", 1, 8, "tenant name \"acme\" is already used") != nullptr);
}

TEST_CASE("host patterns are checked", "[config]") {
  CHECK(cfg::valid_host_pattern("shop.acme.example"));
  CHECK(cfg::valid_host_pattern("*.api.acme.example"));
  CHECK_FALSE(cfg::valid_host_pattern("*.example"));
  CHECK_FALSE(cfg::valid_host_pattern("a.*.example"));
  CHECK_FALSE(cfg::valid_host_pattern("-a.example"));
  CHECK_FALSE(cfg::valid_host_pattern(""));

  TmpDir dir;
  write_valid(dir);
  std::string acme = kAcme;
  acme.replace(acme.find("*.api"), 5, "api.*");
  dir.write("tenants.d/acme.toml", acme);
  auto r = cfg::load(dir.path("gateway.toml"));
  INFO(dump(r));
  CHECK(find(r, "acme.toml", 2, 31, "is not a valid host name") != nullptr);
}

TEST_CASE("route shape: path xor path_prefix, cluster xor direct_response, status", "[config]") {
  TmpDir dir;
  write_valid(dir);
  dir.write("tenants.d/acme.toml", std::string(kAcme) + R"(
[[route]]
path = "/a"
path_prefix = "/b"
cluster = "api"

[[route]]
path_prefix = "nope"
cluster = "api"
direct_response = "x"

[[route]]
path = "/c"
cluster = "api"
status = 204

[[route]]
path = "/d"
direct_response = "x"
status = 700
)");
  auto r = cfg::load(dir.path("gateway.toml"));
  INFO(dump(r));
  CHECK(find(r, "acme.toml", 24, 15, "exactly one of path and path_prefix") != nullptr);
  CHECK(find(r, "acme.toml", 28, 15, "must start with '/'") != nullptr);
  CHECK(find(r, "acme.toml", 30, 19, "exactly one of cluster and direct_response") != nullptr);
  CHECK(find(r, "acme.toml", 35, 10, "status applies only to routes with direct_response") !=
        nullptr);
  CHECK(find(r, "acme.toml", 40, 10, "status = 700 is out of range") != nullptr);
  CHECK(r.diagnostics.size() == 5);
}

TEST_CASE("clusters: endpoints, protocol, verification target, timeouts", "[config]") {
  TmpDir dir;
  write_valid(dir);
  dir.write("tenants.d/acme.toml", std::string(kAcme) + R"(
[cluster.web]
endpoints = []
protocol = "http/2"

[cluster.db]
endpoints = ["db:0", "no-port"]
connect_timeout = "soon"

[cluster.open]
endpoints = ["open.svc:80"]
plaintext = true
)");
  auto r = cfg::load(dir.path("gateway.toml"));
  INFO(dump(r));
  CHECK(find(r, "acme.toml", 22, 1, "[cluster.web] needs identity (or server_name)") != nullptr);
  CHECK(find(r, "acme.toml", 23, 13, "endpoints must not be empty") != nullptr);
  const auto* proto = find(r, "acme.toml", 24, 12, "protocol = \"http/2\"");
  REQUIRE(proto != nullptr);
  CHECK(proto->accepted == R"("h2", "http/1.1")");
  CHECK(find(r, "acme.toml", 26, 1, "[cluster.db] needs identity") != nullptr);
  CHECK(find(r, "acme.toml", 27, 14, "endpoint \"db:0\" is not valid") != nullptr);
  CHECK(find(r, "acme.toml", 27, 22, "endpoint \"no-port\" is not valid") != nullptr);
  CHECK(find(r, "acme.toml", 28, 19, "connect_timeout = \"soon\"") != nullptr);
  CHECK(r.diagnostics.size() == 7);
}

TEST_CASE("[mesh] is required when a cluster uses mTLS", "[config]") {
  TmpDir dir;
  std::string gw = kGateway;
  const auto from = gw.find("[mesh]");
  const auto to = gw.find("[[listener]]");
  gw.erase(from, to - from);
  // Without the egress listener only the cluster needs the mesh.
  gw.erase(gw.find("[[listener]]\nname = \"egress\""));
  dir.write("gateway.toml", gw);
  std::string acme = kAcme;
  acme.erase(acme.find("identity ="), acme.find("protocol =") - acme.find("identity ="));
  acme += "server_name = \"api.acme.svc\"\n";
  dir.write("tenants.d/acme.toml", acme);
  auto r = cfg::load(dir.path("gateway.toml"));
  INFO(dump(r));
  CHECK_FALSE(r.ok());
  CHECK(find(r, "acme.toml", 17, 1, "[mesh] (trust_domain, ca, cert, key) is required") != nullptr);

  // A plaintext-only config needs no mesh.
  acme += "plaintext = true\n";
  dir.write("tenants.d/acme.toml", acme);
  r = cfg::load(dir.path("gateway.toml"));
  INFO(dump(r));
  CHECK(r.ok());

  // A partial [mesh] names what is missing.
  dir.write("gateway.toml", gw + "[mesh]\ntrust_domain = \"mesh.example\"\nca = \"ca.pem\"\n");
  r = cfg::load(dir.path("gateway.toml"));
  INFO(dump(r));
  CHECK(find(r, "gateway.toml", 19, 1, "[mesh] needs cert") != nullptr);
  CHECK(find(r, "gateway.toml", 19, 1, "[mesh] needs key") != nullptr);
}

TEST_CASE("egress entries", "[config]") {
  TmpDir dir;
  write_valid(dir);
  dir.write("gateway.toml", std::string(kGateway) + R"(
[[egress]]
host = "api.partner.example"
port = 443
ca = "partner-ca.pem"
pins = ["sha256/47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU="]
allow = ["spiffe://mesh.example/ns/acme/sa/billing"]
min_tls = "1.3"
mode = "tunnel"

[[egress]]
host = "bad host"
port = 0
pins = ["sha256/AAAA", "md5/xyz"]
allow = []
min_tls = "1.1"
mode = "relay"
allow_private = "yes"

[[egress]]
host = "*.partner.example"
allow = ["*", "billing"]
)");
  auto r = cfg::load(dir.path("gateway.toml"));
  INFO(dump(r));
  CHECK_FALSE(r.ok());
  CHECK(find(r, "gateway.toml", 41, 8, "egress host \"bad host\"") != nullptr);
  CHECK(find(r, "gateway.toml", 42, 8, "port = 0 is out of range") != nullptr);
  CHECK(find(r, "gateway.toml", 43, 9, "pin \"sha256/AAAA\"") != nullptr);
  CHECK(find(r, "gateway.toml", 43, 24, "pin \"md5/xyz\"") != nullptr);
  CHECK(find(r, "gateway.toml", 44, 9, "allow must not be empty") != nullptr);
  const auto* tls = find(r, "gateway.toml", 45, 11, "min_tls = \"1.1\"");
  REQUIRE(tls != nullptr);
  CHECK(tls->accepted == R"("1.2", "1.3")");
  CHECK(find(r, "gateway.toml", 46, 8, "mode = \"relay\"") != nullptr);
  CHECK(find(r, "gateway.toml", 47, 17, "'allow_private' must be true or false") != nullptr);
  CHECK(find(r, "gateway.toml", 51, 15, "allow entry \"billing\" is not a SPIFFE ID") != nullptr);
  CHECK(r.diagnostics.size() == 9);

  // The first entry alone is valid; its CA path is resolved.
  std::string gw = std::string(kGateway) + R"(
[[egress]]
host = "api.partner.example"
ca = "partner-ca.pem"
pins = ["sha256/47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU="]
allow = ["spiffe://mesh.example/ns/acme/sa/billing"]
)";
  dir.write("gateway.toml", gw);
  r = cfg::load(dir.path("gateway.toml"));
  INFO(dump(r));
  REQUIRE(r.ok());
  REQUIRE(r.config->egress.size() == 1);
  CHECK(r.config->egress[0].ca == dir.path("partner-ca.pem"));
  CHECK(r.config->egress[0].port == 443);
  CHECK(r.config->egress[0].mode == "originate");
}

TEST_CASE("type errors name the expected type", "[config]") {
  TmpDir dir;
  write_valid(dir);
  std::string gw = kGateway;
  gw.replace(gw.find("workers = 2"), 11, "workers = \"2\"");
  dir.write("gateway.toml", gw);
  auto r = cfg::load(dir.path("gateway.toml"));
  INFO(dump(r));
  CHECK(find(r, "gateway.toml", 3, 11, "'workers' must be an integer, not a string") != nullptr);
}

TEST_CASE("tenants are sorted by name and an explicit missing tenants_dir is an error",
          "[config]") {
  TmpDir dir;
  write_valid(dir);
  dir.write("tenants.d/000-late.toml", R"(name = "zzz"
hosts = ["zzz.example"]
[tls]
cert = "z.pem"
key = "z.key"
)");
  dir.write("tenants.d/notes.txt", "not a tenant");
  auto r = cfg::load(dir.path("gateway.toml"));
  INFO(dump(r));
  REQUIRE(r.ok());
  REQUIRE(r.config->tenants.size() == 2);
  CHECK(r.config->tenants[0].name == "acme");
  CHECK(r.config->tenants[1].name == "zzz");

  std::string gw = kGateway;
  gw.replace(gw.find("\"tenants.d\""), 11, "\"missing.d\"");
  dir.write("gateway.toml", gw);
  r = cfg::load(dir.path("gateway.toml"));
  CHECK(find(r, "gateway.toml", 4, 15, "is not a directory") != nullptr);
}

TEST_CASE("address and value helpers", "[config]") {
  auto a = cfg::parse_socket_address("[::1]:8443");
  REQUIRE(a);
  CHECK(a->v6);
  CHECK(a->port == 8443);
  CHECK(cfg::is_loopback(*a));
  a = cfg::parse_socket_address("0.0.0.0:0");
  REQUIRE(a);
  CHECK_FALSE(cfg::is_loopback(*a));
  CHECK(cfg::is_loopback(*cfg::parse_socket_address("127.0.0.2:1")));
  CHECK_FALSE(cfg::parse_socket_address("localhost:80"));
  CHECK_FALSE(cfg::parse_socket_address("::1:80"));
  CHECK_FALSE(cfg::parse_socket_address("1.2.3.4:65536"));
  CHECK_FALSE(cfg::parse_socket_address("1.2.3.4:"));
  CHECK(cfg::valid_endpoint("web.acme.svc:8443"));
  CHECK(cfg::valid_endpoint("[2001:db8::1]:443"));
  CHECK_FALSE(cfg::valid_endpoint(":443"));
  CHECK(cfg::valid_cidr("192.168.0.0/16"));
  CHECK(cfg::valid_cidr("2001:db8::/32"));
  CHECK_FALSE(cfg::valid_cidr("2001:db8::/129"));
  CHECK(cfg::valid_pin("sha256/47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU="));
  CHECK_FALSE(cfg::valid_pin("sha256/47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuF="));
  CHECK(cfg::valid_tenant_name("acme-2"));
  CHECK_FALSE(cfg::valid_tenant_name(std::string(64, 'a')));
}

TEST_CASE("the CONTRACT.md example configuration loads", "[config]") {
  TmpDir dir;
  dir.write("gateway.toml", R"TOML(# gateway.toml
[gateway]
workers = 0                      # 0 = one per CPU core
tenants_dir = "tenants.d"

drain_timeout = "15s"
ticket_keys = ""                 # optional path: session ticket keys shared by a fleet
resolver = ""                    # optional "ip:port" of the DNS server (default: the system's)

[limits]                         # every limit the gateway enforces, with its documented default
# h2_max_concurrent_streams = 100, max_request_headers = "64KiB", header_timeout = "10s", ...

[admin]
listen = "127.0.0.1:9901"        # never public by default

[log]
access = "-"                     # "-" = stdout, else a path; one JSON object per line
audit  = "audit.log"             # security decisions and config/cert changes; one JSON object per line

[mesh]                           # how the gateway appears inside the mesh
trust_domain = "mesh.example"
ca   = "mesh/ca.pem"             # trust bundle for verifying mesh peers
cert = "mesh/gateway.pem"        # the gateway's own workload certificate (URI SAN spiffe://...)
key  = "mesh/gateway.key"

[[listener]]
name = "public"
kind = "ingress"
address = "0.0.0.0:8443"         # "[::]:8443" for IPv6; both may be listed as separate listeners
proxy_protocol = "off"           # "off" | "v1" | "v2" | "any"
trusted_proxies = []             # CIDRs allowed to send a PROXY header; others are refused
unknown_sni = "reject"           # "reject" (TLS alert unrecognized_name) or the name of a tenant

[[listener]]
name = "egress"
kind = "egress"
address = "127.0.0.1:15001"
client_auth = "mesh"             # "mesh": workloads must present a mesh certificate (mTLS)
                                 # "none": plain HTTP from localhost-only addresses, for sidecar-style use

[[egress]]                       # default deny: only destinations listed here are reachable
host = "api.partner.example"     # exact name; "*.partner.example" matches one label
port = 443
ca = "system"                    # "system" or a PEM bundle path: the only roots trusted for this host
pins = []                        # optional "sha256/BASE64" SPKI pins; if set, one must match
allow = ["spiffe://mesh.example/ns/acme/sa/billing"]   # source identities allowed; "*" = any mesh identity
min_tls = "1.2"
)TOML");
  dir.write("tenants.d/acme.toml", R"TOML(# tenants.d/acme.toml
name  = "acme"                   # must be unique; used in logs, metrics and identities
hosts = ["shop.acme.example", "*.api.acme.example"]

[tls]
cert = "certs/acme.pem"          # chain, leaf first
key  = "certs/acme.key"
# client_ca = "certs/acme-partners.pem"  # if set, ingress requires client certificates from this CA
min_tls = "1.2"

[[route]]
path_prefix = "/api/"            # or path = "/exact"
cluster = "api"

[[route]]
path_prefix = "/"
cluster = "web"

[cluster.api]
endpoints = ["10.0.1.10:8443", "10.0.1.11:8443"]
identity = "spiffe://mesh.example/ns/acme/sa/api"   # the upstream MUST present this URI SAN
protocol = "h2"                  # "h2" | "http/1.1"

[cluster.web]
endpoints = ["web.acme.svc:8443"]
server_name = "web.acme.svc"     # SNI and DNS SAN to verify when no identity is given
protocol = "http/1.1"
)TOML");
  auto r = cfg::load(dir.path("gateway.toml"));
  INFO(dump(r));
  REQUIRE(r.ok());
  CHECK(r.diagnostics.empty());
  CHECK(r.config->listeners.size() == 2);
  CHECK(r.config->egress.size() == 1);
  REQUIRE(r.config->tenants.size() == 1);
  CHECK(r.config->tenants[0].clusters.size() == 2);
  CHECK(r.config->log.audit == dir.path("audit.log"));
}
