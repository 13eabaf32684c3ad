// The [admin] section of gateway.toml: the admin listener's address and how it authenticates
// (issue #17): a bearer token from token_file, and/or TLS with client certificates.
#include <sys/stat.h>

#include <fstream>
#include <sstream>

#include "gateway/config/reader.h"
#include "gateway/config/validate.h"

namespace portcullis::gateway::config {

using detail::Reader;

namespace {

// The token file: a secret, so refused when anyone may read it, and when it holds no token.
void read_token(Reader& r, const toml::node& n, const std::string& path, AdminSection& out) {
  const Pos pos = r.pos(n);
  struct stat st {};
  if (::stat(path.c_str(), &st) != 0 || !S_ISREG(st.st_mode)) {
    r.error(pos, "token_file " + path + " cannot be read", "a regular file, mode 0600 or 0640");
    return;
  }
  if ((st.st_mode & S_IROTH) != 0) {
    r.error(pos, "token_file " + path + " is readable by everyone", "chmod 0600 (or 0640)");
    return;
  }
  std::ifstream in(path, std::ios::binary);
  std::stringstream buf;
  buf << in.rdbuf();
  if (!in) {
    r.error(pos, "token_file " + path + " cannot be read", "a regular file, mode 0600 or 0640");
    return;
  }
  std::string token = buf.str();
  const auto first = token.find_first_not_of(" \t\r\n");
  const auto last = token.find_last_not_of(" \t\r\n");
  token = first == std::string::npos ? "" : token.substr(first, last - first + 1);
  if (token.empty()) {
    r.error(pos, "token_file " + path + " is empty", "a file holding one token (e.g. "
            "`openssl rand -hex 32`)");
    return;
  }
  // The token travels in an HTTP header: one line of visible characters.
  for (const char c : token) {
    if (c <= ' ' || c == 0x7f) {
      r.error(pos, "token_file " + path + " holds spaces or control characters",
              "one token of visible characters");
      return;
    }
  }
  out.token = std::move(token);
}

}  // namespace

void read_admin_section(Reader& r, const toml::table& a, AdminSection& out) {
  r.known_keys(a, {"listen", "token_file", "cert", "key", "client_ca", "protect_metrics"},
               "[admin]");
  std::string s;
  if (const auto* n = r.str(a, "listen", s)) {
    out.pos = r.pos(*n);
    if (!s.empty() && !parse_socket_address(s)) {
      r.error(r.pos(*n), "admin listen = \"" + s + "\" is not a valid address",
              std::string(detail::kAddressAccepted) + R"(, or "" to disable)");
    }
    out.listen = s;
  }
  if (const auto* n = r.str(a, "token_file", s)) {
    out.pos_token_file = r.pos(*n);
    if (s.empty()) {
      r.error(r.pos(*n), "token_file must not be empty", "a file path");
    } else {
      out.token_file = r.resolve(s);
      read_token(r, *n, out.token_file, out);
    }
  }
  const auto* cert = r.str(a, "cert", s);
  if (cert != nullptr) {
    out.cert = r.resolve(s);
    out.pos_cert = r.pos(*cert);
  }
  const auto* key = r.str(a, "key", s);
  if (key != nullptr) {
    out.key = r.resolve(s);
  }
  if (out.cert.empty() != out.key.empty()) {
    r.error(r.pos(cert != nullptr ? *cert : *key), "[admin] TLS needs both cert and key",
            "cert = \"admin.pem\" and key = \"admin.key\"");
  }
  if (const auto* n = r.str(a, "client_ca", s)) {
    out.client_ca = r.resolve(s);
    if (out.cert.empty()) {
      r.error(r.pos(*n), "[admin] client_ca needs TLS on the admin listener (cert and key)",
              "cert and key beside client_ca");
    }
  }
  r.boolean(a, "protect_metrics", out.protect_metrics);
}

}  // namespace portcullis::gateway::config
