// Http1Session: the downstream HTTP/1.1 engine, sans-I/O, on llhttp (strict: no lenient flags).
//
// Thread:    one worker loop.
// Ownership: owned by the DownstreamConnection; owns the Exchange of the request in flight.
// Model:     one request at a time. llhttp is paused (HPE_PAUSED) at every message end; the bytes
//            after it (pipelined requests) wait in in_ until the response is fully pulled, then
//            parsing resumes (nghttpx's model). llhttp callbacks never throw and never destroy
//            the Exchange; a callback that finds an error records it and returns HPE_USER.
#include "gateway/http/http1_session.h"

#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <memory>
#include <string>
#include <utility>

#include "gateway/http/body_limit.h"
#include "gateway/http/exchange.h"
#include "gateway/http/http1_request_head.h"
#include "gateway/http/http1_response_out.h"
#include "gateway/http/llhttp_glue.h"
#include "gateway/http/local_reply.h"
#include "gateway/http/message.h"
#include "gateway/http/obs_fold.h"
#include "gateway/http/session.h"
#include "gateway/http/strict_framing.h"
#include "gateway/http/upgrade_relay.h"

namespace portcullis::gateway::http {

namespace {

constexpr std::string_view kContinue = "HTTP/1.1 100 Continue\r\n\r\n";

class Http1Session final : public Session, private DownstreamSide {
 public:
  Http1Session(SessionOwner& owner, const ConnFacts& facts, const SessionLimits& limits)
      : owner_(owner), scheme_(facts.scheme), limits_(limits) {
    h1::start_parser(parser_, HTTP_REQUEST, parser_settings(), this);
  }

  // One set of callbacks for every session (llhttp only reads it): an idle connection does not
  // carry its own copy.
  static const llhttp_settings_t& parser_settings() noexcept {
    static const llhttp_settings_t settings = [] {
      llhttp_settings_t s;
      llhttp_settings_init(&s);
      s.on_message_begin = &Http1Session::cb_message_begin;
      s.on_method = &Http1Session::cb_method;
      s.on_url = &Http1Session::cb_url;
      s.on_version = &Http1Session::cb_version;
      s.on_header_field = &Http1Session::cb_header_field;
      s.on_header_value = &Http1Session::cb_header_value;
      s.on_header_field_complete = &Http1Session::cb_header_field_complete;
      s.on_header_value_complete = &Http1Session::cb_header_value_complete;
      s.on_headers_complete = &Http1Session::cb_headers_complete;
      s.on_body = &Http1Session::cb_body;
      s.on_message_complete = &Http1Session::cb_message_complete;
      return s;
    }();
    return settings;
  }

  ~Http1Session() override { ex_.reset(); }

  bool feed(std::string_view bytes) noexcept override {
    if (closing_ || aborted_) {
      return false;
    }
    try {
      in_.append(bytes);
    } catch (...) {
      reject(400, Reason::internal_error, "internal error");
      return false;
    }
    if (tunnel_) {
      relay_in();
      return true;
    }
    if (!paused_) {
      parse();
    }
    return !closing_ && !aborted_;
  }

  void pull_output(std::string& out, std::size_t max) noexcept override {
    if (in_pull_) {
      return;  // reentrant call from a callback: the outer call picks the output up
    }
    in_pull_ = true;
    try {
      // `max` counts the bytes appended by this call, whatever `out` already held.
      pull_loop(out, out.size() + max);
    } catch (...) {
      aborted_ = true;  // out of memory while serializing: give up on the connection
    }
    in_pull_ = false;
  }

  bool want_read() const noexcept override {
    if (closing_ || aborted_) {
      return false;
    }
    if (paused_) {
      // Pipelined requests wait in in_ until the current response is done; bound them.
      return in_.size() < limits_.max_request_headers;
    }
    if (ex_ && ex_->request_body().over_high()) {
      return false;
    }
    return true;
  }

  bool should_close() const noexcept override {
    if (aborted_) {
      return true;
    }
    return closing_ && out_.empty() && !ex_;
  }

  bool idle() const noexcept override {
    return !ex_ && !in_head_ && out_.empty() && in_.empty() && !linger_;
  }

