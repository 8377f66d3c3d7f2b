"""COPY and ADD: Docker's copy semantics into a container rootfs that may be hostile.

Sources come from the build context or another stage's rootfs, the destination is the stage's
mounted rootfs; both may hold absolute symlinks planted by an image. Every path is therefore
resolved with the root taken as ``/`` (openat2 RESOLVE_IN_ROOT, as ``docker cp`` does in
engine/archive.py), and the tree is walked and written with directory file descriptors and
O_NOFOLLOW, so nothing is read from or written to the host outside the two roots.

The rules are the classic builder's: a directory source copies its contents, a destination
ending in ``/`` (or an existing directory) receives files under their own names, several
sources need such a directory, wildcards use Go's ``filepath.Match``, everything copied
belongs to 0:0 unless ``--chown``, ADD unpacks local tar archives (gzip, bzip2, xz).
"""

from __future__ import annotations

import errno
import hashlib
import os
import posixpath
import re
import shutil
import stat
from collections.abc import Iterator
from dataclasses import dataclass

from dockyard.archive import member_chunks, member_parts, unpack_members
from dockyard.errors import InvalidArgument, NotFound
from dockyard.runtime.users import parse_id, read_db
from dockyard.sys.inroot import open_in_root

_BUF = 1 << 20


# -- users ------------------------------------------------------------------------------------


def _lookup_id(rootfs: str, db: str, name: str, id_kind: str, what: str) -> int:
    """The id of ``name`` in the rootfs's passwd or group file, as ``--chown`` needs it."""
    for row in read_db(rootfs, db):
        if row[0] == name and len(row) > 2 and row[2].isdigit():
            return int(row[2])
    raise InvalidArgument("unable to convert uid/gid chown string to host mapping: "
                          f"can't find {id_kind} for {what} {name}: no such {what}: {name}")


def resolve_user(rootfs: str, spec: str) -> tuple[int, int]:
    """``--chown=user[:group]`` → (uid, gid); names come from the rootfs's /etc/passwd and
    /etc/group. A user without a group uses the uid as gid (as Docker documents)."""
    parts = spec.split(":")
    if len(parts) > 2 or not parts[0] or (len(parts) == 2 and not parts[1]):
        raise InvalidArgument(f"invalid chown string format: {spec}")
    uid = parse_id(parts[0])
    if uid is None:
        uid = _lookup_id(rootfs, "/etc/passwd", parts[0], "uid", "user")
    if len(parts) == 1:
        return uid, uid
    gid = parse_id(parts[1])
    if gid is None:
        gid = _lookup_id(rootfs, "/etc/group", parts[1], "gid", "group")
    return uid, gid


_SYMBOLIC = re.compile(r"^([ugoa]*)([-+=])([rwxXst]*)$")


def parse_chmod(spec: str) -> int | str:
    """``--chmod`` value: octal (``755``) → int; symbolic (``u+x,g-w``) is kept as text and
    applied per file by ``apply_chmod``."""
    if re.fullmatch(r"[0-7]{1,4}", spec):
        return int(spec, 8)
    clauses = spec.split(",")
    if not all(_SYMBOLIC.match(c) for c in clauses):
        raise InvalidArgument(f"invalid chmod parameter: '{spec}'. it should be octal string "
                              "and between 0 and 07777")
    return spec


def apply_chmod(mode: int, chmod: int | str, is_dir: bool) -> int:
    if isinstance(chmod, int):
        return chmod
    perms = mode & 0o7777
    for clause in chmod.split(","):
        m = _SYMBOLIC.match(clause)
        assert m is not None
        who, op, what = m.groups()
        who = who or "a"
        bits = 0
        for w in who:
            shift = {"u": [6], "g": [3], "o": [0], "a": [6, 3, 0]}[w]
            for s in shift:
                for ch in what:
                    if ch == "r":
                        bits |= 4 << s
                    elif ch == "w":
                        bits |= 2 << s
                    elif ch == "x" or (ch == "X" and (is_dir or perms & 0o111)):
                        bits |= 1 << s
                    elif ch == "s" and s in (6, 3):
                        bits |= stat.S_ISUID if s == 6 else stat.S_ISGID
                    elif ch == "t":
                        bits |= stat.S_ISVTX
        if op == "+":
            perms |= bits
        elif op == "-":
            perms &= ~bits
        else:
            mask = 0
            for w in who:
                for s in {"u": [6], "g": [3], "o": [0], "a": [6, 3, 0]}[w]:
                    mask |= 7 << s
            perms = (perms & ~mask) | bits
    return perms


