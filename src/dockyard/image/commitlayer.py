"""A layer from a container's overlay upper dir in one pass (``commit``'s hot loop).

Each file of the upper dir is read once; its bytes go both into the new layer's snapshot
directory (a copy: the container keeps writing to its own upper dir) and into the layer tar
stream, which is hashed (the diffID), gzipped by ISA-L in its own thread, hashed again and
written to the content store. Nothing is parsed back from the tar, unlike an apply of the
stream would. The tar is byte-for-byte what ``archive.write_tar`` writes for the same tree,
so the same tree always gives the same diffID.
"""

from __future__ import annotations

import errno
import os
import posixpath
import stat
import tarfile
from collections.abc import Iterator
from typing import BinaryIO, NamedTuple

from ..archive import (
    OVERLAY_OPAQUE_XATTR,
    WHITEOUT_OPAQUE,
    WHITEOUT_PREFIX,
    _walk_sorted,
    _xattrs,
    source_date_epoch,
)
from ..store.content import ContentStore
from ..store.snapshot import Snapshotter
from ..util import discard
from .fsopt import WRITEBACK_EVERY, start_writeback
from .layer import LayerInfo, _HashingWriter, publish_layer

try:
    from isal import igzip_threaded as _gz
except ImportError:  # pragma: no cover
    _gz = None  # type: ignore[assignment]

_BLOCK = tarfile.BLOCKSIZE
_RECORD = tarfile.RECORDSIZE
_CHUNK = 1 << 20
_READ_ALL = 8 << 20  # files up to this size are read with one call


class _SinkOnly:
    """The write half of layer._Tee: hash the uncompressed tar, pass it to the gzip writer."""

    def __init__(self, gz: BinaryIO):
        import hashlib

        self._gz = gz
        self.hash = hashlib.sha256()
        self.size = 0

    def write(self, data: bytes) -> None:
        self.hash.update(data)
        self._gz.write(data)
        self.size += len(data)


class _TarStream:
    """Buffers tar bytes and hands them to the hashing/compressing sink in big writes."""

    def __init__(self, sink: _SinkOnly):
        self._sink = sink
        self._buf = bytearray()
        self.offset = 0

    def write(self, data) -> None:
        self._buf += data
        self.offset += len(data)
        if len(self._buf) >= _CHUNK:
            self._sink.write(bytes(self._buf))
            self._buf.clear()

    def header(self, ti: tarfile.TarInfo) -> None:
        fast = None if ti.pax_headers else _ustar(ti)
        self.write(fast if fast is not None
                   else ti.tobuf(tarfile.PAX_FORMAT, "utf-8", "surrogateescape"))

    def pad(self, size: int) -> None:
        rem = size % _BLOCK
        if rem:
            self.write(b"\0" * (_BLOCK - rem))

    def close(self) -> None:
        self.write(b"\0" * (2 * _BLOCK))
        rem = self.offset % _RECORD
        if rem:
            self.write(b"\0" * (_RECORD - rem))
        if self._buf:
            self._sink.write(bytes(self._buf))
            self._buf.clear()


_NUL16 = b"\0" * 16
_TAIL = b"ustar\x0000" + b"\0" * 64  # magic, version, empty uname and gname
_DEV_TYPES = (tarfile.CHRTYPE, tarfile.BLKTYPE)


def _ustar(ti: tarfile.TarInfo) -> bytes | None:
    """The header tarfile's PAX writer makes when no pax record is needed, built directly
    (tarfile spends ~40 us per header); None when pax records are needed."""
    name = ti.name + "/" if ti.type == tarfile.DIRTYPE and not ti.name.endswith("/") \
        else ti.name
    if not (name.isascii() and ti.linkname.isascii() and len(name) <= 100
            and len(ti.linkname) <= 100 and 0 <= ti.uid < 0o7777777
            and 0 <= ti.gid < 0o7777777 and 0 <= ti.size < 0o77777777777
            and isinstance(ti.mtime, int) and 0 <= ti.mtime < 0o77777777777
            and not ti.uname and not ti.gname):
        return None
    dev = (b"%07o\0%07o\0" % (ti.devmajor, ti.devminor)) if ti.type in _DEV_TYPES else _NUL16
    buf = b"".join((
        name.encode().ljust(100, b"\0"),
        b"%07o\0%07o\0%07o\0%011o\0%011o\0        " % (ti.mode & 0o7777, ti.uid, ti.gid,
                                                        ti.size, ti.mtime),
        ti.type, ti.linkname.encode().ljust(100, b"\0"), _TAIL, dev,
    )).ljust(tarfile.BLOCKSIZE, b"\0")
    return buf[:148] + b"%06o\0" % sum(buf) + buf[155:]


