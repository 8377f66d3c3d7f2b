"""The registry's own HTTP/1.1 edge, byte by byte on raw sockets: framing, keep-alive, chunked
bodies, HEAD, ranges, hostile input, shutdown, and what the serving process loads."""

from __future__ import annotations

import os
import signal
import socket

from .conftest import sha


def _conn(registry) -> socket.socket:
    s = socket.create_connection(("127.0.0.1", registry.port), timeout=30)
    return s


def _read_response(s: socket.socket, buf: bytearray, head_only: bool = False
                   ) -> tuple[int, dict[str, str], bytes]:
    """One response off a kept-alive connection; leftovers stay in ``buf``."""
    while b"\r\n\r\n" not in buf:
        data = s.recv(65536)
        if not data:
            raise ConnectionError("closed before a response")
        buf += data
    i = buf.index(b"\r\n\r\n")
    head = bytes(buf[:i]).decode("latin-1").split("\r\n")
    del buf[:i + 4]
    status = int(head[0].split(" ")[1])
    headers = {k.lower(): v.strip() for k, _, v in (ln.partition(":") for ln in head[1:])}
    n = 0 if head_only or status in (100, 204, 304) else int(headers.get("content-length", 0))
    while len(buf) < n:
        data = s.recv(65536)
        if not data:
            raise ConnectionError("closed mid-body")
        buf += data
    body = bytes(buf[:n])
    del buf[:n]
    return status, headers, body


def _closed(s: socket.socket) -> bool:
    try:
        return s.recv(1) == b""
    except ConnectionResetError:
        return True


