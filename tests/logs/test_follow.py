"""``logs -f`` follows a container through its restart-policy restarts, as Docker's does, and
ends when the container is stopped for good or removed."""

from __future__ import annotations

import os
import selectors
import shutil
import subprocess
import tempfile

import pytest

from multicli import inspect


def _follow(cli, name: str) -> subprocess.Popen:
    return subprocess.Popen([*cli.argv, "logs", "-f", name], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, env=cli.env)


def _read_lines(proc: subprocess.Popen, count: int, timeout: float = 30) -> list[str]:
    """The first ``count`` lines the follower prints (fails if it ends or stalls first)."""
    sel = selectors.DefaultSelector()
    sel.register(proc.stdout, selectors.EVENT_READ)
    buf = b""
    try:
        while buf.count(b"\n") < count:
            if not sel.select(timeout):
                pytest.fail(f"logs -f printed only {buf!r}")
            chunk = os.read(proc.stdout.fileno(), 4096)
            if not chunk:
                pytest.fail(f"logs -f ended after {buf!r}: {proc.stderr.read()!r}")
            buf += chunk
    finally:
        sel.close()
    return buf.decode().splitlines()


@pytest.fixture
def gate():
    d = tempfile.mkdtemp(prefix="logs-gate-")
    yield d
    shutil.rmtree(d, ignore_errors=True)


def test_follow_goes_on_through_on_failure_restarts(cli, daemon, names, gate):
    name = names()
    # Every run prints a line; the first one waits until the test has seen it, so the
    # follower is attached while the container is still in its first run.
    cli.ok("run", "-d", "--name", name, "--restart", "on-failure:2", "-v", f"{gate}:/gate",
           "busybox", "sh", "-c",
           "echo run; while [ ! -e /gate/go ]; do usleep 10000; done; exit 1")
    follower = _follow(cli, name)
    try:
        assert _read_lines(follower, 1) == ["run"]
        open(os.path.join(gate, "go"), "w").close()
        out, err = follower.communicate(timeout=60)
    finally:
        if follower.poll() is None:
            follower.kill()
            follower.communicate()
    assert follower.returncode == 0, err
    assert out.decode().splitlines() == ["run", "run"], out  # the two restarts' lines
    state = inspect(daemon, name)
    assert state["RestartCount"] == 2 and state["State"]["Status"] == "exited"


@pytest.mark.parametrize("end", ["stop", "rm"])
def test_follow_with_restart_always_ends_at_stop_or_remove(cli, daemon, names, end):
    name = names()
    cli.ok("run", "-d", "--name", name, "--restart", "always", "busybox", "sh", "-c",
           "echo run; usleep 200000")
    follower = _follow(cli, name)
    try:
        assert _read_lines(follower, 3) == ["run"] * 3  # three runs: two restarts crossed
        assert follower.poll() is None  # still following between runs
        if end == "stop":
            cli.ok("stop", "-t", "1", name)
        else:
            cli.ok("rm", "-f", name)
        follower.communicate(timeout=30)
    finally:
        if follower.poll() is None:
            follower.kill()
            follower.communicate()
    assert follower.returncode == 0
