#include "tls/tickets.h"

#include <sys/stat.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <iterator>
#include <string_view>

#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/params.h>
#include <openssl/rand.h>

namespace portcullis::tls {
namespace {

constexpr std::size_t kMaxKeyFileBytes = 64 * 1024;

bool random_key(TicketKey& k, std::int64_t now_unix) noexcept {
  if (RAND_bytes(k.name, sizeof k.name) != 1 || RAND_bytes(k.aes_key, sizeof k.aes_key) != 1 ||
      RAND_bytes(k.hmac_key, sizeof k.hmac_key) != 1) {
    return false;
  }
  k.created_unix = now_unix;
  return true;
}

TicketKey key_from_record(const unsigned char* p, std::int64_t created_unix) {
  TicketKey k{};
  std::memcpy(k.name, p, kTicketKeyNameSize);
  p += kTicketKeyNameSize;
  std::memcpy(k.aes_key, p, kTicketAesKeySize);
  p += kTicketAesKeySize;
  std::memcpy(k.hmac_key, p, kTicketHmacKeySize);
  k.created_unix = created_unix;
  return k;
}

int base64_value(unsigned char c) noexcept {
  if (c >= 'A' && c <= 'Z') {
    return c - 'A';
  }
  if (c >= 'a' && c <= 'z') {
    return c - 'a' + 26;
  }
  if (c >= '0' && c <= '9') {
    return c - '0' + 52;
  }
  if (c == '+') {
    return 62;
  }
  if (c == '/') {
    return 63;
  }
  return -1;
}

// Strict standard base64 (padding optional). False on any other character.
bool base64_decode(std::string_view in, std::string& out) {
  while (!in.empty() && in.back() == '=') {
    in.remove_suffix(1);
  }
  unsigned acc = 0;
  int bits = 0;
  for (const char ch : in) {
    const int v = base64_value(static_cast<unsigned char>(ch));
    if (v < 0) {
      return false;
    }
    acc = (acc << 6) | static_cast<unsigned>(v);
    bits += 6;
    if (bits >= 8) {
      bits -= 8;
      out.push_back(static_cast<char>((acc >> bits) & 0xff));
    }
  }
  // Leftover bits must be padding (fewer than 8, all zero); 1 leftover char is never valid.
  return bits < 6 && (acc & ((1u << bits) - 1)) == 0;
}

// True when the content is text: only base64 characters, '=', whitespace and comment lines.
bool looks_like_text(const std::string& bytes) {
  bool in_comment = false;
  bool line_start = true;
  for (const char ch : bytes) {
    const auto c = static_cast<unsigned char>(ch);
    if (c == '\n') {
      in_comment = false;
      line_start = true;
      continue;
    }
    if (line_start && c == '#') {
      in_comment = true;
    }
    line_start = false;
    if (in_comment) {
      if (c < 0x20 && c != '\t' && c != '\r') {
        return false;
      }
      continue;
    }
    if (base64_value(c) < 0 && c != '=' && c != ' ' && c != '\t' && c != '\r') {
      return false;
    }
  }
  return true;
}

std::string trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t' || s.front() == '\r')) {
    s.remove_prefix(1);
  }
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t' || s.back() == '\r')) {
    s.remove_suffix(1);
  }
  return std::string(s);
}

// Splits text into decoded 80-byte records; false (with err) on a bad line.
bool decode_text(const std::string& bytes, std::string& records, std::string& err) {
  std::size_t line_no = 0;
  std::size_t pos = 0;
  while (pos <= bytes.size()) {
    std::size_t end = bytes.find('\n', pos);
    if (end == std::string::npos) {
      end = bytes.size();
    }
    ++line_no;
    const std::string line = trim(std::string_view(bytes).substr(pos, end - pos));
    pos = end + 1;
    if (line.empty() || line.front() == '#') {
      continue;
    }
    std::string decoded;
    if (!base64_decode(line, decoded)) {
      err = "line " + std::to_string(line_no) + ": not valid base64";
      return false;
    }
    if (decoded.size() != kTicketKeyFileRecordSize) {
      err = "line " + std::to_string(line_no) + ": a key is " +
            std::to_string(kTicketKeyFileRecordSize) + " bytes (name16|aes32|hmac32), got " +
            std::to_string(decoded.size());
      if (decoded.size() == 48) {
        err += " (48-byte AES-128 keys are not supported)";
      }
      return false;
    }
    records += decoded;
    OPENSSL_cleanse(decoded.data(), decoded.size());
  }
  return true;
}

// --- the OpenSSL callback -------------------------------------------------------------------

int store_ctx_index() noexcept {
  static const int index = SSL_CTX_get_ex_new_index(0, nullptr, nullptr, nullptr, nullptr);
  return index;
}

