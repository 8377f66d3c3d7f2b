"""openat2(2) with RESOLVE_IN_ROOT: open a path of an untrusted tree as if its root were ``/``.

Image rootfs, build contexts and container roots may hold absolute symlinks or ``..`` aimed at
the host. The kernel stops both at the root (and refuses magic links), race-free, so callers
never follow a planted link out of the tree however it changes under them.
"""

from __future__ import annotations

import ctypes
import errno
import os
import stat

from ._libc import libc

_SYS_OPENAT2 = 437  # x86_64 and aarch64 alike
_RESOLVE_NO_MAGICLINKS = 0x02
_RESOLVE_IN_ROOT = 0x10


class _OpenHow(ctypes.Structure):
    _fields_ = [("flags", ctypes.c_uint64), ("mode", ctypes.c_uint64),
                ("resolve", ctypes.c_uint64)]


def open_in_root(root: str | int, path: str, flags: int, mode: int = 0) -> int:
    """An fd for ``path`` seen with ``root`` (a path or a directory fd) as ``/``.

    ``mode`` counts only with O_CREAT (the kernel refuses it otherwise). Raises OSError with
    the kernel's errno (ENOENT, ELOOP, EXDEV…) and ``path`` as the file name.
    """
    own = isinstance(root, str)
    root_fd = os.open(root, os.O_PATH | os.O_DIRECTORY | os.O_CLOEXEC) if own else root
    try:
        how = _OpenHow(flags | os.O_CLOEXEC, mode if flags & os.O_CREAT else 0,
                       _RESOLVE_IN_ROOT | _RESOLVE_NO_MAGICLINKS)
        libc.syscall.restype = ctypes.c_long
        rel = path.lstrip("/") or "."
        fd = libc.syscall(ctypes.c_long(_SYS_OPENAT2), ctypes.c_int(root_fd),
                          os.fsencode(rel), ctypes.byref(how),
                          ctypes.c_size_t(ctypes.sizeof(how)))
        if fd < 0:
            err = ctypes.get_errno()
            raise OSError(err, os.strerror(err), path)
        return fd
    finally:
        if own:
            os.close(root_fd)


_ABSENT = frozenset({errno.ENOENT, errno.ENOTDIR, errno.ELOOP, errno.EXDEV, errno.EISDIR})


def read_in_root(root: str | int, path: str, limit: int) -> bytes | None:
    """At most ``limit`` bytes of the regular file ``path`` inside ``root``; None when it is
    missing, not a regular file, or its resolution is refused (a looping or escaping link)."""
    try:
        fd = open_in_root(root, path, os.O_RDONLY | os.O_NONBLOCK)
    except OSError as e:
        if e.errno in _ABSENT:
            return None
        raise
    with os.fdopen(fd, "rb") as f:
        if not stat.S_ISREG(os.fstat(f.fileno()).st_mode):
            return None
        return f.read(limit)
