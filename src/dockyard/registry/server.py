"""Run the registry: build the app from a Config, listen (TCP, optional TLS), purge stale
uploads periodically, stop cleanly on SIGTERM/SIGINT."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
from typing import Any

from . import auth as _auth
from . import lean
from .app import RegistryApp
from .config import Config
from .httpd import HTTPServer
from .service import Registry

log = logging.getLogger("dockyard.registry")
IDLE_TRIM_DELAY = 0.5


def _trim_if_idle(http: HTTPServer) -> None:
    if not http.conns:
        lean.trim()


def make_authorizer(cfg: Config) -> _auth.Authorizer:
    if not cfg.auth:
        return _auth.Authorizer()
    kind, _, arg = cfg.auth.partition(":")
    if kind == "htpasswd":
        return _auth.BasicAuthorizer(arg)
    return _auth.TokenAuthorizer(_auth.TokenConfig.load(arg, cfg.root))


def make_app(cfg: Config) -> tuple[RegistryApp, Registry]:
    registry = Registry(cfg.root, read_only=cfg.read_only)
    return RegistryApp(registry, make_authorizer(cfg)), registry


def tls_context(cfg: Config) -> Any:
    """``ssl`` is imported here only: a plain-HTTP registry never loads OpenSSL's TLS."""
    if not cfg.tls_cert:
        return None
    import ssl

    ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ctx.load_cert_chain(cfg.tls_cert, cfg.tls_key)
    return ctx


def _purge(registry: Registry, cfg: Config) -> None:
    try:
        n = registry.uploads.purge(cfg.upload_max_age)
        if n:
            log.info("purged %d stale uploads", n)
    except Exception:  # keep serving; the next round retries
        log.exception("upload purge failed")


async def _purger(registry: Registry, cfg: Config) -> None:
    while True:
        await asyncio.sleep(cfg.purge_interval)
        await asyncio.to_thread(_purge, registry, cfg)


async def serve(cfg: Config) -> None:
    cfg.validate()
    ctx = tls_context(cfg)
    app, registry = make_app(cfg)
    _purge(registry, cfg)  # here, not in a worker thread: an idle registry runs no threads
    host, port = cfg.host_port()
    http = HTTPServer(app.handle, ctx)
    loop = asyncio.get_running_loop()
    idle_trim: list[asyncio.TimerHandle] = []

    def on_idle() -> None:
        # once the clients are gone, give the heap they used back (after a short quiet spell)
        for h in idle_trim:
            h.cancel()
        idle_trim[:] = [loop.call_later(IDLE_TRIM_DELAY, _trim_if_idle, http)]

    http.on_idle = on_idle
    try:
        await http.start(host, port)
    except BaseException:
        registry.close()
        raise
    scheme = "https" if ctx else "http"
    log.info("registry listening on %s://%s:%d (root %s)", scheme, host, port, cfg.root)
    lean.trim()
    stop = asyncio.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    purger = asyncio.create_task(_purger(registry, cfg))
    try:
        await stop.wait()
    finally:
        purger.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await purger
        await http.shutdown()
        registry.close()
