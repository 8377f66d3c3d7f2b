"""``dockyard daemon``: wire the engine, restore state, serve the Engine API until a signal.

Stopping the daemon never stops containers: conmon holds them (live restore).
"""

import argparse
import asyncio
import fcntl
import logging
import os
import signal
import stat
import sys

DEFAULT_ROOT = "/var/lib/dockyard"
DEFAULT_EXEC_ROOT = "/run/dockyard"
DEFAULT_SOCKET = "/run/dockyard/dockyard.sock"

log = logging.getLogger("dockyard.daemon")


def parse_args(argv: list[str]) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="dockyard daemon",
                                description="Run the dockyard daemon (Docker Engine API).")
    p.add_argument("--root", "--data-root", dest="root", default=DEFAULT_ROOT,
                   help=f"state directory (default {DEFAULT_ROOT})")
    p.add_argument("--exec-root", default=DEFAULT_EXEC_ROOT,
                   help=f"runtime state directory (default {DEFAULT_EXEC_ROOT})")
    p.add_argument("-H", "--host", action="append", default=[],
                   help="unix:///path or tcp://host:port to listen on (repeatable)")
    p.add_argument("--cgroup-parent", default="dockyard",
                   help="parent cgroup of containers (default dockyard)")
    p.add_argument("--runtime", default="runc", help="OCI runtime binary (default runc)")
    p.add_argument("-l", "--log-level", default="info",
                   choices=["debug", "info", "warn", "error"])
    p.add_argument("--pidfile", default=None, help="write the daemon's pid here")
    p.add_argument("--log-opt", action="append", default=[], metavar="KEY=VALUE",
                   help="default container log options: max-size=10m, max-file=3 (repeatable)")
    args = p.parse_args(argv)
    from ..engine.logrotate import parse_daemon_opts
    from ..errors import InvalidArgument

    try:
        args.log_opts = parse_daemon_opts(args.log_opt)
    except InvalidArgument as e:
        p.error(str(e))
    return args


def _lock_root(root: str):
    """One daemon per root: a second one would corrupt the store."""
    os.makedirs(root, mode=0o711, exist_ok=True)
    fd = os.open(os.path.join(root, "daemon.lock"), os.O_RDWR | os.O_CREAT, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        raise SystemExit(f"dockyard daemon: another daemon is using {root}") from None
    return fd


async def _serve(args: argparse.Namespace) -> None:
    from aiohttp import web

    from ..api.app import make_app
    from ..engine.engine import Engine
    from ..runtime.exits import ExitWatcher

    engine = Engine(args.root, args.exec_root, runtime=args.runtime,
                    cgroup_parent=args.cgroup_parent)
    engine.containers.log_opts = args.log_opts
    await asyncio.to_thread(engine.images.reconcile)
    loop = asyncio.get_running_loop()
    watcher = ExitWatcher(engine.runtime.exit_dir(), engine.containers.on_exit)
    watcher.start(loop)
    await engine.containers.restore()

    app = make_app(engine)
    runner = web.AppRunner(app, access_log=None, handle_signals=False, shutdown_timeout=1)
    await runner.setup()
    hosts = args.host or [f"unix://{DEFAULT_SOCKET}"]
    for host in hosts:
        if host.startswith("unix://"):
            path = host[len("unix://"):]
            os.makedirs(os.path.dirname(path) or ".", exist_ok=True)
            try:
                if stat.S_ISSOCK(os.stat(path).st_mode):
                    os.unlink(path)
            except FileNotFoundError:
                pass
            site = web.UnixSite(runner, path)
            await site.start()
            os.chmod(path, 0o660)
        elif host.startswith("tcp://"):
            hostport = host[len("tcp://"):]
            h, _, port = hostport.rpartition(":")
            log.warning("listening on %s without TLS: anyone who can reach it is root here", host)
            site = web.TCPSite(runner, h or "127.0.0.1", int(port))
            await site.start()
        else:
            raise SystemExit(f"dockyard daemon: unsupported host {host!r}")
        log.info("API listening on %s", host)

    stop = asyncio.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    await stop.wait()
    log.info("shutting down; containers keep running")
    watcher.close()
    await runner.cleanup()
    for host in hosts:
        if host.startswith("unix://"):
            try:
                os.unlink(host[len("unix://"):])
            except FileNotFoundError:
                pass


def main(argv: list[str] | None = None) -> int:
    args = parse_args(sys.argv[1:] if argv is None else argv)
    logging.basicConfig(
        level={"warn": logging.WARNING}.get(args.log_level, args.log_level.upper()),
        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    lock_fd = _lock_root(args.root)
    if args.pidfile:
        with open(args.pidfile, "w") as f:
            f.write(f"{os.getpid()}\n")
    try:
        asyncio.run(_serve(args))
    finally:
        os.close(lock_fd)
        if args.pidfile:
            try:
                os.unlink(args.pidfile)
            except FileNotFoundError:
                pass
    return 0


if __name__ == "__main__":
    sys.exit(main())
