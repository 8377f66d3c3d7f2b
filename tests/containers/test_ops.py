"""pause/unpause, kill -s, rename, top from the dockyard CLI and the docker CLIs."""

from __future__ import annotations

import json
import time

from ctrhelp import unique


def _state(daemon, name: str) -> dict:
    r = daemon.cli("inspect", name)
    assert r.returncode == 0, r.stderr
    return json.loads(r.stdout)[0]["State"]


def test_pause_and_unpause(cli, daemon, running):
    cli.ok("pause", running)
    st = _state(daemon, running)
    assert (st["Status"], st["Paused"], st["Running"]) == ("paused", True, True)
    status = cli.ok("ps", "--filter", f"name={running}", "--format", "{{.Status}}")
    assert status.startswith("Up ") and status.strip().endswith("(Paused)")
    cid = json.loads(daemon.cli("inspect", running).stdout)[0]["Id"]
    with open(f"/sys/fs/cgroup/freezer/{daemon.cgroup_parent}/{cid}/freezer.state") as f:
        assert f.read().strip() == "FROZEN"
    r = cli("exec", running, "true")
    assert r.returncode != 0 and b"paused" in r.stderr
    r = cli("pause", running)
    assert r.returncode != 0 and b"already paused" in r.stderr
    cli.ok("unpause", running)
    assert _state(daemon, running)["Status"] == "running"
    assert cli.ok("exec", running, "echo", "thawed") == "thawed\n"
    r = cli("unpause", running)
    assert r.returncode != 0 and b"is not paused" in r.stderr


def test_stop_a_paused_container(cli, daemon, running):
    cli.ok("pause", running)
    cli.ok("stop", "-t", "1", running)
    st = _state(daemon, running)
    assert st["Status"] == "exited" and st["Paused"] is False


def test_kill_with_a_signal(cli, daemon):
    name = unique("kill")
    daemon.cli("run", "-d", "--name", name, "busybox", "sh", "-c",
               "trap 'echo got usr1; exit 7' USR1; while true; do sleep 0.1; done")
    try:
        time.sleep(0.3)  # the trap is set
        cli.ok("kill", "-s", "USR1", name)
        for _ in range(100):
            if _state(daemon, name)["Status"] == "exited":
                break
            time.sleep(0.05)
        assert _state(daemon, name)["ExitCode"] == 7
        assert cli.ok("logs", name) == "got usr1\n"
        r = cli("kill", "-s", "NOSUCHSIG", name)
        assert r.returncode != 0
    finally:
        daemon.cli("rm", "-f", name)


def test_rename(cli, daemon, running):
    new = unique("renamed")
    try:
        cli.ok("rename", running, new)
        assert cli.ok("inspect", "--format", "{{.Name}}", new).strip() == "/" + new
        assert cli("inspect", running).returncode != 0
        other = unique("other")
        daemon.cli("create", "--name", other, "busybox")
        r = cli("rename", new, other)
        assert r.returncode != 0 and b"already in use" in r.stderr
        daemon.cli("rm", "-f", other)
    finally:
        daemon.cli("rm", "-f", new)


def test_top(cli, daemon, running):
    daemon.cli("exec", "-d", running, "sleep", "4242")
    out = cli.ok("top", running)
    lines = out.splitlines()
    assert lines[0].split()[:3] == ["UID", "PID", "PPID"]
    cmds = [ln.split(None, 7)[-1] for ln in lines[1:]]
    assert "sleep 100000" in cmds and "sleep 4242" in cmds
    out = cli.ok("top", running, "-o", "pid,comm")
    assert out.split()[:2] == ["PID", "COMMAND"]
    assert out.count("sleep") == 2
    pid = _state(daemon, running)["Pid"]
    assert str(pid) in out.split()


def test_port_without_published_ports(cli, running):
    assert cli.ok("port", running) == ""
    r = cli("port", running, "80")
    assert r.returncode == 1
    assert b"No public port '80" in r.stderr and running.encode() in r.stderr


def test_stop_signal_and_stop_timeout(cli, daemon):
    name = unique("stopsig")
    cli.ok("run", "-d", "--name", name, "--stop-signal", "USR1", "--stop-timeout", "30",
           "busybox", "sh", "-c",
           "trap 'echo usr1; exit 9' USR1; echo ready; while true; do sleep 0.1; done")
    try:
        for _ in range(100):
            if cli.ok("logs", name) == "ready\n":
                break
            time.sleep(0.05)
        cli.ok("stop", name)
        info = json.loads(daemon.cli("inspect", name).stdout)[0]
        assert info["Config"]["StopSignal"] == "USR1" and info["Config"]["StopTimeout"] == 30
        assert info["State"]["ExitCode"] == 9
        assert cli.ok("logs", name) == "ready\nusr1\n"
    finally:
        daemon.cli("rm", "-f", name)


def test_wait_client_leaving_is_quiet(daemon, running):
    """A client that leaves during /wait (ctrl-c on `docker wait`): the exit is still
    handled, and the daemon logs no traceback for the closed connection."""
    import os
    import socket

    before = os.path.getsize(daemon.log_path)
    s = socket.socket(socket.AF_UNIX)
    s.connect(daemon.sock)
    s.sendall(f"POST /containers/{running}/wait HTTP/1.1\r\nHost: d\r\n"
              "Content-Length: 0\r\n\r\n".encode())
    s.settimeout(30)
    assert s.recv(4096).startswith(b"HTTP/1.1 200")  # headers go out at once
    s.close()
    assert daemon.cli("kill", running).returncode == 0
    deadline = time.monotonic() + 30
    while _state(daemon, running)["Running"] and time.monotonic() < deadline:
        time.sleep(0.05)
    assert daemon.cli("wait", running).stdout.strip() == b"137"  # the daemon answers still
    with open(daemon.log_path, errors="replace") as f:
        f.seek(before)
        tail = f.read()
    assert "Traceback" not in tail and "closing transport" not in tail, tail