# -- source matching -------------------------------------------------------------------------


def _has_wildcards(name: str) -> bool:
    i = 0
    while i < len(name):
        ch = name[i]
        if ch == "\\":
            i += 2
            continue
        if ch in "*?[":
            return True
        i += 1
    return False


def _go_match_re(pattern: str) -> re.Pattern[str]:
    """Go's ``filepath.Match`` as a regex (``*``/``?`` never match ``/``)."""
    from .dockerignore import _class

    out, i = [], 0
    while i < len(pattern):
        ch = pattern[i]
        if ch == "*":
            out.append("[^/]*")
        elif ch == "?":
            out.append("[^/]")
        elif ch == "[":
            cls, i = _class(pattern, i)
            out.append(cls)
            continue
        elif ch == "\\" and i + 1 < len(pattern):
            i += 1
            out.append(re.escape(pattern[i]))
        else:
            out.append(re.escape(ch))
        i += 1
    try:
        return re.compile("".join(out) + r"\Z", re.S)
    except re.error:
        raise InvalidArgument(f"syntax error in pattern {pattern!r}") from None


@dataclass
class _Source:
    rel: str  # the source path as matched inside its root (no leading /)
    name: str  # the name a file gets under a directory destination


def _clean_source(src: str) -> str:
    s = src
    while s.startswith("/"):
        s = s[1:]
    while s.startswith("./"):
        s = s[2:]
    return posixpath.normpath("/" + s).lstrip("/") if s else ""


def _walk_rel(root_fd: int, base: list[str], depth: int) -> Iterator[str]:
    """Paths under ``base`` (components, not following symlinks, as Go's filepath.Walk) that
    have at most ``depth`` components in all, in lexical order: a wildcard ``*`` never
    crosses ``/``, so deeper paths cannot match and are not visited."""
    flags = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC
    top = os.open(".", os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC, dir_fd=root_fd)
    try:
        for part in base:
            nxt = os.open(part, flags, dir_fd=top)
            os.close(top)
            top = nxt
    except OSError:
        os.close(top)
        return
    prefix = "/".join(base)
    # names sorted in reverse: pop() takes them in lexical order in O(1)
    stack: list[tuple[str, int, list[str]]] = [
        (prefix, top, sorted(os.listdir(top), reverse=True))]
    try:
        while stack:
            rel, fd, names = stack[-1]
            if not names:
                os.close(fd)
                stack.pop()
                continue
            name = names.pop()
            crel = f"{rel}/{name}" if rel else name
            yield crel
            if crel.count("/") + 1 >= depth:
                continue
            try:
                st = os.stat(name, dir_fd=fd, follow_symlinks=False)
            except FileNotFoundError:
                continue
            if stat.S_ISDIR(st.st_mode):
                sub = os.open(name, flags, dir_fd=fd)
                stack.append((crel, sub, sorted(os.listdir(sub), reverse=True)))
    finally:
        for _, fd, _ in stack:
            os.close(fd)


def _open_source(root_fd: int, rel: str) -> int:
    """O_PATH fd of a source, a symlink followed inside the root; docker's error if none."""
    try:
        return open_in_root(root_fd, rel, os.O_PATH)
    except OSError as e:
        if e.errno in (errno.ENOENT, errno.ENOTDIR, errno.ELOOP):
            raise NotFound("file not found in build context or excluded by "
                           f".dockerignore: stat {rel or '.'}: file does not exist") from None
        raise


def _sources(root_fd: int, sources: list[str]) -> list[_Source]:
    out: list[_Source] = []
    for raw in sources:
        src = _clean_source(raw)
        if _has_wildcards(src):
            rx = _go_match_re(src)
            parts = src.split("/")
            base = []
            for part in parts[:-1]:
                if _has_wildcards(part):
                    break
                base.append(part.replace("\\", ""))
            for rel in _walk_rel(root_fd, base, len(parts)):
                if rx.match(rel):
                    out.append(_Source(rel, posixpath.basename(rel)))
            continue
        os.close(_open_source(root_fd, src))
        name = posixpath.basename(src) if src else posixpath.basename(raw.rstrip("/")) or "."
        out.append(_Source(src, name))
    if not out:
        raise NotFound("no source files were specified")
    return out


# -- checksum ----------------------------------------------------------------------------------


_SKIP_XATTRS = ("trusted.overlay.", "security.selinux", "system.")


