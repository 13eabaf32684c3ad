// Validator: toml::table (with source positions) -> Config fields + Diagnostics.
//
// Used by load() (toml_loader.cc): read_gateway() once for gateway.toml, read_tenant() for each
// tenant file in name order, then finish() for the checks that span files (unique tenant names
// and hosts, unknown_sni targets, [mesh] requirements). Every error names the file, line and
// column of the value at fault and, where it helps, what would have been accepted. Unknown keys
// are errors. Relative paths are resolved against the directory of the file that names them.
//
// The schemas live in gateway_schema.cc (gateway.toml, [limits] from limits_table.h) and
// tenant_schema.cc (tenant files and the checks across files); the value reader in reader.h; the
// value grammars in grammar.h, included here so callers of the parsers need only this header.
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
#include "gateway/config/grammar.h"

namespace portcullis::gateway::config {

namespace detail {
class Reader;
}
// acme_schema.cc: [acme] in gateway.toml, and [tls] acme = true in a tenant file.
void read_acme_section(detail::Reader& r, const toml::table& a, AcmeSection& out);
void read_tenant_acme(detail::Reader& r, const toml::table& tls, const AcmeSection& acme,
                      TenantConfig& t);

// admin_schema.cc: [admin] (listen, token_file, cert, key, client_ca, protect_metrics).
void read_admin_section(detail::Reader& r, const toml::table& a, AdminSection& out);

class Validator {
 public:
  explicit Validator(std::vector<Diagnostic>& out) : out_(out) {}

  // gateway.toml: [gateway], [limits], [admin], [log], [mesh], [[listener]], [[egress]].
  void read_gateway(const toml::table& root, const std::string& file, Config& cfg);
  // One tenants.d/*.toml file; appends to cfg.tenants when the file has no errors.
  void read_tenant(const toml::table& root, const std::string& file, Config& cfg);
  // Checks across files; sorts cfg.tenants by name.
  void finish(Config& cfg);
  // For a per-tenant reload (tenant_reload.h), instead of read_gateway() and the unchanged
  // tenant files: the names and hosts cfg's tenants (quarantined ones too) already hold, and
  // whether it has a [mesh].
  void adopt(const Config& cfg);
  // One tenant of the running configuration taken as it is (its file unchanged, see
  // load_isolating): its name and hosts are registered as read_tenant() would. False, with
  // nothing registered, when another tenant read before it holds one of them: the caller
  // parses the file so that the error reads as ever.
  bool adopt_tenant(const TenantConfig& t);

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
