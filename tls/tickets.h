// Session ticket keys: stateless resumption (TLS 1.2 tickets, TLS 1.3 PSK tickets) without a
// server-side session cache.
//
// What:    TicketKeys is an immutable set of keys; keys()[0] encrypts new tickets, every key
//          decrypts. A process either generates its own keys and rotates them on a timer
//          (rotated() keeps the two previous keys, so a ticket lives through two rotations), or
//          a fleet shares one key file (load_file) that an operator rotates and every instance
//          reloads. Tickets never cross tenants even though the keys are shared: each tenant
//          SSL_CTX has its own session-id context and OpenSSL refuses to resume a session whose
//          context differs (a full handshake follows).
// Thread:  TicketKeys is immutable and shared freely. TicketKeyStore is process-wide: the main
//          thread set()s, every worker's handshakes get() (see TicketKeyStore for the lock).
// Owner:   the Server owns the store; it outlives every SSL_CTX the callback is installed on and
//          every SSL made from them. Keys outlive config generations.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <utility>
#include <vector>

#include <openssl/ssl.h>

namespace portcullis::tls {

inline constexpr std::size_t kTicketKeyNameSize = 16;
inline constexpr std::size_t kTicketAesKeySize = 32;   // AES-256-CBC
inline constexpr std::size_t kTicketHmacKeySize = 32;  // HMAC-SHA256
// One key in a key file: name16 | aes32 | hmac32 (the nghttpx / nginx 80-byte format).
inline constexpr std::size_t kTicketKeyFileRecordSize =
    kTicketKeyNameSize + kTicketAesKeySize + kTicketHmacKeySize;
// Keys kept by rotated(): the new one plus the two before it.
inline constexpr std::size_t kTicketKeysKept = 3;
// A key file may hold at most this many keys.
inline constexpr std::size_t kMaxTicketKeysInFile = 16;
// Suggested period for generated keys (the gateway's own timer; a key file is rotated by the
// fleet instead). With kTicketKeysKept keys a ticket stays decryptable for 24 to 36 hours,
// longer than any session lifetime we configure.
inline constexpr std::int64_t kTicketKeyRotationSeconds = 3600;  // the default: hourly

struct TicketKey {
  unsigned char name[kTicketKeyNameSize];
  unsigned char aes_key[kTicketAesKeySize];
  unsigned char hmac_key[kTicketHmacKeySize];
  std::int64_t created_unix;
};

// Immutable set of keys: keys()[0] encrypts, all decrypt. Never empty.
class TicketKeys {
 public:
  // One fresh random key. Null only if the random generator fails.
  static std::shared_ptr<const TicketKeys> generate(std::int64_t now_unix);
  // A new random key first, then the first kTicketKeysKept - 1 keys of this set. Null only if
  // the random generator fails.
  std::shared_ptr<const TicketKeys> rotated(std::int64_t now_unix) const;
  // Fleet key file, first key encrypts. Either binary, N * 80 bytes (name16|aes32|hmac32, as
  // nginx ssl_session_ticket_key and nghttpx --tls-ticket-key-file), or text: one base64 line of
  // 80 bytes per key (blank lines and lines starting with '#' are skipped). Refused, with
  // `err` naming the file and the reason: not a regular file, readable or writable by group or
  // others, empty, a size that is not a multiple of 80 (48-byte AES-128 keys included), more
  // than kMaxTicketKeysInFile keys, bad base64, duplicate key names, all-zero keys.
  // created_unix of loaded keys is the file's modification time.
  static std::shared_ptr<const TicketKeys> load_file(const std::string& path, std::string& err);
  // Same parser without the file checks (for tests and for `check`).
  static std::shared_ptr<const TicketKeys> parse(const std::string& bytes,
                                                 std::int64_t created_unix, std::string& err);

  const std::vector<TicketKey>& keys() const noexcept { return keys_; }
  // The key whose name matches, or null.
  const TicketKey* find(const unsigned char* name) const noexcept;

 private:
  explicit TicketKeys(std::vector<TicketKey> keys) : keys_(std::move(keys)) {}
  std::vector<TicketKey> keys_;
};

// Process-wide holder of the current keys: swapped by the main thread, read by every handshake.
// A mutex, held only to copy one shared_ptr (tens of nanoseconds next to a handshake's
// key exchange), rather than std::atomic<std::shared_ptr>: libstdc++ 12's load() releases its
// internal lock with relaxed ordering, a data race that ThreadSanitizer reports and that weak
// memory models (arm64) can actually hit.
class TicketKeyStore {
 public:
  TicketKeyStore() = default;
  explicit TicketKeyStore(std::shared_ptr<const TicketKeys> keys) : keys_(std::move(keys)) {}
  TicketKeyStore(const TicketKeyStore&) = delete;
  TicketKeyStore& operator=(const TicketKeyStore&) = delete;

  void set(std::shared_ptr<const TicketKeys> keys) noexcept {
    std::shared_ptr<const TicketKeys> old;
    {
      std::lock_guard<std::mutex> lock(mutex_);
      old = std::exchange(keys_, std::move(keys));
    }
    // `old` dies here, outside the lock.
  }
  std::shared_ptr<const TicketKeys> get() const noexcept {
    std::lock_guard<std::mutex> lock(mutex_);
    return keys_;
  }

 private:
  mutable std::mutex mutex_;
  std::shared_ptr<const TicketKeys> keys_;
};

// Installs the AES-256-CBC + HMAC-SHA256 ticket callback on a front context (OpenSSL looks the
// callback up on the SSL's *initial* context, not on the tenant context the client-hello
// callback switches to). Every SSL later created from `front` reads its keys from `store`,
// which must outlive them. While the store is empty no tickets are issued and every offered
// ticket falls back to a full handshake. A ticket encrypted with a key other than the first is
// accepted and replaced by a fresh one; in TLS 1.3 every resumption gets a fresh ticket (one,
// as after a full handshake: make_front_context sets num_tickets to 1).
void install_ticket_callback(SSL_CTX* front, const TicketKeyStore* store);

}  // namespace portcullis::tls
