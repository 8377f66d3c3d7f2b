"""Fixtures: the same checks from the dockyard CLI and the real docker CLIs (tests/multicli.py)."""

from multicli import cli, inspect, names, until  # noqa: F401 - fixtures and helpers for the tests
