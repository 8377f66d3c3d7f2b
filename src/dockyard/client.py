"""A small, fast HTTP/1.1 client of the Docker Engine API over a unix or TCP socket.

Every CLI call pays for its imports, so this module is written on the builtin ``_socket`` and
``_json`` modules: ``socket``, ``http.client``, ``urllib`` and ``json`` would pull in ``enum``,
``re`` and ``email`` (about 10 ms together, a third of a ``dockyard run``). It speaks just what
the Engine API needs: Content-Length and chunked bodies, streaming reads, keep-alive reuse and
the connection hijack (``101 UPGRADED``) of attach and exec.
"""

from __future__ import annotations

import _json
import _socket
import os

TYPE_CHECKING = False
if TYPE_CHECKING:  # typing imports re: keep it off the CLI's start-up path
    from collections.abc import Iterable, Iterator
    from typing import Any

    QueryValue = str | int | bool | None | list
    Query = dict[str, QueryValue] | list[tuple[str, QueryValue]]
    Body = bytes | Iterable[bytes] | Any | None

API_VERSION = "1.41"
DEFAULT_SOCKET = "/run/dockyard/dockyard.sock"
DEFAULT_HOST = "unix://" + DEFAULT_SOCKET
_RECV = 65536


class TLSConfig:
    """Client-side TLS: ``verify`` checks the daemon's certificate against ``ca`` (and its
    name); ``cert``/``key`` are presented to a daemon that asks for one (``--tlsverify``)."""

    def __init__(self, ca: str | None = None, cert: str | None = None, key: str | None = None,
                 verify: bool = True):
        self.ca, self.cert, self.key, self.verify = ca, cert, key, verify
        self._ctx: Any = None

    def context(self) -> Any:
        from dockyard.tlsconn import SSLError, client_context

        if self._ctx is None:
            try:
                self._ctx = client_context(self.ca, self.cert, self.key, self.verify)
            except (OSError, SSLError) as err:
                raise ClientError(f"could not read TLS certificates: "
                                  f"{getattr(err, 'strerror', None) or err}"
                                  + (f": {err.filename}" if getattr(err, "filename", None)
                                     else "")) from None
        return self._ctx


# TLS settings of the daemon addresses this process talks to (set once by the CLI from its
# flags, environment or context), so every Client made for that address uses them.
TLS_BY_HOST: dict[str, TLSConfig] = {}


class ClientError(Exception):
    """Base class of client failures; ``str(err)`` is one line for the user."""


class ConnectFailed(ClientError):
    """Nothing answers at the daemon address."""

    def __init__(self, host: str, reason: str = ""):
        super().__init__(
            f"Cannot connect to the dockyard daemon at {host}. Is the dockyard daemon running?"
        )
        self.host = host
        self.reason = reason


class ProtocolError(ClientError):
    """The peer sent something that is not the HTTP we expect."""


class APIError(ClientError):
    """The daemon answered with an HTTP error status; ``message`` is its ``{"message": ...}``."""

    def __init__(self, status: int, message: str):
        super().__init__(message)
        self.status = status
        self.message = message


# --- JSON without the ``json`` package (which imports ``re``) -------------------------------


class _ScanContext:
    strict = True
    object_hook = None
    object_pairs_hook = None
    parse_float = float
    parse_int = int
    parse_constant = float
    memo: dict = {}


_scan = _json.make_scanner(_ScanContext())
_encode = _json.make_encoder(
    None, None, _json.encode_basestring_ascii, None, ":", ",", False, False, True
)
_WS = " \t\r\n"


def loads(data: bytes | str) -> Any:
    """Decode one JSON document (raises ProtocolError on garbage)."""
    text = data.decode("utf-8", "replace") if isinstance(data, bytes | bytearray) else data
    text = text.strip(_WS)
    try:
        obj, end = _scan(text, 0)
    except (StopIteration, ValueError) as err:
        raise ProtocolError(f"invalid JSON from daemon: {text[:80]!r}") from err
    if end != len(text):
        raise ProtocolError(f"invalid JSON from daemon: {text[:80]!r}")
    return obj


