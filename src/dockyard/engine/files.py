"""The per-container /etc/hostname, /etc/hosts and /etc/resolv.conf, bind-mounted by the spec.

Networking is loopback-only until networks land: Docker maps the hostname to the container's
address, and with loopback only 127.0.0.1 is the honest answer.
"""

import os

from ..util import atomic_write


def _resolv_conf() -> bytes:
    try:
        with open("/etc/resolv.conf", "rb") as f:
            lines = [ln for ln in f.read().splitlines() if not ln.startswith(b"nameserver 127.")]
        return b"\n".join(lines) + b"\n"
    except OSError:
        return b""


def write_etc_files(container_dir: str, hostname: str, domainname: str = "") -> list[dict]:
    """Write the files once per start and return OCI bind mounts for them."""
    fqdn = f"{hostname}.{domainname}" if domainname else hostname
    contents = {
        "hostname": f"{hostname}\n".encode(),
        "hosts": (
            "127.0.0.1\tlocalhost\n"
            "::1\tlocalhost ip6-localhost ip6-loopback\n"
            "fe00::0\tip6-localnet\nff00::0\tip6-mcastprefix\n"
            "ff02::1\tip6-allnodes\nff02::2\tip6-allrouters\n"
            f"127.0.0.1\t{fqdn}{' ' + hostname if fqdn != hostname else ''}\n"
        ).encode(),
        "resolv.conf": _resolv_conf(),
    }
    mounts = []
    for name, data in contents.items():
        path = os.path.join(container_dir, name)
        if not os.path.exists(path) or name == "hostname":
            atomic_write(path, data, durable=False)
        mounts.append({
            "destination": f"/etc/{name}",
            "type": "bind",
            "source": path,
            "options": ["rbind", "rprivate"],
        })
    return mounts
