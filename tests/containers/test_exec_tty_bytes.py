"""A tty exec's bytes are Docker's: the terminal turns each "\\n" into "\\r\\n" exactly once, so
an application's own "\\r\\n" arrives as "\\r\\r\\n" (as from dockerd), and typed input is echoed.

runc in the foreground clears onlcr on the container's terminal and lets the daemon's side do
the translation; both are in place once runc writes the exec's pid file (Pid in inspect), so
the process here waits for a line sent only then. What it writes before that point can be
translated twice ("\\r\\r\\n"): a race inside runc's own console set-up (see engine/exec.py).
"""

from __future__ import annotations

import docker
import pytest


@pytest.fixture
def api(daemon):
    c = docker.APIClient(base_url=daemon.host, version="auto")
    yield c
    c.close()


def _read_all(sock) -> bytes:
    data = b""
    while chunk := sock.recv(4096):
        data += chunk
    return data


def test_tty_exec_translates_newlines_once(api, running):
    eid = api.exec_create(running, ["sh", "-c", "read x; printf 'a\\r\\nb\\n'"],
                          stdin=True, tty=True)["Id"]
    sock = api.exec_start(eid, tty=True, socket=True)._sock
    try:
        for _ in range(5000):  # the console is set up once runc reports the pid
            if api.exec_inspect(eid)["Pid"]:
                break
        assert api.exec_inspect(eid)["Pid"]
        sock.sendall(b"go\n")
        out = _read_all(sock)
    finally:
        sock.close()
    assert out == b"go\r\na\r\r\nb\r\n"
    assert api.exec_inspect(eid)["ExitCode"] == 0
