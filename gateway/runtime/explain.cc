#include "gateway/runtime/explain.h"

#include <cstring>
#include <map>
#include <ostream>
#include <string>

#include "gateway/egress/destination.h"
#include "gateway/snapshot/router.h"
#include "gateway/snapshot/snapshot.h"

namespace portcullis::gateway::runtime {
namespace {

constexpr const char* kUsage =
    "usage:\n"
    "  portcullis explain -c FILE --sni NAME --host NAME --path PATH [--listener NAME]\n"
    "  portcullis explain -c FILE --identity SPIFFE_ID --destination HOST[:PORT]\n"
    "Prints what the gateway would do with the request (decision, tenant, route, cluster,\n"
    "endpoints and the identity the upstream must present; or the egress entry and its\n"
    "checks), from the configuration alone.\n";

const config::ListenerConfig* pick_listener(const config::Config& cfg, const std::string& name,
                                            config::ListenerConfig::Kind kind) {
  for (const auto& l : cfg.listeners) {
    if (name.empty() ? l.kind == kind : l.name == name) {
      return &l;
    }
  }
  return nullptr;
}

std::string lower(std::string s) {
  for (char& c : s) {
    if (c >= 'A' && c <= 'Z') {
      c = static_cast<char>(c - 'A' + 'a');
    }
  }
  return s;
}

int explain_ingress(const Snapshot& snap, std::map<std::string, std::string>& a,
                    std::ostream& out, std::ostream& err) {
  const auto* l = pick_listener(snap.config, a["--listener"], config::ListenerConfig::Kind::ingress);
  const ListenerRuntime* lr = l == nullptr ? nullptr : snap.listener(l->name);
  if (lr == nullptr || l->kind != config::ListenerConfig::Kind::ingress) {
    err << "portcullis explain: no ingress listener" +
               (a["--listener"].empty() ? std::string() : " \"" + a["--listener"] + "\"")
        << "\n";
    return 2;
  }
  out << "listener: " << l->name << "\n";
  // The ClientHello callback's choice (tls/sni.cc): the SNI's tenant, else unknown_sni's.
  const std::string sni = lower(a["--sni"]);
  RouteInput in;
  if (const tls::TenantTls* t = sni.empty() ? nullptr : snap.sni.find(sni)) {
    in.tenant = t->tenant;
  } else if (lr->selector.fallback) {
    in.tenant = *lr->selector.fallback;
    in.tenant_by_fallback = true;
  } else {
    out << "decision: refuse\n"
        << "reason: " << to_string(Reason::tls_unknown_sni) << "\n"
        << "detail: no tenant serves SNI \"" << sni
        << "\" and the listener's unknown_sni = \"reject\": the handshake fails with alert "
           "unrecognized_name\n";
    return 0;
  }
  const TenantRuntime& tenant = snap.tenants[in.tenant];
  in.authority = a["--host"].empty() ? std::string_view(sni) : std::string_view(a["--host"]);
  in.path = a["--path"].empty() ? std::string_view("/") : std::string_view(a["--path"]);
  const RouteResult r = route_request(snap, in);
  std::string head;
  head += "tenant: " + tenant.cfg->name + (in.tenant_by_fallback ? " (unknown_sni)" : "") + "\n";
  head += "host: " + std::string(in.authority) + "\n";
  head += "path: " + std::string(in.path) + "\n";
  if (r.cluster == nullptr) {
    out << "decision: reply\n" << head << "status: " << r.reply.status << "\n"
        << "reason: " << (r.reply.why == Reason::none ? "none" : to_string(r.reply.why)) << "\n"
        << "route: " << r.route << "\n"
        << "body: " << r.reply.body << "\n";
    return 0;
  }
  const ClusterRuntime& c = *r.cluster;
  out << "decision: forward\n" << head << "route: " << r.route << "\n"
      << "cluster: " << c.cfg->name << "\n";
  out << "endpoints:";
  for (const auto& e : c.endpoints) {
    out << " " << e.host_port.host << ":" << e.host_port.port;
  }
  out << "\n";
  out << "protocol: " << (c.cfg->protocol == config::ClusterConfig::Protocol::h2 ? "h2" : "http/1.1")
      << "\n";
  if (c.target.ctx == nullptr) {
    out << "upstream_identity: none (plaintext = true)\n";
  } else {
    out << "upstream_identity: "
        << (c.target.expect_uri.empty() ? "dns:" + c.target.expect_dns : c.target.expect_uri)
        << "\n";
    if (!c.target.sni.empty()) {
      out << "upstream_sni: " << c.target.sni << "\n";
    }
  }
  return 0;
}

int explain_egress(const Snapshot& snap, std::map<std::string, std::string>& a,
                   std::ostream& out) {
  const std::string& source = a["--identity"];
  const auto dest = egress::parse_destination(a["--destination"]);
  if (!dest) {
    out << "decision: deny\nreason: " << to_string(Reason::egress_bad_destination) << "\n"
        << "detail: \"" << a["--destination"] << "\" names no valid destination\n";
    return 0;
  }
  const routing::Decision d = snap.egress_policy.decide(source, dest->host, dest->port);
  out << "decision: " << (d.allow ? "allow" : "deny") << "\n"
      << "source: " << (source.empty() ? "(none)" : source) << "\n"
      << "destination: " << egress::destination_text(*dest) << "\n"
      << "reason: " << d.reason << "\n";
  if (!d.rule || *d.rule >= snap.egress.size()) {
    return 0;
  }
  const config::EgressConfig& e = *snap.egress[*d.rule].cfg;
  out << "entry: " << e.host << ":" << e.port << " (" << e.pos.file << ":" << e.pos.line << ")\n";
  std::string allow;
  for (const auto& s : e.allow) {
    allow += (allow.empty() ? "" : " ") + s;
  }
  out << "allow: " << allow << "\n"
      << "mode: " << e.mode << "\n"
      << "roots: " << e.ca << "\n"
      << "pins: " << (e.pins.empty() ? std::string("none") : std::to_string(e.pins.size()))
      << "\n"
      << "min_tls: " << e.min_tls << "\n"
      << "address_class: "
      << (e.allow_private ? "any (allow_private = true)"
                          : "public only: private, loopback and link-local answers are refused")
      << "\n";
  return 0;
}

}  // namespace

int explain_main(int argc, char** argv, std::ostream& out, std::ostream& err) {
  std::map<std::string, std::string> a;
  for (int i = 1; i < argc; ++i) {
    std::string k = argv[i];
    if (k == "--help" || k == "-h") {
      out << kUsage;
      return 0;
    }
    if (k == "-c") {
      k = "--config";
    } else if (k == "--source") {
      k = "--identity";
    }
    static const char* const kKeys[] = {"--config", "--sni", "--host", "--path", "--listener",
                                        "--identity", "--destination"};
    bool known = false;
    for (const char* key : kKeys) {
      known = known || k == key;
    }
    if (!known || i + 1 >= argc) {
      err << kUsage;
      return 2;
    }
    a[k] = argv[++i];
  }
  const bool egress = a.count("--destination") != 0;
  if (a["--config"].empty() || (!egress && a["--sni"].empty() && a["--host"].empty())) {
    err << kUsage;
    return 2;
  }
  BuildResult built = load_snapshot(a["--config"], 1);
  if (!built.snapshot) {
    for (const auto& d : built.errors) {
      err << d.format() << "\n";
    }
    return 1;
  }
  return egress ? explain_egress(*built.snapshot, a, out)
                : explain_ingress(*built.snapshot, a, out, err);
}

}  // namespace portcullis::gateway::runtime
