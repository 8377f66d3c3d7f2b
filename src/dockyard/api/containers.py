"""Container routes of the Engine API."""

import asyncio
import json

from aiohttp import web

from ..errors import InvalidArgument
from . import convert
from . import networks as netviews
from .app import read_json
from .detach import filtered, parse_detach_keys
from .filters import match_labels, parse_filters, query_bool, query_int
from .streams import Hijacked, frame

_LIST_FILTERS = {"id", "name", "label", "status", "exited", "ancestor", "before", "since",
                 "health", "volume", "network", "is-task", "publish", "expose"}
_STATUSES = {"created", "restarting", "running", "removing", "paused", "exited", "dead"}


def _svc(request: web.Request):
    return request.app["engine"].containers


async def create(request: web.Request) -> web.Response:
    body = await read_json(request, default=None)
    if body is None:
        raise InvalidArgument("config cannot be empty in order to create a container")
    c = await _svc(request).create(request.query.get("name"), body)
    return web.json_response({"Id": c.id, "Warnings": []}, status=201)


def _matches(svc, c, f: dict[str, list[str]], images) -> bool:
    if "id" in f and not any(c.id.startswith(v) for v in f["id"]):
        return False
    if "name" in f and not any(v.lstrip("/") in c.name for v in f["name"]):
        return False
    if "label" in f and not match_labels(c.config.get("Labels") or {}, f["label"]):
        return False
    if "status" in f:
        for v in f["status"]:
            if v not in _STATUSES:
                raise InvalidArgument(f"Invalid filter 'status={v}'")
        if c.state.status not in f["status"]:
            return False
    if "exited" in f:
        if c.state.status != "exited" or str(c.state.exit_code) not in f["exited"]:
            return False
    if "health" in f:
        for v in f["health"]:
            if v not in ("starting", "healthy", "unhealthy", "none"):
                raise InvalidArgument(f"Unrecognised filter value for health: {v}")
        if ((c.state.health or {}).get("Status") or "none") not in f["health"]:
            return False
    if "network" in f and svc.networks is not None:
        mine = {(n.name, n.id) for _ep, n in svc.networks.container_endpoints(c.id)}
        mode = c.host_config.get("NetworkMode") or ""
        if mode in ("host", "none"):
            mine.add((mode, svc.networks.get(mode).id))
        if not any(v == name or nid.startswith(v) for v in f["network"] for name, nid in mine):
            return False
    if "publish" in f or "expose" in f:
        ports = netviews.summary_ports(svc.networks, c)
        for key, field in (("publish", "PublicPort"), ("expose", "PrivatePort")):
            for v in f.get(key, []):
                port, _, proto = v.partition("/")
                if not any(str(p.get(field)) == port and p["Type"] == (proto or "tcp")
                           for p in ports):
                    return False
    if "ancestor" in f:
        ok = False
        for v in f["ancestor"]:
            try:
                ok = ok or images.get(v).id == c.image_id
            except Exception:
                ok = ok or v == c.image_name
        if not ok:
            return False
    return True


async def list_containers(request: web.Request) -> web.Response:
    svc = _svc(request)
    q = request.query
    all_ = query_bool(q.get("all"))
    limit = query_int(q.get("limit"), -1, "limit")
    size = query_bool(q.get("size"))
    f = parse_filters(q.get("filters"), _LIST_FILTERS)
    items = svc.list()
    if "before" in f:
        ref = svc.get(f["before"][0])
        items = [c for c in items if c.created < ref.created]
    if "since" in f:
        ref = svc.get(f["since"][0])
        items = [c for c in items if c.created > ref.created]
    if not all_ and (limit is None or limit <= 0) and "status" not in f and "exited" not in f:
        items = [c for c in items if c.running]
    images = request.app["engine"].images
    items = [c for c in items if _matches(svc, c, f, images)]
    if limit and limit > 0:
        items = items[:limit]
    out = [convert.container_summary(c, svc.size_rw(c) if size else None) for c in items]
    snap = svc.networks.snapshot() if svc.networks is not None and items else None
    for c, doc in zip(items, out, strict=True):
        doc["Ports"] = netviews.summary_ports(svc.networks, c, snap)
        doc["NetworkSettings"] = {"Networks": netviews.network_settings(svc.networks, c, snap)
                                  ["Networks"]}
    return web.json_response(out)


