"""Exec routes of the Engine API: create, start (hijacked or detached), inspect, resize."""

import asyncio

from aiohttp import web

from ..errors import InvalidArgument
from .app import read_json
from .detach import filtered, parse_detach_keys
from .filters import query_int
from .streams import Hijacked, frame


def _svc(request: web.Request):
    return request.app["engine"].containers.execs


async def create(request: web.Request) -> web.Response:
    body = await read_json(request, default=None)
    if not isinstance(body, dict):
        raise InvalidArgument("exec config must be a JSON object")
    ex = _svc(request).create(request.match_info["id"], body)
    return web.json_response({"Id": ex.id}, status=201)


async def start(request: web.Request) -> web.StreamResponse:
    svc = _svc(request)
    body = await read_json(request, default={})
    if not isinstance(body, dict):
        raise InvalidArgument("exec start config must be a JSON object")
    detach = bool(body.get("Detach"))
    size = None
    cs = body.get("ConsoleSize")
    if isinstance(cs, list) and len(cs) == 2 and all(isinstance(v, int) and 0 < v < 65536
                                                    for v in cs):
        size = (cs[0], cs[1])
    ex = svc.get(request.match_info["id"])
    if detach:
        await svc.start(ex.id, detach=True, size=size)
        return web.Response(status=200)
    # Spawned before the hijack, so a stopped container is a plain error reply; a process
    # that cannot be set up (unknown user) fails in the stream with 126, as Docker's does.
    failure = None
    try:
        await svc.start(ex.id, detach=False, size=size)
    except InvalidArgument as e:
        if ex.started:
            raise
        svc.fail(ex, str(e))
        failure = str(e)
    # As in Docker, the start request's Tty decides the framing (raw or multiplexed); the
    # process's terminal came from the exec config.
    raw = bool(body.get("Tty"))
    try:
        conn = await Hijacked.take(request, "application/vnd.docker.raw-stream" if raw
                                   else "application/vnd.docker.multiplexed-stream")
    except BaseException:
        if failure is None:  # nobody reads it: drain so the process never blocks on a pipe
            asyncio.get_running_loop().create_task(_discard(svc, ex))
        raise
    if failure is not None:
        msg = (failure + "\r\n").encode()
        conn.write(msg if raw else frame("stdout", msg))
        conn.close()
        return conn.response
    # The detach keys end this stream and leave the process running (a tty with stdin only).
    keys = parse_detach_keys(ex.detach_keys) if ex.attach_stdin and ex.tty else b""
    detached = asyncio.Event()
    stdin_task = None
    if ex.attach_stdin:
        chunks = await filtered(conn.stdin, keys, detached) if keys else conn.stdin
        stdin_task = asyncio.create_task(svc.pump_stdin(ex, chunks))
    pump = asyncio.ensure_future(_copy_output(svc, ex, conn, raw))
    detach_wait = asyncio.ensure_future(detached.wait())
    try:
        await asyncio.wait({pump, detach_wait}, return_when=asyncio.FIRST_COMPLETED)
        if pump.done():
            pump.result()
    finally:
        detach_wait.cancel()
        if stdin_task:
            stdin_task.cancel()
        if not pump.done():
            pump.cancel()
        conn.close()  # the client's EOF first: it asks for the exit code next
        if detached.is_set() and ex.running:
            # Detached: the process runs on; its output is drained so it never blocks.
            asyncio.get_running_loop().create_task(_discard(svc, ex))
        else:
            svc.finish(ex)
    return conn.response


async def _copy_output(svc, ex, conn: Hijacked, raw: bool) -> None:
    async for name, data in svc.output(ex):
        if (name == "stdout" and not ex.attach_stdout) or \
                (name == "stderr" and not ex.attach_stderr):
            continue
        conn.write(data if raw else frame(name, data))
        await conn.drain()
    await svc.wait(ex)


async def _discard(svc, ex) -> None:
    try:
        async for _name, _data in svc.output(ex):
            pass
        await svc.wait(ex)
    finally:
        svc.finish(ex)


async def inspect(request: web.Request) -> web.Response:
    return web.json_response(_svc(request).inspect(request.match_info["id"]))


async def resize(request: web.Request) -> web.Response:
    q = request.query
    _svc(request).resize(request.match_info["id"], query_int(q.get("h"), 0, "height"),
                         query_int(q.get("w"), 0, "width"))
    return web.Response(status=201)


def register(r) -> None:
    r.add("POST", "/containers/{id}/exec", create)
    r.add("POST", "/exec/{id}/start", start)
    r.add("GET", "/exec/{id}/json", inspect)
    r.add("POST", "/exec/{id}/resize", resize)
