"""The Helm chart (packaging/helm/portcullis), rendered for its default values and for
ci/example-values.yaml by helm_render.py (helm is not packaged for Debian). Every manifest must
parse, and the chart must keep what issue #15 asks of it: directory mounts (no subPath), a
PodDisruptionBudget, an admin Service, an optional ServiceMonitor, a NetworkPolicy, a
ServiceAccount, topology spread, a startupProbe, a termination grace period that covers preStop
+ drain_delay + drain_timeout, a memory limit, the restricted Pod Security Standard,
cert-manager's key names and one Secret per tenant. Exit 77 (SKIP) without python3-yaml.

    /usr/bin/python3 tests/packaging/helm_test.py SOURCE_ROOT
"""

import os
import re
import sys
import tomllib

try:
    import yaml
except ImportError:
    print("SKIP: python3-yaml is not installed (packaging/install-deps.sh installs it)")
    sys.exit(77)

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import helm_render  # noqa: E402


class Failure(Exception):
    pass


def check(cond, what):
    if not cond:
        raise Failure(what)


def seconds(duration):
    m = re.fullmatch(r"(\d+)s", duration)
    check(m, f"duration {duration!r} is not in seconds")
    return int(m.group(1))


def manifests(rendered):
    docs = []
    for name, text in rendered.items():
        for doc in yaml.safe_load_all(text):  # raises on a YAML error: the test fails
            if doc is not None:
                check({"apiVersion", "kind", "metadata"} <= doc.keys(), f"{name}: {doc}")
                docs.append(doc)
    return docs


def by_kind(docs, kind):
    return [d for d in docs if d["kind"] == kind]


def one(docs, kind, name=None):
    found = [d for d in by_kind(docs, kind) if name is None or d["metadata"]["name"] == name]
    check(len(found) == 1, f"want one {kind} {name or ''}, got {len(found)}")
    return found[0]


def walk(node):
    if isinstance(node, dict):
        yield node
        for v in node.values():
            yield from walk(v)
    elif isinstance(node, list):
        for v in node:
            yield from walk(v)


