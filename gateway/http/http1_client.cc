// Http1Client (see http1_client.h): llhttp in HTTP_RESPONSE mode, strict.
#include "gateway/http/http1_client.h"

#include <algorithm>
#include <memory>
#include <optional>
#include <string>

#include "gateway/http/exchange.h"
#include "gateway/http/http1_session.h"
#include "gateway/http/llhttp_glue.h"
#include "gateway/http/message.h"
#include "gateway/http/strict_framing.h"

namespace portcullis::gateway::http {

namespace {

// Request methods whose bodyless form still deserves "content-length: 0" (RFC 9110 8.6).
bool method_expects_body(std::string_view m) noexcept {
  return m == "POST" || m == "PUT" || m == "PATCH";
}

class Http1Client final : public ClientSession, private UpstreamSide {
 public:
  explicit Http1Client(ClientOwner& owner) : owner_(owner) {
    h1::start_parser(parser_, HTTP_RESPONSE, parser_settings(), this);
  }

  // One set of callbacks for every client, as for Http1Session: llhttp only reads it.
  static const llhttp_settings_t& parser_settings() noexcept {
    static const llhttp_settings_t settings = [] {
      llhttp_settings_t s;
      llhttp_settings_init(&s);
      s.on_message_begin = &Http1Client::cb_message_begin;
      s.on_header_field = &Http1Client::cb_header_field;
      s.on_header_value = &Http1Client::cb_header_value;
      s.on_header_field_complete = &Http1Client::cb_header_field_complete;
      s.on_headers_complete = &Http1Client::cb_headers_complete;
      s.on_body = &Http1Client::cb_body;
      s.on_message_complete = &Http1Client::cb_message_complete;
      return s;
    }();
    return settings;
  }

  ~Http1Client() override {
    if (ex_ != nullptr) {
      Exchange* ex = ex_;
      ex_ = nullptr;
      ex->fail(502, Reason::upstream_reset);
    }
  }

  bool feed(std::string_view bytes) noexcept override {
    if (broken_) {
      return false;
    }
    if (bytes.empty()) {
      return true;
    }
    if (upgraded_) {
      relay(bytes);
      return !broken_;
    }
    if (ex_ == nullptr) {
      // Nothing was asked: bytes now are a protocol violation; the connection is useless.
      reusable_ = false;
      broken_ = true;
      return false;
    }
    const char* data = bytes.data();
    std::size_t len = bytes.size();
    while (len > 0 && !broken_) {
      // The strict scanner goes first; llhttp only sees the bytes it passed.
      const h1::StrictFraming::Result checked = strict_.scan(data, len);
      if (checked.n == 0) {
        protocol_error();  // a framing violation (bare CR, bad chunk framing)
        break;
      }
      const h1::Executed run = h1::execute(parser_, data, checked.n);
      if (run.err == HPE_PAUSED && upgraded_) {
        // 101: everything after the head is the upstream's side of the byte stream.
        relay(std::string_view(data + run.used, len - run.used));
        break;
      }
      if (run.err == HPE_PAUSED) {
        // A response completed; anything after it was not asked for.
        llhttp_resume(&parser_);
        if (run.used < len) {
          reusable_ = false;
          broken_ = true;
        }
        break;
      }
      if (run.err != HPE_OK) {
        protocol_error();
        break;
      }
      data += checked.n;
      len -= checked.n;
    }
    return !broken_;
  }

  void pull_output(std::string& out, std::size_t max) noexcept override {
    try {
      const std::size_t limit = out.size() + max;  // max counts the bytes this call appends
      if (!head_out_.empty()) {
        out += head_out_;
        head_out_.clear();
      }
      if (ex_ == nullptr || request_sent_) {
        return;
      }
      BodyBuffer& body = ex_->request_body();
      std::size_t taken = 0;
      while (!body.empty() && out.size() < limit) {
        std::size_t n = std::min(limit - out.size(), body.size());
        append_body_piece(out, body.peek().substr(0, n), chunked_);
        body.consume(n);
        taken += n;
      }
      if (body.finished()) {
        if (chunked_) {
          append_last_chunk(out, ex_->request().trailers);
        }
        request_sent_ = true;
      }
      Exchange* ex = ex_;
      if (taken > 0) {
        ex->request_body_consumed(taken);
      }
    } catch (...) {
      reusable_ = false;
      broken_ = true;
    }
  }

