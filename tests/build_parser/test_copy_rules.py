"""COPY/ADD into a temporary rootfs: docker's rules (checked against dockerd 20.10's classic
builder with the same context) and path safety against hostile symlinks in both roots."""

import io
import os
import stat
import tarfile

import pytest

from dockyard.build.copy import copy_sources, resolve_user, source_checksum
from dockyard.errors import InvalidArgument, NotFound


def write(path, data="x", mode=None):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "w") as f:
        f.write(data)
    if mode is not None:
        os.chmod(path, mode)


def listing(root) -> dict[str, str]:
    """{path: "kind mode uid:gid [-> target]"} of everything under root."""
    out = {}
    for dirpath, dirs, files in os.walk(root):
        for n in sorted(dirs + files):
            p = os.path.join(dirpath, n)
            st = os.lstat(p)
            kind = "l" if stat.S_ISLNK(st.st_mode) else "d" if stat.S_ISDIR(st.st_mode) else "f"
            desc = f"{kind} {stat.S_IMODE(st.st_mode):o} {st.st_uid}:{st.st_gid}"
            if kind == "l":
                desc += " -> " + os.readlink(p)
            out[os.path.relpath(p, root)] = desc
    return out


@pytest.fixture
def ctx(tmp_path):
    c = str(tmp_path / "ctx")
    write(f"{c}/a.txt", "a\n")
    write(f"{c}/b.txt", "b\n")
    write(f"{c}/dir/f", "f\n", 0o600)
    write(f"{c}/dir/sub/s", "s\n")
    os.chmod(f"{c}/dir", 0o750)
    os.symlink("f", f"{c}/dir/lnk")
    os.link(f"{c}/dir/f", f"{c}/dir/hard")
    os.symlink("dir", f"{c}/dirlink")
    write(f"{c}/dir2/x", "x\n")
    arch = tarfile.open(f"{c}/arch.tgz", "w:gz")
    info = tarfile.TarInfo("inside")
    info.size = 3
    arch.addfile(info, io.BytesIO(b"in\n"))
    arch.close()
    with tarfile.open(f"{c}/plain.tar", "w") as t:
        t.addfile(info, io.BytesIO(b"in\n"))
    write(f"{c}/fake.tar.gz", "notatar\n")
    return c


@pytest.fixture
def rootfs(tmp_path):
    r = str(tmp_path / "rootfs")
    write(f"{r}/etc/passwd", "root:x:0:0:root:/root:/bin/sh\napp:x:1000:1001::/home/app:/bin/sh\n")
    write(f"{r}/etc/group", "root:x:0:\nstaff:x:50:\napp:x:1001:\n")
    return r


