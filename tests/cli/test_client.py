"""The hand-written HTTP/1.1 client against a real unix-socket server (one thread per test)."""

import socket
import threading

import pytest

from dockyard.client import (
    APIError,
    Client,
    ConnectFailed,
    dumps,
    encode_query,
    iter_frames,
    loads,
    parse_host,
)


class Server:
    """Serves scripted raw responses on a unix socket and records the requests it got."""

    def __init__(self, path, handler):
        self.path = path
        self.handler = handler
        self.requests = []
        self.connections = 0
        self.sock = socket.socket(socket.AF_UNIX)
        self.sock.bind(path)
        self.sock.listen(8)
        self.thread = threading.Thread(target=self.serve, daemon=True)
        self.thread.start()

    def serve(self):
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            self.connections += 1
            threading.Thread(target=self.one, args=(conn,), daemon=True).start()

    def one(self, conn):
        f = conn.makefile("rb")
        try:
            while True:
                line = f.readline()
                if not line:
                    return
                headers = {}
                while True:
                    h = f.readline()
                    if h in (b"\r\n", b""):
                        break
                    k, _, v = h.decode().partition(":")
                    headers[k.strip().lower()] = v.strip()
                body = b""
                if "content-length" in headers:
                    body = f.read(int(headers["content-length"]))
                elif headers.get("transfer-encoding") == "chunked":
                    while True:
                        size = int(f.readline().strip(), 16)
                        if size == 0:
                            f.readline()
                            break
                        body += f.read(size)
                        f.readline()
                method, target, _ = line.decode().split(" ", 2)
                self.requests.append((method, target, headers, body))
                if self.handler(conn, f, method, target, headers, body) == "close":
                    return
        finally:
            conn.close()

    def close(self):
        self.sock.close()


@pytest.fixture
def serve(tmp_path):
    servers = []

    def start(handler):
        s = Server(str(tmp_path / f"s{len(servers)}.sock"), handler)
        servers.append(s)
        return s
    yield start
    for s in servers:
        s.close()


def test_json_content_length_and_keep_alive(serve):
    def handler(conn, f, method, target, headers, body):
        payload = dumps({"method": method, "target": target, "body": body.decode()}).encode()
        conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
                     b"Content-Length: %d\r\n\r\n" % len(payload) + payload)
    s = serve(handler)
    c = Client("unix://" + s.path)
    assert c.get("/info")["target"] == "/v1.41/info"
    got = c.post("/containers/create", {"name": "a b"}, json={"Image": "x"})
    assert got == {"method": "POST", "target": "/v1.41/containers/create?name=a%20b",
                   "body": '{"Image":"x"}'}
    assert s.connections == 1  # the second request reused the connection


