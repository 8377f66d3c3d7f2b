"""A small HTTP/1.1 server on plain asyncio: the registry's edge without a web framework.

Why not aiohttp here: importing it costs ~20 MiB of resident memory, more than the whole
reference registry uses idle. This module does only what a registry needs: keep-alive,
Content-Length and chunked request bodies streamed with back-pressure, HEAD, byte ranges,
file bodies by ``sendfile``, bounded request heads, an access log, graceful shutdown.
It imports no ``ssl``: a TLS context, when there is one, comes from the caller.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import re
import time
from collections import deque
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any
from urllib.parse import parse_qsl, unquote

access_log = logging.getLogger("dockyard.registry.access")
log = logging.getLogger("dockyard.registry")

MAX_HEAD = 64 << 10  # request line + headers
MAX_HEADERS = 128
MAX_REQUEST_LINE = 16 << 10
LINGER = 10.0  # after refusing a body, keep reading (and dropping) it this long
MAX_CHUNK_LINE = 4096
READ_HIGH_WATER = 4 << 20  # pause the socket when this much is buffered and unread
#: bodies are handed to the application in pieces of about this size (or what is left):
#: the upload path writes and hashes 1 MiB batches, and gathering them here costs one copy
BODY_PIECE = 1 << 20
DRAIN_LIMIT = 1 << 20  # an unread body larger than this closes the connection instead
KEEPALIVE_TIMEOUT = 75.0
HEAD_TIMEOUT = 60.0  # a started request head must arrive within this
SHUTDOWN_GRACE = 10.0
FILE_CHUNK = 256 << 10
WRITE_HIGH_WATER = 1 << 20  # let the socket buffer a few file pieces ahead of the client

_TOKEN_RE = re.compile(rb"^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$")
_TOKEN_CHARS = frozenset(b"!#$%&'*+-.^_`|~0123456789"
                         b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz")
_REQUEST_LINE_RE = re.compile(rb"^[!#$%&'*+\-.^_`|~0-9A-Za-z]+ [^ ]+ HTTP/\d\.\d$")
_HEX_RE = re.compile(rb"[0-9a-fA-F]{1,15}")
_VERSION_RE = re.compile(r"^HTTP/1\.([01])$")
_RANGE_RE = re.compile(r"^bytes=(\d*)-(\d*)$")
REASONS = {
    100: "Continue", 200: "OK", 201: "Created", 202: "Accepted", 204: "No Content",
    206: "Partial Content", 304: "Not Modified", 400: "Bad Request", 401: "Unauthorized",
    403: "Forbidden", 404: "Not Found", 405: "Method Not Allowed", 408: "Request Timeout",
    413: "Payload Too Large", 414: "URI Too Long", 416: "Range Not Satisfiable", 429: "Too Many Requests",
    431: "Request Header Fields Too Large", 500: "Internal Server Error",
    501: "Not Implemented", 503: "Service Unavailable", 505: "HTTP Version Not Supported",
}


class ProtocolError(Exception):
    """The client broke HTTP framing; answered with ``status`` and the connection closed."""

    def __init__(self, message: str, status: int = 400):
        super().__init__(message)
        self.status = status


class Query:
    """Decoded query parameters, in order, repeated names kept."""

    def __init__(self, raw: str):
        self._items = parse_qsl(raw, keep_blank_values=True) if raw else []

    def get(self, name: str, default: str | None = None) -> str | None:
        for k, v in self._items:
            if k == name:
                return v
        return default

    def getall(self, name: str) -> list[str]:
        return [v for k, v in self._items if k == name]

    def items(self) -> list[tuple[str, str]]:
        return list(self._items)


class Request:
    """One parsed request head plus its body stream."""

    def __init__(self, conn: _Conn, method: str, target: str, minor: int,
                 headers: list[tuple[str, str]]):
        self._conn = conn
        self.method = method
        self.target = target
        raw_path, _, self.query_string = target.partition("?")
        self.path = unquote(raw_path)
        self.http_minor = minor
        self.header_list = headers
        self.headers = {}  # lower-case name -> value (repeats joined with ", ")
        for k, v in headers:
            old = self.headers.get(k)
            self.headers[k] = v if old is None else f"{old}, {v}"
        self._query: Query | None = None
        self.scheme = "https" if conn.tls else "http"
        self.remote = conn.peer
        self.content_length: int | None = None
        self.chunked = False
        self._remaining = 0  # content-length bytes left, or bytes left of the current chunk
        self._need_crlf = False  # a chunk's data was read, its CRLF not yet
        self._trailers = False  # the last chunk was seen
        self._pieces: list[Any] = []  # decoded, not yet handed out (bytes and views)
        self._plen = 0
        self._expect_continue = self.headers.get("expect", "").lower() == "100-continue"
        te = self.headers.get("transfer-encoding")
        cl = self.headers.get("content-length")
        if te is not None:
            if cl is not None:
                raise ProtocolError("both Transfer-Encoding and Content-Length")
            if te.strip().lower() != "chunked":
                raise ProtocolError(f"unsupported transfer coding {te[:40]!r}", 501)
            self.chunked = True
        elif cl is not None:
            if not (cl.isascii() and cl.isdigit()) or len(cl) > 18:
                raise ProtocolError("invalid Content-Length")
            self.content_length = self._remaining = int(cl)
        self.body_done = not self.chunked and self._remaining == 0
        self.body_failed = False

    @property
    def query(self) -> Query:
        if self._query is None:
            self._query = Query(self.query_string)
        return self._query

    @property
    def host(self) -> str:
        return self.headers.get("host") or self._conn.local

    def header(self, name: str, default: str | None = None) -> str | None:
        return self.headers.get(name.lower(), default)

    def getall(self, name: str) -> list[str]:
        name = name.lower()
        return [v for k, v in self.header_list if k == name]

    @property
    def has_body(self) -> bool:
        """True when the request announced a body with bytes in it."""
        return self.chunked or bool(self.content_length)

    async def iter_body(self) -> AsyncIterator[bytes]:
        """The body as it arrives, in whatever sizes the socket delivers."""
        if self.body_done:
            return
        if self._expect_continue:
            self._expect_continue = False
            self._conn.write(b"HTTP/1.1 100 Continue\r\n\r\n")
        conn = self._conn
        try:
            if not self.chunked:
                while self._remaining:
                    chunk = await conn.take(self._remaining, BODY_PIECE)
                    self._remaining -= len(chunk)
                    yield chunk
            else:
                while True:
                    self._dechunk()
                    if self._trailers or self._plen >= BODY_PIECE:
                        if self._plen:
                            out = _joined(self._pieces)
                            self._pieces, self._plen = [], 0
                            yield out
                            continue  # more may have arrived meanwhile: decode before waiting
                        await conn.skip_trailers()
                        break
                    await conn._fill()  # not a whole piece buffered yet: wait for more
        except BaseException:
            self.body_failed = True
            raise
        self.body_done = True

    def _dechunk(self) -> None:
        """Decode every whole piece of a chunked body now buffered, consuming it. Data is
        kept as views of the received bytes and joined once per ``BODY_PIECE``: clients
        send 32 KiB chunks, and a copy or a coroutine round trip per chunk costs CPU that
        a push on a two-core machine shares with the client."""
        if self._trailers:
            return
        conn = self._conn
        conn.to_queue()
        q = conn.q
        while q and not self._trailers:
            c = q[0]
            pos = start = conn.qoff
            end = len(c)
            if self._remaining:
                k = min(self._remaining, end - pos)
                self._pieces.append(c if k == end else memoryview(c)[pos:pos + k])
                self._plen += k
                self._remaining -= k
                pos += k
                self._need_crlf = self._remaining == 0
            elif self._need_crlf:
                if end - pos < 2:
                    if not conn.merge_front():
                        break
                    continue
                if c[pos:pos + 2] != b"\r\n":
                    raise ProtocolError("chunk data longer than its size")
                pos += 2
                self._need_crlf = False
            else:
                i = c.find(b"\r\n", pos, pos + MAX_CHUNK_LINE)
                if i < 0:
                    if end - pos >= MAX_CHUNK_LINE:
                        raise ProtocolError("chunk size line too long")
                    if not conn.merge_front():
                        break
                    continue
                size = c[pos:i].split(b";", 1)[0].strip(b" \t")
                if not _HEX_RE.fullmatch(size):
                    raise ProtocolError("malformed chunk size")
                pos = i + 2
                self._remaining = int(size, 16)
                self._trailers = self._remaining == 0
            conn.qlen -= pos - start
            if pos >= end:
                q.popleft()
                conn.qoff = 0
            else:
                conn.qoff = pos

    async def read(self, limit: int) -> bytes:
        """The whole body, refusing more than ``limit`` bytes (raises ProtocolError 413)."""
        if self.content_length is not None and self.content_length > limit:
            raise ProtocolError("request body too large", 413)
        body = bytearray()
        async for chunk in self.iter_body():
            body += chunk
            if len(body) > limit:
                raise ProtocolError("request body too large", 413)
        return bytes(body)

    async def discard(self, limit: int) -> bool:
        """Read and drop what is left of the body so the connection can serve the next
        request; False when more than ``limit`` is left (the connection should close)."""
        if self.body_done:
            return True
        if self.body_failed:
            return False
        if self.content_length is not None and self._remaining > limit:
            return False
        seen = 0
        try:
            async for chunk in self.iter_body():
                seen += len(chunk)
                if seen > limit:
                    return False
        except (ProtocolError, ConnectionError):
            return False
        return True


class Response:
    """A status, headers and a small in-memory body (None: no body)."""

    def __init__(self, status: int = 200, body: bytes | None = None,
                 headers: dict[str, str] | None = None):
        self.status = status
        self.body = body
        self.headers = headers if headers is not None else {}


class FileResponse(Response):
    """A file's bytes, with single byte ranges; sent with ``sendfile`` where it pays."""

    def __init__(self, path: str, headers: dict[str, str] | None = None):
        super().__init__(200, None, headers)
        self.path = path


