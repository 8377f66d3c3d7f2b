"""Resource use of a container from its cgroup (v1 files; v2 where the names differ), in the
shape of Docker's stats JSON, and the OOM-kill counter that tells an OOM death apart."""

from __future__ import annotations

import os
import time

from .cgroups import controller_dir, is_v2

_CLK_TCK = os.sysconf("SC_CLK_TCK")
_NCPU = os.cpu_count() or 1


def _read(path: str) -> str | None:
    try:
        with open(path) as f:
            return f.read()
    except OSError:
        return None


def _int(path: str) -> int:
    text = _read(path)
    try:
        return int(text.split()[0]) if text else 0
    except (ValueError, IndexError):
        return 0


def _kv(path: str) -> dict[str, int]:
    out: dict[str, int] = {}
    for line in (_read(path) or "").splitlines():
        parts = line.split()
        if len(parts) == 2 and parts[1].lstrip("-").isdigit():
            out[parts[0]] = int(parts[1])
    return out


def oom_killed(cgroup_path: str) -> bool:
    """Whether the kernel's OOM killer killed a process of this cgroup (memory.oom_control's
    ``oom_kill``, v2 memory.events)."""
    d = controller_dir("memory", cgroup_path)
    if is_v2():
        return _kv(os.path.join(d, "memory.events")).get("oom_kill", 0) > 0
    return _kv(os.path.join(d, "memory.oom_control")).get("oom_kill", 0) > 0


def system_cpu_ns() -> int:
    """Host CPU time (all CPUs) in ns, from /proc/stat, as Docker's system_cpu_usage."""
    line = (_read("/proc/stat") or "").split("\n", 1)[0].split()
    try:
        ticks = sum(int(x) for x in line[1:8])
    except ValueError:
        return 0
    return ticks * 1_000_000_000 // _CLK_TCK


def host_memory() -> int:
    for line in (_read("/proc/meminfo") or "").splitlines():
        if line.startswith("MemTotal:"):
            return int(line.split()[1]) * 1024
    return 0


def sample(cgroup_path: str) -> dict:
    """One reading: cpu_stats, memory_stats, pids_stats, blkio_stats (Docker's field names)."""
    cpu_dir = controller_dir("cpuacct", cgroup_path)
    mem_dir = controller_dir("memory", cgroup_path)
    pids_dir = controller_dir("pids", cgroup_path)
    if is_v2():
        cpu = _kv(os.path.join(cpu_dir, "cpu.stat"))
        total = cpu.get("usage_usec", 0) * 1000
        user, kernel = cpu.get("user_usec", 0) * 1000, cpu.get("system_usec", 0) * 1000
        percpu: list[int] = []
        usage = _int(os.path.join(mem_dir, "memory.current"))
        raw_limit = (_read(os.path.join(mem_dir, "memory.max")) or "max").strip()
        limit = int(raw_limit) if raw_limit.isdigit() else 0
        max_usage = 0
        mstats = _kv(os.path.join(mem_dir, "memory.stat"))
    else:
        total = _int(os.path.join(cpu_dir, "cpuacct.usage"))
        percpu = [int(x) for x in (_read(os.path.join(cpu_dir, "cpuacct.usage_percpu"))
                                   or "").split() if x.isdigit()]
        ua = _kv(os.path.join(cpu_dir, "cpuacct.stat"))
        tick = 1_000_000_000 // _CLK_TCK
        user, kernel = ua.get("user", 0) * tick, ua.get("system", 0) * tick
        usage = _int(os.path.join(mem_dir, "memory.usage_in_bytes"))
        limit = _int(os.path.join(mem_dir, "memory.limit_in_bytes"))
        max_usage = _int(os.path.join(mem_dir, "memory.max_usage_in_bytes"))
        mstats = _kv(os.path.join(mem_dir, "memory.stat"))
    host_mem = host_memory()
    if not limit or (host_mem and limit > host_mem):
        limit = host_mem
    raw_pids_max = (_read(os.path.join(pids_dir, "pids.max")) or "max").strip()
    return {
        "read": time.time(),
        "cpu_stats": {
            "cpu_usage": {"total_usage": total, "percpu_usage": percpu or None,
                          "usage_in_kernelmode": kernel, "usage_in_usermode": user},
            "system_cpu_usage": system_cpu_ns(),
            "online_cpus": _NCPU,
            "throttling_data": {"periods": 0, "throttled_periods": 0, "throttled_time": 0},
        },
        "memory_stats": {"usage": usage, "max_usage": max_usage, "stats": mstats,
                         "limit": limit},
        "pids_stats": {"current": _int(os.path.join(pids_dir, "pids.current")),
                       **({"limit": int(raw_pids_max)} if raw_pids_max.isdigit() else {})},
        "blkio_stats": _blkio(controller_dir("blkio", cgroup_path)),
    }


def _blkio(d: str) -> dict:
    entries = []
    for line in (_read(os.path.join(d, "blkio.throttle.io_service_bytes")) or "").splitlines():
        parts = line.split()
        if len(parts) == 3 and parts[1] in ("Read", "Write") and ":" in parts[0]:
            major, minor = parts[0].split(":")
            entries.append({"major": int(major), "minor": int(minor), "op": parts[1].lower(),
                            "value": int(parts[2])})
    return {"io_service_bytes_recursive": entries or None, "io_serviced_recursive": None,
            "io_queue_recursive": None, "io_service_time_recursive": None,
            "io_wait_time_recursive": None, "io_merged_recursive": None,
            "io_time_recursive": None, "sectors_recursive": None}
