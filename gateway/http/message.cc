// Helpers over protocol-neutral message heads (see message.h).
#include "gateway/http/message.h"

#include <algorithm>
#include <array>

namespace portcullis::gateway::http {

const std::string* find_header(const Headers& h, std::string_view name) noexcept {
  for (const Header& f : h) {
    if (f.name == name) {
      return &f.value;
    }
  }
  return nullptr;
}

void remove_header(Headers& h, std::string_view name) {
  h.erase(std::remove_if(h.begin(), h.end(), [name](const Header& f) { return f.name == name; }),
          h.end());
}

bool is_hop_by_hop(std::string_view lower_name) noexcept {
  static constexpr std::array<std::string_view, 9> kHopByHop = {
      "connection", "keep-alive",          "proxy-connection",    "transfer-encoding", "te",
      "upgrade",    "proxy-authenticate", "proxy-authorization", "trailer"};
  for (std::string_view h : kHopByHop) {
    if (h == lower_name) {
      return true;
    }
  }
  return false;
}

}  // namespace portcullis::gateway::http
