"""Resumable upload sessions: bytes appended on disk, hashed as they stream.

A session is a directory holding ``data`` and ``info.json``; its offset is the size of
``data`` after each request's fsync, so a restarted registry resumes exactly where the client
was told it was. The running hash lives in memory and is rebuilt from disk after a restart.
"""

from __future__ import annotations

import asyncio
import json
import secrets
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field

from .. import digest as _digest
from ..errors import NotFound
from . import layout
from .driver import FileWriter, StorageDriver
from .errors import RegistryError

#: how much to gather before handing a batch to a worker thread to write and hash
BATCH = 1 << 20


@dataclass
class Session:
    id: str
    repo: str
    started: float
    hasher: _digest.Hasher | None = None
    lock: asyncio.Lock = field(default_factory=asyncio.Lock)


def _unknown() -> RegistryError:
    return RegistryError("BLOB_UPLOAD_UNKNOWN")


class Uploads:
    def __init__(self, driver: StorageDriver):
        self.driver = driver
        self._live: dict[str, Session] = {}

    def start(self, repo: str) -> Session:
        sid = secrets.token_hex(16)
        info = json.dumps({"repo": repo, "started": time.time()}).encode()
        self.driver.put_content(layout.upload_info(sid), info)
        self.driver.writer(layout.upload_data(sid)).close()
        s = Session(sid, repo, time.time(), _digest.Hasher())
        self._live[sid] = s
        return s

    def get(self, repo: str, sid: str) -> Session:
        """The session, loading it from disk after a restart; BLOB_UPLOAD_UNKNOWN otherwise."""
        if not layout.is_upload_id(sid):
            raise _unknown()
        s = self._live.get(sid)
        if s is None:
            try:
                info = json.loads(self.driver.get_content(layout.upload_info(sid)))
            except (NotFound, ValueError):
                raise _unknown() from None
            s = Session(sid, str(info.get("repo")), float(info.get("started", 0)))
            self._live[sid] = s
        if s.repo != repo:
            raise _unknown()
        return s

    def offset(self, s: Session) -> int:
        try:
            return self.driver.stat(layout.upload_data(s.id)).size
        except NotFound:
            self._live.pop(s.id, None)
            raise _unknown() from None

    async def _hasher(self, s: Session, size: int, algo: str = "sha256") -> _digest.Hasher:
        if s.hasher is not None and s.hasher.size == size and s.hasher.algo == algo:
            return s.hasher

        def rehash() -> _digest.Hasher:
            h = _digest.Hasher(algo)
            with self.driver.reader(layout.upload_data(s.id)) as f:
                while True:
                    buf = f.read(BATCH)
                    if not buf:
                        break
                    h.update(buf)
            return h

        s.hasher = await asyncio.to_thread(rehash)
        return s.hasher

    async def append(self, s: Session, chunks: AsyncIterator[bytes],
                     start: int | None = None, length: int | None = None) -> int:
        """Append a request body; ``start`` (from Content-Range) must equal the offset."""
        offset = self.offset(s)
        if start is not None and start != offset:
            raise RegistryError("RANGE_INVALID", f"upload is at offset {offset}, not {start}",
                                headers={"Range": f"0-{max(offset - 1, 0)}"})
        hasher = await self._hasher(s, offset)
        writer = self.driver.writer(layout.upload_data(s.id), append=True)
        written = 0
        try:
            pending: asyncio.Future[None] | None = None
            buf = bytearray()

            def flush(data: bytes, w: FileWriter = writer) -> None:
                w.write(data)
                hasher.update(data)

            async for chunk in chunks:
                buf += chunk
                written += len(chunk)
                if length is not None and written > length:
                    raise RegistryError("SIZE_INVALID", "body longer than Content-Length")
                if len(buf) >= BATCH:
                    if pending is not None:
                        await pending
                    pending = asyncio.ensure_future(asyncio.to_thread(flush, bytes(buf)))
                    buf.clear()
            if pending is not None:
                await pending
            if buf:
                await asyncio.to_thread(flush, bytes(buf))
            await asyncio.to_thread(writer.commit)
        except BaseException:
            # whatever reached the disk is still a prefix of the stream; re-derive the hash
            s.hasher = None
            raise
        finally:
            writer.close()
        if length is not None and written != length:
            s.hasher = None
            raise RegistryError("SIZE_INVALID", "body shorter than Content-Length")
        return offset + written

    async def digest(self, s: Session, algo: str = "sha256") -> tuple[str, int]:
        """Digest of what was uploaded; another algorithm than the streamed one rereads."""
        size = self.offset(s)
        h = await self._hasher(s, size, algo)
        return h.digest(), size

    def delete(self, s: Session) -> None:
        self._live.pop(s.id, None)
        try:
            self.driver.delete(layout.upload_dir(s.id))
        except NotFound:
            pass

    def purge(self, max_age: float) -> int:
        """Remove sessions older than ``max_age`` seconds (abandoned pushes)."""
        try:
            dirs = self.driver.list(layout.UPLOADS_ROOT)
        except NotFound:
            return 0
        now, n = time.time(), 0
        for d in dirs:
            sid = d.rsplit("/", 1)[-1]
            try:
                info = json.loads(self.driver.get_content(f"{d}/info.json"))
                started = float(info.get("started", 0))
            except (NotFound, ValueError, TypeError):
                try:
                    started = self.driver.stat(d).mtime
                except NotFound:
                    continue
            if now - started > max_age:
                self._live.pop(sid, None)
                try:
                    self.driver.delete(d)
                    n += 1
                except NotFound:
                    pass
        return n