class StreamResponse(Response):
    """A body of known length produced by an async iterator."""

    def __init__(self, stream: AsyncIterator[bytes], length: int,
                 headers: dict[str, str] | None = None):
        super().__init__(200, None, headers)
        self.stream = stream
        self.length = length


Handler = Callable[[Request], Awaitable[Response]]


def _parse_range(value: str, size: int) -> tuple[int, int] | None | bool:
    """(start, end inclusive), None to ignore the header, False when unsatisfiable."""
    m = _RANGE_RE.match(value.strip())
    if not m or (not m.group(1) and not m.group(2)):
        return None  # malformed or several ranges: RFC 9110 lets us send the whole file
    a, b = m.group(1), m.group(2)
    if not a:
        n = int(b)
        if n == 0:
            return False
        return max(size - n, 0), size - 1
    start = int(a)
    end = int(b) if b else size - 1
    if end < start:
        return None
    if start >= size:
        return False
    return start, min(end, size - 1)


class _Date:
    """The Date header, formatted once a second."""

    sec = -1
    value = ""

    @classmethod
    def now(cls) -> str:
        t = int(time.time())
        if t != cls.sec:
            cls.sec = t
            cls.value = time.strftime("%a, %d %b %Y %H:%M:%S GMT", time.gmtime(t))
        return cls.value


