"""Safe tar handling for image layers: decompress, apply (untrusted), and create (sorted).

Layers come from registries, ``docker load`` and ``docker import``: any of them may be hostile.
``apply_tar`` therefore checks every entry lexically (no absolute names, no ``..``), never
writes through a symlink (each parent directory is ``lstat``-checked, not followed), creates
files with O_NOFOLLOW|O_EXCL, and bounds entry sizes and header sizes. Callers unpack into a
fresh directory and rename it into place, so a rejected layer changes nothing visible.

Whiteouts (``.wh.name``, ``.wh..wh..opq``) become overlayfs whiteouts (0:0 char devices and
the ``trusted.overlay.opaque`` xattr), which is what the overlay snapshotter mounts.
"""

from __future__ import annotations

import bz2
import errno
import io
import lzma
import os
import posixpath
import shutil
import stat
import tarfile
from collections.abc import Callable, Iterable, Iterator
from typing import BinaryIO

from .errors import InvalidArgument, UnsafeArchive

try:  # ISA-L: several times faster than zlib, and the threaded reader escapes the GIL
    from isal import igzip as _igzip
    from isal import igzip_threaded as _igzip_threaded
except ImportError:  # pragma: no cover - isal is a declared dependency
    import gzip as _igzip  # type: ignore[no-redef]

    _igzip_threaded = None  # type: ignore[assignment]

try:
    import zstandard as _zstd
except ImportError:  # pragma: no cover
    _zstd = None  # type: ignore[assignment]

BUF = 1 << 20
WHITEOUT_PREFIX = ".wh."
WHITEOUT_META_PREFIX = ".wh..wh."
WHITEOUT_OPAQUE = ".wh..wh..opq"
OVERLAY_OPAQUE_XATTR = "trusted.overlay.opaque"
DEFAULT_MAX_ENTRY_SIZE = 1 << 36  # 64 GiB: larger than any sane file in a layer
_MAX_META_SIZE = 1 << 20  # pax / GNU long-name headers are read into memory
_MAX_NAME = 4096

_MAGIC_GZIP = b"\x1f\x8b"
_MAGIC_ZSTD = b"\x28\xb5\x2f\xfd"
_MAGIC_BZIP2 = b"BZh"
_MAGIC_XZ = b"\xfd7zXZ\x00"

# Errors that a hostile entry can provoke; anything else (ENOSPC, EIO) is the host's problem.
_ENTRY_ERRNOS = {errno.ENAMETOOLONG, errno.EINVAL, errno.ELOOP, errno.ENOTDIR, errno.EISDIR,
                 errno.EEXIST, errno.EMLINK, errno.EXDEV, errno.ENOTEMPTY}


# -- decompression -------------------------------------------------------------------------------


class _Prefixed(io.RawIOBase):
    """Re-attaches the sniffed magic bytes in front of the rest of the stream."""

    def __init__(self, head: bytes, rest: BinaryIO):
        self._head = head
        self._rest = rest

    def readable(self) -> bool:
        return True

    def readinto(self, b) -> int:
        if self._head:
            n = min(len(b), len(self._head))
            b[:n] = self._head[:n]
            self._head = self._head[n:]
            return n
        data = self._rest.read(len(b))
        n = len(data)
        b[:n] = data
        return n


def _read_exact(f: BinaryIO, n: int) -> bytes:
    out = b""
    while len(out) < n:
        chunk = f.read(n - len(out))
        if not chunk:
            break
        out += chunk
    return out


def sniff_compression(head: bytes) -> str:
    if head.startswith(_MAGIC_GZIP):
        return "gzip"
    if head.startswith(_MAGIC_ZSTD):
        return "zstd"
    if head.startswith(_MAGIC_BZIP2):
        return "bzip2"
    if head.startswith(_MAGIC_XZ):
        return "xz"
    return "none"


