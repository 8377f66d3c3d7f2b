"""Real runc + conmon fixtures: a busybox rootfs, a private cgroup parent, a private exec root.

Everything a test starts is torn down in finalizers, even when the test fails: runc state
(delete --force), conmon processes, cgroup directories, temp dirs.
"""

from __future__ import annotations

import os
import secrets
import shutil
import signal
import subprocess
import tempfile
from collections.abc import Iterator

import pytest

from dockyard.runtime.cgroups import cgroups_path, remove_tree
from dockyard.runtime.oci import ContainerRuntime
from dockyard.runtime.spec import SpecOptions, build_spec

BUSYBOX = shutil.which("busybox") or "/bin/busybox"
APPLETS = [
    "sh", "echo", "true", "false", "sleep", "cat", "hostname", "id", "ls", "ps", "touch",
    "printf", "ip", "grep", "wc", "head", "env", "kill",
]  # fmt: skip


def _need_root() -> None:
    if os.geteuid() != 0:
        pytest.skip("needs root (real runc)")


def make_rootfs(path: str) -> str:
    """A minimal busybox root: enough for sh, id, hostname, sleep, cat, ps."""
    for d in ("bin", "etc", "proc", "sys", "dev", "tmp", "root", "home/app"):
        os.makedirs(os.path.join(path, d), exist_ok=True)
    shutil.copy2(BUSYBOX, os.path.join(path, "bin/busybox"))
    for name in APPLETS:
        os.symlink("busybox", os.path.join(path, "bin", name))
    with open(os.path.join(path, "etc/passwd"), "w") as f:
        f.write("root:x:0:0:root:/root:/bin/sh\n"
                "app:x:1000:1000:app:/home/app:/bin/sh\n"
                "nobody:x:65534:65534:nobody:/nonexistent:/bin/false\n")  # fmt: skip
    with open(os.path.join(path, "etc/group"), "w") as f:
        f.write("root:x:0:\napp:x:1000:\nstaff:x:50:app\naudio:x:29:app,root\n"
                "nogroup:x:65534:\n")  # fmt: skip
    with open(os.path.join(path, "bin/notexec"), "w") as f:
        f.write("#!/bin/sh\necho hi\n")
    os.chmod(os.path.join(path, "bin/notexec"), 0o644)
    return path


@pytest.fixture(scope="session")
def rootfs() -> Iterator[str]:
    _need_root()
    d = tempfile.mkdtemp(prefix="dyrt-rootfs-")
    try:
        yield make_rootfs(os.path.join(d, "rootfs"))
    finally:
        shutil.rmtree(d, ignore_errors=True)


def _remove_cgroup_tree(name: str) -> None:
    remove_tree(name)


@pytest.fixture(scope="session")
def cgroup_parent() -> Iterator[str]:
    name = "dockyard-test-" + secrets.token_hex(4)
    try:
        yield name
    finally:
        _remove_cgroup_tree(name)


class Harness:
    """A ContainerRuntime on a private exec root plus helpers to run busybox commands."""

    def __init__(self, rootfs: str, cgroup_parent: str) -> None:
        self.dir = tempfile.mkdtemp(prefix="dyrt-")
        self.rt = ContainerRuntime(os.path.join(self.dir, "x"))
        self.rootfs = rootfs
        self.cgroup_parent = cgroup_parent
        self.ids: list[str] = []

    def new_id(self) -> str:
        cid = "t" + secrets.token_hex(6)
        self.ids.append(cid)
        return cid

    def log_path(self, cid: str) -> str:
        return os.path.join(self.dir, "logs", cid + ".log")

    def spec(self, cid: str, args: list[str], **kw) -> dict:
        kw.setdefault("env", [])
        kw.setdefault("cgroups_path", cgroups_path(cid, self.cgroup_parent))
        return build_spec(SpecOptions(rootfs=self.rootfs, args=args, **kw))

    def create(self, args: list[str], cid: str | None = None, tty: bool = False, **kw) -> tuple[str, int]:
        cid = cid or self.new_id()
        pid = self.rt.create(cid, self.spec(cid, args, tty=tty, **kw), self.log_path(cid), tty=tty)
        return cid, pid

    def run(self, args: list[str], **kw) -> tuple[str, int]:
        """create + start + wait; returns (cid, exit code)."""
        cid, _ = self.create(args, **kw)
        self.rt.start(cid)
        return cid, self.wait(cid)

    def wait(self, cid: str, timeout: float = 30) -> int:
        """Block until conmon has written the exit file."""
        res = self.rt.wait(cid, timeout)
        assert res is not None, f"container {cid} did not exit within {timeout}s"
        return res[0]

    def output(self, cid: str, stream: str | None = "stdout") -> str:
        from dockyard.runtime.logfile import read_log

        return "".join(
            line.decode() for s, _, line in read_log(self.log_path(cid)) if stream is None or s == stream
        )

    def cleanup(self) -> None:
        runc_root = self.rt.runtime_root
        for cid in set(self.ids) | set(self.rt.list_ids()):
            conmon = None
            try:
                conmon = self.rt.conmon_pid(cid)
            except Exception:
                pass
            subprocess.run([self.rt.runtime_path, "--root", runc_root, "delete", "--force", cid],
                           capture_output=True)  # fmt: skip
            if conmon:
                try:
                    os.kill(conmon, signal.SIGKILL)
                except ProcessLookupError:
                    pass
        shutil.rmtree(self.dir, ignore_errors=True)


@pytest.fixture
def h(rootfs: str, cgroup_parent: str) -> Iterator[Harness]:
    harness = Harness(rootfs, cgroup_parent)
    try:
        yield harness
    finally:
        harness.cleanup()
