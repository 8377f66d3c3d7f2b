"""Run the registry: build the app from a Config, listen (TCP, optional TLS), purge stale
uploads periodically, stop cleanly on SIGTERM/SIGINT."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
import ssl

from aiohttp import web

from . import auth as _auth
from .app import RegistryApp
from .config import Config
from .service import Registry

log = logging.getLogger("dockyard.registry")
# method, path (query included: it never carries credentials), status, size, time
ACCESS_LOG_FORMAT = '%a "%r" %s %b %Tf'
READ_BUFSIZE = 4 << 20


def make_authorizer(cfg: Config) -> _auth.Authorizer:
    if not cfg.auth:
        return _auth.Authorizer()
    kind, _, arg = cfg.auth.partition(":")
    if kind == "htpasswd":
        return _auth.BasicAuthorizer(arg)
    return _auth.TokenAuthorizer(_auth.TokenConfig.load(arg, cfg.root))


def make_app(cfg: Config) -> tuple[web.Application, Registry]:
    registry = Registry(cfg.root, read_only=cfg.read_only)
    return RegistryApp(registry, make_authorizer(cfg)).build(), registry


async def _purger(registry: Registry, cfg: Config) -> None:
    while True:
        try:
            n = await asyncio.to_thread(registry.uploads.purge, cfg.upload_max_age)
            if n:
                log.info("purged %d stale uploads", n)
        except Exception:  # keep serving; the next round retries
            log.exception("upload purge failed")
        await asyncio.sleep(cfg.purge_interval)


async def serve(cfg: Config) -> None:
    cfg.validate()
    app, registry = make_app(cfg)
    host, port = cfg.host_port()
    ctx = None
    if cfg.tls_cert:
        ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        ctx.load_cert_chain(cfg.tls_cert, cfg.tls_key)
    # a large read buffer: aiohttp pauses the socket whenever its buffer passes 2x this, and
    # with the 64 KiB default a blob upload spends its time pausing and resuming
    runner = web.AppRunner(app, access_log_format=ACCESS_LOG_FORMAT, handle_signals=False,
                           read_bufsize=READ_BUFSIZE)
    await runner.setup()
    site = web.TCPSite(runner, host, port, ssl_context=ctx, backlog=1024)
    await site.start()
    scheme = "https" if ctx else "http"
    log.info("registry listening on %s://%s:%d (root %s)", scheme, host, port, cfg.root)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    purger = asyncio.create_task(_purger(registry, cfg))
    try:
        await stop.wait()
    finally:
        purger.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await purger
        await runner.cleanup()
        registry.close()
