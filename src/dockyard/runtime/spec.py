"""OCI runtime spec (config.json) from a few composable options, with Docker's defaults.

Docker's defaults are mirrored so that software behaves in a dockyard container as in a Docker
one: the 14 default capabilities, masked and read-only /proc paths, the /dev tmpfs with the
standard device nodes, read-only /sys and cgroup mounts, new namespaces for everything.
Host-dependent limits (rlimits, capabilities) are clamped to what this host can grant, because
runc fails with "operation not permitted" on anything more.
"""

from __future__ import annotations

import os
import resource
import stat
from dataclasses import dataclass, field
from typing import Any

from dockyard.errors import InvalidArgument
from dockyard.runtime.caps import effective_caps
from dockyard.runtime.cgroups import has_swap_accounting
from dockyard.runtime.users import resolve_groups, resolve_user

OCI_VERSION = "1.0.2-dev"
DEFAULT_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
# Docker containers inherit the daemon's (usually very high) nofile limit; we give the same, but
# never more than this host's hard limit.
DEFAULT_NOFILE = 1048576
DEFAULT_SHM = 64 * 1024 * 1024

MASKED_PATHS = [
    "/proc/asound", "/proc/acpi", "/proc/interrupts", "/proc/kcore", "/proc/keys",
    "/proc/latency_stats", "/proc/timer_list", "/proc/timer_stats", "/proc/sched_debug",
    "/proc/scsi", "/sys/firmware", "/sys/devices/virtual/powercap",
]  # fmt: skip
READONLY_PATHS = [
    "/proc/bus", "/proc/fs", "/proc/irq", "/proc/sys", "/proc/sysrq-trigger",
]  # fmt: skip

# Linux RLIMIT_* numbers (the resource module lacks some, e.g. RLIMIT_LOCKS).
RLIMITS = {
    "cpu": 0, "fsize": 1, "data": 2, "stack": 3, "core": 4, "rss": 5, "nproc": 6, "nofile": 7,
    "memlock": 8, "as": 9, "locks": 10, "sigpending": 11, "msgqueue": 12, "nice": 13,
    "rtprio": 14, "rttime": 15,
}  # fmt: skip

_MAX_U64 = 2**64 - 1


@dataclass
class SpecOptions:
    rootfs: str
    args: list[str]
    env: list[str]
    cwd: str = "/"
    user: str = ""
    hostname: str = ""
    tty: bool = False
    open_stdin: bool = False
    readonly_rootfs: bool = False
    privileged: bool = False
    cap_add: list[str] = field(default_factory=list)
    cap_drop: list[str] = field(default_factory=list)
    memory: int = 0
    memory_swap: int = 0
    memory_reservation: int = 0
    cpuset_cpus: str = ""
    nano_cpus: int = 0
    cpu_shares: int = 0
    pids_limit: int = 0
    ulimits: list[dict] = field(default_factory=list)
    netns_path: str | None = None  # join this network namespace (container:NAME)
    host_network: bool = False  # no network namespace: the host's (--network host)
    extra_mounts: list[dict] = field(default_factory=list)
    cgroups_path: str = ""
    labels: dict = field(default_factory=dict)
    shm_size: int = 64 * 1024 * 1024
    seccomp: dict | None = None  # an OCI linux.seccomp object; None = unconfined
    no_new_privileges: bool = False
    oom_score_adj: int = 0
    stop_signal: str = ""
    masked_paths: list[str] | None = None  # None = Docker's defaults
    readonly_paths: list[str] | None = None
    devices: list[dict] = field(default_factory=list)  # HostConfig.Devices
    sysctls: dict = field(default_factory=dict)
    tmpfs: dict = field(default_factory=dict)  # HostConfig.Tmpfs: destination → options
    group_add: list[str] = field(default_factory=list)  # HostConfig.GroupAdd: names or gids


