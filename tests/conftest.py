"""Shared fixtures: one private daemon per test session, with busybox:latest imported."""

import os
import sys

import pytest

sys.path.insert(0, os.path.dirname(__file__))

from daemonctl import Daemon  # noqa: E402


@pytest.fixture(scope="session")
def daemon():
    d = Daemon()
    try:
        d.start()
        d.import_busybox()
        yield d
    finally:
        d.teardown()


@pytest.fixture(scope="session")
def dockyard_host(daemon) -> str:
    """``unix://...`` URL of a running dockyard daemon that has busybox:latest."""
    return daemon.host


@pytest.fixture
def fresh_daemon():
    """A daemon of the test's own, for tests that kill or restart it."""
    d = Daemon()
    try:
        d.start()
        yield d
    finally:
        d.teardown()
