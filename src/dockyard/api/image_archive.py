"""Image archive routes: save (``GET /images/get``, ``/images/{name}/get``) and load
(``POST /images/load``)."""

from __future__ import annotations

import json

from aiohttp import web

from ..engine.events import emit_image
from ..errors import DockyardError, InvalidArgument, NotFound
from ..image import saveload
from .body import consume_body
from .filters import query_bool
from .streaming import stream_from_thread


async def _save(request: web.Request, names: list[str]) -> web.StreamResponse:
    store = request.app["engine"].images
    if not names:
        raise InvalidArgument("no image names given")

    def check() -> None:
        """Everything that can be refused is refused before the first byte is sent."""
        ids = []
        for n in names:
            img = store.get(n)
            if len(img.layers) != len(img.diff_ids) or not all(
                    store.content.has(b["digest"]) for b in img.layers):
                raise NotFound(f"image {n}: its layer blobs are not in the store")
            if img.id not in ids:
                ids.append(img.id)
        for image_id in ids:  # dockerd's "save" event, one per image
            emit_image(request.app["engine"].events, "save", image_id)

    return await stream_from_thread(request, lambda out: saveload.save(store, names, out),
                                    check=check)


async def save_many(request: web.Request) -> web.StreamResponse:
    return await _save(request, request.query.getall("names", []))


async def save_one(request: web.Request) -> web.StreamResponse:
    return await _save(request, [request.match_info["name"]])


async def load(request: web.Request) -> web.StreamResponse:
    store = request.app["engine"].images
    quiet = query_bool(request.query.get("quiet"))
    error = None
    try:
        lines = await consume_body(request, lambda body: saveload.load(store, body))
    except DockyardError as e:
        # As moby: the reply is 200 whatever happens; a failure is the stream's error line.
        error, lines = str(e), []
    resp = web.StreamResponse(status=200, headers={"Content-Type": "application/json"})
    await resp.prepare(request)
    events = request.app["engine"].events
    for image_id in _loaded_ids(store, lines):
        emit_image(events, "load", image_id)
    if error is not None:
        await resp.write(json.dumps({"errorDetail": {"message": error},
                                     "error": error}).encode() + b"\r\n")
    elif not quiet:
        await resp.write(json.dumps({"status": "Loading layers"}).encode() + b"\r\n")
    for line in lines:
        await resp.write(json.dumps({"stream": line + "\n"}).encode() + b"\r\n")
    await resp.write_eof()
    return resp


def _loaded_ids(store, lines: list[str]) -> list[str]:
    """The ids behind load's "Loaded image: NAME" / "Loaded image ID: ID" lines."""
    ids: list[str] = []
    for line in lines:
        key, _, value = line.partition(": ")
        try:
            image_id = value if key == "Loaded image ID" else store.get(value).id
        except NotFound:
            continue
        if image_id not in ids:
            ids.append(image_id)
    return ids


def register(r) -> None:
    r.add("GET", "/images/get", save_many)
    r.add("POST", "/images/load", load)
    r.add("GET", "/images/{name:.+}/get", save_one)
