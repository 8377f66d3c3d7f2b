"""The build cache across daemon restarts, and builds whose client goes away."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time

from helpers import steps

sys.path.insert(0, os.path.dirname(os.path.dirname(__file__)))
from multicli import make_cli  # noqa: E402


def test_cache_survives_a_daemon_restart(fresh_daemon, ctx):
    fresh_daemon.import_busybox()
    cli, cfg = make_cli("dockyard", fresh_daemon)
    try:
        d = ctx({"Dockerfile": "FROM busybox AS builder\nRUN echo built > /artifact\n\n"
                               "FROM busybox\nENV A=1\nCOPY f /f\nRUN cat /f > /g\n"
                               "COPY --from=builder /artifact /artifact\n",
                 "f": "persisted\n"})
        first = cli.ok("build", "-t", "persist:1", d)
        assert [hit for _t, hit in steps(first)] == [False] * 5
        fresh_daemon.stop()
        fresh_daemon.start()  # the image GC at start keeps the builder stage's cached layer
        again = cli.ok("build", "-t", "persist:1", d)
        assert [hit for _t, hit in steps(again)] == [True] * 5
        assert cli.ok("run", "--rm", "persist:1", "cat", "/g", "/artifact") == \
            "persisted\nbuilt\n"
        cli.ok("rmi", "persist:1")
        cli.ok("builder", "prune", "-a", "-f")
        layers = os.listdir(os.path.join(fresh_daemon.root, "snapshots", "layers"))
        assert len(layers) == 1  # busybox's only
    finally:
        shutil.rmtree(cfg, ignore_errors=True)


def _wait_empty(path: str, seconds: float = 30) -> list[str]:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if not os.listdir(path):
            return []
        time.sleep(0.2)
    return os.listdir(path)


def test_client_going_away_stops_the_step(dy, daemon, ctx):
    d = ctx({"Dockerfile": "FROM busybox\nRUN echo started; sleep 60\n"})
    proc = subprocess.Popen([*dy.argv, "build", "--no-cache", d], stdout=subprocess.PIPE,
                            stderr=subprocess.DEVNULL, env=dy.env)
    try:
        assert proc.stdout is not None
        for line in proc.stdout:
            if line.startswith(b"started"):
                break
        runc_root = os.path.join(daemon.exec_root, "build", "runc")
        assert os.listdir(runc_root)
        proc.kill()
        proc.wait()
        assert _wait_empty(runc_root) == []
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


def test_crashed_daemon_leftovers_are_cleaned_on_start(fresh_daemon, ctx):
    fresh_daemon.import_busybox()
    cli, cfg = make_cli("dockyard", fresh_daemon)
    d = ctx({"Dockerfile": "FROM busybox\nRUN echo started; sleep 60\n"})
    proc = subprocess.Popen([*cli.argv, "build", d], stdout=subprocess.PIPE,
                            stderr=subprocess.DEVNULL, env=cli.env)
    try:
        assert proc.stdout is not None
        for line in proc.stdout:
            if line.startswith(b"started"):
                break
        fresh_daemon.stop(9)
        proc.wait()
        runc_root = os.path.join(fresh_daemon.exec_root, "build", "runc")
        assert os.listdir(runc_root)
        fresh_daemon.start()
        assert os.listdir(runc_root) == []
        snaps = os.listdir(os.path.join(fresh_daemon.root, "snapshots", "active"))
        assert not [s for s in snaps if s.startswith("build-")]
        with open("/proc/self/mountinfo") as f:
            assert os.path.join(fresh_daemon.root, "build") not in f.read()
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        shutil.rmtree(cfg, ignore_errors=True)