  bool lingering() const noexcept override { return linger_ && !closing_ && !aborted_; }

  void start_drain() noexcept override {
    draining_ = true;
    if (!ex_ && !in_head_ && in_.empty()) {
      closing_ = true;
      owner_.output_ready();
    }
  }

  // Shutdown: an open WebSocket is closed the WebSocket way (upgrade_relay.h, 1001).
  void start_shutdown() noexcept override {
    if (tunnel_ && ex_ && upgrade::websocket_open(*ex_) && !relay_.going_away(*ex_)) {
      aborted_ = true;
    }
    start_drain();
  }

  void abort() noexcept override {
    aborted_ = true;
    if (ex_) {
      if (ex_->info().reason == Reason::none) {
        ex_->info().reason = Reason::peer_closed;
      }
      owner_.exchange_done(*ex_);
      ex_.reset();  // tells an attached upstream side on_downstream_abort()
    }
    in_.clear();
    scanned_ = 0;
    out_.clear();
  }

 private:
  // ---- DownstreamSide ----
  void on_response_head(Exchange&) noexcept override { owner_.output_ready(); }
  void on_response_body(Exchange&) noexcept override { owner_.output_ready(); }
  void on_request_body_consumed(Exchange&, std::size_t) noexcept override {
    owner_.output_ready();
  }
  void on_continue(Exchange&) noexcept override {
    if (resp_.head_written() || request_complete_ || closing_) {
      return;
    }
    try {
      out_.append(kContinue);
    } catch (...) {
      aborted_ = true;  // out of memory: give up on the connection
    }
    owner_.output_ready();
  }
  void on_upstream_abort(Exchange& ex) noexcept override {
    if (!resp_.head_written()) {
      // No byte of this response reached the client yet: it gets a 502 instead of a cut, and
      // the access log says 502 with the upstream's reason.
      const Reason why = ex.info().reason;
      if (why == Reason::request_body_too_large) {
        send(ex, body_too_large_reply());  // Exchange::refuse_request_body
        return;
      }
      ex.local_reply(502, why,
                     why == Reason::upstream_protocol_error ? "upstream protocol error"
                                                            : "upstream connection reset");
      return;
    }
    // The head already went out: the client must see a truncated message, so close without
    // completing it. The owner tears the connection down and calls abort().
    aborted_ = true;
    owner_.output_ready();
  }

  // ---- parsing ----
  void parse() noexcept {
    in_parse_ = true;
    while (!in_.empty() && !paused_ && !closing_ && !aborted_) {
      const char* data = in_.data();
      if (in_head_ || in_trailers_) {
        head_mark_ = data;
      }
      // The strict scanner goes first; llhttp only sees bytes it has passed.
      if (scanned_ < in_.size() && !strict_.failed()) {
        const h1::StrictFraming::Result r =
            strict_.scan(data + scanned_, in_.size() - scanned_);
        scanned_ += r.n;
      }
      if (scanned_ == 0) {
        // A framing violation at the front (or no body framing after a head, never expected).
        fail_parse(400, Reason::http_malformed, "malformed framing");
        break;
      }
      const std::size_t len = scanned_;
      fold_.on_execute(data, len);
      const h1::Executed run = h1::execute(parser_, data, len);
      if (run.err == HPE_OK) {
        if ((in_head_ || in_trailers_) && head_mark_ != nullptr) {
          head_bytes_ += static_cast<std::size_t>(data + len - head_mark_);
          head_mark_ = nullptr;
          if (head_bytes_ > limits_.max_request_headers) {
            fail_parse(431, Reason::headers_too_large, "request headers too large");
            break;
          }
        }
        in_.erase(0, len);
        scanned_ = 0;
      } else if (run.err == HPE_PAUSED && upgrading_) {
        // The upgrade head ended: what follows (in_ past it, and every later byte) is the
        // client's side of the stream, whatever the upstream answers.
        in_.erase(0, run.used);
        scanned_ = 0;
        upgrading_ = false;
        tunnel_ = true;
        relay_in();
        break;
      } else if (run.err == HPE_PAUSED) {
        in_.erase(0, run.used);
        scanned_ -= run.used;
        paused_ = true;
      } else {
        if (err_status_ == 0) {
          err_status_ = 400;
          err_reason_ = Reason::http_malformed;
          err_line_ = "malformed request";
        }
        fail_parse(err_status_, err_reason_, err_line_);
      }
    }
    in_parse_ = false;
    if (ex_ && resp_.complete()) {
      owner_.output_ready();  // let pull_output() finish the exchange now that parsing stopped
    }
  }