def test_classic_builder_layout(ctx, rootfs):
    """The same instructions docker 20.10 ran; the tree it produced (see the module doc)."""
    steps = [
        (["dir"], "/newdir", {}),
        (["dir"], "/existing/", {}),
        (["dir/"], "/existing/", {}),
        (["dirlink"], "/vialink", {}),
        (["*.txt"], "/txt/", {}),
        (["a.txt"], "/file", {}),
        (["a.txt"], "/filedir/", {}),
        (["dir*"], "/multi/", {}),
        (["dir"], "/chowned", {"chown": "7:8"}),
        (["a.txt"], "/chowned1", {"chown": "7"}),
        (["arch.tgz"], "/ex/", {"extract_archives": True}),
        (["arch.tgz"], "/ex2", {"extract_archives": True}),
        (["plain.tar"], "/ex3/", {"extract_archives": True}),
        (["fake.tar.gz"], "/fake/", {"extract_archives": True}),
        (["arch.tgz"], "/notex/", {}),
        (["a.txt"], "rel", {"workdir": "/wd"}),
        (["a.txt"], ".", {"workdir": "/wd"}),
    ]
    for sources, dest, kw in steps:
        copy_sources(ctx, sources, rootfs, dest, **kw)
    got = listing(rootfs)
    tree = {p: d for p, d in got.items() if not p.startswith("etc")}
    dir_contents = {"f": "f 600 {o}", "hard": "f 600 {o}", "lnk": "l 777 {o} -> f",
                    "sub": "d 755 {o}", "sub/s": "f 644 {o}"}
    expected = {
        "chowned": "d 755 7:8", "chowned1": "f 644 7:7",
        "ex": "d 755 0:0", "ex/inside": "f 644 0:0",
        "ex2": "d 755 0:0", "ex2/inside": "f 644 0:0",
        "ex3": "d 755 0:0", "ex3/inside": "f 644 0:0",
        "fake": "d 755 0:0", "fake/fake.tar.gz": "f 644 0:0",
        "file": "f 644 0:0", "filedir": "d 755 0:0", "filedir/a.txt": "f 644 0:0",
        "multi": "d 755 0:0", "multi/x": "f 644 0:0",
        "newdir": "d 755 0:0", "notex": "d 755 0:0", "notex/arch.tgz": "f 644 0:0",
        "txt": "d 755 0:0", "txt/a.txt": "f 644 0:0", "txt/b.txt": "f 644 0:0",
        "existing": "d 755 0:0", "vialink": "d 755 0:0",
        "wd": "d 755 0:0", "wd/a.txt": "f 644 0:0", "wd/rel": "f 644 0:0",
    }
    for top, owner in [("newdir", "0:0"), ("existing", "0:0"), ("vialink", "0:0"),
                       ("multi", "0:0"), ("chowned", "7:8")]:
        for rel, desc in dir_contents.items():
            expected[f"{top}/{rel}"] = desc.format(o=owner)
    assert tree == expected
    assert os.stat(f"{rootfs}/newdir/f").st_ino == os.stat(f"{rootfs}/newdir/hard").st_ino
    with open(f"{rootfs}/newdir/sub/s") as f:
        assert f.read() == "s\n"


def test_mtime_is_kept(ctx, rootfs):
    os.utime(f"{ctx}/a.txt", (1_000_000_000, 1_000_000_000))
    copy_sources(ctx, ["a.txt"], rootfs, "/a")
    assert os.stat(f"{rootfs}/a").st_mtime == 1_000_000_000


@pytest.mark.parametrize("spec, ids", [
    ("app", (1000, 1000)),  # no group: the uid is the gid, as docker documents
    ("app:app", (1000, 1001)),
    ("app:staff", (1000, 50)),
    ("1:2", (1, 2)),
    ("5", (5, 5)),
    ("root:50", (0, 50)),
])
def test_resolve_user(rootfs, spec, ids):
    assert resolve_user(rootfs, spec) == ids


@pytest.mark.parametrize("spec, message", [
    ("nobody", "can't find uid for user nobody: no such user: nobody"),
    ("app:nogroup", "can't find gid for group nogroup: no such group: nogroup"),
    ("a:b:c", "invalid chown string format: a:b:c"),
])
def test_resolve_user_errors(rootfs, spec, message):
    with pytest.raises(InvalidArgument, match=message):
        resolve_user(rootfs, spec)


def test_passwd_symlink_to_host_is_not_read(tmp_path):
    root = str(tmp_path / "r")
    os.makedirs(f"{root}/etc")
    os.symlink("/etc/passwd", f"{root}/etc/passwd")  # would name root's entries on the host
    with pytest.raises(InvalidArgument, match="no such user: root"):
        resolve_user(root, "root")


def test_chmod(ctx, rootfs):
    copy_sources(ctx, ["dir"], rootfs, "/octal", chmod="640")
    assert listing(f"{rootfs}/octal")["f"].startswith("f 640")
    assert listing(f"{rootfs}/octal")["sub"].startswith("d 640")
    copy_sources(ctx, ["a.txt"], rootfs, "/sym", chmod="u+x,g=r,o-r")
    assert listing(rootfs)["sym"].startswith("f 740")
    with pytest.raises(InvalidArgument, match="invalid chmod parameter"):
        copy_sources(ctx, ["a.txt"], rootfs, "/bad", chmod="999")