def _xattrs(fd: int) -> list[tuple[str, bytes]]:
    """Extended attributes worth copying (file capabilities, user.*), as docker's tar copy
    keeps them; overlayfs' own and SELinux labels are not the image's."""
    try:
        names = os.listxattr(fd)
    except OSError:
        return []
    out = []
    for name in sorted(names):
        if name.startswith(_SKIP_XATTRS):
            continue
        try:
            out.append((name, os.getxattr(fd, name)))
        except OSError:
            pass
    return out


def _put_xattrs(fd: int, attrs: list[tuple[str, bytes]]) -> None:
    for name, value in attrs:
        try:
            os.setxattr(fd, name, value)
        except OSError as e:
            if e.errno not in (errno.ENOTSUP, errno.EPERM, errno.EINVAL, errno.ERANGE):
                raise


def _hash_fd(h, fd: int) -> None:
    while True:
        chunk = os.read(fd, _BUF)
        if not chunk:
            return
        h.update(chunk)


def _hash_tree(h, dir_fd: int, name: str, rel: str) -> None:
    st = os.stat(name, dir_fd=dir_fd, follow_symlinks=False)
    mode = st.st_mode
    h.update(f"{rel}\0{mode:o}\0".encode("utf-8", "surrogateescape"))
    if stat.S_ISREG(mode):
        fd = os.open(name, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC, dir_fd=dir_fd)
        try:
            h.update(f"{st.st_size}\0".encode())
            for k, v in _xattrs(fd):
                h.update(k.encode() + b"=" + v + b"\0")
            _hash_fd(h, fd)
        finally:
            os.close(fd)
    elif stat.S_ISLNK(mode):
        h.update(os.fsencode(os.readlink(name, dir_fd=dir_fd)) + b"\0")
    elif stat.S_ISDIR(mode):
        fd = os.open(name, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC,
                     dir_fd=dir_fd)
        try:
            for child in sorted(os.listdir(fd)):
                _hash_tree(h, fd, child, f"{rel}/{child}")
        finally:
            os.close(fd)
    elif stat.S_ISCHR(mode) or stat.S_ISBLK(mode):
        h.update(f"{st.st_rdev}\0".encode())
    h.update(b"\1")


def source_checksum(src_root: str, sources: list[str], *, cmd: str = "COPY") -> str:
    """``sha256:…`` over what COPY/ADD would copy: matched names, modes, link targets and
    contents (directories recursively). The cache key of a COPY: any change a user could see
    in the copied files changes it; times and owners (reset by COPY) do not."""
    root_fd = os.open(src_root, os.O_PATH | os.O_DIRECTORY | os.O_CLOEXEC)
    try:
        h = hashlib.sha256()
        for s in _sources(root_fd, sources):
            h.update(f"source\0{s.name}\0".encode("utf-8", "surrogateescape"))
            fd = _open_source(root_fd, s.rel)
            try:
                _hash_open(h, fd)
            finally:
                os.close(fd)
        return "sha256:" + h.hexdigest()
    except OSError as e:
        raise InvalidArgument(f"cannot read {e.filename or 'source'}: {e.strerror}") from None
    finally:
        os.close(root_fd)


def _hash_open(h, path_fd: int) -> None:
    """Hash the object an O_PATH fd refers to (reopened readable through /proc)."""
    st = os.fstat(path_fd)
    if stat.S_ISDIR(st.st_mode):
        fd = os.open(".", os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC, dir_fd=path_fd)
        try:
            h.update(f".\0{st.st_mode:o}\0".encode())
            for child in sorted(os.listdir(fd)):
                _hash_tree(h, fd, child, f"./{child}")
        finally:
            os.close(fd)
    elif stat.S_ISREG(st.st_mode):
        fd = os.open(f"/proc/self/fd/{path_fd}", os.O_RDONLY | os.O_CLOEXEC)
        try:
            h.update(f".\0{st.st_mode:o}\0{st.st_size}\0".encode())
            for k, v in _xattrs(fd):
                h.update(k.encode() + b"=" + v + b"\0")
            _hash_fd(h, fd)
        finally:
            os.close(fd)
    else:
        h.update(f".\0{st.st_mode:o}\0{st.st_rdev}\0".encode())
    h.update(b"\1")


# -- destination -------------------------------------------------------------------------------


@dataclass
class _Owner:
    uid: int
    gid: int
    chmod: int | str | None


