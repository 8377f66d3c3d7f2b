"""A corpus of hostile layers, driven end to end through ``import`` and ``load``: each is
rejected with one clear line naming the bad entry, nothing is written outside, the store is
unchanged and the daemon keeps serving."""

import os
import stat
import tarfile

import pytest

from store.tartools import entry, make_tar

from .archives import docker_archive

D, S, L = tarfile.DIRTYPE, tarfile.SYMTYPE, tarfile.LNKTYPE


def _raw(name: str, size: int, kind=tarfile.REGTYPE) -> bytes:
    """A header claiming ``size`` bytes with no data behind it."""
    ti = tarfile.TarInfo(name)
    ti.type, ti.size = kind, size
    return ti.tobuf(tarfile.GNU_FORMAT) + b"\0" * 1024


# name -> (entries or raw bytes, text the error must contain); {outside} is a directory the
# test owns and watches.
CORPUS = {
    "dotdot": ([entry("../escaped", data=b"evil")], "../escaped"),
    "dotdot-deep": ([entry("a/../../escaped", data=b"evil")], "a/../../escaped"),
    "absolute": ([entry("/tmp/escaped-dockyard-test", data=b"evil")],
                 "/tmp/escaped-dockyard-test"),
    "symlink-relative-escape": ([entry("link", S, linkname="../../../outside")], "link"),
    "write-through-symlink": ([entry("link", S, linkname="{outside}"),
                               entry("link/secret", data=b"overwritten")], "link/secret"),
    "dir-replaced-by-symlink": ([entry("d/", D), entry("d", S, linkname="{outside}"),
                                 entry("d/secret", data=b"overwritten")], "d/secret"),
    "symlink-chain": ([entry("s2", S, linkname="{outside}"), entry("s1", S, linkname="s2"),
                       entry("s1/secret", data=b"overwritten")], "s1/secret"),
    "hardlink-dotdot": ([entry("h", L, linkname="../outside/secret")], "../outside/secret"),
    "hardlink-absolute": ([entry("h", L, linkname="{outside}/secret")], "{outside}/secret"),
    "hardlink-through-symlink": ([entry("s", S, linkname="{outside}"),
                                  entry("h", L, linkname="s/secret")], "'h'"),
    "hardlink-to-directory": ([entry("d/", D), entry("h", L, linkname="d")], "'h'"),
    "hardlink-missing-target": ([entry("h", L, linkname="etc/shadow")], "'h'"),
    "whiteout-dotdot": ([entry("a/.wh...")], "a/.wh..."),
    "whiteout-through-symlink": ([entry("link", S, linkname="{outside}"),
                                  entry("link/.wh.secret")], "link/.wh.secret"),
    "opaque-through-symlink": ([entry("link", S, linkname="{outside}"),
                                entry("link/.wh..wh..opq")], "link/.wh..wh..opq"),
    "absurd-size": (_raw("huge", 1 << 50), "huge"),
    "huge-pax-header": (_raw("././@PaxHeader", 1 << 40, tarfile.XHDTYPE), "extended header"),
    "name-too-long": ([entry("x" * 5000, data=b"a")], "xxxxxxxx"),
}


@pytest.fixture
def outside(tmp_path):
    d = tmp_path / "outside"
    d.mkdir()
    (d / "secret").write_bytes(b"precious")
    return d


def _tree(path):
    out = {}
    for root, dnames, fnames in os.walk(path):
        for n in dnames + fnames:
            p = os.path.join(root, n)
            st = os.lstat(p)
            out[p] = (st.st_mode, st.st_size, st.st_mtime_ns, os.listxattr(p, follow_symlinks=False))
            if stat.S_ISREG(st.st_mode):
                out[p] += (open(p, "rb").read(),)
    return out


def _leftovers(root: str) -> list[str]:
    return (os.listdir(os.path.join(root, "snapshots", "tmp"))
            + os.listdir(os.path.join(root, "content", "ingest")))


def test_corpus_is_large_enough():
    assert len(CORPUS) >= 15


@pytest.mark.parametrize("case", sorted(CORPUS))
def test_hostile_layer_rejected_by_import_and_load(dy, outside, tmp_path, case):
    spec, expected = CORPUS[case]
    if isinstance(spec, bytes):
        layer = spec
    else:
        entries = []
        for ti, data in spec:
            ti.linkname = ti.linkname.replace("{outside}", str(outside))
            entries.append((ti, data))
        layer = make_tar(entries)
    expected = expected.replace("{outside}", str(outside))
    before_tree = _tree(outside)
    before_store = dy.store_state()
    layer_file = tmp_path / "layer.tar"
    layer_file.write_bytes(layer)
    archive_file = tmp_path / "archive.tar"
    archive_file.write_bytes(docker_archive([layer], tag=f"hostile/{case}:latest"))

    for how in (("import", str(layer_file), f"hostile/{case}:imp"),
                ("load", "-i", str(archive_file))):
        r = dy(*how, ok=False)
        msg = r.stderr.decode().strip()
        assert r.returncode == 1, (how, msg, r.stdout)
        # import fails with an error reply; load answers 200 with the error in its stream,
        # which docker prints bare (moby).
        prefixed = msg.startswith("Error response from daemon: ")
        assert prefixed == (how[0] == "import") and "\n" not in msg, msg
        assert expected in msg, (how, msg)
        assert _tree(outside) == before_tree
        assert dy.store_state() == before_store
        assert _leftovers(dy.d.root) == []
        assert not os.path.exists("/tmp/escaped-dockyard-test")
    assert dy.out("run", "--rm", "busybox", "echo", "still serving").strip() == "still serving"
