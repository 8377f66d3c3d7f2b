"""Attached I/O: copy a hijacked attach stream to the terminal and the terminal to it.

One ``select`` loop, no threads: the container's output is demultiplexed from Docker's 8-byte
frames (or copied raw when it has a TTY), the CLI's stdin is forwarded until EOF (then the write
side is shut, which the daemon turns into the container's stdin EOF), and the loop ends when the
daemon closes the stream, i.e. when the container's output ends.
"""

from __future__ import annotations

import _signal
import os
import select

from dockyard.client import Client, Connection, write_fd

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable

# Docker's stream types: 0 stdin (echo), 1 stdout, 2 stderr, 3 the daemon's system error
_FD_FOR_STREAM = {0: 1, 1: 1, 2: 2, 3: 2}


class FrameWriter:
    """Incremental demultiplexer of [type, 0, 0, 0, size BE32] frames onto file descriptors."""

    def __init__(self, out_fd: int = 1, err_fd: int = 2):
        self.buf = bytearray()
        self.fds = {0: out_fd, 1: out_fd, 2: err_fd, 3: err_fd}

    def feed(self, data: bytes) -> None:
        buf = self.buf
        buf += data
        while len(buf) >= 8:
            size = int.from_bytes(buf[4:8], "big")
            if len(buf) < 8 + size:
                return
            fd = self.fds.get(buf[0], self.fds[1])
            write_fd(fd, bytes(buf[8:8 + size]))
            del buf[:8 + size]


def parse_detach_keys(spec: str | None) -> bytes:
    """docker's ``--detach-keys`` (default ``ctrl-p,ctrl-q``) → the bytes typed."""
    from dockyard.cli.flags import UsageError
    from dockyard.detachkeys import parse_detach_keys as parse
    from dockyard.errors import InvalidArgument

    try:
        return parse(spec)
    except InvalidArgument as e:
        raise UsageError(f"invalid detach keys ({spec}): {e}") from None


def pump(conn: Connection, tty: bool, stdin_fd: int | None, out_fd: int = 1,
         err_fd: int = 2, exit_fd: int | None = None, exited: bool = False,
         grace: float = 2.0, detach_keys: bytes = b"") -> bool:
    """Copy until the daemon ends the stream (stdin is forwarded while it lasts); True when
    the user typed the detach keys (the container keeps running).

    ``exit_fd`` is the pending ``wait`` request: once it turns readable the container has
    exited, and the copy stops after ``grace`` idle seconds even if a daemon never closes
    the attach stream, so a CLI never hangs on a finished container (``exited``: it is
    known to have exited already).
    """
    if tty:
        def sink(data: bytes) -> None:
            write_fd(out_fd, data)
    else:
        sink = FrameWriter(out_fd, err_fd).feed
    if conn.buf:
        sink(conn.take(len(conn.buf)))
    sock_fd = conn.fileno()
    rlist = [sock_fd]
    if stdin_fd is not None:
        rlist.append(stdin_fd)
    timeout: float | None = grace if exited else None
    if exit_fd is not None and not exited:
        rlist.append(exit_fd)
    else:
        exit_fd = None
    escape = None
    if detach_keys and tty and stdin_fd is not None:
        from dockyard.detachkeys import DetachFilter

        escape = DetachFilter(detach_keys)
    while True:
        ready, _, _ = select.select(rlist, [], [], timeout)
        if not ready:
            return False  # the container exited and its stream went quiet
        if sock_fd in ready:
            try:
                data = conn.sock.recv(65536)
            except ConnectionResetError:
                data = b""
            if not data:
                return False
            sink(data)
            if timeout is not None:
                timeout = grace
        if exit_fd is not None and exit_fd in ready:
            rlist.remove(exit_fd)
            exit_fd = None
            timeout = grace
        if stdin_fd is not None and stdin_fd in ready:
            try:
                data = os.read(stdin_fd, 65536)
            except OSError:
                data = b""
            detached = False
            if data and escape is not None:
                data, detached = escape.feed(data)
                if not data and not detached:
                    continue
            if detached:
                if data:
                    conn.sendall(data)
                return True
            if data:
                try:
                    conn.sendall(data)
                except OSError:  # the container closed its stdin; keep reading output
                    data = b""
            if not data:
                conn.close_write()
                rlist.remove(stdin_fd)
                stdin_fd = None


