import io
import os
import threading

import pytest

from dockyard import digest
from dockyard.errors import DigestMismatch, InvalidArgument, NotFound
from dockyard.store.content import ContentStore


@pytest.fixture
def store(tmp_path):
    return ContentStore(str(tmp_path / "content"))


def _ingest_files(store):
    return os.listdir(os.path.join(store.root, "ingest"))


def test_write_bytes_roundtrip(store):
    d = store.write_bytes(b"hello")
    assert d == digest.of_bytes(b"hello")
    assert store.has(d)
    assert store.read(d) == b"hello"
    assert store.size(d) == 5
    assert store.path(d).endswith("/blobs/sha256/" + d.split(":")[1])
    # idempotent
    assert store.write_bytes(b"hello", expected=d) == d
    assert store.list() == [d]
    assert _ingest_files(store) == []


def test_write_bytes_rejects_wrong_digest(store):
    wrong = digest.of_bytes(b"other")
    with pytest.raises(DigestMismatch):
        store.write_bytes(b"hello", expected=wrong)
    assert not store.has(wrong)
    assert not store.has(digest.of_bytes(b"hello"))
    assert _ingest_files(store) == []


def test_ingest_streams_and_verifies(store):
    data = os.urandom(3 << 20)
    d, size = store.ingest(io.BytesIO(data), expected=digest.of_bytes(data))
    assert size == len(data) and store.read(d) == data
    bad = digest.of_bytes(b"x")
    with pytest.raises(DigestMismatch):
        store.ingest(io.BytesIO(data + b"tampered"), expected=bad)
    assert not store.has(bad)
    assert _ingest_files(store) == []


def test_ingest_failure_midstream_leaves_nothing(store):
    class Broken(io.RawIOBase):
        def __init__(self):
            self.n = 0

        def read(self, n=-1):
            self.n += 1
            if self.n > 2:
                raise ConnectionError("peer went away")
            return b"a" * 1000

    with pytest.raises(ConnectionError):
        store.ingest(Broken())
    assert store.list() == []
    assert _ingest_files(store) == []


def test_blob_is_never_partially_visible(store):
    """A concurrent reader sees a blob either complete or absent."""
    data = os.urandom(8 << 20)
    d = digest.of_bytes(data)
    seen = []
    stop = threading.Event()

    def watch():
        while not stop.is_set():
            if store.has(d):
                seen.append(store.size(d))

    t = threading.Thread(target=watch)
    t.start()
    try:
        store.ingest(io.BytesIO(data))
    finally:
        stop.set()
        t.join()
    assert all(s == len(data) for s in seen)


def test_missing_and_invalid(store):
    d = digest.of_bytes(b"nope")
    assert not store.has(d)
    assert not store.has("garbage")
    with pytest.raises(NotFound):
        store.path(d)
    with pytest.raises(NotFound):
        store.read(d)
    with pytest.raises(NotFound):
        store.delete(d)
    with pytest.raises(InvalidArgument):
        store.path("sha256:../../etc/passwd")


def test_delete(store):
    d = store.write_bytes(b"bye")
    store.delete(d)
    assert not store.has(d)


def test_resumable_writer(store):
    data = os.urandom(100_000)
    d = digest.of_bytes(data)
    w = store.writer("pull-layer-1", expected=d)
    w.write(data[:40_000])
    w.close()
    w = store.writer("pull-layer-1", expected=d)
    assert w.offset == 40_000
    w.write(data[40_000:])
    assert w.commit(expected_size=len(data)) == d
    assert store.read(d) == data
    w = store.writer("pull-layer-2", expected=digest.of_bytes(b"zzz"))
    w.write(b"yyy")
    with pytest.raises(DigestMismatch):
        w.commit()
    assert _ingest_files(store) == []
