"""Processes, ports, waiting, the per-test temporary directory, and shared test data.

Everything runs on loopback with free ports (bind port 0, read it, close), in a temporary
directory per test, and stops only the processes it started, by pid.

Environment (set by run.py):
  PORTCULLIS_BIN        path of the portcullis binary under test
  PORTCULLIS_ITEST_RUN  a directory shared by all tests of one run (for the large test blob)
  PORTCULLIS_ITEST_KEEP "1" keeps each test's temporary directory
"""

import glob
import hashlib
import os
import re
import shutil
import signal
import random
import socket
import subprocess
import tempfile
import threading
import time
import urllib.error
import urllib.request

__all__ = [
    'MIB', 'Skip', 'TestFailure', 'check', 'portcullis_bin', 'free_port',
    'ipv6_loopback_available', 'run', 'wait_for', 'tcp_connectable', 'http_get', 'rss_kib',
    'RssSampler', 'Proc', 'TestEnv', 'shared_blob', 'sha256_file', 'fd_count', 'pid_gone'
]


MIB = 1024 * 1024


class Skip(Exception):
    """Raised by a test that cannot run here; run.py prints SKIP with the reason."""


class TestFailure(AssertionError):
    pass


def check(cond, message):
    if not cond:
        raise TestFailure(message)


def portcullis_bin():
    path = os.environ.get("PORTCULLIS_BIN", "")
    check(path and os.path.exists(path), f"portcullis binary not found: {path!r}")
    return path


# ---------------------------------------------------------------------------------------------
# processes, ports, waiting