def decompress_stream(fileobj: BinaryIO, threaded: bool = False) -> BinaryIO:
    """Return a reader of the uncompressed bytes of ``fileobj`` (gzip, zstd, bzip2, xz or plain).

    Read errors of the compressed data surface as InvalidArgument, never as a traceback.
    ISA-L inflates at ~600 MB/s in the calling thread, far faster than files can be created,
    so the threaded reader is opt-in: its helper thread would block forever on a request
    body that is abandoned mid-stream.
    """
    head = _read_exact(fileobj, 6)
    kind = sniff_compression(head)
    src = io.BufferedReader(_Prefixed(head, fileobj), BUF)
    if kind == "gzip":
        if threaded and _igzip_threaded is not None:
            out: BinaryIO = _igzip_threaded.open(src, "rb", block_size=BUF)
        else:
            out = _igzip.IGzipFile(fileobj=src, mode="rb") if hasattr(_igzip, "IGzipFile") \
                else _igzip.GzipFile(fileobj=src, mode="rb")
    elif kind == "zstd":
        if _zstd is None:
            raise InvalidArgument("zstd-compressed data, but zstandard is not installed")
        out = _zstd.ZstdDecompressor().stream_reader(src, read_size=BUF, read_across_frames=True)
    elif kind == "bzip2":
        out = bz2.BZ2File(src, "rb")
    elif kind == "xz":
        out = lzma.LZMAFile(src, "rb")
    else:
        out = src
    return _Guarded(out)


class _Guarded(io.RawIOBase):
    """Turns decoder failures (corrupt or truncated input) into one clear InvalidArgument."""

    def __init__(self, inner: BinaryIO):
        self._inner = inner

    def readable(self) -> bool:
        return True

    def read(self, n: int = -1) -> bytes:
        try:
            return self._inner.read(n)
        except (OSError, EOFError, lzma.LZMAError, ValueError) as e:
            raise InvalidArgument(f"invalid compressed data: {e}") from None
        except Exception as e:
            if _zstd is not None and isinstance(e, _zstd.ZstdError):
                raise InvalidArgument(f"invalid compressed data: {e}") from None
            raise

    def readinto(self, b) -> int:
        data = self.read(len(b))
        n = len(data)
        b[:n] = data
        return n

    def close(self) -> None:
        try:
            self._inner.close()
        except Exception:
            pass
        super().close()


class _ForwardSeekable(io.RawIOBase):
    """A stream that can "seek" forward by reading, so tarfile's random-access mode works on
    a pipe while io.BufferedReader gives it cheap 512-byte header reads."""

    def __init__(self, src: BinaryIO):
        self._src = src
        self._pos = 0

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def tell(self) -> int:
        return self._pos

    def readinto(self, b) -> int:
        data = self._src.read(len(b))
        n = len(data)
        b[:n] = data
        self._pos += n
        return n

    def seek(self, pos: int, whence: int = 0) -> int:
        if whence == 1:
            pos += self._pos
        elif whence != 0:
            raise io.UnsupportedOperation("cannot seek from the end of a stream")
        if pos < self._pos:
            raise io.UnsupportedOperation("cannot seek backwards in a stream")
        while self._pos < pos:
            chunk = self._src.read(min(BUF, pos - self._pos))
            if not chunk:
                break
            self._pos += len(chunk)
        return self._pos


class _SafeTarInfo(tarfile.TarInfo):
    """Refuses oversized pax / long-name headers before tarfile reads them into memory."""

    def _proc_member(self, tarfile_):
        if self.type in (tarfile.XHDTYPE, tarfile.XGLTYPE, tarfile.SOLARIS_XHDTYPE,
                         tarfile.GNUTYPE_LONGNAME, tarfile.GNUTYPE_LONGLINK) \
                and self.size > _MAX_META_SIZE:
            raise UnsafeArchive(f"tar extended header of {self.size} bytes is too large")
        return super()._proc_member(tarfile_)


def open_tar_stream(fileobj: BinaryIO) -> tuple[tarfile.TarFile, io.BufferedReader]:
    """Open an uncompressed tar stream for sequential reading."""
    buffered = io.BufferedReader(_ForwardSeekable(fileobj), BUF)
    try:
        tf = tarfile.open(fileobj=buffered, mode="r:", tarinfo=_SafeTarInfo,
                          errorlevel=2)
    except tarfile.TarError as e:
        raise InvalidArgument(f"invalid tar archive: {e}") from None
    return tf, buffered


# -- applying a layer ----------------------------------------------------------------------------


