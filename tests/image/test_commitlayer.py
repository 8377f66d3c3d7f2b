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
