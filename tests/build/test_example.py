"""examples/hello-app builds and runs as its README says."""

from __future__ import annotations

import os

EXAMPLE = os.path.join(os.path.dirname(__file__), "..", "..", "examples", "hello-app")


def test_hello_app(dy, tags):
    tag = tags("hello-app")
    dy.ok("build", "--build-arg", "VERSION=1.1", "-t", tag, EXAMPLE)
    assert dy.ok("run", "--rm", tag) == (
        "Hello from hello-app, built, shipped and run by dockyard!\n"
        "  version: 1.1\n  built by: a Dockerfile, two stages\n")