def member_parts(name: str, what: str = "entry", scope: str = "layer", *,
                 absolute_ok: bool = False) -> list[str]:
    """Split a tar member name into components: a NUL, an overlong name, ``..`` or (unless
    ``absolute_ok``) a leading ``/`` is UnsafeArchive, worded for ``scope`` (layer, build
    context, image archive…). ``[]`` names the root itself."""
    if "\x00" in name or len(name) > _MAX_NAME:
        raise UnsafeArchive(f"unsafe {what} name in {scope}: {name[:200]!r}")
    if name.startswith("/") and not absolute_ok:
        raise UnsafeArchive(f"absolute path in {scope} {what}: {name!r}")
    parts = [p for p in name.split("/") if p not in ("", ".")]
    if ".." in parts:
        raise UnsafeArchive(f"path escapes the {scope} in {what}: {name!r}")
    return parts


def iter_members(tf: tarfile.TarFile, what: str = "tar archive") -> Iterator[tarfile.TarInfo]:
    """The members of a stream opened by ``open_tar_stream``, one at a time: each header is
    forgotten once read (tarfile keeps them all; a million-file layer must not), and a broken
    header is InvalidArgument ``invalid <what>: …``."""
    while True:
        try:
            m = tf.next()
        except tarfile.TarError as e:
            raise InvalidArgument(f"invalid {what}: {e}") from None
        if m is None:
            return
        del tf.members[:]
        yield m


# A member can provoke these on its own (a name too long, a link loop…); ENOSPC, EIO and
# EDQUOT are the host's problem and go up as they are.
_HOST_ERRNOS = (errno.ENOSPC, errno.EIO, errno.EDQUOT)


def unpack_members(tf: tarfile.TarFile, entry: Callable[[tarfile.TarInfo], None], what: str,
                   doing: str) -> None:
    """``entry`` on every member (see ``iter_members``); an OSError other than the host's
    own is the member's fault: UnsafeArchive ``cannot <doing> <name>: <reason>``."""
    for m in iter_members(tf, what):
        try:
            entry(m)
        except OSError as e:
            if e.errno in _HOST_ERRNOS:
                raise
            raise UnsafeArchive(f"cannot {doing} {m.name!r}: {e.strerror}") from None


def member_chunks(buffered: BinaryIO, m: tarfile.TarInfo, scope: str = "archive",
                  size: int = BUF) -> Iterator[bytes]:
    """A regular member's data straight from the stream, ``size`` bytes at a time; a stream
    that ends early is InvalidArgument ``unexpected end of <scope> in <name>``."""
    buffered.seek(m.offset_data)
    left = m.size
    while left:
        chunk = buffered.read(min(size, left))
        if not chunk:
            raise InvalidArgument(f"unexpected end of {scope} in {m.name!r}")
        left -= len(chunk)
        yield chunk


def clear_for_member(path: str, rel: str, keep_dir: bool, known_dirs: set[str]) -> bool:
    """Make room for the member ``rel`` at ``path``; True when an existing directory is kept
    (a directory entry over a directory only updates it). A removed directory's subtree leaves
    ``known_dirs``, the parents an extractor has already checked."""
    try:
        st = os.lstat(path)
    except FileNotFoundError:
        return False
    if stat.S_ISDIR(st.st_mode):
        if keep_dir:
            return True
        shutil.rmtree(path)
        known_dirs.difference_update([d for d in known_dirs
                                      if d == rel or d.startswith(rel + "/")])
    else:
        os.unlink(path)
    return False


