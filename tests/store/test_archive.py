import bz2
import gzip
import io
import lzma
import os
import stat
import tarfile

import pytest
import zstandard

from dockyard.archive import apply_tar, decompress_stream, write_tar
from dockyard.errors import InvalidArgument, UnsafeArchive

from .tartools import entry, make_tar

D, F, S, L = tarfile.DIRTYPE, tarfile.REGTYPE, tarfile.SYMTYPE, tarfile.LNKTYPE


@pytest.fixture
def dirs(tmp_path):
    dest = tmp_path / "dest"
    outside = tmp_path / "outside"
    dest.mkdir()
    outside.mkdir()
    (outside / "secret").write_bytes(b"precious")
    return dest, outside


def snapshot_tree(path):
    out = {}
    for root, dnames, fnames in os.walk(path):
        for n in dnames + fnames:
            p = os.path.join(root, n)
            st = os.lstat(p)
            out[p] = (st.st_mode, st.st_size, st.st_mtime_ns)
            if stat.S_ISREG(st.st_mode):
                out[p] += (open(p, "rb").read(),)
    return out


def test_apply_preserves_metadata(dirs):
    dest, _ = dirs
    ti_x, _ = entry("bin/tool", data=b"#!/bin/sh\n", mode=0o4755, uid=1000, gid=1001)
    data = make_tar([
        entry("./", D, mode=0o755),
        entry("bin/", D, mode=0o751, mtime=1_500_000_000),
        (ti_x, b"#!/bin/sh\n"),
        entry("bin/hard", L, linkname="bin/tool"),
        entry("bin/sh", S, linkname="/bin/busybox"),
        entry("etc/rel", S, linkname="../bin/tool"),
        entry("fifo", tarfile.FIFOTYPE, mode=0o600),
        entry("x", F, data=b"attr", pax_headers={"SCHILY.xattr.user.note": "hi"}),
    ])
    size = apply_tar(io.BytesIO(data), str(dest))
    assert size == len(b"#!/bin/sh\n") + 4
    st = os.lstat(dest / "bin/tool")
    assert stat.S_IMODE(st.st_mode) == 0o4755  # setuid survives the chown
    assert (st.st_uid, st.st_gid) == (1000, 1001)
    assert os.lstat(dest / "bin/hard").st_ino == st.st_ino
    assert os.readlink(dest / "bin/sh") == "/bin/busybox"
    assert os.readlink(dest / "etc/rel") == "../bin/tool"
    assert stat.S_ISFIFO(os.lstat(dest / "fifo").st_mode)
    assert os.getxattr(dest / "x", "user.note") == b"hi"
    assert stat.S_IMODE(os.lstat(dest / "bin").st_mode) == 0o751
    assert os.lstat(dest / "bin").st_mtime == 1_500_000_000  # dir mtime set after its content
    assert st.st_mtime == 1_600_000_000
    assert stat.S_ISDIR(os.lstat(dest / "etc").st_mode)  # implicit parent


def test_overlay_whiteouts(dirs):
    dest, _ = dirs
    apply_tar(io.BytesIO(make_tar([
        entry("a/", D), entry("a/.wh..wh..opq"), entry("a/keep", data=b"k"),
        entry(".wh.gone"), entry("b/.wh..wh.plnk"),
    ])), str(dest))
    st = os.lstat(dest / "gone")
    assert stat.S_ISCHR(st.st_mode) and st.st_rdev == os.makedev(0, 0)
    assert os.getxattr(dest / "a", "trusted.overlay.opaque", follow_symlinks=False) == b"y"
    assert (dest / "a/keep").read_bytes() == b"k"
    assert not os.path.lexists(dest / "b/.wh..wh.plnk")


def test_delete_whiteouts(dirs):
    dest, _ = dirs
    (dest / "gone").write_text("x")
    (dest / "op").mkdir()
    (dest / "op/old").write_text("old")
    apply_tar(io.BytesIO(make_tar([
        entry(".wh.gone"), entry("op/.wh..wh..opq"), entry("op/new", data=b"n"),
    ])), str(dest), whiteout="delete")
    assert not os.path.lexists(dest / "gone")
    assert sorted(os.listdir(dest / "op")) == ["new"]


def test_forged_overlay_xattr_is_ignored(dirs):
    dest, _ = dirs
    apply_tar(io.BytesIO(make_tar([
        entry("d/", D, pax_headers={"SCHILY.xattr.trusted.overlay.opaque": "y"}),
    ])), str(dest))
    assert "trusted.overlay.opaque" not in os.listxattr(dest / "d")


