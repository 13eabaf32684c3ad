// Blocking HTTPS for the ACME client, through libcurl (one easy handle per HttpClient).
// Thread: one HttpClient per thread; curl_global_init runs once (Http::global_init) before any
// thread starts.
#pragma once

#include <chrono>
#include <map>
#include <memory>
#include <string>

namespace portcullis::gateway::acme {

struct HttpResponse {
  long status = 0;            // 0: transport failure (see error)
  std::string body;
  std::map<std::string, std::string> headers;  // lower-case names; last value wins
  std::string error;
  std::string header(const std::string& lower) const {
    auto it = headers.find(lower);
    return it == headers.end() ? std::string() : it->second;
  }
};

class HttpClient {
 public:
  // `ca_file`: PEM roots for the directory's TLS; "" = the system store.
  explicit HttpClient(std::string ca_file);
  ~HttpClient();
  HttpClient(const HttpClient&) = delete;
  HttpClient& operator=(const HttpClient&) = delete;

  static void global_init();

  HttpResponse get(const std::string& url);
  HttpResponse head(const std::string& url);
  HttpResponse post_jose(const std::string& url, const std::string& body);

 private:
  HttpResponse perform(const std::string& url, const char* method, const std::string* body);
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

// Seconds from a Retry-After value (delta-seconds or HTTP-date); 0 when absent or malformed.
std::chrono::seconds parse_retry_after(const std::string& value);

}  // namespace portcullis::gateway::acme
