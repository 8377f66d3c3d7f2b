"""The same checks from the dockyard CLI and the real docker CLIs: a `cli` fixture that runs
each test once per client, `names` for containers removed afterwards, and small helpers.
Shared by the conftest.py of tests/cp, tests/health and tests/logs."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
import uuid

import pytest

DOCKERS = [p for p in ("/usr/bin/docker", "/usr/local/bin/docker") if os.path.exists(p)]


class CLI:
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


def _version(path: str) -> str:
    out = subprocess.run([path, "--version"], capture_output=True, text=True).stdout
    return out.split()[2].rstrip(",")


def make_cli(param: str, daemon) -> tuple[CLI, str]:
    cfg = tempfile.mkdtemp(prefix="dockercfg-")
    env = dict(os.environ, DOCKER_CONFIG=cfg, DOCKER_CLI_HINTS="false",
               DOCKYARD_NO_AUTOSTART="1", TERM="xterm")
    env.pop("DOCKER_HOST", None)
    if param == "dockyard":
        argv = [os.path.join(os.path.dirname(sys.executable), "dockyard"), "-H", daemon.host]
        name = "dockyard"
    else:
        argv = [param, "-H", daemon.host]
        name = f"docker-{_version(param)}"
    return CLI(name, argv, env), cfg


@pytest.fixture(params=["dockyard", *DOCKERS],
                ids=lambda p: "dockyard" if p == "dockyard" else f"docker-{_version(p)}")
def cli(request, daemon):
    c, cfg = make_cli(request.param, daemon)
    yield c
    shutil.rmtree(cfg, ignore_errors=True)


@pytest.fixture
def names(daemon):
    made: list[str] = []

    def make() -> str:
        made.append("mc-" + uuid.uuid4().hex[:10])
        return made[-1]

    yield make
    for n in made:
        daemon.cli("rm", "-f", n)


def inspect(daemon, name: str) -> dict:
    r = daemon.cli("inspect", name)
    assert r.returncode == 0, r.stderr
    return json.loads(r.stdout)[0]


def until(predicate, timeout: float = 20.0, what: str = "condition"):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.05)
    pytest.fail(f"{what} not reached in {timeout}s")
