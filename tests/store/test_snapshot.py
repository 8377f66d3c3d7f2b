import io
import os
import stat
import subprocess

import pytest

from dockyard import digest
from dockyard.errors import Conflict, DigestMismatch, NotFound, UnsafeArchive
from dockyard.store.snapshot import Snapshotter
from dockyard.sys.mount import is_mountpoint
from rootfs import busybox_rootfs_tar

from .tartools import entry, make_tar

L1 = busybox_rootfs_tar()
L2 = make_tar([entry("etc/.wh.os-release"), entry("data/.wh..wh..opq"),
               entry("data/new", data=b"new\n"), entry("etc/two", data=b"2\n")])
C1 = digest.of_bytes(L1)
C2 = digest.chain_ids([digest.of_bytes(L1), digest.of_bytes(L2)])[1]


@pytest.fixture
def snap(tmp_path):
    s = Snapshotter(str(tmp_path / "snap"))
    mounted: list[str] = []
    s.test_mounts = mounted  # type: ignore[attr-defined]
    try:
        yield s
    finally:
        for target in reversed(mounted):
            s.unmount(target)
        assert not any(is_mountpoint(t) for t in mounted)


def _mount(snap, key, target):
    snap.test_mounts.append(str(target))
    snap.mount(key, str(target))
    return target


def _run(root, *cmd):
    return subprocess.run(["chroot", str(root), *cmd], capture_output=True, text=True, check=True
                          ).stdout


@pytest.fixture
def image(snap):
    assert snap.apply_layer(C1, None, io.BytesIO(L1)) > 0
    snap.apply_layer(C2, C1, io.BytesIO(L2))
    return snap


def test_layers_unpacked_once(image):
    assert image.has_layer(C1) and image.has_layer(C2)
    assert image.layer_parent(C2) == C1
    size = image.layer_size(C1)
    assert size >= os.path.getsize("/bin/busybox")
    # a second apply is a no-op and does not read the stream
    assert image.apply_layer(C1, None, io.BytesIO(b"garbage")) == size
    assert set(image.layers()) == {C1, C2}


def test_containers_see_image_and_keep_writes_apart(image, tmp_path):
    image.prepare("c1", C2)
    image.prepare("c2", C2)
    m1 = _mount(image, "c1", tmp_path / "m1")
    m2 = _mount(image, "c2", tmp_path / "m2")
    assert _run(m1, "/bin/cat", "/etc/hostname") == "one\n"
    # whiteouts from layer 2 hide layer 1 content
    assert not os.path.exists(m1 / "etc/os-release")
    assert sorted(os.listdir(m1 / "data")) == ["new"]
    assert (m1 / "etc/two").read_text() == "2\n"
    _run(m1, "/bin/sh", "-c", "echo written > /etc/mine && rm /bin/ls")
    upper = image.upper_dir("c1")
    assert open(os.path.join(upper, "etc/mine")).read() == "written\n"
    wh = os.lstat(os.path.join(upper, "bin/ls"))
    assert stat.S_ISCHR(wh.st_mode) and wh.st_rdev == 0
    assert not os.path.exists(m2 / "etc/mine")
    assert os.path.lexists(m2 / "bin/ls")
    assert os.path.lexists(os.path.join(image.layer_fs(C1), "bin/ls"))  # layers untouched
    assert image.usage("c1") == len("written\n")
    assert image.usage("c2") == 0
    assert os.stat(m1).st_mode == os.stat(image.layer_fs(C2)).st_mode


def test_unmount_is_idempotent_and_remove(image, tmp_path):
    image.prepare("c1", C1)
    m = _mount(image, "c1", tmp_path / "m")
    image.unmount(str(m))
    image.unmount(str(m))
    image.unmount(str(tmp_path / "never-existed"))
    assert not is_mountpoint(str(m))
    with pytest.raises(Conflict):
        image.prepare("c1", C1)
    with pytest.raises(Conflict):
        image.remove_layer(C1)  # layer 2 and the snapshot need it
    image.remove("c1")
    image.remove("c1")
    assert not image.has("c1")
    with pytest.raises(Conflict):
        image.remove_layer(C1)  # still the parent of layer 2
    image.remove_layer(C2)
    image.remove_layer(C1)
    assert image.layers() == []


def test_scratch_snapshot(snap, tmp_path):
    snap.prepare("scratch", None)
    m = _mount(snap, "scratch", tmp_path / "m")
    assert os.listdir(m) == []
    (m / "f").write_text("x")
    assert os.listdir(snap.upper_dir("scratch")) == ["f"]


def test_many_layers(snap, tmp_path):
    parent = None
    diff_ids = []
    for i in range(80):
        layer = make_tar([entry(f"f{i:03d}", data=str(i).encode())])
        diff_ids.append(digest.of_bytes(layer))
        chain = digest.chain_ids(diff_ids)[-1]
        snap.apply_layer(chain, parent, io.BytesIO(layer))
        parent = chain
    assert sum(len(p) + 1 for p in snap.lowers(parent)) > 4096
    snap.prepare("deep", parent)
    m = _mount(snap, "deep", tmp_path / "m")
    assert len(os.listdir(m)) == 80
    assert (m / "f000").read_text() == "0" and (m / "f079").read_text() == "79"


def test_hostile_or_unverified_layer_is_not_published(snap):
    bad = make_tar([entry("ok", data=b"1"), entry("../../escape", data=b"x")])
    chain = digest.of_bytes(bad)
    with pytest.raises(UnsafeArchive):
        snap.apply_layer(chain, None, io.BytesIO(bad))
    assert not snap.has_layer(chain)

    def verify():
        raise DigestMismatch("layer does not match its diffID")

    with pytest.raises(DigestMismatch):
        snap.apply_layer(C1, None, io.BytesIO(L1), verify=verify)
    assert not snap.has_layer(C1)
    assert os.listdir(os.path.join(snap.root, "tmp")) == []
    with pytest.raises(NotFound):
        snap.prepare("x", C1)


def test_read_only_view_and_commit(image, tmp_path):
    v = tmp_path / "view"
    image.test_mounts.append(str(v))
    image.mount_view(C1, str(v))
    assert (v / "etc/os-release").read_text() == "NAME=test\n"
    with pytest.raises(OSError):
        (v / "new").write_text("x")
    image.prepare("build", C2)
    m = _mount(image, "build", tmp_path / "m")
    (m / "built").write_text("artifact")
    image.unmount(str(m))
    c3 = digest.of_bytes(b"some chain")
    image.commit("build", c3)
    assert not image.has("build")
    assert image.layer_parent(c3) == C2
    image.prepare("next", c3)
    m2 = _mount(image, "next", tmp_path / "m2")
    assert (m2 / "built").read_text() == "artifact"
    assert (m2 / "etc/two").exists()