HOSTILE = {
    "dotdot": [entry("../escaped", data=b"evil")],
    "dotdot-deep": [entry("a/../../escaped", data=b"evil")],
    "absolute": [entry("/tmp/escaped-dockyard-test", data=b"evil")],
    "symlink-relative-escape": [entry("link", S, linkname="../../../outside")],
    "write-through-symlink": [entry("link", S, linkname="{outside}"),
                              entry("link/secret", data=b"overwritten")],
    "dir-replaced-by-symlink": [entry("d/", D), entry("d", S, linkname="{outside}"),
                                entry("d/secret", data=b"overwritten")],
    "hardlink-dotdot": [entry("h", L, linkname="../outside/secret")],
    "hardlink-absolute": [entry("h", L, linkname="{outside}/secret")],
    "hardlink-through-symlink": [entry("s", S, linkname="{outside}"),
                                 entry("h", L, linkname="s/secret")],
    "whiteout-dotdot": [entry("a/.wh..."), ],
    "device-node": [entry("dev/sda", tarfile.BLKTYPE, devmajor=8, devminor=0)],
    "char-device": [entry("mem", tarfile.CHRTYPE, devmajor=1, devminor=1)],
}


@pytest.mark.parametrize("case", sorted(HOSTILE))
def test_hostile_entries_rejected(dirs, case):
    dest, outside = dirs
    entries = []
    for ti, data in HOSTILE[case]:
        ti.linkname = ti.linkname.replace("{outside}", str(outside))
        entries.append((ti, data))
    before = snapshot_tree(outside)
    parent_before = sorted(os.listdir(dest.parent))
    with pytest.raises(UnsafeArchive) as exc:
        apply_tar(io.BytesIO(make_tar(entries)), str(dest))
    bad = entries[-1][0].name
    assert bad.lstrip("/") in str(exc.value) or bad in str(exc.value)
    assert snapshot_tree(outside) == before
    assert sorted(os.listdir(dest.parent)) == parent_before
    assert not os.path.exists("/tmp/escaped-dockyard-test")


def test_devices_allowed_when_asked(dirs):
    dest, _ = dirs
    apply_tar(io.BytesIO(make_tar([entry("null", tarfile.CHRTYPE, devmajor=1, devminor=3)])),
              str(dest), allow_devices=True)
    assert os.lstat(dest / "null").st_rdev == os.makedev(1, 3)


def test_absurd_size_rejected_before_reading(dirs):
    dest, _ = dirs
    ti = tarfile.TarInfo("huge")
    ti.size = 1 << 50
    header = ti.tobuf(tarfile.GNU_FORMAT)
    with pytest.raises(UnsafeArchive, match="huge"):
        apply_tar(io.BytesIO(header + b"\0" * 1024), str(dest))
    assert os.listdir(dest) == []


def test_huge_pax_header_rejected(dirs):
    dest, _ = dirs
    ti = tarfile.TarInfo("././@PaxHeader")
    ti.type = tarfile.XHDTYPE
    ti.size = 1 << 40
    with pytest.raises(UnsafeArchive):
        apply_tar(io.BytesIO(ti.tobuf(tarfile.GNU_FORMAT) + b"\0" * 1024), str(dest))


def test_garbage_and_truncation_give_clear_errors(dirs):
    dest, _ = dirs
    with pytest.raises(InvalidArgument):
        apply_tar(io.BytesIO(b"this is not a tar" * 100), str(dest))
    good = make_tar([entry("big", data=os.urandom(100_000))])
    with pytest.raises(InvalidArgument):
        apply_tar(io.BytesIO(good[:50_000]), str(dest))
    with pytest.raises(InvalidArgument):
        apply_tar(decompress_stream(io.BytesIO(gzip.compress(good)[:5000])), str(dest))


@pytest.mark.parametrize("codec", ["gzip", "zstd", "bzip2", "xz", "none"])
def test_decompress_stream(codec):
    raw = os.urandom(300_000) + b"\0" * 300_000
    comp = {
        "gzip": gzip.compress, "zstd": zstandard.ZstdCompressor().compress,
        "bzip2": bz2.compress, "xz": lzma.compress, "none": lambda b: b,
    }[codec](raw)
    out = decompress_stream(io.BytesIO(comp))
    got = b""
    while chunk := out.read(65536):
        got += chunk
    assert got == raw


def test_write_tar_roundtrip_sorted_and_deterministic(dirs, tmp_path):
    dest, _ = dirs
    src = tmp_path / "src"
    src.mkdir()
    (src / "b").write_text("b")
    (src / "a").mkdir()
    (src / "a/z").write_text("z")
    os.link(src / "a/z", src / "a/y")
    os.symlink("/etc/hostname", src / "s")
    os.mknod(src / "gone", stat.S_IFCHR, os.makedev(0, 0))
    (src / "op").mkdir()
    os.setxattr(src / "op", "trusted.overlay.opaque", b"y")
    one, two = io.BytesIO(), io.BytesIO()
    write_tar(str(src), one)
    write_tar(str(src), two)
    assert one.getvalue() == two.getvalue()
    names = tarfile.open(fileobj=io.BytesIO(one.getvalue())).getnames()
    assert names == ["a", "a/y", "a/z", "b", ".wh.gone", "op", "op/.wh..wh..opq", "s"]
    apply_tar(io.BytesIO(one.getvalue()), str(dest))
    assert os.lstat(dest / "a/y").st_ino == os.lstat(dest / "a/z").st_ino
    assert stat.S_ISCHR(os.lstat(dest / "gone").st_mode)
    assert os.getxattr(dest / "op", "trusted.overlay.opaque") == b"y"
