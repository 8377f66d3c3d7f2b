"""Where containers' cgroups live (cgroupfs driver, cgroup v1 or v2) and how to clear a parent.

runc creates and removes each container's cgroup; the parent ("dockyard" for the daemon, a
random name per test run) is ours to name and, for tests, to remove afterwards.
"""

from __future__ import annotations

import os
import re

CGROUP_ROOT = "/sys/fs/cgroup"
DEFAULT_PARENT = "dockyard"
_NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")


def cgroups_path(cid: str, parent: str = DEFAULT_PARENT) -> str:
    """The OCI ``linux.cgroupsPath`` for a container: ``/<parent>/<cid>``."""
    parts = [p for p in parent.strip("/").split("/") if p]
    if not parts or not all(_NAME_RE.match(p) for p in parts) or not _NAME_RE.match(cid):
        raise ValueError(f"invalid cgroup parent or id: {parent!r} {cid!r}")
    return "/" + "/".join([*parts, cid])


def is_v2() -> bool:
    return os.path.exists(os.path.join(CGROUP_ROOT, "cgroup.controllers"))


def controller_dir(controller: str, path: str) -> str:
    """The directory of cgroup ``path`` for a v1 controller (v2: the unified directory)."""
    if is_v2():
        return os.path.join(CGROUP_ROOT, path.lstrip("/"))
    return os.path.join(CGROUP_ROOT, controller, path.lstrip("/"))


def has_swap_accounting() -> bool:
    """runc refuses a memory.swap limit when the kernel does not account swap."""
    if is_v2():
        return os.path.exists(os.path.join(CGROUP_ROOT, "memory.swap.max")) or any(
            os.path.exists(os.path.join(CGROUP_ROOT, d, "memory.swap.max"))
            for d in os.listdir(CGROUP_ROOT)
            if os.path.isdir(os.path.join(CGROUP_ROOT, d))
        )
    return os.path.exists(os.path.join(CGROUP_ROOT, "memory", "memory.memsw.limit_in_bytes"))


def remove_tree(parent: str) -> None:
    """rmdir ``parent`` and every cgroup below it in every hierarchy (deepest first). Cgroups
    that still hold processes stay; callers kill containers first."""
    parent = parent.strip("/")
    if not parent or not os.path.isdir(CGROUP_ROOT):
        return
    tops = [os.path.join(CGROUP_ROOT, parent)] if is_v2() else [
        os.path.join(CGROUP_ROOT, c, parent) for c in os.listdir(CGROUP_ROOT)
    ]  # fmt: skip
    for top in tops:
        if os.path.islink(top) or not os.path.isdir(top):
            continue
        dirs = [dp for dp, _, _ in os.walk(top)]
        for d in sorted(dirs, key=lambda p: -p.count("/")):
            try:
                os.rmdir(d)
            except OSError:
                pass
