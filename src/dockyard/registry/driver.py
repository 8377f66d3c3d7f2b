"""Storage drivers: where registry bytes live.

The interface is path-based and deliberately small (as CNCF distribution's), so that an object
store driver can follow the filesystem one; ``tests/registry/test_driver.py`` is the conformance
suite every driver must pass. Paths are ``/``-separated, relative to the driver's root, and
never contain ``..``.
"""

from __future__ import annotations

import os
import shutil
from abc import ABC, abstractmethod
from dataclasses import dataclass
from typing import BinaryIO

from ..errors import InvalidArgument, NotFound
from ..util import atomic_write, fsync_dir


@dataclass(frozen=True)
class FileInfo:
    path: str
    size: int
    mtime: float
    is_dir: bool


class FileWriter(ABC):
    """An append-only writer; ``commit`` makes what was written durable."""

    size: int

    @abstractmethod
    def write(self, data: bytes) -> int: ...

    @abstractmethod
    def commit(self) -> None: ...

    @abstractmethod
    def close(self) -> None: ...

    def __enter__(self) -> FileWriter:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class StorageDriver(ABC):
    """What the registry needs from a backend. All methods are blocking; callers thread them."""

    @abstractmethod
    def get_content(self, path: str) -> bytes:
        """Whole small object; NotFound when absent."""

    @abstractmethod
    def put_content(self, path: str, data: bytes) -> None:
        """Atomically replace the object: readers see the old or the new bytes, never half."""

    @abstractmethod
    def reader(self, path: str, offset: int = 0) -> BinaryIO:
        """A stream from ``offset``; NotFound when absent."""

    @abstractmethod
    def writer(self, path: str, append: bool = False) -> FileWriter:
        """Append-only writer, for resumable uploads."""

    @abstractmethod
    def stat(self, path: str) -> FileInfo:
        """NotFound when absent."""

    @abstractmethod
    def list(self, path: str) -> list[str]:
        """Full paths of direct children, sorted; NotFound when the directory is absent."""

    @abstractmethod
    def move(self, src: str, dst: str) -> None:
        """Atomic rename that replaces ``dst``; NotFound when ``src`` is absent."""

    @abstractmethod
    def delete(self, path: str) -> None:
        """Remove an object or a whole directory tree; NotFound when absent."""

    def local_path(self, path: str) -> str | None:
        """A local file for zero-copy serving (sendfile), or None if the backend has none."""
        return None


def _clean(path: str) -> str:
    parts = [p for p in path.split("/") if p]
    if not parts or any(p in (".", "..") for p in parts) or "\0" in path:
        raise InvalidArgument(f"invalid storage path: {path!r}")
    return "/".join(parts)


class _LocalWriter(FileWriter):
    def __init__(self, full: str, append: bool):
        os.makedirs(os.path.dirname(full), exist_ok=True)
        self._f = open(full, "ab" if append else "wb")  # noqa: SIM115 - lifetime is the writer's
        self.size = self._f.tell()

    def write(self, data: bytes) -> int:
        n = self._f.write(data)
        self.size += n
        return n

    def commit(self) -> None:
        self._f.flush()
        os.fsync(self._f.fileno())

    def close(self) -> None:
        self._f.close()


class FilesystemDriver(StorageDriver):
    """Local directory backend: temp file + fsync + rename + fsync(dir) for every publish."""

    def __init__(self, root: str):
        self.root = os.path.abspath(root)
        os.makedirs(self.root, exist_ok=True)

    def _full(self, path: str) -> str:
        return os.path.join(self.root, _clean(path))

    def local_path(self, path: str) -> str | None:
        return self._full(path)

    def get_content(self, path: str) -> bytes:
        try:
            with open(self._full(path), "rb") as f:
                return f.read()
        except (FileNotFoundError, NotADirectoryError, IsADirectoryError):
            raise NotFound(f"no such object: {path}") from None

    def put_content(self, path: str, data: bytes) -> None:
        full = self._full(path)
        os.makedirs(os.path.dirname(full), exist_ok=True)
        atomic_write(full, data, mode=0o600)

    def reader(self, path: str, offset: int = 0) -> BinaryIO:
        try:
            f = open(self._full(path), "rb")  # noqa: SIM115 - returned to the caller
        except (FileNotFoundError, NotADirectoryError, IsADirectoryError):
            raise NotFound(f"no such object: {path}") from None
        f.seek(offset)
        return f

    def writer(self, path: str, append: bool = False) -> FileWriter:
        return _LocalWriter(self._full(path), append)

    def stat(self, path: str) -> FileInfo:
        try:
            st = os.stat(self._full(path))
        except (FileNotFoundError, NotADirectoryError):
            raise NotFound(f"no such object: {path}") from None
        import stat as _stat

        return FileInfo(_clean(path), st.st_size, st.st_mtime, _stat.S_ISDIR(st.st_mode))

    def list(self, path: str) -> list[str]:
        clean = _clean(path)
        try:
            names = os.listdir(os.path.join(self.root, clean))
        except (FileNotFoundError, NotADirectoryError):
            raise NotFound(f"no such directory: {path}") from None
        return sorted(f"{clean}/{n}" for n in names if not n.startswith(".tmp-"))

    def move(self, src: str, dst: str) -> None:
        s, d = self._full(src), self._full(dst)
        if not os.path.lexists(s):
            raise NotFound(f"no such object: {src}")
        os.makedirs(os.path.dirname(d), exist_ok=True)
        os.rename(s, d)
        fsync_dir(os.path.dirname(d))

    def delete(self, path: str) -> None:
        full = self._full(path)
        if os.path.isdir(full) and not os.path.islink(full):
            shutil.rmtree(full)
        else:
            try:
                os.unlink(full)
            except FileNotFoundError:
                raise NotFound(f"no such object: {path}") from None
        fsync_dir(os.path.dirname(full))
