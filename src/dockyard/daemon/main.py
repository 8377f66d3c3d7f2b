"""``dockyard daemon``: wire the engine, restore state, serve the Engine API until a signal.

Stopping the daemon never stops containers: conmon holds them (live restore).
"""

import argparse
import asyncio
import fcntl
import logging
import os
import signal
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
    p.add_argument("--tls", nargs="?", const="true", default=None, metavar="BOOL",
                   help="serve TCP with TLS (implied by --tlsverify); --tls=false allows "
                        "plain TCP, insecure")
    p.add_argument("--tlsverify", nargs="?", const="true", default=None, metavar="BOOL",
                   help="serve TCP with TLS and require client certificates signed by "
                        "--tlscacert")
    p.add_argument("--tlscacert", default=None,
                   help="trust certs signed only by this CA (default ~/.docker/ca.pem)")
    p.add_argument("--tlscert", default=None,
                   help="path to the TLS certificate file (default ~/.docker/cert.pem)")
    p.add_argument("--tlskey", default=None,
                   help="path to the TLS key file (default ~/.docker/key.pem)")
    p.add_argument("--insecure-registry", action="append", default=[], metavar="HOST",
                   help="registry (host:port or CIDR) that may use plain HTTP; 127.0.0.0/8 "
                        "always may (repeatable)")
    p.add_argument("--registry-mirror", action="append", default=[], metavar="URL",
                   help="pull mirror: URL (for docker.io) or REGISTRY=URL (repeatable)")
    p.add_argument("--max-concurrent-downloads", type=int, default=3, metavar="N",
                   help="layers downloaded at once per pull (default 3)")
    p.add_argument("--max-concurrent-uploads", type=int, default=5, metavar="N",
                   help="layers uploaded at once per push (default 5)")
    p.add_argument("--upload-chunk-size", type=int, default=32 << 20, metavar="BYTES",
                   help="push blobs larger than this in PATCH chunks of this size "
                        "(default 32 MiB)")
    p.add_argument("--certs-dir", action="append", default=[], metavar="DIR",
                   help="certs.d-style directories of registry CAs and client certificates "
                        "(default /etc/docker/certs.d and /etc/dockyard/certs.d)")
    p.add_argument("--bridge-name", default="dockyard0", metavar="NAME",
                   help="bridge device of the default bridge network (default dockyard0)")
    p.add_argument("--bip", default="172.30.0.1/16", metavar="CIDR",
                   help="gateway address and subnet of the default bridge network "
                        "(default 172.30.0.1/16)")
    p.add_argument("--default-address-pool", default="base=10.210.0.0/16,size=24",
                   metavar="base=CIDR,size=N",
                   help="where user-defined networks get their subnets "
                        "(default base=10.210.0.0/16,size=24)")
    args = p.parse_args(argv)
    from ..engine.logrotate import parse_daemon_opts
    from ..errors import InvalidArgument

    try:
        args.log_opts = parse_daemon_opts(args.log_opt)
    except InvalidArgument as e:
        p.error(str(e))
    _parse_listeners(p, args)
    from ..distribution.options import RegistryOptions

    try:
        args.registry_options = RegistryOptions.from_flags(
            args.insecure_registry, args.registry_mirror, args.certs_dir,
            args.max_concurrent_downloads, args.max_concurrent_uploads,
            args.upload_chunk_size)
    except InvalidArgument as e:
        p.error(str(e))
    return args


def _parse_listeners(p: argparse.ArgumentParser, args: argparse.Namespace) -> None:
    """-H and --tls*: checked before anything starts, so a mistake is one line and exit 2."""
    from ..errors import InvalidArgument
    from .listen import check_plain_tcp, parse_listener, resolve_tls, server_ssl_context

    try:
        args.tls_opts = resolve_tls(args.tls, args.tlsverify, args.tlscacert, args.tlscert,
                                    args.tlskey)
        args.listeners = [parse_listener(h, args.tls_opts.enabled)
                          for h in (args.host or [f"unix://{DEFAULT_SOCKET}"])]
        check_plain_tcp(args.listeners, args.tls_opts)
        args.ssl_context = None
        if args.tls_opts.enabled and any(x.scheme == "tcp" for x in args.listeners):
            args.ssl_context = server_ssl_context(args.tls_opts)
    except InvalidArgument as e:
        p.error(str(e))


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
    from .listen import api_warnings, start_sites

    engine = Engine(args.root, args.exec_root, runtime=args.runtime,
                    cgroup_parent=args.cgroup_parent)
    engine.containers.log_opts = args.log_opts
    engine.registry_options = args.registry_options
    await asyncio.to_thread(engine.images.reconcile)
    loop = asyncio.get_running_loop()
    watcher = ExitWatcher(engine.runtime.exit_dir(), engine.containers.on_exit)
    watcher.start(loop)
    engine.networks.configure(bridge_name=args.bridge_name, bip=args.bip,
                              pool=args.default_address_pool, owner=engine.root)
    await engine.networks.start()
    await engine.containers.restore()
    await asyncio.to_thread(engine.networks.reconcile)

    app = make_app(engine)
    app["daemon_warnings"] = api_warnings(args.listeners, args.tls_opts)
    runner = web.AppRunner(app, access_log=None, handle_signals=False, shutdown_timeout=1)
    await runner.setup()
    sockets = await start_sites(runner, args.listeners, args.ssl_context)

    stop = asyncio.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    await stop.wait()
    log.info("shutting down; containers keep running")
    watcher.close()
    await runner.cleanup()
    for path in sockets:
        try:
            os.unlink(path)
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
