"""Which daemon to talk to, and starting the embedded default daemon when none answers.

Docker users expect ``docker run`` to just work; dockyard has no separate set-up step, so when
nothing answers on the default socket (and the user named no host) the CLI starts
``dockyard daemon`` in the background, detached in its own session, and waits for ``_ping``.
The check costs nothing when the daemon is up: it happens only when connecting fails.
"""

from __future__ import annotations

import os
import sys
import time

from dockyard.client import DEFAULT_HOST, DEFAULT_SOCKET, Client, ConnectFailed

AUTOSTART_TIMEOUT = 10.0
LOG_DIR = "/var/log/dockyard"


def resolve_host(flag: str | None) -> tuple[str, bool]:
    """(address, is_default): ``-H`` wins, then DOCKYARD_HOST, then DOCKER_HOST."""
    for value in (flag, os.environ.get("DOCKYARD_HOST"), os.environ.get("DOCKER_HOST")):
        if value:
            return value, False
    return DEFAULT_HOST, True


def autostart_enabled() -> bool:
    return os.environ.get("DOCKYARD_NO_AUTOSTART", "").lower() not in ("1", "true", "yes")


class AutoStartClient(Client):
    """A client of the default socket that starts the daemon on the first failed connect."""

    _tried = False

    def connect(self):  # type: ignore[override]
        try:
            return super().connect()
        except ConnectFailed:
            if self._tried:
                raise
            self._tried = True
            start_daemon(self)
            return super().connect()


def make_client(flag: str | None) -> Client:
    host, default = resolve_host(flag)
    if default and autostart_enabled():
        return AutoStartClient(host)
    return Client(host)


def _daemon_command() -> list[str]:
    return [sys.executable, "-m", "dockyard.cli.main", "daemon"]


def start_daemon(client: Client, timeout: float = AUTOSTART_TIMEOUT) -> None:
    """Start ``dockyard daemon`` detached and wait until it answers (raises ConnectFailed).

    A lock file makes concurrent CLI calls start one daemon, not several.
    """
    import fcntl

    run_dir = os.path.dirname(DEFAULT_SOCKET)
    os.makedirs(run_dir, exist_ok=True)
    lock_fd = os.open(os.path.join(run_dir, "autostart.lock"), os.O_RDWR | os.O_CREAT, 0o600)
    try:
        fcntl.flock(lock_fd, fcntl.LOCK_EX)
        if Client.ping(_plain(client)):
            return
        proc = _spawn()
        deadline = time.monotonic() + timeout
        delay = 0.01
        while time.monotonic() < deadline:
            if Client.ping(_plain(client)):
                return
            if proc.poll() is not None:
                raise ConnectFailed(client.host, "daemon exited") from None
            time.sleep(delay)
            delay = min(delay * 2, 0.1)
        raise ConnectFailed(client.host, "daemon did not answer in time")
    finally:
        os.close(lock_fd)


def _plain(client: Client) -> Client:
    """A non-autostarting client of the same address (so pings never recurse)."""
    return Client(client.host, client.version)


def _spawn():
    import subprocess

    log_path = os.path.join(LOG_DIR, "daemon.log")
    try:
        os.makedirs(LOG_DIR, exist_ok=True)
        log = open(log_path, "ab")  # noqa: SIM115 - handed to the child
    except OSError:
        log = open(os.devnull, "wb")  # noqa: SIM115
    if sys.stderr.isatty():
        sys.stderr.write(f"dockyard: starting the daemon (log: {log_path})\n")
    with log:
        return subprocess.Popen(
            _daemon_command(), stdin=subprocess.DEVNULL, stdout=log, stderr=log,
            start_new_session=True, close_fds=True, cwd="/")
