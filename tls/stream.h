// TlsStream: one TLS endpoint over two memory BIOs. Sans-I/O: ciphertext in, plaintext out, and
// the other way round. It never sees a socket or a loop, so it is unit-testable and fuzzable.
//
// Thread:   whoever owns it; single-threaded.
// Owns:     the SSL* (and through it both BIOs).
// Usage:    feed(ciphertext) -> progress; read(plaintext) after the handshake; write(plaintext);
//           take_output(ciphertext) whenever has_output(), including after a failure (alerts).
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>

#include "tls/error.h"
#include "tls/ptr.h"

namespace portcullis::tls {

class LazyContext;

enum class Role : std::uint8_t { client, server };

enum class Progress : std::uint8_t {
  want_input,      // need more ciphertext
  handshake_done,  // reported once, by the feed() that completed the handshake
  ok,              // established; plaintext may be readable
  peer_closed,     // close_notify received
  failed,          // failure() says why
};

// Facts captured once after the handshake; nobody queries the SSL* again for them.
struct TlsSummary {
  std::string sni;
  std::string version;  // "TLSv1.3"
  std::string cipher;
  std::string alpn;     // empty when none was negotiated
  bool resumed = false;
  bool peer_cert = false;       // the peer presented a certificate (verified, or we'd have failed)
  std::string peer_identity;    // SPIFFE URI SAN, else first DNS SAN
  std::string peer_subject;     // one-line subject
  std::string peer_cert_sha256; // hex of the DER
};

class TlsStream {
 public:
  TlsStream(SslPtr ssl, Role role);
  TlsStream(const TlsStream&) = delete;
  TlsStream& operator=(const TlsStream&) = delete;

  // Ciphertext from the socket. Drives the handshake; after it, plaintext becomes readable.
  // The bytes are only borrowed during the call: what OpenSSL has not taken by the time it
  // returns is copied.
  Progress feed(std::string_view ciphertext);
  // Starts a client handshake (ClientHello goes to the output). No-op for servers.
  Progress start();
  // Appends all decrypted plaintext to `out`; returns peer_closed/failed/ok.
  Progress read(std::string& out);
  // Once established: feed(ciphertext) then read(out) in one call. feed() alone has to copy
  // every byte it borrowed before returning (nothing reads them during the call), which was
  // one copy of all received ciphertext; this decrypts straight from the borrowed bytes and
  // copies only a partial record.
  Progress read(std::string_view ciphertext, std::string& out);
  // Encrypts `plaintext` (memory BIOs never block: all of it is taken). False after failure.
  bool write(std::string_view plaintext);
  // Moves pending ciphertext to `out`.
  void take_output(std::string& out);
  bool has_output() const noexcept;
  // Queues a close_notify.
  void shutdown() noexcept;

  bool established() const noexcept { return established_; }
  const TlsSummary& summary() const noexcept { return summary_; }
  Failure failure() const noexcept { return failure_; }
  const std::string& failure_detail() const noexcept { return failure_detail_; }
  // The OpenSSL error code (ERR_GET_REASON-able) that ended the stream, 0 if none.
  unsigned long failure_code() const noexcept { return failure_code_; }
  SSL* ssl() const noexcept { return ssl_.get(); }

  // Set by a verify callback or the SNI callback to explain a failure more precisely than
  // OpenSSL's error queue does.
  void set_failure_hint(Failure f) noexcept { hint_ = f; }
  // The server name the client asked for, kept by the SNI callback even when it was refused
  // (the summary is only filled after a successful handshake), for the audit log.
  void set_requested_sni(std::string name) { requested_sni_ = std::move(name); }
  const std::string& requested_sni() const noexcept { return requested_sni_; }

  // A cold tenant's context is built off the loop (context_builder.h) while the handshake
  // pauses. Only a stream whose owner can resume it (io::TlsSocket) enables that; otherwise the
  // SNI callback builds inline. The callback calls wait_for_context() when it returns RETRY;
  // feed() then only keeps bytes until the owner, woken, calls context_ready() and feeds again.
  void enable_context_wait() noexcept { context_wait_ = ContextWait::enabled; }
  bool can_wait_for_context() const noexcept { return context_wait_ == ContextWait::enabled; }
  void wait_for_context(std::shared_ptr<LazyContext> t) noexcept {
    waiting_for_ = std::move(t);
    context_wait_ = ContextWait::waiting;
  }
  bool waiting_for_context() const noexcept { return context_wait_ == ContextWait::waiting; }
  LazyContext* waited_context() const noexcept { return waiting_for_.get(); }
  // After the wake-up; the resumed callback builds inline in the rare case the context was
  // evicted again meanwhile (no second wait: bounded).
  void context_ready() noexcept {
    waiting_for_.reset();
    context_wait_ = ContextWait::resumed;
  }

 private:
  Progress do_handshake();
  Progress read_all(std::string& out);
  void capture_summary();
  Progress fail(Failure f);

  // The transport BIO (one for both directions) reads from unread_ and appends to out_.
  // Unlike a pair of BIO_s_mem, it keeps no buffer alive between records (an idle connection
  // holds no ciphertext storage), reads the socket's bytes in place, and take_output() hands
  // out_ over without a copy.
  static int bio_read(BIO* b, char* buf, std::size_t len, std::size_t* done) noexcept;
  static int bio_write(BIO* b, const char* buf, std::size_t len, std::size_t* done) noexcept;
  static long bio_ctrl(BIO* b, int cmd, long num, void* ptr) noexcept;
  static BIO_METHOD* bio_method() noexcept;
  // Called before feed()/read() return: nothing borrowed may outlive the call.
  void keep_unread();
  void borrow(std::string_view ciphertext);

  std::string owned_;            // unread ciphertext that outlived a feed() (partial records)
  std::string_view unread_;      // ciphertext OpenSSL has not taken: borrowed, or in owned_
  std::string out_;              // ciphertext to send
  SslPtr ssl_;                   // declared after the buffers: freed first
  Role role_;
  bool established_ = false;
  Failure failure_ = Failure::none;
  Failure hint_ = Failure::none;
  std::string failure_detail_;
  unsigned long failure_code_ = 0;
  std::string requested_sni_;
  enum class ContextWait : std::uint8_t { off, enabled, waiting, resumed };
  ContextWait context_wait_ = ContextWait::off;
  std::shared_ptr<LazyContext> waiting_for_;  // kept alive while its build runs
  TlsSummary summary_;
};

// Index for SSL ex_data pointing back at the owning TlsStream (for callbacks).
int stream_ex_index() noexcept;
TlsStream* stream_of(SSL* ssl) noexcept;

}  // namespace portcullis::tls
