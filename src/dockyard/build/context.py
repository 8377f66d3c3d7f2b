"""The build context: packed by the CLI (a tar stream), unpacked safely by the daemon.

The packing half is standard library only because the fast CLI imports it: it streams tar
bytes straight from the files (no temporary archive), leaves out what ``.dockerignore``
ignores, always sends the Dockerfile and ``.dockerignore`` (as docker's CLI does), and writes
every entry as owned by 0:0. The unpacking half runs in the daemon on untrusted uploads: it
refuses ``..``, absolute names, writing through symlinks and hardlinks out of the context
(``dockyard.archive`` decompresses and reads the tar, imported lazily so the CLI never loads
it), and applies ``.dockerignore`` again so ignored files never reach the builder whatever
the client sent.
"""

from __future__ import annotations

import errno
import os
import stat
import tarfile
from collections.abc import Iterator

from dockyard.errors import InvalidArgument, NotFound

from .dockerignore import Matcher, read_patterns

_CHUNK = 1 << 20
_BLOCK = 512
_MAX_DOCKERFILE = 64 << 20


def _header(ti: tarfile.TarInfo) -> bytes:
    fast = _ustar(ti)
    return fast if fast is not None else ti.tobuf(tarfile.PAX_FORMAT, "utf-8", "surrogateescape")


_MAX_OCTAL_11 = 8**11


def _ustar(ti: tarfile.TarInfo) -> bytes | None:
    """The ustar header tarfile would write, built with one format call: the pure-Python
    tarfile header code is most of the CPU time of packing many small files. None when the
    entry needs a pax header (long or non-ASCII names, huge sizes), left to tarfile."""
    name = ti.name + "/" if ti.type == tarfile.DIRTYPE and not ti.name.endswith("/") \
        else ti.name
    if len(name) > 100 or len(ti.linkname) > 100 or not (name + ti.linkname).isascii():
        return None
    if not (0 <= ti.size < _MAX_OCTAL_11 and 0 <= ti.mtime < _MAX_OCTAL_11) \
            or ti.uid or ti.gid or ti.uname or ti.gname or "\x00" in name:
        return None
    buf = bytearray(b"%-100s%07o\x00%07o\x00%07o\x00%011o\x00%011o\x00        %s%-100sustar\x0000"
                    % (name.encode().ljust(100, b"\0"), ti.mode & 0o7777, 0, 0, ti.size,
                       int(ti.mtime), ti.type, ti.linkname.encode().ljust(100, b"\0")))
    buf += b"\0" * 64
    if ti.type in (tarfile.CHRTYPE, tarfile.BLKTYPE):
        buf += b"%07o\x00%07o\x00" % (ti.devmajor, ti.devminor)
    buf += b"\0" * (512 - len(buf))
    buf[148:156] = b"%06o\x00 " % sum(buf)
    return bytes(buf)


def _pad(size: int) -> bytes:
    rem = size % _BLOCK
    return b"\0" * (_BLOCK - rem) if rem else b""


class ContextStream:
    """Tar bytes of a context, produced lazily: iterate for chunks or ``read(n)``.

    ``dockerfile`` is the Dockerfile's name inside the tar (the ``dockerfile`` query parameter
    of ``POST /build``): its path relative to the context, or ``.dockerfile.<random>`` when
    it lives outside the context or came from stdin (then ``.dockerignore`` lists it, so the
    daemon drops it from the context, as docker's CLI arranges).
    """

    def __init__(self, chunks: Iterator[bytes], dockerfile: str):
        self._chunks = chunks
        self._buf = b""
        self.dockerfile = dockerfile

    def __iter__(self) -> Iterator[bytes]:
        if self._buf:
            buf, self._buf = self._buf, b""
            yield buf
        yield from self._chunks

    def read(self, n: int = -1) -> bytes:
        if n is None or n < 0:
            out, self._buf = self._buf + b"".join(self._chunks), b""
            return out
        while len(self._buf) < n:
            chunk = next(self._chunks, None)
            if chunk is None:
                break
            self._buf += chunk
        out, self._buf = self._buf[:n], self._buf[n:]
        return out


