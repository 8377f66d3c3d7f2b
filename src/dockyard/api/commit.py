"""Routes that turn containers into images and look at their changes: commit, diff, export,
and image history."""

from __future__ import annotations

import asyncio

from aiohttp import web

from .. import reference
from ..engine import images as engine_images
from ..errors import InvalidArgument
from .app import read_json
from .filters import query_bool
from .streaming import stream_from_thread


async def commit(request: web.Request) -> web.Response:
    engine = request.app["engine"]
    q = request.query
    ref = q.get("container", "")
    if not ref:
        raise InvalidArgument("container is required")
    repo, tag = q.get("repo", ""), q.get("tag", "")
    repo_tag = None
    if repo:
        r = reference.parse(repo, default_tag=False)
        if r.digest:
            raise InvalidArgument("refusing to create a tag with a digest reference")
        if tag:
            if r.tag:
                raise InvalidArgument(f"invalid reference format: {repo}:{tag}")
            r = r.with_tag(tag)
        repo_tag = r.with_default_tag().familiar_string()
    elif tag:
        raise InvalidArgument("tag given without a repository")
    config = await read_json(request, None)
    pause = query_bool(q.get("pause", "1")) if "pause" in q else True
    img = await asyncio.to_thread(
        engine_images.commit, engine, ref, repo_tag, comment=q.get("comment", ""),
        author=q.get("author", ""), changes=q.getall("changes", []), pause=pause,
        config=config)
    return web.json_response({"Id": img.id}, status=201)


async def container_changes(request: web.Request) -> web.Response:
    engine = request.app["engine"]
    result = await asyncio.to_thread(engine_images.changes, engine, request.match_info["id"])
    return web.json_response(result or None)


async def export(request: web.Request) -> web.StreamResponse:
    engine = request.app["engine"]
    ref = request.match_info["id"]
    return await stream_from_thread(
        request, lambda out: engine_images.export(engine, ref, out),
        check=lambda: engine_images.get_container(engine, ref))


async def history(request: web.Request) -> web.Response:
    store = request.app["engine"].images
    rows = await asyncio.to_thread(store.history, request.match_info["name"])
    return web.json_response(rows)


def register(r) -> None:
    r.add("POST", "/commit", commit)
    r.add("GET", "/containers/{id}/changes", container_changes)
    r.add("GET", "/containers/{id}/export", export)
    r.add("GET", "/images/{name:.+}/history", history)
