"""``docker cp``: stat, read (tar out) and write (tar in) paths inside a container's root.

Paths come from clients and resolve as if the container's root were ``/``: ``openat2`` with
RESOLVE_IN_ROOT makes ``..`` and absolute symlinks stop at the root, in the kernel, so neither
a path nor a symlink planted by the container reaches the host. Tar output walks with
directory file descriptors and O_NOFOLLOW; tar input goes through ``archive.apply_tar`` (no
writing through symlinks, no absolute or ``..`` names), into a directory opened the same way.

A running container's root is ``/proc/PID/root`` (its own mount namespace, volumes included);
a stopped one's snapshot is mounted for the copy, under the container's lock, with its volumes
and bind mounts bound on top (as Docker does), and all of it unmounted afterwards.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import errno
import json
import os
import stat
import tarfile
import time
from collections.abc import AsyncIterator
from typing import BinaryIO

from ..archive import apply_tar
from ..errors import Conflict, Forbidden, InvalidArgument, NotFound
from ..sys import mount as _mount
from ..sys.inroot import open_in_root

# Go's os.FileMode bits, which Docker puts in the stat header.
_GO_DIR, _GO_SYMLINK, _GO_DEVICE, _GO_PIPE, _GO_SOCKET = 1 << 31, 1 << 27, 1 << 26, 1 << 25, 1 << 24
_GO_SETUID, _GO_SETGID, _GO_CHARDEV, _GO_STICKY = 1 << 23, 1 << 22, 1 << 21, 1 << 20


def go_mode(mode: int) -> int:
    out = mode & 0o777
    if stat.S_ISDIR(mode):
        out |= _GO_DIR
    elif stat.S_ISLNK(mode):
        out |= _GO_SYMLINK
    elif stat.S_ISCHR(mode):
        out |= _GO_DEVICE | _GO_CHARDEV
    elif stat.S_ISBLK(mode):
        out |= _GO_DEVICE
    elif stat.S_ISFIFO(mode):
        out |= _GO_PIPE
    elif stat.S_ISSOCK(mode):
        out |= _GO_SOCKET
    if mode & stat.S_ISUID:
        out |= _GO_SETUID
    if mode & stat.S_ISGID:
        out |= _GO_SETGID
    if mode & stat.S_ISVTX:
        out |= _GO_STICKY
    return out


def _rfc3339(t: float) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(t)) + f".{int((t % 1) * 1e9):09d}Z"


def stat_header(doc: dict) -> str:
    """The ``X-Docker-Container-Path-Stat`` value: base64 of the JSON stat."""
    return base64.b64encode(json.dumps(doc).encode()).decode()


class Target:
    """A resolved client path: the parent directory's fd and the final name in it (or the
    directory itself when the path ends in ``/`` or ``/.``)."""

    def __init__(self, root_fd: int, path: str):
        if not path:
            raise InvalidArgument("path cannot be empty")
        if "\x00" in path:
            raise InvalidArgument("path contains a NUL byte")
        self.path = path
        self.follow = path.endswith("/") or path.endswith("/.") or path in (".", "/")
        norm = os.path.normpath("/" + path)
        self.base = "." if self.follow and path.endswith("/.") else (
            os.path.basename(norm) or "/")
        parent, name = os.path.split(norm)
        try:
            if self.follow or name == "":
                self.dir_fd = open_in_root(root_fd, norm, os.O_PATH | os.O_DIRECTORY)
                self.name = ""
            else:
                self.dir_fd = open_in_root(root_fd, parent, os.O_PATH | os.O_DIRECTORY)
                self.name = name
            self.st = self._lstat()
        except OSError as e:
            if e.errno in (errno.ENOENT, errno.ENOTDIR):
                raise NotFound(f"Could not find the file {path} in container") from None
            if e.errno == errno.EXDEV:
                raise Forbidden(f"path {path} leaves the container's root") from None
            raise

    def _lstat(self) -> os.stat_result:
        if self.name:
            return os.stat(self.name, dir_fd=self.dir_fd, follow_symlinks=False)
        return os.stat(self.dir_fd)

    def close(self) -> None:
        os.close(self.dir_fd)

    def stat_doc(self) -> dict:
        st = self.st
        link = ""
        if stat.S_ISLNK(st.st_mode):
            target = os.readlink(self.name, dir_fd=self.dir_fd)
            link = target if target.startswith("/") else os.path.normpath(
                os.path.join(os.path.dirname(os.path.normpath("/" + self.path)), target))
        return {"name": self.base, "size": st.st_size, "mode": go_mode(st.st_mode),
                "mtime": _rfc3339(st.st_mtime), "linkTarget": link}

    # ---- tar out ------------------------------------------------------------------------

    def write_tar(self, out: BinaryIO) -> None:
        with tarfile.open(fileobj=out, mode="w|", format=tarfile.PAX_FORMAT) as tf:
            if self.name:
                _add(tf, self.dir_fd, self.name, self.base)
            else:
                fd = os.open(".", os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC, dir_fd=self.dir_fd)
                try:
                    _add_dir_fd(tf, fd, self.base, os.fstat(fd))
                finally:
                    os.close(fd)


_CP_USER = "cp:"  # volume users while a copy has a stopped container's volumes mounted


def _make_mountpoint(root_fd: int, dest: str, is_dir: bool) -> int:
    """An O_PATH fd of ``dest`` inside the root, made (directories, or an empty file for a
    file bind) where missing, as runc does when the container starts."""
    parts = [p for p in os.path.normpath("/" + dest).split("/") if p]
    if not parts:
        raise InvalidArgument("cannot mount over the container's root")
    for i, part in enumerate(parts):
        parent = open_in_root(root_fd, "/" + "/".join(parts[:i]), os.O_PATH | os.O_DIRECTORY)
        try:
            if i < len(parts) - 1 or is_dir:
                try:
                    os.mkdir(part, 0o755, dir_fd=parent)
                except FileExistsError:
                    pass
            else:
                try:
                    os.close(os.open(part, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW
                                     | os.O_CLOEXEC, 0o644, dir_fd=parent))
                except FileExistsError:
                    pass
        finally:
            os.close(parent)
    return open_in_root(root_fd, "/" + "/".join(parts), os.O_PATH)


def _info(arcname: str, st: os.stat_result) -> tarfile.TarInfo:
    ti = tarfile.TarInfo(arcname)
    ti.mode = stat.S_IMODE(st.st_mode)
    ti.uid, ti.gid = st.st_uid, st.st_gid
    ti.mtime = int(st.st_mtime)
    return ti


def _add(tf: tarfile.TarFile, dir_fd: int, name: str, arcname: str) -> None:
    st = os.stat(name, dir_fd=dir_fd, follow_symlinks=False)
    mode = st.st_mode
    if stat.S_ISDIR(mode):
        fd = os.open(name, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC,
                     dir_fd=dir_fd)
        try:
            _add_dir_fd(tf, fd, arcname, os.fstat(fd))
        finally:
            os.close(fd)
        return
    ti = _info(arcname, st)
    if stat.S_ISREG(mode):
        fd = os.open(name, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC | os.O_NONBLOCK,
                     dir_fd=dir_fd)
        with os.fdopen(fd, "rb") as f:
            fst = os.fstat(fd)
            ti.type = tarfile.REGTYPE
            ti.size = fst.st_size
            tf.addfile(ti, _Exact(f, fst.st_size))
        return
    if stat.S_ISLNK(mode):
        ti.type = tarfile.SYMTYPE
        ti.linkname = os.readlink(name, dir_fd=dir_fd)
    elif stat.S_ISFIFO(mode):
        ti.type = tarfile.FIFOTYPE
    elif stat.S_ISCHR(mode) or stat.S_ISBLK(mode):
        ti.type = tarfile.CHRTYPE if stat.S_ISCHR(mode) else tarfile.BLKTYPE
        ti.devmajor, ti.devminor = os.major(st.st_rdev), os.minor(st.st_rdev)
    else:
        return  # sockets are not archived (as tar and Docker)
    tf.addfile(ti)


def _add_dir_fd(tf: tarfile.TarFile, fd: int, arcname: str, st: os.stat_result) -> None:
    ti = _info(arcname, st)
    ti.type = tarfile.DIRTYPE
    tf.addfile(ti)
    for entry in sorted(os.listdir(fd)):
        try:
            _add(tf, fd, entry, f"{arcname}/{entry}")
        except FileNotFoundError:
            continue  # removed while we walked


class _Exact:
    """Exactly ``size`` bytes of a file that may change while it is read (pads or cuts)."""

    def __init__(self, f: BinaryIO, size: int):
        self.f = f
        self.left = size

    def read(self, n: int = -1) -> bytes:
        if n < 0 or n > self.left:
            n = self.left
        data = self.f.read(n) if n else b""
        if len(data) < n:
            data += b"\0" * (n - len(data))
        self.left -= len(data)
        return data


class ArchiveService:
    def __init__(self, containers):
        self.containers = containers

    @contextlib.asynccontextmanager
    async def root(self, ref: str, *, write: bool = False) -> AsyncIterator[int]:
        """An fd of the container's root directory for the duration of the copy."""
        svc = self.containers
        c = svc.get(ref)
        if c.state.status in ("running", "paused") and c.state.pid:
            if write and c.host_config.get("ReadonlyRootfs"):
                raise Forbidden("container rootfs is marked read-only")
            try:
                fd = os.open(f"/proc/{c.state.pid}/root", os.O_PATH | os.O_DIRECTORY)
            except OSError:
                raise Conflict(f"container {c.id[:12]} is not running any more") from None
            try:
                yield fd
            finally:
                os.close(fd)
            return
        async with svc._lock(c.id):
            if not svc.repo.has(c.id):
                raise NotFound(f"No such container: {ref}")
            target = svc.rootfs_path(c.id)
            mounted = False
            if not os.path.ismount(target):
                await asyncio.to_thread(svc.snapshots.mount, c.id, target)
                mounted = True
            volumes: list[tuple[str, str | None]] = []
            try:
                # As Docker: the copy sees the container's volumes and binds, not only its
                # snapshot.
                await asyncio.to_thread(self._mount_volumes, c, target, volumes)
                fd = os.open(target, os.O_PATH | os.O_DIRECTORY)
                try:
                    yield fd
                finally:
                    os.close(fd)
            finally:
                await asyncio.to_thread(self._unmount_volumes, c, volumes)
                if mounted:
                    await asyncio.to_thread(svc.snapshots.unmount, target)

    def _mount_volumes(self, c, rootfs: str, done: list[tuple[str, str | None]]) -> None:
        """Bind the volumes and bind mounts of a stopped container onto its mounted snapshot,
        parents first, at destinations resolved inside it (a symlink in the container cannot
        send a mount elsewhere). ``done`` gets (host path, volume name) of each mount."""
        volumes = self.containers.volumes
        records = [r for r in (getattr(c, "mounts", None) or [])
                   if r.get("Type") in ("bind", "volume")]
        records.sort(key=lambda r: os.path.normpath(r["Destination"]).count("/"))
        for rec in records:
            name = None
            if rec["Type"] == "volume":
                if volumes is None:
                    continue
                try:
                    v = volumes.driver.get(rec["Name"])
                except NotFound:
                    continue
                volumes.driver.acquire(v, _CP_USER + c.id)
                name, source = v.name, v.mountpoint
            else:
                source = rec["Source"]
            try:
                if not os.path.exists(source):
                    raise FileNotFoundError
                path = self._mount_volume(rootfs, rec["Destination"], source,
                                          read_only=not rec.get("RW", True))
            except FileNotFoundError:  # a bind source deleted since: Docker skips it too
                if name is not None:
                    volumes.driver.release(name, _CP_USER + c.id)
                continue
            except BaseException:
                if name is not None:
                    volumes.driver.release(name, _CP_USER + c.id)
                raise
            done.append((path, name))

    @staticmethod
    def _mount_volume(rootfs: str, dest: str, source: str, *, read_only: bool) -> str:
        root_fd = os.open(rootfs, os.O_PATH | os.O_DIRECTORY | os.O_CLOEXEC)
        try:
            fd = _make_mountpoint(root_fd, dest, os.path.isdir(source))
        finally:
            os.close(root_fd)
        try:
            path = os.readlink(f"/proc/self/fd/{fd}")
            if not path.startswith(rootfs.rstrip("/") + "/"):
                raise Forbidden(f"mount point {dest} leaves the container's root")
            # Onto the fd: exactly the directory resolved inside the root.
            _mount.mount(source, f"/proc/self/fd/{fd}", None, _mount.MS_BIND | _mount.MS_REC)
        finally:
            os.close(fd)
        if read_only:
            try:
                _mount.mount(None, path, None,
                             _mount.MS_REMOUNT | _mount.MS_BIND | _mount.MS_RDONLY)
            except OSError:
                _mount.unmount(path)
                raise
        return path

    def _unmount_volumes(self, c, done: list[tuple[str, str | None]]) -> None:
        for path, name in reversed(done):
            try:
                _mount.unmount(path)
            finally:
                if name is not None:
                    self.containers.volumes.driver.release(name, _CP_USER + c.id)
        done.clear()

    def extract(self, root_fd: int, path: str, body: BinaryIO, *, no_overwrite_dir_non_dir:
                bool = False, copy_uid_gid: bool = False) -> None:
        """Unpack a client's tar into the directory ``path`` (which must exist)."""
        t = Target(root_fd, path if path.endswith("/") else path + "/")
        try:
            if not stat.S_ISDIR(t.st.st_mode):
                raise InvalidArgument(f"extraction point is not a directory: {path}")
            fd = os.open(".", os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC, dir_fd=t.dir_fd)
        finally:
            t.close()
        try:
            # Docker: what is copied in belongs to root, unless -a (copyUIDGID) keeps owners.
            apply_tar(body, f"/proc/self/fd/{fd}", whiteout="delete", same_owner=copy_uid_gid)
        except OSError as e:
            if e.errno == errno.EROFS:  # the read-only rootfs is refused before: a volume
                raise Forbidden("mounted volume is marked read-only") from None
            raise InvalidArgument(f"cannot extract into {path}: {e.strerror}") from None
        finally:
            os.close(fd)