@pytest.mark.parametrize("sources, dest, exc, message", [
    (["nope"], "/x", NotFound, "file not found in build context or excluded by "
     ".dockerignore: stat nope: file does not exist"),
    (["*.none"], "/x/", NotFound, "no source files were specified"),
    (["a.txt", "b.txt"], "/x", InvalidArgument, "When using COPY with more than one source "
     "file, the destination must be a directory and end with a /"),
    (["*.txt"], "/x", InvalidArgument, "When using COPY with more than one source file"),
])
def test_errors(ctx, rootfs, sources, dest, exc, message):
    with pytest.raises(exc) as info:
        copy_sources(ctx, sources, rootfs, dest)
    assert str(info.value).startswith(message)


@pytest.mark.parametrize("first, second, dest", [
    ("a.txt", "dir", "/x"),  # a directory onto a file
    ("dir", "a.txt", "/x/f/"),  # a file into a "directory" that is a file
])
def test_not_a_directory(ctx, rootfs, first, second, dest):
    copy_sources(ctx, [first], rootfs, "/x")
    with pytest.raises(InvalidArgument, match="not a directory"):
        copy_sources(ctx, [second], rootfs, dest)


def test_add_names_itself_in_errors(ctx, rootfs):
    with pytest.raises(InvalidArgument, match="^When using ADD with more than one source"):
        copy_sources(ctx, ["a.txt", "b.txt"], rootfs, "/x", extract_archives=True)


def test_sources_cannot_leave_their_root(tmp_path, rootfs):
    src = str(tmp_path / "src")
    write(f"{tmp_path}/secret", "host secret")
    write(f"{src}/secret", "inside")
    os.symlink("/secret", f"{src}/abs")
    os.symlink("../../secret", f"{src}/rel")
    for name in ["../secret", "/../secret", "abs", "rel"]:
        copy_sources(src, [name], rootfs, "/got")
        with open(f"{rootfs}/got") as f:
            assert f.read() == "inside", name


def test_destination_symlinks_resolve_inside_the_rootfs(tmp_path, ctx):
    root = str(tmp_path / "hostile")
    host = tmp_path / "host"
    host.mkdir()
    os.makedirs(f"{root}/existing")
    os.symlink("/", f"{root}/escape")
    os.symlink(str(host), f"{root}/hostdir")
    os.symlink(str(host / "file"), f"{root}/hostfile")
    os.symlink(str(host), f"{root}/existing/sub")  # merged into, resolved inside the rootfs
    os.symlink("/nowhere", f"{root}/existing/lnk")  # a file replaces it
    copy_sources(ctx, ["a.txt"], root, "/escape/etc/x")
    copy_sources(ctx, ["a.txt"], root, "/hostdir/y")
    copy_sources(ctx, ["a.txt"], root, "/hostfile")
    copy_sources(ctx, ["dir"], root, "/existing")
    copy_sources(ctx, ["dir"], root, "/hostdir/tree/")
    assert list(host.iterdir()) == []
    assert os.path.isfile(f"{root}/etc/x")
    assert os.path.isfile(f"{root}{host}/y")
    assert os.path.isfile(f"{root}{host}/file")
    assert os.path.isfile(f"{root}{host}/tree/f")
    assert os.path.islink(f"{root}/existing/sub")
    assert os.path.isfile(f"{root}{host}/s")
    assert os.readlink(f"{root}/existing/lnk") == "f"  # the source's own symlink