  // Tunnel mode (after a WebSocket upgrade head): received bytes are request body as they are
  // (upgrade_relay.h).
  void relay_in() noexcept {
    if (ex_ && !relay_.relay(*ex_, in_)) {
      aborted_ = true;  // out of memory: give up on the connection
      owner_.output_ready();
    }
    in_.clear();
  }

  // A parse error: abandon the message in progress and answer with one line (when the client
  // has not seen a response head for it yet), then close.
  void fail_parse(int status, Reason why, std::string_view line) noexcept {
    in_.clear();
    scanned_ = 0;
    if (linger_) {
      // The dropped upload is malformed: its answer is already out; just close.
      linger_ = false;
      closing_ = true;
      owner_.output_ready();
      return;
    }
    if (ex_) {
      bool head_out = resp_.head_written();
      if (ex_->info().reason == Reason::none) {
        ex_->info().reason = why;
      }
      owner_.exchange_done(*ex_);
      ex_.reset();
      resp_.reset();
      if (head_out) {
        aborted_ = true;
        owner_.request_rejected(status, why);
        owner_.output_ready();
        return;
      }
    }
    reject(status, why, line);
  }

  void reject(int status, Reason why, std::string_view line) noexcept {
    closing_ = true;
    in_.clear();
    scanned_ = 0;
    try {
      append_error_response(out_, status, line);
    } catch (...) {
      aborted_ = true;
    }
    owner_.request_rejected(status, why);
    owner_.output_ready();
  }

  int set_error(int status, Reason why, const char* line) noexcept {
    if (err_status_ == 0) {
      err_status_ = status;
      err_reason_ = why;
      err_line_ = line;
    }
    return HPE_USER;
  }

  int malformed(const char* line) noexcept {
    return set_error(400, Reason::http_malformed, line);
  }

  // Counts head bytes up to `end` (inside the current chunk) and enforces the limit.
  int check_head_size(const char* at, const char* end) noexcept {
    if (head_mark_ == nullptr) {
      head_mark_ = at;
    }
    if (head_bytes_ + static_cast<std::size_t>(end - head_mark_) > limits_.max_request_headers) {
      return set_error(431, Reason::headers_too_large, "request headers too large");
    }
    return 0;
  }

  // ---- llhttp callbacks: each runs under h1::callback (one exception policy) ----
 public:
  // A callback threw (out of memory): the request fails as a 400 and the connection closes.
  void callback_failed() noexcept { set_error(400, Reason::internal_error, "internal error"); }

 private:
  template <class Fn>
  static int run(llhttp_t* p, Fn&& fn) noexcept {
    return h1::callback<Http1Session>(p, std::forward<Fn>(fn));
  }

  static int cb_message_begin(llhttp_t* p) noexcept {
    return run(p, [](Http1Session& s) { return s.message_begin(); });
  }
  int message_begin() noexcept {
    in_head_ = true;
    in_trailers_ = false;
    head_bytes_ = 0;
    head_mark_ = nullptr;
    method_.clear();
    url_.clear();
    fields_.clear();
    field_count_ = 0;
    last_was_value_ = false;
    err_status_ = 0;
    return 0;
  }

  int append_piece(std::string& dst, const char* at, std::size_t len) {
    if (in_head_ || in_trailers_) {
      if (int r = check_head_size(at, at + len); r != 0) {
        return r;
      }
    }
    dst.append(at, len);
    return 0;
  }

