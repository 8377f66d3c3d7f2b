"""The per-container /etc/hostname, /etc/hosts and /etc/resolv.conf, bind-mounted by the spec.

The files are rewritten in place (same inode), so a live network connect or disconnect shows
in a running container, whose bind mount keeps pointing at the original inode.
"""

import os

DEFAULT_DNS = ["8.8.8.8", "8.8.4.4"]  # Docker's fallback when the host has no usable resolver


def host_resolv() -> tuple[list[str], list[str]]:
    """(nameservers, other lines) of the host's resolv.conf, without loopback resolvers: they
    cannot work from a container's own network namespace."""
    servers, other = [], []
    try:
        with open("/etc/resolv.conf") as f:
            for line in f:
                words = line.split()
                if words[:1] == ["nameserver"] and len(words) > 1:
                    if not words[1].startswith("127.") and words[1] != "::1":
                        servers.append(words[1])
                elif words and not line.startswith(("#", ";")):
                    other.append(line.rstrip("\n"))
    except OSError:
        pass
    return servers, other


def resolv_conf(nameservers: list[str] | None = None, search: list[str] | None = None,
                options: list[str] | None = None) -> bytes:
    """The container's resolv.conf: the given servers (--dns or the embedded DNS) or the
    host's usable ones; search and options from the flags or the host."""
    host_servers, other = host_resolv()
    servers = nameservers or host_servers or DEFAULT_DNS
    lines = [ln for ln in other
             if not (search is not None and ln.startswith(("search", "domain")))
             and not (options is not None and ln.startswith("options"))]
    if search:
        lines.append("search " + " ".join(search))
    if options:
        lines.append("options " + " ".join(options))
    lines += [f"nameserver {s}" for s in servers]
    return ("\n".join(lines) + "\n").encode()


def hosts_file(hostname: str, domainname: str = "", addresses: list[str] | None = None,
               extra: list[tuple[str, str]] | None = None) -> bytes:
    """Docker's /etc/hosts: loopback names, the extra hosts, then the container's addresses
    mapped to its hostname (127.0.0.1 when it has none: loopback-only networking)."""
    fqdn = f"{hostname}.{domainname}" if domainname else hostname
    names = f"{fqdn}{' ' + hostname if fqdn != hostname else ''}"
    text = ("127.0.0.1\tlocalhost\n"
            "::1\tlocalhost ip6-localhost ip6-loopback\n"
            "fe00::0\tip6-localnet\nff00::0\tip6-mcastprefix\n"
            "ff02::1\tip6-allnodes\nff02::2\tip6-allrouters\n")
    for name, ip in extra or []:
        text += f"{ip}\t{name}\n"
    for ip in addresses or ["127.0.0.1"]:
        text += f"{ip}\t{names}\n"
    return text.encode()


def write_in_place(path: str, data: bytes) -> None:
    """Overwrite keeping the inode (a running container's bind mount sees the change)."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT, 0o644)
    try:
        os.ftruncate(fd, 0)
        os.write(fd, data)
    finally:
        os.close(fd)


def write_etc_files(container_dir: str, hostname: str, domainname: str = "", *,
                    hosts: bytes | None = None, resolv: bytes | None = None) -> list[dict]:
    """Write the files once per start and return OCI bind mounts for them."""
    contents = {
        "hostname": f"{hostname}\n".encode(),
        "hosts": hosts if hosts is not None else hosts_file(hostname, domainname),
        "resolv.conf": resolv if resolv is not None else resolv_conf(),
    }
    mounts = []
    for name, data in contents.items():
        path = os.path.join(container_dir, name)
        write_in_place(path, data)
        mounts.append({
            "destination": f"/etc/{name}",
            "type": "bind",
            "source": path,
            "options": ["rbind", "rprivate"],
        })
    return mounts
