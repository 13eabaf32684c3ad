#include "gateway/acme/http.h"

#include <algorithm>
#include <cctype>
#include <ctime>
#include <mutex>

#include <curl/curl.h>

namespace portcullis::gateway::acme {
namespace {

// ACME answers are small (directory, orders, a chain); bound them anyway.
constexpr std::size_t kMaxBody = 1 << 20;
constexpr long kTimeoutSeconds = 30;

std::size_t on_body(char* data, std::size_t size, std::size_t n, void* user) noexcept {
  auto* r = static_cast<HttpResponse*>(user);
  if (r->body.size() + size * n > kMaxBody) {
    return 0;  // aborts the transfer
  }
  r->body.append(data, size * n);
  return size * n;
}

std::size_t on_header(char* data, std::size_t size, std::size_t n, void* user) noexcept {
  auto* r = static_cast<HttpResponse*>(user);
  const std::string_view line(data, size * n);
  const auto colon = line.find(':');
  if (colon != std::string_view::npos) {
    std::string name(line.substr(0, colon));
    std::transform(name.begin(), name.end(), name.begin(),
                   [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
    std::string_view value = line.substr(colon + 1);
    while (!value.empty() && (value.front() == ' ' || value.front() == '\t')) value.remove_prefix(1);
    while (!value.empty() && (value.back() == '\r' || value.back() == '\n' || value.back() == ' '))
      value.remove_suffix(1);
    try {
      if (name == "link") {
        r->headers[name] += (r->headers[name].empty() ? "" : ", ") + std::string(value);
      } else {
        r->headers[name] = std::string(value);
      }
    } catch (...) {
      return 0;
    }
  }
  return size * n;
}

}  // namespace

struct HttpClient::Impl {
  CURL* curl = nullptr;
  std::string ca_file;
};

void HttpClient::global_init() {
  static std::once_flag once;
  std::call_once(once, [] { curl_global_init(CURL_GLOBAL_DEFAULT); });
}

HttpClient::HttpClient(std::string ca_file) : impl_(std::make_unique<Impl>()) {
  global_init();
  impl_->curl = curl_easy_init();
  impl_->ca_file = std::move(ca_file);
}

HttpClient::~HttpClient() {
  if (impl_->curl != nullptr) {
    curl_easy_cleanup(impl_->curl);
  }
}

HttpResponse HttpClient::get(const std::string& url) { return perform(url, "GET", nullptr); }
HttpResponse HttpClient::head(const std::string& url) { return perform(url, "HEAD", nullptr); }
HttpResponse HttpClient::post_jose(const std::string& url, const std::string& body) {
  return perform(url, "POST", &body);
}

HttpResponse HttpClient::perform(const std::string& url, const char* method,
                                 const std::string* body) {
  HttpResponse r;
  CURL* c = impl_->curl;
  if (c == nullptr) {
    r.error = "curl_easy_init failed";
    return r;
  }
  curl_easy_reset(c);
  curl_easy_setopt(c, CURLOPT_URL, url.c_str());
  curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "https");
  curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
  curl_easy_setopt(c, CURLOPT_TIMEOUT, kTimeoutSeconds);
  curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT, 10L);
  curl_easy_setopt(c, CURLOPT_USERAGENT, "portcullis-acme/1");
  curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_body);
  curl_easy_setopt(c, CURLOPT_WRITEDATA, &r);
  curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, on_header);
  curl_easy_setopt(c, CURLOPT_HEADERDATA, &r);
  if (!impl_->ca_file.empty()) {
    curl_easy_setopt(c, CURLOPT_CAINFO, impl_->ca_file.c_str());
  }
  curl_slist* headers = nullptr;
  if (std::string_view(method) == "HEAD") {
    curl_easy_setopt(c, CURLOPT_NOBODY, 1L);
  } else if (body != nullptr) {
    headers = curl_slist_append(headers, "Content-Type: application/jose+json");
    curl_easy_setopt(c, CURLOPT_HTTPHEADER, headers);
    curl_easy_setopt(c, CURLOPT_POSTFIELDS, body->data());
    curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE, static_cast<long>(body->size()));
  }
  const CURLcode rc = curl_easy_perform(c);
  curl_slist_free_all(headers);
  if (rc != CURLE_OK) {
    r.status = 0;
    r.error = curl_easy_strerror(rc);
    return r;
  }
  curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &r.status);
  return r;
}

std::chrono::seconds parse_retry_after(const std::string& value) {
  if (value.empty()) {
    return std::chrono::seconds{0};
  }
  if (std::all_of(value.begin(), value.end(), [](unsigned char c) { return std::isdigit(c); })) {
    try {
      return std::chrono::seconds{std::min<long long>(std::stoll(value), 86400LL * 7)};
    } catch (...) {
      return std::chrono::seconds{0};
    }
  }
  const time_t when = curl_getdate(value.c_str(), nullptr);
  const time_t now = std::time(nullptr);
  return when > now ? std::chrono::seconds{when - now} : std::chrono::seconds{0};
}

}  // namespace portcullis::gateway::acme
