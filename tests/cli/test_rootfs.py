"""The busybox base image's rootfs: a real tar with /bin/sh → busybox, built offline."""

import io
import os
import subprocess
import tarfile

import pytest

from dockyard.cli.rootfs import busybox_rootfs_tar, find_busybox


@pytest.fixture(scope="module")
def tar_bytes() -> bytes:
    return busybox_rootfs_tar()


def test_is_a_valid_tar_with_busybox_and_applet_links(tar_bytes):
    with tarfile.open(fileobj=io.BytesIO(tar_bytes)) as tar:
        members = {m.name: m for m in tar.getmembers()}
        busybox = members["bin/busybox"]
        assert busybox.isreg() and busybox.mode & 0o111
        assert tar.extractfile(busybox).read() == open(find_busybox(), "rb").read()
        sh = members["bin/sh"]
        assert sh.islnk() and sh.linkname == "bin/busybox"
        assert members["tmp"].isdir() and members["tmp"].mode == 0o1777
        for d in ("proc", "sys", "dev", "root", "etc"):
            assert members[d].isdir()
        passwd = tar.extractfile(members["etc/passwd"]).read().decode()
        assert passwd.startswith("root:x:0:0:") and "nobody:x:65534:" in passwd
        assert "nogroup" in tar.extractfile(members["etc/group"]).read().decode()
        # every applet busybox lists is present
        listed = subprocess.run([find_busybox(), "--list-full"], capture_output=True,
                                text=True, check=True).stdout.split()
        assert all(path.strip("/") in members for path in listed)


def test_extracted_shell_runs(tar_bytes, tmp_path):
    with tarfile.open(fileobj=io.BytesIO(tar_bytes)) as tar:
        tar.extractall(tmp_path, filter="tar")
    out = subprocess.run([str(tmp_path / "bin" / "sh"), "-c", "echo ok"], capture_output=True,
                         text=True, check=True)
    assert out.stdout == "ok\n"
    assert os.stat(tmp_path / "bin" / "sh").st_ino == os.stat(tmp_path / "bin" / "busybox").st_ino


def test_is_reproducible(tar_bytes):
    assert busybox_rootfs_tar() == tar_bytes
