"""Fixtures for container tests: the same checks from the dockyard CLI and the real docker CLIs."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
import uuid

import pytest

sys.path.insert(0, os.path.dirname(__file__))

DOCKERS = [p for p in ("/usr/bin/docker", "/usr/local/bin/docker") if os.path.exists(p)]


class CLI:
    """One client (dockyard or a docker binary) bound to the test daemon."""

    def __init__(self, name: str, argv: list[str], env: dict):
        self.name = name
        self.argv = argv
        self.env = env

    def __call__(self, *args: str, input: bytes | None = None,
                 timeout: float = 60) -> subprocess.CompletedProcess:
        return subprocess.run([*self.argv, *args], input=input, capture_output=True,
                              timeout=timeout, env=self.env)

    def ok(self, *args: str, input: bytes | None = None) -> str:
        r = self(*args, input=input)
        assert r.returncode == 0, (self.name, args, r.stdout, r.stderr)
        return r.stdout.decode()


@pytest.fixture(params=["dockyard", *DOCKERS],
                ids=lambda p: "dockyard" if p == "dockyard" else f"docker-{_version(p)}")
def cli(request, daemon):
    cfg = tempfile.mkdtemp(prefix="dockercfg-")
    env = dict(os.environ, DOCKER_CONFIG=cfg, DOCKER_CLI_HINTS="false",
               DOCKYARD_NO_AUTOSTART="1", TERM="xterm")
    env.pop("DOCKER_HOST", None)
    if request.param == "dockyard":
        argv = [os.path.join(os.path.dirname(sys.executable), "dockyard"), "-H", daemon.host]
    else:
        argv = [request.param, "-H", daemon.host]
    yield CLI(request.param if request.param == "dockyard" else f"docker-{_version(request.param)}",
              argv, env)
    shutil.rmtree(cfg, ignore_errors=True)


def _version(path: str) -> str:
    out = subprocess.run([path, "--version"], capture_output=True, text=True).stdout
    return out.split()[2].rstrip(",")


@pytest.fixture
def running(daemon):
    """A running busybox container (``sleep``), removed afterwards; yields its name."""
    name = "ct-" + uuid.uuid4().hex[:10]
    r = daemon.cli("run", "-d", "--name", name, "busybox", "sleep", "100000")
    assert r.returncode == 0, r.stderr
    try:
        yield name
    finally:
        daemon.cli("rm", "-f", name)