def test_keep_alive_and_pipelined_requests(registry):
    dg = registry.push_blob("k", b"kept alive")
    s = _conn(registry)
    buf = bytearray()
    s.sendall(b"GET /v2/ HTTP/1.1\r\nHost: x\r\n\r\n"
              + f"HEAD /v2/k/blobs/{dg} HTTP/1.1\r\nHost: x\r\n\r\n".encode()
              + f"GET /v2/k/blobs/{dg} HTTP/1.1\r\nHost: x\r\n\r\n".encode())
    st, h, body = _read_response(s, buf)
    assert st == 200 and body == b"{}" and h["docker-distribution-api-version"] == "registry/2.0"
    st, h, body = _read_response(s, buf, head_only=True)
    assert st == 200 and h["content-length"] == "10" and body == b""
    st, h, body = _read_response(s, buf)
    assert st == 200 and body == b"kept alive" and h["docker-content-digest"] == dg
    s.sendall(b"GET /v2/ HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
    st, h, _ = _read_response(s, buf)
    assert st == 200 and h["connection"] == "close"
    assert _closed(s)
    s.close()


def test_chunked_patch_upload_as_docker_sends_it(registry):
    data = os.urandom(300_000)
    loc = registry.req("POST", "/v2/c/blobs/uploads/").headers["Location"]
    s = _conn(registry)
    buf = bytearray()
    parts = [data[:1], data[1:70_000], data[70_000:]]
    body = b"".join(f"{len(p):x};ext=1\r\n".encode() + p + b"\r\n" for p in parts)
    s.sendall(f"PATCH {loc} HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n"
              f"Content-Type: application/octet-stream\r\n\r\n".encode()
              + body + b"0\r\nX-Trailer: ignored\r\n\r\n")
    st, h, _ = _read_response(s, buf)
    assert st == 202 and h["range"] == f"0-{len(data) - 1}"
    # the same connection serves the closing PUT
    s.sendall(f"PUT {loc}?digest={sha(data)} HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n\r\n"
              .encode())
    st, _, _ = _read_response(s, buf)
    assert st == 201
    s.close()
    assert registry.req("GET", f"/v2/c/blobs/{sha(data)}").body == data


def test_chunked_body_split_at_every_awkward_place(registry):
    data = os.urandom(5000)
    parts = [data[:3], data[3:1000], data[1000:1001], data[1001:]]
    body = b"".join(f"{len(p):X}\r\n".encode() + p + b"\r\n" for p in parts) + b"0\r\n\r\n"
    s = _conn(registry)
    s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    s.sendall(f"POST /v2/s/blobs/uploads/?digest={sha(data)} HTTP/1.1\r\nHost: x\r\n"
              "Transfer-Encoding: chunked\r\n\r\n".encode())
    for i in range(0, len(body), 7):
        s.sendall(body[i:i + 7])
    st, _, _ = _read_response(s, bytearray())
    assert st == 201
    s.close()
    assert registry.req("GET", f"/v2/s/blobs/{sha(data)}").body == data


def test_chunked_body_that_arrives_while_the_upload_writes(registry):
    # 8 MiB in 32 KiB chunks, all sent at once: most of it, the last chunk included, is
    # buffered while the server is busy writing the first megabytes to disk
    data = os.urandom(8 << 20)
    step = 32 << 10
    body = b"".join(b"%x\r\n" % len(data[i:i + step]) + data[i:i + step] + b"\r\n"
                    for i in range(0, len(data), step)) + b"0\r\n\r\n"
    s = _conn(registry)
    s.sendall(f"POST /v2/big/blobs/uploads/?digest={sha(data)} HTTP/1.1\r\nHost: x\r\n"
              "Transfer-Encoding: chunked\r\n\r\n".encode() + body)
    st, _, _ = _read_response(s, bytearray())
    assert st == 201
    s.close()
    assert registry.req("HEAD", f"/v2/big/blobs/{sha(data)}").headers["Content-Length"] == str(
        len(data))


def test_expect_continue_gets_an_interim_response(registry):
    data = b"expect me"
    s = _conn(registry)
    buf = bytearray()
    s.sendall(f"POST /v2/e/blobs/uploads/?digest={sha(data)} HTTP/1.1\r\nHost: x\r\n"
              f"Content-Length: {len(data)}\r\nExpect: 100-continue\r\n\r\n".encode())
    st, _, _ = _read_response(s, buf)
    assert st == 100
    s.sendall(data)
    st, _, _ = _read_response(s, buf)
    assert st == 201
    s.close()


def test_byte_ranges(registry):
    data = bytes(range(256)) * 4
    dg = registry.push_blob("r", data)
    r = registry.req("GET", f"/v2/r/blobs/{dg}", headers={"Range": "bytes=-10"})
    assert r.status == 206 and r.body == data[-10:]
    assert r.headers["Content-Range"] == f"bytes {len(data) - 10}-{len(data) - 1}/{len(data)}"
    r = registry.req("GET", f"/v2/r/blobs/{dg}", headers={"Range": "bytes=1000-"})
    assert r.status == 206 and r.body == data[1000:]
    r = registry.req("GET", f"/v2/r/blobs/{dg}", headers={"Range": "bytes=5000-6000"})
    assert r.status == 416 and r.headers["Content-Range"] == f"bytes */{len(data)}"
    r = registry.req("GET", f"/v2/r/blobs/{dg}", headers={"Range": "bytes=0-1,5-6"})
    assert r.status == 200 and r.body == data  # several ranges: the whole blob
    r = registry.req("GET", f"/v2/r/blobs/{dg}", headers={"If-None-Match": f'"{dg}"'})
    assert r.status == 304 and r.body == b""


def test_malformed_requests_get_400_and_the_server_keeps_serving(registry):
    cases = [
        b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03",  # a TLS hello on plain HTTP
        b"GARBAGE\r\n\r\n",
        b"GET /v2/\r\n\r\n",
        b"GET /v2/ HTTP/2.0\r\n\r\n",
        b"GET v2 HTTP/1.1\r\n\r\n",
        b"GET /v2/ HTTP/1.1\r\nBad Header: x\r\n\r\n",
        b"GET /v2/ HTTP/1.1\r\nHost: x\r\n folded: continuation\r\n\r\n",
        b"POST /v2/a/blobs/uploads/ HTTP/1.1\r\nContent-Length: -1\r\n\r\n",
        b"POST /v2/a/blobs/uploads/ HTTP/1.1\r\nContent-Length: 1x\r\n\r\n",
        b"POST /v2/a/blobs/uploads/ HTTP/1.1\r\nContent-Length: \xb2\r\n\r\n",
        b"POST /v2/a/blobs/uploads/ HTTP/1.1\r\nContent-Length: 3\r\n"
        b"Transfer-Encoding: chunked\r\n\r\n",
        b"POST /v2/a/blobs/uploads/ HTTP/1.1\r\nTransfer-Encoding: gzip\r\n\r\n",
        b"GET /v2/ HTTP/1.1\r\n" + b"X-Big: " + b"a" * (70 << 10) + b"\r\n\r\n",
        b"GET /v2/ HTTP/1.1\r\n" + b"".join(b"X-%d: 1\r\n" % i for i in range(300)) + b"\r\n",
        b"GET /" + b"a" * (20 << 10) + b" HTTP/1.1\r\n\r\n",
    ]
    for raw in cases:
        s = _conn(registry)
        s.sendall(raw)
        st, _, _ = _read_response(s, bytearray())
        assert 400 <= st < 500 or st in (501, 505), (raw[:40], st)
        assert _closed(s), raw[:40]
        s.close()
    # a broken chunked body mid-upload: answered, connection closed, nothing published
    loc = registry.req("POST", "/v2/a/blobs/uploads/").headers["Location"]
    s = _conn(registry)
    s.sendall(f"PATCH {loc} HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n"
              "5\r\nhello\r\nzz\r\n".encode())
    st, _, _ = _read_response(s, bytearray())
    assert st == 400
    s.close()
    assert registry.req("GET", "/v2/").status == 200
    assert "Traceback" not in registry.log()


def test_half_sent_requests_do_not_hold_the_server(registry):
    idle = [_conn(registry) for _ in range(20)]
    for s in idle[:10]:
        s.sendall(b"GET /v2/ HTTP/1.1\r\nHost: x\r\n")  # a head that never ends
    data = os.urandom(1 << 20)
    dg = registry.push_blob("busy", data)
    assert registry.req("GET", f"/v2/busy/blobs/{dg}").body == data
    for s in idle:
        s.close()


def test_sigterm_closes_idle_connections_and_exits_cleanly(registry):
    s = _conn(registry)
    buf = bytearray()
    s.sendall(b"GET /v2/ HTTP/1.1\r\nHost: x\r\n\r\n")
    assert _read_response(s, buf)[0] == 200
    proc = registry.proc
    proc.send_signal(signal.SIGTERM)
    assert proc.wait(30) == 0
    assert _closed(s)
    s.close()


def _mapped(pid: int) -> str:
    with open(f"/proc/{pid}/maps") as f:
        return f.read()


def test_plain_registry_loads_neither_openssl_nor_aiohttp(registry):
    assert registry.req("GET", "/v2/").status == 200
    maps = _mapped(registry.proc.pid)
    assert "libssl" not in maps and "libcrypto" not in maps and "aiohttp" not in maps
    # the first push brings in the hashing library, and the push works
    data = b"now hash me"
    registry.push_blob("h", data)
    assert "libcrypto" in _mapped(registry.proc.pid)
    assert registry.req("GET", f"/v2/h/blobs/{sha(data)}").body == data