def check_release(docs, values, release="gw"):
    labels = {"app.kubernetes.io/name": "portcullis", "app.kubernetes.io/instance": release}
    dep = one(docs, "Deployment")
    pod = dep["spec"]["template"]
    check(pod["metadata"]["labels"] == labels, "pod labels")
    spec = pod["spec"]

    # directory mounts only: a subPath never sees the kubelet's updates
    check(not any("subPath" in n or "subPathExpr" in n for n in walk(dep)), "a subPath mount")

    # restricted Pod Security Standard
    psc = spec["securityContext"]
    check(psc.get("runAsNonRoot") is True, "pod runAsNonRoot")
    check(psc.get("seccompProfile", {}).get("type") == "RuntimeDefault", "pod seccomp")
    containers = spec["containers"] + spec.get("initContainers", [])
    for c in containers:
        sc = c.get("securityContext", {})
        check(sc.get("allowPrivilegeEscalation") is False, f"{c['name']}: privilege escalation")
        check(sc.get("readOnlyRootFilesystem") is True, f"{c['name']}: writable root")
        check(sc.get("capabilities", {}).get("drop") == ["ALL"], f"{c['name']}: capabilities")
        check(sc.get("runAsNonRoot", psc.get("runAsNonRoot")) is True, f"{c['name']}: root")
        check(sc.get("seccompProfile", psc.get("seccompProfile", {})).get("type")
              in ("RuntimeDefault", "Localhost"), f"{c['name']}: seccomp")
        check((c["resources"].get("limits") or {}).get("memory"), f"{c['name']}: no memory limit")
    check(len(spec["containers"]) == 1, "one container")
    gw = spec["containers"][0]
    for probe in ("startupProbe", "readinessProbe", "livenessProbe"):
        check(probe in gw, f"no {probe}")
    check(gw["readinessProbe"]["httpGet"]["path"] == "/readyz", "readiness is not /readyz")

    # ServiceAccount, no token
    sa = one(docs, "ServiceAccount")
    check(spec["serviceAccountName"] == sa["metadata"]["name"], "serviceAccountName")
    check(spec.get("automountServiceAccountToken") is False, "a token is mounted")

    # topology spread over zones and nodes, for these pods
    tsc = spec["topologySpreadConstraints"]
    check({t["topologyKey"] for t in tsc} >= {"topology.kubernetes.io/zone",
                                              "kubernetes.io/hostname"}, "topology keys")
    check(all(t["labelSelector"]["matchLabels"] == labels for t in tsc), "spread selector")

    # configuration: gateway.toml and tenant files, parsed as TOML
    cfg = one(docs, "ConfigMap", f"{release}-config")
    gateway = tomllib.loads(cfg["data"]["gateway.toml"])
    tenants_cm = one(docs, "ConfigMap", f"{release}-tenants")
    tenant_files = {k: tomllib.loads(v) for k, v in (tenants_cm.get("data") or {}).items()}
    check(set(tenant_files) == {f"{n}.toml" for n in values["tenants"]}, "one file per tenant")

    mounts = {m["name"]: m["mountPath"] for m in gw["volumeMounts"]}
    vols = {v["name"]: v for v in spec["volumes"]}
    check(vols["config"]["configMap"]["name"] == cfg["metadata"]["name"], "config volume")
    check(vols["tenants"]["configMap"]["name"] == tenants_cm["metadata"]["name"], "tenants vol")
    check(os.path.dirname(gw["args"][-1]) == mounts["config"], "run -c is not in the mount")
    check(gateway["gateway"]["tenants_dir"] == mounts["tenants"], "tenants_dir vs mount")

    # cert-manager key names, one Secret per tenant, keys readable by the pod's group only
    mesh = gateway["mesh"]
    check(mesh["ca"] == mounts["mesh"] + "/ca.crt" and mesh["cert"] == mounts["mesh"] +
          "/tls.crt" and mesh["key"] == mounts["mesh"] + "/tls.key", f"mesh paths {mesh}")
    check(vols["mesh"]["secret"]["secretName"] == values["mesh"]["secretName"], "mesh secret")
    secret_vols = [v for v in spec["volumes"] if "secret" in v]
    check(len(secret_vols) == 1 + len(values["tenants"]), "not one Secret per tenant")
    names = [v["secret"]["secretName"] for v in secret_vols]
    check(len(set(names)) == len(names), f"a Secret shared: {names}")
    for v in secret_vols:
        check(v["secret"].get("defaultMode") == 0o440, f"{v['name']}: key mode")
        check("items" not in v["secret"], f"{v['name']}: items pick keys (cert-manager's names)")
    check(psc.get("fsGroup") == psc.get("runAsGroup"), "fsGroup is not the pod's group")
    for name, t in values["tenants"].items():
        f = tenant_files[f"{name}.toml"]
        d = mounts[f"tenant-{name}"]
        check(f["tls"]["cert"] == d + "/tls.crt" and f["tls"]["key"] == d + "/tls.key",
              f"{name}: tls paths")
        check(("client_ca" in f["tls"]) == bool(t.get("clientAuth")), f"{name}: client_ca")
        if t.get("clientAuth"):
            check(f["tls"]["client_ca"] == d + "/ca.crt", f"{name}: client_ca path")
        check(vols[f"tenant-{name}"]["secret"]["secretName"] ==
              t.get("secretName", f"{name}-tls"), f"{name}: secret name")
        check(f["hosts"] == t["hosts"], f"{name}: hosts")

    # shutdown: the grace period covers preStop + drain_delay + drain_timeout
    pre = gw.get("lifecycle", {}).get("preStop", {}).get("sleep", {}).get("seconds", 0)
    check(pre == values["preStopSeconds"], "preStop sleep")
    need = pre + seconds(gateway["gateway"]["drain_delay"]) + \
        seconds(gateway["gateway"]["drain_timeout"])
    grace = spec["terminationGracePeriodSeconds"]
    check(grace > need, f"terminationGracePeriodSeconds {grace} <= {need}")

    # PodDisruptionBudget, Services, NetworkPolicy, ServiceMonitor
    pdb = one(docs, "PodDisruptionBudget")
    check(pdb["spec"]["selector"]["matchLabels"] == labels, "PDB selector")
    check("maxUnavailable" in pdb["spec"] or "minAvailable" in pdb["spec"], "PDB budget")
    admin = one(docs, "Service", f"{release}-admin")
    check(admin["spec"]["type"] == "ClusterIP", "admin Service exposed outside the cluster")
    check(admin["spec"]["ports"][0]["targetPort"] == "admin", "admin Service port")
    check(gateway["admin"]["listen"].endswith(":%d" % next(
        p["containerPort"] for p in gw["ports"] if p["name"] == "admin")), "admin port")
    public = one(docs, "Service", release)
    check(public["spec"]["ports"][0]["targetPort"] == "https", "public Service port")
    check(gateway["listener"][0]["address"].endswith(":%d" % next(
        p["containerPort"] for p in gw["ports"] if p["name"] == "https")), "listener port")
    netpol = one(docs, "NetworkPolicy")
    check(netpol["spec"]["podSelector"]["matchLabels"] == labels, "NetworkPolicy selector")
    admin_rules = [r for r in netpol["spec"]["ingress"]
                   if any(p["port"] == "admin" for p in r["ports"])]
    check(all(r.get("from") for r in admin_rules), "admin port open to everyone")
    monitors = by_kind(docs, "ServiceMonitor")
    check(len(monitors) == (1 if values["serviceMonitor"]["enabled"] else 0), "ServiceMonitor")
    for m in monitors:
        check(m["spec"]["selector"]["matchLabels"].items() <= admin["metadata"]["labels"].items(),
              "ServiceMonitor does not select the admin Service")
    certs = by_kind(docs, "Certificate")
    if values["certManager"]["enabled"]:
        check({c["spec"]["secretName"] for c in certs} == set(names), "Certificates vs Secrets")
    else:
        check(not certs, "Certificates without cert-manager")
    return len(docs)


def main():
    root = sys.argv[1] if len(sys.argv) > 1 else "."
    chart = os.path.join(root, "packaging", "helm", "portcullis")
    with open(os.path.join(chart, "values.yaml"), encoding="utf-8") as f:
        defaults = yaml.safe_load(f)
    with open(os.path.join(chart, "ci", "example-values.yaml"), encoding="utf-8") as f:
        example = yaml.safe_load(f)
    failed = 0
    for label, over in (("default values", None), ("ci/example-values.yaml", example)):
        try:
            docs = manifests(helm_render.render_chart(chart, over))
            n = check_release(docs, helm_render.deep_merge(defaults, over))
            kinds = sorted({d["kind"] for d in docs})
            print(f"PASS {label}: {n} manifests ({', '.join(kinds)})")
        except (Failure, helm_render.TemplateError, yaml.YAMLError, tomllib.TOMLDecodeError,
                KeyError, StopIteration) as e:
            failed += 1
            print(f"FAIL {label}: {type(e).__name__}: {e}")
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()