def loads_stream(data: str) -> Iterator[Any]:
    """Decode concatenated JSON documents (the Engine API's progress streams)."""
    i, n = 0, len(data)
    while True:
        while i < n and data[i] in _WS:
            i += 1
        if i >= n:
            return
        try:
            obj, i = _scan(data, i)
        except (StopIteration, ValueError) as err:
            raise ProtocolError(f"invalid JSON from daemon: {data[i:i + 80]!r}") from err
        yield obj


def dumps(obj: Any) -> str:
    """Compact JSON, ASCII-escaped."""
    return "".join(_encode(obj, 0))


# --- URLs ---------------------------------------------------------------------------------

_SAFE = frozenset(b"abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-._~")


def quote(value: str, safe: str = "") -> str:
    """Percent-encode ``value`` for a URL query or path segment."""
    extra = frozenset(safe.encode())
    out = []
    for b in value.encode("utf-8"):
        out.append(chr(b) if b in _SAFE or b in extra else f"%{b:02X}")
    return "".join(out)


def encode_query(query: Query | None) -> str:
    """``a=1&b=x``; None values are skipped, booleans become 1/0, lists repeat the key."""
    if not query:
        return ""
    items = query.items() if isinstance(query, dict) else query
    parts = []
    for key, value in items:
        values = value if isinstance(value, list) else [value]
        for v in values:
            if v is None:
                continue
            if v is True or v is False:
                v = "1" if v else "0"
            parts.append(f"{quote(key)}={quote(str(v))}")
    return "&".join(parts)


def parse_host(host: str, tls: bool = False) -> tuple[int, Any]:
    """``unix:///path`` or ``tcp://host:port`` → (address family, socket address).

    A TCP address without a port means 2375, or 2376 with TLS, as in Docker."""
    if host.startswith("unix://"):
        path = host[7:]
        if not path:
            raise ClientError(f"invalid daemon address {host!r}")
        return _socket.AF_UNIX, path
    if host.startswith("/"):
        return _socket.AF_UNIX, host
    rest = host[6:] if host.startswith("tcp://") else host
    if host.startswith(("http://", "https://", "ssh://", "npipe://", "fd://")):
        raise ClientError(f"unsupported daemon address {host!r} (use unix:// or tcp://)")
    rest = rest.split("/", 1)[0]
    if rest.startswith("["):
        h, _, port = rest[1:].partition("]")
        port = port.lstrip(":")
    else:
        h, _, port = rest.rpartition(":") if ":" in rest else (rest, "", "")
    try:
        portnum = int(port) if port else (2376 if tls else 2375)
    except ValueError:
        raise ClientError(f"invalid daemon address {host!r}") from None
    return (_socket.AF_INET6 if ":" in h else _socket.AF_INET), (h or "127.0.0.1", portnum)


# --- Connections and responses ------------------------------------------------------------


class Connection:
    """A socket plus its receive buffer, so bytes read past a message are not lost."""

    def __init__(self, sock: Any):
        self.sock = sock
        self.buf = bytearray()

    def fileno(self) -> int:
        return self.sock.fileno()

    def fill(self) -> bool:
        """Read more bytes into the buffer; False at end of stream."""
        data = self.sock.recv(_RECV)
        if not data:
            return False
        self.buf += data
        return True

    def take(self, n: int) -> bytes:
        data = bytes(self.buf[:n])
        del self.buf[:n]
        return data

    def read_line(self, limit: int = 65536) -> bytes:
        while True:
            i = self.buf.find(b"\n")
            if i >= 0:
                return self.take(i + 1)
            if len(self.buf) > limit:
                raise ProtocolError("header line too long")
            if not self.fill():
                raise ProtocolError("connection closed by the daemon")

    def read_some(self) -> bytes:
        """Whatever is buffered, else one recv (b"" at end of stream)."""
        if self.buf:
            return self.take(len(self.buf))
        return self.sock.recv(_RECV)

    def sendall(self, data: bytes) -> None:
        self.sock.sendall(data)

    def close_write(self) -> None:
        try:
            self.sock.shutdown(_socket.SHUT_WR)
        except OSError:
            pass

    def close(self) -> None:
        try:
            self.sock.close()
        except OSError:
            pass


