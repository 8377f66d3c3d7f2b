"""Build tests: the session daemon (busybox imported), CLIs, and a scratch context maker."""

from __future__ import annotations

import os
import shutil
import sys
import tempfile
import uuid

import pytest

sys.path.insert(0, os.path.dirname(os.path.dirname(__file__)))

from multicli import DOCKERS, _version, make_cli  # noqa: E402


@pytest.fixture
def dy(daemon):
    """The dockyard CLI against the session daemon."""
    c, cfg = make_cli("dockyard", daemon)
    yield c
    shutil.rmtree(cfg, ignore_errors=True)


def _cli_id(p: str) -> str:
    return "dockyard" if p == "dockyard" else "docker-" + _version(p)


@pytest.fixture(params=["dockyard", *DOCKERS], ids=_cli_id)
def anycli(request, daemon):
    """dockyard, then each real docker CLI (20.10, 28) with its classic builder."""
    c, cfg = make_cli(request.param, daemon)
    c.env["DOCKER_BUILDKIT"] = "0"
    yield c
    shutil.rmtree(cfg, ignore_errors=True)


@pytest.fixture
def ctx():
    """Make a context directory from {relative path: text or bytes}."""
    made: list[str] = []

    def make(files: dict[str, str | bytes]) -> str:
        d = tempfile.mkdtemp(prefix="dockyard-ctx-")
        made.append(d)
        for rel, data in files.items():
            path = os.path.join(d, rel)
            os.makedirs(os.path.dirname(path), exist_ok=True)
            with open(path, "wb") as f:
                f.write(data.encode() if isinstance(data, str) else data)
        return d

    yield make
    for d in made:
        shutil.rmtree(d, ignore_errors=True)


@pytest.fixture
def tags(daemon):
    """Unique image names, removed (with their images) after the test."""
    made: list[str] = []

    def make(prefix: str = "bt") -> str:
        made.append(f"{prefix}-{uuid.uuid4().hex[:8]}:latest")
        return made[-1]

    yield make
    if made:
        daemon.cli("rmi", "-f", *made)
