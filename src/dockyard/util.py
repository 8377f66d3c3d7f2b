"""Small primitives: durable writes, id generation, time formatting."""

import os
import secrets
import tempfile
import time


def fsync_dir(path: str) -> None:
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def discard(path: str) -> None:
    """Remove a temp file if it is still there: the error path of a write-then-rename."""
    try:
        os.unlink(path)
    except FileNotFoundError:
        pass


def atomic_write(path: str, data: bytes, mode: int = 0o644, durable: bool = True) -> None:
    """Write via a temp file in the same directory and rename, so readers never see half a file."""
    directory = os.path.dirname(path) or "."
    fd, tmp = tempfile.mkstemp(dir=directory, prefix=".tmp-")
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            if durable:
                f.flush()
                os.fsync(f.fileno())
        os.chmod(tmp, mode)
        os.rename(tmp, path)
        if durable:
            fsync_dir(directory)
    except BaseException:
        discard(tmp)
        raise


def new_id() -> str:
    """64 hex characters, as Docker's container and exec ids."""
    return secrets.token_hex(32)


def rfc3339_nano(ts: float | None = None) -> str:
    """Docker's timestamp format: ``2024-01-02T03:04:05.123456789Z``."""
    if ts is None:
        ts = time.time()
    ns = int(ts * 1e9)
    sec, frac = divmod(ns, 1_000_000_000)
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(sec)) + f".{frac:09d}Z"


ZERO_TIME = "0001-01-01T00:00:00Z"