def _info(name: str, st: os.stat_result) -> tarfile.TarInfo:
    ti = tarfile.TarInfo(name)
    ti.mode = stat.S_IMODE(st.st_mode)
    ti.mtime = int(st.st_mtime)
    ti.uid = ti.gid = 0
    ti.uname = ti.gname = ""
    return ti


def _file_entry(name: str, data: bytes, mode: int = 0o644, mtime: int = 0) -> bytes:
    ti = tarfile.TarInfo(name)
    ti.size = len(data)
    ti.mode = mode
    ti.mtime = mtime
    return _header(ti) + data + _pad(len(data))


def _regular(full: str, ti: tarfile.TarInfo) -> Iterator[bytes]:
    """Header and exactly ``ti.size`` bytes (a file that changes while read is cut/padded)."""
    try:
        fd = os.open(full, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC | os.O_NONBLOCK)
    except OSError as e:
        raise InvalidArgument(f"error checking context: 'can't stat '{full}''"
                              if e.errno == errno.ENOENT else
                              f"error checking context: 'open {full}: {e.strerror}'.") from None
    with os.fdopen(fd, "rb", buffering=0) as f:
        yield _header(ti)
        left = ti.size
        while left:
            chunk = f.read(min(_CHUNK, left))
            if not chunk:
                chunk = b"\0" * left
            left -= len(chunk)
            yield chunk
        yield _pad(ti.size)


def _walk(root: str, matcher: Matcher, skip: set[str]) -> Iterator[bytes]:
    """Entries under ``root`` in lexical order, directories before their contents."""
    links: dict[tuple[int, int], str] = {}
    stack: list[tuple[str, list[os.DirEntry]]] = []

    def listing(rel: str) -> list[os.DirEntry]:
        """Entries sorted in reverse, so ``pop()`` yields them in order in O(1)."""
        path = os.path.join(root, rel) if rel else root
        with os.scandir(path) as it:
            return sorted(it, key=lambda e: e.name, reverse=True)

    stack.append(("", listing("")))
    while stack:
        rel, entries = stack[-1]
        if not entries:
            stack.pop()
            continue
        entry = entries.pop()
        crel = f"{rel}/{entry.name}" if rel else entry.name
        if crel in skip:
            continue
        st = entry.stat(follow_symlinks=False)
        is_dir = stat.S_ISDIR(st.st_mode)
        if matcher and matcher.ignored(crel):
            if is_dir and matcher.may_include_under(crel):
                stack.append((crel, listing(crel)))
            continue
        ti = _info(crel + "/" if is_dir else crel, st)
        if is_dir:
            ti.type = tarfile.DIRTYPE
            yield _header(ti)
            stack.append((crel, listing(crel)))
        elif stat.S_ISREG(st.st_mode):
            key = (st.st_dev, st.st_ino)
            if st.st_nlink > 1 and key in links:
                ti.type = tarfile.LNKTYPE
                ti.linkname = links[key]
                yield _header(ti)
                continue
            if st.st_nlink > 1:
                links[key] = crel
            ti.size = st.st_size
            yield from _regular(entry.path, ti)
        elif stat.S_ISLNK(st.st_mode):
            ti.type = tarfile.SYMTYPE
            ti.linkname = os.readlink(entry.path)
            yield _header(ti)
        elif stat.S_ISFIFO(st.st_mode):
            ti.type = tarfile.FIFOTYPE
            yield _header(ti)
        elif stat.S_ISCHR(st.st_mode) or stat.S_ISBLK(st.st_mode):
            ti.type = tarfile.CHRTYPE if stat.S_ISCHR(st.st_mode) else tarfile.BLKTYPE
            ti.devmajor, ti.devminor = os.major(st.st_rdev), os.minor(st.st_rdev)
            yield _header(ti)
        # sockets are not archived, as docker