def _mkdirs(root_fd: int, path: str, owner: _Owner | None) -> int:
    """O_PATH fd of directory ``path`` inside the root, creating missing components (new ones
    are 0755 and, when ``owner`` is given, chowned to it). A dangling symlink on the way is
    followed inside the root, as docker's FollowSymlinkInScope + MkdirAll would."""
    parts = [p for p in path.split("/") if p]
    hops = 0
    i = 0
    cur = open_in_root(root_fd, "/", os.O_PATH | os.O_DIRECTORY)
    try:
        while i < len(parts):
            prefix = "/" + "/".join(parts[: i + 1])
            try:
                nxt = open_in_root(root_fd, prefix, os.O_PATH | os.O_DIRECTORY)
            except OSError as e:
                if e.errno == errno.ENOTDIR:
                    raise InvalidArgument(f"mkdir {prefix}: not a directory") from None
                if e.errno != errno.ENOENT:
                    raise
                part = parts[i]
                try:
                    os.mkdir(part, 0o755, dir_fd=cur)
                except FileExistsError:
                    st = os.stat(part, dir_fd=cur, follow_symlinks=False)
                    if not stat.S_ISLNK(st.st_mode):
                        raise
                    hops += 1
                    if hops > 40:
                        raise InvalidArgument(f"mkdir {prefix}: too many levels of symbolic "
                                              "links") from None
                    link = os.readlink(part, dir_fd=cur)
                    base = "/" + "/".join(parts[:i])
                    new = posixpath.normpath(posixpath.join(base, link)).lstrip("/")
                    parts = [p for p in new.split("/") if p] + parts[i + 1:]
                    i = 0
                    os.close(cur)
                    cur = open_in_root(root_fd, "/", os.O_PATH | os.O_DIRECTORY)
                    continue
                if owner is not None:
                    os.chown(part, owner.uid, owner.gid, dir_fd=cur, follow_symlinks=False)
                nxt = open_in_root(root_fd, prefix, os.O_PATH | os.O_DIRECTORY)
            os.close(cur)
            cur = nxt
            i += 1
    except BaseException:
        os.close(cur)
        raise
    return cur


def _is_dir_in_root(root_fd: int, path: str) -> bool:
    try:
        fd = open_in_root(root_fd, path, os.O_PATH)
    except OSError:
        return False
    try:
        return stat.S_ISDIR(os.fstat(fd).st_mode)
    finally:
        os.close(fd)


def _remove(dir_fd: int, name: str, keep_dir: bool) -> bool:
    """Make room for ``name``; True when an existing directory is kept (merged into)."""
    try:
        st = os.stat(name, dir_fd=dir_fd, follow_symlinks=False)
    except FileNotFoundError:
        return False
    if stat.S_ISDIR(st.st_mode):
        if keep_dir:
            return True
        shutil.rmtree(name, dir_fd=dir_fd)
    else:
        os.unlink(name, dir_fd=dir_fd)
    return False


def _copy_data(src_fd: int, dst_fd: int, size: int) -> None:
    left = size
    while left > 0:
        try:
            n = os.copy_file_range(src_fd, dst_fd, min(left, 1 << 30))
        except OSError as e:
            if e.errno not in (errno.EXDEV, errno.ENOSYS, errno.EINVAL, errno.EOPNOTSUPP):
                raise
            n = -1
        if n == -1:
            while True:
                chunk = os.read(src_fd, _BUF)
                if not chunk:
                    return
                os.write(dst_fd, chunk)
        if n == 0:
            return
        left -= n


def _set_meta(dir_fd: int, name: str, st: os.stat_result, owner: _Owner,
              fd: int | None = None) -> None:
    """Owner, mode (or --chmod) and mtime of a created entry; never through a symlink."""
    is_link = stat.S_ISLNK(st.st_mode)
    os.chown(name, owner.uid, owner.gid, dir_fd=dir_fd, follow_symlinks=False)
    if not is_link:
        mode = stat.S_IMODE(st.st_mode)
        if owner.chmod is not None:
            mode = apply_chmod(mode, owner.chmod, stat.S_ISDIR(st.st_mode))
        if fd is not None:
            os.fchmod(fd, mode)
        else:
            tmp = os.open(name, os.O_PATH | os.O_NOFOLLOW | os.O_CLOEXEC, dir_fd=dir_fd)
            try:
                os.chmod(f"/proc/self/fd/{tmp}", mode)
            finally:
                os.close(tmp)
    try:
        os.utime(name, ns=(st.st_mtime_ns, st.st_mtime_ns), dir_fd=dir_fd,
                 follow_symlinks=False)
    except OSError:
        pass


