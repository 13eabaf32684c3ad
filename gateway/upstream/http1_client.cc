// Http1Client (see http1_client.h): llhttp in HTTP_RESPONSE mode, strict.
#include "gateway/upstream/http1_client.h"

#include <llhttp.h>

#include <algorithm>
#include <cstdio>
#include <memory>
#include <string>

#include "gateway/http/exchange.h"
#include "gateway/http/http1_session.h"
#include "gateway/http/message.h"

namespace portcullis::gateway::upstream {

namespace {

using http::Exchange;
using http::Header;

// Request methods whose bodyless form still deserves "content-length: 0" (RFC 9110 8.6).
bool method_expects_body(std::string_view m) noexcept {
  return m == "POST" || m == "PUT" || m == "PATCH";
}

class Http1Client final : public ClientSession, private http::UpstreamSide {
 public:
  explicit Http1Client(ClientOwner& owner) : owner_(owner) {
    llhttp_init(&parser_, HTTP_RESPONSE, &parser_settings());
    parser_.data = this;
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
    if (ex_ == nullptr) {
      // Nothing was asked: bytes now are a protocol violation; the connection is useless.
      reusable_ = false;
      broken_ = true;
      return false;
    }
    const char* data = bytes.data();
    std::size_t len = bytes.size();
    while (len > 0 && !broken_) {
      llhttp_errno_t err = llhttp_execute(&parser_, data, len);
      if (err == HPE_OK) {
        break;
      }
      if (err == HPE_PAUSED) {
        // A response completed; anything after it was not asked for.
        const char* pos = llhttp_get_error_pos(&parser_);
        std::size_t used = pos != nullptr ? static_cast<std::size_t>(pos - data) : len;
        llhttp_resume(&parser_);
        if (used < len) {
          reusable_ = false;
          broken_ = true;
        }
        break;
      }
      protocol_error();
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
      http::BodyBuffer& body = ex_->request_body();
      std::size_t taken = 0;
      while (!body.empty() && out.size() < limit) {
        std::size_t n = std::min(limit - out.size(), body.size());
        std::string_view bytes = body.peek().substr(0, n);
        if (chunked_) {
          char line[32];
          int l = std::snprintf(line, sizeof line, "%zx\r\n", n);
          out.append(line, static_cast<std::size_t>(l));
          out.append(bytes);
          out += "\r\n";
        } else {
          out.append(bytes);
        }
        body.consume(n);
        taken += n;
      }
      if (body.finished()) {
        if (chunked_) {
          out += "0\r\n\r\n";
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
    }
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

  void serialize_head(const http::RequestHead& req) {
    head_out_.clear();
    head_out_ += req.method;
    head_out_ += ' ';
    head_out_ += req.path.empty() ? std::string("/") : req.path;
    head_out_ += " HTTP/1.1\r\nhost: ";
    head_out_ += req.authority;
    head_out_ += "\r\n";
    for (const Header& h : req.headers) {
      if (http::is_hop_by_hop(h.name) || h.name == "host" || h.name == "content-length") {
        continue;
      }
      head_out_ += h.name;
      head_out_ += ": ";
      head_out_ += h.value;
      head_out_ += "\r\n";
    }
    chunked_ = false;
    if (req.content_length) {
      head_out_ += "content-length: ";
      head_out_ += std::to_string(*req.content_length);
      head_out_ += "\r\n";
    } else if (req.has_body) {
      chunked_ = true;
      head_out_ += "transfer-encoding: chunked\r\n";
    } else if (method_expects_body(req.method)) {
      head_out_ += "content-length: 0\r\n";
    }
    head_out_ += "\r\n";
    is_head_request_ = req.method == "HEAD";
    if (!req.has_body) {
      request_sent_ = true;  // nothing to stream
    }
  }

  // ---- llhttp callbacks ----
  static Http1Client& self(llhttp_t* p) noexcept { return *static_cast<Http1Client*>(p->data); }

  static int cb_message_begin(llhttp_t* p) noexcept {
    Http1Client& c = self(p);
    c.fields_.clear();
    c.last_was_value_ = false;
    c.header_bytes_ = 0;
    return 0;
  }

  int add_bytes(std::string& dst, const char* at, std::size_t len) noexcept {
    header_bytes_ += len;
    if (header_bytes_ > kMaxResponseHeaderBytes) {
      return -1;
    }
    try {
      dst.append(at, len);
    } catch (...) {
      return -1;
    }
    return 0;
  }

  static int cb_header_field(llhttp_t* p, const char* at, std::size_t len) noexcept {
    Http1Client& c = self(p);
    if (c.head_delivered_ && !c.interim_) {
      return 0;  // trailers: dropped
    }
    if (c.fields_.empty() || c.last_was_value_) {
      if (c.fields_.size() >= kMaxResponseFields) {
        return -1;
      }
      try {
        c.fields_.emplace_back();
      } catch (...) {
        return -1;
      }
      c.last_was_value_ = false;
    }
    return c.add_bytes(c.fields_.back().name, at, len);
  }

  static int cb_header_value(llhttp_t* p, const char* at, std::size_t len) noexcept {
    Http1Client& c = self(p);
    if (c.head_delivered_ && !c.interim_) {
      return 0;
    }
    if (c.fields_.empty()) {
      return -1;
    }
    c.last_was_value_ = true;
    return c.add_bytes(c.fields_.back().value, at, len);
  }

  static int cb_header_field_complete(llhttp_t* p) noexcept {
    self(p).last_was_value_ = true;
    return 0;
  }

  static int cb_headers_complete(llhttp_t* p) noexcept {
    Http1Client& c = self(p);
    if (c.ex_ == nullptr) {
      return -1;
    }
    const int status = p->status_code;
    if (status == 101 || status < 100) {
      return -1;
    }
    if (status < 200) {
      c.interim_ = true;  // 100 Continue, 103 Early Hints: skipped
      return 1;
    }
    c.interim_ = false;
    http::ResponseHead head;
    head.status = status;
    try {
      std::vector<std::string> connection_tokens;
      for (Header& f : c.fields_) {
        f.name = http::to_lower_ascii(f.name);
        if (f.name == "connection") {
          std::string_view list = f.value;
          while (!list.empty()) {
            std::size_t comma = list.find(',');
            std::string_view tok = list.substr(0, comma);
            while (!tok.empty() && (tok.front() == ' ' || tok.front() == '\t')) {
              tok.remove_prefix(1);
            }
            while (!tok.empty() && (tok.back() == ' ' || tok.back() == '\t')) {
              tok.remove_suffix(1);
            }
            if (!tok.empty()) {
              connection_tokens.push_back(http::to_lower_ascii(tok));
            }
            if (comma == std::string_view::npos) {
              break;
            }
            list.remove_prefix(comma + 1);
          }
        }
      }
      head.headers.reserve(c.fields_.size());
      for (Header& f : c.fields_) {
        if (http::is_hop_by_hop(f.name) || f.name == "content-length") {
          continue;
        }
        if (std::find(connection_tokens.begin(), connection_tokens.end(), f.name) !=
            connection_tokens.end()) {
          continue;
        }
        head.headers.push_back(Header{std::move(f.name), std::move(f.value)});
      }
    } catch (...) {
      return -1;
    }
    c.fields_.clear();
    const bool no_body = c.is_head_request_ || status == 204 || status == 304;
    if ((p->flags & F_CONTENT_LENGTH) != 0 && status != 204 && status != 304) {
      head.content_length = p->content_length;
    }
    head.has_body = !no_body;
    c.keep_alive_ = llhttp_should_keep_alive(p) != 0;
    c.head_delivered_ = true;
    c.ex_->response() = std::move(head);
    c.ex_->response_head_ready();
    return no_body ? 1 : 0;
  }

  static int cb_body(llhttp_t* p, const char* at, std::size_t len) noexcept {
    Http1Client& c = self(p);
    if (c.ex_ == nullptr) {
      return 0;  // the downstream went away; drain what is in this buffer
    }
    try {
      c.ex_->response_body().append(std::string_view(at, len));
    } catch (...) {
      return -1;
    }
    c.ex_->response_body_added();
    return 0;
  }

  static int cb_message_complete(llhttp_t* p) noexcept {
    Http1Client& c = self(p);
    if (c.interim_) {
      c.interim_ = false;
      return 0;  // keep parsing: the final response follows
    }
    c.complete_response();
    return HPE_PAUSED;
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
  Exchange* ex_ = nullptr;
  std::string head_out_;
  http::Headers fields_;
  std::size_t header_bytes_ = 0;
  bool last_was_value_ = false;
  bool chunked_ = false;
  bool request_sent_ = false;
  bool response_complete_ = false;
  bool head_delivered_ = false;
  bool interim_ = false;
  bool is_head_request_ = false;
  bool keep_alive_ = true;
  bool reusable_ = true;
  bool broken_ = false;
};

}  // namespace

std::unique_ptr<ClientSession> make_http1_client(ClientOwner& owner) {
  return std::make_unique<Http1Client>(owner);
}

}  // namespace portcullis::gateway::upstream
