"""Volume routes: Docker's ``/volumes`` API, plus export, import and clone (dockyard's own)."""

from __future__ import annotations

import asyncio

from aiohttp import web

from ..engine.volumes import volume_json
from ..errors import InvalidArgument
from .app import read_json
from .body import consume_body
from .filters import parse_filters, query_bool
from .streaming import stream_from_thread

_LIST_FILTERS = {"dangling", "name", "label", "driver"}
_PRUNE_FILTERS = {"label", "label!", "all"}


def _svc(request: web.Request):
    return request.app["engine"].volumes


def _api_version(request: web.Request) -> tuple[int, int]:
    v = request.match_info.get("_version")
    if not v:
        return (1, 43)
    a, b = v.split(".")
    return int(a), int(b)


async def list_volumes(request: web.Request) -> web.Response:
    filters = parse_filters(request.query.get("filters"), _LIST_FILTERS)
    vols = await asyncio.to_thread(_svc(request).list, filters)
    return web.json_response({"Volumes": [volume_json(v) for v in vols], "Warnings": []})


async def create(request: web.Request) -> web.Response:
    body = await read_json(request, {})
    if not isinstance(body, dict):
        raise InvalidArgument("invalid JSON: the body must be a JSON object")
    name = body.get("Name") or ""
    if not isinstance(name, str):
        raise InvalidArgument("Name must be a string")
    v = await asyncio.to_thread(_svc(request).create, name, body.get("Driver"),
                                body.get("DriverOpts") or {}, body.get("Labels") or {})
    return web.json_response(volume_json(v), status=201)


async def inspect(request: web.Request) -> web.Response:
    v = _svc(request).get(request.match_info["name"])
    return web.json_response(volume_json(v))


async def remove(request: web.Request) -> web.Response:
    await asyncio.to_thread(_svc(request).remove, request.match_info["name"],
                            query_bool(request.query.get("force")))
    return web.Response(status=204)


async def prune(request: web.Request) -> web.Response:
    filters = parse_filters(request.query.get("filters"), _PRUNE_FILTERS)
    # Docker 23+: only anonymous volumes unless all=true; older API versions prune all.
    all_volumes = _api_version(request) < (1, 42)
    deleted, space = await asyncio.to_thread(_svc(request).prune, filters, all_volumes)
    return web.json_response({"VolumesDeleted": deleted, "SpaceReclaimed": space})


async def export(request: web.Request) -> web.StreamResponse:
    svc, name = _svc(request), request.match_info["name"]
    return await stream_from_thread(request, lambda out: svc.export(name, out),
                                    check=lambda: svc.get(name))


async def import_(request: web.Request) -> web.Response:
    svc, name = _svc(request), request.match_info["name"]
    v = await consume_body(request, lambda body: svc.import_(name, body))
    return web.json_response(volume_json(v))


async def clone(request: web.Request) -> web.Response:
    dst = request.query.get("name") or ""
    if not dst:
        raise InvalidArgument("clone: the name of the new volume is required (?name=)")
    v = await asyncio.to_thread(_svc(request).clone, request.match_info["name"], dst)
    return web.json_response(volume_json(v), status=201)


def register(r) -> None:
    r.add("GET", "/volumes", list_volumes)
    r.add("POST", "/volumes/create", create)
    r.add("POST", "/volumes/prune", prune)
    r.add("GET", "/volumes/{name}/export", export)
    r.add("POST", "/volumes/{name}/import", import_)
    r.add("PUT", "/volumes/{name}/import", import_)
    r.add("POST", "/volumes/{name}/clone", clone)
    r.add("GET", "/volumes/{name}", inspect)
    r.add("DELETE", "/volumes/{name}", remove)