def test_directory_onto_a_symlinked_directory_merges(ctx, rootfs, tmp_path):
    """Merged-/usr images: /lib -> usr/lib stays a link and receives the files (BuildKit)."""
    os.makedirs(f"{rootfs}/usr/lib/keep")
    os.symlink("usr/lib", f"{rootfs}/lib")
    src = str(tmp_path / "overlay")
    write(f"{src}/lib/new.so", "so")
    write(f"{src}/bin/tool", "t")
    copy_sources(src, ["."], rootfs, "/")
    assert os.path.islink(f"{rootfs}/lib")
    assert sorted(os.listdir(f"{rootfs}/usr/lib")) == ["keep", "new.so"]
    assert os.path.isfile(f"{rootfs}/bin/tool")


def test_hostile_archive_for_add(tmp_path, rootfs):
    src = str(tmp_path / "src")
    os.makedirs(src)
    with tarfile.open(f"{src}/evil.tar", "w") as t:
        info = tarfile.TarInfo("../../evil")
        info.size = 1
        t.addfile(info, io.BytesIO(b"x"))
    with pytest.raises(InvalidArgument):
        copy_sources(src, ["evil.tar"], rootfs, "/x/", extract_archives=True)
    assert not (tmp_path / "evil").exists()


def test_checksum_tracks_what_is_copied(ctx, tmp_path):
    def cs(*srcs):
        return source_checksum(ctx, list(srcs))

    base = cs("dir", "a.txt")
    assert base.startswith("sha256:") and base == cs("dir", "a.txt")
    assert cs("a.txt") != cs("b.txt")  # the name is part of what is copied
    os.utime(f"{ctx}/a.txt", (5, 5))
    assert cs("dir", "a.txt") == base  # times do not matter (COPY keeps them, cache ignores)
    for change in [
        lambda: write(f"{ctx}/dir/sub/s", "changed\n"),
        lambda: os.chmod(f"{ctx}/dir/f", 0o644),
        lambda: write(f"{ctx}/dir/new", ""),
        lambda: (os.unlink(f"{ctx}/dir/lnk"), os.symlink("sub", f"{ctx}/dir/lnk")),
        lambda: write(f"{ctx}/a.txt", "A\n"),
    ]:
        before = cs("dir", "a.txt")
        change()
        assert cs("dir", "a.txt") != before
    assert cs("*.txt") == source_checksum(ctx, ["a.txt", "b.txt"])
    with pytest.raises(NotFound, match="file not found in build context"):
        cs("missing")


def test_checksum_is_independent_of_the_root_path(ctx, tmp_path):
    import shutil

    copy = str(tmp_path / "copy")
    shutil.copytree(ctx, copy, symlinks=True)
    assert source_checksum(ctx, ["dir", "*.txt"]) == source_checksum(copy, ["dir", "*.txt"])


@pytest.mark.parametrize("pattern, files", [
    ("dir/*/s", ["s"]),
    ("d?r/f", ["f"]),
    ("dir/[fh]*", ["f", "hard"]),
    ("*.t?t", ["a.txt", "b.txt"]),
    ("dir/\\*", None),  # an escaped star is literal: nothing matches
])
def test_wildcards(ctx, rootfs, pattern, files):
    if files is None:
        with pytest.raises(NotFound):
            copy_sources(ctx, [pattern], rootfs, "/w/")
        return
    copy_sources(ctx, [pattern], rootfs, "/w/")
    assert sorted(os.listdir(f"{rootfs}/w")) == files


def tar_of(path, entries):
    with tarfile.open(path, "w:gz") as t:
        for name, kind, payload in entries:
            ti = tarfile.TarInfo(name)
            ti.uid, ti.gid, ti.mode, ti.mtime = 5, 6, 0o640, 1_000_000_000
            if kind == "file":
                ti.size = len(payload)
                t.addfile(ti, io.BytesIO(payload))
                continue
            if kind == "dir":
                ti.type, ti.mode = tarfile.DIRTYPE, 0o750
            elif kind == "sym":
                ti.type, ti.linkname = tarfile.SYMTYPE, payload
            elif kind == "hard":
                ti.type, ti.linkname = tarfile.LNKTYPE, payload
            t.addfile(ti)


