#include "gateway/config/host_checks.h"

#include <arpa/inet.h>
#include <dirent.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <string>

namespace portcullis::gateway::config {

namespace {

// Closes the probe socket on every path.
struct Fd {
  int fd = -1;
  explicit Fd(int f) : fd(f) {}
  Fd(const Fd&) = delete;
  Fd& operator=(const Fd&) = delete;
  ~Fd() {
    if (fd >= 0) {
      ::close(fd);
    }
  }
};

Diagnostic diag(Diagnostic::Severity sev, Pos pos, std::string message, std::string accepted) {
  Diagnostic d;
  d.severity = sev;
  d.pos = std::move(pos);
  d.message = std::move(message);
  d.accepted = std::move(accepted);
  return d;
}

// Binds what a worker would bind. Returns 0 or an errno; -1 when the
// address is not a numeric "ip:port" / "[ip6]:port" (validate() already reported that).
int try_bind(const std::string& address) {
  const auto colon = address.rfind(':');
  if (colon == std::string::npos) {
    return -1;
  }
  std::string host = address.substr(0, colon);
  const std::string port = address.substr(colon + 1);
  if (host.size() >= 2 && host.front() == '[' && host.back() == ']') {
    host = host.substr(1, host.size() - 2);
  }
  sockaddr_storage ss{};
  socklen_t len = 0;
  const int p = std::atoi(port.c_str());
  auto* v4 = reinterpret_cast<sockaddr_in*>(&ss);
  auto* v6 = reinterpret_cast<sockaddr_in6*>(&ss);
  if (::inet_pton(AF_INET, host.c_str(), &v4->sin_addr) == 1) {
    v4->sin_family = AF_INET;
    v4->sin_port = htons(static_cast<std::uint16_t>(p));
    len = sizeof *v4;
  } else if (::inet_pton(AF_INET6, host.c_str(), &v6->sin6_addr) == 1) {
    v6->sin6_family = AF_INET6;
    v6->sin6_port = htons(static_cast<std::uint16_t>(p));
    len = sizeof *v6;
  } else {
    return -1;
  }
  Fd s(::socket(ss.ss_family, SOCK_STREAM | SOCK_CLOEXEC, 0));
  if (s.fd < 0) {
    return errno;
  }
  const int one = 1;
  ::setsockopt(s.fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  ::setsockopt(s.fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof one);
  if (ss.ss_family == AF_INET6) {
    ::setsockopt(s.fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof one);
  }
  // bind() alone: Linux refuses it next to a listening socket (even with SO_REUSEADDR), and a
  // socket that never listens cannot take connections from a running gateway's group.
  if (::bind(s.fd, reinterpret_cast<sockaddr*>(&ss), len) != 0) {
    return errno;
  }
  return 0;
}

// A gateway running with this state_dir answers on its handoff.sock (runtime/handoff.h; a
// connection that sends nothing asks for nothing). Its listening sockets are the ones in use,
// and a reload or `run --takeover` keeps them: they are not "another program".
bool own_gateway_running(const Config& cfg) {
  if (cfg.gateway.state_dir.empty()) {
    return false;
  }
  const std::string path = cfg.gateway.state_dir + "/handoff.sock";
  sockaddr_un a{};
  if (path.size() >= sizeof a.sun_path) {
    return false;
  }
  a.sun_family = AF_UNIX;
  std::memcpy(a.sun_path, path.c_str(), path.size() + 1);
  Fd s(::socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0));
  return s.fd >= 0 && ::connect(s.fd, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0;
}

void check_listeners(const Config& cfg, std::vector<Diagnostic>& out) {
  int own = -1;  // own_gateway_running(), asked at the first address in use
  for (const auto& l : cfg.listeners) {
    const int err = try_bind(l.address);
    if (err == 0 || err == -1) {
      continue;
    }
    if (err == EADDRINUSE && own < 0) {
      own = own_gateway_running(cfg) ? 1 : 0;
    }
    if (err == EADDRINUSE && own == 1) {
      continue;
    }
    if (err == EADDRINUSE) {
      out.push_back(diag(Diagnostic::Severity::error, l.pos,
                         "listener \"" + l.name + "\": address " + l.address +
                             " is already in use by another program",
                         "a free address, or stop what listens there"));
    } else if (err == EACCES) {
      out.push_back(diag(Diagnostic::Severity::warning, l.pos,
                         "listener \"" + l.name + "\": not allowed to bind " + l.address +
                             " as this user (the service needs CAP_NET_BIND_SERVICE)",
                         ""));
    } else {
      out.push_back(diag(Diagnostic::Severity::error, l.pos,
                         "listener \"" + l.name + "\": cannot bind " + l.address + ": " +
                             std::strerror(err),
                         "an address of this host"));
    }
  }
}

void check_key(const std::string& path, const Pos& pos, std::vector<Diagnostic>& out) {
  struct stat st {};
  if (path.empty() || ::stat(path.c_str(), &st) != 0) {
    return;  // analyze() reports unreadable files
  }
  const bool others = (st.st_mode & S_IROTH) != 0;
  // A group of its own (portcullis:portcullis, a pod's fsGroup) is the usual way to share a
  // key with the service; root's group or a wider group is not.
  const bool group = (st.st_mode & S_IRGRP) != 0 && (st.st_gid == 0 || st.st_gid != ::getegid());
  if (!others && !group) {
    return;
  }
  char mode[8];
  std::snprintf(mode, sizeof mode, "%04o", static_cast<unsigned>(st.st_mode & 07777));
  out.push_back(diag(Diagnostic::Severity::warning, pos,
                     "private key " + path + " is readable by " +
                         (others ? "others" : "its group") + " (mode " + mode + ")",
                     "chmod 0600 (or 0640 with the service's own group)"));
}

void check_tenants_dir(const Config& cfg, std::vector<Diagnostic>& out) {
  const std::string& dir = cfg.gateway.tenants_dir;
  if (dir.empty()) {
    return;
  }
  DIR* d = ::opendir(dir.c_str());
  if (d == nullptr) {
    return;
  }
  while (const dirent* e = ::readdir(d)) {
    const std::string name = e->d_name;
    if (name.empty() || name.front() == '.') {
      continue;
    }
    if (name.size() > 5 && name.compare(name.size() - 5, 5, ".toml") == 0) {
      continue;
    }
    const std::string path = dir + "/" + name;
    struct stat st {};
    if (::stat(path.c_str(), &st) != 0 || S_ISDIR(st.st_mode)) {
      continue;
    }
    Pos pos;
    pos.file = path;
    out.push_back(diag(Diagnostic::Severity::warning, pos,
                       "ignored: tenant files must end in .toml", "rename it to *.toml"));
  }
  ::closedir(d);
}

}  // namespace

std::vector<Diagnostic> host_checks(const Config& cfg) {
  std::vector<Diagnostic> out;
  check_listeners(cfg, out);
  check_key(cfg.mesh.key, cfg.mesh.pos_key, out);
  for (const auto& t : cfg.tenants) {
    check_key(t.key, t.pos_key, out);
  }
  check_tenants_dir(cfg, out);
  return out;
}

}  // namespace portcullis::gateway::config
