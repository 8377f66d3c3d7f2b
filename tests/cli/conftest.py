"""CLI integration tests run the real ``dockyard`` CLI (a subprocess) against a daemon.

``cli_host`` is the session daemon of tests/conftest.py (``dockyard_host``), or, to check API
compatibility with Docker itself, any daemon named by DOCKYARD_TEST_HOST (e.g. a private
dockerd: ``DOCKYARD_TEST_HOST=unix:///tmp/d/docker.sock``).
"""

import os
import subprocess
import sys
import uuid

import pytest


@pytest.fixture(scope="session")
def cli_host(request) -> str:
    return os.environ.get("DOCKYARD_TEST_HOST") or request.getfixturevalue("dockyard_host")


class CLI:
    def __init__(self, host: str):
        self.host = host
        self.created: list[str] = []
        self.tags: list[str] = []

    def __call__(self, *args: str, input: bytes | None = None,
                 timeout: float = 60) -> subprocess.CompletedProcess:
        env = dict(os.environ, DOCKYARD_NO_AUTOSTART="1")
        return subprocess.run([sys.executable, "-m", "dockyard.cli.main", "-H", self.host, *args],
                              input=input, capture_output=True, timeout=timeout, env=env,
                              text=input is None)

    def ok(self, *args: str, **kw) -> str:
        r = self(*args, **kw)
        assert r.returncode == 0, (args, r.returncode, r.stderr)
        return r.stdout

    def name(self) -> str:
        name = "cli-" + uuid.uuid4().hex[:10]
        self.created.append(name)
        return name


@pytest.fixture
def cli(cli_host):
    c = CLI(cli_host)
    try:
        yield c
    finally:
        if c.created:
            c("rm", "-f", *c.created)
        if c.tags:
            c("rmi", "-f", *c.tags)
