"""Registry routes of the Engine API: pull (``POST /images/create?fromImage=``), push, auth.

Pull and push run in a thread of their own and stream docker's JSON progress messages. An
error before the first message is an HTTP error status (so ``docker pull`` prints "Error
response from daemon: …"); after it, an ``errorDetail`` message ends the stream, as moby does.
"""

from __future__ import annotations

import asyncio
import json
import logging
import threading
from collections.abc import Callable

from aiohttp import web

from ..distribution.auth import AuthConfig
from ..distribution.options import RegistryOptions
from ..distribution.service import DistributionService
from ..errors import DockyardError, Forbidden, InvalidArgument, Unauthorized
from .app import read_json

log = logging.getLogger(__name__)
_DONE = object()


def service(engine) -> DistributionService:
    """One service per engine, made on first use with the daemon's registry options."""
    svc = getattr(engine, "distribution", None)
    if svc is None:
        opts = getattr(engine, "registry_options", None) or RegistryOptions()
        svc = DistributionService(engine.images, opts)
        engine.distribution = svc
    return svc


def _auth(request: web.Request) -> AuthConfig:
    return AuthConfig.from_header(request.headers.get("X-Registry-Auth"))


def _line(msg: dict) -> bytes:
    return json.dumps(msg, separators=(",", ":")).encode() + b"\r\n"


async def _stream(request: web.Request, job: Callable[[Callable[[dict], None],
                                                        threading.Event], object]
                  ) -> web.StreamResponse:
    loop = asyncio.get_running_loop()
    queue: asyncio.Queue = asyncio.Queue()
    cancel = threading.Event()

    def emit(msg: dict) -> None:
        loop.call_soon_threadsafe(queue.put_nowait, msg)

    def run() -> None:
        try:
            job(emit, cancel)
            loop.call_soon_threadsafe(queue.put_nowait, (_DONE, None))
        except BaseException as e:  # noqa: BLE001 - reported to the client below
            loop.call_soon_threadsafe(queue.put_nowait, (_DONE, e))

    threading.Thread(target=run, name="distribution", daemon=True).start()
    try:
        first = await queue.get()
    except asyncio.CancelledError:  # the client went away before any output
        cancel.set()
        raise
    if isinstance(first, tuple) and first[0] is _DONE and first[1] is not None:
        _raise(first[1])
    resp = web.StreamResponse(status=200, headers={"Content-Type": "application/json"})
    try:
        await resp.prepare(request)
        item = first
        while True:
            if isinstance(item, tuple) and item[0] is _DONE:
                if item[1] is not None:
                    msg = _message(item[1])
                    await resp.write(_line({"errorDetail": {"message": msg}, "error": msg}))
                break
            await resp.write(_line(item))
            item = await queue.get()
        await resp.write_eof()
    except (ConnectionResetError, asyncio.CancelledError):
        cancel.set()  # the partial download stays for the next pull
        raise
    return resp


def _message(e: BaseException) -> str:
    if isinstance(e, DockyardError):
        return str(e)
    log.error("registry operation failed", exc_info=e)
    return f"internal error: {e}"


def _raise(e: BaseException) -> None:
    """As moby: registry auth failures of pull/push are 500s, not 401s (a 401 would make the
    docker CLI prompt for a login and wait on stdin)."""
    if isinstance(e, Unauthorized | Forbidden):
        raise DockyardError(str(e))
    if isinstance(e, DockyardError):
        raise e
    raise DockyardError(_message(e))


def _event(request: web.Request, action: str, name: str) -> Callable[[], None]:
    """Emit an image event from the worker thread, on the loop (the bus is not thread-safe)."""
    loop = asyncio.get_running_loop()
    events = request.app["engine"].events

    def fire() -> None:
        loop.call_soon_threadsafe(events.emit, "image", action, name, {"name": name})

    return fire


def _event_name(name: str, tag: str | None) -> str:
    if tag and "@" not in name:
        return f"{name}@{tag}" if tag.startswith("sha256:") else f"{name}:{tag}"
    return name


async def pull(request: web.Request) -> web.StreamResponse:
    """``fromImage`` part of ``POST /images/create``."""
    q = request.query
    name = q.get("fromImage", "")
    tag = q.get("tag") or None
    platform = q.get("platform") or None
    svc = service(request.app["engine"])
    auth = _auth(request)
    fire = _event(request, "pull", _event_name(name, tag))

    def job(emit, cancel):
        svc.pull(name, tag, auth, emit, platform, cancel)
        fire()

    return await _stream(request, job)


async def push(request: web.Request) -> web.StreamResponse:
    name = request.match_info["name"]
    tag = request.query.get("tag") or None
    svc = service(request.app["engine"])
    auth = _auth(request)
    fire = _event(request, "push", _event_name(name, tag))

    def job(emit, cancel):
        svc.push(name, tag, auth, emit, cancel)
        fire()

    return await _stream(request, job)


async def auth(request: web.Request) -> web.Response:
    body = await read_json(request, {})
    if not isinstance(body, dict):
        raise InvalidArgument("auth config must be a JSON object")
    svc = service(request.app["engine"])
    cfg = AuthConfig.from_dict(body)
    result = await asyncio.to_thread(svc.login, cfg, str(body.get("serveraddress") or ""))
    return web.json_response(result)


async def describe(request: web.Request) -> web.Response:
    svc = service(request.app["engine"])
    result = await asyncio.to_thread(svc.describe, request.match_info["name"], _auth(request))
    return web.json_response(result)


def register(r) -> None:
    r.add("GET", "/distribution/{name:.+}/json", describe)
    r.add("POST", "/images/{name:.+}/push", push)
    r.add("POST", "/auth", auth)