def _tarinfo(rel: str, st: os.stat_result, mtime: int) -> tarfile.TarInfo:
    ti = tarfile.TarInfo(rel)
    ti.mode = stat.S_IMODE(st.st_mode)
    ti.uid, ti.gid = st.st_uid, st.st_gid
    ti.uname = ti.gname = ""
    ti.mtime = mtime
    return ti


def _times(st: os.stat_result, epoch: int | None) -> tuple[int, int, int]:
    """(tar mtime, atime ns, mtime ns) for an entry; clamped to SOURCE_DATE_EPOCH if set,
    in the tar and in the unpacked copy alike (which then tars to the same bytes)."""
    if epoch is not None and st.st_mtime >= epoch + 1:
        ns = epoch * 1_000_000_000
        return epoch, min(st.st_atime_ns, ns), ns
    return int(st.st_mtime), st.st_atime_ns, st.st_mtime_ns


def _copy_meta(path: str, st: os.stat_result, times: tuple[int, int, int],
               xattrs: dict[str, bytes], opaque: bool, dirs: list) -> None:
    os.lchown(path, st.st_uid, st.st_gid)
    if not stat.S_ISLNK(st.st_mode):
        os.chmod(path, stat.S_IMODE(st.st_mode))
    for k, v in xattrs.items():
        try:
            os.setxattr(path, k, v, follow_symlinks=False)
        except OSError as e:
            if e.errno not in (errno.ENOTSUP, errno.EPERM, errno.EINVAL, errno.ERANGE):
                raise
    if opaque:
        os.setxattr(path, OVERLAY_OPAQUE_XATTR, b"y", follow_symlinks=False)
    if stat.S_ISDIR(st.st_mode):
        dirs.append((path, times[1], times[2]))
    else:
        os.utime(path, ns=(times[1], times[2]), follow_symlinks=False)


def _copy_file(src: str, dst: str, size: int, out: _TarStream) -> int:
    """Copy exactly ``size`` bytes (the size in the tar header) into dst and the stream."""
    sfd = os.open(src, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC)
    try:
        dfd = os.open(dst, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC,
                      0o600)
        try:
            left = size
            while left > 0:
                data = os.read(sfd, min(left, _READ_ALL))
                if not data:  # shrank while being read (commit --pause=false)
                    data = b"\0" * left
                left -= len(data)
                view = memoryview(data)
                while view:
                    view = view[os.write(dfd, view):]
                out.write(data)
        finally:
            os.close(dfd)
    finally:
        os.close(sfd)
    out.pad(size)
    return size


class _WritebackWriter(_HashingWriter):
    """Starts the disk writeback of the blob while it is being written, so the content
    store's fsync at the end finds little left to do."""

    def __init__(self, f: BinaryIO):
        super().__init__(f)
        self._synced = 0

    def write(self, data) -> int:
        n = super().write(data)
        if self.size - self._synced >= WRITEBACK_EVERY:
            self._f.flush()
            start_writeback(self._f.fileno(), self._synced, self.size - self._synced)
            self._synced = self.size
        return n


_FROM_ENV = object()


def layer_from_upper(content: ContentStore, snapshots: Snapshotter, upper: str,
                     parent_chain_id: str | None, compresslevel: int = 1,
                     source_date_epoch: int | None | object = _FROM_ENV) -> LayerInfo:
    """Store the upper dir ``upper`` as a gzip layer blob and an unpacked layer.
    ``source_date_epoch`` clamps times (a build's own value; default: the environment's)."""
    fd, tmp = content.temp_file(prefix="commit-")
    staged = snapshots.stage_layer(parent_chain_id)
    try:
        with os.fdopen(fd, "wb") as raw:
            blob = _WritebackWriter(raw)
            if _gz is not None:
                gz = _gz.open(blob, "wb", compresslevel=compresslevel, threads=1,
                              block_size=_CHUNK)
            else:  # pragma: no cover
                import gzip
                gz = gzip.GzipFile(fileobj=blob, mode="wb", mtime=0)
            sink = _SinkOnly(gz)
            try:
                size = _copy_tree(upper, staged.fs, _TarStream(sink), source_date_epoch)
            finally:
                gz.close()
            raw.flush()
        staged.size = size
        return publish_layer(content, snapshots, staged, tmp, f"sha256:{blob.hash.hexdigest()}",
                             blob.size, f"sha256:{sink.hash.hexdigest()}", sink.size,
                             parent_chain_id)
    except BaseException:
        staged.abort()
        discard(tmp)
        raise


class LayerEntry(NamedTuple):
    """One upper-dir entry as the layer tar has it: ``ti`` is the header to write (a
    ``.wh.`` entry for an overlay whiteout, a hardlink to an earlier path, or the entry)."""

    rel: str
    full: str
    st: os.stat_result
    times: tuple[int, int, int]
    ti: tarfile.TarInfo
    xattrs: dict[str, bytes]  # without overlay's own (trusted.overlay.*)
    opaque: bool

    @property
    def whiteout(self) -> bool:
        return stat.S_ISCHR(self.st.st_mode) and self.st.st_rdev == 0


