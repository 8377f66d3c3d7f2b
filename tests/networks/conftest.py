"""Fixtures: the same checks from the dockyard CLI and the real docker CLIs (tests/multicli.py),
networks removed after each test, and helpers for real traffic to loopback."""

import socket
import time
import urllib.request
import uuid

import pytest

from multicli import cli, inspect, names, until  # noqa: F401 - fixtures and helpers for the tests


# wget from a container, retried while the server starts (busybox's wget may even crash on a
# refused connection, so it runs in a loop of its own).
def wget(url: str, tries: int = 50) -> list[str]:
    return ["sh", "-c", f"i=0; while [ $i -lt {tries} ]; do wget -qO- {url} 2>/dev/null "
            "&& exit 0; i=$((i+1)); sleep 0.1; done; exit 1"]


HTTPD = "mkdir -p /www && echo hello-$HOSTNAME > /www/index.html && exec httpd -f -p 80 -h /www"


def free_port() -> int:
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def fetch(url: str, timeout: float = 20.0) -> str:
    """GET ``url`` from the host, retrying while the server in the container starts."""
    deadline = time.monotonic() + timeout
    last: Exception | None = None
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(url, timeout=3) as r:
                return r.read().decode()
        except OSError as e:
            last = e
            time.sleep(0.1)
    raise AssertionError(f"{url} never answered: {last}")


@pytest.fixture
def nets(daemon):
    made: list[str] = []

    def make() -> str:
        made.append("net-" + uuid.uuid4().hex[:8])
        return made[-1]

    yield make
    for n in made:
        daemon.cli("network", "rm", n)
