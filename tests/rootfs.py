"""A tiny busybox root filesystem as a layer tar, for tests that mount or run it."""

import io
import tarfile

BUSYBOX = "/bin/busybox"
APPLETS = ["sh", "ls", "cat", "echo", "touch", "rm", "true"]


def busybox_rootfs_tar(extra: dict[str, bytes] | None = None) -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.PAX_FORMAT) as tf:
        def add_dir(name, mode=0o755):
            ti = tarfile.TarInfo(name)
            ti.type, ti.mode, ti.mtime = tarfile.DIRTYPE, mode, 1_600_000_000
            tf.addfile(ti)

        def add_file(name, data, mode=0o644):
            ti = tarfile.TarInfo(name)
            ti.size, ti.mode, ti.mtime = len(data), mode, 1_600_000_000
            tf.addfile(ti, io.BytesIO(data))

        for d in ["bin", "etc", "tmp", "data"]:
            add_dir(d, 0o1777 if d == "tmp" else 0o755)
        with open(BUSYBOX, "rb") as f:
            add_file("bin/busybox", f.read(), 0o755)
        for applet in APPLETS:
            ti = tarfile.TarInfo(f"bin/{applet}")
            ti.type, ti.linkname, ti.mtime = tarfile.SYMTYPE, "busybox", 1_600_000_000
            tf.addfile(ti)
        add_file("etc/hostname", b"one\n")
        add_file("etc/passwd", b"root:x:0:0:root:/root:/bin/sh\n")
        add_file("etc/os-release", b"NAME=test\n")
        add_file("data/old", b"old\n")
        for name, data in (extra or {}).items():
            add_file(name, data)
    return buf.getvalue()
