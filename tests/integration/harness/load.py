"""CurlLoad: curl in a loop against a gateway's acme tenant, for tests that count failed
requests across a drain, a hand-off, an upgrade or a rolling restart.

Each curl run fetches urls_per_curl (default URLS_PER_CURL) URLs over one keep-alive connection (HTTP/1.1 or HTTP/2);
every one must be a 200, so a refused connection or a cut request is a failure. The loop is
bounded and ends when `stop` is set.
"""

import subprocess
import threading

from .topology import ACME_HOST, tenant_ca_pem

__all__ = ['URLS_PER_CURL', 'CurlLoad']

URLS_PER_CURL = 10


class CurlLoad(threading.Thread):
    def __init__(self, t, port, path, http2, rounds=5000, urls_per_curl=URLS_PER_CURL):
        super().__init__(daemon=True)
        self.http2, self.rounds, self.urls = http2, rounds, urls_per_curl
        self.ok = 0
        self.failures = []
        self.stop = threading.Event()
        url = f"https://{ACME_HOST}:{port}{path}"
        self.argv = ["curl", "-sS", "--max-time", "15", "--resolve",
                     f"{ACME_HOST}:{port}:127.0.0.1", "--cacert", tenant_ca_pem(t, "acme"),
                     "--http2" if http2 else "--http1.1", "-w", "%{http_code}\\n"]
        for _ in range(urls_per_curl):
            self.argv += ["-o", "/dev/null", url]

    def run(self):
        for _ in range(self.rounds):  # bounded; stopped by the test long before
            if self.stop.is_set():
                return
            r = subprocess.run(self.argv, capture_output=True, text=True, timeout=60)
            codes = r.stdout.split()
            self.ok += codes.count("200")
            if r.returncode != 0 or codes != ["200"] * self.urls:
                self.failures.append(f"rc={r.returncode} codes={codes} {r.stderr[-300:]}")