def _symlinked_dir(root_fd: int, dir_fd: int, name: str, path: str) -> int | None:
    """An fd of the directory that the symlink ``name`` points to, resolved inside the root,
    or None when ``name`` is not a symlink to a directory. A directory copied onto it merges
    into the target, as BuildKit does (the classic builder replaced the link, which breaks
    merged-/usr images whose /lib is ``usr/lib``)."""
    try:
        st = os.stat(name, dir_fd=dir_fd, follow_symlinks=False)
    except FileNotFoundError:
        return None
    if not stat.S_ISLNK(st.st_mode):
        return None
    try:
        return open_in_root(root_fd, path, os.O_RDONLY | os.O_DIRECTORY)
    except OSError:
        return None


class _Copier:
    def __init__(self, owner: _Owner, root_fd: int):
        self.owner = owner
        self.root_fd = root_fd
        self.links: dict[tuple[int, int], tuple[int, str]] = {}
        self.dir_fds: list[int] = []

    def entry(self, sdir: int, sname: str, ddir: int, dname: str, dpath: str) -> None:
        st = os.stat(sname, dir_fd=sdir, follow_symlinks=False)
        mode = st.st_mode
        if stat.S_ISDIR(mode):
            dfd = _symlinked_dir(self.root_fd, ddir, dname, dpath)
            followed = dfd is not None
            if dfd is None:
                if not _remove(ddir, dname, keep_dir=True):
                    os.mkdir(dname, 0o700, dir_fd=ddir)
                dfd = os.open(dname, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW |
                              os.O_CLOEXEC, dir_fd=ddir)
            try:
                sfd = os.open(sname, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW |
                              os.O_CLOEXEC, dir_fd=sdir)
                try:
                    self.contents(sfd, dfd, dpath)
                finally:
                    os.close(sfd)
                if not followed:
                    _set_meta(ddir, dname, st, self.owner, fd=dfd)
            finally:
                os.close(dfd)
            return
        _remove(ddir, dname, keep_dir=False)
        if stat.S_ISREG(mode):
            key = (st.st_dev, st.st_ino)
            if st.st_nlink > 1 and key in self.links:
                ldir, lname = self.links[key]
                try:
                    os.link(lname, dname, src_dir_fd=ldir, dst_dir_fd=ddir,
                            follow_symlinks=False)
                    return
                except OSError:
                    pass
            self.file(sdir, sname, ddir, dname, st)
            if st.st_nlink > 1:
                keep = os.dup(ddir)
                self.dir_fds.append(keep)
                self.links[key] = (keep, dname)
            return
        if stat.S_ISLNK(mode):
            os.symlink(os.readlink(sname, dir_fd=sdir), dname, dir_fd=ddir)
        elif stat.S_ISFIFO(mode):
            os.mkfifo(dname, 0o600, dir_fd=ddir)
        elif stat.S_ISCHR(mode) or stat.S_ISBLK(mode):
            os.mknod(dname, (mode & ~0o7777) | 0o600, st.st_rdev, dir_fd=ddir)
        else:
            return  # sockets are not copied
        _set_meta(ddir, dname, st, self.owner)

    def file(self, sdir: int, sname: str, ddir: int, dname: str,
             st: os.stat_result) -> None:
        sfd = os.open(sname, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC, dir_fd=sdir)
        try:
            dfd = os.open(dname, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW |
                          os.O_CLOEXEC, 0o600, dir_fd=ddir)
            try:
                _copy_data(sfd, dfd, st.st_size)
                _set_meta(ddir, dname, st, self.owner, fd=dfd)
                _put_xattrs(dfd, _xattrs(sfd))  # after chown, which drops capabilities
            finally:
                os.close(dfd)
        finally:
            os.close(sfd)

    def contents(self, sfd: int, dfd: int, dpath: str) -> None:
        for child in sorted(os.listdir(sfd)):
            self.entry(sfd, child, dfd, child, posixpath.join(dpath, child))

    def close(self) -> None:
        for fd in self.dir_fds:
            os.close(fd)
        self.dir_fds.clear()


