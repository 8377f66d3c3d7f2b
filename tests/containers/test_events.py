"""``events``: history with --since/--until, filters, --format, and the live stream."""

from __future__ import annotations

import subprocess
import time

from ctrhelp import unique


def test_history_with_filters_and_format(cli, daemon):
    name = unique("ev")
    t0 = time.time() - 1
    try:
        assert daemon.cli("run", "--name", name, "busybox", "sh", "-c", "exit 3").returncode == 3
        until = f"{time.time() + 0.5:.3f}"
        out = cli.ok("events", "--since", f"{t0:.3f}", "--until", until,
                     "-f", f"container={name}")
        lines = out.splitlines()
        actions = [ln.split()[2] for ln in lines if ln.split()[2] != "attach"]
        assert actions == ["create", "start", "die"], out
        die = next(ln for ln in lines if " die " in ln)
        assert f"name={name}" in die and "exitCode=3" in die and "image=busybox" in die
        out = cli.ok("events", "--since", "1m", "--until", until, "-f", f"container={name}",
                     "-f", "event=die", "--format", "{{.Type}} {{.Action}} {{.Actor.Attributes.name}}")
        assert out == f"container die {name}\n"
    finally:
        daemon.cli("rm", "-f", name)


def test_live_stream(cli, daemon, running):
    proc = subprocess.Popen([*cli.argv, "events", "-f", f"container={running}",
                             "--format", "{{.Action}}"], stdout=subprocess.PIPE, env=cli.env)
    try:
        time.sleep(0.5)  # subscribed
        daemon.cli("pause", running)
        assert proc.stdout.readline() == b"pause\n"
        daemon.cli("unpause", running)
        assert proc.stdout.readline() == b"unpause\n"
    finally:
        proc.kill()
        proc.wait()


def test_bad_time_is_a_usage_error(daemon):
    r = daemon.cli("events", "--since", "yesterday-ish")
    assert r.returncode != 0 and b"invalid value for time" in r.stderr