def build_spec(opts: SpecOptions) -> dict[str, Any]:
    """The config.json for runc. Raises InvalidArgument for options a user got wrong."""
    if not opts.args:
        raise InvalidArgument("no command specified")
    if not opts.cwd.startswith("/"):
        raise InvalidArgument(f"the working directory '{opts.cwd}' is invalid, it needs to be an absolute path")
    user = resolve_user(opts.rootfs, opts.user)
    caps = effective_caps(opts.cap_add, opts.cap_drop, opts.privileged)
    process: dict[str, Any] = {
        "terminal": opts.tty,
        "user": {"uid": user.uid, "gid": user.gid},
        "args": list(opts.args),
        "env": _env(opts, user.home),
        "cwd": opts.cwd,
        "capabilities": {k: list(caps) for k in ("bounding", "effective", "permitted")},
        "rlimits": build_rlimits(opts.ulimits),
        "noNewPrivileges": opts.no_new_privileges,
        "oomScoreAdj": opts.oom_score_adj,
    }
    gids = list(user.additional_gids)
    gids += [g for g in resolve_groups(opts.rootfs, opts.group_add) if g not in gids]
    if gids:
        process["user"]["additionalGids"] = gids
    if opts.tty:
        process["consoleSize"] = {"height": 24, "width": 80}

    namespaces: list[dict[str, str]] = [
        {"type": "pid"}, {"type": "ipc"}, {"type": "uts"}, {"type": "mount"}, {"type": "cgroup"},
    ]  # fmt: skip
    # An empty network namespace gets `lo` up from runc itself (specconv adds a loopback network).
    if not opts.host_network:
        namespaces.append({"type": "network", "path": opts.netns_path} if opts.netns_path else {"type": "network"})

    linux: dict[str, Any] = {
        "namespaces": namespaces,
        "resources": _resources(opts),
        "maskedPaths": [] if opts.privileged else list(opts.masked_paths if opts.masked_paths is not None else MASKED_PATHS),
        "readonlyPaths": [] if opts.privileged else list(opts.readonly_paths if opts.readonly_paths is not None else READONLY_PATHS),
    }
    if opts.cgroups_path:
        linux["cgroupsPath"] = opts.cgroups_path
    if opts.privileged:
        linux["devices"] = host_devices()
    elif opts.devices:
        linux["devices"] = [d for d, _ in _user_devices(opts.devices)]
    if opts.sysctls:
        linux["sysctl"] = {str(k): str(v) for k, v in opts.sysctls.items()}
    if opts.seccomp is not None and not opts.privileged:
        linux["seccomp"] = opts.seccomp

    spec: dict[str, Any] = {
        "ociVersion": OCI_VERSION,
        "process": process,
        "root": {"path": opts.rootfs, "readonly": opts.readonly_rootfs},
        "mounts": _mounts(opts),
        "linux": linux,
    }
    if opts.hostname:
        spec["hostname"] = opts.hostname
    if opts.labels:
        spec["annotations"] = {str(k): str(v) for k, v in opts.labels.items()}
    return spec


def _env(opts: SpecOptions, home: str) -> list[str]:
    """Docker adds PATH, HOSTNAME, HOME (and TERM with a tty) when the image did not set them."""
    env = list(opts.env)
    keys = {e.split("=", 1)[0] for e in env}
    extra = []
    if "PATH" not in keys:
        extra.append(f"PATH={DEFAULT_PATH}")
    if opts.hostname and "HOSTNAME" not in keys:
        extra.append(f"HOSTNAME={opts.hostname}")
    if opts.tty and "TERM" not in keys:
        extra.append("TERM=xterm")
    if "HOME" not in keys:
        extra.append(f"HOME={home}")
    return extra + env


def host_hard_limit(kind: int) -> int:
    """This process's hard limit (infinity as 2**64-1, as the OCI spec writes it)."""
    hard = resource.getrlimit(kind)[1]
    return _MAX_U64 if hard == resource.RLIM_INFINITY else hard


