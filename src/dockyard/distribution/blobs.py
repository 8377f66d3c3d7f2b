"""Layer blobs from a registry into the stores: streamed, verified, unpacked as they arrive.

One reader per layer pulls the HTTP body into a resumable ingest (hashing it on the way) and
hands the same bytes to the decompressor and the safe tar applier, so downloading, inflating
and extracting overlap instead of running one after another. A broken connection is resumed
with an HTTP Range request from the ingest's offset; a pull that fails for good keeps the
partial ingest, and the next pull replays it from disk and asks only for the rest.
"""

from __future__ import annotations

import hashlib
import http.client
import queue
import threading
import time
from collections.abc import Callable
from typing import BinaryIO

from ..archive import decompress_stream, drain
from ..errors import DigestMismatch, DockyardError, Unavailable
from ..store.content import ContentStore, IngestWriter
from ..store.snapshot import Snapshotter, StagedLayer
from .transport import BLOCK, Session, registry_error

RETRIES = 5


class Interrupted(Unavailable):
    """The registry connection broke and retries did not help (the partial blob is kept)."""


class Cancelled(DockyardError):
    """The client went away; the partial blob is kept for the next pull."""


class BlobStream:
    """File-like reader of one blob: the kept partial ingest first, then the network.

    Never reads past the descriptor's size; every network byte goes to the ingest writer,
    which hashes it.
    """

    def __init__(self, session: Session, digest: str, size: int, writer: IngestWriter,
                 on_bytes: Callable[[int], None], cancel: threading.Event):
        self.session = session
        self.digest = digest
        self.size = size
        self.writer = writer
        self.on_bytes = on_bytes
        self.cancel = cancel
        self.pos = 0
        self.local = writer.offset
        self.network_bytes = 0
        self._local_f: BinaryIO | None = open(writer.path, "rb") if self.local else None
        self._resp = None
        self._skip = 0  # bytes of a 200 answer (no Range support) that we already have
        self._failures = 0
        self.closed = False

    def read(self, n: int = -1) -> bytes:
        if n is None or n < 0:
            n = BLOCK
        n = min(n, self.size - self.pos)
        if n <= 0:
            return b""
        if self.cancel.is_set():
            raise Cancelled("pull cancelled")
        if self.pos < self.local:
            assert self._local_f is not None
            data = self._local_f.read(min(n, self.local - self.pos))
            if not data:
                raise DigestMismatch(f"partial download of {self.digest} shrank")
            if self.pos + len(data) >= self.local:
                self._local_f.close()
                self._local_f = None
        else:
            data = self._net_read(n)
            self.writer.write(data)
            self.network_bytes += len(data)
        self.pos += len(data)
        self.on_bytes(self.pos)
        return data

    def readinto(self, b) -> int:
        data = self.read(len(b))
        b[:len(data)] = data
        return len(data)

    def _open(self) -> None:
        off = self.writer.offset
        headers = {"Range": f"bytes={off}-"} if off else {}
        resp = self.session.request("GET", f"/v2/{self.session.repo}/blobs/{self.digest}",
                                    headers, pooled=False)
        if resp.status == 206:
            cr = resp.headers.get("Content-Range", "")
            start = cr.split(" ", 1)[-1].split("-", 1)[0]
            if not start.isdigit() or int(start) != off:
                resp.close()
                raise Interrupted(f"registry answered range {cr!r}, wanted {off}-")
            self._skip = 0
        elif resp.status == 200:
            self._skip = off
        else:
            body = resp.read(1 << 16)
            raise registry_error(resp.status, "GET", resp.url, body)
        self._resp = resp

    def _net_read(self, n: int) -> bytes:
        while True:
            try:
                if self._resp is None:
                    self._open()
                assert self._resp is not None
                while self._skip:
                    got = self._resp.raw.read(min(self._skip, BLOCK))
                    if not got:
                        raise http.client.IncompleteRead(b"")
                    self._skip -= len(got)
                data = self._resp.raw.read(n)
                if not data:
                    raise http.client.IncompleteRead(b"")
                return data
            except (OSError, http.client.HTTPException, Unavailable) as e:
                if self._resp is not None:
                    self._resp.close()
                    self._resp = None
                if self.closed:
                    raise Cancelled("download stopped") from None
                self._failures += 1
                if self._failures > RETRIES or self.cancel.is_set():
                    raise Interrupted(f"downloading {self.digest}: {e or type(e).__name__}"
                                      f" (kept {self.writer.offset} bytes to resume)") from None
                time.sleep(min(0.1 * 2 ** self._failures, 1.0))

    def finish(self) -> None:
        """Read what the consumer left (tar padding, gzip trailer) so the hash sees it all."""
        while self.read(BLOCK):
            pass

    def close(self) -> None:
        self.closed = True
        if self._resp is not None:
            self._resp.close()
            self._resp = None
        if self._local_f is not None:
            self._local_f.close()
            self._local_f = None


