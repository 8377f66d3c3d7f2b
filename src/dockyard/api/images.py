"""Image routes of the Engine API."""

import asyncio
import json

from aiohttp import web

from .. import reference
from ..engine import images as engine_images
from ..engine.events import emit_image
from ..errors import InvalidArgument
from . import convert
from .body import consume_body
from .filters import match_labels, parse_filters, query_bool

_LIST_FILTERS = {"dangling", "label", "reference", "before", "since", "until"}


def _images(request: web.Request):
    return request.app["engine"].images


def _matching_tags(img, patterns: list[str]) -> list[str]:
    """The image's tags that a ``reference`` filter matches (Docker lists only those)."""
    import fnmatch

    out = []
    for tag in img.repo_tags:
        repo = tag.rsplit(":", 1)[0]
        if any(fnmatch.fnmatchcase(tag, p) or fnmatch.fnmatchcase(repo, p) for p in patterns):
            out.append(tag)
    return out


async def list_images(request: web.Request) -> web.Response:
    store = _images(request)
    f = parse_filters(request.query.get("filters"), _LIST_FILTERS)
    items = store.list()
    if "dangling" in f:
        want = f["dangling"][0].lower() in ("1", "true")
        items = [i for i in items if (not i.repo_tags) == want]
    if "label" in f:
        items = [i for i in items
                 if match_labels((i.config.get("config") or {}).get("Labels") or {}, f["label"])]
    shown_tags = {}
    if "reference" in f:
        shown_tags = {i.id: _matching_tags(i, f["reference"]) for i in items}
        items = [i for i in items if shown_tags[i.id]]
    if "before" in f:
        ref = store.get(f["before"][0])
        items = [i for i in items if i.created < ref.created]
    if "since" in f:
        ref = store.get(f["since"][0])
        items = [i for i in items if i.created > ref.created]
    items.sort(key=lambda i: i.created, reverse=True)
    return web.json_response([convert.image_summary(i, shown_tags.get(i.id)) for i in items])


async def inspect(request: web.Request) -> web.Response:
    img = _images(request).get(request.match_info["name"])
    return web.json_response(convert.image_inspect(img))


async def delete(request: web.Request) -> web.Response:
    result = await asyncio.to_thread(
        engine_images.delete, request.app["engine"], request.match_info["name"],
        query_bool(request.query.get("force")))
    return web.json_response(result)


async def tag(request: web.Request) -> web.Response:
    repo = request.query.get("repo", "")
    tag_ = request.query.get("tag") or None
    if not repo:
        raise InvalidArgument("repository name must have at least one component")
    engine_images.tag(request.app["engine"], request.match_info["name"], repo, tag_)
    return web.Response(status=201)


async def _import(request: web.Request) -> web.StreamResponse:
    q = request.query
    src = q.get("fromSrc")
    if src != "-":
        raise InvalidArgument("importing from a URL is not supported: send the tar as the body")
    repo, tag_ = q.get("repo", ""), q.get("tag", "")
    repo_tag = None
    if repo:
        ref = reference.parse(repo, default_tag=False)
        if tag_:
            if ref.tag:
                raise InvalidArgument("cannot give a tag both in repo and in tag")
            ref = ref.with_tag(tag_)
        repo_tag = ref.with_default_tag().familiar_string()
    changes = q.getall("changes", [])
    img = await consume_body(request, _images(request).import_rootfs, repo_tag, changes,
                             q.get("message", ""), q.get("platform") or None)
    events = request.app["engine"].events
    if repo_tag:
        emit_image(events, "tag", img.id, repo_tag)
    emit_image(events, "import", img.id)
    resp = web.StreamResponse(status=200, headers={"Content-Type": "application/json"})
    await resp.prepare(request)
    await resp.write(json.dumps({"status": img.id}).encode() + b"\r\n")
    await resp.write_eof()
    return resp


async def create(request: web.Request) -> web.StreamResponse:
    q = request.query
    if q.get("fromSrc"):
        return await _import(request)
    if not q.get("fromImage"):
        raise InvalidArgument("fromImage or fromSrc is required")
    from . import distribution

    return await distribution.pull(request)


def register(r) -> None:
    r.add("GET", "/images/json", list_images)
    r.add("POST", "/images/create", create)
    r.add("GET", "/images/{name:.+}/json", inspect)
    r.add("POST", "/images/{name:.+}/tag", tag)
    r.add("DELETE", "/images/{name:.+}", delete)