class _Applier:
    def __init__(self, dest: str, whiteout: str, allow_devices: bool, same_owner: bool,
                 max_entry_size: int):
        if whiteout not in ("overlay", "delete"):
            raise ValueError(f"unknown whiteout mode {whiteout!r}")
        self.dest = os.path.abspath(dest)
        self.whiteout = whiteout
        self.allow_devices = allow_devices
        self.same_owner = same_owner
        self.max_entry_size = max_entry_size
        self.safe_dirs: set[str] = {""}
        self.dir_times: list[tuple[str, float]] = []
        self.created: set[str] = set()
        self.opaque: list[str] = []
        self.size = 0

    # paths

    def full(self, parts: list[str]) -> str:
        return os.path.join(self.dest, *parts) if parts else self.dest

    def ensure_parents(self, parts: list[str], name: str, create: bool = True) -> None:
        """Every parent must be a real directory inside dest; never a symlink."""
        for i in range(1, len(parts)):
            rel = "/".join(parts[:i])
            if rel in self.safe_dirs:
                continue
            path = self.full(parts[:i])
            try:
                st = os.lstat(path)
            except FileNotFoundError:
                if not create:
                    raise UnsafeArchive(f"layer entry {name!r} refers to a missing path") from None
                os.mkdir(path, 0o755)
                self.created.add(rel)
                self.safe_dirs.add(rel)
                continue
            if stat.S_ISLNK(st.st_mode):
                raise UnsafeArchive(f"layer entry {name!r} would write through symlink {rel!r}")
            if not stat.S_ISDIR(st.st_mode):
                raise UnsafeArchive(f"layer entry {name!r}: parent {rel!r} is not a directory")
            self.safe_dirs.add(rel)

    def remove_existing(self, parts: list[str], keep_dir: bool) -> bool:
        """Clear the way for a new entry; returns True when an existing dir is kept."""
        return clear_for_member(self.full(parts), "/".join(parts), keep_dir, self.safe_dirs)

    # entries

    def apply(self, tf: tarfile.TarFile, buffered: io.BufferedReader) -> None:
        for m in iter_members(tf):
            try:
                self.entry(tf, buffered, m)
            except OSError as e:
                if e.errno in _ENTRY_ERRNOS:
                    raise UnsafeArchive(f"cannot apply layer entry {m.name!r}: "
                                        f"{os.strerror(e.errno)}") from None
                raise
        self.finish()

    def entry(self, tf: tarfile.TarFile, buffered: io.BufferedReader, m: tarfile.TarInfo) -> None:
        name = m.name
        parts = member_parts(name)
        if not parts:  # the root itself: only its metadata
            if m.isdir():
                self.metadata(m, self.dest, is_root=True)
            return
        base = parts[-1]
        if base.startswith(WHITEOUT_PREFIX):
            self.ensure_parents(parts, name)
            self.whiteout_entry(parts, base, name)
            return
        if m.size < 0 or m.size > self.max_entry_size:
            raise UnsafeArchive(f"layer entry {name!r} has an absurd size ({m.size} bytes)")
        self.ensure_parents(parts, name)
        rel = "/".join(parts)
        path = self.full(parts)
        if m.islnk():
            self.hardlink(parts, m)
            return
        kept_dir = self.remove_existing(parts, keep_dir=m.isdir())
        if m.isdir():
            if not kept_dir:
                os.mkdir(path, 0o700)
            self.safe_dirs.add(rel)
        elif m.isreg():
            self.regular(tf, buffered, m, path)
        elif m.issym():
            target = m.linkname
            if "\x00" in target or not target or len(target) > _MAX_NAME:
                raise UnsafeArchive(f"invalid symlink target in layer entry {name!r}")
            if not target.startswith("/"):
                resolved = posixpath.normpath(posixpath.join(posixpath.dirname(rel), target))
                if resolved == ".." or resolved.startswith("../"):
                    raise UnsafeArchive(
                        f"symlink {name!r} -> {target!r} points outside the layer root")
            os.symlink(target, path)
        elif m.ischr() or m.isblk():
            if not self.allow_devices:
                raise UnsafeArchive(f"device node {name!r} is not allowed in this layer")
            kind = stat.S_IFCHR if m.ischr() else stat.S_IFBLK
            os.mknod(path, kind | 0o600, os.makedev(m.devmajor, m.devminor))
        elif m.isfifo():
            os.mkfifo(path, 0o600)
        else:
            raise UnsafeArchive(f"unsupported tar entry type {m.type!r} for {name!r}")
        self.created.add(rel)
        self.metadata(m, path)

    def regular(self, tf: tarfile.TarFile, buffered: io.BufferedReader, m: tarfile.TarInfo,
                path: str) -> None:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC,
                     0o600)
        with os.fdopen(fd, "wb", buffering=0) as out:
            if m.sparse is not None:
                src = tf.extractfile(m)
                assert src is not None
                shutil.copyfileobj(src, out, BUF)
            else:
                for chunk in member_chunks(buffered, m, "layer data"):
                    out.write(chunk)
        self.size += m.size

    def hardlink(self, parts: list[str], m: tarfile.TarInfo) -> None:
        tparts = member_parts(m.linkname, "hardlink target")
        if not tparts:
            raise UnsafeArchive(f"hardlink {m.name!r} has an empty target")
        self.ensure_parents(tparts, m.name, create=False)
        target = self.full(tparts)
        try:
            st = os.lstat(target)
        except FileNotFoundError:
            raise UnsafeArchive(
                f"hardlink {m.name!r} -> {m.linkname!r}: target is not in the layer") from None
        if stat.S_ISDIR(st.st_mode):
            raise UnsafeArchive(f"hardlink {m.name!r} -> {m.linkname!r} targets a directory")
        if tparts == parts:
            return
        self.remove_existing(parts, keep_dir=False)
        os.link(target, self.full(parts), follow_symlinks=False)
        self.created.add("/".join(parts))

    def whiteout_entry(self, parts: list[str], base: str, name: str) -> None:
        parent = parts[:-1]
        if base == WHITEOUT_OPAQUE:
            if self.whiteout == "overlay":
                os.setxattr(self.full(parent), OVERLAY_OPAQUE_XATTR, b"y", follow_symlinks=False)
            else:
                self.opaque.append("/".join(parent))
            return
        if base.startswith(WHITEOUT_META_PREFIX):
            return  # aufs bookkeeping (.wh..wh.plnk etc.): meaningless here
        victim = base[len(WHITEOUT_PREFIX):]
        if victim in ("", ".", ".."):
            raise UnsafeArchive(f"invalid whiteout entry {name!r}")
        vparts = parent + [victim]
        self.remove_existing(vparts, keep_dir=False)
        if self.whiteout == "overlay":
            os.mknod(self.full(vparts), stat.S_IFCHR | 0o000, os.makedev(0, 0))
        self.created.discard("/".join(vparts))

    def metadata(self, m: tarfile.TarInfo, path: str, is_root: bool = False) -> None:
        if self.same_owner:
            os.lchown(path, m.uid, m.gid)
        if not m.issym():
            os.chmod(path, m.mode & 0o7777)
        for key, value in m.pax_headers.items():
            if not key.startswith("SCHILY.xattr."):
                continue
            xname = key[len("SCHILY.xattr."):]
            if xname.startswith("trusted.overlay."):
                continue  # only whiteout entries may produce overlay metadata
            raw = value.encode("utf-8", "surrogateescape") if isinstance(value, str) else value
            try:
                os.setxattr(path, xname, raw, follow_symlinks=False)
            except OSError as e:
                if e.errno not in (errno.ENOTSUP, errno.EPERM, errno.EINVAL, errno.ERANGE):
                    raise
        if m.isdir():
            self.dir_times.append((path, m.mtime))
        else:
            _set_mtime(path, m.mtime)

    def finish(self) -> None:
        for rel in self.opaque:  # "delete" mode: an opaque dir hides what was there before
            base = self.full(rel.split("/") if rel else [])
            for child in os.listdir(base):
                crel = f"{rel}/{child}" if rel else child
                if crel not in self.created and not any(
                        c.startswith(crel + "/") for c in self.created):
                    self.remove_existing(crel.split("/"), keep_dir=False)
        for path, mtime in sorted(self.dir_times, key=lambda t: -t[0].count("/")):
            _set_mtime(path, mtime)


