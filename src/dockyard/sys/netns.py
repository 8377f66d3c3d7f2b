"""Enter a network namespace from one thread (setns(2) via ctypes; Python 3.11 has no os.setns).

A netlink socket belongs to the namespace it was created in, so a thread enters a container's
namespace, opens its socket and leaves again: the rest of the daemon never changes namespace.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator

from ._libc import check, libc

CLONE_NEWNET = 0x40000000


def setns(fd: int, nstype: int = CLONE_NEWNET) -> None:
    check(libc.setns(fd, nstype), "setns")


@contextlib.contextmanager
def entered(ns_path: str) -> Iterator[None]:
    """Run the body in the network namespace at ``ns_path`` (this thread only), then return
    to the thread's own namespace even if the body raised."""
    own = os.open(f"/proc/self/task/{gettid()}/ns/net", os.O_RDONLY | os.O_CLOEXEC)
    try:
        target = os.open(ns_path, os.O_RDONLY | os.O_CLOEXEC)
        try:
            setns(target)
        finally:
            os.close(target)
        try:
            yield
        finally:
            setns(own)
    finally:
        os.close(own)


def gettid() -> int:
    return libc.syscall(186)  # SYS_gettid on x86_64 (os.gettid needs Python 3.12)


def pid_netns(pid: int) -> str:
    return f"/proc/{pid}/ns/net"
