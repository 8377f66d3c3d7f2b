"""How long `true` takes through conmon + runc, step by step, versus a bare `runc run`.

Run as root: ``.venv/bin/python benchmarks/runtime_bench.py [-n 20]``. Prints the median and
p90 in milliseconds of each step. Wait-for-exit uses the exit directory's inotify watch, as the
daemon does; nothing sleeps.
"""

from __future__ import annotations

import argparse
import json
import os
import secrets
import select
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "src"))
sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "tests", "runtime"))

from conftest import make_rootfs  # noqa: E402
from dockyard.runtime.cgroups import remove_tree  # noqa: E402
from dockyard.runtime.oci import ContainerRuntime  # noqa: E402
from dockyard.runtime.spec import SpecOptions, build_spec  # noqa: E402
from dockyard.sys import inotify  # noqa: E402


def wait_exit_file(ino: inotify.Inotify, exit_dir: str, cid: str) -> None:
    path = os.path.join(exit_dir, cid)
    while not os.path.exists(path):
        select.select([ino.fileno()], [], [], 10)
        ino.read()


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("-n", type=int, default=20)
    n = ap.parse_args().n
    work = tempfile.mkdtemp(prefix="dybench-")
    parent = "dockyard-bench-" + secrets.token_hex(3)
    try:
        rootfs = make_rootfs(os.path.join(work, "rootfs"))
        results: dict[str, list[float]] = {}

        def rec(name: str, dt: float) -> None:
            results.setdefault(name, []).append(dt * 1000)

        # 1. bare `runc run` (foreground, no monitor, no logs)
        bundle = os.path.join(work, "bare")
        os.makedirs(bundle)
        for i in range(n):
            cid = f"bare{i}"
            spec = build_spec(SpecOptions(rootfs=rootfs, args=["true"], env=[], cgroups_path=f"/{parent}/{cid}"))
            with open(os.path.join(bundle, "config.json"), "w") as f:
                json.dump(spec, f)
            t = time.perf_counter()
            subprocess.run(["runc", "--root", os.path.join(work, "bareroot"), "run", "--bundle", bundle, cid],
                           check=True, stdin=subprocess.DEVNULL)  # fmt: skip
            rec("bare runc run (create+start+wait+delete)", time.perf_counter() - t)

        for fast in (True, False):
            rt = ContainerRuntime(os.path.join(work, f"x{int(fast)}"), fast_start=fast)
            ino = inotify.Inotify()
            ino.add_watch(rt.exit_dir(), inotify.IN_MOVED_TO)
            label = "fifo" if fast else "runc start"
            for i in range(n):
                cid = f"c{int(fast)}{i}"
                t0 = time.perf_counter()
                spec = build_spec(SpecOptions(rootfs=rootfs, args=["true"], env=[], cgroups_path=f"/{parent}/{cid}"))
                t1 = time.perf_counter()
                rt.create(cid, spec, os.path.join(work, "logs", cid))
                t2 = time.perf_counter()
                rt.start(cid)
                t3 = time.perf_counter()
                wait_exit_file(ino, rt.exit_dir(), cid)
                t4 = time.perf_counter()
                rt.read_exit(cid)
                rt.delete(cid)
                t5 = time.perf_counter()
                rec("build_spec", t1 - t0)
                rec("create (conmon -> runc create -> sync pipe)", t2 - t1)
                rec(f"start ({label})", t3 - t2)
                rec(f"start->exit file [{label}]", t4 - t3)
                rec("delete (runc delete + files)", t5 - t4)
                rec(f"TOTAL conmon path [{label}]", t5 - t0)
            ino.close()

        _exec_steps(work, rootfs, parent, n, rec)

        width = max(map(len, results))
        print(f"{'step':<{width}}  median ms   p90 ms   (n={n})")
        for name, vals in results.items():
            vals.sort()
            p90 = vals[min(len(vals) - 1, int(len(vals) * 0.9))]
            print(f"{name:<{width}}  {statistics.median(vals):8.1f}  {p90:8.1f}")
    finally:
        remove_tree(parent)
        shutil.rmtree(work, ignore_errors=True)


def _exec_steps(work: str, rootfs: str, parent: str, n: int, rec) -> None:
    """``runc exec true`` into a running container: without a filter and with the default
    allow list (libseccomp compiles it in every exec), each with and without the cgroup
    grace period started ahead (runtime/cgwarm.py); and the conmon's memory."""
    import threading

    from dockyard.runtime import cgwarm
    from dockyard.runtime.caps import effective_caps
    from dockyard.runtime.seccomp import default_profile

    rt = ContainerRuntime(os.path.join(work, "xe"))
    caps = list(effective_caps([], [], False))
    ids = {}
    for label, seccomp in (("no filter", None), ("allow list", default_profile(caps))):
        cid = "e" + secrets.token_hex(4)
        spec = build_spec(SpecOptions(rootfs=rootfs, args=["sleep", "1000"], env=[],
                                      cgroups_path=f"/{parent}/{cid}", seccomp=seccomp))
        rt.create(cid, spec, os.path.join(work, "logs", cid))
        rt.start(cid)
        ids[label] = cid
    try:
        for _ in range(n):
            for label, cid in ids.items():
                for warm in (False, True):
                    time.sleep(0.05)  # let a previous grace period end
                    t = time.perf_counter()
                    if warm:
                        cgwarm.warm()
                    subprocess.run([rt.runtime_path, "--root", rt.runtime_root, "exec", cid, "true"],
                                   check=True, stdin=subprocess.DEVNULL)  # fmt: skip
                    rec(f"runc exec true [{label}{', cgroup warmed' if warm else ''}]",
                        time.perf_counter() - t)
                    while any(t.name == "cgroup-warm" for t in threading.enumerate()):
                        time.sleep(0.001)
        for label, cid in ids.items():
            with open(f"/proc/{rt.conmon_pid(cid)}/smaps_rollup") as f:
                kb = {k: int(v.split()[0]) for k, _, v in (ln.partition(":") for ln in f)
                      if k in ("Rss", "Pss")}
            rec(f"conmon RSS KiB [{label}]", kb["Rss"] / 1000)
            rec(f"conmon PSS KiB [{label}]", kb["Pss"] / 1000)
    finally:
        for cid in ids.values():
            rt.delete(cid, force=True)


if __name__ == "__main__":
    main()
