"""Routes that turn containers into images and look at their changes: commit, diff, export,
and image history."""

from __future__ import annotations

import asyncio

from aiohttp import web

from .. import reference
from ..engine import images as engine_images
from ..errors import InvalidArgument
from . import convert
from .app import read_json
from .filters import match_labels, query_bool
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


async def prune_images(request: web.Request) -> web.Response:
    from .filters import parse_filters

    f = parse_filters(request.query.get("filters"), {"dangling", "label", "until"})
    dangling = [v.lower() for v in f.get("dangling", ["true"])]
    until = None
    if f.get("until"):
        until = _parse_until(f["until"][0])
    engine = request.app["engine"]
    labels = f.get("label")
    result = await asyncio.to_thread(
        engine_images.prune, engine, dangling[0] in ("0", "false"),
        (lambda have: match_labels(have, labels)) if labels else None, until)
    return web.json_response(result)


def _parse_until(value: str) -> float:
    """A Unix time, an RFC 3339 time, or a Go duration ago (``10m``, ``2h``)."""
    import re
    import time
    from datetime import datetime

    m = re.fullmatch(r"(\d+(?:\.\d+)?)(s|m|h)", value)
    if m:
        return time.time() - float(m.group(1)) * {"s": 1, "m": 60, "h": 3600}[m.group(2)]
    try:
        return float(value)
    except ValueError:
        pass
    try:
        return datetime.fromisoformat(value.replace("Z", "+00:00")).timestamp()
    except ValueError:
        raise InvalidArgument(f"invalid until filter: {value!r}") from None


async def system_df(request: web.Request) -> web.Response:
    du = await asyncio.to_thread(engine_images.disk_usage, request.app["engine"])
    images = []
    for img in du.images:
        summary = convert.image_summary(img)
        summary["SharedSize"] = du.shared[img.id]
        summary["Containers"] = du.containers_of.get(img.id, 0)
        images.append(summary)
    containers = [convert.container_summary(c, du.size_rw[c.id]) for c in du.containers]
    volumes = await asyncio.to_thread(request.app["engine"].volumes.usage)
    from .build import cache_usage

    cache, builder_size = await asyncio.to_thread(cache_usage, request.app)
    return web.json_response({"LayersSize": du.layers_size, "Images": images,
                              "Containers": containers, "Volumes": volumes,
                              "BuildCache": cache, "BuilderSize": builder_size})


def register(r) -> None:
    r.add("POST", "/commit", commit)
    r.add("GET", "/containers/{id}/changes", container_changes)
    r.add("GET", "/containers/{id}/export", export)
    r.add("POST", "/images/prune", prune_images)
    r.add("GET", "/system/df", system_df)
    r.add("GET", "/images/{name:.+}/history", history)
