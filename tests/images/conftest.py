"""Fixtures for end-to-end image tests against the session daemon."""

import json
import os
import shutil
import subprocess
import tempfile
import uuid

import pytest


class Runner:
    """``dockyard`` CLI calls that fail the test with the daemon's stderr on error."""

    def __init__(self, daemon):
        self.d = daemon
        self.made_containers: list[str] = []
        self.made_images: list[str] = []

    def __call__(self, *args, input=None, ok=True, timeout=120):
        r = self.d.cli(*args, input=input, timeout=timeout)
        if ok and r.returncode != 0:
            raise AssertionError(f"dockyard {' '.join(args)} failed ({r.returncode}): "
                                 f"{r.stderr.decode()}")
        return r

    def out(self, *args, **kw) -> str:
        return self(*args, **kw).stdout.decode()

    def name(self, prefix: str = "t") -> str:
        return f"{prefix}-{uuid.uuid4().hex[:8]}"

    def container(self, *run_args) -> str:
        name = self.name("c")
        self("run", "--name", name, *run_args)
        self.made_containers.append(name)
        return name

    def image_name(self, prefix: str = "img") -> str:
        n = f"{self.name(prefix)}:v1"
        self.made_images.append(n)
        return n

    def inspect(self, what: str) -> dict:
        return json.loads(self.out("inspect", what))[0]

    def store_state(self) -> tuple:
        """What the daemon has on disk: blobs, unpacked layers, image IDs."""
        root = self.d.root
        blobs = sorted(os.listdir(os.path.join(root, "content", "blobs", "sha256")))
        layers = sorted(os.listdir(os.path.join(root, "snapshots", "layers")))
        ids = sorted(self.out("images", "-a", "-q", "--no-trunc").split())
        return blobs, layers, ids

    def cleanup(self) -> None:
        for c in self.made_containers:
            self.d.cli("rm", "-f", c)
        for i in self.made_images:
            self.d.cli("rmi", "-f", i)


@pytest.fixture
def dy(daemon):
    r = Runner(daemon)
    try:
        yield r
    finally:
        r.cleanup()


@pytest.fixture
def podman_root():
    """A private podman store, removed with its mounts afterwards (short paths: podman
    refuses a runroot longer than 50 characters)."""
    if not shutil.which("podman"):
        pytest.fail("podman is not installed (scripts/install.sh --test installs it)")
    base = tempfile.mkdtemp(prefix="dypm-", dir="/tmp")
    root, runroot = os.path.join(base, "root"), os.path.join(base, "run")
    args = ["podman", "--root", str(root), "--runroot", str(runroot),
            "--storage-driver", "overlay", "--cgroup-manager", "cgroupfs",
            "--events-backend", "none"]
    try:
        yield args
    finally:
        subprocess.run([*args, "rm", "-af"], capture_output=True, timeout=60)
        subprocess.run([*args, "system", "reset", "-f"], capture_output=True, timeout=60)
        with open("/proc/self/mounts") as f:
            mounts = [ln.split()[1] for ln in f if ln.split()[1].startswith(base)]
        for m in sorted(mounts, key=len, reverse=True):
            subprocess.run(["umount", "-l", m], capture_output=True)
        shutil.rmtree(base, ignore_errors=True)