async def inspect(request: web.Request) -> web.Response:
    svc = _svc(request)
    c = svc.get(request.match_info["id"])
    size = query_bool(request.query.get("size"))
    # Docker shows no LogPath for a driver without a file of its own (none).
    no_log = (c.host_config.get("LogConfig") or {}).get("Type") == "none"
    data = convert.container_inspect(
        c, container_dir=svc.container_dir(c.id), log_path="" if no_log else svc.log_path(c.id),
        upper=svc.snapshots.upper_dir(c.id), size_rw=svc.size_rw(c) if size else None)
    data["NetworkSettings"] = netviews.network_settings(svc.networks, c)
    return web.json_response(data)


async def start(request: web.Request) -> web.Response:
    await _svc(request).start(request.match_info["id"])
    return web.Response(status=204)


async def stop(request: web.Request) -> web.Response:
    q = request.query
    timeout = query_int(q.get("t", q.get("timeout")), None, "timeout")
    await _svc(request).stop(request.match_info["id"], timeout, q.get("signal"))
    return web.Response(status=204)


async def restart(request: web.Request) -> web.Response:
    timeout = query_int(request.query.get("t"), None, "timeout")
    await _svc(request).restart(request.match_info["id"], timeout)
    return web.Response(status=204)


async def kill(request: web.Request) -> web.Response:
    await _svc(request).kill(request.match_info["id"], request.query.get("signal"))
    return web.Response(status=204)


async def remove(request: web.Request) -> web.Response:
    q = request.query
    await _svc(request).remove(request.match_info["id"], force=query_bool(q.get("force")),
                               volumes=query_bool(q.get("v")))
    return web.Response(status=204)


async def wait(request: web.Request) -> web.StreamResponse:
    svc = _svc(request)
    fut = svc.register_wait(request.match_info["id"], request.query.get("condition", ""))
    # Headers go out now: the docker CLI waits for them before it starts the container.
    resp = web.StreamResponse(status=200, headers={"Content-Type": "application/json"})
    await resp.prepare(request)
    code = await fut
    try:
        await resp.write(json.dumps({"StatusCode": code, "Error": None}).encode() + b"\n")
        await resp.write_eof()
    except ConnectionError:
        pass  # the client left while waiting (ctrl-c on `docker wait`): nobody to tell
    return resp


async def logs(request: web.Request) -> web.StreamResponse:
    svc = _svc(request)
    q = request.query
    c = svc.get(request.match_info["id"])
    stdout, stderr = query_bool(q.get("stdout")), query_bool(q.get("stderr"))
    if not (stdout or stderr):
        raise InvalidArgument("You must choose at least one stream")
    follow = query_bool(q.get("follow"))
    timestamps = query_bool(q.get("timestamps"))
    tail_raw = q.get("tail", "all")
    tail = -1 if tail_raw in ("all", "") else query_int(tail_raw, -1, "tail")
    since = _parse_time(q.get("since"))
    until = _parse_time(q.get("until"))
    tty = bool(c.config.get("Tty"))
    request.app["engine"].logs.check_readable(c)
    resp = web.StreamResponse(status=200, headers={
        "Content-Type": "application/vnd.docker.raw-stream" if tty
        else "application/vnd.docker.multiplexed-stream"})
    await resp.prepare(request)
    try:
        async for stream, ts, line in request.app["engine"].logs.read(
                c, stdout=stdout, stderr=stderr, since=since, until=until, tail=tail,
                follow=follow):
            data = (ts.encode() + b" " + line) if timestamps else line
            await resp.write(data if tty else frame(stream, data))
        await resp.write_eof()
    except ConnectionError:
        pass  # the client left (ctrl-c on `logs -f`): nothing to report
    return resp


def _parse_time(value: str | None) -> float:
    """Docker accepts unix seconds (with fraction) for since/until."""
    if not value:
        return 0.0
    try:
        return float(value)
    except ValueError:
        raise InvalidArgument(f"invalid time value: {value!r}") from None