def _read_small(path: str) -> bytes:
    with open(path, "rb") as f:
        return f.read(_MAX_DOCKERFILE)


def locate_dockerfile(context_dir: str, dockerfile: str | None) -> str:
    """The Dockerfile's absolute path as docker's CLI finds it: ``-f`` is relative to the
    current directory; by default ``Dockerfile`` (or ``dockerfile``) in the context."""
    if dockerfile:
        path = os.path.abspath(dockerfile)
    else:
        path = os.path.join(context_dir, "Dockerfile")
        if not os.path.lexists(path) and os.path.lexists(os.path.join(context_dir, "dockerfile")):
            path = os.path.join(context_dir, "dockerfile")
    if not os.path.lexists(path):
        raise NotFound("unable to prepare context: unable to evaluate symlinks in Dockerfile "
                       f"path: lstat {path}: no such file or directory")
    return path


def pack_context(context_dir: str, dockerfile: str | None = None, *,
                 dockerfile_content: bytes | None = None) -> ContextStream:
    """Tar the context for ``POST /build``; see ContextStream for the Dockerfile name.

    ``dockerfile`` is a path (absolute or relative to the current directory) or None for the
    context's own; ``dockerfile_content`` sends a Dockerfile read elsewhere (``-f -``).
    A ``<Dockerfile>.dockerignore`` beside the Dockerfile replaces the context's
    ``.dockerignore`` (BuildKit's rule); it is sent along so the daemon applies the same one.
    """
    if not os.path.isdir(context_dir):
        raise NotFound(f'unable to prepare context: path "{context_dir}" not found')
    root = os.path.realpath(context_dir)
    extra: list[bytes] = []
    skip: set[str] = set()
    if dockerfile_content is not None:
        df_path = None
    else:
        df_path = os.path.realpath(locate_dockerfile(root, dockerfile))
    in_ctx = df_path is not None and df_path.startswith(root + os.sep)
    ignore_text = None
    ignore_src = None
    if df_path is not None and os.path.isfile(df_path + ".dockerignore"):
        ignore_src = df_path + ".dockerignore"
    elif os.path.isfile(os.path.join(root, ".dockerignore")):
        ignore_src = os.path.join(root, ".dockerignore")
    if ignore_src is not None:
        ignore_text = _read_small(ignore_src).decode("utf-8", "replace")
    patterns = read_patterns(ignore_text or "")

    if in_ctx:
        assert df_path is not None
        name = os.path.relpath(df_path, root).replace(os.sep, "/")
        keep = [name]
        if ignore_src is not None and ignore_src.startswith(root + os.sep):
            keep.append(os.path.relpath(ignore_src, root).replace(os.sep, "/"))
        else:
            keep.append(".dockerignore")
        m = Matcher(patterns)
        for k in keep:  # docker's TrimBuildFilesFromExcludes: they are always sent
            if m.ignored(k):
                patterns.append("!" + k)
    else:
        name = ".dockerfile." + os.urandom(10).hex()
        content = dockerfile_content if dockerfile_content is not None else \
            _read_small(df_path)  # type: ignore[arg-type]
        extra.append(_file_entry(name, content, 0o600))
        skip.add(".dockerignore")
        base = ignore_text if ignore_text is not None else ".dockerignore"
        amended = base.rstrip("\n") + "\n" + name + "\n"
        extra.append(_file_entry(".dockerignore", amended.encode(), 0o644))
        if ignore_src is not None and not ignore_src.startswith(root + os.sep):
            # the daemon prefers <dockerfile>.dockerignore: it must drop the Dockerfile too
            extra.append(_file_entry(name + ".dockerignore", amended.encode()))
    matcher = Matcher(patterns)

    def chunks() -> Iterator[bytes]:
        yield from extra
        yield from _walk(root, matcher, skip)
        yield b"\0" * (2 * _BLOCK)

    return ContextStream(_coalesce(chunks()), name)