// OpenSSL calls the ticket callback on the SSL's initial (front) context, but has no public
// getter for it, and SSL_get_SSL_CTX returns the tenant context once the client-hello callback
// has switched. So the store is copied from the front context onto each SSL when it is created:
// ex_data "new" callbacks run inside SSL_new, after the SSL's context has been set.
void on_ssl_new(void* parent, void*, CRYPTO_EX_DATA*, int idx, long, void*) noexcept;

int store_ssl_index() noexcept {
  static const int index = SSL_get_ex_new_index(0, nullptr, on_ssl_new, nullptr, nullptr);
  return index;
}

void on_ssl_new(void* parent, void*, CRYPTO_EX_DATA*, int idx, long, void*) noexcept {
  auto* ssl = static_cast<SSL*>(parent);
  SSL_CTX* ctx = ssl != nullptr ? SSL_get_SSL_CTX(ssl) : nullptr;
  if (ctx == nullptr) {
    return;
  }
  if (void* store = SSL_CTX_get_ex_data(ctx, store_ctx_index())) {
    SSL_set_ex_data(ssl, idx, store);
  }
}

const TicketKeyStore* store_of(SSL* ssl) noexcept {
  if (auto* s = static_cast<const TicketKeyStore*>(SSL_get_ex_data(ssl, store_ssl_index()))) {
    return s;
  }
  // An SSL made before the callback was installed, or never switched: try its context.
  return static_cast<const TicketKeyStore*>(
      SSL_CTX_get_ex_data(SSL_get_SSL_CTX(ssl), store_ctx_index()));
}

bool init_mac(EVP_MAC_CTX* hctx, const TicketKey& k) noexcept {
  char digest[] = "SHA256";
  OSSL_PARAM params[] = {
      OSSL_PARAM_construct_octet_string(OSSL_MAC_PARAM_KEY, const_cast<unsigned char*>(k.hmac_key),
                                        sizeof k.hmac_key),
      OSSL_PARAM_construct_utf8_string(OSSL_MAC_PARAM_DIGEST, digest, 0),
      OSSL_PARAM_construct_end(),
  };
  return EVP_MAC_CTX_set_params(hctx, params) == 1;
}

int ticket_key_cb(SSL* ssl, unsigned char key_name[16], unsigned char* iv,
                  EVP_CIPHER_CTX* cctx, EVP_MAC_CTX* hctx, int enc) noexcept {
  const TicketKeyStore* store = store_of(ssl);
  const std::shared_ptr<const TicketKeys> keys = store != nullptr ? store->get() : nullptr;
  if (!keys || keys->keys().empty()) {
    return 0;  // no ticket issued / full handshake
  }
  const EVP_CIPHER* cipher = EVP_aes_256_cbc();
  if (enc == 1) {
    const TicketKey& k = keys->keys().front();
    const int iv_len = EVP_CIPHER_get_iv_length(cipher);
    // Failures below cost the client a ticket, never the connection: 0, not -1.
    if (RAND_bytes(iv, iv_len) != 1) {
      return 0;
    }
    std::memcpy(key_name, k.name, kTicketKeyNameSize);
    if (EVP_EncryptInit_ex(cctx, cipher, nullptr, k.aes_key, iv) != 1 || !init_mac(hctx, k)) {
      return 0;
    }
    return 1;
  }
  const TicketKey* k = keys->find(key_name);
  if (k == nullptr) {
    return 0;  // unknown or retired key: full handshake
  }
  if (!init_mac(hctx, *k) || EVP_DecryptInit_ex(cctx, cipher, nullptr, k->aes_key, iv) != 1) {
    return 0;  // as if unknown: a full handshake rather than a failed one
  }
  // 2 = accept and issue a fresh ticket. Always in TLS 1.3, where a ticket is meant for one use
  // (RFC 8446 C.4): with 1 a resumed handshake sends no NewSessionTicket, so a client that
  // uses each ticket once falls back to a full handshake every other time, and one that reuses
  // its only ticket links its connections. TLS 1.2 keeps its ticket until the key rotates (renewed
  // then, under the new key). The version is already negotiated when tickets are decrypted.
  if (SSL_version(ssl) >= TLS1_3_VERSION) {
    return 2;
  }
  return k == &keys->keys().front() ? 1 : 2;
}

}  // namespace

std::shared_ptr<const TicketKeys> TicketKeys::generate(std::int64_t now_unix) {
  std::vector<TicketKey> keys(1);
  if (!random_key(keys[0], now_unix)) {
    return nullptr;
  }
  return std::shared_ptr<const TicketKeys>(new TicketKeys(std::move(keys)));
}

std::shared_ptr<const TicketKeys> TicketKeys::rotated(std::int64_t now_unix) const {
  std::vector<TicketKey> keys(1);
  if (!random_key(keys[0], now_unix)) {
    return nullptr;
  }
  for (const TicketKey& k : keys_) {
    if (keys.size() == kTicketKeysKept) {
      break;
    }
    keys.push_back(k);
  }
  return std::shared_ptr<const TicketKeys>(new TicketKeys(std::move(keys)));
}