  static int cb_method(llhttp_t* p, const char* at, std::size_t len) noexcept {
    return run(p, [&](Http1Session& s) { return s.append_piece(s.method_, at, len); });
  }
  static int cb_url(llhttp_t* p, const char* at, std::size_t len) noexcept {
    return run(p, [&](Http1Session& s) { return s.append_piece(s.url_, at, len); });
  }
  static int cb_version(llhttp_t* p, const char* at, std::size_t len) noexcept {
    return run(p, [&](Http1Session& s) { return s.check_head_size(at, at + len); });
  }
  static int cb_header_field(llhttp_t* p, const char* at, std::size_t len) noexcept {
    return run(p, [&](Http1Session& s) { return s.header_field(at, len); });
  }
  int header_field(const char* at, std::size_t len) {
    if (!in_head_ && !in_trailers_) {
      // Trailer section of a chunked body: bounded by the same limits, passed on at its end.
      in_trailers_ = true;
      head_mark_ = nullptr;
      fields_.clear();
      last_was_value_ = true;
    }
    if (fields_.empty() || last_was_value_) {
      if (++field_count_ > limits_.max_header_count) {
        return set_error(431, Reason::headers_too_large, "too many request header fields");
      }
      fields_.emplace_back();
      last_was_value_ = false;
      fold_.start_field();
    }
    return append_piece(fields_.back().name, at, len);
  }
  static int cb_header_value(llhttp_t* p, const char* at, std::size_t len) noexcept {
    return run(p, [&](Http1Session& s) { return s.header_value(at, len); });
  }
  int header_value(const char* at, std::size_t len) {
    if (fields_.empty()) {
      return malformed("malformed header field");
    }
    last_was_value_ = true;
    if (!fold_.value_piece(at, len)) {
      return malformed("obs-fold is not allowed");  // obs_fold.h
    }
    return append_piece(fields_.back().value, at, len);
  }
  static int cb_header_field_complete(llhttp_t* p) noexcept {
    return run(p, [](Http1Session& s) {
      if (s.fields_.empty()) {
        return s.malformed("malformed header field");
      }
      s.last_was_value_ = true;  // an empty value gets no on_header_value call
      return 0;
    });
  }
  static int cb_header_value_complete(llhttp_t* p) noexcept {
    return run(p, [](Http1Session& s) {
      s.last_was_value_ = true;
      return 0;
    });
  }

  static int cb_headers_complete(llhttp_t* p) noexcept {
    return run(p, [](Http1Session& s) { return s.in_trailers_ ? 0 : s.on_head_complete(); });
  }

  // Validates the head (http1_request_head.cc) and starts the Exchange.
  int on_head_complete() {
    h1::RawRequest raw;
    raw.method = std::move(method_);
    raw.url = std::move(url_);
    raw.fields = std::move(fields_);
    raw.http_major = parser_.http_major;
    raw.http_minor = parser_.http_minor;
    raw.connect = parser_.method == HTTP_CONNECT;
    raw.has_content_length = (parser_.flags & F_CONTENT_LENGTH) != 0;
    raw.content_length = parser_.content_length;
    method_.clear();
    url_.clear();
    fields_.clear();
    if (scheme_ == "https" && upgrade::asks_other_upgrade(raw.fields)) {
      return set_error(501, Reason::upgrade_refused, "upgrade not supported");  // h2c, ...
    }
    h1::BuiltRequest built = h1::build_request(raw, scheme_);
    if (built.error != nullptr) {
      return malformed(built.error);
    }
    RequestHead& head = built.head;
    const bool http11 = built.http11;
    const bool expect_continue = built.expect_continue;
    if (built.chunked) {
      strict_.body(h1::StrictFraming::Body::chunked);
    } else if (head.content_length) {
      strict_.body(h1::StrictFraming::Body::length, *head.content_length);
    } else {
      strict_.body(h1::StrictFraming::Body::none);
    }

    // A WebSocket upgrade (build_request decided): llhttp stops after this head and the rest
    // of the connection is a byte stream (relay_in). Any other Upgrade field was stripped
    // (hop-by-hop): parse on as plain HTTP.
    upgrading_ = !head.upgrade.empty();
    parser_.upgrade = upgrading_ ? 1 : 0;

    in_head_ = false;
    head_mark_ = nullptr;
    ++requests_;
    keep_alive_ = llhttp_should_keep_alive(&parser_) != 0;
    http10_ = !http11;
    if (requests_ >= limits_.max_requests_per_connection || draining_ || !keep_alive_) {
      close_after_ = true;
    }
    head_is_head_ = head.method == "HEAD";

    // RFC 9110 10.1.1: 100-continue is the one expectation; the 100 goes out once the request
    // passed admission and reached its upstream (on_continue), so a refused request costs no
    // upload. Any other expectation gets 417.
    const bool bad_expect = http11 && find_header(head.headers, "expect") != nullptr;
    head.expect_continue = expect_continue && head.has_body && http11;

    request_complete_ = false;
    linger_ = false;
    discard_.reset();
    resp_.reset();
    ex_ = std::make_unique<Exchange>(static_cast<DownstreamSide&>(*this));
    ex_->request() = std::move(head);
    if (!ex_->request().has_body) {
      ex_->request_body().set_eof();
    }
    // Refused here, as local replies: the body that may follow is read and dropped (on_body).
    if (bad_expect) {
      ex_->local_reply(417, Reason::expectation_failed, "expectation failed");
    } else if (BodyLimit{limits_.max_request_body}.refuses(ex_->request().content_length)) {
      send(*ex_, body_too_large_reply());  // before any upstream: no 100, no byte forwarded
    } else {
      owner_.start_exchange(*ex_);
    }
    return 0;
  }

