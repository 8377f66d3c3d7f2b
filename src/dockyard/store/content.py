"""Content-addressed blob store (as containerd's): blobs are immutable and named by digest.

Every write lands in ``ingest/`` first and is renamed into ``blobs/`` only after its digest
has been verified and the data fsynced, so a crash or a lying peer never leaves a wrong blob
under a digest. Ingests named by a caller-chosen ref can be resumed (pull restarts).
"""

from __future__ import annotations

import hashlib
import os
import re
import tempfile
import threading
from typing import BinaryIO

from .. import digest as _digest
from ..errors import DigestMismatch, InvalidArgument, NotFound
from ..util import fsync_dir

_BUF = 1 << 20
_REF_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.:@+-]{0,200}$")


class ContentStore:
    def __init__(self, root: str):
        self.root = root
        self._blobs = os.path.join(root, "blobs")
        self._ingest = os.path.join(root, "ingest")
        os.makedirs(os.path.join(self._blobs, "sha256"), exist_ok=True)
        os.makedirs(self._ingest, exist_ok=True)
        self._lock = threading.Lock()

    # -- reading -------------------------------------------------------------------------------

    def _blob_path(self, digest: str) -> str:
        algo, hexpart = _digest.parse(digest)
        return os.path.join(self._blobs, algo, hexpart)

    def has(self, digest: str) -> bool:
        try:
            return os.path.isfile(self._blob_path(digest))
        except InvalidArgument:
            return False

    def path(self, digest: str) -> str:
        p = self._blob_path(digest)
        if not os.path.isfile(p):
            raise NotFound(f"content {digest}: not found")
        return p

    def size(self, digest: str) -> int:
        try:
            return os.stat(self._blob_path(digest)).st_size
        except FileNotFoundError:
            raise NotFound(f"content {digest}: not found") from None

    def read(self, digest: str) -> bytes:
        try:
            with open(self._blob_path(digest), "rb") as f:
                return f.read()
        except FileNotFoundError:
            raise NotFound(f"content {digest}: not found") from None

    def open(self, digest: str) -> BinaryIO:
        try:
            return open(self._blob_path(digest), "rb")
        except FileNotFoundError:
            raise NotFound(f"content {digest}: not found") from None

    def list(self) -> list[str]:
        out = []
        for algo in sorted(os.listdir(self._blobs)):
            for name in sorted(os.listdir(os.path.join(self._blobs, algo))):
                out.append(f"{algo}:{name}")
        return out

    # -- writing -------------------------------------------------------------------------------

    def write_bytes(self, data: bytes, expected: str | None = None) -> str:
        algo = _digest.parse(expected)[0] if expected else "sha256"
        dgst = _digest.of_bytes(data, algo)
        if expected and dgst != expected:
            raise DigestMismatch(f"digest mismatch: expected {expected}, got {dgst}")
        if self.has(dgst):
            return dgst
        fd, tmp = tempfile.mkstemp(dir=self._ingest, prefix="bytes-")
        try:
            with os.fdopen(fd, "wb") as f:
                f.write(data)
                f.flush()
                os.fsync(f.fileno())
            self._commit(tmp, dgst)
        finally:
            _unlink_quiet(tmp)
        return dgst

    def ingest(self, fileobj: BinaryIO, expected: str | None = None,
               expected_size: int | None = None) -> tuple[str, int]:
        """Stream ``fileobj`` into the store; returns (digest, size). Nothing is kept on mismatch."""
        algo = _digest.parse(expected)[0] if expected else "sha256"
        h = hashlib.new(algo)
        size = 0
        fd, tmp = tempfile.mkstemp(dir=self._ingest, prefix="stream-")
        try:
            with os.fdopen(fd, "wb") as f:
                while True:
                    chunk = fileobj.read(_BUF)
                    if not chunk:
                        break
                    h.update(chunk)
                    f.write(chunk)
                    size += len(chunk)
                    if expected_size is not None and size > expected_size:
                        raise DigestMismatch(
                            f"size mismatch for {expected}: more than {expected_size} bytes")
                f.flush()
                os.fsync(f.fileno())
            dgst = f"{algo}:{h.hexdigest()}"
            if expected and dgst != expected:
                raise DigestMismatch(f"digest mismatch: expected {expected}, got {dgst}")
            if expected_size is not None and size != expected_size:
                raise DigestMismatch(
                    f"size mismatch for {dgst}: expected {expected_size} bytes, got {size}")
            self._commit(tmp, dgst)
            return dgst, size
        finally:
            _unlink_quiet(tmp)

    def writer(self, ref: str, expected: str | None = None) -> IngestWriter:
        """A resumable ingest named ``ref``: data already written under that ref is kept."""
        if not _REF_RE.match(ref):
            raise InvalidArgument(f"invalid ingest ref: {ref!r}")
        name = hashlib.sha256(ref.encode()).hexdigest()
        return IngestWriter(self, os.path.join(self._ingest, "ref-" + name), expected)

    def import_file(self, path: str, expected: str | None = None) -> tuple[str, int]:
        """Move a finished temp file (which must live on the same filesystem) into the store."""
        algo = _digest.parse(expected)[0] if expected else "sha256"
        dgst = _digest.of_file(path, algo)
        if expected and dgst != expected:
            _unlink_quiet(path)
            raise DigestMismatch(f"digest mismatch: expected {expected}, got {dgst}")
        size = os.stat(path).st_size
        self._commit(path, dgst)
        _unlink_quiet(path)
        return dgst, size

    def adopt(self, path: str, digest: str) -> None:
        """Publish a temp file from ``temp_file()`` whose digest the caller computed while
        writing it (saves re-reading a large layer). The file is fsynced here."""
        _digest.parse(digest)
        fd = os.open(path, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)
        self._commit(path, digest)
        _unlink_quiet(path)

    def temp_file(self, prefix: str = "tmp-") -> tuple[int, str]:
        """An fd and path inside ingest/, for writers that finish with import_file()."""
        return tempfile.mkstemp(dir=self._ingest, prefix=prefix)

    def _commit(self, tmp: str, dgst: str) -> None:
        target = self._blob_path(dgst)
        os.makedirs(os.path.dirname(target), exist_ok=True)
        os.chmod(tmp, 0o444)
        with self._lock:
            if os.path.exists(target):
                return
            os.rename(tmp, target)
        fsync_dir(os.path.dirname(target))

    def delete(self, digest: str) -> None:
        try:
            os.unlink(self._blob_path(digest))
        except FileNotFoundError:
            raise NotFound(f"content {digest}: not found") from None

    def clean_ingests(self) -> None:
        """Drop abandoned anonymous ingests (called at daemon start, when nothing is writing)."""
        for name in os.listdir(self._ingest):
            if not name.startswith("ref-"):
                _unlink_quiet(os.path.join(self._ingest, name))


