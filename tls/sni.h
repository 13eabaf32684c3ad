// SNI: the client-hello callback that picks the tenant's SSL_CTX for a downstream handshake.
//
// The client-hello callback (not the servername callback) runs before version negotiation, so
// the tenant's minimum version, client-certificate requirement and CA list can still be applied
// to the SSL; SSL_set_SSL_CTX copies none of those, so they are set by hand.
// Thread:  a SniTable is immutable once built (it belongs to a config snapshot) and is read
//          by every worker; the selection is stored on the SSL.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include <openssl/ssl.h>

#include "routing/host_table.h"
#include "tls/lazy_context.h"

namespace portcullis::tls {

struct TenantTls {
  SSL_CTX* ctx = nullptr;  // owned by the snapshot; null when quarantined
  int min_version = 0;
  std::uint32_t tenant = 0;  // index into the snapshot's tenants (past them when quarantined)
  // A tenant left out for its errors: its names are refused (alert unrecognized_name, failure
  // tenant_quarantined) rather than falling to another tenant's wildcard or to unknown_sni.
  bool quarantined = false;
  // With ctx null: the tenant's context is built at its first handshake (lazy_context.h).
  LazyContext* lazy = nullptr;  // owned by the snapshot's tenant
};

// Host names -> tenant index, persistent across generations: the names live in shards, each
// shared with the previous generation's table until a change touches it (copy-on-write), so a
// reload that changes one tenant copies a few shards instead of every name. Lookups follow
// routing::HostTable: exact name first, then the one-label wildcard; case-insensitive, one
// trailing dot ignored.
class SniTable {
 public:
  // Tenants are added in index order (t.tenant == number of tenants added before); quarantined
  // ones after every serving one.
  void add_tenant(const TenantTls& t);
  // Replaces tenant `t.tenant`'s entry (an added one): a per-tenant reload's copy of the
  // running table changes the entries of the tenants read again, and copies only their chunk.
  void set_tenant(const TenantTls& t);
  // `pattern`: exact or "*.suffix", for an added tenant. False if the pattern is taken.
  bool add_host(std::string_view pattern, std::uint32_t tenant);
  // Removes `pattern` when `tenant` holds it (else nothing).
  void remove_host(std::string_view pattern, std::uint32_t tenant);
  // The tenant holding exactly this pattern, if any (no wildcard expansion).
  std::optional<std::uint32_t> owner(std::string_view pattern) const;
  const TenantTls* find(std::string_view name) const noexcept;
  const TenantTls* tenant(std::uint32_t index) const noexcept;
  std::size_t tenants() const noexcept { return entry_count_; }

  // The next generation's table: the same host names (shards shared, not copied) and no
  // tenants yet; the caller adds every tenant again (an array of small entries) and changes
  // the names of the tenants that changed. Valid only while tenant indexes stay the same.
  // (A plain copy keeps the tenants too, their chunks shared: then set_tenant().)
  SniTable with_same_hosts() const;
  // How many shards this table shares with `other` (the same objects): for tests and sizing.
  std::size_t shards_shared_with(const SniTable& other) const noexcept;

 private:
  struct Shard {
    std::unordered_map<std::string, std::uint32_t> exact;     // normalised name
    std::unordered_map<std::string, std::uint32_t> wildcard;  // suffix after "*."
  };
  static constexpr std::size_t kShards = 1024;  // 100k names: ~100 a shard
  static std::size_t shard_of(std::string_view key) noexcept;
  Shard& writable(std::size_t shard);

  std::vector<std::shared_ptr<const Shard>> shards_;  // kShards once a name is added
  // The tenant entries in chunks of kEntryChunk, shared with the copy a per-tenant reload
  // makes (copy-on-write, as the shards): a copy costs a pointer a chunk, not an entry each.
  static constexpr std::uint32_t kEntryShift = 10;
  static constexpr std::uint32_t kEntryChunk = 1u << kEntryShift;
  using Entries = std::vector<TenantTls>;
  Entries& writable_entries(std::size_t chunk);
  std::vector<std::shared_ptr<const Entries>> entries_;
  std::size_t entry_count_ = 0;
};

// What one listener needs in its callback: the table and its unknown_sni fallback.
struct SniSelector {
  const SniTable* table = nullptr;
  std::optional<std::uint32_t> fallback;  // tenant index, when unknown_sni names a tenant
};

enum class SniParse : std::uint8_t { absent, ok, malformed };
// Parses the body of a server_name extension (RFC 6066 3). Strict: the list holds exactly one
// entry, a host_name whose length ends the list; the name is not empty, at most 255 bytes, no
// bytes outside printable ASCII; lower-cased into `out` (untouched unless ok). Anything else
// is malformed, answered with alert decode_error.
SniParse parse_server_name(const unsigned char* ext, std::size_t len, std::string& out);

// Installs the callback on a front context; `selector` is bound per SSL with bind_selector().
void install_client_hello_callback(SSL_CTX* front);
void bind_selector(SSL* ssl, const SniSelector* selector) noexcept;
// The tenant the callback chose, or nullopt before/without a choice.
std::optional<std::uint32_t> selected_tenant(SSL* ssl) noexcept;

}  // namespace portcullis::tls
