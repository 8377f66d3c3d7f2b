"""Layers in one pass: decompress → (diffID hash, gzip → content store, unpack → snapshot).

Reading a layer is the hot loop of import, load, commit and pull, so the uncompressed stream is
read exactly once: the tar applier pulls bytes through a tee that hashes them (the diffID) and
feeds ISA-L's threaded gzip writer (mtime 0, so equal trees give equal blobs), whose output is
hashed again (the blob digest) on its way to disk.
"""

from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass
from typing import BinaryIO

from .. import digest as _digest
from ..archive import decompress_stream, drain
from ..errors import DigestMismatch, InvalidArgument
from ..store.content import ContentStore
from ..store.snapshot import Snapshotter

try:
    from isal import igzip_threaded as _gz
except ImportError:  # pragma: no cover
    _gz = None  # type: ignore[assignment]

MEDIA_LAYER_GZIP = "application/vnd.oci.image.layer.v1.tar+gzip"
MEDIA_LAYER_ZSTD = "application/vnd.oci.image.layer.v1.tar+zstd"
MEDIA_LAYER_TAR = "application/vnd.oci.image.layer.v1.tar"
DOCKER_LAYER_GZIP = "application/vnd.docker.image.rootfs.diff.tar.gzip"
_BUF = 1 << 20


@dataclass
class LayerInfo:
    diff_id: str        # sha256 of the uncompressed tar
    digest: str         # sha256 of the stored (compressed) blob
    size: int           # blob size
    media_type: str
    chain_id: str
    unpacked_size: int  # bytes of file content (Docker's layer Size)
    diff_size: int = 0  # bytes of the uncompressed tar

    def descriptor(self) -> dict:
        return {"mediaType": self.media_type, "digest": self.digest, "size": self.size}


class _HashingWriter:
    """File sink that hashes what the gzip writer thread hands it."""

    def __init__(self, f: BinaryIO):
        self._f = f
        self.hash = hashlib.sha256()
        self.size = 0

    def write(self, data) -> int:
        self.hash.update(data)
        self._f.write(data)
        self.size += len(data)
        return len(data)

    def flush(self) -> None:
        self._f.flush()

    def close(self) -> None:  # the owner closes the file
        pass

    @property
    def closed(self) -> bool:
        return False


class _Tee:
    """Reader that hashes the uncompressed bytes and copies them to a second sink."""

    def __init__(self, src: BinaryIO, sink: BinaryIO | None):
        self._src = src
        self._sink = sink
        self.hash = hashlib.sha256()
        self.size = 0

    def read(self, n: int = -1) -> bytes:
        data = self._src.read(n if n and n > 0 else _BUF)
        if data:
            self.hash.update(data)
            self.size += len(data)
            if self._sink is not None:
                self._sink.write(data)
        return data

    @property
    def diff_id(self) -> str:
        return f"sha256:{self.hash.hexdigest()}"


def add_layer(content: ContentStore, snapshots: Snapshotter, fileobj: BinaryIO,
              parent_chain_id: str | None, compresslevel: int = 1) -> LayerInfo:
    """Store and unpack a layer given as a tar stream (plain or compressed, sniffed)."""
    fd, tmp = content.temp_file(prefix="layer-")
    staged = snapshots.stage_layer(parent_chain_id)
    try:
        with os.fdopen(fd, "wb") as raw:
            sink = _HashingWriter(raw)
            if _gz is not None:
                gz = _gz.open(sink, "wb", compresslevel=compresslevel, threads=1,
                              block_size=_BUF)
            else:  # pragma: no cover
                import gzip
                gz = gzip.GzipFile(fileobj=sink, mode="wb", mtime=0)
            src = decompress_stream(fileobj)
            tee = _Tee(src, gz)
            try:
                staged.apply(tee)
                drain(tee)
            finally:
                gz.close()
                src.close()
            raw.flush()
        return publish_layer(content, snapshots, staged, tmp, f"sha256:{sink.hash.hexdigest()}",
                             sink.size, tee.diff_id, tee.size, parent_chain_id)
    except BaseException:
        staged.abort()
        try:
            os.unlink(tmp)
        except FileNotFoundError:
            pass
        raise


def publish_layer(content: ContentStore, snapshots: Snapshotter, staged, tmp: str, blob: str,
                  blob_size: int, diff_id: str, tar_size: int,
                  parent_chain_id: str | None) -> LayerInfo:
    """Make a finished layer visible: its gzip blob (written to ``tmp``) into the content
    store, its unpacked tree under its chainID (dropped if that layer already exists)."""
    chain_id = _digest.chain_ids([parent_chain_id, diff_id])[1] if parent_chain_id \
        else diff_id
    content.adopt(tmp, blob)
    if snapshots.has_layer(chain_id):
        staged.abort()
    else:
        staged.commit(chain_id)
    return LayerInfo(diff_id, blob, blob_size, MEDIA_LAYER_GZIP, chain_id,
                     snapshots.layer_size(chain_id), tar_size)


def unpack_blob(content: ContentStore, snapshots: Snapshotter, blob: str, diff_id: str,
                parent_chain_id: str | None) -> str:
    """Unpack a layer blob already in the content store (pull, load); checks its diffID.
    Returns the chainID; a layer unpacked before is not read again."""
    _digest.parse(diff_id)
    chain_id = _digest.chain_ids([parent_chain_id, diff_id])[1] if parent_chain_id else diff_id
    if snapshots.has_layer(chain_id):
        return chain_id
    with content.open(blob) as f:
        tee = _Tee(decompress_stream(f), None)

        def verify() -> None:
            drain(tee)
            if tee.diff_id != diff_id:
                raise DigestMismatch(
                    f"layer {blob}: content has diffID {tee.diff_id}, config says {diff_id}")

        snapshots.apply_layer(chain_id, parent_chain_id, tee, verify=verify)
    return chain_id


def media_type_ok(media_type: str) -> bool:
    return media_type in (MEDIA_LAYER_GZIP, MEDIA_LAYER_ZSTD, MEDIA_LAYER_TAR, DOCKER_LAYER_GZIP,
                          "application/vnd.docker.image.rootfs.diff.tar",
                          "application/vnd.oci.image.layer.nondistributable.v1.tar+gzip",
                          "application/vnd.docker.image.rootfs.foreign.diff.tar.gzip")


def check_media_type(media_type: str) -> None:
    if not media_type_ok(media_type):
        raise InvalidArgument(f"unsupported layer media type {media_type}")