def _is_archive(path_fd: int) -> bool:
    """A (possibly gzip/bzip2/xz-compressed) tar whose first header reads (docker's
    ``IsArchivePath``)."""
    import tarfile

    from dockyard.archive import decompress_stream

    try:
        with open(f"/proc/self/fd/{path_fd}", "rb") as f:
            head = decompress_stream(f).read(512)
    except (OSError, InvalidArgument):
        return False
    if len(head) < 512:
        return False
    try:
        tarfile.TarInfo.frombuf(head, "utf-8", "surrogateescape")
    except tarfile.HeaderError:
        return False
    return True


class _Untar:
    """ADD's archive extraction as docker does it in a chroot: entry names are taken relative
    to the destination, parent directories are resolved inside the rootfs (so an image's
    ``/lib -> usr/lib`` is followed, an absolute symlink never reaches the host), the entry
    itself is never written through a symlink, and owners and modes come from the archive."""

    def __init__(self, root_fd: int, dest: str):
        self.root_fd = root_fd
        self.dest = dest
        self.dirs: dict[str, int] = {}
        self.times: list[tuple[str, int]] = []

    def close(self) -> None:
        for fd in self.dirs.values():
            os.close(fd)
        self.dirs.clear()

    def parent(self, path: str) -> int:
        fd = self.dirs.get(path)
        if fd is None:
            fd = _mkdirs(self.root_fd, path, None)
            self.dirs[path] = fd
        return fd

    def forget(self, path: str) -> None:
        for key in [k for k in self.dirs if k == path or k.startswith(path.rstrip("/") + "/")]:
            os.close(self.dirs.pop(key))

    def name(self, raw: str, what: str = "entry") -> str | None:
        """The rootfs path of a member, taken relative to the destination (a leading ``/``
        too, as docker's chrooted untar does); None for the destination itself."""
        parts = member_parts(raw, what, "archive", absolute_ok=True)
        if not parts:
            return None
        return posixpath.join(self.dest, *parts)

    def run(self, tf, buffered) -> None:
        unpack_members(tf, lambda m: self.entry(m, buffered), "tar archive",
                       "extract archive entry")
        for path, mtime in sorted(self.times, key=lambda t: -t[0].count("/")):
            try:
                fd = open_in_root(self.root_fd, path, os.O_PATH | os.O_NOFOLLOW)
            except OSError:
                continue
            try:
                os.utime(f"/proc/self/fd/{fd}", (mtime, mtime))
            except (OSError, OverflowError, ValueError):
                pass
            finally:
                os.close(fd)

    def entry(self, m, buffered) -> None:
        from dockyard.errors import UnsafeArchive

        path = self.name(m.name)
        if path is None:
            return
        parent, base = posixpath.split(path)
        pfd = self.parent(parent)
        if m.islnk():
            tpath = self.name(m.linkname, "hardlink target")
            if tpath is None:
                raise UnsafeArchive(f"hardlink {m.name!r} has an empty target")
            tparent, tbase = posixpath.split(tpath)
            tfd = self.parent(tparent)
            if (tparent, tbase) != (parent, base):
                self.remove(pfd, base, path, keep_dir=False)
                os.link(tbase, base, src_dir_fd=tfd, dst_dir_fd=pfd, follow_symlinks=False)
            return
        if m.isdir():
            linked = _symlinked_dir(self.root_fd, pfd, base, path)
            if linked is not None:  # merge into the link's target (see _symlinked_dir)
                os.close(linked)
                return
        kept = self.remove(pfd, base, path, keep_dir=m.isdir())
        if m.isdir():
            if not kept:
                os.mkdir(base, 0o700, dir_fd=pfd)
            fd = os.open(base, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC,
                         dir_fd=pfd)
            try:
                os.fchown(fd, m.uid, m.gid)
                os.fchmod(fd, m.mode & 0o7777)
            finally:
                os.close(fd)
            self.times.append((path, m.mtime))
            return
        if m.isreg():
            if m.size < 0 or m.size > 1 << 40:
                raise UnsafeArchive(f"archive entry {m.name!r} has an absurd size")
            fd = os.open(base, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW |
                         os.O_CLOEXEC, 0o600, dir_fd=pfd)
            try:
                for chunk in member_chunks(buffered, m, "archive", _BUF):
                    os.write(fd, chunk)
                os.fchown(fd, m.uid, m.gid)
                os.fchmod(fd, m.mode & 0o7777)
                _put_xattrs(fd, [(k[len("SCHILY.xattr."):],
                                  v.encode("utf-8", "surrogateescape"))
                                 for k, v in m.pax_headers.items()
                                 if k.startswith("SCHILY.xattr.") and
                                 not k[len("SCHILY.xattr."):].startswith(_SKIP_XATTRS)])
                os.utime(fd, (m.mtime, m.mtime))
            finally:
                os.close(fd)
            return
        if m.issym():
            if not m.linkname or "\x00" in m.linkname:
                raise UnsafeArchive(f"invalid symlink target in archive entry {m.name!r}")
            os.symlink(m.linkname, base, dir_fd=pfd)
        elif m.isfifo():
            os.mkfifo(base, 0o600, dir_fd=pfd)
        else:
            raise UnsafeArchive(f"unsupported entry type in archive: {m.name!r}")
        os.chown(base, m.uid, m.gid, dir_fd=pfd, follow_symlinks=False)
        if m.isfifo():
            os.chmod(f"/proc/self/fd/{pfd}/{base}", m.mode & 0o7777)
        try:
            os.utime(base, (m.mtime, m.mtime), dir_fd=pfd, follow_symlinks=False)
        except (OSError, OverflowError, ValueError):
            pass

    def remove(self, pfd: int, base: str, path: str, keep_dir: bool) -> bool:
        try:
            st = os.stat(base, dir_fd=pfd, follow_symlinks=False)
        except FileNotFoundError:
            return False
        if stat.S_ISDIR(st.st_mode):
            if keep_dir:
                return True
            self.forget(path)
            shutil.rmtree(base, dir_fd=pfd)
        else:
            if stat.S_ISLNK(st.st_mode):
                self.forget(path)  # a directory reached through it is no longer there
            os.unlink(base, dir_fd=pfd)
        return False


