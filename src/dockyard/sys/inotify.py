"""inotify through ctypes: the stdlib has none, and exit files and log files must be watched
without polling loops."""

from __future__ import annotations

import ctypes
import os
import struct
from collections.abc import Iterator
from dataclasses import dataclass

from dockyard.sys._libc import check, libc

IN_ACCESS = 0x00000001
IN_MODIFY = 0x00000002
IN_ATTRIB = 0x00000004
IN_CLOSE_WRITE = 0x00000008
IN_CLOSE_NOWRITE = 0x00000010
IN_OPEN = 0x00000020
IN_MOVED_FROM = 0x00000040
IN_MOVED_TO = 0x00000080
IN_CREATE = 0x00000100
IN_DELETE = 0x00000200
IN_DELETE_SELF = 0x00000400
IN_MOVE_SELF = 0x00000800
IN_UNMOUNT = 0x00002000
IN_Q_OVERFLOW = 0x00004000
IN_IGNORED = 0x00008000
IN_ONLYDIR = 0x01000000
IN_NONBLOCK = os.O_NONBLOCK
IN_CLOEXEC = os.O_CLOEXEC

_HEADER = struct.Struct("iIII")

libc.inotify_init1.argtypes = [ctypes.c_int]
libc.inotify_add_watch.argtypes = [ctypes.c_int, ctypes.c_char_p, ctypes.c_uint32]
libc.inotify_rm_watch.argtypes = [ctypes.c_int, ctypes.c_int]


@dataclass(frozen=True)
class Event:
    wd: int
    mask: int
    cookie: int
    name: str


class Inotify:
    """A non-blocking inotify fd; register ``fileno()`` with a selector or event loop."""

    def __init__(self) -> None:
        self.fd = check(libc.inotify_init1(IN_NONBLOCK | IN_CLOEXEC), "inotify_init1")

    def fileno(self) -> int:
        return self.fd

    def add_watch(self, path: str, mask: int) -> int:
        return check(libc.inotify_add_watch(self.fd, os.fsencode(path), mask), f"inotify_add_watch {path}")

    def rm_watch(self, wd: int) -> None:
        try:
            check(libc.inotify_rm_watch(self.fd, wd), "inotify_rm_watch")
        except OSError:
            pass  # the watch is gone already (file deleted): nothing to undo

    def read(self) -> list[Event]:
        """Every event queued now; [] when none (never blocks)."""
        try:
            data = os.read(self.fd, 65536)
        except BlockingIOError:
            return []
        return list(parse_events(data))

    def close(self) -> None:
        if self.fd >= 0:
            os.close(self.fd)
            self.fd = -1

    def __enter__(self) -> Inotify:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def parse_events(data: bytes) -> Iterator[Event]:
    off = 0
    while off + _HEADER.size <= len(data):
        wd, mask, cookie, length = _HEADER.unpack_from(data, off)
        off += _HEADER.size
        raw = data[off : off + length].split(b"\0", 1)[0]
        off += length
        yield Event(wd, mask, cookie, os.fsdecode(raw))
