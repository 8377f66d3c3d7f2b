"""Fixtures for the security and limits tests: each check from the dockyard CLI and from the
real docker CLIs (Debian's 20.10 and a current one), against the session's daemon."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
import uuid

import pytest

DOCKERS = [p for p in ("/usr/bin/docker", "/usr/local/bin/docker") if os.path.exists(p)]


def _version(path: str) -> str:
    out = subprocess.run([path, "--version"], capture_output=True, text=True).stdout
    return out.split()[2].rstrip(",")


class CLI:
    """One client bound to the test daemon; ``ok`` asserts success and returns stdout."""

    def __init__(self, name: str, argv: list[str], env: dict):
        self.name, self.argv, self.env = name, argv, env

    def __call__(self, *args: str, timeout: float = 60) -> subprocess.CompletedProcess:
        return subprocess.run([*self.argv, *args], capture_output=True, timeout=timeout,
                              env=self.env, stdin=subprocess.DEVNULL)

    def ok(self, *args: str) -> str:
        r = self(*args)
        assert r.returncode == 0, (self.name, args, r.stdout, r.stderr)
        return r.stdout.decode()


@pytest.fixture(params=["dockyard", *DOCKERS],
                ids=lambda p: "dockyard" if p == "dockyard" else f"docker-{_version(p)}")
def cli(request, daemon):
    cfg = tempfile.mkdtemp(prefix="dockercfg-")
    env = dict(os.environ, DOCKER_CONFIG=cfg, DOCKER_CLI_HINTS="false",
               DOCKYARD_NO_AUTOSTART="1")
    env.pop("DOCKER_HOST", None)
    if request.param == "dockyard":
        argv = [os.path.join(os.path.dirname(sys.executable), "dockyard"), "-H", daemon.host]
        name = "dockyard"
    else:
        argv = [request.param, "-H", daemon.host]
        name = f"docker-{_version(request.param)}"
    try:
        yield CLI(name, argv, env)
    finally:
        shutil.rmtree(cfg, ignore_errors=True)


@pytest.fixture
def names(daemon):
    """Unique container names, each removed (forced) after the test."""
    made: list[str] = []

    def make() -> str:
        made.append(f"sec-{uuid.uuid4().hex[:10]}")
        return made[-1]

    try:
        yield make
    finally:
        for n in made:
            daemon.cli("rm", "-f", n)