class Prefetch:
    """Runs a reader in a thread of its own, a few blocks ahead of the consumer.

    The network read, the blob hash and the ingest write (all GIL-free in C) then overlap
    with decompression and tar extraction instead of taking turns with them.
    """

    def __init__(self, src: BlobStream, depth: int = 16):
        self.src = src
        self.q: queue.Queue = queue.Queue(depth)
        self.stop = threading.Event()
        self._buf = b""
        self._eof = False
        self._thread = threading.Thread(target=self._run, name="blob-prefetch", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        try:
            while not self.stop.is_set():
                data = self.src.read(BLOCK)
                self._put(data)
                if not data:
                    return
        except BaseException as e:  # noqa: BLE001 - handed to the consumer
            self._put(e)

    def _put(self, item) -> None:
        while not self.stop.is_set():
            try:
                self.q.put(item, timeout=0.2)
                return
            except queue.Full:
                continue

    def read(self, n: int = -1) -> bytes:
        if not self._buf:
            if self._eof:
                return b""
            while True:
                if self.stop.is_set():
                    raise Cancelled("download stopped")
                try:
                    item = self.q.get(timeout=0.2)
                    break
                except queue.Empty:
                    continue
            if isinstance(item, BaseException):
                self._eof = True
                raise item
            if not item:
                self._eof = True
                return b""
            self._buf = item
        if n is None or n < 0 or n >= len(self._buf):
            data, self._buf = self._buf, b""
        else:
            data, self._buf = self._buf[:n], self._buf[n:]
        return data

    def readinto(self, b) -> int:
        data = self.read(len(b))
        b[:len(data)] = data
        return len(data)

    def finish(self) -> None:
        while self.read(BLOCK):
            pass

    def close(self) -> None:
        """Stop the reader thread (closing its socket unblocks it) and wait for it."""
        self.stop.set()
        self.src.close()
        self._thread.join(30)


class DiffHasher:
    """Reader over the uncompressed tar that computes its diffID."""

    def __init__(self, src: BinaryIO):
        self._src = src
        self.hash = hashlib.sha256()
        self.size = 0

    def read(self, n: int = -1) -> bytes:
        data = self._src.read(n if n and n > 0 else BLOCK)
        if data:
            self.hash.update(data)
            self.size += len(data)
        return data

    @property
    def diff_id(self) -> str:
        return "sha256:" + self.hash.hexdigest()


def stage(snapshots: Snapshotter, parent_chain_id: str | None) -> StagedLayer:
    """A staged layer whose parent may still be downloading: layers unpack into their own
    directory, so only the commit (in order, by the caller) needs the parent."""
    return StagedLayer(snapshots, parent_chain_id)


def unpack_stream(src: BinaryIO, staged: StagedLayer, diff_id: str) -> int:
    """Decompress (ISA-L in a helper thread, so inflating overlaps extraction) + apply;
    checks the diffID. Returns the uncompressed tar size."""
    stream = decompress_stream(src, threaded=True)
    try:
        tee = DiffHasher(stream)
        staged.apply(tee)
        drain(tee)
    finally:
        stream.close()  # joins the helper thread, also when the layer was refused
    if tee.diff_id != diff_id:
        raise DigestMismatch(f"layer content has diffID {tee.diff_id}, the image config "
                             f"says {diff_id}")
    return tee.size


def download_and_unpack(content: ContentStore, snapshots: Snapshotter, session: Session,
                        desc: dict, diff_id: str, parent_chain_id: str | None,
                        on_bytes: Callable[[int], None], on_verify: Callable[[], None],
                        cancel: threading.Event) -> tuple[StagedLayer, int]:
    """Fetch one blob into the content store while unpacking it; nothing is published unless
    both its digest and its diffID check out."""
    digest, size = desc["digest"], int(desc["size"])
    writer = content.writer("pull-" + digest, expected=digest)
    if writer.offset > size:  # a kept partial longer than the blob cannot be its prefix
        writer.truncate()
    staged = stage(snapshots, parent_chain_id)
    src = BlobStream(session, digest, size, writer, on_bytes, cancel)
    pre = Prefetch(src)
    keep_partial = False
    try:
        try:
            tar_size = unpack_stream(pre, staged, diff_id)
        except (Interrupted, Cancelled):
            keep_partial = True
            raise
        except DockyardError:
            # bad compression, tar or diffID: if the bytes are not the blob's, say so instead
            pre.finish()
            pre.close()
            _check_digest(writer, digest)
            raise
        pre.finish()
        pre.close()
        on_verify()
        writer.commit(size)
        return staged, tar_size
    except BaseException:
        pre.close()
        staged.abort()
        if keep_partial:
            writer.close()
        else:
            writer.abort()
        raise


def _check_digest(writer: IngestWriter, digest: str) -> None:
    got = writer.current_digest()
    if got != digest:
        raise DigestMismatch(f"filesystem layer verification failed for digest {digest}")


def unpack_local(content: ContentStore, snapshots: Snapshotter, digest: str, diff_id: str,
                 parent_chain_id: str | None) -> tuple[StagedLayer, int]:
    """A blob already in the content store (another pull fetched it) into a staged layer."""
    staged = stage(snapshots, parent_chain_id)
    try:
        with content.open(digest) as f:
            size = unpack_stream(f, staged, diff_id)
        return staged, size
    except BaseException:
        staged.abort()
        raise