def _coalesce(pieces: Iterator[bytes], size: int = 256 << 10) -> Iterator[bytes]:
    """Join the many 512-byte headers and small files into chunks worth a write each."""
    buf: list[bytes] = []
    n = 0
    for piece in pieces:
        if len(piece) >= size and not buf:
            yield piece
            continue
        buf.append(piece)
        n += len(piece)
        if n >= size:
            yield b"".join(buf)
            buf, n = [], 0
    if buf:
        yield b"".join(buf)


# -- daemon side -------------------------------------------------------------------------------


def _norm(rel: str) -> str:
    import posixpath

    return posixpath.normpath("/" + rel).lstrip("/")


def _ignore_file(dest_dir: str, dockerfile: str) -> str | None:
    dockerfile = _norm(dockerfile)
    for cand in (dockerfile + ".dockerignore", ".dockerignore"):
        path = os.path.join(dest_dir, cand)
        if _is_regular_inside(dest_dir, cand):
            return path
    return None


def _is_regular_inside(root: str, rel: str) -> bool:
    """A regular file reached without following any symlink (the context is untrusted)."""
    parts = [p for p in rel.split("/") if p not in ("", ".")]
    if not parts or ".." in parts:
        return False
    path = root
    for i, p in enumerate(parts):
        path = os.path.join(path, p)
        try:
            st = os.lstat(path)
        except OSError:
            return False
        if i < len(parts) - 1 and not stat.S_ISDIR(st.st_mode):
            return False
    return stat.S_ISREG(st.st_mode)


def _patterns_of(dest_dir: str, dockerfile: str) -> tuple[list[str], str | None]:
    path = _ignore_file(dest_dir, dockerfile)
    if path is None:
        return [], None
    with open(path, "rb") as f:
        text = f.read(_MAX_DOCKERFILE).decode("utf-8", "replace")
    return read_patterns(text), os.path.relpath(path, dest_dir)


def extract_context(stream, dest_dir: str, *, dockerfile: str = "Dockerfile",
                    spill_dir: str | None = None) -> str:
    """Unpack an uploaded context (gzip, bzip2, xz or plain tar) into the empty ``dest_dir``;
    returns where it is. When ``dest_dir``'s filesystem fills up (a context in /dev/shm
    bigger than the RAM left) and ``spill_dir`` (empty, on disk) is given, what is unpacked
    moves there and the unpacking continues there.

    Hostile entries (``..``, absolute names, writing through a symlink, hardlinks out of the
    context, device nodes) raise ``UnsafeArchive``. Paths the context's ignore file ignores are
    removed afterwards, except the Dockerfile and the ignore file themselves, which the
    builder still has to read (``drop_ignored_build_files`` removes them after that).
    """
    from dockyard.archive import decompress_stream, drain, open_tar_stream

    src = decompress_stream(stream)
    tf, buffered = open_tar_stream(src)
    unpacker = _Unpacker(dest_dir, spill_dir)
    unpacker.run(tf, buffered)
    drain(src)
    dest_dir = unpacker.dest
    patterns, ignore_rel = _patterns_of(dest_dir, dockerfile)
    if not patterns:
        return dest_dir
    matcher = Matcher(patterns)
    keep = {_norm(dockerfile), ".dockerignore"}
    if ignore_rel:
        keep.add(ignore_rel)
    _prune(dest_dir, "", matcher, keep)
    return dest_dir


