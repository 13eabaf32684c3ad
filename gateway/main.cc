// portcullis: the command line. run | check | demo | certs | version; nothing else lives here.
#include <cerrno>
#include <csignal>
#include <cstdio>
#include <cstdlib>
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
#include "gateway/config/profile.h"
#include "gateway/observe/audit_cli.h"
#include "gateway/runtime/build_commit.h"
#include "gateway/runtime/build_info.h"
#include "gateway/runtime/demo.h"
#include "gateway/runtime/explain.h"
#include "gateway/runtime/server.h"
#include "gateway/runtime/upgrade.h"

namespace {

constexpr const char* kUsage =
      "usage:\n"
      "  portcullis run   -c gateway.toml     serve until SIGTERM/SIGINT\n"
      "      [--takeover]                      take the sockets of the running process\n"
      "  portcullis check -c gateway.toml     validate everything; exit 0 ok, 1 errors\n"
      "  portcullis reload -c gateway.toml --pid PID   check as the running gateway would, then "
      "SIGHUP\n"
      "  portcullis upgrade --pid PID         SIGUSR2: PID restarts from the binary now on disk "
      "(hand-off)\n"
      "  portcullis check -c gateway.toml --profile hipaa|soc2   and refuse what the profile "
      "forbids\n"
      "  portcullis demo  [--dir DIR]         write a demo PKI + config, print curl commands, "
      "serve\n"
      "  portcullis certs init-ca|issue|inspect ...   the internal CA\n"
      "  portcullis explain -c gateway.toml --sni NAME --host NAME --path PATH   (ingress)\n"
      "  portcullis explain -c gateway.toml --identity ID --destination HOST[:PORT]  (egress)\n"
      "  portcullis audit verify [--key FILE] FILE...  check the audit log's hash chain\n"
      "  portcullis certs acme status -c gateway.toml [--json]   ACME certificates and renewals\n"
      "  portcullis version                   version, commit and library versions\n"
      "  portcullis COMMAND --help            this text (certs: the certs commands)\n";

// Asked for (--help, -h, help): stdout, exit 0. A usage error: stderr, exit 2.
void usage() { std::fputs(kUsage, stderr); }

int help() {
  std::fputs(kUsage, stdout);
  return 0;
}

// "--help" or "-h" anywhere after the command (before "--").
bool wants_help(int argc, char** argv) {
  for (int i = 2; i < argc && std::strcmp(argv[i], "--") != 0; ++i) {
    if (std::strcmp(argv[i], "--help") == 0 || std::strcmp(argv[i], "-h") == 0) {
      return true;
    }
  }
  return false;
}

int version() {
  std::printf("portcullis %s\ncommit %s\n%s", PORTCULLIS_VERSION, PORTCULLIS_BUILD_COMMIT,
              portcullis::gateway::runtime::library_versions().c_str());
  return 0;
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

// "--NAME VALUE" / "--NAME=VALUE", or "".
std::string flag_arg(int argc, char** argv, const char* name) {
  const std::size_t n = std::strlen(name);
  for (int i = 2; i < argc; ++i) {
    if (std::strcmp(argv[i], name) == 0 && i + 1 < argc) {
      return argv[i + 1];
    }
    if (std::strncmp(argv[i], name, n) == 0 && argv[i][n] == '=') {
      return argv[i] + n + 1;
    }
  }
  return {};
}

// `reload -c FILE --pid PID` (systemd's ExecReload): SIGHUP to PID only when the running gateway
// would apply the configuration (errors confined to tenants quarantine them and do not stop it),
// else exit 1 with check's report, so `systemctl reload` fails visibly and nothing is signalled.
int reload(int argc, char** argv) {
  const std::string path = config_arg(argc, argv);
  const std::string pid_text = flag_arg(argc, argv, "--pid");
  char* end = nullptr;
  const long pid = std::strtol(pid_text.c_str(), &end, 10);
  if (path.empty() || pid_text.empty() || *end != '\0' || pid <= 1) {
    usage();
    return 2;
  }
  if (portcullis::gateway::config::run_check(path, std::cout, {}, true) != 0) {
    std::fprintf(stderr, "portcullis reload: refused; the running gateway keeps its configuration\n");
    return 1;
  }
  if (::kill(static_cast<pid_t>(pid), SIGHUP) != 0) {
    std::fprintf(stderr, "portcullis reload: cannot signal pid %ld: %s\n", pid, std::strerror(errno));
    return 1;
  }
  return 0;
}

// `upgrade --pid PID`: SIGUSR2, once PID is known to handle it (a gateway older than the
// upgrade hand-off would die of it: exit 1 then, and the caller restarts instead).
bool catches_sigusr2(long pid) {
  const std::string path = "/proc/" + std::to_string(pid) + "/status";
  std::FILE* f = std::fopen(path.c_str(), "re");
  if (f == nullptr) {
    return false;
  }
  char line[256];
  unsigned long long mask = 0;
  bool found = false;
  while (std::fgets(line, sizeof line, f) != nullptr) {
    if (std::strncmp(line, "SigCgt:", 7) == 0) {
      mask = std::strtoull(line + 7, nullptr, 16);
      found = true;
    }
  }
  std::fclose(f);
  return found && (mask & (1ULL << (SIGUSR2 - 1))) != 0;
}

int upgrade(int argc, char** argv) {
  const std::string pid_text = flag_arg(argc, argv, "--pid");
  char* end = nullptr;
  const long pid = std::strtol(pid_text.c_str(), &end, 10);
  if (pid_text.empty() || *end != '\0' || pid <= 1) {
    usage();
    return 2;
  }
  if (!catches_sigusr2(pid)) {
    std::fprintf(stderr, "portcullis upgrade: pid %ld does not handle SIGUSR2 (not running, or "
                 "older than the hand-off upgrade): restart it instead\n", pid);
    return 1;
  }
  if (::kill(static_cast<pid_t>(pid), SIGUSR2) != 0) {
    std::fprintf(stderr, "portcullis upgrade: cannot signal pid %ld: %s\n", pid,
                 std::strerror(errno));
    return 1;
  }
  return 0;
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

int run_server(const std::string& path, bool takeover, std::vector<std::string> self = {}) {
  // Writes to a closed client must be errors, not a process kill.
  std::signal(SIGPIPE, SIG_IGN);
  portcullis::gateway::runtime::Server server(path, takeover);
  server.set_upgrade_command(std::move(self));
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
  return run_server(layout.config_path, false);
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 2) {
    usage();
    return 2;
  }
  const std::string cmd = argv[1];
  if (cmd == "--help" || cmd == "-h" || cmd == "help") {
    return help();
  }
  if (cmd != "certs" && wants_help(argc, argv)) {
    return help();
  }
  if (cmd == "version" || cmd == "--version") {
    return version();
  }
  if (cmd == "reload") {
    return reload(argc, argv);
  }
  if (cmd == "upgrade") {
    return upgrade(argc, argv);
  }
  if (cmd == "run" || cmd == "check") {
    const std::string path = config_arg(argc, argv);
    if (path.empty()) {
      usage();
      return 2;
    }
    if (cmd == "check") {
      const std::string profile = flag_arg(argc, argv, "--profile");
      if (!profile.empty() && !portcullis::gateway::config::known_profile(profile)) {
        std::fprintf(stderr, "portcullis check: unknown profile \"%s\" (hipaa, soc2)\n",
                     profile.c_str());
        return 2;
      }
      return portcullis::gateway::config::run_check(path, std::cout, profile);
    }
    bool takeover = false;
    for (int i = 2; i < argc; ++i) {
      takeover = takeover || std::strcmp(argv[i], "--takeover") == 0;
    }
    // The path as started, resolved now: after a package upgrade it names the new binary.
    std::vector<std::string> self{portcullis::gateway::runtime::resolve_self(argv[0])};
    for (int i = 1; i < argc; ++i) {
      self.emplace_back(argv[i]);
    }
    if (self[0].empty()) {
      self.clear();
    }
    return run_server(path, takeover, std::move(self));
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
  if (cmd == "explain") {
    return portcullis::gateway::runtime::explain_main(argc - 1, argv + 1, std::cout, std::cerr);
  }
  if (cmd == "audit") {
    return portcullis::gateway::observe::audit_main(argc - 1, argv + 1, std::cout, std::cerr);
  }
  if (cmd == "certs") {
    return portcullis::certs::certs_main(argc - 1, argv + 1);
  }
  usage();
  return 2;
}