def build_rlimits(ulimits: list[dict]) -> list[dict[str, Any]]:
    """Docker's ``--ulimit`` entries plus a default nofile, each clamped to the host hard limit."""
    by_name: dict[str, tuple[int, int]] = {}
    for u in ulimits:
        name = str(u.get("Name", "")).lower()
        if name not in RLIMITS:
            raise InvalidArgument(f"invalid ulimit type: {u.get('Name')!r}")
        try:
            soft, hard = int(u.get("Soft", 0)), int(u.get("Hard", 0))
        except (TypeError, ValueError) as e:
            raise InvalidArgument(f"invalid ulimit value for {name}") from e
        if soft == -1:
            soft = _MAX_U64
        if hard == -1:
            hard = _MAX_U64  # "unlimited": as much as this host allows
        if soft < 0 or hard < 0:
            raise InvalidArgument(f"invalid ulimit value for {name}: must not be negative")
        if soft > hard:
            raise InvalidArgument(f"ulimit soft limit must be less than or equal to hard limit: {soft} > {hard}")
        by_name[name] = (soft, hard)
    asked = set(by_name)
    if "nofile" not in by_name:
        by_name["nofile"] = (DEFAULT_NOFILE, DEFAULT_NOFILE)
    out = []
    for name, (soft, hard) in by_name.items():
        cap = host_hard_limit(RLIMITS[name])
        if name in asked and cap < hard < _MAX_U64:
            raise InvalidArgument(f"ulimit {name}: hard limit {hard} is above this host's hard "
                                  f"limit {cap}")
        hard = min(hard, cap)
        out.append({"type": "RLIMIT_" + name.upper(), "hard": hard, "soft": min(soft, hard)})
    return out


def _resources(opts: SpecOptions) -> dict[str, Any]:
    if opts.privileged:
        devices = [{"allow": True, "access": "rwm"}]
    else:
        devices = default_device_rules() + [rule for _, rule in _user_devices(opts.devices)]
    res: dict[str, Any] = {"devices": devices}
    for name, val in (("memory", opts.memory), ("memory_swap", opts.memory_swap),
                      ("nano_cpus", opts.nano_cpus), ("cpu_shares", opts.cpu_shares)):  # fmt: skip
        if val < -1 or (val == -1 and name != "memory_swap"):
            raise InvalidArgument(f"invalid {name.replace('_', ' ')}: {val}")
    mem: dict[str, int] = {}
    if opts.memory:
        if opts.memory < 6 * 1024 * 1024:
            raise InvalidArgument("Minimum memory limit allowed is 6MB")
        mem["limit"] = opts.memory
        if opts.memory_swap > 0 and opts.memory_swap < opts.memory:
            raise InvalidArgument("Minimum memoryswap limit should be larger than memory limit, see usage")
        if has_swap_accounting():  # else docker drops the swap limit with a warning
            if opts.memory_swap > 0:
                mem["swap"] = opts.memory_swap
            elif opts.memory_swap == 0:
                mem["swap"] = 2 * opts.memory  # docker: unset swap means as much swap as memory
            # -1: unlimited swap, leave unset
    elif opts.memory_swap > 0:
        raise InvalidArgument("You should always set the Memory limit when using Memoryswap limit")
    if opts.memory_reservation < 0:
        raise InvalidArgument(f"invalid memory reservation: {opts.memory_reservation}")
    if opts.memory_reservation:
        if opts.memory and opts.memory_reservation > opts.memory:
            raise InvalidArgument("Minimum memory limit can not be less than memory reservation "
                                  "limit, see usage")
        mem["reservation"] = opts.memory_reservation
    if mem:
        res["memory"] = mem
    cpu: dict[str, Any] = {}
    if opts.cpu_shares:
        cpu["shares"] = opts.cpu_shares
    if opts.cpuset_cpus:
        cpu["cpus"] = check_cpuset(opts.cpuset_cpus)
    if opts.nano_cpus:
        period = 100000
        quota = opts.nano_cpus * period // 1_000_000_000
        if quota < 1000:
            raise InvalidArgument("Range of CPUs is from 0.01 to the number of CPUs available")
        cpu["period"] = period
        cpu["quota"] = quota
    if cpu:
        res["cpu"] = cpu
    if opts.pids_limit:
        res["pids"] = {"limit": -1 if opts.pids_limit < 0 else opts.pids_limit}
    return res


