"""The busybox base image's root filesystem, built in memory from Debian's busybox-static.

There is no internet here, so ``busybox:latest`` cannot be pulled. Like the official image,
the tar holds one static binary at ``bin/busybox`` and a hard link to it for every applet it
lists (``busybox --list-full``), plus the few files a container expects: ``/etc/passwd`` and
``/etc/group`` (root, nobody), ``/tmp`` (1777), ``/root``, and the mount points ``/proc``,
``/sys``, ``/dev``. Timestamps come from the binary, so the same package gives the same layer.
"""

from __future__ import annotations

import io
import os
import subprocess
import tarfile

from dockyard.errors import InvalidArgument, NotFound

BUSYBOX_CANDIDATES = ("/bin/busybox", "/usr/bin/busybox")

PASSWD = (
    "root:x:0:0:root:/root:/bin/sh\n"
    "daemon:x:1:1:daemon:/usr/sbin:/bin/false\n"
    "nobody:x:65534:65534:nobody:/home:/bin/false\n"
)
GROUP = "root:x:0:\ndaemon:x:1:\ntty:x:5:\nnogroup:x:65534:\n"
DIRS = {  # path → mode
    "bin": 0o755, "dev": 0o755, "etc": 0o755, "home": 0o755, "proc": 0o555, "root": 0o700,
    "sbin": 0o755, "sys": 0o555, "tmp": 0o1777, "usr": 0o755, "usr/bin": 0o755,
    "usr/sbin": 0o755, "var": 0o755, "var/spool": 0o755, "var/spool/mail": 0o755,
    "var/www": 0o755,
}
FILES = {  # path → (mode, content)
    "etc/passwd": (0o644, PASSWD),
    "etc/group": (0o644, GROUP),
    "etc/shadow": (0o640, "root:*:10933:0:99999:7:::\nnobody:*:10933:0:99999:7:::\n"),
    "etc/hostname": (0o644, ""),
    "etc/hosts": (0o644, "127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\n"),
    "etc/resolv.conf": (0o644, ""),
}


def find_busybox() -> str:
    """The host's static busybox (Debian's busybox-static package)."""
    for path in BUSYBOX_CANDIDATES:
        if os.path.isfile(path):
            return os.path.realpath(path)
    raise NotFound("busybox not found: install the busybox-static package")


def applets(busybox: str) -> list[str]:
    """Paths (relative, e.g. ``bin/sh``) of every applet this busybox provides."""
    try:
        listing = subprocess.run([busybox, "--list-full"], capture_output=True, check=True,
                                 timeout=30).stdout.decode()
    except (OSError, subprocess.SubprocessError) as e:
        raise InvalidArgument(f"{busybox} --list-full failed: {e}") from None
    paths = []
    for line in listing.split():
        path = os.path.normpath(line.strip("/"))
        if path and not path.startswith("..") and path != "bin/busybox":
            paths.append(path)
    return sorted(set(paths))


def _info(name: str, kind: bytes, mode: int, mtime: int, size: int = 0) -> tarfile.TarInfo:
    info = tarfile.TarInfo(name)
    info.type = kind
    info.mode = mode
    info.mtime = mtime
    info.size = size
    info.uid = info.gid = 0
    info.uname = info.gname = "root"
    return info


def busybox_rootfs_tar(busybox: str | None = None) -> bytes:
    """An uncompressed tar of the busybox root filesystem."""
    path = busybox or find_busybox()
    with open(path, "rb") as f:
        binary = f.read()
    if not binary.startswith(b"\x7fELF"):
        raise InvalidArgument(f"{path} is not an ELF executable")
    mtime = int(os.stat(path).st_mtime)
    links = applets(path)
    dirs = dict(DIRS)
    for link in links:  # every parent of every applet exists
        parent = os.path.dirname(link)
        while parent and parent not in dirs:
            dirs[parent] = 0o755
            parent = os.path.dirname(parent)
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for name in sorted(dirs):
            tar.addfile(_info(name, tarfile.DIRTYPE, dirs[name], mtime))
        tar.addfile(_info("bin/busybox", tarfile.REGTYPE, 0o755, mtime, len(binary)),
                    io.BytesIO(binary))
        for link in links:
            info = _info(link, tarfile.LNKTYPE, 0o755, mtime)
            info.linkname = "bin/busybox"
            tar.addfile(info)
        for name, (mode, content) in sorted(FILES.items()):
            data = content.encode()
            tar.addfile(_info(name, tarfile.REGTYPE, mode, mtime, len(data)), io.BytesIO(data))
    return buf.getvalue()
