"""Fixtures of the pull/push tests; the helpers live in distkit.py."""

from __future__ import annotations

import shutil
import tempfile

import pytest
from distkit import (
    Client,
    DockerRegistry,
    DockyardRegistry,
    OptionDaemon,
    Proxy,
    Server,
    make_client,
)


@pytest.fixture
def workdir():
    d = tempfile.mkdtemp(prefix="dist-test-")
    yield d
    shutil.rmtree(d, ignore_errors=True)


@pytest.fixture
def servers(workdir):
    made: list[Server] = []

    def make(kind: type[Server]) -> Server:
        s = kind(tempfile.mkdtemp(dir=workdir))
        made.append(s)
        return s

    yield make
    for s in made:
        s.stop()


@pytest.fixture
def docker_registry(servers) -> DockerRegistry:
    return servers(DockerRegistry).start()


@pytest.fixture
def dockyard_registry(servers) -> DockyardRegistry:
    return servers(DockyardRegistry).start()


@pytest.fixture
def make_proxy():
    made: list[Proxy] = []

    def make(upstream_port: int) -> Proxy:
        made.append(Proxy(upstream_port))
        return made[-1]

    yield make
    for p in made:
        p.close()


@pytest.fixture
def dy(daemon, workdir) -> Client:
    return make_client("dockyard", daemon, workdir)


@pytest.fixture
def option_daemon():
    made: list[OptionDaemon] = []

    def make(*extra: str) -> OptionDaemon:
        d = OptionDaemon(list(extra))
        made.append(d)
        d.start()
        return d

    yield make
    for d in made:
        d.teardown()