  static int cb_body(llhttp_t* p, const char* at, std::size_t len) noexcept {
    return run(p, [&](Http1Session& s) { return s.on_body(std::string_view(at, len)); });
  }
  int on_body(std::string_view bytes) {
    if (ex_) {
      ex_->info().bytes_in += bytes.size();
    }
    if (!ex_ || (ex_->response_started() && !ex_->has_upstream())) {
      // Nobody reads this body any more (a local reply, or the answer is already out): read
      // and drop it, within bounds (body_limit.h); past them, the connection ends.
      if (!discard_.drop(bytes.size()) && !ex_) {
        closing_ = true;
      }
      return 0;
    }
    if (BodyLimit{limits_.max_request_body}.over(ex_->info().bytes_in)) {
      ex_->refuse_request_body(413, Reason::request_body_too_large, kBodyTooLargeLine);
      discard_.drop(bytes.size());
      return 0;
    }
    ex_->request_body().append(bytes);
    ex_->request_body_added();
    return 0;
  }

  static int cb_message_complete(llhttp_t* p) noexcept {
    return run(p, [](Http1Session& s) {
      if (s.linger_) {
        // The dropped upload ended within bounds: close as the answer announced, or (an
        // upstream's early answer without Connection: close) go on to the next request.
        s.linger_ = false;
        s.in_trailers_ = false;
        if (s.close_after_ || s.draining_ || s.closing_) {
          s.closing_ = true;
          return static_cast<int>(HPE_PAUSED);
        }
        return 0;
      }
      if (s.upgrading_) {
        return static_cast<int>(HPE_PAUSED);  // parse() turns the connection into a tunnel
      }
      if (s.in_trailers_ && s.ex_) {
        if (const char* err = h1::build_trailers(s.fields_, s.ex_->request().trailers)) {
          return s.malformed(err);
        }
      }
      s.in_trailers_ = false;
      s.request_complete_ = true;
      if (s.ex_ && !s.ex_->request_body().eof()) {
        s.ex_->request_body().set_eof();
        s.ex_->request_body_added();
      }
      // Wait here until the response is out; the rest of in_ is the next pipelined request.
      return static_cast<int>(HPE_PAUSED);
    });
  }

  // ---- output (http1_response_out.h serializes) ----
  void write_head(std::string& out) {
    if (!request_complete_ && !ex_->has_upstream()) {
      // A local reply while the request body is still coming: nobody will read the rest, so
      // the connection ends with this response, once the rest is read and dropped (linger_).
      // An upstream's early answer announces nothing: finish_exchange() decides then.
      close_after_ = true;
    }
    ResponseFraming f;
    f.upgrade = ex_->request().upgrade;
    f.head_request = head_is_head_;
    f.http10 = http10_;
    f.close = close_after_ || draining_;
    close_after_ = resp_.write_head(out, *ex_, f);
  }

