#!/usr/bin/env python3
"""packaging/monitoring: every metric the Grafana dashboard and the alert rules query is one the
README documents (so a renamed metric breaks CI, not a dashboard), the dashboard is valid JSON
with a query in every panel, and `promtool check rules` accepts the alert rules.

Usage: check_monitoring.py SOURCE_ROOT [rules|dashboard]. Exit 77 (meson: skipped) when the
rules check needs promtool (Debian's prometheus package) and it is absent.
"""

import json
import os
import re
import shutil
import subprocess
import sys

METRIC = re.compile(r"\bportcullis_[a-z0-9_]*[a-z0-9]")
HISTOGRAM_SUFFIXES = ("_bucket", "_sum", "_count")


def documented(root):
    with open(os.path.join(root, "README.md"), encoding="utf-8") as f:
        return set(METRIC.findall(f.read()))


def base_name(name, known):
    if name in known:
        return name
    for suffix in HISTOGRAM_SUFFIXES:
        if name.endswith(suffix) and name[: -len(suffix)] in known:
            return name[: -len(suffix)]
    return None


def unknown_metrics(text, known):
    return sorted({m for m in METRIC.findall(text) if base_name(m, known) is None})


def check_dashboard(root, known):
    path = os.path.join(root, "packaging", "monitoring", "grafana-dashboard.json")
    with open(path, encoding="utf-8") as f:
        dash = json.load(f)
    errors = []
    exprs = []
    for panel in dash.get("panels", []):
        targets = [t.get("expr", "") for t in panel.get("targets", [])]
        if not targets or not all(targets):
            errors.append(f"panel {panel.get('title')!r} has no query")
        exprs += targets
    for var in dash.get("templating", {}).get("list", []):
        if var.get("type") == "query":
            exprs.append(var.get("query", ""))
    if not exprs:
        errors.append("the dashboard has no queries")
    bad = unknown_metrics("\n".join(exprs), known)
    if bad:
        errors.append("dashboard queries metrics README does not document: " + ", ".join(bad))
    return errors, len(exprs)


def check_rules(root, known):
    path = os.path.join(root, "packaging", "monitoring", "alerts.yml")
    with open(path, encoding="utf-8") as f:
        text = f.read()
    exprs = "\n".join(line for line in text.splitlines()
                      if not line.lstrip().startswith(("summary:", "description:", "#")))
    errors = []
    bad = unknown_metrics(exprs, known)
    if bad:
        errors.append("alert rules query metrics README does not document: " + ", ".join(bad))
    promtool = shutil.which("promtool")
    if promtool is None:
        return errors, None
    r = subprocess.run([promtool, "check", "rules", path], capture_output=True, text=True,
                       timeout=60)
    if r.returncode != 0:
        errors.append("promtool check rules failed:\n" + r.stdout + r.stderr)
    return errors, r.stdout.strip()


def main():
    root = sys.argv[1]
    which = sys.argv[2] if len(sys.argv) > 2 else "dashboard"
    known = documented(root)
    if not known:
        print("FAIL: README documents no portcullis_ metric")
        return 1
    if which == "rules":
        errors, promtool_out = check_rules(root, known)
        if not errors and promtool_out is None:
            print("SKIP: promtool absent (Debian package prometheus); metric names checked")
            return 77
        info = promtool_out
    else:
        errors, n = check_dashboard(root, known)
        info = f"{n} dashboard queries name documented metrics"
    for e in errors:
        print("FAIL:", e)
    if errors:
        return 1
    print("ok:", info)
    return 0


if __name__ == "__main__":
    sys.exit(main())
