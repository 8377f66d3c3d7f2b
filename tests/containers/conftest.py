"""Fixtures for container tests: the same checks from the dockyard CLI and the real docker CLIs
(the `cli` fixture of tests/multicli.py), and a running container."""

from __future__ import annotations

import os
import sys
import uuid

import pytest

sys.path.insert(0, os.path.dirname(__file__))

from multicli import cli  # noqa: E402,F401 - the fixture


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
