#include "gateway/runtime/sd_notify.h"

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <ctime>
#include <fcntl.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

namespace portcullis::gateway::runtime {

bool sd_notify(const std::string& state) noexcept {
  const char* path = std::getenv("NOTIFY_SOCKET");
  if (path == nullptr || path[0] == '\0') {
    return false;
  }
  sockaddr_un a{};
  a.sun_family = AF_UNIX;
  const std::size_t len = std::strlen(path);
  if ((path[0] != '/' && path[0] != '@') || len >= sizeof a.sun_path) {
    return false;
  }
  std::memcpy(a.sun_path, path, len);
  if (path[0] == '@') {
    a.sun_path[0] = '\0';  // abstract namespace
  }
  const UniqueFd fd(::socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0));
  if (!fd) {
    return false;
  }
  const auto alen = static_cast<socklen_t>(offsetof(sockaddr_un, sun_path) + len);
  return ::sendto(fd.get(), state.data(), state.size(), MSG_NOSIGNAL,
                  reinterpret_cast<const sockaddr*>(&a), alen) == static_cast<ssize_t>(state.size());
}

std::string sd_reloading_message() {
  timespec ts{};
  ::clock_gettime(CLOCK_MONOTONIC, &ts);
  const auto usec = static_cast<unsigned long long>(ts.tv_sec) * 1'000'000ULL +
                    static_cast<unsigned long long>(ts.tv_nsec) / 1000ULL;
  return "RELOADING=1\nMONOTONIC_USEC=" + std::to_string(usec);
}

std::vector<PassedSocket> sd_listen_sockets() {
  std::vector<PassedSocket> out;
  const char* pid = std::getenv("LISTEN_PID");
  const char* fds = std::getenv("LISTEN_FDS");
  const char* names = std::getenv("LISTEN_FDNAMES");
  const bool ours = pid != nullptr && fds != nullptr &&
                    std::strtoll(pid, nullptr, 10) == static_cast<long long>(::getpid());
  const long n = ours ? std::strtol(fds, nullptr, 10) : 0;
  std::string name_list = names != nullptr ? names : "";
  ::unsetenv("LISTEN_PID");
  ::unsetenv("LISTEN_FDS");
  ::unsetenv("LISTEN_FDNAMES");
  constexpr int kFirst = 3;  // SD_LISTEN_FDS_START
  std::size_t at = 0;
  for (long i = 0; i < n && i < 1024; ++i) {
    const int fd = kFirst + static_cast<int>(i);
    ::fcntl(fd, F_SETFD, FD_CLOEXEC);
    std::string name;
    if (at <= name_list.size()) {
      const std::size_t end = std::min(name_list.find(':', at), name_list.size());
      name = name_list.substr(at, end - at);
      at = end + 1;
    }
    out.push_back(PassedSocket{std::move(name), "", UniqueFd(fd)});
  }
  return out;
}

}  // namespace portcullis::gateway::runtime
