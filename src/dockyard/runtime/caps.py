"""Capability names and the sets Docker grants, bounded by what this host can actually give."""

from __future__ import annotations

from dockyard.errors import InvalidArgument

# Index = capability number (linux/capability.h).
ALL_CAPS = [
    "CAP_CHOWN", "CAP_DAC_OVERRIDE", "CAP_DAC_READ_SEARCH", "CAP_FOWNER", "CAP_FSETID",
    "CAP_KILL", "CAP_SETGID", "CAP_SETUID", "CAP_SETPCAP", "CAP_LINUX_IMMUTABLE",
    "CAP_NET_BIND_SERVICE", "CAP_NET_BROADCAST", "CAP_NET_ADMIN", "CAP_NET_RAW",
    "CAP_IPC_LOCK", "CAP_IPC_OWNER", "CAP_SYS_MODULE", "CAP_SYS_RAWIO", "CAP_SYS_CHROOT",
    "CAP_SYS_PTRACE", "CAP_SYS_PACCT", "CAP_SYS_ADMIN", "CAP_SYS_BOOT", "CAP_SYS_NICE",
    "CAP_SYS_RESOURCE", "CAP_SYS_TIME", "CAP_SYS_TTY_CONFIG", "CAP_MKNOD", "CAP_LEASE",
    "CAP_AUDIT_WRITE", "CAP_AUDIT_CONTROL", "CAP_SETFCAP", "CAP_MAC_OVERRIDE",
    "CAP_MAC_ADMIN", "CAP_SYSLOG", "CAP_WAKE_ALARM", "CAP_BLOCK_SUSPEND", "CAP_AUDIT_READ",
    "CAP_PERFMON", "CAP_BPF", "CAP_CHECKPOINT_RESTORE",
]  # fmt: skip

# moby oci/caps/defaults.go: the 14 capabilities of a non-privileged container.
DEFAULT_CAPS = [
    "CAP_CHOWN", "CAP_DAC_OVERRIDE", "CAP_FSETID", "CAP_FOWNER", "CAP_MKNOD", "CAP_NET_RAW",
    "CAP_SETGID", "CAP_SETUID", "CAP_SETFCAP", "CAP_SETPCAP", "CAP_NET_BIND_SERVICE",
    "CAP_SYS_CHROOT", "CAP_KILL", "CAP_AUDIT_WRITE",
]  # fmt: skip


def normalize(name: str) -> str:
    """``net_admin``, ``NET_ADMIN`` and ``CAP_NET_ADMIN`` all mean CAP_NET_ADMIN; ALL stays ALL."""
    upper = name.strip().upper()
    if upper == "ALL":
        return "ALL"
    if not upper.startswith("CAP_"):
        upper = "CAP_" + upper
    if upper not in ALL_CAPS:
        raise InvalidArgument(f"unknown capability: {name!r}")
    return upper


def host_bounding_set(status_path: str = "/proc/self/status") -> list[str]:
    """The capabilities this process may hand on: asking runc for more fails with EPERM."""
    mask = 0
    with open(status_path) as f:
        for line in f:
            if line.startswith("CapBnd:"):
                mask = int(line.split()[1], 16)
                break
    return [name for i, name in enumerate(ALL_CAPS) if mask & (1 << i)]


def effective_caps(
    cap_add: list[str], cap_drop: list[str], privileged: bool, host: list[str] | None = None
) -> list[str]:
    """Docker's merge (moby TweakCapabilities): ALL in adds wins, then ALL in drops, else
    defaults minus drops plus adds; limited to the host's bounding set so runc never refuses."""
    if host is None:
        host = host_bounding_set()
    if privileged:
        return list(host)
    adds = [normalize(c) for c in cap_add]
    drops = [normalize(c) for c in cap_drop]
    if "ALL" in adds:
        caps = [c for c in ALL_CAPS if c not in drops]
    elif "ALL" in drops:
        caps = list(adds)
    else:
        caps = [c for c in DEFAULT_CAPS if c not in drops] + adds
    return [c for c in dict.fromkeys(caps) if c in host]
