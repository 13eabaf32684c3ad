"""The one Prometheus text parser and the helpers that read /metrics through it."""

import re

from .procs import TestFailure, check, wait_for

__all__ = ['parse_metrics', 'metrics', 'metric_sum', 'metric_has', 'scrape_sum',
           'wait_metric_above']


def parse_metrics(text):
    """Prometheus text -> list of (name, {labels}, float). Fails on a malformed line."""
    out = []
    line_re = re.compile(r'^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{(.*)\})?\s+(\S+)(\s+\d+)?$')
    label_re = re.compile(r'\s*([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"\s*,?')
    for n, line in enumerate(text.splitlines(), 1):
        if not line.strip() or line.startswith("#"):
            continue
        m = line_re.match(line)
        check(m is not None, f"/metrics line {n} is not `name{{labels}} value`: {line!r}")
        labels = {}
        raw = m.group(3) or ""
        pos = 0
        while pos < len(raw):
            lm = label_re.match(raw, pos)
            check(lm is not None and lm.end() > pos, f"/metrics line {n}: bad labels: {line!r}")
            labels[lm.group(1)] = lm.group(2)
            pos = lm.end()
        value = m.group(4)
        try:
            v = float(value)
        except ValueError:
            raise TestFailure(f"/metrics line {n}: bad value: {line!r}") from None
        out.append((m.group(1), labels, v))
    return out


def metrics(gw):
    status, body = gw.admin_get("/metrics")
    check(status == 200, f"/metrics {status}: {body[:300]}")
    return parse_metrics(body)


def metric_sum(samples, name, **labels):
    """Sum of the samples of `name` whose labels include the given ones (0 if none)."""
    return sum(v for n, l, v in samples
               if n == name and all(l.get(k) == want for k, want in labels.items()))


def metric_has(samples, name):
    return any(n == name for n, _, _ in samples)


def scrape_sum(gw, name, **labels):
    """metric_sum() of a fresh /metrics scrape of gw."""
    return metric_sum(metrics(gw), name, **labels)


def wait_metric_above(gw, name, before, timeout=5.0, **labels):
    return wait_for(lambda: scrape_sum(gw, name, **labels) > before, timeout,
                    f"{name}{labels} to rise above {before}; /metrics:\n"
                    + "\n".join(line for line in (gw.admin_get("/metrics")[1] or "")
                                 .splitlines() if name in line))
