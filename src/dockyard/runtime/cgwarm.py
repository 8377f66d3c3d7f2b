"""Start the kernel's cgroup-migration grace period while ``runc exec`` is still starting.

Every process that joins a cgroup (``runc exec`` writes the new process's pid into the
container's ``cgroup.procs``) takes the kernel's global ``cgroup_threadgroup_rwsem`` for
writing. Unless a writer held it moments ago, that first waits for a full RCU grace period
(about 10 ms here, more than half of a ``runc exec``). Later writers that arrive while a
grace period is under way, or shortly after one, wait only for what is left of it.

So when an exec starts, a background thread writes "0" (the writer itself, already there: no
process moves) into the daemon's own ``cgroup.procs``. The grace period then runs during the
few milliseconds runc needs to start its Go runtime and read the container's state, and its
own cgroup writes find the lock ready. Nothing depends on this: if the write fails, runc
simply waits as it would have.
"""

from __future__ import annotations

import os
import threading

_CGROUP_ROOT = "/sys/fs/cgroup"
_busy = threading.Lock()


def _own_procs_file() -> str | None:
    """``cgroup.procs`` of the cgroup this process is in, in any mounted hierarchy."""
    try:
        with open("/proc/self/cgroup") as f:
            lines = f.read().splitlines()
    except OSError:
        return None
    for line in lines:
        _hid, controllers, path = line.split(":", 2)
        if controllers:  # v1: the directory is named after its first controller
            name = controllers.split(",")[0].removeprefix("name=")
            candidates = (os.path.join(_CGROUP_ROOT, name),)
        else:  # the v2 hierarchy, alone or beside v1 ones (hybrid)
            candidates = (os.path.join(_CGROUP_ROOT, "unified"), _CGROUP_ROOT)
        for top in candidates:
            procs = os.path.join(top, path.lstrip("/"), "cgroup.procs")
            if os.path.exists(procs):
                return procs
    return None


def _write_self() -> None:
    try:
        procs = _own_procs_file()
        if procs:
            fd = os.open(procs, os.O_WRONLY | os.O_CLOEXEC)
            try:
                os.write(fd, b"0")
            finally:
                os.close(fd)
    except OSError:
        pass
    finally:
        _busy.release()


def warm() -> None:
    """Start a grace period now, in the background (one at a time; extra calls are no-ops)."""
    if not _busy.acquire(blocking=False):
        return
    try:
        threading.Thread(target=_write_self, name="cgroup-warm", daemon=True).start()
    except RuntimeError:
        _busy.release()