class _Unpacker:
    """Writes a context tar under ``dest``; refuses names with ``..`` or a leading ``/``,
    never writes through a symlink (every parent is lstat-checked), and creates files with
    O_EXCL|O_NOFOLLOW. Unlike an image layer, a context may hold symlinks pointing anywhere
    (``ln -s ../shared``): they are only ever resolved inside the context later."""

    def __init__(self, dest: str, spill_dir: str | None = None):
        self.dest = os.path.abspath(dest)
        self.spill_dir = spill_dir
        self.dirs: set[str] = {""}
        self.times: list[tuple[str, int]] = []

    def spill(self, e: OSError) -> None:
        """ENOSPC: move what is unpacked to ``spill_dir`` and go on there (once)."""
        import shutil
        import subprocess

        if e.errno != errno.ENOSPC or not self.spill_dir:
            raise e
        old, self.dest, self.spill_dir = self.dest, os.path.abspath(self.spill_dir), None
        r = subprocess.run(["cp", "-a", "--", old + "/.", self.dest + "/"],
                           capture_output=True)  # keeps hardlinks, modes, times, symlinks
        shutil.rmtree(old, ignore_errors=True)
        if r.returncode != 0:
            raise e
        self.times = [(self.dest + p[len(old):], t) for p, t in self.times]

    def entry_or_spill(self, m: tarfile.TarInfo, buffered) -> None:
        try:
            self.entry(m, buffered)
        except OSError as e:  # no data of this member was read (see write_member)
            self.spill(e)
            self.entry(m, buffered)

    def write_member(self, path: str, m: tarfile.TarInfo, buffered) -> None:
        from dockyard.archive import member_chunks

        rel = os.path.relpath(path, self.dest)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW |
                     os.O_CLOEXEC, 0o600)
        try:
            for chunk in member_chunks(buffered, m, "build context", _CHUNK):
                view = memoryview(chunk)
                while view:
                    try:
                        view = view[os.write(fd, view):]
                    except OSError as e:
                        if e.errno != errno.ENOSPC or not self.spill_dir:
                            raise
                        os.close(fd)
                        fd = -1
                        self.spill(e)
                        fd = os.open(os.path.join(self.dest, rel), os.O_WRONLY | os.O_APPEND |
                                     os.O_NOFOLLOW | os.O_CLOEXEC)
            os.fchmod(fd, m.mode & 0o7777)
        finally:
            if fd >= 0:
                os.close(fd)

    def parts(self, name: str, what: str = "entry") -> list[str]:
        from dockyard.archive import member_parts

        return member_parts(name, what, "build context")

    def parent(self, parts: list[str], name: str) -> str:
        from dockyard.errors import UnsafeArchive

        for i in range(1, len(parts)):
            rel = "/".join(parts[:i])
            if rel in self.dirs:
                continue
            path = os.path.join(self.dest, rel)
            try:
                st = os.lstat(path)
            except FileNotFoundError:
                os.mkdir(path, 0o755)
                self.dirs.add(rel)
                continue
            if not stat.S_ISDIR(st.st_mode):
                raise UnsafeArchive(f"build context entry {name!r} would write through "
                                    f"{rel!r}, which is not a directory")
            self.dirs.add(rel)
        return os.path.join(self.dest, *parts)

    def clear(self, path: str, rel: str, keep_dir: bool) -> bool:
        from dockyard.archive import clear_for_member

        return clear_for_member(path, rel, keep_dir, self.dirs)

    def run(self, tf: tarfile.TarFile, buffered) -> None:
        from dockyard.archive import unpack_members

        unpack_members(tf, lambda m: self.entry_or_spill(m, buffered), "build context archive",
                       "unpack build context entry")
        for path, mtime in sorted(self.times, key=lambda t: -t[0].count("/")):
            try:
                os.utime(path, (mtime, mtime), follow_symlinks=False)
            except (OSError, OverflowError, ValueError):
                pass

    def entry(self, m: tarfile.TarInfo, buffered) -> None:
        from dockyard.errors import UnsafeArchive

        parts = self.parts(m.name)
        if not parts:
            return
        rel = "/".join(parts)
        path = self.parent(parts, m.name)
        if m.islnk():
            tparts = self.parts(m.linkname, "hardlink target")
            target = os.path.join(self.dest, *tparts)
            if not tparts or (len(tparts) > 1 and "/".join(tparts[:-1]) not in self.dirs):
                raise UnsafeArchive(f"hardlink {m.name!r} -> {m.linkname!r} is not in the "
                                    "build context")
            try:
                tst = os.lstat(target)
            except FileNotFoundError:
                raise UnsafeArchive(f"hardlink {m.name!r} -> {m.linkname!r} is not in the "
                                    "build context") from None
            if not stat.S_ISREG(tst.st_mode):
                raise UnsafeArchive(f"hardlink {m.name!r} -> {m.linkname!r} does not name "
                                    "a regular file")
            if tparts != parts:
                self.clear(path, rel, keep_dir=False)
                os.link(target, path, follow_symlinks=False)
            return
        kept = self.clear(path, rel, keep_dir=m.isdir())
        if m.isdir():
            if not kept:
                os.mkdir(path, 0o700)
            self.dirs.add(rel)
            os.chmod(path, m.mode & 0o7777)
            self.times.append((path, m.mtime))
            return
        if m.isreg():
            if m.size < 0 or m.size > 1 << 40:
                raise UnsafeArchive(f"build context entry {m.name!r} has an absurd size")
            self.write_member(path, m, buffered)
        elif m.issym():
            if not m.linkname or "\x00" in m.linkname:
                raise UnsafeArchive(f"invalid symlink target in build context entry {m.name!r}")
            os.symlink(m.linkname, path)
        elif m.isfifo():
            os.mkfifo(path, m.mode & 0o777)
        else:
            raise UnsafeArchive(f"unsupported entry type in build context: {m.name!r}")
        try:
            os.utime(path, (m.mtime, m.mtime), follow_symlinks=False)
        except (OSError, OverflowError, ValueError):
            pass


