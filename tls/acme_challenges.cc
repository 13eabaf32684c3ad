#include "tls/acme_challenges.h"

namespace portcullis::tls {

AcmeChallenges& AcmeChallenges::instance() {
  static AcmeChallenges store;
  return store;
}

void AcmeChallenges::put_http(const std::string& token, const std::string& key_authorization) {
  std::lock_guard lock(mu_);
  http_[token] = key_authorization;
}

void AcmeChallenges::drop_http(const std::string& token) {
  std::lock_guard lock(mu_);
  http_.erase(token);
}

std::optional<std::string> AcmeChallenges::http(std::string_view token) const {
  std::lock_guard lock(mu_);
  if (auto it = http_.find(token); it != http_.end()) {
    return it->second;
  }
  return std::nullopt;
}

void AcmeChallenges::put_alpn(const std::string& host, SslCtxPtr ctx) {
  std::lock_guard lock(mu_);
  alpn_[host] = std::move(ctx);
  alpn_count_.store(alpn_.size(), std::memory_order_release);
}

void AcmeChallenges::drop_alpn(const std::string& host) {
  std::lock_guard lock(mu_);
  alpn_.erase(host);
  alpn_count_.store(alpn_.size(), std::memory_order_release);
}

SslCtxPtr AcmeChallenges::alpn(std::string_view host) const {
  std::lock_guard lock(mu_);
  auto it = alpn_.find(host);
  if (it == alpn_.end() || !it->second) {
    return nullptr;
  }
  SSL_CTX_up_ref(it->second.get());
  return SslCtxPtr{it->second.get()};
}

std::size_t AcmeChallenges::size() const {
  std::lock_guard lock(mu_);
  return http_.size() + alpn_.size();
}

}  // namespace portcullis::tls
