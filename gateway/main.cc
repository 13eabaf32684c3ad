// portcullis: the command line. run | check | demo | certs | version; nothing else lives here.
#include <csignal>
#include <cstdio>
#include <cstring>
#include <iostream>
#include <string>
#include <vector>

#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include "certs/cli.h"
#include "gateway/acme/status_cli.h"
#include "gateway/config/check.h"
#include "gateway/runtime/demo.h"
#include "gateway/runtime/server.h"

namespace {

constexpr const char* kVersion = "0.1.0";

void usage() {
  std::fputs(
      "usage:\n"
      "  portcullis run   -c gateway.toml     serve until SIGTERM/SIGINT\n"
      "  portcullis check -c gateway.toml     validate everything; exit 0 ok, 1 errors\n"
      "  portcullis demo  [--dir DIR]         write a demo PKI + config, print curl commands, "
      "serve\n"
      "  portcullis certs init-ca|issue|inspect ...   the internal CA\n"
      "  portcullis certs acme status -c gateway.toml [--json]   ACME certificates and renewals\n"
      "  portcullis version\n",
      stderr);
}

// "-c FILE" / "--config FILE" / "-cFILE".
std::string config_arg(int argc, char** argv) {
  for (int i = 2; i < argc; ++i) {
    if ((std::strcmp(argv[i], "-c") == 0 || std::strcmp(argv[i], "--config") == 0) &&
        i + 1 < argc) {
      return argv[i + 1];
    }
    if (std::strncmp(argv[i], "-c", 2) == 0 && argv[i][2] != '\0') {
      return argv[i] + 2;
    }
  }
  return {};
}

// A free loopback port: bind port 0, read it back, release it.
std::uint16_t free_port() {
  const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof a;
  ::bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a);
  ::getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len);
  ::close(fd);
  return ntohs(a.sin_port);
}

int run_server(const std::string& path) {
  // Writes to a closed client must be errors, not a process kill.
  std::signal(SIGPIPE, SIG_IGN);
  portcullis::gateway::runtime::Server server(path);
  return server.run();
}

int demo(int argc, char** argv) {
  portcullis::gateway::runtime::DemoLayout layout;
  for (int i = 2; i < argc; ++i) {
    if (std::strcmp(argv[i], "--dir") == 0 && i + 1 < argc) {
      layout.dir = argv[++i];
    } else {
      usage();
      return 2;
    }
  }
  if (layout.dir.empty()) {
    char tmpl[] = "/tmp/portcullis-demo-XXXXXX";
    if (::mkdtemp(tmpl) == nullptr) {
      std::perror("mkdtemp");
      return 1;
    }
    layout.dir = tmpl;
  }
  layout.public_port = free_port();
  layout.mesh_port = free_port();
  layout.admin_port = free_port();
  std::string err;
  if (!portcullis::gateway::runtime::write_demo(layout, err)) {
    std::fprintf(stderr, "portcullis demo: %s\n", err.c_str());
    return 1;
  }
  std::cout << portcullis::gateway::runtime::demo_instructions(layout) << std::flush;
  return run_server(layout.config_path);
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 2) {
    usage();
    return 2;
  }
  const std::string cmd = argv[1];
  if (cmd == "version" || cmd == "--version") {
    std::printf("portcullis %s\n", kVersion);
    return 0;
  }
  if (cmd == "run" || cmd == "check") {
    const std::string path = config_arg(argc, argv);
    if (path.empty()) {
      usage();
      return 2;
    }
    if (cmd == "check") {
      return portcullis::gateway::config::run_check(path, std::cout);
    }
    return run_server(path);
  }
  if (cmd == "demo") {
    return demo(argc, argv);
  }
  if (cmd == "certs" && argc >= 4 && std::strcmp(argv[2], "acme") == 0 &&
      std::strcmp(argv[3], "status") == 0) {
    const std::string path = config_arg(argc, argv);
    if (path.empty()) {
      usage();
      return 2;
    }
    bool json = false;
    for (int i = 4; i < argc; ++i) {
      json = json || std::strcmp(argv[i], "--json") == 0;
    }
    return portcullis::gateway::acme::status_main(path, json, std::cout);
  }
  if (cmd == "certs") {
    return portcullis::certs::certs_main(argc - 1, argv + 1);
  }
  usage();
  return 2;
}
