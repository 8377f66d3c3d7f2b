"""Request bodies streamed into blocking consumers (imports, loads, tar extraction): the
consumer runs in a thread while the event loop keeps reading the socket, with no spooling and
bounded memory."""

import asyncio
import queue

from aiohttp import web


class BodyReader:
    """A blocking file object fed from the request body, so the import runs in a thread while
    the event loop keeps reading the socket (no spooling, bounded memory)."""

    def __init__(self):
        self._q: queue.Queue = queue.Queue(maxsize=16)
        self._buf = b""
        self._eof = False
        self.closed = False  # set when the consumer is gone: the producer must not block

    def feed(self, chunk: bytes | None) -> None:
        while not self.closed:
            try:
                self._q.put(chunk, timeout=0.2)
                return
            except queue.Full:
                continue

    def read(self, n: int = -1) -> bytes:
        while not self._eof and not self.closed and (n < 0 or len(self._buf) < n):
            chunk = self._q.get()
            if chunk is None:
                self._eof = True
            else:
                self._buf += chunk
        if n < 0:
            out, self._buf = self._buf, b""
        else:
            out, self._buf = self._buf[:n], self._buf[n:]
        return out

    def consume(self, fn, *args):
        """Run ``fn(self, *args)``; whatever happens, stop the producer from waiting on us."""
        try:
            return fn(self, *args)
        finally:
            self.closed = True


async def consume_body(request: web.Request, fn, *args):
    """Run ``fn(body, *args)`` in a thread, ``body`` being a file object of the request body,
    and return its result (or raise its error)."""
    reader = BodyReader()
    job = asyncio.create_task(asyncio.to_thread(reader.consume, fn, *args))
    try:
        while not reader.closed:
            chunk = await request.content.read(1 << 20)
            await asyncio.to_thread(reader.feed, chunk or None)
            if not chunk:
                break
    finally:
        if not reader.closed:
            await asyncio.to_thread(reader.feed, None)
    return await job