def free_port(host="127.0.0.1"):
    """A port free now, for a process to listen on a moment later. Picked below the kernel's
    ephemeral range: a port from bind(0) is an ephemeral one, and any test's outgoing
    connection may take it as its source port before the gateway binds it (the gateway no
    longer shares ports via SO_REUSEPORT, so that race ended in "address already in use")."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    for _ in range(200):
        port = random.randint(20000, 32000)
        with socket.socket(family, socket.SOCK_STREAM) as s:
            try:
                s.bind((host, port))
            except OSError:
                continue
            return port
    with socket.socket(family, socket.SOCK_STREAM) as s:
        s.bind((host, 0))
        return s.getsockname()[1]


def ipv6_loopback_available():
    try:
        with socket.socket(socket.AF_INET6, socket.SOCK_STREAM) as s:
            s.bind(("::1", 0))
        return True
    except OSError:
        return False


def run(argv, timeout=60, input=None, cwd=None, env=None):
    """Runs a command to completion; returns CompletedProcess with text stdout/stderr."""
    try:
        return subprocess.run(argv, input=input, capture_output=True, text=True, timeout=timeout,
                              cwd=cwd, env=env, errors="replace")
    except subprocess.TimeoutExpired as e:
        raise TestFailure(f"timed out after {timeout}s: {' '.join(argv)}") from e


def wait_for(pred, timeout, what, interval=0.05):
    deadline = time.monotonic() + timeout
    while True:
        value = pred()
        if value:
            return value
        if time.monotonic() > deadline:
            raise TestFailure(f"timed out after {timeout}s waiting for {what}")
        time.sleep(interval)


def tcp_connectable(host, port):
    try:
        with socket.create_connection((host, port), timeout=0.5):
            return True
    except OSError:
        return False


def http_get(url, timeout=2.0):
    """Plain-HTTP GET (admin endpoints). Returns (status, body) or (None, error text)."""
    try:
        with urllib.request.urlopen(url, timeout=timeout) as r:
            return r.status, r.read().decode("utf-8", "replace")
    except urllib.error.HTTPError as e:
        return e.code, e.read().decode("utf-8", "replace")
    except (OSError, ValueError) as e:
        return None, str(e)


def rss_kib(pid):
    try:
        with open(f"/proc/{pid}/status", encoding="ascii") as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1])
    except OSError:
        pass
    return None


class RssSampler:
    """Samples VmRSS of a pid every interval seconds in a thread; max_kib after stop()."""

    def __init__(self, pid, interval=0.05):
        self.pid = pid
        self.interval = interval
        self.baseline_kib = rss_kib(pid) or 0
        self.max_kib = self.baseline_kib
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, daemon=True)

    def _loop(self):
        while not self._stop.is_set():
            v = rss_kib(self.pid)
            if v is not None:
                self.max_kib = max(self.max_kib, v)
            self._stop.wait(self.interval)

    def __enter__(self):
        self._thread.start()
        return self

    def __exit__(self, *exc):
        self._stop.set()
        self._thread.join()

    @property
    def growth_mib(self):
        return (self.max_kib - self.baseline_kib) / 1024.0


class Proc:
    """A child process we started; stdout/stderr go to files in the test directory."""

    def __init__(self, name, argv, directory, cwd=None, env=None):
        self.name = name
        self.argv = argv
        self.out_path = os.path.join(directory, f"{name}.out")
        self.err_path = os.path.join(directory, f"{name}.err")
        self._out = open(self.out_path, "wb")
        self._err = open(self.err_path, "wb")
        self.popen = subprocess.Popen(argv, stdout=self._out, stderr=self._err,
                                      stdin=subprocess.DEVNULL, cwd=cwd, env=env)
        self.pid = self.popen.pid
        self.expected_exit = False  # set once we stop it (or a test expects it to exit)

    def alive(self):
        return self.popen.poll() is None

    def send_signal(self, sig):
        if self.alive():
            os.kill(self.pid, sig)

    def wait(self, timeout):
        try:
            return self.popen.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            return None

    def stop(self, sig=signal.SIGTERM, timeout=10):
        """Signals our own pid, waits, and SIGKILLs it if it does not exit. Returns exit code."""
        self.expected_exit = True
        if self.alive():
            try:
                os.kill(self.pid, sig)
            except ProcessLookupError:
                pass
            if self.wait(timeout) is None:
                os.kill(self.pid, signal.SIGKILL)
                self.popen.wait()
        for f in (self._out, self._err):
            if not f.closed:
                f.close()
        return self.popen.returncode

    def stdout_text(self):
        self._out.flush()
        with open(self.out_path, encoding="utf-8", errors="replace") as f:
            return f.read()

    def stderr_text(self):
        self._err.flush()
        with open(self.err_path, encoding="utf-8", errors="replace") as f:
            return f.read()

    def sanitizer_report(self):
        """The head of this process's ASan/LSan report when tests/sanitize.sh sends reports to
        log_path (so they are not in the stderr file): a gateway that aborted early shows why."""
        m = re.search(r"(?:^|:)log_path=([^:]+)", os.environ.get("ASAN_OPTIONS", ""))
        if not m:
            return ""
        text = ""
        for path in sorted(glob.glob(f"{m.group(1)}.{self.pid}*")):
            with open(path, encoding="utf-8", errors="replace") as f:
                text += f"--- {path}\n" + "".join(f.readlines()[:60])
        return text

    def describe(self):
        report = self.sanitizer_report()
        return (f"{self.name} (pid {self.pid}, exit {self.popen.poll()}) stderr tail:\n"
                + self.stderr_text()[-2000:] + (f"\nsanitizer report:\n{report}" if report else ""))


class TestEnv:
    """Temporary directory + the processes a test started. Use as a context manager."""

    def __init__(self, name="test"):
        self.dir = tempfile.mkdtemp(prefix=f"pc-itest-{name}-")
        os.chmod(self.dir, 0o755)  # nginx workers may run as another user
        self.procs = []

    def path(self, *parts):
        return os.path.join(self.dir, *parts)

    def mkdir(self, *parts):
        p = self.path(*parts)
        os.makedirs(p, exist_ok=True)
        return p

    def write(self, relpath, text):
        p = self.path(relpath)
        os.makedirs(os.path.dirname(p), exist_ok=True)
        with open(p, "w", encoding="utf-8") as f:
            f.write(text)
        return p

    def start(self, name, argv, cwd=None, env=None):
        proc = Proc(name, argv, self.dir, cwd=cwd, env=env)
        self.procs.append(proc)
        return proc

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        for proc in reversed(self.procs):
            code = proc.popen.poll()
            if code is not None and code != 0 and not proc.expected_exit:
                how = f"signal {-code}" if code < 0 else f"exit {code}"
                print(f"  NOTE: {proc.name} (pid {proc.pid}) died during the test: {how}")
            try:
                proc.stop()
            except Exception:  # noqa: BLE001 - cleanup must go on
                pass
        if os.environ.get("PORTCULLIS_ITEST_KEEP") != "1":
            shutil.rmtree(self.dir, ignore_errors=True)
        else:
            print(f"  (kept {self.dir})")



# ---------------------------------------------------------------------------------------------
# large test data, shared by all tests of one run

def shared_blob(size_mib=256):
    """A file of size_mib MiB of random bytes, made once per run. Returns (path, sha256 hex)."""
    base = os.environ.get("PORTCULLIS_ITEST_RUN") or tempfile.gettempdir()
    path = os.path.join(base, f"blob-{size_mib}M.bin")
    digest_path = path + ".sha256"
    if not (os.path.exists(path) and os.path.exists(digest_path)):
        h = hashlib.sha256()
        with open(path + ".tmp", "wb") as f:
            for _ in range(size_mib):
                chunk = os.urandom(MIB)
                h.update(chunk)
                f.write(chunk)
        os.rename(path + ".tmp", path)
        with open(digest_path, "w", encoding="ascii") as f:
            f.write(h.hexdigest())
    with open(digest_path, encoding="ascii") as f:
        return path, f.read().strip()


def sha256_file(path):
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while True:
            b = f.read(4 * MIB)
            if not b:
                return h.hexdigest()
            h.update(b)



def fd_count(pid):
    try:
        return len(os.listdir(f"/proc/{pid}/fd"))
    except OSError:
        return -1


def pid_gone(pid):
    """True once pid has exited (a zombie left for a non-reaping init counts as gone)."""
    try:
        with open(f"/proc/{pid}/stat", encoding="utf-8") as f:
            return f.read().rsplit(")", 1)[1].split()[0] in ("Z", "X")
    except FileNotFoundError:
        return True
