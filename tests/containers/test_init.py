"""``--init``: a real init as pid 1 that forwards signals (Docker's docker-init)."""

from __future__ import annotations

import json

from ctrhelp import unique


def test_init_is_pid_1_and_forwards_sigterm(cli, daemon):
    r = cli("run", "--rm", "--init", "busybox", "ps", "-o", "pid,comm")
    assert r.returncode == 0, r.stderr
    rows = dict(line.split(None, 1) for line in r.stdout.decode().splitlines()[1:])
    assert rows["1"].strip() in ("docker-init", "tini-static", "catatonit", "tini")
    name = unique("init")
    try:
        cli.ok("run", "-d", "--init", "--name", name, "busybox", "sleep", "1000")
        # sleep as pid 1 would ignore SIGTERM and be SIGKILLed (137) at the timeout;
        # under an init it gets the signal and dies of it (143).
        cli.ok("stop", "-t", "60", name)
        state = json.loads(daemon.cli("inspect", name).stdout)[0]["State"]
        assert state["ExitCode"] == 143
    finally:
        daemon.cli("rm", "-f", name)
