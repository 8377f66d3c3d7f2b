"""mount(2), umount2(2) and the new mount API (fsopen/fsconfig/fsmount/move_mount) via ctypes.

The new API matters for overlay: ``lowerdir+`` adds one lower layer per call, so an image with
many layers is not limited by mount(2)'s one-page option string (Linux >= 6.8). Older kernels
fall back to mount(2), with relative paths from a common directory when the string is long.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import errno
import os
import shutil
import subprocess
import tempfile
from collections.abc import Sequence

_libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)
_libc.mount.argtypes = [ctypes.c_char_p, ctypes.c_char_p, ctypes.c_char_p, ctypes.c_ulong,
                        ctypes.c_char_p]
_libc.umount2.argtypes = [ctypes.c_char_p, ctypes.c_int]
_libc.syscall.restype = ctypes.c_long

MS_RDONLY = 1
MS_NOSUID = 2
MS_NODEV = 4
MS_NOEXEC = 8
MS_REMOUNT = 32
MS_BIND = 4096
MS_MOVE = 8192
MS_REC = 16384
MS_PRIVATE = 1 << 18
MS_SLAVE = 1 << 19
MS_SHARED = 1 << 20

MNT_FORCE = 1
MNT_DETACH = 2
UMOUNT_NOFOLLOW = 8

# new mount API (same numbers on every architecture but alpha)
_SYS_MOVE_MOUNT = 429
_SYS_FSOPEN = 430
_SYS_FSCONFIG = 431
_SYS_FSMOUNT = 432
FSOPEN_CLOEXEC = 1
FSMOUNT_CLOEXEC = 1
FSCONFIG_SET_FLAG = 0
FSCONFIG_SET_STRING = 1
FSCONFIG_CMD_CREATE = 6
MOVE_MOUNT_F_EMPTY_PATH = 4
AT_FDCWD = -100
MOUNT_ATTR_RDONLY = 1

_PAGE = os.sysconf("SC_PAGE_SIZE")


def _err(what: str) -> OSError:
    e = ctypes.get_errno()
    return OSError(e, f"{what}: {os.strerror(e)}")


def mount(source: str | None, target: str, fstype: str | None, flags: int = 0,
          data: str | None = None) -> None:
    if _libc.mount(source.encode() if source else None, target.encode(),
                   fstype.encode() if fstype else None, flags,
                   data.encode() if data else None) != 0:
        raise _err(f"mount {target}")


def umount2(target: str, flags: int = 0) -> None:
    if _libc.umount2(target.encode(), flags) != 0:
        raise _err(f"umount {target}")


def bind_mount(source: str, target: str, readonly: bool = False, recursive: bool = False) -> None:
    mount(source, target, None, MS_BIND | (MS_REC if recursive else 0))
    if readonly:
        mount(None, target, None, MS_REMOUNT | MS_BIND | MS_RDONLY)


def is_mountpoint(path: str) -> bool:
    """True when something is mounted exactly at ``path`` (per /proc/self/mountinfo)."""
    real = os.path.realpath(path)
    with open("/proc/self/mountinfo", "rb") as f:
        for line in f:
            mp = line.split(b" ", 5)[4]
            if _unescape(mp) == real:
                return True
    return False


def _unescape(field: bytes) -> str:
    return field.decode("utf-8", "surrogateescape").replace("\\040", " ").replace(
        "\\011", "\t").replace("\\012", "\n").replace("\\134", "\\")


def unmount(target: str, detach_if_busy: bool = True) -> None:
    """Unmount everything stacked on ``target``; a missing or unmounted target is fine."""
    for _ in range(64):
        try:
            umount2(target, UMOUNT_NOFOLLOW)
        except OSError as e:
            if e.errno in (errno.EINVAL, errno.ENOENT):
                return
            if e.errno == errno.EBUSY and detach_if_busy:
                try:
                    umount2(target, UMOUNT_NOFOLLOW | MNT_DETACH)
                except OSError as e2:
                    if e2.errno in (errno.EINVAL, errno.ENOENT):
                        return
                    raise
                continue
            raise


# -- overlay -------------------------------------------------------------------------------------


class _FsContext:
    def __init__(self, fstype: str):
        fd = _libc.syscall(ctypes.c_long(_SYS_FSOPEN), ctypes.c_char_p(fstype.encode()),
                           ctypes.c_uint(FSOPEN_CLOEXEC))
        if fd < 0:
            raise _err(f"fsopen {fstype}")
        self.fd = int(fd)

    def _messages(self) -> str:
        out = []
        os.set_blocking(self.fd, False)
        try:
            while True:
                out.append(os.read(self.fd, 1024).decode(errors="replace").strip())
        except OSError:
            pass
        return "; ".join(m for m in out if m)

    def _fail(self, what: str) -> OSError:
        e = ctypes.get_errno()
        msg = self._messages()
        return OSError(e, f"{what}: {os.strerror(e)}" + (f" ({msg})" if msg else ""))

    def set_string(self, key: str, value: str) -> None:
        r = _libc.syscall(ctypes.c_long(_SYS_FSCONFIG), ctypes.c_int(self.fd),
                          ctypes.c_uint(FSCONFIG_SET_STRING), ctypes.c_char_p(key.encode()),
                          ctypes.c_char_p(value.encode()), ctypes.c_int(0))
        if r < 0:
            raise self._fail(f"overlay option {key}={value}")

    def create_and_mount(self, target: str, attr_flags: int = 0) -> None:
        r = _libc.syscall(ctypes.c_long(_SYS_FSCONFIG), ctypes.c_int(self.fd),
                          ctypes.c_uint(FSCONFIG_CMD_CREATE), None, None, ctypes.c_int(0))
        if r < 0:
            raise self._fail(f"mount overlay on {target}")
        mfd = _libc.syscall(ctypes.c_long(_SYS_FSMOUNT), ctypes.c_int(self.fd),
                            ctypes.c_uint(FSMOUNT_CLOEXEC), ctypes.c_uint(attr_flags))
        if mfd < 0:
            raise self._fail(f"fsmount overlay on {target}")
        try:
            r = _libc.syscall(ctypes.c_long(_SYS_MOVE_MOUNT), ctypes.c_int(mfd),
                              ctypes.c_char_p(b""), ctypes.c_int(AT_FDCWD),
                              ctypes.c_char_p(target.encode()),
                              ctypes.c_uint(MOVE_MOUNT_F_EMPTY_PATH))
            if r < 0:
                raise _err(f"move_mount overlay to {target}")
        finally:
            os.close(mfd)

    def close(self) -> None:
        os.close(self.fd)


_new_api_ok: bool | None = None


def _escape(path: str) -> str:
    return path.replace("\\", "\\\\").replace(":", "\\:").replace(",", "\\,")


def mount_overlay(lowers: Sequence[str], target: str, upper: str | None = None,
                  work: str | None = None, options: Sequence[str] = ("index=off",),
                  readonly: bool = False) -> None:
    """Mount overlayfs on ``target``; ``lowers`` are ordered top-most first."""
    global _new_api_ok
    if not lowers:
        raise ValueError("overlay needs at least one lower directory")
    if _new_api_ok is not False:
        try:
            _mount_overlay_new(lowers, target, upper, work, options, readonly)
            _new_api_ok = True
            return
        except OSError as e:
            # ENOSYS: no new mount API; EINVAL on lowerdir+: kernel older than 6.8
            if _new_api_ok or e.errno not in (errno.ENOSYS, errno.EINVAL, errno.EPERM):
                raise
            _new_api_ok = False
    _mount_overlay_legacy(lowers, target, upper, work, options, readonly)


def _mount_overlay_new(lowers, target, upper, work, options, readonly) -> None:
    ctx = _FsContext("overlay")
    try:
        ctx.set_string("source", "overlay")
        for lower in lowers:
            ctx.set_string("lowerdir+", lower)
        if upper:
            ctx.set_string("upperdir", upper)
            ctx.set_string("workdir", work or "")
        for opt in options:
            k, _, v = opt.partition("=")
            ctx.set_string(k, v)
        ctx.create_and_mount(target, MOUNT_ATTR_RDONLY if readonly else 0)
    finally:
        ctx.close()


def _mount_overlay_legacy(lowers, target, upper, work, options, readonly) -> None:
    def data_for(paths: Sequence[str], up: str | None, wk: str | None) -> str:
        parts = ["lowerdir=" + ":".join(_escape(p) for p in paths)]
        if up:
            parts += [f"upperdir={_escape(up)}", f"workdir={_escape(wk or '')}"]
        return ",".join(parts + list(options))

    flags = MS_RDONLY if readonly else 0
    data = data_for(lowers, upper, work)
    if len(data) < _PAGE - 1:
        mount("overlay", target, "overlay", flags, data)
        return
    # Too long for one page: point short symlinks at the layers and mount from their
    # directory with relative names (mount(8) runs there, so the daemon's own working
    # directory never changes). The kernel resolves the links once, at mount time.
    links = tempfile.mkdtemp(prefix="ovl-")
    try:
        rel = []
        for i, p in enumerate(lowers):
            name = format(i, "x")
            os.symlink(os.path.abspath(p), os.path.join(links, name))
            rel.append(name)
        if upper:
            os.symlink(os.path.abspath(upper), os.path.join(links, "u"))
            os.symlink(os.path.abspath(work or ""), os.path.join(links, "w"))
        data = data_for(rel, "u" if upper else None, "w" if upper else None)
        if readonly:
            data += ",ro"
        res = subprocess.run(["mount", "-t", "overlay", "overlay", "-o", data,
                              os.path.abspath(target)], cwd=links, capture_output=True,
                             text=True)
        if res.returncode != 0:
            raise OSError(errno.EINVAL, f"mount overlay on {target}: {res.stderr.strip()}")
    finally:
        shutil.rmtree(links, ignore_errors=True)
