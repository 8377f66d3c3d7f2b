"""A build step's upper dir becomes its layer without a copy.

``image.commitlayer`` copies a container's upper dir (the container keeps writing to it); a
build step's workspace is thrown away afterwards, so here the upper dir is only read for the
layer tar (hashed, gzipped, stored) and then renamed into the snapshotter as the layer's
unpacked tree. That saves writing every file a second time, which is most of a COPY step's
cost. The tar bytes are the same as ``commitlayer`` writes for the same tree.
"""

from __future__ import annotations

import hashlib
import os
import queue
import stat
import tarfile
import threading

from .. import digest as _digest
from ..image.commitlayer import (
    _TarStream,
    _WritebackWriter,
    finish_tree,
    layer_entries,
    opaque_header,
)
from ..image.layer import MEDIA_LAYER_GZIP, LayerInfo
from ..util import discard


def _file(full: str, size: int, out: _TarStream) -> None:
    fd = os.open(full, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC)
    try:
        left = size
        while left > 0:
            data = os.read(fd, min(left, 8 << 20))
            if not data:
                data = b"\0" * left
            left -= len(data)
            out.write(data)
    finally:
        os.close(fd)
    out.pad(size)


def _tar_tree(root: str, out: _TarStream, epoch: int | None) -> int:
    """Write the layer tar of ``root``; with an epoch, times are clamped on disk too, so
    the unpacked layer tars to the same bytes again."""
    total = 0
    dirs: list[tuple[str, int, int]] = []
    for e in layer_entries(root, epoch):
        st, times = e.st, e.times
        if epoch is not None and times[2] != st.st_mtime_ns:
            if stat.S_ISDIR(st.st_mode):
                dirs.append((e.full, times[1], times[2]))
            else:
                os.utime(e.full, ns=(times[1], times[2]), follow_symlinks=False)
        out.header(e.ti)
        if e.ti.type == tarfile.REGTYPE and not e.whiteout:
            _file(e.full, st.st_size, out)
            total += st.st_size
        if e.opaque:
            out.header(opaque_header(e))
    finish_tree(out, dirs)
    return total


class _Pipeline:
    """The tar bytes go through two threads: the caller hashes them (the diffID) while a
    worker compresses, hashes (the digest) and writes them. Both hashing and ISA-L release
    the GIL, so the two halves really overlap (igzip_threaded adds a third thread and its
    hand-offs, which cost more than they save for one layer)."""

    def __init__(self, raw):
        from isal import isal_zlib

        self.blob = _WritebackWriter(raw)
        self.hash = hashlib.sha256()
        self.size = 0
        self._z = isal_zlib.compressobj(1, isal_zlib.DEFLATED, 31)  # gzip, mtime 0
        self._q: queue.Queue = queue.Queue(8)
        self._error: BaseException | None = None
        self._t = threading.Thread(target=self._run, name="build-layer-gzip", daemon=True)
        self._t.start()

    def _run(self) -> None:
        try:
            while True:
                data = self._q.get()
                out = self._z.flush() if data is None else self._z.compress(data)
                if out:
                    self.blob.write(out)
                if data is None:
                    return
        except BaseException as e:  # noqa: BLE001 - re-raised in the caller's thread
            self._error = e
            while self._q.get() is not None:  # drain, so the producer never blocks
                pass

    def write(self, data: bytes) -> None:
        if self._error is not None:
            raise self._error
        self.hash.update(data)
        self.size += len(data)
        self._q.put(data)

    def close(self) -> None:
        self._q.put(None)
        self._t.join()
        if self._error is not None:
            raise self._error


def layer_from_snapshot(images, key: str, parent_chain_id: str | None,
                        epoch: int | None) -> LayerInfo:
    """Store the (unmounted) snapshot ``key``'s upper dir as a layer and move the dir into
    the snapshotter under the layer's chainID (the snapshot is gone afterwards)."""
    content, snapshots = images.content, images.snapshots
    upper = snapshots.upper_dir(key)
    fd, tmp = content.temp_file(prefix="build-")
    try:
        with os.fdopen(fd, "wb") as raw:
            pipe = _Pipeline(raw)
            try:
                _tar_tree(upper, _TarStream(pipe), epoch)
            finally:
                pipe.close()
            raw.flush()
        blob = pipe.blob
        diff_id = f"sha256:{pipe.hash.hexdigest()}"
        digest = f"sha256:{blob.hash.hexdigest()}"
        chain_id = _digest.chain_ids([parent_chain_id, diff_id])[1] if parent_chain_id \
            else diff_id
        content.adopt(tmp, digest)
    except BaseException:
        discard(tmp)
        raise
    size = snapshots.commit(key, chain_id)
    images.record_diff_size(diff_id, pipe.size)
    return LayerInfo(diff_id, digest, blob.size, MEDIA_LAYER_GZIP, chain_id, size, pipe.size)
