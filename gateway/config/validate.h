// Validator: toml::table (with source positions) -> Config fields + Diagnostics.
//
// Used by load() (toml_loader.cc): read_gateway() once for gateway.toml, read_tenant() for each
// tenant file in name order, then finish() for the checks that span files (unique tenant names
// and hosts, unknown_sni targets, [mesh] requirements). Every error names the file, line and
// column of the value at fault and, where it helps, what would have been accepted. Unknown keys
// are errors. Relative paths are resolved against the directory of the file that names them.
//
// Also exports the small value parsers (durations, sizes, addresses, host patterns, SPIFFE IDs)
// so analyzers and other stages agree with the loader on what is valid.
//
// Thread: one Validator per load, on one thread. It holds references to the Diagnostic vector
// it appends to; both must outlive it. Never throws on bad input.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <toml++/toml.h>

#include "gateway/config/config.h"

namespace portcullis::gateway::config {

// "15s", "500ms", "2m", "1h" (a non-negative integer and a unit).
std::optional<Millis> parse_duration(std::string_view s);
// "64KiB", "1MiB", "1GiB", "512B" or a bare number of bytes "4096".
std::optional<std::uint64_t> parse_size(std::string_view s);

// A numeric socket address: "a.b.c.d:port" or "[v6]:port". Port 0 is parsed (tests bind it).
struct SocketAddress {
  std::string host;  // without brackets
  std::uint16_t port = 0;
  bool v6 = false;
};
std::optional<SocketAddress> parse_socket_address(std::string_view s);
// 127.0.0.0/8 or ::1 (or ::ffff:127.x.y.z).
bool is_loopback(const SocketAddress& a);
// "10.0.0.0/8", "2001:db8::/32", or a single address.
bool valid_cidr(std::string_view s);
// "host:port" where host is a DNS name, an IPv4 address or "[v6]"; port 1-65535.
bool valid_endpoint(std::string_view s);
// Lower-case DNS name or "*.suffix" (one-label wildcard, suffix of at least two labels).
bool valid_host_pattern(std::string_view s);
// spiffe://trust-domain/path with a non-empty path of valid segments.
bool valid_spiffe_id(std::string_view s);
// [a-z0-9.-_]+ as SPIFFE allows for trust domain names.
bool valid_trust_domain(std::string_view s);
// "sha256/" + base64 of exactly 32 bytes.
bool valid_pin(std::string_view s);
// [a-z0-9-]{1,63}
bool valid_tenant_name(std::string_view s);

class Validator {
 public:
  explicit Validator(std::vector<Diagnostic>& out) : out_(out) {}

  // gateway.toml: [gateway], [limits], [admin], [log], [mesh], [[listener]], [[egress]].
  void read_gateway(const toml::table& root, const std::string& file, Config& cfg);
  // One tenants.d/*.toml file; appends to cfg.tenants when the file has no errors.
  void read_tenant(const toml::table& root, const std::string& file, Config& cfg);
  // Checks across files; sorts cfg.tenants by name.
  void finish(Config& cfg);

  // True when tenants_dir was written explicitly (then a missing directory is an error).
  bool tenants_dir_explicit() const noexcept { return tenants_dir_explicit_; }
  const Pos& tenants_dir_pos() const noexcept { return tenants_dir_pos_; }

 private:
  struct Seen {
    std::string tenant;
    Pos pos;
  };
  struct SniRef {
    std::string tenant;
    Pos pos;
  };

  std::vector<Diagnostic>& out_;
  bool tenants_dir_explicit_ = false;
  Pos tenants_dir_pos_;
  bool mesh_present_ = false;
  Pos mesh_pos_;
  std::optional<Pos> mtls_user_;   // first cluster or listener that needs [mesh]
  std::string mtls_user_what_;
  std::map<std::string, Seen> hosts_;         // host pattern -> first tenant that named it
  std::map<std::string, Pos> tenant_names_;   // tenant name -> position of its name
  std::vector<SniRef> unknown_sni_refs_;
};

}  // namespace portcullis::gateway::config
