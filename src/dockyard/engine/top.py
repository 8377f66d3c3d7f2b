"""``top``: the container's processes, found through its cgroup, shown by the host's ``ps``
with the user's ``ps`` arguments (as Docker does), keeping only the rows of those pids."""

from __future__ import annotations

import os
import shlex
import subprocess

from ..errors import InvalidArgument, RuntimeFailure

_CONTROLLERS = ("pids", "memory", "cpu", "freezer", "systemd")


def cgroup_pids(cgroup_path: str, root: str = "/sys/fs/cgroup") -> list[int]:
    """Pids in the container's cgroup (v1: any controller that has it; v2: the unified one)."""
    rel = cgroup_path.lstrip("/")
    candidates = [os.path.join(root, c, rel) for c in _CONTROLLERS] + [os.path.join(root, rel)]
    for d in candidates:
        procs = os.path.join(d, "cgroup.procs")
        try:
            with open(procs) as f:
                pids = {int(x) for x in f.read().split()}
        except (OSError, ValueError):
            continue
        # Nested cgroups (none by default) count too.
        for dirpath, _dirs, files in os.walk(d):
            if dirpath != d and "cgroup.procs" in files:
                try:
                    with open(os.path.join(dirpath, "cgroup.procs")) as f:
                        pids |= {int(x) for x in f.read().split()}
                except (OSError, ValueError):
                    pass
        return sorted(pids)
    return []


def top(pids: list[int], ps_args: str = "") -> dict:
    """Docker's ``{"Titles": [...], "Processes": [[...], ...]}``."""
    try:
        args = shlex.split(ps_args or "-ef")
    except ValueError as e:
        raise InvalidArgument(f"invalid ps arguments: {e}") from None
    try:
        res = subprocess.run(["ps", *args], capture_output=True, timeout=30,
                             stdin=subprocess.DEVNULL)
    except (OSError, subprocess.TimeoutExpired) as e:
        raise RuntimeFailure(f"running ps failed: {e}") from None
    if res.returncode != 0:
        msg = res.stderr.decode(errors="replace").strip()
        raise RuntimeFailure(f"ps: {msg or 'failed'}", exit_code=125)
    lines = res.stdout.decode(errors="replace").splitlines()
    if not lines:
        return {"Titles": [], "Processes": []}
    titles = lines[0].split()
    if "PID" not in titles:
        raise InvalidArgument("Couldn't find PID field in ps output")
    col = titles.index("PID")
    wanted = set(pids)
    procs = []
    for line in lines[1:]:
        fields = line.split(None, len(titles) - 1)
        if len(fields) <= col:
            continue
        try:
            pid = int(fields[col])
        except ValueError:
            continue
        if pid in wanted:
            procs.append(fields)
    return {"Titles": titles, "Processes": procs}
