"""commit's one-pass layer: the same bytes as archive.write_tar, and the same tree unpacked."""

import gzip
import hashlib
import io
import os
import stat
import tarfile

from dockyard.archive import write_tar
from dockyard.image.commitlayer import layer_from_upper


def _upper(root):
    """An overlay upper dir with every kind of entry commit meets."""
    os.makedirs(root / "etc/app")
    (root / "etc/app/conf").write_bytes(b"x" * 5000)
    (root / "etc/app/empty").write_bytes(b"")
    os.link(root / "etc/app/conf", root / "etc/app/conf-link")
    os.symlink("conf", root / "etc/app/alias")
    os.mknod(root / "etc/gone", stat.S_IFCHR, os.makedev(0, 0))  # whiteout
    os.makedirs(root / "var/opaque/new")
    os.setxattr(root / "var/opaque", "trusted.overlay.opaque", b"y")
    os.setxattr(root / "etc/app/conf", "user.note", b"kept")
    os.mkfifo(root / "var/fifo")
    long_dir = root / ("d" * 120)
    long_dir.mkdir()
    (long_dir / "f\u00e9").write_bytes(b"unicode name")
    os.chmod(root / "etc/app", 0o750)
    os.lchown(root / "etc/app/empty", 1234, 5678)
    os.utime(root / "etc/app/conf", (1_600_000_000, 1_600_000_000))


def test_same_bytes_as_write_tar_and_same_tree(images, tmp_path):
    upper = tmp_path / "upper"
    upper.mkdir()
    _upper(upper)
    expected = io.BytesIO()
    write_tar(str(upper), expected)
    info = layer_from_upper(images.content, images.snapshots, str(upper), None)
    assert info.diff_id == "sha256:" + hashlib.sha256(expected.getvalue()).hexdigest()
    assert info.diff_size == len(expected.getvalue())
    with images.content.open(info.digest) as f:
        blob = f.read()
    assert info.digest == "sha256:" + hashlib.sha256(blob).hexdigest()
    assert gzip.decompress(blob) == expected.getvalue()
    names = tarfile.open(fileobj=io.BytesIO(expected.getvalue())).getnames()
    assert "etc/.wh.gone" in names and "var/opaque/.wh..wh..opq" in names

    fs = images.snapshots.layer_fs(info.chain_id)
    assert open(os.path.join(fs, "etc/app/conf"), "rb").read() == b"x" * 5000
    st = os.lstat(os.path.join(fs, "etc/app/conf"))
    assert st.st_nlink == 2 and st.st_mtime == 1_600_000_000
    assert os.getxattr(os.path.join(fs, "etc/app/conf"), "user.note") == b"kept"
    assert os.readlink(os.path.join(fs, "etc/app/alias")) == "conf"
    gone = os.lstat(os.path.join(fs, "etc/gone"))
    assert stat.S_ISCHR(gone.st_mode) and gone.st_rdev == 0
    assert os.getxattr(os.path.join(fs, "var/opaque"), "trusted.overlay.opaque") == b"y"
    assert stat.S_ISFIFO(os.lstat(os.path.join(fs, "var/fifo")).st_mode)
    assert stat.S_IMODE(os.lstat(os.path.join(fs, "etc/app")).st_mode) == 0o750
    empty = os.lstat(os.path.join(fs, "etc/app/empty"))
    assert (empty.st_uid, empty.st_gid) == (1234, 5678)
    assert images.snapshots.layer_size(info.chain_id) == 5000 + len(b"unicode name")

    # the unpacked copy writes the same tar again: the layer is reproducible from disk
    again = io.BytesIO()
    write_tar(fs, again)
    assert again.getvalue() == expected.getvalue()


def test_source_date_epoch_makes_equal_content_equal_layers(images, tmp_path, monkeypatch):
    monkeypatch.setenv("SOURCE_DATE_EPOCH", "1700000000")
    infos = []
    for i, when in enumerate((1_750_000_000, 1_760_000_000)):
        upper = tmp_path / f"upper{i}"
        (upper / "app").mkdir(parents=True)
        (upper / "app" / "main").write_bytes(b"same content")
        os.mknod(upper / "gone", stat.S_IFCHR, os.makedev(0, 0))
        for p in (upper / "app" / "main", upper / "app", upper / "gone"):
            os.utime(p, (when, when), follow_symlinks=False)
        infos.append(layer_from_upper(images.content, images.snapshots, str(upper), None))
        expected = io.BytesIO()
        write_tar(str(upper), expected)
        assert infos[-1].diff_id == "sha256:" + hashlib.sha256(expected.getvalue()).hexdigest()
    assert infos[0].diff_id == infos[1].diff_id and infos[0].digest == infos[1].digest
    fs = images.snapshots.layer_fs(infos[0].chain_id)
    assert os.lstat(os.path.join(fs, "app", "main")).st_mtime == 1_700_000_000
    # older times than the epoch are kept
    old = tmp_path / "old"
    old.mkdir()
    (old / "f").write_bytes(b"x")
    os.utime(old / "f", (1_600_000_000, 1_600_000_000))
    buf = io.BytesIO()
    write_tar(str(old), buf)
    assert tarfile.open(fileobj=io.BytesIO(buf.getvalue())).getmember("f").mtime == 1_600_000_000


def test_staging_dir_spreads_over_block_groups(images):
    """ext4 (the test's /tmp here): the snapshotter's tmp/ carries the TOPDIR flag."""
    import fcntl
    import struct

    path = os.path.join(images.snapshots.root, "tmp")
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        flags = struct.unpack("i", fcntl.ioctl(fd, 0x80086601, b"\0" * 8)[:4])[0]
    finally:
        os.close(fd)
    assert flags & 0x00020000