def _extract(src_fd: int, root_fd: int, dest: str) -> None:
    from dockyard.archive import decompress_stream, drain, open_tar_stream

    with open(f"/proc/self/fd/{src_fd}", "rb") as f:
        src = decompress_stream(f)
        tf, buffered = open_tar_stream(src)
        untar = _Untar(root_fd, dest)
        try:
            untar.run(tf, buffered)
        finally:
            untar.close()
        drain(src)


def normalize_dest(dest: str, workdir: str = "/") -> str:
    """A relative destination is relative to WORKDIR; a trailing ``/`` is kept."""
    slash = dest.endswith("/") or dest in (".", "")
    if not dest.startswith("/"):
        dest = posixpath.join("/", workdir, dest)
    dest = posixpath.normpath(dest)
    if dest.startswith("//"):
        dest = "/" + dest.lstrip("/")
    return dest.rstrip("/") + "/" if slash else dest


def copy_sources(src_root: str, sources: list[str], dest_root: str, dest: str, *,
                 workdir: str = "/", chown: str | None = None, chmod: str | None = None,
                 extract_archives: bool = False, cmd: str | None = None) -> None:
    """Copy ``sources`` (paths or wildcards relative to ``src_root``) to ``dest`` inside the
    rootfs ``dest_root``, with the classic builder's rules; see the module docstring.

    Errors carry docker's wording after its ``COPY failed: `` prefix, which the caller adds:
    NotFound for a missing source (``file not found in build context or excluded by
    .dockerignore: stat x: file does not exist``) or an empty wildcard, InvalidArgument for
    several sources without a directory destination (docker's full sentence) or a bad
    --chown/--chmod.
    """
    cmd = cmd or ("ADD" if extract_archives else "COPY")
    uid, gid = resolve_user(dest_root, chown) if chown else (0, 0)
    mode = parse_chmod(chmod) if chmod else None
    owner = _Owner(uid, gid, mode)
    final = normalize_dest(dest, workdir)
    src_fd = os.open(src_root, os.O_PATH | os.O_DIRECTORY | os.O_CLOEXEC)
    dst_fd = os.open(dest_root, os.O_PATH | os.O_DIRECTORY | os.O_CLOEXEC)
    copier = _Copier(owner, dst_fd)
    try:
        infos = _sources(src_fd, sources)
        if len(infos) > 1 and not final.endswith("/"):
            raise InvalidArgument(f"When using {cmd} with more than one source file, the "
                                  "destination must be a directory and end with a /")
        for info in infos:
            _copy_one(src_fd, dst_fd, info, final, copier, extract_archives)
    except OSError as e:
        if e.errno in (errno.ENOSPC, errno.EIO, errno.EDQUOT):
            raise
        raise InvalidArgument(f"{e.strerror}: {e.filename or final}") from None
    finally:
        copier.close()
        os.close(src_fd)
        os.close(dst_fd)