def _set_mtime(path: str, mtime: float) -> None:
    try:
        os.utime(path, (mtime, mtime), follow_symlinks=False)
    except (OverflowError, ValueError, OSError):
        pass  # a nonsense timestamp is not worth failing a layer for


def apply_tar(fileobj: BinaryIO, dest: str, whiteout: str = "overlay", *,
              allow_devices: bool = False, same_owner: bool = True,
              max_entry_size: int = DEFAULT_MAX_ENTRY_SIZE) -> int:
    """Apply an uncompressed layer tar to the directory ``dest``; returns bytes of file data.

    ``whiteout="overlay"`` turns whiteouts into overlayfs markers (unpacking a layer into its
    own snapshot directory); ``"delete"`` removes the whited-out paths (applying onto a tree).
    Raises UnsafeArchive naming the first hostile entry; the caller discards ``dest``.
    """
    if not os.path.isdir(dest):
        raise InvalidArgument(f"{dest}: not a directory")
    tf, buffered = open_tar_stream(fileobj)
    applier = _Applier(dest, whiteout, allow_devices, same_owner, max_entry_size)
    applier.apply(tf, buffered)
    return applier.size


def drain(fileobj: BinaryIO) -> None:
    """Read to EOF (the tar end padding), so a hashing reader sees every byte."""
    while fileobj.read(BUF):
        pass


