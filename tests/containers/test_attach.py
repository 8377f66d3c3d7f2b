"""``attach`` to a running container and the detach keys, through a real terminal."""

from __future__ import annotations

import json

import pytest
from ctrhelp import unique
from ptydrive import PtySession


@pytest.fixture
def shell(daemon):
    """A detached interactive shell with a terminal (``run -dit busybox sh``)."""
    name = unique("att")
    r = daemon.cli("run", "-dit", "--name", name, "busybox", "sh")
    assert r.returncode == 0, r.stderr
    try:
        yield name
    finally:
        daemon.cli("rm", "-f", name)


def _state(daemon, name: str) -> dict:
    r = daemon.cli("inspect", name)
    assert r.returncode == 0, r.stderr
    return json.loads(r.stdout)[0]["State"]


def test_attach_type_detach_and_attach_again(cli, daemon, shell):
    s = PtySession([*cli.argv, "attach", shell], env=cli.env)
    try:
        s.send(b"echo hi\r")
        s.read_until(b"\r\nhi\r\n")
        s.send(b"\x10\x11")  # ctrl-p ctrl-q
        code = s.wait()
    finally:
        s.close()
    if cli.name != "dockyard":
        assert code == 1 and b"read escape sequence" in s.output  # docker's own behaviour
    else:
        assert code == 0
    assert _state(daemon, shell)["Running"] is True
    # The shell kept its terminal and its stdin: attach again and leave with a status.
    s = PtySession([*cli.argv, "attach", shell], env=cli.env)
    try:
        s.send(b"echo again\r")
        s.read_until(b"\r\nagain\r\n")
        s.send(b"exit 5\r")
        assert s.wait() == 5
    finally:
        s.close()
    assert _state(daemon, shell)["ExitCode"] == 5


def test_custom_detach_keys_on_run(cli, daemon):
    name = unique("att")
    s = PtySession([*cli.argv, "run", "-it", "--name", name, "--detach-keys", "ctrl-a,x",
                    "busybox", "sh"], env=cli.env)
    try:
        s.read_until(b"# ")
        s.send(b"\x10\x11echo still\r")  # the default keys are ordinary input now
        s.read_until(b"\r\nstill\r\n")
        s.send(b"\x01x")
        s.wait()
        assert s.proc.returncode is not None
        assert _state(daemon, name)["Running"] is True
    finally:
        s.close()
        daemon.cli("rm", "-f", name)


def test_attach_to_a_stopped_container_fails(cli, daemon):
    name = unique("att")
    assert daemon.cli("create", "--name", name, "busybox", "true").returncode == 0
    try:
        r = cli("attach", name)
        assert r.returncode == 1
        assert b"You cannot attach to a stopped container, start it first" in r.stderr
    finally:
        daemon.cli("rm", "-f", name)


def test_attach_without_tty_streams_output_and_exit_code(cli, daemon):
    name = unique("att")
    r = daemon.cli("run", "-d", "--name", name, "busybox", "sh", "-c",
                   "sleep 0.5; echo out; echo err >&2; exit 3")
    assert r.returncode == 0, r.stderr
    try:
        r = cli("attach", name)
        assert r.returncode == 3
        assert r.stdout == b"out\n" and r.stderr == b"err\n"
    finally:
        daemon.cli("rm", "-f", name)
