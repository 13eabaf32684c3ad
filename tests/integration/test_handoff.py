"""Operations: listening-socket hand-off (`portcullis run --takeover`).

A new process takes the listening sockets of the running one through <state_dir>/handoff.sock,
becomes ready, and the old one drains and exits 0. 20 consecutive upgrades under HTTP/1.1 and
HTTP/2 load: zero failed requests. Without --takeover, an address in use is a clear error.
"""


import harness as h
from harness.load import URLS_PER_CURL, CurlLoad

HANDOFFS = 20


def test_twenty_handoffs_under_load_fail_no_request():
    with h.TestEnv("handoff") as env:
        t = h.build_topology(env, start=False)
        t.gw.workers = 2  # the workers of one process share each listening socket
        t.gw.start()
        loads = [CurlLoad(t, t.gw.port, "/handoff-load", http2) for http2 in (False, True)]
        for load in loads:
            load.start()
        try:
            h.wait_for(lambda: all(load.ok >= URLS_PER_CURL for load in loads), 20,
                       "load running before the first hand-off")
            old = t.gw.proc
            for i in range(HANDOFFS):
                new = env.start(f"gw-{i + 1}", [h.portcullis_bin(), "run", "-c",
                                                t.gw.config_path, "--takeover"], cwd=t.gw.dir)
                old.expected_exit = True
                code = old.wait(20)
                h.check(code == 0, f"hand-off {i + 1}: the old process exit {code}: "
                        + old.describe())
                h.check(new.alive(), f"hand-off {i + 1}: the new process died: " + new.describe())
                h.check("(taken over)" in new.stderr_text(),
                        f"hand-off {i + 1}: the sockets were not taken over: " + new.describe())
                old = new
                t.gw.proc = new  # the harness stops this one at the end
            t.gw.wait_ready(10)
            # load keeps being served by the last process
            after = [load.ok for load in loads]
            h.wait_for(lambda: all(load.ok >= a + URLS_PER_CURL for load, a in zip(loads, after)),
                       20, "load served after the last hand-off")
        finally:
            for load in loads:
                load.stop.set()
            for load in loads:
                load.join(60)
        for load in loads:
            kind = "HTTP/2" if load.http2 else "HTTP/1.1"
            h.check(not load.failures, f"{kind}: {len(load.failures)} failed curl runs across "
                    f"{HANDOFFS} hand-offs (ok={load.ok}): {load.failures[:3]}")
        print(f"  {HANDOFFS} hand-offs: {loads[0].ok} HTTP/1.1 and {loads[1].ok} HTTP/2 requests, "
              "0 failed")


def test_address_in_use_without_takeover_is_a_clear_error():
    with h.TestEnv("handoff") as env:
        t = h.build_topology(env)
        second = env.start("gw-second", [h.portcullis_bin(), "run", "-c", t.gw.config_path],
                           cwd=t.gw.dir)
        second.expected_exit = True
        code = second.wait(15)
        h.check(code == 1, f"a second process on the same address: exit {code}, want 1: "
                + second.describe())
        err = second.stderr_text()
        h.check("already in use" in err and "--takeover" in err,
                "the error does not name the address in use and --takeover: " + err[-800:])
        # the first one is untouched
        h.canary(t)
        h.check(t.gw.admin_get("/readyz")[0] == 200, "the running gateway is no longer ready")
