// nghttp2 plumbing shared by the HTTP/2 engines (see nghttp2_glue.h).
#include "gateway/http/nghttp2_glue.h"

#include <algorithm>
#include <cstring>

namespace portcullis::gateway::http::h2 {

SessionBuilder::SessionBuilder() noexcept {
  if (nghttp2_session_callbacks_new(&cbs_) != 0) {
    cbs_ = nullptr;
  }
  if (nghttp2_option_new(&opt_) != 0) {
    opt_ = nullptr;
  }
}

SessionBuilder::~SessionBuilder() {
  nghttp2_session_callbacks_del(cbs_);
  nghttp2_option_del(opt_);
}

SessionPtr SessionBuilder::server(void* user_data, FrameBufferTag* tag) noexcept {
  nghttp2_session* s = nullptr;
  nghttp2_mem mem = session_mem(tag);
  if (!ok() || nghttp2_session_server_new3(&s, cbs_, user_data, opt_, &mem) != 0) {
    return nullptr;
  }
  return SessionPtr(s);
}

SessionPtr SessionBuilder::client(void* user_data) noexcept {
  nghttp2_session* s = nullptr;
  nghttp2_mem mem = session_mem();
  if (!ok() || nghttp2_session_client_new3(&s, cbs_, user_data, opt_, &mem) != 0) {
    return nullptr;
  }
  return SessionPtr(s);
}

void NvList::add(std::string_view name, std::string_view value) {
  nva_.push_back(nghttp2_nv{reinterpret_cast<std::uint8_t*>(const_cast<char*>(name.data())),
                            reinterpret_cast<std::uint8_t*>(const_cast<char*>(value.data())),
                            name.size(), value.size(), NGHTTP2_NV_FLAG_NONE});
}

void NvList::add_status(int status) {
  status_ = std::to_string(status);
  add(":status", status_);
}

void NvList::add_content_length(std::uint64_t n) {
  length_ = std::to_string(n);
  add("content-length", length_);
}

void NvList::add_fields(const Headers& fields, bool drop_host) {
  for (const Header& f : fields) {
    if (f.name.empty() || is_pseudo(f.name) || f.name == "content-length" ||
        (drop_host && f.name == "host") ||
        (is_hop_by_hop(f.name) && !(f.name == "te" && f.value == "trailers"))) {
      continue;
    }
    add(f.name, f.value);
  }
}

int submit_settings(nghttp2_session* s, std::initializer_list<nghttp2_settings_entry> iv) noexcept {
  return nghttp2_submit_settings(s, NGHTTP2_FLAG_NONE, iv.begin(), iv.size());
}

ssize_t receive(nghttp2_session* s, std::string_view bytes) noexcept {
  return nghttp2_session_mem_recv(s, reinterpret_cast<const std::uint8_t*>(bytes.data()),
                                  bytes.size());
}

bool send_into(nghttp2_session* s, std::string& out, std::size_t max) noexcept {
  const std::size_t start = out.size();
  while (out.size() - start < max) {
    const std::uint8_t* data = nullptr;
    const ssize_t n = nghttp2_session_mem_send(s, &data);
    if (n < 0) {
      return false;
    }
    if (n == 0) {
      break;
    }
    out.append(reinterpret_cast<const char*>(data), static_cast<std::size_t>(n));
  }
  return true;
}

ssize_t read_body(BodyBuffer& body, std::uint8_t* buf, std::size_t length,
                  std::uint32_t* data_flags, bool& deferred) noexcept {
  const std::string_view avail = body.peek();
  const std::size_t n = std::min(length, avail.size());
  if (n > 0) {
    std::memcpy(buf, avail.data(), n);
    body.consume(n);
  }
  if (body.finished()) {
    *data_flags |= NGHTTP2_DATA_FLAG_EOF;
  } else if (n == 0) {
    deferred = true;
    return NGHTTP2_ERR_DEFERRED;
  }
  return static_cast<ssize_t>(n);
}

bool consume(nghttp2_session* s, std::int32_t stream_id, std::size_t& unconsumed,
             std::size_t n) noexcept {
  n = std::min(n, unconsumed);
  if (n == 0) {
    return false;
  }
  unconsumed -= n;
  nghttp2_session_consume(s, stream_id, n);
  return true;
}

void release(nghttp2_session* s, std::size_t& unconsumed) noexcept {
  if (unconsumed > 0) {
    nghttp2_session_consume_connection(s, unconsumed);
    unconsumed = 0;
  }
}

}  // namespace portcullis::gateway::http::h2
