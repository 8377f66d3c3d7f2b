"""Docker's detach keys (``ctrl-p,ctrl-q`` by default): typed on an attached stdin, they end the
attach and leave the container running. Recognised in the daemon, so any client gets them."""

from __future__ import annotations

import asyncio

from ..detachkeys import DetachFilter, parse_detach_keys

__all__ = ["filtered", "parse_detach_keys"]


async def filtered(chunks: asyncio.Queue, keys: bytes, detached: asyncio.Event) -> asyncio.Queue:
    """A queue fed from ``chunks`` minus the detach sequence; sets ``detached`` on it."""
    out: asyncio.Queue = asyncio.Queue()
    f = DetachFilter(keys)

    async def run() -> None:
        while True:
            data = await chunks.get()
            if data is None:
                out.put_nowait(f.held or None)
                if f.held:
                    out.put_nowait(None)
                return
            data, hit = f.feed(data)
            if data:
                out.put_nowait(data)
            if hit:
                detached.set()
                return

    asyncio.get_running_loop().create_task(run())
    return out