async def attach(request: web.Request) -> web.StreamResponse:
    svc = _svc(request)
    q = request.query
    c = svc.get(request.match_info["id"])
    want_stdin = query_bool(q.get("stdin"))
    want_out, want_err = query_bool(q.get("stdout")), query_bool(q.get("stderr"))
    stream = query_bool(q.get("stream"))
    replay = query_bool(q.get("logs"))
    tty = bool(c.config.get("Tty"))
    use_stdin = want_stdin and bool(c.config.get("OpenStdin"))
    keys = parse_detach_keys(q.get("detachKeys")) if use_stdin and tty else b""
    done = svc.register_wait(c.id, "next-exit") if stream else None
    detached = asyncio.Event()
    stop = done
    if done is not None and keys:
        stop = asyncio.ensure_future(_first(done, detached.wait()))
    conn = await Hijacked.take(
        request, "application/vnd.docker.raw-stream" if tty
        else "application/vnd.docker.multiplexed-stream")
    stdin_task = None
    if use_stdin:
        chunks = await filtered(conn.stdin, keys, detached) if keys else conn.stdin
        stdin_task = asyncio.create_task(request.app["engine"].logs.pump_stdin(c, chunks))
    try:
        async for name, _ts, line in request.app["engine"].logs.attach_output(
                c, stdout=want_out, stderr=want_err, replay=replay, done=stop):
            conn.write(line if tty else frame(name, line))
            await conn.drain()
            if conn.closed:
                break
    finally:
        if stdin_task:
            stdin_task.cancel()
        if stop is not done and stop is not None:
            stop.cancel()
        conn.close()
    return conn.response


async def _first(*aws) -> None:
    """Return when the first of ``aws`` completes (the others are cancelled, not the shared
    exit future: it is shielded)."""
    tasks = [asyncio.ensure_future(asyncio.shield(a) if isinstance(a, asyncio.Future) else a)
             for a in aws]
    try:
        await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for t in tasks:
            t.cancel()


async def resize(request: web.Request) -> web.Response:
    q = request.query
    _svc(request).resize(request.match_info["id"], query_int(q.get("h"), 0, "height"),
                         query_int(q.get("w"), 0, "width"))
    return web.Response(status=200)


async def pause(request: web.Request) -> web.Response:
    await _svc(request).pause(request.match_info["id"])
    return web.Response(status=204)


async def unpause(request: web.Request) -> web.Response:
    await _svc(request).unpause(request.match_info["id"])
    return web.Response(status=204)


async def rename(request: web.Request) -> web.Response:
    _svc(request).rename(request.match_info["id"], request.query.get("name", ""))
    return web.Response(status=204)


async def top(request: web.Request) -> web.Response:
    return web.json_response(await _svc(request).top(request.match_info["id"],
                                                     request.query.get("ps_args", "")))


async def update(request: web.Request) -> web.Response:
    body = await read_json(request, default={})
    warnings = await _svc(request).update(request.match_info["id"], body)
    return web.json_response({"Warnings": warnings})


async def stats(request: web.Request) -> web.StreamResponse:
    q = request.query
    stream = query_bool(q.get("stream", "1"))
    one_shot = query_bool(q.get("one-shot"))
    if one_shot and stream:
        raise InvalidArgument("cannot have stream=true and one-shot=true")
    gen = _svc(request).stats(request.match_info["id"], stream=stream, one_shot=one_shot)
    first = await gen.__anext__()  # a missing container is a plain 404
    resp = web.StreamResponse(status=200, headers={"Content-Type": "application/json"})
    await resp.prepare(request)
    await resp.write(json.dumps(first).encode() + b"\n")
    async for doc in gen:
        await resp.write(json.dumps(doc).encode() + b"\n")
    await resp.write_eof()
    return resp


def register(r) -> None:
    from . import archive as archive_routes
    from . import exec as exec_routes

    exec_routes.register(r)
    archive_routes.register(r)
    r.add("POST", "/containers/create", create)
    r.add("GET", "/containers/json", list_containers)
    r.add("GET", "/containers/{id}/json", inspect)
    r.add("POST", "/containers/{id}/start", start)
    r.add("POST", "/containers/{id}/stop", stop)
    r.add("POST", "/containers/{id}/restart", restart)
    r.add("POST", "/containers/{id}/kill", kill)
    r.add("POST", "/containers/{id}/wait", wait)
    r.add("DELETE", "/containers/{id}", remove)
    r.add("GET", "/containers/{id}/logs", logs)
    r.add("POST", "/containers/{id}/attach", attach)
    r.add("POST", "/containers/{id}/resize", resize)
    r.add("POST", "/containers/{id}/pause", pause)
    r.add("POST", "/containers/{id}/unpause", unpause)
    r.add("POST", "/containers/{id}/rename", rename)
    r.add("GET", "/containers/{id}/top", top)
    r.add("GET", "/containers/{id}/stats", stats)
    r.add("POST", "/containers/{id}/update", update)
