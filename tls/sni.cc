#include "tls/sni.h"

#include <functional>
#include <utility>

#include "tls/acme_challenges.h"
#include "tls/context_builder.h"
#include "tls/stream.h"

namespace portcullis::tls {
namespace {

int selector_index() noexcept {
  static const int index = SSL_get_ex_new_index(0, nullptr, nullptr, nullptr, nullptr);
  return index;
}

// Stores tenant + 1 so that 0 (the default ex_data value) means "none selected".
int selected_index() noexcept {
  static const int index = SSL_get_ex_new_index(0, nullptr, nullptr, nullptr, nullptr);
  return index;
}

// RFC 8737: a ClientHello that offers ALPN "acme-tls/1" for a host with a pending TLS-ALPN-01
// challenge gets the challenge certificate's context (which accepts only that protocol), and
// no tenant: the connection ends after the handshake.
bool answer_acme_tls(SSL* ssl, const std::string& name) noexcept {
  const unsigned char* ext = nullptr;
  std::size_t len = 0;
  if (SSL_client_hello_get0_ext(ssl, TLSEXT_TYPE_application_layer_protocol_negotiation, &ext,
                                &len) != 1 || len < 2) {
    return false;
  }
  static constexpr std::string_view kAcmeTls = "acme-tls/1";
  bool offered = false;
  for (std::size_t at = 2; at < len;) {
    const std::size_t n = ext[at];
    if (at + 1 + n > len) {
      return false;
    }
    offered = offered || std::string_view(reinterpret_cast<const char*>(ext + at + 1), n) == kAcmeTls;
    at += 1 + n;
  }
  if (!offered) {
    return false;
  }
  SslCtxPtr ctx = AcmeChallenges::instance().alpn(name);
  if (!ctx) {
    return false;
  }
  SSL_set_SSL_CTX(ssl, ctx.get());  // takes its own reference
  return true;
}

enum class LazyResult : std::uint8_t { ready, paused, queue_full };

// A lazy tenant's context: warm (no lock), or built off the loop while the handshake pauses
// (context_builder.h), or inline when the stream cannot pause (unit tests, fuzzing) or was
// already woken once for it (evicted again meanwhile: rare, and bounded).
LazyResult lazy_context(SSL* ssl, LazyContext& lazy, std::shared_ptr<SSL_CTX>& held) noexcept {
  ContextCache& cache = ContextCache::instance();
  held = cache.warm(lazy);
  if (held || lazy.state() == LazyContext::State::failed) {
    return LazyResult::ready;
  }
  TlsStream* s = stream_of(ssl);
  if (s == nullptr || !s->can_wait_for_context()) {
    held = cache.acquire(lazy);
    return LazyResult::ready;
  }
  switch (ContextBuilder::instance().request(lazy)) {
    case ContextBuilder::Request::queued:
      s->wait_for_context(lazy.weak_from_this().lock());  // owned: request() checked
      return LazyResult::paused;
    case ContextBuilder::Request::full:
      return LazyResult::queue_full;
    case ContextBuilder::Request::ready:
      break;
  }
  held = cache.acquire(lazy);
  return LazyResult::ready;
}

int on_client_hello(SSL* ssl, int* alert, void*) noexcept {
  const auto* sel = static_cast<const SniSelector*>(SSL_get_ex_data(ssl, selector_index()));
  if (sel == nullptr || sel->table == nullptr) {
    *alert = SSL_AD_INTERNAL_ERROR;
    return SSL_CLIENT_HELLO_ERROR;
  }
  const unsigned char* ext = nullptr;
  std::size_t len = 0;
  std::string name;
  SniParse parsed = SniParse::absent;
  if (SSL_client_hello_get0_ext(ssl, TLSEXT_TYPE_server_name, &ext, &len) == 1) {
    parsed = parse_server_name(ext, len, name);
  }
  if (parsed == SniParse::malformed) {
    if (TlsStream* s = stream_of(ssl)) {
      s->set_failure_hint(Failure::handshake_failed);
    }
    // RFC 8446 6.2: a field out of range or a wrong length is decode_error. unrecognized_name
    // is kept for a well-formed name no tenant serves.
    *alert = SSL_AD_DECODE_ERROR;
    return SSL_CLIENT_HELLO_ERROR;
  }
  if (TlsStream* s = stream_of(ssl); s != nullptr && parsed == SniParse::ok) {
    s->set_requested_sni(name);
  }
  if (parsed == SniParse::ok && AcmeChallenges::instance().any_alpn() &&
      answer_acme_tls(ssl, name)) {
    return SSL_CLIENT_HELLO_SUCCESS;
  }
  const TenantTls* t = parsed == SniParse::ok ? sel->table->find(name) : nullptr;
  if (t == nullptr && sel->fallback) {
    t = sel->table->tenant(*sel->fallback);
  }
  SSL_CTX* ctx = t != nullptr ? t->ctx : nullptr;
  std::shared_ptr<SSL_CTX> held;  // a lazy tenant's: the SSL takes its own reference below
  if (t != nullptr && !t->quarantined && ctx == nullptr && t->lazy != nullptr) {
    switch (lazy_context(ssl, *t->lazy, held)) {
      case LazyResult::ready:
        break;
      case LazyResult::paused:
        return SSL_CLIENT_HELLO_RETRY;  // SSL_do_handshake says WANT_CLIENT_HELLO_CB
      case LazyResult::queue_full:
        if (TlsStream* s = stream_of(ssl)) {
          s->set_failure_hint(Failure::tenant_build_queue_full);
        }
        *alert = SSL_AD_INTERNAL_ERROR;
        return SSL_CLIENT_HELLO_ERROR;
    }
    ctx = held.get();
  }
  if (t != nullptr && (t->quarantined || ctx == nullptr)) {
    if (TlsStream* s = stream_of(ssl)) {
      s->set_failure_hint(Failure::tenant_quarantined);
    }
    *alert = SSL_AD_UNRECOGNIZED_NAME;
    return SSL_CLIENT_HELLO_ERROR;
  }
  if (t == nullptr) {
    if (TlsStream* s = stream_of(ssl)) {
      s->set_failure_hint(Failure::unknown_sni);
    }
    *alert = SSL_AD_UNRECOGNIZED_NAME;
    return SSL_CLIENT_HELLO_ERROR;
  }
  SSL_set_SSL_CTX(ssl, ctx);
  // SSL_set_SSL_CTX swaps certificate and key only; copy the rest of the tenant's policy.
  SSL_set_verify(ssl, SSL_CTX_get_verify_mode(ctx), SSL_CTX_get_verify_callback(ctx));
  if (STACK_OF(X509_NAME)* cas = SSL_CTX_get_client_CA_list(ctx)) {
    SSL_set_client_CA_list(ssl, SSL_dup_CA_list(cas));
  }
  SSL_set_min_proto_version(ssl, t->min_version);
  SSL_set_ex_data(ssl, selected_index(),
                  reinterpret_cast<void*>(static_cast<std::uintptr_t>(t->tenant) + 1));
  return SSL_CLIENT_HELLO_SUCCESS;
}

}  // namespace

std::size_t SniTable::shard_of(std::string_view key) noexcept {
  return std::hash<std::string_view>{}(key) % kShards;
}

SniTable::Shard& SniTable::writable(std::size_t shard) {
  if (shards_.empty()) {
    shards_.resize(kShards);
  }
  auto& s = shards_[shard];
  if (!s) {
    s = std::make_shared<const Shard>();
  } else if (s.use_count() > 1) {
    s = std::make_shared<const Shard>(*s);  // shared with another generation: copy this one
  }
  return const_cast<Shard&>(*s);  // ours alone (use_count 1): nobody else reads it
}

namespace {

// "*.suffix" -> {"suffix", true}; else {name, false}.
std::pair<std::string, bool> split_pattern(std::string_view pattern) {
  std::string key = routing::HostTable::normalize(pattern);
  if (key.size() >= 2 && key[0] == '*' && key[1] == '.') {
    return {key.substr(2), true};
  }
  return {std::move(key), false};
}

}  // namespace

std::optional<std::uint32_t> SniTable::owner(std::string_view pattern) const {
  const auto [key, wild] = split_pattern(pattern);
  if (shards_.empty()) {
    return std::nullopt;
  }
  const auto& s = shards_[shard_of(key)];
  if (!s) {
    return std::nullopt;
  }
  const auto& map = wild ? s->wildcard : s->exact;
  const auto it = map.find(key);
  return it == map.end() ? std::nullopt : std::optional<std::uint32_t>(it->second);
}

bool SniTable::add_host(std::string_view pattern, std::uint32_t tenant) {
  if (owner(pattern)) {
    return false;  // checked first: a taken name copies no shard
  }
  auto [key, wild] = split_pattern(pattern);
  Shard& s = writable(shard_of(key));
  (wild ? s.wildcard : s.exact).emplace(std::move(key), tenant);
  return true;
}

void SniTable::remove_host(std::string_view pattern, std::uint32_t tenant) {
  if (owner(pattern) != tenant) {
    return;
  }
  const auto [key, wild] = split_pattern(pattern);
  Shard& s = writable(shard_of(key));
  (wild ? s.wildcard : s.exact).erase(key);
}

SniTable SniTable::with_same_hosts() const {
  SniTable t;
  t.shards_ = shards_;
  t.entries_.reserve(entries_.size());  // the same tenants are added again
  return t;
}

SniTable::Entries& SniTable::writable_entries(std::size_t chunk) {
  auto& c = entries_[chunk];
  if (c.use_count() > 1) {  // shared with another generation's table: ours first
    auto own = std::make_shared<Entries>(*c);
    own->reserve(kEntryChunk);
    c = std::move(own);
  }
  return const_cast<Entries&>(*c);  // ours alone: nobody else reads it
}

void SniTable::add_tenant(const TenantTls& t) {
  if ((entry_count_ & (kEntryChunk - 1)) == 0) {
    auto fresh = std::make_shared<Entries>();
    fresh->reserve(kEntryChunk);
    entries_.push_back(std::move(fresh));
  }
  writable_entries(entries_.size() - 1).push_back(t);
  ++entry_count_;
}

void SniTable::set_tenant(const TenantTls& t) {
  if (t.tenant < entry_count_) {
    writable_entries(t.tenant >> kEntryShift)[t.tenant & (kEntryChunk - 1)] = t;
  }
}

std::size_t SniTable::shards_shared_with(const SniTable& other) const noexcept {
  std::size_t n = 0;
  for (std::size_t i = 0; i < shards_.size() && i < other.shards_.size(); ++i) {
    n += shards_[i] && shards_[i] == other.shards_[i] ? 1 : 0;
  }
  return n;
}

const TenantTls* SniTable::find(std::string_view name) const noexcept {
  if (name.empty() || shards_.empty()) {
    return nullptr;
  }
  std::string key;
  try {
    key = routing::HostTable::normalize(name);
  } catch (...) {  // allocation: no tenant rather than an exception in a C callback
    return nullptr;
  }
  if (key.empty()) {
    return nullptr;
  }
  const auto lookup = [&](const std::string& k, bool wild) -> const TenantTls* {
    const auto& s = shards_[shard_of(k)];
    if (!s) {
      return nullptr;
    }
    const auto& map = wild ? s->wildcard : s->exact;
    const auto it = map.find(k);
    return it == map.end() ? nullptr : tenant(it->second);
  };
  try {
    if (const TenantTls* t = lookup(key, false)) {
      return t;
    }
    const std::size_t dot = key.find('.');
    if (dot == std::string::npos || dot == 0 || dot + 1 >= key.size()) {
      return nullptr;
    }
    return lookup(key.substr(dot + 1), true);
  } catch (...) {
    return nullptr;
  }
}

const TenantTls* SniTable::tenant(std::uint32_t index) const noexcept {
  return index < entry_count_ ? &(*entries_[index >> kEntryShift])[index & (kEntryChunk - 1)]
                              : nullptr;
}

SniParse parse_server_name(const unsigned char* ext, std::size_t len, std::string& out) {
  // ServerNameList: uint16 length, then entries {uint8 type, uint16 len, bytes}.
  if (len < 2) {
    return SniParse::malformed;
  }
  const std::size_t list_len = (std::size_t{ext[0]} << 8) | ext[1];
  if (list_len != len - 2 || list_len == 0) {
    return SniParse::malformed;
  }
  // Exactly one entry, a host_name whose length ends the list, as OpenSSL's own parser requires:
  // RFC 6066 gives other name types no length, so nothing after a host_name can be skipped, and
  // a length that does not end the list is a corrupted one (not a second, unknown name).
  if (len < 2 + 3 || ext[2] != 0) {
    return SniParse::malformed;
  }
  const std::size_t n = (std::size_t{ext[3]} << 8) | ext[4];
  if (n != len - 5 || n == 0 || n > 255) {
    return SniParse::malformed;
  }
  std::string name;
  name.reserve(n);
  for (std::size_t i = 0; i < n; ++i) {
    const unsigned char c = ext[5 + i];
    if (c <= 0x20 || c >= 0x7f) {
      return SniParse::malformed;
    }
    name.push_back(static_cast<char>(c >= 'A' && c <= 'Z' ? c + 32 : c));
  }
  out = std::move(name);
  return SniParse::ok;
}

void install_client_hello_callback(SSL_CTX* front) {
  SSL_CTX_set_client_hello_cb(front, on_client_hello, nullptr);
}

void bind_selector(SSL* ssl, const SniSelector* selector) noexcept {
  SSL_set_ex_data(ssl, selector_index(), const_cast<SniSelector*>(selector));
}

std::optional<std::uint32_t> selected_tenant(SSL* ssl) noexcept {
  const auto v = reinterpret_cast<std::uintptr_t>(SSL_get_ex_data(ssl, selected_index()));
  if (v == 0) {
    return std::nullopt;
  }
  return static_cast<std::uint32_t>(v - 1);
}

}  // namespace portcullis::tls
