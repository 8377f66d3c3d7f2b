"""logs and attach at the API: stream selection, framing, tail, timestamps, since, follow."""

import json
import socket
import struct
import time
import uuid
from urllib.parse import quote

from apiclient import json_request, request


def _demux(data: bytes) -> list[tuple[int, bytes]]:
    out = []
    while data:
        kind, size = struct.unpack(">BxxxL", data[:8])
        out.append((kind, data[8:8 + size]))
        data = data[8 + size:]
    return out


def _run_to_exit(daemon, cmd: list[str], **extra) -> str:
    body = {"Image": "busybox", "Cmd": cmd, **extra}
    status, data = json_request(daemon.sock, "POST",
                                f"/containers/create?name=lg-{uuid.uuid4().hex[:8]}", body=body)
    assert status == 201, data
    cid = data["Id"]
    assert json_request(daemon.sock, "POST", f"/containers/{cid}/start")[0] == 204
    status, data = json_request(daemon.sock, "POST", f"/containers/{cid}/wait")
    assert status == 200
    return cid


def test_logs_are_multiplexed_by_stream_and_selectable(daemon):
    cid = _run_to_exit(daemon, ["sh", "-c", "echo out1; echo err1 >&2; echo out2"])
    status, headers, body = request(daemon.sock, "GET", f"/containers/{cid}/logs?stdout=1&stderr=1")
    assert status == 200
    assert headers["Content-Type"] == "application/vnd.docker.multiplexed-stream"
    frames = _demux(body)
    assert sorted(frames) == sorted([(1, b"out1\n"), (2, b"err1\n"), (1, b"out2\n")])
    _, _, only_err = request(daemon.sock, "GET", f"/containers/{cid}/logs?stderr=1")
    assert _demux(only_err) == [(2, b"err1\n")]
    status, data = json_request(daemon.sock, "GET", f"/containers/{cid}/logs")
    assert status == 400 and "at least one" in data["message"]


def test_logs_tail_timestamps_since(daemon):
    cid = _run_to_exit(daemon, ["sh", "-c", "for i in 1 2 3 4 5; do echo line$i; done"])
    _, _, body = request(daemon.sock, "GET", f"/containers/{cid}/logs?stdout=1&tail=2")
    assert [d for _, d in _demux(body)] == [b"line4\n", b"line5\n"]
    _, _, body = request(daemon.sock, "GET", f"/containers/{cid}/logs?stdout=1&tail=1&timestamps=1")
    (_, line), = _demux(body)
    ts, text = line.split(b" ", 1)
    assert text == b"line5\n"
    assert ts.endswith(b"Z") and len(ts) == len(b"2024-01-01T00:00:00.000000000Z")
    future = time.time() + 3600
    _, _, body = request(daemon.sock, "GET", f"/containers/{cid}/logs?stdout=1&since={future}")
    assert body == b""


def test_logs_follow_ends_when_the_container_exits(daemon):
    status, data = json_request(daemon.sock, "POST", "/containers/create", body={
        "Image": "busybox", "Cmd": ["sh", "-c", "echo first; sleep 1; echo second"]})
    cid = data["Id"]
    json_request(daemon.sock, "POST", f"/containers/{cid}/start")
    start = time.monotonic()
    _, _, body = request(daemon.sock, "GET", f"/containers/{cid}/logs?stdout=1&follow=1")
    assert [d for _, d in _demux(body)] == [b"first\n", b"second\n"]
    assert time.monotonic() - start < 30


def test_attach_with_tty_is_raw(daemon):
    status, data = json_request(daemon.sock, "POST", "/containers/create", body={
        "Image": "busybox", "Cmd": ["sh", "-c", "tty; echo done"], "Tty": True})
    cid = data["Id"]
    s = socket.socket(socket.AF_UNIX)
    s.connect(daemon.sock)
    s.sendall(f"POST /containers/{cid}/attach?stream=1&stdout=1&stderr=1 HTTP/1.1\r\n"
              "Host: d\r\nConnection: Upgrade\r\nUpgrade: tcp\r\n\r\n".encode())
    head = b""
    while b"\r\n\r\n" not in head:
        head += s.recv(1)
    assert head.startswith(b"HTTP/1.1 101")
    assert json_request(daemon.sock, "POST", f"/containers/{cid}/start")[0] == 204
    out = b""
    s.settimeout(30)
    while chunk := s.recv(4096):
        out += chunk
    s.close()
    assert out.startswith(b"/dev/pts/")
    assert b"done" in out


def test_list_limit_and_filters(daemon):
    label = f"batch={uuid.uuid4().hex[:6]}"
    ids = []
    for i in range(3):
        status, data = json_request(daemon.sock, "POST", "/containers/create", body={
            "Image": "busybox", "Cmd": ["sh", "-c", f"exit {i}"], "Labels": {
                "batch": label.split("=")[1]}})
        ids.append(data["Id"])
        json_request(daemon.sock, "POST", f"/containers/{data['Id']}/start")
        json_request(daemon.sock, "POST", f"/containers/{data['Id']}/wait")
    flt = quote(json.dumps({"label": [label]}))
    _, listed = json_request(daemon.sock, "GET", f"/containers/json?all=1&filters={flt}")
    assert {c["Id"] for c in listed} == set(ids)
    flt = quote(json.dumps({"label": [label], "exited": ["2"]}))
    _, listed = json_request(daemon.sock, "GET", f"/containers/json?all=1&filters={flt}")
    assert [c["Id"] for c in listed] == [ids[2]]
    flt = quote(json.dumps({"label": [label]}))
    _, listed = json_request(daemon.sock, "GET", f"/containers/json?limit=2&filters={flt}")
    assert [c["Id"] for c in listed] == [ids[2], ids[1]]  # newest first
    _, running = json_request(daemon.sock, "GET", f"/containers/json?filters={flt}")
    assert running == []


def test_resize_reaches_the_containers_terminal(daemon):
    status, data = json_request(daemon.sock, "POST", "/containers/create", body={
        "Image": "busybox", "Tty": True,
        "Cmd": ["sh", "-c", "while [ \"$(stty size)\" != '31 101' ]; do sleep 0.05; done; echo ok"]})
    cid = data["Id"]
    assert json_request(daemon.sock, "POST", f"/containers/{cid}/start")[0] == 204
    assert json_request(daemon.sock, "POST", f"/containers/{cid}/resize?h=31&w=101")[0] == 200
    status, data = json_request(daemon.sock, "POST", f"/containers/{cid}/wait")
    assert data["StatusCode"] == 0
    status, data = json_request(daemon.sock, "POST", f"/containers/{cid}/resize?h=31&w=101")
    assert status == 409


def test_events_filter_by_action_prefix(daemon):
    name = "ev-" + uuid.uuid4().hex[:8]
    since = time.time()
    assert daemon.cli("run", "-d", "--name", name, "busybox", "sleep", "1000").returncode == 0
    assert daemon.cli("exec", name, "true").returncode == 0
    daemon.cli("rm", "-f", name)
    flt = quote(json.dumps({"event": ["exec_start", "destroy"], "container": [name]}))
    _, _, body = request(daemon.sock, "GET",
                         f"/events?since={since}&until={time.time()}&filters={flt}")
    actions = [json.loads(line)["Action"] for line in body.splitlines()]
    assert actions == ["exec_start: true", "destroy"]