  bool want_read() const noexcept override {
    if (broken_) {
      return false;
    }
    return ex_ == nullptr || !ex_->response_body().over_high();
  }

  bool can_take() const noexcept override { return ex_ == nullptr && reusable_ && !broken_; }

  void attach(Exchange& ex) noexcept override {
    ex_ = &ex;
    ex.attach_upstream(*this);
    request_sent_ = false;
    response_complete_ = false;
    head_delivered_ = false;
    interim_ = false;
    try {
      serialize_head(ex.request());
    } catch (...) {
      ex_ = nullptr;
      reusable_ = false;
      broken_ = true;
      ex.fail(502, Reason::internal_error);
      return;
    }
    owner_.client_output_ready();
  }

  std::size_t active() const noexcept override { return ex_ != nullptr ? 1 : 0; }

  bool reusable() const noexcept override { return reusable_ && !broken_; }

  void peer_closed() noexcept override {
    reusable_ = false;
    if (ex_ == nullptr || broken_) {
      broken_ = true;
      return;
    }
    if (upgraded_) {
      complete_response();  // the upstream ended its side of the stream
      broken_ = true;
      return;
    }
    if (head_delivered_ && llhttp_message_needs_eof(&parser_) != 0) {
      // A close-delimited body ends here.
      llhttp_errno_t err = llhttp_finish(&parser_);
      if (err == HPE_OK || err == HPE_PAUSED) {
        if (ex_ != nullptr && !response_complete_) {
          complete_response();
        }
        broken_ = true;
        return;
      }
    }
    broken_ = true;
    fail_exchange(502, Reason::upstream_reset);
  }

  void abort(int status, Reason why) noexcept override {
    reusable_ = false;
    broken_ = true;
    fail_exchange(status, why);
  }

  std::optional<Exchange::Clock::time_point> next_deadline() const noexcept override {
    return ex_ != nullptr ? ex_->deadline() : std::nullopt;
  }

  void expire(Exchange::Clock::time_point now) noexcept override {
    if (ex_ != nullptr && ex_->deadline() && *ex_->deadline() <= now) {
      // HTTP/1.1 cannot cancel one request: the connection goes with it.
      reusable_ = false;
      broken_ = true;
      fail_exchange(504, Reason::grpc_deadline_exceeded);
    }
  }

 private:
  // ---- UpstreamSide ----
  void on_request_body(Exchange&) noexcept override { owner_.client_output_ready(); }
  void on_response_body_consumed(Exchange&, std::size_t) noexcept override {
    owner_.client_output_ready();  // want_read() may be true again
  }
  void on_downstream_abort(Exchange&) noexcept override {
    ex_ = nullptr;
    if (!response_complete_) {
      reusable_ = false;
      // Not reusable with nothing in flight: the owner closes the connection now, so an
      // aborted upload does not hold its upstream connection until a timer notices.
      owner_.client_capacity_available();
    }
  }

  // After a 101: received bytes are response body as they are.
  void relay(std::string_view bytes) noexcept {
    if (ex_ == nullptr || bytes.empty()) {
      return;
    }
    try {
      ex_->response_body().append(bytes);
    } catch (...) {
      reusable_ = false;
      broken_ = true;
      return;
    }
    ex_->response_body_added();
  }

  void fail_exchange(int status, Reason why) noexcept {
    if (ex_ != nullptr) {
      Exchange* ex = ex_;
      ex_ = nullptr;
      ex->fail(status, why);  // detaches us
    }
  }

  void protocol_error() noexcept {
    reusable_ = false;
    broken_ = true;
    fail_exchange(502, Reason::upstream_protocol_error);
  }