def layer_entries(root: str, epoch: int | None) -> Iterator[LayerEntry]:
    """The entries of the upper dir ``root`` in tar order, with their headers: the one walk
    that commit and build share, so the same tree always gives the same tar bytes. Sockets
    and unknown types are not in layers (as tar writers skip them)."""
    links: dict[tuple[int, int], str] = {}
    for rel, full in _walk_sorted(root):
        st = os.lstat(full)
        times = _times(st, epoch)
        mode = st.st_mode
        if stat.S_ISCHR(mode) and st.st_rdev == 0:  # overlay whiteout
            d, b = posixpath.split(rel)
            wh = tarfile.TarInfo(posixpath.join(d, WHITEOUT_PREFIX + b))
            wh.mtime = times[0]
            yield LayerEntry(rel, full, st, times, wh, {}, False)
            continue
        if stat.S_ISSOCK(mode):
            continue
        ti = _tarinfo(rel, st, times[0])
        xattrs = _xattrs(full)
        opaque = stat.S_ISDIR(mode) and xattrs.get(OVERLAY_OPAQUE_XATTR) == b"y"
        xattrs = {k: v for k, v in xattrs.items() if not k.startswith("trusted.overlay.")}
        for k, v in sorted(xattrs.items()):
            ti.pax_headers["SCHILY.xattr." + k] = v.decode("utf-8", "surrogateescape")
        if stat.S_ISREG(mode):
            key = (st.st_dev, st.st_ino)
            if st.st_nlink > 1 and key in links:
                ti.type, ti.linkname, ti.size = tarfile.LNKTYPE, links[key], 0
            else:
                if st.st_nlink > 1:
                    links[key] = rel
                ti.size = st.st_size
        elif stat.S_ISDIR(mode):
            ti.type = tarfile.DIRTYPE
        elif stat.S_ISLNK(mode):
            ti.type, ti.linkname = tarfile.SYMTYPE, os.readlink(full)
        elif stat.S_ISCHR(mode) or stat.S_ISBLK(mode):
            ti.type = tarfile.CHRTYPE if stat.S_ISCHR(mode) else tarfile.BLKTYPE
            ti.devmajor, ti.devminor = os.major(st.st_rdev), os.minor(st.st_rdev)
        elif stat.S_ISFIFO(mode):
            ti.type = tarfile.FIFOTYPE
        else:
            continue
        yield LayerEntry(rel, full, st, times, ti, xattrs, opaque)


def opaque_header(e: LayerEntry) -> tarfile.TarInfo:
    """The ``.wh..wh..opq`` entry that follows an opaque directory's own."""
    op = tarfile.TarInfo(posixpath.join(e.rel, WHITEOUT_OPAQUE))
    op.mtime = e.times[0]
    return op


def finish_tree(out: _TarStream, dirs: list[tuple[str, int, int]]) -> None:
    """End the tar, then give directories their times, deepest first: creating entries
    inside a directory would have moved its mtime again."""
    out.close()
    for path, atime, mtime in reversed(dirs):
        os.utime(path, ns=(atime, mtime), follow_symlinks=False)


def _copy_tree(src_root: str, dst_root: str, out: _TarStream,
               epoch: int | None | object = _FROM_ENV) -> int:
    total = 0
    dirs: list = []
    if epoch is _FROM_ENV:
        epoch = source_date_epoch()
    for e in layer_entries(src_root, epoch):  # type: ignore[arg-type]
        ti, st, times = e.ti, e.st, e.times
        dst = os.path.join(dst_root, e.rel)
        out.header(ti)
        if e.whiteout:
            os.mknod(dst, stat.S_IFCHR, os.makedev(0, 0))
            os.utime(dst, ns=(times[1], times[2]), follow_symlinks=False)
            continue
        if ti.type == tarfile.LNKTYPE:
            os.link(os.path.join(dst_root, ti.linkname), dst)
            continue
        if ti.type == tarfile.REGTYPE:
            total += _copy_file(e.full, dst, st.st_size, out)
        elif ti.type == tarfile.DIRTYPE:
            os.mkdir(dst, 0o700)
        elif ti.type == tarfile.SYMTYPE:
            os.symlink(ti.linkname, dst)
        elif ti.type in (tarfile.CHRTYPE, tarfile.BLKTYPE):
            os.mknod(dst, (st.st_mode & ~0o7777) | 0o600, st.st_rdev)
        else:
            os.mkfifo(dst, 0o600)
        _copy_meta(dst, st, times, e.xattrs, e.opaque, dirs)
        if e.opaque:
            out.header(opaque_header(e))
    finish_tree(out, dirs)
    return total