class Response:
    """An HTTP response whose body is read lazily (``read``, ``stream``) or as JSON."""

    def __init__(self, client: Client | None, conn: Connection, status: int, reason: str,
                 headers: dict[str, str], no_body: bool):
        self._client = client
        self.conn = conn
        self.status = status
        self.reason = reason
        self.headers = headers
        self._done = False
        te = headers.get("transfer-encoding", "").lower()
        self._chunked = "chunked" in te
        length = headers.get("content-length")
        self._remaining: int | None = None
        if no_body or status in (204, 304) or 100 <= status < 200:
            self._remaining = 0
        elif not self._chunked and length is not None:
            try:
                self._remaining = int(length)
            except ValueError:
                raise ProtocolError("bad Content-Length") from None
        self._keep = headers.get("connection", "").lower() != "close" and (
            self._chunked or self._remaining is not None
        )
        if self._remaining == 0 and not self._chunked:
            self._finish()

    def _finish(self) -> None:
        if self._done:
            return
        self._done = True
        if self._keep and self._client is not None and not self.conn.buf:
            self._client._release(self.conn)
        else:
            self.conn.close()

    def stream(self) -> Iterator[bytes]:
        """Yield body bytes as they arrive (de-chunked)."""
        conn = self.conn
        if self._done:
            return
        if self._chunked:
            while True:
                line = conn.read_line()
                try:
                    size = int(line.split(b";", 1)[0].strip(), 16)
                except ValueError:
                    raise ProtocolError("bad chunk header") from None
                if size == 0:
                    while conn.read_line() not in (b"\r\n", b"\n"):
                        pass
                    break
                while size > 0:
                    if not conn.buf and not conn.fill():
                        raise ProtocolError("connection closed inside a chunk")
                    piece = conn.take(min(size, len(conn.buf)))
                    size -= len(piece)
                    yield piece
                conn.read_line()
        elif self._remaining is not None:
            while self._remaining > 0:
                if not conn.buf and not conn.fill():
                    raise ProtocolError("connection closed before the end of the body")
                piece = conn.take(min(self._remaining, len(conn.buf)))
                self._remaining -= len(piece)
                yield piece
        else:
            while True:
                piece = conn.read_some()
                if not piece:
                    break
                yield piece
        self._finish()

    def read(self) -> bytes:
        return b"".join(self.stream())

    def json(self) -> Any:
        data = self.read()
        return loads(data) if data.strip() else None

    def close(self) -> None:
        if not self._done:
            self._done = True
            self.conn.close()


def error_message(body: bytes, status: int) -> str:
    text = body.decode("utf-8", "replace").strip()
    if text.startswith("{"):
        try:
            obj = loads(text)
            if isinstance(obj, dict) and isinstance(obj.get("message"), str):
                return obj["message"]
        except ProtocolError:
            pass
    return text or f"HTTP status {status}"


