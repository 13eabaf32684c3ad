// Admin listener authentication (issue #17): the bearer token check and the TLS context.
//
// A request carries `Authorization: Bearer <token>`; the comparison is constant-time
// (CRYPTO_memcmp over SHA-256 digests, so neither the content nor the length of the configured
// token leaks through timing). The TLS context is a tls/ server context (TLS 1.2+, client
// certificates required and verified when a client CA is given) that offers only http/1.1.
// Thread: any; no state.
#pragma once

#include <string>
#include <string_view>

#include "tls/context.h"

namespace portcullis::gateway::admin {

// The value of the Authorization field in an HTTP/1.x request head ("" when absent).
std::string_view authorization_field(std::string_view head) noexcept;

// True when `authorization` is "Bearer <token>" (scheme case-insensitive) for this token.
bool bearer_matches(std::string_view authorization, std::string_view token) noexcept;

// `client_ca` "" = no client certificates asked for.
tls::ContextResult make_admin_tls_context(const std::string& cert, const std::string& key,
                                          const std::string& client_ca);

}  // namespace portcullis::gateway::admin