def test_add_archive_resolves_parents_inside_the_rootfs(tmp_path, rootfs):
    """As docker's chrooted untar: an image's /lib -> usr/lib is followed, a symlink in the
    archive or the image never leads out of the rootfs, owners and modes are the archive's."""
    host = tmp_path / "host"
    host.mkdir()
    os.makedirs(f"{rootfs}/usr/lib")
    os.symlink("usr/lib", f"{rootfs}/lib")
    os.symlink(str(host), f"{rootfs}/hostlink")
    src = str(tmp_path / "src")
    os.makedirs(src)
    tar_of(f"{src}/rootfs.tgz", [
        ("./", "dir", None),
        ("lib/", "dir", None),  # onto the image's /lib -> usr/lib: merged, link kept
        ("lib/libx.so", "file", b"elf"),
        ("/abs/file", "file", b"abs"),  # taken relative to the destination, as docker
        ("hostlink/escape", "file", b"no"),
        ("esc", "sym", "/"),
        ("esc/etc/via-archive-link", "file", b"in"),
        ("hl", "hard", "lib/libx.so"),
        ("d", "dir", None),
    ])
    copy_sources(src, ["rootfs.tgz"], rootfs, "/", extract_archives=True)
    assert list(host.iterdir()) == []
    with open(f"{rootfs}/usr/lib/libx.so", "rb") as f:
        assert f.read() == b"elf"
    assert os.path.islink(f"{rootfs}/lib")
    assert os.path.isfile(f"{rootfs}/abs/file")
    assert os.path.isfile(f"{rootfs}{host}/escape")
    assert os.path.isfile(f"{rootfs}/etc/via-archive-link")
    assert os.stat(f"{rootfs}/hl").st_ino == os.stat(f"{rootfs}/usr/lib/libx.so").st_ino
    st = os.stat(f"{rootfs}/d")
    assert (st.st_uid, st.st_gid, stat.S_IMODE(st.st_mode), st.st_mtime) == \
        (5, 6, 0o750, 1_000_000_000)
    st = os.stat(f"{rootfs}/abs/file")
    assert (st.st_uid, st.st_gid, stat.S_IMODE(st.st_mode)) == (5, 6, 0o640)


@pytest.mark.parametrize("entries", [
    [("../../evil", "file", b"x")],
    [("a/../../evil", "file", b"x")],
    [("hl", "hard", "../../evil-target")],
])
def test_add_archive_refuses_dotdot(tmp_path, rootfs, entries):
    src = str(tmp_path / "src")
    os.makedirs(src)
    write(f"{tmp_path}/evil-target", "t")
    tar_of(f"{src}/evil.tgz", entries)
    with pytest.raises(InvalidArgument):
        copy_sources(src, ["evil.tgz"], rootfs, "/x/", extract_archives=True)
    assert not (tmp_path / "evil").exists()


def test_xattrs_and_file_capabilities_are_kept(ctx, rootfs):
    import struct

    cap = struct.pack("<IIIII", 0x02000001, 1 << 13, 0, 0, 0)  # cap_net_raw+ep
    os.setxattr(f"{ctx}/dir/sub/s", "security.capability", cap)
    os.setxattr(f"{ctx}/a.txt", "user.note", b"hi")
    before = source_checksum(ctx, ["dir"])
    copy_sources(ctx, ["dir"], rootfs, "/d", chown="1000")  # chown would drop capabilities
    copy_sources(ctx, ["a.txt"], rootfs, "/a")
    assert os.getxattr(f"{rootfs}/d/sub/s", "security.capability") == cap
    assert os.getxattr(f"{rootfs}/a", "user.note") == b"hi"
    os.removexattr(f"{ctx}/dir/sub/s", "security.capability")
    assert source_checksum(ctx, ["dir"]) != before