def check_cpuset(text: str, online: str | None = None) -> str:
    """``0-1,3`` style lists, each CPU present on this host (as Docker checks)."""
    if online is None:
        try:
            with open("/sys/devices/system/cpu/online") as f:
                online = f.read().strip()
        except OSError:
            online = ""
    have = _cpu_list(online, "") if online else None
    want = _cpu_list(text, text)
    if have is not None and not want <= have:
        raise InvalidArgument(f"Requested CPUs are not available - requested {text}, available: {online}")
    return text


def _cpu_list(text: str, raw: str) -> set[int]:
    cpus: set[int] = set()
    for part in text.split(","):
        lo, dash, hi = part.strip().partition("-")
        if not lo.isdigit() or (dash and not hi.isdigit()):
            raise InvalidArgument(f"Invalid value {raw} for cpuset cpus")
        a, b = int(lo), int(hi) if dash else int(lo)
        if b < a or b > 4096:
            raise InvalidArgument(f"Invalid value {raw} for cpuset cpus")
        cpus.update(range(a, b + 1))
    return cpus


def _user_devices(devices: list[dict]) -> list[tuple[dict[str, Any], dict[str, Any]]]:
    """HostConfig.Devices → (linux.devices node, device cgroup rule) pairs."""
    out = []
    for d in devices:
        host = str(d.get("PathOnHost") or "")
        inside = str(d.get("PathInContainer") or host)
        perms = str(d.get("CgroupPermissions") or "rwm")
        if not host.startswith("/") or not inside.startswith("/") or not perms or set(perms) - set("rwm"):
            raise InvalidArgument(f"invalid device mapping: {host}:{inside}:{perms}")
        try:
            st = os.stat(host)
        except OSError as e:
            raise InvalidArgument(f"error gathering device information while adding custom "
                                  f"device \"{host}\": {e.strerror.lower()}") from None
        if stat.S_ISCHR(st.st_mode):
            kind = "c"
        elif stat.S_ISBLK(st.st_mode):
            kind = "b"
        else:
            raise InvalidArgument(f"error gathering device information while adding custom "
                                  f"device \"{host}\": not a device node")
        major, minor = os.major(st.st_rdev), os.minor(st.st_rdev)
        node = {"path": inside, "type": kind, "major": major, "minor": minor,
                "fileMode": stat.S_IMODE(st.st_mode), "uid": st.st_uid, "gid": st.st_gid}
        rule = {"allow": True, "type": kind, "major": major, "minor": minor, "access": perms}
        out.append((node, rule))
    return out


def resources(opts: SpecOptions) -> dict[str, Any]:
    """The OCI ``linux.resources`` for ``opts`` (validated): what ``update`` applies live."""
    return _resources(opts)


def default_device_rules() -> list[dict[str, Any]]:
    """Docker's device cgroup: deny all, allow mknod, the standard nodes, ptys and tun."""
    def c(major: int | None, minor: int | None, access: str = "rwm", kind: str = "c") -> dict:
        rule: dict[str, Any] = {"allow": True, "type": kind, "access": access}
        if major is not None:
            rule["major"] = major
        if minor is not None:
            rule["minor"] = minor
        return rule

    return [
        {"allow": False, "access": "rwm"},
        c(None, None, "m"), c(None, None, "m", "b"),
        c(1, 3), c(1, 8), c(1, 7), c(5, 0), c(1, 5), c(1, 9),
        c(136, None), c(5, 2), c(10, 200),
    ]  # fmt: skip


