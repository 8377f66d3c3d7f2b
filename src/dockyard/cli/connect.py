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

from dockyard.client import (
    DEFAULT_HOST,
    DEFAULT_SOCKET,
    TLS_BY_HOST,
    Client,
    ClientError,
    ConnectFailed,
    TLSConfig,
    loads,
)

AUTOSTART_TIMEOUT = 10.0
LOG_DIR = "/var/log/dockyard"


class DaemonStartFailed(ConnectFailed):
    """Autostart ran but no daemon answered; says why and where the log is."""

    def __init__(self, host: str, reason: str):
        super().__init__(host, reason)
        self.args = (f"Cannot connect to the dockyard daemon at {host}: "
                     f"starting it failed: {reason}",)


# The global connection flags of this CLI call (--tls, --tlsverify, --tlscacert, --tlscert,
# --tlskey, --context, --config), set by main before any client is made.
GLOBAL_FLAGS: dict[str, object] = {}


def config_dir() -> str:
    """``--config``, else $DOCKER_CONFIG, else ~/.docker: where contexts and certs live."""
    return str(GLOBAL_FLAGS.get("config") or os.environ.get("DOCKER_CONFIG")
               or os.path.join(os.path.expanduser("~"), ".docker"))


def tls_from_flags() -> TLSConfig | None:
    """Docker's rules: --tlsverify or $DOCKER_TLS_VERIFY verifies the daemon; --tls alone
    encrypts without verifying; files default to $DOCKER_CERT_PATH (or ~/.docker)/*.pem and
    the client certificate is sent when its files exist."""
    verify = bool(GLOBAL_FLAGS.get("tlsverify")) or bool(os.environ.get("DOCKER_TLS_VERIFY"))
    if not verify and not GLOBAL_FLAGS.get("tls"):
        return None
    cert_dir = os.environ.get("DOCKER_CERT_PATH") or config_dir()

    def pick(flag: str, name: str) -> str:
        return str(GLOBAL_FLAGS.get(flag) or os.path.join(cert_dir, name))

    ca, cert, key = pick("tlscacert", "ca.pem"), pick("tlscert", "cert.pem"), \
        pick("tlskey", "key.pem")
    if not (os.path.exists(cert) and os.path.exists(key)):
        if GLOBAL_FLAGS.get("tlscert") or GLOBAL_FLAGS.get("tlskey"):
            raise ClientError(f"could not read TLS certificates: no such file: "
                              f"{cert if not os.path.exists(cert) else key}")
        cert = key = ""
    return TLSConfig(ca=ca, cert=cert or None, key=key or None, verify=verify)


def resolve_endpoint(flag: str | None) -> tuple[str, TLSConfig | None, bool]:
    """(address, TLS, is_default), in docker's order: ``-H``, ``--context``, DOCKYARD_HOST /
    DOCKER_HOST, $DOCKER_CONTEXT, the config's current context, the default socket."""
    context = GLOBAL_FLAGS.get("context")
    if flag:
        return flag, tls_from_flags(), False
    if not context or context == "default":  # the default context is the environment's
        for value in (os.environ.get("DOCKYARD_HOST"), os.environ.get("DOCKER_HOST")):
            if value:
                return value, tls_from_flags(), False
        context = context or os.environ.get("DOCKER_CONTEXT") or _current_context()
    if context and context != "default":
        from dockyard.cli.context import load_endpoint

        host, tls = load_endpoint(config_dir(), str(context))
        return host, tls, False
    return DEFAULT_HOST, None, True


def _current_context() -> str | None:
    """``currentContext`` of config.json, read only when the file exists."""
    try:
        with open(os.path.join(config_dir(), "config.json"), "rb") as f:
            data = f.read()
    except OSError:
        return None
    if b"currentContext" not in data:
        return None
    try:
        value = loads(data).get("currentContext")
    except (ClientError, AttributeError):
        return None
    return value if isinstance(value, str) and value else None


def resolve_host(flag: str | None) -> tuple[str, bool]:
    """(address, is_default) of the daemon this call talks to."""
    host, _tls, default = resolve_endpoint(flag)
    return host, default


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
    host, tls, default = resolve_endpoint(flag)
    if default and autostart_enabled():
        return AutoStartClient(host)
    if tls is not None:
        TLS_BY_HOST[host] = tls  # every Client made for this address in this call uses it
    return Client(host, tls=tls)


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