def test_chunked_body_streams_pieces_as_they_come(serve):
    gate = threading.Event()

    def handler(conn, f, *_):
        conn.sendall(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n")
        gate.wait(10)
        conn.sendall(b"6\r\n world\r\n0\r\n\r\n")
    s = serve(handler)
    resp = Client("unix://" + s.path).request("GET", "/logs")
    stream = resp.stream()
    assert next(stream) == b"hello"  # before the server sent the rest
    gate.set()
    assert b"".join(stream) == b" world"


def test_error_status_carries_the_daemon_message(serve):
    def handler(conn, *_):
        body = b'{"message":"No such container: x"}'
        conn.sendall(b"HTTP/1.1 404 Not Found\r\nContent-Length: %d\r\n\r\n" % len(body) + body)
    s = serve(handler)
    with pytest.raises(APIError) as info:
        Client("unix://" + s.path).get("/containers/x/json")
    assert info.value.status == 404 and str(info.value) == "No such container: x"


def test_streamed_request_body_is_chunked(serve):
    def handler(conn, f, method, target, headers, body):
        conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n" % len(body) + body)
    s = serve(handler)
    resp = Client("unix://" + s.path).request("POST", "/images/create", body=iter([b"ab", b"cd"]))
    assert resp.read() == b"abcd"
    assert s.requests[0][2]["transfer-encoding"] == "chunked"


def test_hijack_gives_a_raw_bidirectional_stream(serve):
    def handler(conn, f, method, target, headers, body):
        assert headers["upgrade"] == "tcp" and headers["connection"] == "Upgrade"
        conn.sendall(b"HTTP/1.1 101 UPGRADED\r\nConnection: Upgrade\r\nUpgrade: tcp\r\n\r\n"
                     b"\x01\x00\x00\x00\x00\x00\x00\x03out")
        data = f.read(5)  # what the client wrote
        conn.sendall(b"\x02\x00\x00\x00\x00\x00\x00\x05" + data)
        return "close"
    s = serve(handler)
    conn = Client("unix://" + s.path).hijack("POST", "/containers/x/attach", {"stream": True})
    conn.sendall(b"12345")
    chunks = []
    while True:
        piece = conn.read_some()
        if not piece:
            break
        chunks.append(piece)
    assert list(iter_frames(chunks)) == [(1, b"out"), (2, b"12345")]


def test_attach_pump_demultiplexes_onto_stdout_and_stderr(serve, tmp_path):
    from dockyard.cli.attach import pump

    def handler(conn, *_):
        conn.sendall(b"HTTP/1.1 101 UPGRADED\r\n\r\n")
        for stream, data in ((1, b"a" * 70000), (2, b"err\n"), (1, b"end\n")):
            conn.sendall(bytes([stream, 0, 0, 0]) + len(data).to_bytes(4, "big") + data)
        return "close"
    s = serve(handler)
    conn = Client("unix://" + s.path).hijack("POST", "/containers/x/attach")
    out_path, err_path = tmp_path / "out", tmp_path / "err"
    with open(out_path, "wb") as o, open(err_path, "wb") as e:
        pump(conn, tty=False, stdin_fd=None, out_fd=o.fileno(), err_fd=e.fileno())
    assert out_path.read_bytes() == b"a" * 70000 + b"end\n"
    assert err_path.read_bytes() == b"err\n"


def test_nothing_listening_is_connect_failed(tmp_path):
    with pytest.raises(ConnectFailed) as info:
        Client(f"unix://{tmp_path}/none.sock").get("/_ping")
    assert "Cannot connect to the dockyard daemon" in str(info.value)
    assert not Client(f"unix://{tmp_path}/none.sock").ping()


def test_tcp_host_on_loopback():
    srv = socket.socket()
    srv.bind(("127.0.0.1", 0))
    srv.listen(1)
    port = srv.getsockname()[1]

    def answer():
        conn, _ = srv.accept()
        conn.recv(4096)
        conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nOK")
        conn.close()
    t = threading.Thread(target=answer, daemon=True)
    t.start()
    try:
        assert Client(f"tcp://127.0.0.1:{port}").ping()
    finally:
        srv.close()
        t.join(5)


def test_parse_host_and_query_encoding():
    assert parse_host("unix:///run/x.sock") == (socket.AF_UNIX, "/run/x.sock")
    assert parse_host("tcp://127.0.0.1:2376") == (socket.AF_INET, ("127.0.0.1", 2376))
    assert parse_host("tcp://[::1]:2375") == (socket.AF_INET6, ("::1", 2375))
    assert encode_query({"a": True, "b": None, "c": ["1", "2"], "d": "x/y z"}) == \
        "a=1&c=1&c=2&d=x%2Fy%20z"


def test_json_helpers_round_trip_and_reject_garbage():
    doc = {"a": [1, 2.5, None, True, "é"], "b": {}}
    assert loads(dumps(doc)) == doc
    assert loads(b' {"x": 1}\n') == {"x": 1}
    from dockyard.client import ProtocolError
    with pytest.raises(ProtocolError):
        loads("{nope")
    with pytest.raises(ProtocolError):
        loads('{"a": 1} trailing')