class Client:
    """One daemon address; reuses one idle keep-alive connection between requests."""

    def __init__(self, host: str = DEFAULT_HOST, version: str = API_VERSION,
                 timeout: float | None = None, tls: TLSConfig | None = None):
        self.host = host
        self.version = version
        self.timeout = timeout
        self.tls = tls if tls is not None else TLS_BY_HOST.get(host)
        self._family, self._address = parse_host(host, self.tls is not None)
        if self._family == _socket.AF_UNIX:
            self.tls = None  # DOCKER_TLS_VERIFY applies to TCP only, as in Docker
        self._idle: Connection | None = None
        self._hostname = "localhost" if self._family == _socket.AF_UNIX else self._address[0]

    # connections
    def connect(self) -> Connection:
        if self.tls is not None:
            return self._connect_tls()
        sock = _socket.socket(self._family, _socket.SOCK_STREAM)
        if self.timeout is not None:
            sock.settimeout(self.timeout)
        try:
            sock.connect(self._address)
        except OSError as err:
            sock.close()
            raise ConnectFailed(self.host, err.strerror or str(err)) from None
        if self._family != _socket.AF_UNIX:
            sock.setsockopt(_socket.IPPROTO_TCP, _socket.TCP_NODELAY, 1)
        return Connection(sock)

    def _tls_refused(self, err: Exception) -> ClientError:
        """With TLS 1.3 a daemon refuses a client certificate after the client's handshake
        ends: the first read fails. Say so instead of "connection closed"."""
        reason = getattr(err, "reason", None) or ""
        return ClientError(
            f"error during connect: {self.host}: remote error: tls: the daemon refused the "
            f"connection{f' ({reason})' if reason else ''}: it wants a client certificate "
            "signed by its CA (see --tlscert/--tlskey or DOCKER_CERT_PATH)")

    def _connect_tls(self) -> Connection:
        """TCP + TLS (dockyard.tlsconn, on the builtin _ssl: nothing else to import)."""
        from dockyard.tlsconn import SSLCertVerificationError, SSLError, TLSSocket

        assert self.tls is not None
        ctx = self.tls.context()
        raw = _socket.socket(self._family, _socket.SOCK_STREAM)
        if self.timeout is not None:
            raw.settimeout(self.timeout)
        try:
            raw.connect(self._address)
        except OSError as err:
            raw.close()
            raise ConnectFailed(self.host, err.strerror or str(err)) from None
        raw.setsockopt(_socket.IPPROTO_TCP, _socket.TCP_NODELAY, 1)
        try:
            sock = TLSSocket(raw, ctx, self._address[0])
        except SSLCertVerificationError as err:
            raw.close()
            raise ClientError(f"error during connect: tls: failed to verify certificate: "
                              f"{err.verify_message}") from None
        except (SSLError, OSError, UnicodeError) as err:
            raw.close()
            raise ClientError(f"error during connect: TLS handshake with {self.host} failed: "
                              f"{getattr(err, 'reason', None) or err}") from None
        return Connection(sock)

    def _release(self, conn: Connection) -> None:
        if self._idle is not None:
            self._idle.close()
        self._idle = conn

    def close(self) -> None:
        if self._idle is not None:
            self._idle.close()
            self._idle = None

    def url(self, path: str, query: Query | None = None) -> str:
        q = encode_query(query)
        prefix = f"/v{self.version}" if self.version else ""
        return prefix + path + ("?" + q if q else "")

    # requests
    def _send(self, conn: Connection, method: str, target: str, body: Body,
              headers: dict[str, str] | None) -> None:
        lines = [f"{method} {target} HTTP/1.1", f"Host: {self._hostname}",
                 "User-Agent: dockyard-cli"]
        if headers:
            lines.extend(f"{k}: {v}" for k, v in headers.items())
        chunked = False
        if body is None:
            if method in ("POST", "PUT"):
                lines.append("Content-Length: 0")
        elif isinstance(body, bytes | bytearray):
            lines.append(f"Content-Length: {len(body)}")
        else:
            chunked = True
            lines.append("Transfer-Encoding: chunked")
        head = ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")
        if isinstance(body, bytes | bytearray):
            conn.sendall(head + body)
            return
        conn.sendall(head)
        if chunked:
            pieces: Iterable[bytes]
            if hasattr(body, "read"):
                pieces = iter(lambda: body.read(_RECV), b"")
            else:
                pieces = body
            for piece in pieces:
                if piece:
                    conn.sendall(b"%x\r\n" % len(piece) + piece + b"\r\n")
            conn.sendall(b"0\r\n\r\n")

    def _read_head(self, conn: Connection) -> tuple[int, str, dict[str, str]]:
        while True:
            line = conn.read_line()
            parts = line.decode("latin-1").rstrip("\r\n").split(" ", 2)
            if len(parts) < 2 or not parts[0].startswith("HTTP/"):
                raise ProtocolError(f"bad status line from daemon: {line[:80]!r}")
            try:
                status = int(parts[1])
            except ValueError:
                raise ProtocolError(f"bad status line from daemon: {line[:80]!r}") from None
            headers: dict[str, str] = {}
            while True:
                h = conn.read_line()
                if h in (b"\r\n", b"\n"):
                    break
                k, _, v = h.decode("latin-1").partition(":")
                headers[k.strip().lower()] = v.strip()
            if status == 100:
                continue
            return status, parts[2] if len(parts) > 2 else "", headers

    def request(self, method: str, path: str, query: Query | None = None, body: Body = None,
                headers: dict[str, str] | None = None, check: bool = True) -> Response:
        """Send a request and read the response head; the body is read lazily."""
        target = self.url(path, query)
        conn, reused = self._idle, True
        self._idle = None
        if conn is None:
            conn, reused = self.connect(), False
        try:
            self._send(conn, method, target, body, headers)
            status, reason, hdrs = self._read_head(conn)
        except (OSError, ProtocolError) as err:
            conn.close()
            if not reused and self.tls is not None:
                raise self._tls_refused(err) from None
            if not reused or not isinstance(body, bytes | bytearray | None):
                raise
            conn = self.connect()  # the idle connection went stale: retry once
            self._send(conn, method, target, body, headers)
            status, reason, hdrs = self._read_head(conn)
        resp = Response(self, conn, status, reason, hdrs, method == "HEAD")
        if check and status >= 400:
            raise APIError(status, error_message(resp.read(), status))
        return resp

    def call(self, method: str, path: str, query: Query | None = None, json: Any = None,
             body: Body = None, headers: dict[str, str] | None = None) -> Any:
        """Request, read the whole body, decode JSON (None for an empty body)."""
        if json is not None:
            body = dumps(json).encode()
            headers = {**(headers or {}), "Content-Type": "application/json"}
        return self.request(method, path, query, body, headers).json()

    def get(self, path: str, query: Query | None = None) -> Any:
        return self.call("GET", path, query)

    def post(self, path: str, query: Query | None = None, json: Any = None) -> Any:
        return self.call("POST", path, query, json)

    def send_only(self, method: str, path: str, query: Query | None = None,
                  body: bytes | None = None) -> Connection:
        """Send a request on its own connection without waiting for the answer.

        ``run`` sends ``wait`` before ``start`` this way, so the exit cannot be missed.
        """
        conn = self.connect()
        headers = {"Content-Type": "application/json"} if body is not None else None
        self._send(conn, method, self.url(path, query), body, headers)
        return conn

    def receive(self, conn: Connection, method: str = "POST", check: bool = True) -> Response:
        """Read the response to a request sent with ``send_only``."""
        status, reason, hdrs = self._read_head(conn)
        resp = Response(None, conn, status, reason, hdrs, method == "HEAD")
        if check and status >= 400:
            raise APIError(status, error_message(resp.read(), status))
        return resp

    def ping(self) -> bool:
        """True when a daemon answers ``/_ping``."""
        try:
            resp = self.request("GET", "/_ping", check=False)
            resp.read()
            return resp.status == 200
        except (ClientError, OSError):
            return False

    def hijack(self, method: str, path: str, query: Query | None = None,
               body: bytes | None = None) -> Connection:
        """Upgrade a request to a raw bidirectional stream (attach, exec start).

        Returns the connection; bytes already read past the response head stay in its buffer.
        """
        conn = self.connect()
        headers = {"Connection": "Upgrade", "Upgrade": "tcp"}
        if body is not None:
            headers["Content-Type"] = "application/json"
        try:
            self._send(conn, method, self.url(path, query), body if body is not None else b"",
                       headers)
            status, _reason, hdrs = self._read_head(conn)
        except OSError as err:
            conn.close()
            raise ClientError(f"attach failed: {err.strerror or err}") from None
        if status >= 400:
            resp = Response(None, conn, status, _reason, hdrs, False)
            raise APIError(status, error_message(resp.read(), status))
        if status not in (101, 200):
            conn.close()
            raise ProtocolError(f"unexpected status {status} for a hijacked request")
        return conn


# --- Docker's multiplexed stream framing --------------------------------------------------


def iter_frames(chunks: Iterable[bytes]) -> Iterator[tuple[int, bytes]]:
    """Split Docker's 8-byte-header frames ([stream, 0, 0, 0, size BE32]) into (stream, data)."""
    buf = bytearray()
    for chunk in chunks:
        buf += chunk
        while len(buf) >= 8:
            size = int.from_bytes(buf[4:8], "big")
            if len(buf) < 8 + size:
                break
            stream = buf[0]
            data = bytes(buf[8:8 + size])
            del buf[:8 + size]
            yield stream, data
    if buf:
        raise ProtocolError("stream ended inside a frame")


def write_fd(fd: int, data: bytes) -> None:
    """Write all of ``data`` to a file descriptor (a closed pipe ends quietly)."""
    view = memoryview(data)
    while view:
        n = os.write(fd, view)
        view = view[n:]