class _Conn(asyncio.Protocol):
    """One client connection: buffers input with back-pressure and runs requests in order."""

    def __init__(self, server: HTTPServer):
        self.server = server
        self.loop = server.loop
        # Input is a queue of received bytes objects (``q``, ``qoff`` bytes of the first one
        # already consumed): bodies are cut from it without copying. Request heads and other
        # lines are parsed in ``buf``, where the queue is gathered when a line is wanted.
        # The stream is always ``buf`` followed by the queue.
        self.buf = bytearray()
        self.q: deque[bytes] = deque()
        self.qoff = 0
        self.qlen = 0
        self.eof = False
        self.lost = False
        self.read_paused = False
        self.write_paused = False
        self.waiter: asyncio.Future[None] | None = None
        self.drain_waiter: asyncio.Future[None] | None = None
        self.idle = True  # waiting for a request head with nothing buffered
        self.closing = False
        self.transport: Any = None
        self.task: asyncio.Task[None] | None = None
        self.peer = "-"
        self.local = ""
        self.tls = server.tls

    # -- protocol callbacks ------------------------------------------------------------------------

    def connection_made(self, transport: Any) -> None:
        self.transport = transport
        peer = transport.get_extra_info("peername")
        self.peer = peer[0] if isinstance(peer, tuple) else str(peer or "-")
        sock = transport.get_extra_info("sockname")
        if isinstance(sock, tuple):
            self.local = f"{sock[0]}:{sock[1]}"
        self.server.conns.add(self)
        with contextlib.suppress(AttributeError, NotImplementedError):
            transport.set_write_buffer_limits(high=WRITE_HIGH_WATER)
        self.task = self.loop.create_task(self._serve())

    def data_received(self, data: bytes) -> None:
        self.q.append(data)
        self.qlen += len(data)
        if self.qlen + len(self.buf) >= READ_HIGH_WATER and not self.read_paused:
            self.read_paused = True
            self.transport.pause_reading()
        self._wake()

    def eof_received(self) -> bool:
        self.eof = True
        self._wake()
        return True  # keep the write side: a response may still be on its way

    def connection_lost(self, exc: Exception | None) -> None:
        self.lost = self.eof = True
        self.server.conns.discard(self)
        if not self.server.conns and self.server.on_idle is not None:
            self.server.on_idle()
        self._wake()
        w, self.drain_waiter = self.drain_waiter, None
        if w is not None and not w.done():
            w.set_result(None)

    def pause_writing(self) -> None:
        self.write_paused = True

    def resume_writing(self) -> None:
        self.write_paused = False
        w, self.drain_waiter = self.drain_waiter, None
        if w is not None and not w.done():
            w.set_result(None)

    # -- input -------------------------------------------------------------------------------------

    def buffered(self) -> int:
        return len(self.buf) + self.qlen

    def to_buf(self) -> None:
        """Gather the queue into ``buf`` (for line parsing)."""
        if self.q:
            if self.qoff:
                self.q[0] = self.q[0][self.qoff:]
                self.qoff = 0
            self.buf += b"".join(self.q)
            self.q.clear()
            self.qlen = 0

    def to_queue(self) -> None:
        """Put what ``buf`` holds back in front of the queue (for body reading)."""
        if self.buf:
            if self.qoff:
                self.q[0] = self.q[0][self.qoff:]
                self.qoff = 0
            self.q.appendleft(bytes(self.buf))
            self.qlen += len(self.buf)
            self.buf.clear()

    def merge_front(self) -> bool:
        """Join the rest of the first queued piece with the next (a line cut in two)."""
        if len(self.q) < 2:
            return False
        first = self.q.popleft()
        self.q[0] = first[self.qoff:] + self.q[0]
        self.qoff = 0
        return True

    def drop_input(self) -> None:
        self.buf.clear()
        self.q.clear()
        self.qoff = self.qlen = 0

    def _wake(self) -> None:
        w, self.waiter = self.waiter, None
        if w is not None and not w.done():
            w.set_result(None)

    async def _fill(self, timeout: float | None = None) -> None:
        """Wait for more input; ConnectionResetError at end of stream."""
        if self.eof:
            raise ConnectionResetError("connection closed by peer")
        if self.read_paused:
            self.read_paused = False
            self.transport.resume_reading()
        w = self.waiter = self.loop.create_future()
        if timeout is None:
            await w
        else:
            h = self.loop.call_later(timeout, _expire, w)
            try:
                await w
            finally:
                h.cancel()
        if self.eof and not self.buffered():
            raise ConnectionResetError("connection closed by peer")

    async def take(self, n: int, want: int = 1) -> bytes:
        """Up to ``n`` bytes, waiting until ``min(n, want)`` are buffered; a received bytes
        object as is when it is all that is wanted, else one join."""
        self.to_queue()
        target = min(n, want)
        while self.qlen < target:
            await self._fill()
        q = self.q
        pieces: list[Any] = []
        need = n
        while need and q:
            c = q[0]
            avail = len(c) - self.qoff
            if avail <= need:
                pieces.append(memoryview(c)[self.qoff:] if self.qoff else c)
                q.popleft()
                self.qoff = 0
                need -= avail
            else:
                pieces.append(memoryview(c)[self.qoff:self.qoff + need])
                self.qoff += need
                need = 0
        out = _joined(pieces)
        self.qlen -= len(out)
        return out

    async def read_line(self, limit: int) -> bytes:
        while True:
            self.to_buf()
            i = self.buf.find(b"\r\n")
            if i >= 0:
                line = bytes(self.buf[:i])
                del self.buf[:i + 2]
                return line
            if len(self.buf) > limit:
                raise ProtocolError("line too long")
            await self._fill()

    async def skip_trailers(self) -> None:
        total = 0
        while True:
            line = await self.read_line(MAX_CHUNK_LINE)
            total += len(line) + 2
            if not line:
                return
            if total > MAX_HEAD:
                raise ProtocolError("trailers too large", 431)

    async def _read_head(self) -> bytes | None:
        """The next request head, or None when the client is done (EOF or idle too long)."""
        self.idle = not self.buffered()
        try:
            while True:
                self.to_buf()
                i = self.buf.find(b"\r\n\r\n", 0, MAX_HEAD + 4)
                if i >= 0:
                    head = bytes(self.buf[:i])
                    del self.buf[:i + 4]
                    return head
                if len(self.buf) > MAX_HEAD:
                    raise ProtocolError("request head too large", 431)
                self._check_start()
                if self.closing and not self.buf:
                    return None
                try:
                    await self._fill(KEEPALIVE_TIMEOUT if not self.buf else HEAD_TIMEOUT)
                except (ConnectionResetError, TimeoutError):
                    self.to_buf()
                    if self.buf.strip():
                        raise ProtocolError("incomplete request head", 400) from None
                    return None
                self.idle = False
        finally:
            self.idle = False

    def _check_start(self) -> None:
        """Refuse what cannot become a request at once (a TLS hello sent to plain HTTP, say),
        rather than waiting for a head that never comes: the client then learns right away."""
        start = self.buf.lstrip(b"\r\n")[:MAX_REQUEST_LINE + 2]
        if not start:
            return
        if start[0] not in _TOKEN_CHARS:
            raise ProtocolError("not an HTTP request")
        i = start.find(b"\r\n")
        line = start[:i] if i >= 0 else start
        if i < 0 and len(start) > MAX_REQUEST_LINE:
            raise ProtocolError("request line too long", 414)
        if i >= 0 and not _REQUEST_LINE_RE.match(line):
            raise ProtocolError("malformed request line")

    def _parse_head(self, head: bytes) -> Request:
        lines = head.split(b"\r\n")
        while lines and not lines[0]:  # RFC 9112: ignore empty lines before a request
            lines.pop(0)
        if not lines:
            raise ProtocolError("empty request")
        if len(lines[0]) > MAX_REQUEST_LINE:
            raise ProtocolError("request line too long", 414)
        parts = lines[0].split(b" ")
        if len(parts) != 3 or not _TOKEN_RE.match(parts[0]) or not parts[1]:
            raise ProtocolError("malformed request line")
        try:
            method, target, version = (p.decode("ascii") for p in parts)
        except UnicodeDecodeError:
            raise ProtocolError("non-ASCII request line") from None
        vm = _VERSION_RE.match(version)
        if not vm:
            raise ProtocolError("unsupported HTTP version", 505 if version.startswith(
                "HTTP/") else 400)
        if not target.startswith("/") or any(c in target for c in "\x00 \t#"):
            raise ProtocolError("malformed request target")
        if len(lines) - 1 > MAX_HEADERS:
            raise ProtocolError("too many headers", 431)
        headers = []
        for raw in lines[1:]:
            name, sep, value = raw.partition(b":")
            if not sep or not _TOKEN_RE.match(name):
                raise ProtocolError("malformed header line")
            v = value.strip(b" \t")
            if b"\r" in v or b"\n" in v or b"\x00" in v:
                raise ProtocolError("malformed header value")
            headers.append((name.decode("ascii").lower(), v.decode("latin-1")))
        return Request(self, method, target, int(vm.group(1)), headers)

    # -- output ------------------------------------------------------------------------------------

    def write(self, data: bytes) -> None:
        if self.lost:
            raise ConnectionResetError("connection lost")
        self.transport.write(data)

    async def drain(self) -> None:
        if self.lost:
            raise ConnectionResetError("connection lost")
        if self.write_paused:
            w = self.drain_waiter = self.loop.create_future()
            await w
            if self.lost:
                raise ConnectionResetError("connection lost")

    def _head_bytes(self, status: int, headers: dict[str, str], keep: bool, minor: int) -> bytes:
        out = [f"HTTP/1.1 {status} {REASONS.get(status, 'Unknown')}\r\n", "Date: ",
               _Date.now(), "\r\n"]
        for k, v in headers.items():
            if "\r" in v or "\n" in v:
                v = v.replace("\r", " ").replace("\n", " ")
            out += (k, ": ", v, "\r\n")
        if not keep:
            out.append("Connection: close\r\n")
        elif minor == 0:
            out.append("Connection: keep-alive\r\n")
        out.append("\r\n")
        return "".join(out).encode("latin-1")

    async def _send(self, req: Request, resp: Response, keep: bool) -> int:
        """Write the response; returns the number of body bytes sent."""
        head_only = req.method == "HEAD"
        h = resp.headers
        status = resp.status
        if isinstance(resp, FileResponse):
            return await self._send_file(req, resp, keep)
        if isinstance(resp, StreamResponse):
            h["Content-Length"] = str(resp.length)
            self.write(self._head_bytes(status, h, keep, req.http_minor))
            if head_only:
                return 0
            sent = 0
            async for chunk in resp.stream:
                self.write(chunk)
                sent += len(chunk)
                await self.drain()
            return sent
        body = resp.body
        if "Content-Length" not in h and status not in (204, 304) and status >= 200:
            h["Content-Length"] = str(len(body) if body else 0)
        if head_only or not body or status in (204, 304):
            self.write(self._head_bytes(status, h, keep, req.http_minor))
            await self.drain()
            return 0
        self.write(self._head_bytes(status, h, keep, req.http_minor) + body)
        await self.drain()
        return len(body)

    async def _send_file(self, req: Request, resp: FileResponse, keep: bool) -> int:
        h = resp.headers
        try:
            f = open(resp.path, "rb")  # noqa: SIM115 - closed below
        except FileNotFoundError:
            msg = b'{"errors":[{"code":"BLOB_UNKNOWN","message":"blob unknown to registry"}]}'
            await self._send(req, Response(404, msg, {"Content-Type": "application/json"}), keep)
            return 0
        try:
            size = os.fstat(f.fileno()).st_size
            start, count, status = 0, size, 200
            h["Accept-Ranges"] = "bytes"
            etag = h.get("ETag")
            inm = req.headers.get("if-none-match")
            if etag and inm and (inm.strip() == "*" or etag in (t.strip() for t in inm.split(","))):
                self.write(self._head_bytes(304, h, keep, req.http_minor))
                return 0
            rng = req.headers.get("range")
            if rng is not None:
                r = _parse_range(rng, size)
                if r is False:
                    h["Content-Range"] = f"bytes */{size}"
                    h["Content-Length"] = "0"
                    self.write(self._head_bytes(416, h, keep, req.http_minor))
                    return 0
                if r:
                    start, end = r
                    count, status = end - start + 1, 206
                    h["Content-Range"] = f"bytes {start}-{end}/{size}"
            h["Content-Length"] = str(count)
            self.write(self._head_bytes(status, h, keep, req.http_minor))
            if req.method == "HEAD" or count == 0:
                return 0
            return await self.server.send_file(self, f, start, count)
        finally:
            f.close()

    # -- the request loop --------------------------------------------------------------------------

    async def _serve(self) -> None:
        try:
            while not self.lost:
                try:
                    head = await self._read_head()
                    if head is None:
                        break
                    req = self._parse_head(head)
                except ProtocolError as e:
                    await self._refuse(e)
                    await self._linger()
                    break
                t0 = time.monotonic()
                keep = not self.closing and self._keep_alive(req)
                resp = await self.server.handle(req)
                if req.body_failed or (not req.body_done and req.has_body and (
                        req.chunked or req._expect_continue
                        or (req.content_length or 0) > DRAIN_LIMIT)):
                    keep = False  # reading what is left would cost more than a new connection
                if self.closing:
                    keep = False
                sent = await self._send(req, resp, keep)
                if access_log.isEnabledFor(logging.INFO):
                    access_log.info('%s "%s %s HTTP/1.%d" %d %d %.6f', self.peer, req.method,
                                    req.target, req.http_minor, resp.status, sent,
                                    time.monotonic() - t0)
                if not keep:
                    if not req.body_done and req.has_body:
                        await self._linger()
                    break
                if not await req.discard(DRAIN_LIMIT):
                    break
        except (ConnectionError, asyncio.CancelledError):
            pass
        except Exception:
            log.exception("HTTP connection from %s failed", self.peer)
        finally:
            if self.transport is not None and not self.lost:
                self.transport.close()

    async def _linger(self) -> None:
        """Drop the rest of a body we answered early until the client closes (or LINGER
        passes): closing with unread input would reset the connection, and the client
        could lose our response."""
        if self.transport.can_write_eof():
            self.transport.write_eof()
        deadline = self.loop.time() + LINGER
        with contextlib.suppress(ConnectionError, TimeoutError):
            while (left := deadline - self.loop.time()) > 0:
                self.drop_input()
                await self._fill(left)

    def _keep_alive(self, req: Request) -> bool:
        conn = req.headers.get("connection", "").lower()
        if req.http_minor == 0:
            return "keep-alive" in conn
        return "close" not in conn

    async def _refuse(self, e: ProtocolError) -> None:
        if self.lost:
            return
        log.info("bad request from %s: %s", self.peer, e)
        body = json.dumps({"errors": [{"code": "UNSUPPORTED", "message": str(e)}]}).encode()
        head = self._head_bytes(e.status, {"Content-Type": "application/json",
                                           "Content-Length": str(len(body))}, False, 1)
        self.write(head + body)
        await self.drain()


