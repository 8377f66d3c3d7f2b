"""Conformance suite for storage drivers: every driver (the filesystem one now, an object-store
one later) must pass these, so the registry can rely on exactly this behaviour."""

from __future__ import annotations

import os
import threading

import pytest

from dockyard.errors import InvalidArgument, NotFound
from dockyard.registry.driver import FilesystemDriver, StorageDriver


@pytest.fixture(params=["filesystem"])
def driver(request, tmp_path) -> StorageDriver:
    if request.param == "filesystem":
        return FilesystemDriver(str(tmp_path / "store"))
    raise AssertionError(request.param)


def test_put_get_roundtrip_and_replace(driver):
    driver.put_content("a/b/c", b"one")
    assert driver.get_content("a/b/c") == b"one"
    driver.put_content("a/b/c", b"two!")
    assert driver.get_content("a/b/c") == b"two!"
    assert driver.stat("a/b/c").size == 4


def test_missing_objects_raise_not_found(driver):
    for call in (lambda: driver.get_content("nope"), lambda: driver.stat("nope"),
                 lambda: driver.reader("nope"), lambda: driver.list("nope"),
                 lambda: driver.delete("nope"), lambda: driver.move("nope", "x")):
        with pytest.raises(NotFound):
            call()


def test_paths_cannot_escape_the_root(driver):
    for bad in ("../x", "a/../../x", "", "/", "a/./b"):
        with pytest.raises(InvalidArgument):
            driver.put_content(bad, b"x")


def test_list_returns_sorted_children(driver):
    for p in ("d/b", "d/a", "d/c/x"):
        driver.put_content(p, b"")
    assert driver.list("d") == ["d/a", "d/b", "d/c"]
    assert driver.stat("d/c").is_dir


def test_reader_from_offset(driver):
    driver.put_content("f", b"0123456789")
    with driver.reader("f", 4) as r:
        assert r.read() == b"456789"


def test_writer_appends_and_resumes(driver):
    with driver.writer("up/data") as w:
        w.write(b"abc")
        w.commit()
    with driver.writer("up/data", append=True) as w:
        assert w.size == 3
        w.write(b"def")
        w.commit()
    assert driver.get_content("up/data") == b"abcdef"


def test_move_replaces_atomically_and_delete_removes_trees(driver):
    driver.put_content("src", b"new")
    driver.put_content("dst/x", b"old")
    driver.move("src", "dst/x")
    assert driver.get_content("dst/x") == b"new"
    with pytest.raises(NotFound):
        driver.stat("src")
    driver.put_content("tree/a/b", b"1")
    driver.delete("tree")
    with pytest.raises(NotFound):
        driver.stat("tree/a/b")


def test_readers_never_see_half_written_content(driver):
    """put_content under concurrent readers: every read is one whole version."""
    a, b = b"A" * (1 << 20), b"B" * (1 << 20)
    driver.put_content("obj", a)
    seen: set[bytes] = set()
    stop = threading.Event()

    def read() -> None:
        while not stop.is_set():
            data = driver.get_content("obj")
            seen.add(data[:1] + data[-1:] if len(data) == 1 << 20 else b"short")

    t = threading.Thread(target=read)
    t.start()
    for i in range(30):
        driver.put_content("obj", a if i % 2 else b)
    stop.set()
    t.join()
    assert seen <= {b"AA", b"BB"}


def test_no_temp_files_left_or_listed(driver, tmp_path):
    driver.put_content("dir/x", b"1")
    assert driver.list("dir") == ["dir/x"]
    if isinstance(driver, FilesystemDriver):
        assert os.listdir(os.path.join(driver.root, "dir")) == ["x"]
