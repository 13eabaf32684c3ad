"""DESIGN "Buffers are bounded ... with backpressure": large bodies stream both ways.

256 MiB (PORTCULLIS_ITEST_BLOB_MIB to change) up and down through the gateway with curl over
HTTP/1.1 and HTTP/2, bodies checked by sha256, and the gateway's VmRSS (sampled from
/proc/<pid>/status during the transfer) must grow by less than 64 MiB.
"""

import hashlib
import os
import subprocess

import harness as h

BLOB_MIB = int(os.environ.get("PORTCULLIS_ITEST_BLOB_MIB", "256"))
MAX_RSS_GROWTH_MIB = 64


def _curl_argv(t, path, http2, extra=()):
    return ["curl", "-sS", "--fail", "--max-time", "240",
            "--http2" if http2 else "--http1.1",
            "--resolve", f"{h.ACME_HOST}:{t.gw.port}:127.0.0.1",
            "--cacert", h.tenant_ca_pem(t, "acme"), *extra,
            f"https://{h.ACME_HOST}:{t.gw.port}{path}"]


def _download(path, http2):
    with h.TestEnv("stream") as env:
        blob, digest = h.shared_blob(BLOB_MIB)
        t = h.build_topology(env)
        t.nginx.add_file("blob.bin", blob)
        h.check(h.get(t, "acme", "/warmup").status == 200, "warm-up request failed")
        sha = hashlib.sha256()
        size = 0
        with h.RssSampler(t.gw.proc.pid) as rss:
            p = subprocess.Popen(_curl_argv(t, path, http2), stdout=subprocess.PIPE,
                                 stderr=subprocess.PIPE)
            while True:
                chunk = p.stdout.read(1 << 20)
                if not chunk:
                    break
                sha.update(chunk)
                size += len(chunk)
            err = p.stderr.read().decode("utf-8", "replace")
            rc = p.wait(timeout=60)
        h.check(rc == 0, f"curl exit {rc}: {err}")
        h.check(size == BLOB_MIB * h.MIB, f"downloaded {size} bytes, want {BLOB_MIB} MiB")
        h.check(sha.hexdigest() == digest, "downloaded body differs (sha256)")
        h.check(rss.growth_mib < MAX_RSS_GROWTH_MIB,
                f"gateway RSS grew {rss.growth_mib:.1f} MiB during a {BLOB_MIB} MiB download "
                f"(baseline {rss.baseline_kib} KiB, max {rss.max_kib} KiB)")


def _upload(http2, chunked=False, via="/upload/"):
    with h.TestEnv("stream") as env:
        blob, digest = h.shared_blob(BLOB_MIB)
        t = h.build_topology(env)
        h.check(h.get(t, "acme", "/warmup").status == 200, "warm-up request failed")
        name = f"up-{int(http2)}-{int(chunked)}.bin"
        if chunked:  # from stdin: HTTP/1.1 chunked, HTTP/2 without content-length
            extra = ["-T", "-", "-o", "/dev/null", "-w", "%{http_code}"]
        else:
            extra = ["-T", blob, "-o", "/dev/null", "-w", "%{http_code}"]
        with h.RssSampler(t.gw.proc.pid) as rss:
            with open(blob, "rb") as stdin:
                r = subprocess.run(_curl_argv(t, via + name, http2, extra),
                                   stdin=stdin if chunked else subprocess.DEVNULL,
                                   capture_output=True, timeout=300, check=False)
        out = r.stdout.decode("utf-8", "replace")
        h.check(r.returncode == 0 and out in ("201", "204"),
                f"upload: curl exit {r.returncode}, status {out}: {r.stderr.decode()[-500:]}")
        stored = t.nginx.uploaded(name)
        h.check(os.path.exists(stored), "nothing arrived at the upstream")
        h.check(os.path.getsize(stored) == BLOB_MIB * h.MIB,
                f"upstream got {os.path.getsize(stored)} bytes, want {BLOB_MIB} MiB")
        h.check(h.sha256_file(stored) == digest, "uploaded body differs at the upstream (sha256)")
        h.check(rss.growth_mib < MAX_RSS_GROWTH_MIB,
                f"gateway RSS grew {rss.growth_mib:.1f} MiB during a {BLOB_MIB} MiB upload "
                f"(baseline {rss.baseline_kib} KiB, max {rss.max_kib} KiB)")


def test_download_large_http1():
    _download("/files/blob.bin", http2=False)


def test_download_large_http2():
    _download("/files/blob.bin", http2=True)


def test_download_large_http2_via_h2_cluster():
    _download("/h2/files/blob.bin", http2=True)


def test_upload_large_http1():
    _upload(http2=False)


def test_upload_large_http2():
    _upload(http2=True)


def test_upload_large_http1_chunked():
    _upload(http2=False, chunked=True)


def test_upload_large_http2_via_h2_cluster_no_length():
    _upload(http2=True, chunked=True, via="/h2/upload/")


for _f in list(globals().values()):
    if callable(_f) and getattr(_f, "__name__", "").startswith("test_"):
        _f.timeout = 400