def raw_terminal(fd: int) -> Callable[[], None] | None:
    """Put a terminal in raw mode; returns the function that restores it (None if no tty)."""
    if not os.isatty(fd):
        return None
    import termios
    import tty

    old = termios.tcgetattr(fd)
    tty.setraw(fd, termios.TCSADRAIN)  # keep what was typed ahead

    def restore() -> None:
        termios.tcsetattr(fd, termios.TCSADRAIN, old)
    return restore


def resize(client: Client, path: str, fd: int = 1, retries: int = 0) -> None:
    """Tell the daemon the terminal size (best effort: tty handling never fails a run).

    Right after start the process may not have its terminal yet; like docker, retry a few
    times on a conflict/server error, never on "not found".
    """
    import time

    from dockyard.client import APIError

    try:
        cols, rows = os.get_terminal_size(fd)
    except OSError:
        return
    for attempt in range(retries + 1):
        try:
            client.request("POST", path, {"h": rows, "w": cols}).read()
            return
        except APIError as e:
            if e.status in (400, 404) or attempt == retries:
                return
            time.sleep(0.01 * (attempt + 1))
        except Exception:  # noqa: BLE001
            return


def watch_resize(client: Client, path: str) -> None:
    _signal.signal(_signal.SIGWINCH, lambda *_: resize(client, path))


PROXY_SIGNALS = ("SIGINT", "SIGTERM", "SIGHUP", "SIGQUIT", "SIGUSR1", "SIGUSR2")


def proxy_signals(client: Client, container: str) -> None:
    """Forward the signals the CLI gets to the container, as docker's --sig-proxy does."""
    from dockyard.client import quote

    def forward(signum: int, _frame: object) -> None:
        try:
            client.request("POST", f"/containers/{quote(container)}/kill",
                           {"signal": str(signum)}).read()
        except Exception:  # noqa: BLE001 - the container may be gone already
            pass

    for name in PROXY_SIGNALS:
        signum = getattr(_signal, name, None)
        if signum is not None:
            _signal.signal(signum, forward)


ATTACH_SPEC = [
    ("", "detach-keys", "string", "Override the key sequence for detaching a container"),
    ("", "no-stdin", "bool", "Do not attach STDIN"),
    ("", "sig-proxy", "true-bool", "Proxy all received signals to the process (default true)"),
]


def cmd_attach(ctx, argv: list[str]) -> int:
    """``attach``: the container's streams here until it exits or the user detaches."""
    from dockyard.cli.base import CLIError
    from dockyard.cli.flags import UsageError
    from dockyard.cli.run import run_attached
    from dockyard.client import APIError, quote

    opts, args = ctx.parse(argv, "attach [OPTIONS] CONTAINER",
                           "Attach local standard input, output, and error streams to a "
                           "running container", ATTACH_SPEC)
    if len(args) != 1:
        raise UsageError('"dockyard attach" requires exactly 1 argument.')
    client = ctx.client
    try:
        info = client.get(f"/containers/{quote(args[0])}/json")
    except APIError as e:
        raise CLIError(f"Error response from daemon: {e.message}", 1) from None
    state = info.get("State") or {}
    if state.get("Paused"):
        raise CLIError("You cannot attach to a paused container, unpause it first", 1)
    if not state.get("Running"):
        raise CLIError("You cannot attach to a stopped container, start it first", 1)
    config = info.get("Config") or {}
    host = info.get("HostConfig") or {}
    return run_attached(
        client, info["Id"], stdin=not opts["no_stdin"] and bool(config.get("OpenStdin")),
        stdout=True, stderr=True, tty=bool(config.get("Tty")),
        autoremove=bool(host.get("AutoRemove")), sig_proxy=opts["sig_proxy"], start=False,
        error_prefix="", detach_keys=opts["detach_keys"])
