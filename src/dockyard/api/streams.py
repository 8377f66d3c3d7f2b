"""Docker's stream multiplexing and connection hijacking for attach and logs.

Without a TTY, each chunk is framed: [stream byte, 0, 0, 0, big-endian uint32 length] + bytes,
stream 0 = stdin, 1 = stdout, 2 = stderr. With a TTY the bytes go raw.
"""

import asyncio
import struct

from aiohttp import web

STREAM_IDS = {"stdin": 0, "stdout": 1, "stderr": 2}


def frame(stream: str, data: bytes) -> bytes:
    return struct.pack(">BxxxL", STREAM_IDS[stream], len(data)) + data


class _StdinParser:
    """Receives the client's bytes after the hijack (aiohttp's ``set_parser`` hook)."""

    def __init__(self, queue: asyncio.Queue):
        self.queue = queue

    def feed_data(self, data: bytes):
        self.queue.put_nowait(bytes(data))
        return False, b""

    def feed_eof(self):
        self.queue.put_nowait(None)


class _HalfCloseProtocol(asyncio.Protocol):
    """Delegates to aiohttp's protocol but keeps the socket open for writing after the peer's
    EOF (asyncio closes the transport when ``eof_received`` returns a false value)."""

    def __init__(self, inner, stdin: asyncio.Queue):
        self._inner = inner
        self._stdin = stdin

    def data_received(self, data: bytes) -> None:
        self._inner.data_received(data)

    def eof_received(self) -> bool:
        self._stdin.put_nowait(None)
        return True

    def connection_lost(self, exc) -> None:
        self._stdin.put_nowait(None)
        self._inner.connection_lost(exc)

    def pause_writing(self) -> None:
        self._inner.pause_writing()

    def resume_writing(self) -> None:
        self._inner.resume_writing()


class Hijacked:
    """A connection taken over from HTTP: raw writes to the transport, client bytes in a queue."""

    def __init__(self, request: web.Request):
        self.request = request
        self.transport = request.transport
        self.stdin: asyncio.Queue = asyncio.Queue()

    @classmethod
    async def take(cls, request: web.Request, content_type: str) -> "Hijacked":
        upgrade = request.headers.get("Upgrade", "").lower() in ("tcp", "h2c")
        if upgrade:
            resp = web.StreamResponse(status=101, reason="UPGRADED")
            resp.headers["Connection"] = "Upgrade"
            resp.headers["Upgrade"] = "tcp"
        else:
            resp = web.StreamResponse(status=200)
            resp.force_close()
        resp.headers["Content-Type"] = content_type
        if not upgrade:
            # No chunked framing may wrap the raw stream: the body ends when we close.
            resp.headers["Transfer-Encoding"] = "identity"
        self = cls(request)
        self.response = resp
        protocol = request.protocol
        # Before the 101 goes out, so that a client sending stdin and its EOF at once is seen:
        # a client half-closing its side must not close our side of the socket.
        self.transport.set_protocol(_HalfCloseProtocol(protocol, self.stdin))
        await resp.prepare(request)
        if upgrade:
            protocol.set_parser(_StdinParser(self.stdin))
        return self

    def write(self, data: bytes) -> None:
        if self.transport is not None and not self.transport.is_closing():
            self.transport.write(data)

    @property
    def closed(self) -> bool:
        return self.transport is None or self.transport.is_closing()

    async def drain(self) -> None:
        # The transport buffers; wait while the peer is slow so memory stays bounded.
        while (self.transport is not None and not self.transport.is_closing()
               and self.transport.get_write_buffer_size() > 1 << 20):
            await asyncio.sleep(0.01)

    def close(self) -> None:
        if self.transport is not None and not self.transport.is_closing():
            if self.transport.can_write_eof():
                try:
                    self.transport.write_eof()
                except OSError:
                    pass
            self.transport.close()