# -- creating a layer ----------------------------------------------------------------------------


def _walk_sorted(root: str) -> Iterable[tuple[str, str]]:
    """(relative, full) paths under root, sorted by name, each directory before its content.

    Iterative, so absurdly deep trees do not hit the recursion limit."""
    stack: list[tuple[str, Iterator[str]]] = [("", iter(sorted(os.listdir(root))))]
    while stack:
        rel, names = stack[-1]
        name = next(names, None)
        if name is None:
            stack.pop()
            continue
        crel = f"{rel}/{name}" if rel else name
        full = os.path.join(root, crel)
        yield crel, full
        if stat.S_ISDIR(os.lstat(full).st_mode):
            stack.append((crel, iter(sorted(os.listdir(full)))))


def source_date_epoch() -> int | None:
    """``SOURCE_DATE_EPOCH`` (reproducible-builds.org): layer times are clamped to it, so the
    same content written at different times gives the same layer digest."""
    value = os.environ.get("SOURCE_DATE_EPOCH", "").strip()
    if value.isdigit():
        return int(value)
    return None


def clamp_mtime(mtime: float, epoch: int | None) -> int:
    return int(mtime) if epoch is None else min(int(mtime), epoch)


def write_tar(src: str, out: BinaryIO, *, overlay_whiteouts: bool = True) -> None:
    """Write the tree ``src`` (e.g. an overlay upper dir) as a layer tar with sorted entries.

    Overlay whiteouts become ``.wh.`` entries and opaque directories get ``.wh..wh..opq``,
    so the result is a standard OCI layer diff; identical trees give identical bytes.
    """
    epoch = source_date_epoch()
    with tarfile.open(fileobj=out, mode="w|", format=tarfile.PAX_FORMAT, bufsize=BUF) as tf:
        seen: dict[tuple[int, int], str] = {}
        for rel, full in _walk_sorted(src):
            st = os.lstat(full)
            if overlay_whiteouts and stat.S_ISCHR(st.st_mode) and st.st_rdev == 0:
                d, b = posixpath.split(rel)
                wh = tarfile.TarInfo(posixpath.join(d, WHITEOUT_PREFIX + b))
                wh.mtime = clamp_mtime(st.st_mtime, epoch)
                tf.addfile(wh)
                continue
            ti = tf.gettarinfo(full, arcname=rel)
            ti.uname = ti.gname = ""
            ti.mtime = clamp_mtime(st.st_mtime, epoch)
            if ti.isreg() and st.st_nlink > 1:
                key = (st.st_dev, st.st_ino)
                if key in seen:
                    ti.type = tarfile.LNKTYPE
                    ti.linkname = seen[key]
                    ti.size = 0
                else:
                    seen[key] = rel
            xattrs = _xattrs(full)
            opaque = stat.S_ISDIR(st.st_mode) and xattrs.pop(OVERLAY_OPAQUE_XATTR, None) == b"y"
            for k, v in sorted(xattrs.items()):
                if not k.startswith("trusted.overlay."):
                    ti.pax_headers["SCHILY.xattr." + k] = v.decode("utf-8", "surrogateescape")
            if ti.isreg():
                with open(full, "rb") as f:
                    tf.addfile(ti, f)
            else:
                tf.addfile(ti)
            if overlay_whiteouts and opaque:
                op = tarfile.TarInfo(posixpath.join(rel, WHITEOUT_OPAQUE))
                op.mtime = clamp_mtime(st.st_mtime, epoch)
                tf.addfile(op)


def _xattrs(path: str) -> dict[str, bytes]:
    out = {}
    try:
        names = os.listxattr(path, follow_symlinks=False)
    except OSError:
        return out
    for n in names:
        try:
            out[n] = os.getxattr(path, n, follow_symlinks=False)
        except OSError:
            pass
    return out