class IngestWriter:
    """Append-only writer for one resumable ingest; ``commit`` verifies and publishes it."""

    def __init__(self, store: ContentStore, path: str, expected: str | None):
        self._store = store
        self._path = path
        self.expected = expected
        algo = _digest.parse(expected)[0] if expected else "sha256"
        self._hash = hashlib.new(algo)
        self._f = open(path, "a+b")
        self._f.seek(0)
        while True:
            chunk = self._f.read(_BUF)
            if not chunk:
                break
            self._hash.update(chunk)
        self.offset = self._f.tell()

    @property
    def path(self) -> str:
        """The partial file (a resumed pull replays it before asking for the rest)."""
        return self._path

    def current_digest(self) -> str:
        """Digest of what was written so far (tells a tampered blob from a bad layer)."""
        return f"{self._hash.name}:{self._hash.copy().hexdigest()}"

    def write(self, data: bytes) -> int:
        self._f.write(data)
        self._hash.update(data)
        self.offset += len(data)
        return len(data)

    def truncate(self) -> None:
        """Start over (the server did not honour a range request)."""
        self._f.seek(0)
        self._f.truncate()
        self._hash = hashlib.new(self._hash.name)
        self.offset = 0

    def commit(self, expected_size: int | None = None) -> str:
        self._f.flush()
        os.fsync(self._f.fileno())
        self._f.close()
        dgst = f"{self._hash.name}:{self._hash.hexdigest()}"
        try:
            if self.expected and dgst != self.expected:
                raise DigestMismatch(f"digest mismatch: expected {self.expected}, got {dgst}")
            if expected_size is not None and self.offset != expected_size:
                raise DigestMismatch(
                    f"size mismatch for {dgst}: expected {expected_size} bytes, got {self.offset}")
            self._store._commit(self._path, dgst)
        finally:
            _unlink_quiet(self._path)
        return dgst

    def close(self) -> None:
        """Keep the partial data for a later resume."""
        if not self._f.closed:
            self._f.close()

    def abort(self) -> None:
        self.close()
        _unlink_quiet(self._path)

    def __enter__(self) -> IngestWriter:
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def _unlink_quiet(path: str) -> None:
    try:
        os.unlink(path)
    except FileNotFoundError:
        pass
