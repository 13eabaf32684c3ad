"""CONTRACT "Command line": `portcullis demo --dir DIR` makes a demo PKI + config in DIR, prints the
curl commands to try, then serves it. Every printed command must do what the demo says.

Parsing of the demo's output: every line whose command part starts with `curl` (after optional
"$ " or indentation; backslash continuations joined) is a command. What it should do is read from
a comment on the same line (`curl ... # expect 421`) or the comment/text line just before it: a
three-digit HTTP status is the expected status; words like "fail", "refused", "rejected",
"denied" mean the command is expected not to succeed. Without either, success means curl exits 0
with a status below 400.
"""

import os
import re
import time

import harness as h

STATUS = re.compile(
    r"(?:expect(?:s|ed)?|->|\u2192|=>|status|HTTP(?:/[\d.]+)?|gets?|returns?|answers?|"
    r"responds?(?: with)?)\s*:?\s*([1-5]\d\d)\b"
    r"|\b([1-5]\d\d)\s+(?:OK|Created|Misdirected|Not Found|Bad Gateway|Forbidden|"
    r"Unauthorized|Service Unavailable|Gateway Timeout|Bad Request)\b", re.I)
FAIL_WORDS = re.compile(
    r"\b(fail|fails|failure|refused|rejected|reject|denied|deny|alert|error)\b", re.I)


def parse_demo_commands(text):
    """Returns [(command, expected_status or None, expect_failure bool, hint text)]."""
    lines = text.splitlines()
    joined = []
    buf = ""
    for line in lines:
        if buf:
            buf += " " + line.strip()
        else:
            buf = line
        if buf.rstrip().endswith("\\"):
            buf = buf.rstrip()[:-1].rstrip()
            continue
        joined.append(buf)
        buf = ""
    if buf:
        joined.append(buf)

    commands = []
    previous = ""
    for line in joined:
        stripped = line.strip()
        body = re.sub(r"^(\$|#\s*\$|>)\s*", "", stripped)
        if re.match(r"(curl|portcullis)\s", body):
            cmd, hint = body, previous
            m = re.search(r"\s#\s?(.*)$", body)
            if m:
                cmd, hint = body[:m.start()].strip(), m.group(1) + " " + previous
            status = STATUS.search(hint)
            commands.append((cmd, int(status.group(1) or status.group(2)) if status else None,
                             bool(FAIL_WORDS.search(hint)) and not status, hint.strip()))
            previous = ""
        elif stripped:
            previous = stripped
    return commands


def _run_demo_command(cmd, cwd):
    measured = cmd
    if cmd.startswith("portcullis "):
        measured = h.portcullis_bin() + cmd[len("portcullis"):]
    elif not re.search(r"(\s-w\s|--write-out)", cmd):
        measured = cmd + " -w '\\n@@%{http_code}@@'"
    r = h.run(["bash", "-c", measured], timeout=40, cwd=cwd)
    m = re.search(r"@@(\d{3})@@\s*$", r.stdout)
    return r, int(m.group(1)) if m else None


def test_demo_commands_do_what_they_say():
    with h.TestEnv("demo") as env:
        demo_dir = env.path("demo")
        p = env.start("demo", [h.portcullis_bin(), "demo", "--dir", demo_dir])

        def printed():
            if not p.alive():
                raise h.TestFailure("demo exited: " + p.describe() + "\nstdout:\n"
                                    + p.stdout_text()[-2000:])
            return parse_demo_commands(p.stdout_text())
        h.wait_for(printed, 20, "the demo to print curl commands")
        time.sleep(1.0)  # let it finish printing
        commands = printed()
        h.check(sum(c[0].startswith("curl") for c in commands) >= 2,
                f"demo printed fewer than 2 curl commands:\n"
                f"{p.stdout_text()}")
        h.check(os.path.exists(os.path.join(demo_dir)) and os.listdir(demo_dir),
                f"demo wrote nothing into --dir {demo_dir}")

        failures = []
        for cmd, want_status, want_failure, hint in commands:
            deadline = time.monotonic() + 15
            while True:
                r, status = _run_demo_command(cmd, demo_dir)
                if want_status is not None:
                    ok = status == want_status
                    what = f"want status {want_status}, got {status} (curl exit {r.returncode})"
                elif want_failure:
                    ok = r.returncode != 0 or (status is not None and status >= 400)
                    what = f"want a failure ({hint!r}), got exit 0 status {status}"
                else:
                    ok = r.returncode == 0 and (status is None or status < 400)
                    what = f"want success, got curl exit {r.returncode} status {status}"
                # curl exit 7 (connection refused) early on: the demo may still be starting
                if ok or r.returncode != 7 or time.monotonic() > deadline or not p.alive():
                    break
                time.sleep(0.2)
            if not ok:
                failures.append(f"{cmd}\n    {what}\n    stderr: {r.stderr.strip()[-300:]}")
        if not p.alive():
            failures.append(f"the demo process died: exit {p.popen.returncode}")
        h.check(not failures, "demo commands that did not do what they say:\n  "
                + "\n  ".join(failures) + "\n--- demo output ---\n" + p.stdout_text()[-3000:])
        h.check(p.alive(), "demo stopped serving")
        rc = p.stop()
        h.check(rc == 0, f"demo exit {rc} on SIGTERM, want 0")


def test_demo_output_parser():
    """The parser above, on the shapes of output a demo may print (no binary needed)."""
    out = parse_demo_commands(
        "Portcullis demo in /tmp/x, listening on 127.0.0.1:8443\n"
        "# a tenant's page:\n"
        "  curl --cacert /tmp/x/ca.pem https://a.example:8443/\n"
        "$ curl -s https://b.example:8443/ \\\n"
        "     --cacert y.pem   # expect 421 (host of another tenant)\n"
        "Without a client certificate this fails:\n"
        "curl https://c.example:8443/\n")
    h.check(len(out) == 3, repr(out))
    h.check(out[0][0].startswith("curl --cacert") and out[0][1] is None and not out[0][2],
            repr(out[0]))
    h.check(out[1][0] == "curl -s https://b.example:8443/ --cacert y.pem" and out[1][1] == 421,
            repr(out[1]))
    h.check(out[2][2] and out[2][1] is None, repr(out[2]))
    out = parse_demo_commands("listening on 127.0.0.1:8443\ncurl https://a/\n"
                              "# -> 404 Not Found\ncurl https://a/x\n"
                              "curl https://a/y  # 502 Bad Gateway: wrong identity\n")
    h.check([o[1] for o in out] == [None, 404, 502] and not any(o[2] for o in out), repr(out))
