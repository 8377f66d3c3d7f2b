"""Stream bytes produced by blocking code (tar writers) into an aiohttp response."""

from __future__ import annotations

import asyncio
import io
import logging
from collections.abc import Callable
from typing import BinaryIO

from aiohttp import web

log = logging.getLogger(__name__)


class _LoopWriter(io.RawIOBase):
    """A file object for a worker thread: each write is sent by the event loop, with
    back-pressure (the thread waits until the client took the chunk)."""

    def __init__(self, resp: web.StreamResponse, loop: asyncio.AbstractEventLoop):
        self._resp = resp
        self._loop = loop

    def writable(self) -> bool:
        return True

    def write(self, data) -> int:
        data = bytes(data)
        if data:
            asyncio.run_coroutine_threadsafe(self._resp.write(data), self._loop).result()
        return len(data)


async def stream_from_thread(request: web.Request, produce: Callable[[BinaryIO], None],
                             content_type: str = "application/x-tar",
                             check: Callable[[], object] | None = None) -> web.StreamResponse:
    """Run ``check`` (errors become normal API errors), then ``produce(out)`` in a thread
    while the response streams; a failure after the first byte can only cut the stream."""
    if check is not None:
        await asyncio.to_thread(check)
    resp = web.StreamResponse(status=200, headers={"Content-Type": content_type})
    await resp.prepare(request)
    loop = asyncio.get_running_loop()

    def run() -> None:
        with io.BufferedWriter(_LoopWriter(resp, loop), 1 << 20) as out:
            produce(out)

    try:
        await asyncio.to_thread(run)
    except Exception:
        log.exception("streaming %s failed", request.path)
        if request.transport is not None:
            request.transport.close()
        return resp
    await resp.write_eof()
    return resp
