#include "certs/cli.h"

#include <cstdio>
#include <string>
#include <string_view>
#include <vector>

#include "certs/ca.h"
#include "certs/inspect.h"

namespace portcullis::certs {

namespace {

constexpr const char* kUsage =
    "usage:\n"
    "  portcullis certs init-ca --dir DIR --name NAME [--trust-domain TD]\n"
    "  portcullis certs issue   --ca DIR --out PREFIX [--dns NAME]... [--spiffe URI]\n"
    "                           [--ip IP]... [--days N] [--key ec|rsa]\n"
    "  portcullis certs inspect FILE\n";

int usage_error(const std::string& message) {
  std::fprintf(stderr, "portcullis certs: %s\n%s", message.c_str(), kUsage);
  return kCliUsage;
}

int failure(const std::string& message) {
  std::fprintf(stderr, "portcullis certs: %s\n", message.c_str());
  return kCliFailure;
}

struct Option {
  std::string name;
  std::string value;
};

// Splits "--opt value" / "--opt=value" pairs. Returns false (with why) on a stray argument or
// a missing value.
bool parse_options(int argc, char** argv, int first, std::vector<Option>& out,
                   std::string& why) {
  for (int i = first; i < argc; ++i) {
    std::string_view arg = argv[i];
    if (arg.substr(0, 2) != "--" || arg.size() == 2) {
      why = "unexpected argument \"" + std::string(arg) + "\"";
      return false;
    }
    arg.remove_prefix(2);
    if (const std::size_t eq = arg.find('='); eq != std::string_view::npos) {
      out.push_back(Option{std::string(arg.substr(0, eq)), std::string(arg.substr(eq + 1))});
      continue;
    }
    if (i + 1 >= argc) {
      why = "--" + std::string(arg) + " needs a value";
      return false;
    }
    out.push_back(Option{std::string(arg), argv[++i]});
  }
  return true;
}

bool parse_int(const std::string& text, int& out) {
  if (text.empty() || text.size() > 9) {
    return false;
  }
  int v = 0;
  for (char c : text) {
    if (c < '0' || c > '9') {
      return false;
    }
    v = v * 10 + (c - '0');
  }
  out = v;
  return true;
}

int run_init_ca(int argc, char** argv) {
  std::vector<Option> options;
  std::string why;
  if (!parse_options(argc, argv, 2, options, why)) {
    return usage_error(why);
  }
  std::string dir, name, trust_domain;
  for (const Option& o : options) {
    if (o.name == "dir") {
      dir = o.value;
    } else if (o.name == "name") {
      name = o.value;
    } else if (o.name == "trust-domain") {
      trust_domain = o.value;
    } else {
      return usage_error("init-ca: unknown option --" + o.name);
    }
  }
  if (dir.empty()) {
    return usage_error("init-ca: --dir is required");
  }
  if (name.empty()) {
    return usage_error("init-ca: --name is required");
  }
  std::string err;
  if (!init_ca(dir, name, trust_domain, err)) {
    return failure("init-ca: " + err);
  }
  std::printf("wrote %s/ca.pem and %s/ca.key\n", dir.c_str(), dir.c_str());
  return kCliOk;
}

int run_issue(int argc, char** argv) {
  std::vector<Option> options;
  std::string why;
  if (!parse_options(argc, argv, 2, options, why)) {
    return usage_error(why);
  }
  IssueOptions issue_options;
  for (const Option& o : options) {
    if (o.name == "ca") {
      issue_options.ca_dir = o.value;
    } else if (o.name == "out") {
      issue_options.out_prefix = o.value;
    } else if (o.name == "dns") {
      issue_options.dns.push_back(o.value);
    } else if (o.name == "spiffe") {
      if (!issue_options.spiffe.empty()) {
        return usage_error("issue: --spiffe may be given once");
      }
      issue_options.spiffe = o.value;
    } else if (o.name == "ip") {
      issue_options.ip.push_back(o.value);
    } else if (o.name == "days") {
      if (!parse_int(o.value, issue_options.days) || issue_options.days < 1 ||
          issue_options.days > 36500) {
        return usage_error("issue: --days must be a number of days from 1 to 36500");
      }
    } else if (o.name == "key") {
      if (o.value != "ec" && o.value != "rsa") {
        return usage_error("issue: --key must be \"ec\" or \"rsa\"");
      }
      issue_options.key = o.value;
    } else {
      return usage_error("issue: unknown option --" + o.name);
    }
  }
  if (issue_options.ca_dir.empty()) {
    return usage_error("issue: --ca is required");
  }
  if (issue_options.out_prefix.empty()) {
    return usage_error("issue: --out is required");
  }
  if (issue_options.dns.empty() && issue_options.spiffe.empty() && issue_options.ip.empty()) {
    return usage_error("issue: give at least one --dns, --spiffe or --ip");
  }
  std::string err;
  if (!issue(issue_options, err)) {
    return failure("issue: " + err);
  }
  std::printf("wrote %s.pem and %s.key\n", issue_options.out_prefix.c_str(),
              issue_options.out_prefix.c_str());
  return kCliOk;
}

int run_inspect(int argc, char** argv) {
  if (argc != 3) {
    return usage_error("inspect takes exactly one FILE");
  }
  bool ok = false;
  const std::string text = inspect(argv[2], ok);
  if (!ok) {
    return failure("inspect: " + text);
  }
  std::fputs(text.c_str(), stdout);
  return kCliOk;
}

}  // namespace

int certs_main(int argc, char** argv) {
  if (argc < 2) {
    return usage_error("missing subcommand");
  }
  const std::string_view command = argv[1];
  // --help / -h anywhere: the usage on stdout, before any option is parsed ("--help" would
  // otherwise be an option missing its value).
  for (int i = 1; i < argc; ++i) {
    const std::string_view arg = argv[i];
    if (arg == "--help" || arg == "-h") {
      std::fputs(kUsage, stdout);
      return kCliOk;
    }
  }
  if (command == "init-ca") {
    return run_init_ca(argc, argv);
  }
  if (command == "issue") {
    return run_issue(argc, argv);
  }
  if (command == "inspect") {
    return run_inspect(argc, argv);
  }
  if (command == "help" || command == "--help" || command == "-h") {
    std::fputs(kUsage, stdout);
    return kCliOk;
  }
  return usage_error("unknown subcommand \"" + std::string(command) + "\"");
}

}  // namespace portcullis::certs