def host_devices(root: str = "/dev") -> list[dict[str, Any]]:
    """Every host device node, for --privileged (Docker hands them all over)."""
    out: list[dict[str, Any]] = []
    skip = {"/dev/pts", "/dev/shm", "/dev/mqueue", "/dev/console", "/dev/ptmx", "/dev/fd"}
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames[:] = [d for d in dirnames if os.path.join(dirpath, d) not in skip]
        for name in filenames:
            path = os.path.join(dirpath, name)
            if path in skip:
                continue
            try:
                st = os.lstat(path)
            except OSError:
                continue
            if stat.S_ISCHR(st.st_mode):
                kind = "c"
            elif stat.S_ISBLK(st.st_mode):
                kind = "b"
            else:
                continue
            out.append({
                "path": path, "type": kind, "major": os.major(st.st_rdev),
                "minor": os.minor(st.st_rdev), "fileMode": stat.S_IMODE(st.st_mode),
                "uid": st.st_uid, "gid": st.st_gid,
            })  # fmt: skip
    return out


def _mounts(opts: SpecOptions) -> list[dict[str, Any]]:
    if opts.shm_size < 0:
        raise InvalidArgument("SHM size can not be less than 0")
    ro_sys = [] if opts.privileged else ["ro"]
    mounts: list[dict[str, Any]] = [
        {"destination": "/proc", "type": "proc", "source": "proc",
         "options": ["nosuid", "noexec", "nodev"]},
        {"destination": "/dev", "type": "tmpfs", "source": "tmpfs",
         "options": ["nosuid", "strictatime", "mode=755", "size=65536k"]},
        {"destination": "/dev/pts", "type": "devpts", "source": "devpts",
         "options": ["nosuid", "noexec", "newinstance", "ptmxmode=0666", "mode=0620", "gid=5"]},
        {"destination": "/sys", "type": "sysfs", "source": "sysfs",
         "options": ["nosuid", "noexec", "nodev", *ro_sys]},
        {"destination": "/sys/fs/cgroup", "type": "cgroup", "source": "cgroup",
         "options": ["nosuid", "noexec", "nodev", "relatime", *(ro_sys or ["rw"])]},
        {"destination": "/dev/mqueue", "type": "mqueue", "source": "mqueue",
         "options": ["nosuid", "noexec", "nodev"]},
        {"destination": "/dev/shm", "type": "tmpfs", "source": "shm",
         "options": ["nosuid", "noexec", "nodev", "mode=1777", f"size={opts.shm_size or DEFAULT_SHM}"]},
    ]  # fmt: skip
    # A user mount on the same destination replaces the default one, as in Docker.
    dests = {m.get("destination") for m in opts.extra_mounts} | set(opts.tmpfs)
    for m in opts.extra_mounts:
        if not isinstance(m, dict) or not str(m.get("destination", "")).startswith("/"):
            raise InvalidArgument(f"invalid mount: {m!r}")
    tmpfs = [{"destination": str(dest), "type": "tmpfs", "source": "tmpfs",
              "options": tmpfs_options(str(dest), str(options or ""))}
             for dest, options in opts.tmpfs.items()]
    return ([m for m in mounts if m["destination"] not in dests] + tmpfs
            + [dict(m) for m in opts.extra_mounts])


_TMPFS_FLAGS = {"ro", "rw", "exec", "noexec", "suid", "nosuid", "dev", "nodev", "atime",
                "noatime", "relatime", "strictatime", "nodiratime", "diratime"}
_TMPFS_DATA = {"size", "mode", "uid", "gid", "nr_inodes", "nr_blocks", "mpol"}


def tmpfs_options(dest: str, options: str) -> list[str]:
    """Docker's ``--tmpfs /run:size=64m,mode=1777``: noexec,nosuid,nodev unless overridden."""
    if not dest.startswith("/") or dest == "/":
        raise InvalidArgument(f"invalid tmpfs mount destination: {dest!r}")
    out = ["nosuid", "nodev", "noexec"]
    for opt in filter(None, (o.strip() for o in options.split(","))):
        key, eq, value = opt.partition("=")
        if eq and key in _TMPFS_DATA and value and all(ch.isalnum() or ch in ":-." for ch in value):
            out.append(opt)
        elif not eq and key in _TMPFS_FLAGS:
            opposite = key[2:] if key.startswith("no") else "no" + key
            out = [o for o in out if o != opposite]
            out.append(key)
        else:
            raise InvalidArgument(f"invalid tmpfs option {opt!r} for {dest}")
    return out