const TicketKey* TicketKeys::find(const unsigned char* name) const noexcept {
  for (const TicketKey& k : keys_) {
    if (std::memcmp(k.name, name, kTicketKeyNameSize) == 0) {
      return &k;
    }
  }
  return nullptr;
}

std::shared_ptr<const TicketKeys> TicketKeys::parse(const std::string& bytes,
                                                    std::int64_t created_unix, std::string& err) {
  if (bytes.empty()) {
    err = "empty: expected one or more " + std::to_string(kTicketKeyFileRecordSize) +
          "-byte keys";
    return nullptr;
  }
  std::string records;
  if (looks_like_text(bytes)) {
    if (!decode_text(bytes, records, err)) {
      return nullptr;
    }
    if (records.empty()) {
      err = "no keys: only blank or comment lines";
      return nullptr;
    }
  } else {
    if (bytes.size() % kTicketKeyFileRecordSize != 0) {
      err = "size " + std::to_string(bytes.size()) + " bytes is not a multiple of " +
            std::to_string(kTicketKeyFileRecordSize) + " (each key is name16|aes32|hmac32)";
      if (bytes.size() % 48 == 0) {
        err += "; 48-byte AES-128 keys are not supported";
      }
      return nullptr;
    }
    records = bytes;
  }
  const std::size_t n = records.size() / kTicketKeyFileRecordSize;
  if (n > kMaxTicketKeysInFile) {
    err = std::to_string(n) + " keys: at most " + std::to_string(kMaxTicketKeysInFile) +
          " are allowed";
    return nullptr;
  }
  std::vector<TicketKey> keys;
  keys.reserve(n);
  const auto* p = reinterpret_cast<const unsigned char*>(records.data());
  for (std::size_t i = 0; i < n; ++i, p += kTicketKeyFileRecordSize) {
    const bool all_zero = std::all_of(p, p + kTicketKeyFileRecordSize,
                                      [](unsigned char c) { return c == 0; });
    if (all_zero) {
      err = "key " + std::to_string(i + 1) + " is all zeros";
      return nullptr;
    }
    TicketKey k = key_from_record(p, created_unix);
    for (std::size_t j = 0; j < keys.size(); ++j) {
      if (std::memcmp(keys[j].name, k.name, kTicketKeyNameSize) == 0) {
        err = "key " + std::to_string(i + 1) + " has the same name as key " +
              std::to_string(j + 1);
        return nullptr;
      }
    }
    keys.push_back(k);
  }
  OPENSSL_cleanse(records.data(), records.size());
  return std::shared_ptr<const TicketKeys>(new TicketKeys(std::move(keys)));
}

std::shared_ptr<const TicketKeys> TicketKeys::load_file(const std::string& path,
                                                        std::string& err) {
  struct stat st {};
  if (::stat(path.c_str(), &st) != 0) {
    err = "ticket key file " + path + ": " + std::strerror(errno);
    return nullptr;
  }
  if (!S_ISREG(st.st_mode)) {
    err = "ticket key file " + path + ": not a regular file";
    return nullptr;
  }
  if ((st.st_mode & (S_IRGRP | S_IWGRP | S_IROTH | S_IWOTH)) != 0) {
    char mode[8];
    std::snprintf(mode, sizeof mode, "%04o", static_cast<unsigned>(st.st_mode & 07777));
    err = "ticket key file " + path + ": mode " + mode +
          " lets group or others read or write it; these keys decrypt every session "
          "(chmod 600 and make it owned by the gateway's user)";
    return nullptr;
  }
  if (static_cast<std::uint64_t>(st.st_size) > kMaxKeyFileBytes) {
    err = "ticket key file " + path + ": too large (" + std::to_string(st.st_size) + " bytes)";
    return nullptr;
  }
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    err = "ticket key file " + path + ": cannot open: " + std::strerror(errno);
    return nullptr;
  }
  std::string bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  if (in.bad() || bytes.size() > kMaxKeyFileBytes) {
    err = "ticket key file " + path + ": read failed";
    return nullptr;
  }
  std::string why;
  auto keys = parse(bytes, static_cast<std::int64_t>(st.st_mtime), why);
  OPENSSL_cleanse(bytes.data(), bytes.size());
  if (!keys) {
    err = "ticket key file " + path + ": " + why;
  }
  return keys;
}

void install_ticket_callback(SSL_CTX* front, const TicketKeyStore* store) {
  store_ssl_index();  // register the SSL_new hook before any SSL is made from `front`
  SSL_CTX_set_ex_data(front, store_ctx_index(), const_cast<TicketKeyStore*>(store));
  SSL_CTX_set_tlsext_ticket_key_evp_cb(front, ticket_key_cb);
}

}  // namespace portcullis::tls