def _joined(pieces: list[Any]) -> bytes:
    if len(pieces) == 1 and isinstance(pieces[0], bytes):
        return pieces[0]
    return b"".join(pieces)


def _expire(w: asyncio.Future[None]) -> None:
    if not w.done():
        w.set_exception(TimeoutError())


class HTTPServer:
    """Listens, runs one ``_Conn`` per client, and stops gracefully."""

    def __init__(self, handler: Handler, ssl_context: Any = None):
        self.handler = handler
        self.ssl_context = ssl_context
        self.tls = ssl_context is not None
        self.loop = asyncio.get_running_loop()
        self.conns: set[_Conn] = set()
        self._server: asyncio.AbstractServer | None = None
        self.transfers = 0  # file bodies being sent right now
        self.on_idle: Callable[[], None] | None = None  # called when the last client leaves

    async def handle(self, req: Request) -> Response:
        try:
            return await self.handler(req)
        except ProtocolError as e:
            req.body_failed = True
            return Response(e.status, None, {"Content-Length": "0"})
        except Exception:
            log.exception("internal error on %s %s", req.method, req.path)
            return Response(500, None, {"Content-Length": "0"})

    async def start(self, host: str, port: int, backlog: int = 1024) -> None:
        self._server = await self.loop.create_server(
            lambda: _Conn(self), host, port, ssl=self.ssl_context, backlog=backlog,
            reuse_address=True)

    async def send_file(self, conn: _Conn, f: Any, offset: int, count: int) -> int:
        """Measured on loopback: with several transfers in flight ``sendfile`` wins (the
        server's CPU is the limit); a lone transfer to a slow reader (skopeo hashing and
        writing) finishes sooner when the server copies, because the reader then gets
        cache-hot data. So copy when alone, ``sendfile`` otherwise (and always for TLS,
        where asyncio falls back to copying anyway)."""
        self.transfers += 1
        try:
            if self.transfers > 1 and not self.tls:
                await conn.drain()
                return await self.loop.sendfile(conn.transport, f, offset, count)
            f.seek(offset)
            sent = 0
            # read the next piece in a worker while the socket takes this one
            nxt = self.loop.run_in_executor(None, f.read, min(FILE_CHUNK, count))
            try:
                while sent < count:
                    chunk = await nxt
                    if not chunk:
                        raise ConnectionResetError("file shrank while sending")
                    sent += len(chunk)
                    if sent < count:
                        nxt = self.loop.run_in_executor(None, f.read,
                                                        min(FILE_CHUNK, count - sent))
                    conn.write(chunk)
                    await conn.drain()
            finally:
                if not nxt.done():
                    with contextlib.suppress(Exception):
                        await asyncio.shield(nxt)  # let the read finish before f closes
            return sent
        finally:
            self.transfers -= 1

    async def shutdown(self, grace: float = SHUTDOWN_GRACE) -> None:
        """Stop accepting, let requests in flight finish (up to ``grace`` s), then close."""
        if self._server is not None:
            self._server.close()
        for c in list(self.conns):
            c.closing = True
            if c.idle:
                c._wake()
                c.transport.close()
        tasks = [c.task for c in self.conns if c.task is not None and not c.task.done()]
        if tasks:
            _, pending = await asyncio.wait(tasks, timeout=grace)
            for t in pending:
                t.cancel()
            if pending:
                await asyncio.wait(pending, timeout=1.0)
        for c in list(self.conns):
            c.transport.abort()
        if self._server is not None:
            await self._server.wait_closed()
