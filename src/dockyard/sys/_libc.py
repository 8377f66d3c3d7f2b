"""One shared handle on libc with errno, so every ctypes helper reports OSError the same way."""

import ctypes
import ctypes.util
import os

libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)


def check(ret: int, what: str = "") -> int:
    """Turn a -1 libc return into OSError carrying errno (the kernel's reason)."""
    if ret < 0:
        err = ctypes.get_errno()
        raise OSError(err, f"{what}: {os.strerror(err)}" if what else os.strerror(err))
    return ret