def _prune(root: str, rel: str, matcher: Matcher, keep: set[str]) -> None:
    import shutil

    path = os.path.join(root, rel) if rel else root
    for entry in sorted(os.scandir(path), key=lambda e: e.name):
        crel = f"{rel}/{entry.name}" if rel else entry.name
        is_dir = entry.is_dir(follow_symlinks=False)
        if crel in keep:
            continue
        if matcher.ignored(crel):
            if is_dir and (matcher.may_include_under(crel) or
                           any(k.startswith(crel + "/") for k in keep)):
                _prune(root, crel, matcher, keep)
            elif is_dir:
                shutil.rmtree(entry.path)
            else:
                os.unlink(entry.path)
        elif is_dir:
            _prune(root, crel, matcher, keep)


def drop_ignored_build_files(context_dir: str, dockerfile: str = "Dockerfile") -> None:
    """After the Dockerfile is read: remove it and the ignore file from the context when
    the ignore file ignores them (docker's ``removeDockerfile``), so ``COPY . .`` skips them."""
    patterns, ignore_rel = _patterns_of(context_dir, dockerfile)
    if not patterns:
        return
    matcher = Matcher(patterns)
    for rel in {_norm(dockerfile), ".dockerignore", ignore_rel or ".dockerignore"}:
        if matcher.ignored(rel) and _is_regular_inside(context_dir, rel):
            os.unlink(os.path.join(context_dir, rel))


def read_dockerfile(context_dir: str, name: str = "Dockerfile") -> str:
    """The Dockerfile text from an extracted context, resolved inside it (a symlink cannot
    point out of the context); ``Dockerfile`` falls back to ``dockerfile`` as in docker."""
    from dockyard.sys.inroot import read_in_root  # ctypes: daemon side only (the CLI packs)

    candidates = [name]
    if name == "Dockerfile":
        candidates.append("dockerfile")
    for cand in candidates:
        data = read_in_root(context_dir, cand, _MAX_DOCKERFILE)
        if data is not None:
            break
    else:
        raise NotFound(f"Cannot locate specified Dockerfile: {name}")
    if not data:
        raise InvalidArgument(f"the Dockerfile ({name}) cannot be empty")
    return data.decode("utf-8", "replace")


