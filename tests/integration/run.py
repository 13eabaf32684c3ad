#!/usr/bin/python3
"""Runs the Portcullis integration tests.

Discovers test_*.py next to this file (shared helpers live in the harness/ package, which test
files import; a test file that imports another test file stops the run), runs every function named test_* in its own child process
(own session, so a timeout can stop the child and everything it started, by process group id),
prints "PASS name", "FAIL name: why" or "SKIP name: why", and ends with "N passed, N failed".
Exits 1 if any test failed.

    run.py --portcullis build/gateway/portcullis [-k SUBSTRING]... [--timeout S] [--keep] [--list]
"""

import argparse
import importlib
import inspect
import os
import re
import signal
import shutil
import subprocess
import sys
import tempfile
import time
import traceback

HERE = os.path.dirname(os.path.abspath(__file__))
RESULT_MARK = "@@itest-result@@ "
TEST_IMPORT_RE = re.compile(r"^\s*(?:from\s+test_\w+\s+import|import\s+test_\w+)", re.M)


def discover(patterns):
    sys.path.insert(0, HERE)
    tests = []
    for fname in sorted(os.listdir(HERE)):
        if not (fname.startswith("test_") and fname.endswith(".py")):
            continue
        modname = fname[:-3]
        with open(os.path.join(HERE, fname), encoding="utf-8") as f:
            m = TEST_IMPORT_RE.search(f.read())
        if m:
            sys.exit(f"run.py: {fname} imports another test file ({m.group(0).strip()}); "
                     "put shared helpers in harness/")
        module = importlib.import_module(modname)
        funcs = [(obj.__code__.co_firstlineno, name, obj)
                 for name, obj in vars(module).items()
                 if name.startswith("test_") and inspect.isfunction(obj)
                 and obj.__module__ == modname]
        for _, name, obj in sorted(funcs):
            full = f"{modname}.{name}"
            if patterns and not any(p in full for p in patterns):
                continue
            timeout = getattr(obj, "timeout", None)
            tests.append((full, timeout))
    return tests


def run_one(full):
    """Child side: run one test function, print one result line, exit 0 (pass), 1, or 2 (skip)."""
    sys.path.insert(0, HERE)
    import harness  # noqa: E402  pylint: disable=import-outside-toplevel
    modname, name = full.split(".", 1)
    func = getattr(importlib.import_module(modname), name)
    try:
        func()
    except harness.Skip as e:
        print(f"{RESULT_MARK}SKIP {e}", flush=True)
        return 2
    except AssertionError as e:
        msg = str(e) or "assertion failed"
        tb = traceback.extract_tb(e.__traceback__)
        where = next((f"{os.path.basename(f.filename)}:{f.lineno}" for f in reversed(tb)
                      if os.path.basename(f.filename).startswith("test_")), "")
        print(traceback.format_exc(), file=sys.stderr)
        print(f"{RESULT_MARK}FAIL {where + ': ' if where else ''}{msg}", flush=True)
        return 1
    except Exception as e:  # noqa: BLE001 - any error is a failure with its reason
        print(traceback.format_exc(), file=sys.stderr)
        print(f"{RESULT_MARK}FAIL {type(e).__name__}: {e}", flush=True)
        return 1
    print(f"{RESULT_MARK}PASS", flush=True)
    return 0


def one_line(text, limit=600):
    text = " | ".join(line.strip() for line in text.strip().splitlines() if line.strip())
    return text if len(text) <= limit else text[:limit] + "..."


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--portcullis", default=os.environ.get("PORTCULLIS_BIN", ""))
    ap.add_argument("-k", action="append", default=[], help="run tests whose name contains this")
    ap.add_argument("--timeout", type=float, default=180.0, help="per-test timeout, seconds")
    ap.add_argument("--keep", action="store_true", help="keep temporary directories")
    ap.add_argument("--list", action="store_true")
    ap.add_argument("--verbose", "-v", action="store_true", help="print each test's output")
    ap.add_argument("--one", help=argparse.SUPPRESS)
    args = ap.parse_args()

    if args.one:
        sys.exit(run_one(args.one))

    tests = discover(args.k)
    if args.list:
        for full, _ in tests:
            print(full)
        return 0
    if not args.portcullis:
        print("run.py: --portcullis PATH is required", file=sys.stderr)
        return 2
    env = dict(os.environ)
    env["PORTCULLIS_BIN"] = os.path.abspath(args.portcullis)
    run_dir = tempfile.mkdtemp(prefix="pc-itest-run-")
    env["PORTCULLIS_ITEST_RUN"] = run_dir
    if args.keep:
        env["PORTCULLIS_ITEST_KEEP"] = "1"
    env["PYTHONDONTWRITEBYTECODE"] = "1"

    passed = failed = skipped = 0
    started = time.monotonic()
    try:
        for full, timeout in tests:
            timeout = timeout or args.timeout
            t0 = time.monotonic()
            child = subprocess.Popen([sys.executable, os.path.abspath(__file__), "--one", full],
                                     stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                     stdin=subprocess.DEVNULL, env=env, text=True,
                                     errors="replace", start_new_session=True)
            try:
                out, _ = child.communicate(timeout=timeout)
                timed_out = False
            except subprocess.TimeoutExpired:
                timed_out = True
                # the child leads its own process group: stop it and whatever it started
                for sig in (signal.SIGTERM, signal.SIGKILL):
                    try:
                        os.killpg(child.pid, sig)
                    except ProcessLookupError:
                        break
                    try:
                        out, _ = child.communicate(timeout=5)
                        break
                    except subprocess.TimeoutExpired:
                        continue
                else:
                    out = ""
            # anything the test left behind in its process group goes too
            try:
                os.killpg(child.pid, signal.SIGKILL)
            except (ProcessLookupError, PermissionError):
                pass
            secs = time.monotonic() - t0
            result = [line[len(RESULT_MARK):] for line in (out or "").splitlines()
                      if line.startswith(RESULT_MARK)]
            verdict = result[-1] if result else ""
            log = "\n".join(line for line in (out or "").splitlines()
                            if not line.startswith(RESULT_MARK))
            if timed_out:
                failed += 1
                print(f"FAIL {full}: timed out after {timeout:.0f}s", flush=True)
                print("  " + log[-3000:].replace("\n", "\n  "), flush=True)
            elif verdict.startswith("PASS"):
                passed += 1
                print(f"PASS {full} ({secs:.1f}s)", flush=True)
                if args.verbose and log.strip():
                    print("  " + log.replace("\n", "\n  "), flush=True)
            elif verdict.startswith("SKIP"):
                skipped += 1
                print(f"SKIP {full}: {verdict[5:]}", flush=True)
            else:
                failed += 1
                why = verdict[5:] if verdict.startswith("FAIL") else (
                    f"exit {child.returncode}, no result line")
                print(f"FAIL {full}: {one_line(why)} ({secs:.1f}s)", flush=True)
                if log.strip():
                    print("  " + log[-4000:].replace("\n", "\n  "), flush=True)
    finally:
        shutil.rmtree(run_dir, ignore_errors=True)
    if skipped:
        print(f"{skipped} skipped")
    print(f"total {time.monotonic() - started:.1f}s")
    print(f"{passed} passed, {failed} failed")
    return 1 if failed or passed + failed == 0 else 0


if __name__ == "__main__":
    sys.exit(main())