  void pull_loop(std::string& out, std::size_t limit) {
    for (;;) {
      if (aborted_) {
        if (ex_) {
          owner_.exchange_done(*ex_);
          ex_.reset();
        }
        return;
      }
      if (!out_.empty()) {
        out += out_;
        out_.clear();
      }
      if (!ex_ || !ex_->response_started()) {
        return;
      }
      if (!resp_.complete()) {
        if (!resp_.head_written()) {
          write_head(out);
        }
        resp_.write_body(out, *ex_, limit);
      }
      if (!resp_.complete() || in_parse_) {
        return;
      }
      finish_exchange();
      if (closing_ || paused_ || out.size() >= limit) {
        if (out.size() >= limit && !closing_ && !paused_) {
          owner_.output_ready();
        }
        return;
      }
    }
  }

  // The response went out completely: log, destroy, then continue with pipelined input.
  void finish_exchange() {
    owner_.exchange_done(*ex_);
    ex_.reset();
    resp_.reset();
    if (!request_complete_ && !tunnel_ && !upgrading_ && !discard_.spent()) {
      // The answer is out before the upload ended: read and drop the rest (on_body) rather
      // than close now, which with unread bytes sends RST and can destroy the answer in flight.
      linger_ = true;
      if (!in_.empty()) {
        parse();
      }
      owner_.output_ready();
      return;
    }
    if (!request_complete_ || close_after_) {
      closing_ = true;
      in_.clear();
      scanned_ = 0;
      return;
    }
    if (paused_) {
      paused_ = false;
      llhttp_resume(&parser_);
      parse();
    }
    owner_.output_ready();  // want_read() may have changed
  }

  SessionOwner& owner_;
  std::string scheme_;  // the only connection fact a request head needs
  SessionLimits limits_;
  llhttp_t parser_{};

  std::string in_;   // bytes not parsed yet (pipelined requests while paused_)
  std::size_t scanned_ = 0;  // bytes at the front of in_ that strict_ already passed
  h1::StrictFraming strict_;
  std::string out_;  // serialized bytes not pulled yet (100 Continue, error replies)
  std::unique_ptr<Exchange> ex_;

  // Head being parsed.
  std::string method_;
  std::string url_;
  Headers fields_;  // raw: names as sent
  std::uint32_t field_count_ = 0;
  bool last_was_value_ = false;
  bool in_head_ = false;
  bool in_trailers_ = false;
  std::size_t head_bytes_ = 0;
  const char* head_mark_ = nullptr;
  // obs-fold detection (obs_fold.h).
  h1::ObsFoldDetector fold_;
  int err_status_ = 0;
  Reason err_reason_ = Reason::none;
  const char* err_line_ = "";

  // Request / response state.
  std::uint32_t requests_ = 0;
  bool keep_alive_ = true;
  bool http10_ = false;
  bool head_is_head_ = false;
  bool request_complete_ = false;
  h1::ResponseOut resp_;  // the response being written
  bool close_after_ = false;

  bool upgrading_ = false;  // the head being parsed asks for a WebSocket upgrade
  bool tunnel_ = false;     // past an upgrade head: input is the client's byte stream
  upgrade::ClientRelay relay_;  // the client's side of the tunnel (upgrade_relay.h)
  bool paused_ = false;
  bool in_parse_ = false;
  bool in_pull_ = false;
  bool closing_ = false;
  bool draining_ = false;
  bool linger_ = false;     // the answer is out; the rest of the upload is read and dropped
  DiscardBudget discard_;   // body bytes dropped for the current request
  bool aborted_ = false;
};

}  // namespace

std::unique_ptr<Session> make_http1_session(SessionOwner& owner, const ConnFacts& facts,
                                            const SessionLimits& limits) {
  return std::make_unique<Http1Session>(owner, facts, limits);
}

}  // namespace portcullis::gateway::http