def _copy_one(src_fd: int, dst_fd: int, info: _Source, final: str, copier: _Copier,
              extract_archives: bool) -> None:
    spath = _open_source(src_fd, info.rel)
    try:
        st = os.fstat(spath)
        if stat.S_ISDIR(st.st_mode):
            existed = _is_dir_in_root(dst_fd, final)
            dfd = _mkdirs(dst_fd, final, None)
            try:
                sdir = os.open(".", os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC, dir_fd=spath)
                real = os.open(".", os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC, dir_fd=dfd)
                try:
                    copier.contents(sdir, real, final)
                    if not existed:
                        os.fchown(real, copier.owner.uid, copier.owner.gid)
                        if copier.owner.chmod is not None:
                            os.fchmod(real, apply_chmod(0o755, copier.owner.chmod, True))
                finally:
                    os.close(sdir)
                    os.close(real)
            finally:
                os.close(dfd)
            return
        if extract_archives and stat.S_ISREG(st.st_mode) and _is_archive(spath):
            os.close(_mkdirs(dst_fd, final, None))
            _extract(spath, dst_fd, final)
            return
        if final.endswith("/") or _is_dir_in_root(dst_fd, final):
            target = posixpath.join(final, info.name)
        else:
            target = final
        pfd, name, target = _final_parent(dst_fd, target, copier.owner)
        try:
            _write_file(spath, st, pfd, target, name, copier)
        finally:
            os.close(pfd)
    finally:
        os.close(spath)


def _final_parent(root_fd: int, target: str, owner: _Owner) -> tuple[int, str, str]:
    """The parent directory fd and name a file is written to. A symlink at the destination
    is followed as docker does, but resolved inside the root (absolute targets and ``..``
    stop at it), creating missing parents of a dangling link's target."""
    for _ in range(40):
        parent, name = posixpath.split(target)
        pfd = _mkdirs(root_fd, parent, _Owner(owner.uid, owner.gid, None))
        try:
            st = os.stat(name, dir_fd=pfd, follow_symlinks=False)
        except FileNotFoundError:
            return pfd, name, target
        if not stat.S_ISLNK(st.st_mode):
            return pfd, name, target
        link = os.readlink(name, dir_fd=pfd)
        os.close(pfd)
        target = posixpath.normpath(posixpath.join(parent, link))
        if target.startswith("//"):
            target = "/" + target.lstrip("/")
        if not name or target == "/":
            break
    raise InvalidArgument(f"cannot copy to {target}: too many levels of symbolic links")


def _write_file(spath: int, st: os.stat_result, pfd: int, target: str, name: str,
                copier: _Copier) -> None:
    """One file source to ``name`` in ``pfd``; ``spath`` is an O_PATH fd of the source."""
    owner = copier.owner
    try:
        dst = os.stat(name, dir_fd=pfd, follow_symlinks=False)
    except FileNotFoundError:
        dst = None
    if dst is not None and stat.S_ISDIR(dst.st_mode):
        raise InvalidArgument(f"cannot copy to {target}: it is a directory")
    _remove(pfd, name, keep_dir=False)
    if stat.S_ISREG(st.st_mode):
        fd = os.open(name, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC,
                     0o600, dir_fd=pfd)
        try:
            attrs = _fill(spath, fd, st)
            _set_meta(pfd, name, st, owner, fd=fd)
            _put_xattrs(fd, attrs)
        finally:
            os.close(fd)
        return
    if stat.S_ISFIFO(st.st_mode):
        os.mkfifo(name, 0o600, dir_fd=pfd)
    elif stat.S_ISCHR(st.st_mode) or stat.S_ISBLK(st.st_mode):
        os.mknod(name, (st.st_mode & ~0o7777) | 0o600, st.st_rdev, dir_fd=pfd)
    else:
        return
    _set_meta(pfd, name, st, owner)


def _mode(st: os.stat_result, owner: _Owner) -> int:
    mode = stat.S_IMODE(st.st_mode)
    if owner.chmod is not None:
        mode = apply_chmod(mode, owner.chmod, stat.S_ISDIR(st.st_mode))
    return mode


def _fill(spath: int, dst: int, st: os.stat_result) -> list[tuple[str, bytes]]:
    """Copy the data; returns the source's xattrs, to be set after chown."""
    src = os.open(f"/proc/self/fd/{spath}", os.O_RDONLY | os.O_CLOEXEC)
    try:
        _copy_data(src, dst, st.st_size)
        return _xattrs(src)
    finally:
        os.close(src)