  void serialize_head(const RequestHead& req) {
    head_out_.clear();
    head_out_ += req.method;
    head_out_ += ' ';
    head_out_ += req.path.empty() ? std::string_view("/") : std::string_view(req.path);
    head_out_ += " HTTP/1.1\r\nhost: ";
    head_out_ += req.authority;
    head_out_ += "\r\n";
    for (const Header& h : req.headers) {
      if (is_hop_by_hop(h.name) || h.name == "host" || h.name == "content-length") {
        continue;
      }
      head_out_ += h.name;
      head_out_ += ": ";
      head_out_ += h.value;
      head_out_ += "\r\n";
    }
    chunked_ = false;
    upgrade_asked_ = !req.upgrade.empty();
    upgraded_ = false;
    if (upgrade_asked_) {
      // The WebSocket handshake goes on as asked; the body is unframed and follows a 101. The
      // connection is never reused: it becomes the stream.
      head_out_ += "connection: upgrade\r\nupgrade: ";
      head_out_ += req.upgrade;
      head_out_ += "\r\n";
      reusable_ = false;
    } else if (req.content_length) {
      head_out_ += "content-length: ";
      head_out_ += std::to_string(*req.content_length);
      head_out_ += "\r\n";
    } else if (req.has_body) {
      chunked_ = true;
      head_out_ += "transfer-encoding: chunked\r\n";
    } else if (method_expects_body(req.method)) {
      head_out_ += "content-length: 0\r\n";
    }
    if (req.expect_continue && req.has_body) {
      // The client waits for a 100: the upstream's own (relayed in headers_complete) tells it
      // the request passed the upstream's checks too, so a 401 costs no upload.
      head_out_ += "expect: 100-continue\r\n";
    }
    head_out_ += "\r\n";
    is_head_request_ = req.method == "HEAD";
    if (!req.has_body) {
      request_sent_ = true;  // nothing to stream
    }
  }

  // ---- llhttp callbacks: each runs under h1::callback (one exception policy) ----
 public:
  // A callback threw (out of memory): the response fails as a protocol error (feed() sees the
  // parse error) and the connection is not reused.
  void callback_failed() noexcept { reusable_ = false; }

 private:
  template <class Fn>
  static int run(llhttp_t* p, Fn&& fn) noexcept {
    return h1::callback<Http1Client>(p, std::forward<Fn>(fn));
  }

  static int cb_message_begin(llhttp_t* p) noexcept {
    return run(p, [](Http1Client& c) {
      c.fields_.clear();
      c.last_was_value_ = false;
      c.header_bytes_ = 0;
      return 0;
    });
  }

  int add_bytes(std::string& dst, const char* at, std::size_t len) {
    header_bytes_ += len;
    if (header_bytes_ > kMaxResponseHeaderBytes) {
      return -1;
    }
    dst.append(at, len);
    return 0;
  }

  static int cb_header_field(llhttp_t* p, const char* at, std::size_t len) noexcept {
    return run(p, [&](Http1Client& c) {
      if (c.head_delivered_ && !c.interim_) {
        return 0;  // trailers: dropped
      }
      if (c.fields_.empty() || c.last_was_value_) {
        if (c.fields_.size() >= kMaxResponseFields) {
          return -1;
        }
        c.fields_.emplace_back();
        c.last_was_value_ = false;
      }
      return c.add_bytes(c.fields_.back().name, at, len);
    });
  }

  static int cb_header_value(llhttp_t* p, const char* at, std::size_t len) noexcept {
    return run(p, [&](Http1Client& c) {
      if (c.head_delivered_ && !c.interim_) {
        return 0;
      }
      if (c.fields_.empty()) {
        return -1;
      }
      c.last_was_value_ = true;
      return c.add_bytes(c.fields_.back().value, at, len);
    });
  }

  static int cb_header_field_complete(llhttp_t* p) noexcept {
    return run(p, [](Http1Client& c) {
      c.last_was_value_ = true;
      return 0;
    });
  }

  static int cb_headers_complete(llhttp_t* p) noexcept {
    return run(p, [p](Http1Client& c) { return c.headers_complete(p); });
  }

