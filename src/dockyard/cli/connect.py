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


class DaemonStartFailed(ConnectFailed):
    """Autostart ran but no daemon answered; says why and where the log is."""

    def __init__(self, host: str, reason: str):
        super().__init__(host, reason)
        self.args = (f"Cannot connect to the dockyard daemon at {host}: "
                     f"starting it failed: {reason}",)


def resolve_host(flag: str | None) -> tuple[str, bool]:
    """(address, is_default): ``-H`` wins, then DOCKYARD_HOST, then DOCKER_HOST."""
    for value in (flag, os.environ.get("DOCKYARD_HOST"), os.environ.get("DOCKER_HOST")):
        if value:
            return value, False
    return DEFAULT_HOST, True


def autostart_enabled() -> bool:
    return os.environ.get("DOCKYARD_NO_AUTOSTART", "").lower() not in ("1", "true", "yes")


class AutoStartClient(Client):
    """A client of the default socket that starts the daemon on the first failed connect.

    ``command``, ``run_dir`` and ``log_path`` default to the embedded daemon's; tests point
    them at a private daemon.
    """

    def __init__(self, host: str = DEFAULT_HOST, command: list[str] | None = None,
                 run_dir: str | None = None, log_path: str | None = None):
        super().__init__(host)
        self.command = command or _daemon_command()
        self.run_dir = run_dir or os.path.dirname(DEFAULT_SOCKET)
        self.log_path = log_path or os.path.join(LOG_DIR, "daemon.log")
        self.started_pid: int | None = None
        self._tried = False

    def connect(self):  # type: ignore[override]
        try:
            return super().connect()
        except ConnectFailed:
            if self._tried:
                raise
            self._tried = True
            self.started_pid = start_daemon(self, self.command, self.run_dir, self.log_path)
            return super().connect()


def make_client(flag: str | None) -> Client:
    host, default = resolve_host(flag)
    if default and autostart_enabled():
        return AutoStartClient(host)
    return Client(host)


def _daemon_command() -> list[str]:
    return [sys.executable, "-m", "dockyard.cli.main", "daemon"]


def start_daemon(client: Client, command: list[str], run_dir: str, log_path: str,
                 timeout: float = AUTOSTART_TIMEOUT) -> int | None:
    """Start the daemon detached and wait until it answers (raises ConnectFailed).

    Returns the pid it started (None when another CLI call started it meanwhile): a lock
    file in ``run_dir`` makes concurrent CLI calls start one daemon, not several.
    """
    import fcntl

    os.makedirs(run_dir, exist_ok=True)
    lock_fd = os.open(os.path.join(run_dir, "autostart.lock"), os.O_RDWR | os.O_CREAT, 0o600)
    try:
        fcntl.flock(lock_fd, fcntl.LOCK_EX)
        plain = Client(client.host, client.version)  # pings never recurse into autostart
        if plain.ping():
            return None
        proc = _spawn(command, log_path)
        deadline = time.monotonic() + timeout
        delay = 0.01
        while time.monotonic() < deadline:
            if plain.ping():
                return proc.pid
            if proc.poll() is not None:
                raise DaemonStartFailed(client.host, f"the daemon exited, see {log_path}")
            time.sleep(delay)
            delay = min(delay * 2, 0.1)
        raise DaemonStartFailed(client.host, f"no answer in {timeout:.0f}s, see {log_path}")
    finally:
        os.close(lock_fd)


def _spawn(command: list[str], log_path: str):
    import subprocess

    try:
        os.makedirs(os.path.dirname(log_path), exist_ok=True)
        log = open(log_path, "ab")  # noqa: SIM115 - handed to the child
    except OSError:
        log = open(os.devnull, "wb")  # noqa: SIM115
    if sys.stderr.isatty():
        sys.stderr.write(f"dockyard: starting the daemon (log: {log_path})\n")
    with log:
        return subprocess.Popen(
            command, stdin=subprocess.DEVNULL, stdout=log, stderr=log,
            start_new_session=True, close_fds=True, cwd="/")
