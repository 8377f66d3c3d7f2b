"""The exec API as docker-py drives it: exec_run (stream, demux, socket), inspect, resize."""

from __future__ import annotations

import time

import docker
import pytest


@pytest.fixture
def client(daemon):
    c = docker.DockerClient(base_url=daemon.host, version="auto")
    yield c
    c.close()


@pytest.fixture
def ctr(client, running):
    return client.containers.get(running)


def test_exec_run_output_and_exit_code(ctr):
    res = ctr.exec_run(["sh", "-c", "echo out; echo err >&2; exit 4"])
    assert res.exit_code == 4
    # Two pipes: no order between them is promised (Docker's neither), only the content.
    assert sorted(res.output.splitlines()) == [b"err", b"out"]
    res = ctr.exec_run(["sh", "-c", "echo out; echo err >&2"], demux=True)
    assert res.output == (b"out\n", b"err\n")
    res = ctr.exec_run("pwd", workdir="/etc", environment={"X": "1"}, user="nobody")
    assert (res.exit_code, res.output) == (0, b"/etc\n")


def test_exec_run_stream(ctr):
    res = ctr.exec_run(["sh", "-c", "echo 1; sleep 0.2; echo 2"], stream=True)
    chunks = list(res.output)
    assert b"".join(chunks) == b"1\n2\n"
    assert len(chunks) == 2  # two writes, streamed apart


def test_exec_run_socket_with_stdin(ctr):
    res = ctr.exec_run("cat", stdin=True, socket=True)
    sock = res.output._sock
    sock.sendall(b"ping\n")
    sock.shutdown(1)  # half-close: the process sees EOF
    data = b""
    while chunk := sock.recv(4096):
        data += chunk
    sock.close()
    assert data == b"\x01\x00\x00\x00\x00\x00\x00\x05ping\n"


def test_inspect_while_running_and_after(client, ctr):
    api = client.api
    eid = api.exec_create(ctr.id, ["sh", "-c", "sleep 0.5; exit 2"])["Id"]
    info = api.exec_inspect(eid)
    assert info["Running"] is False and info["ExitCode"] is None
    assert info["ContainerID"] == ctr.id
    assert info["ProcessConfig"]["entrypoint"] == "sh"
    assert not api.exec_start(eid, detach=True)
    info = api.exec_inspect(eid)
    assert info["Running"] is True and info["Pid"] > 0
    for _ in range(100):
        info = api.exec_inspect(eid)
        if not info["Running"]:
            break
        time.sleep(0.05)
    assert info["Running"] is False and info["ExitCode"] == 2
    with pytest.raises(docker.errors.APIError) as e:
        api.exec_start(eid, detach=True)
    assert e.value.status_code == 409


def test_resize_reaches_the_exec_terminal(client, ctr):
    api = client.api
    eid = api.exec_create(ctr.id, ["sh", "-c", "sleep 0.5; stty size"], tty=True)["Id"]
    sock = api.exec_start(eid, tty=True, socket=True)._sock
    api.exec_resize(eid, height=40, width=120)
    data = b""
    while chunk := sock.recv(4096):
        data += chunk
    sock.close()
    assert data == b"40 120\r\n"


def test_errors(client, ctr):
    api = client.api
    with pytest.raises(docker.errors.NotFound):
        api.exec_inspect("nosuchexec")
    with pytest.raises(docker.errors.APIError) as e:
        api.exec_create(ctr.id, [])
    assert e.value.status_code == 400
    with pytest.raises(docker.errors.APIError) as e:
        api.exec_create(ctr.id, "true", workdir="relative")
    assert e.value.status_code == 400
    eid = api.exec_create(ctr.id, "nosuchcmd")["Id"]
    with pytest.raises(docker.errors.APIError) as e:
        api.exec_start(eid, detach=True)
    assert "executable file not found" in str(e.value)
    assert api.exec_inspect(eid)["ExitCode"] == 127


def _read_all(sock) -> bytes:
    data = b""
    while chunk := sock.recv(4096):
        data += chunk
    return data


def test_start_request_tty_decides_the_framing(client, ctr):
    """Docker frames by the start request's Tty; the terminal comes from the exec config."""
    api = client.api
    eid = api.exec_create(ctr.id, ["printf", "abc"], tty=True)["Id"]
    sock = api.exec_start(eid, socket=True)._sock  # start Tty=false: multiplexed
    try:
        assert _read_all(sock) == b"\x01\x00\x00\x00\x00\x00\x00\x03abc"
    finally:
        sock.close()
    # A terminal's \r\n, in frames; a start Tty=true on a non-tty exec gives raw bytes of pipes.
    assert api.exec_start(api.exec_create(ctr.id, ["echo", "x"], tty=True)["Id"],
                          demux=True) == (b"x\r\n", None)
    eid = api.exec_create(ctr.id, ["sh", "-c", "echo out; echo err >&2"])["Id"]
    sock = api.exec_start(eid, tty=True, socket=True)._sock
    try:
        assert sorted(_read_all(sock).splitlines()) == [b"err", b"out"]
    finally:
        sock.close()
    assert api.exec_inspect(eid)["ProcessConfig"]["tty"] is False


@pytest.mark.parametrize("keys,typed", [(None, b"\x10\x11"), ("ctrl-x", b"\x18")])
def test_detach_keys_end_the_exec_stream(client, ctr, keys, typed):
    api = client.api
    eid = api.exec_create(ctr.id, "cat", stdin=True, tty=True, detach_keys=keys)["Id"]
    sock = api.exec_start(eid, tty=True, socket=True)._sock
    try:
        sock.settimeout(30)
        sock.sendall(b"hi\n")
        echoed = b""
        while b"hi" not in echoed:
            echoed += sock.recv(4096)
        sock.sendall(typed)
        _read_all(sock)  # returns: the daemon ended the stream
    finally:
        sock.close()
    info = api.exec_inspect(eid)
    assert info["Running"] is True  # detached, not ended
    assert info["DetachKeys"] == (keys or "")
    ctr.exec_run(["kill", str(info["Pid"])])


def test_invalid_detach_keys_refused_at_create(client, ctr):
    with pytest.raises(docker.errors.APIError) as e:
        client.api.exec_create(ctr.id, "cat", stdin=True, tty=True, detach_keys="ctrl-")
    assert e.value.status_code == 400 and "Invalid escape keys" in str(e.value)