  int headers_complete(llhttp_t* p) {
    if (ex_ == nullptr) {
      return -1;
    }
    const int status = p->status_code;
    if ((status == 101 && !upgrade_asked_) || status < 100) {
      return -1;
    }
    for (const Header& f : fields_) {
      // llhttp 8 lets a space (and other non-token bytes) into a response field name.
      if (!is_token(f.name) || !valid_field_value(f.value)) {
        return -1;
      }
    }
    if (status < 200 && status != 101) {
      interim_ = true;  // 100 Continue, 103 Early Hints: skipped
      if (status == 100) {
        ex_->continue_request();  // relayed to a client that asked for it
      }
      strict_.body(h1::StrictFraming::Body::none);
      return 1;
    }
    interim_ = false;
    ResponseHead head;
    head.status = status;
    std::vector<std::string> connection;
    for (Header& f : fields_) {
      lower_ascii_in_place(f.name);
      if (f.name == "connection") {
        for (std::string& tok : connection_tokens(f.value)) {
          connection.push_back(std::move(tok));
        }
      }
    }
    head.headers.reserve(fields_.size());
    for (Header& f : fields_) {
      if (is_hop_by_hop(f.name) || f.name == "content-length") {
        continue;
      }
      if (std::find(connection.begin(), connection.end(), f.name) != connection.end()) {
        continue;
      }
      head.headers.push_back(Header{std::move(f.name), std::move(f.value)});
    }
    fields_.clear();
    const bool no_body = is_head_request_ || status == 204 || status == 304;
    if ((p->flags & F_CONTENT_LENGTH) != 0 && status != 204 && status != 304) {
      head.content_length = p->content_length;
    }
    head.has_body = !no_body;
    if (status == 101) {
      upgraded_ = true;  // cb_message_complete pauses; feed() relays what follows
      head.content_length.reset();
      head.has_body = true;
    } else if (no_body) {
      strict_.body(h1::StrictFraming::Body::none);
    } else if ((p->flags & F_CHUNKED) != 0) {
      strict_.body(h1::StrictFraming::Body::chunked);
    } else if (head.content_length) {
      strict_.body(h1::StrictFraming::Body::length, *head.content_length);
    } else {
      strict_.body(h1::StrictFraming::Body::until_close);
    }
    keep_alive_ = llhttp_should_keep_alive(p) != 0;
    head_delivered_ = true;
    ex_->response() = std::move(head);
    ex_->response_head_ready();
    return no_body ? 1 : 0;
  }

  static int cb_body(llhttp_t* p, const char* at, std::size_t len) noexcept {
    return run(p, [&](Http1Client& c) {
      if (c.ex_ == nullptr) {
        return 0;  // the downstream went away; drain what is in this buffer
      }
      c.ex_->response_body().append(std::string_view(at, len));
      c.ex_->response_body_added();
      return 0;
    });
  }

  static int cb_message_complete(llhttp_t* p) noexcept {
    return run(p, [](Http1Client& c) {
      if (c.upgraded_) {
        return static_cast<int>(HPE_PAUSED);
      }
      if (c.interim_) {
        c.interim_ = false;
        return 0;  // keep parsing: the final response follows
      }
      c.complete_response();
      return static_cast<int>(HPE_PAUSED);
    });
  }

  void complete_response() noexcept {
    response_complete_ = true;
    head_delivered_ = false;
    if (!keep_alive_ || !request_sent_) {
      reusable_ = false;
    }
    if (ex_ == nullptr) {
      reusable_ = false;
      return;
    }
    Exchange* ex = ex_;
    ex_ = nullptr;
    ex->detach_upstream();
    ex->response_body().set_eof();
    ex->response_body_added();
    if (reusable_ && !broken_) {
      owner_.client_capacity_available();
    }
  }

  static constexpr std::size_t kMaxResponseHeaderBytes = 64 * 1024;
  static constexpr std::size_t kMaxResponseFields = 200;

  ClientOwner& owner_;
  llhttp_t parser_{};
  h1::StrictFraming strict_;
  Exchange* ex_ = nullptr;
  std::string head_out_;
  Headers fields_;
  std::size_t header_bytes_ = 0;
  bool last_was_value_ = false;
  bool chunked_ = false;
  bool request_sent_ = false;
  bool response_complete_ = false;
  bool head_delivered_ = false;
  bool interim_ = false;
  bool upgrade_asked_ = false;  // the request is a WebSocket handshake
  bool upgraded_ = false;       // the upstream answered 101: bytes are relayed both ways
  bool is_head_request_ = false;
  bool keep_alive_ = true;
  bool reusable_ = true;
  bool broken_ = false;
};

}  // namespace

std::unique_ptr<ClientSession> make_http1_client(ClientOwner& owner) {
  return std::make_unique<Http1Client>(owner);
}

}  // namespace portcullis::gateway::http
