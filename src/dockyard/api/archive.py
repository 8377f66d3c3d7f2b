"""``GET/HEAD/PUT /containers/{id}/archive``: what ``docker cp`` uses, both directions."""

from __future__ import annotations

import asyncio
import io
import logging

from aiohttp import web

from ..engine.archive import ArchiveService, Target, stat_header
from ..errors import InvalidArgument
from .body import consume_body
from .filters import query_bool
from .streaming import _LoopWriter

log = logging.getLogger(__name__)

STAT_HEADER = "X-Docker-Container-Path-Stat"


def _svc(request: web.Request) -> ArchiveService:
    return ArchiveService(request.app["engine"].containers)  # stateless: one per request


def _path(request: web.Request) -> str:
    path = request.query.get("path")
    if not path:
        raise InvalidArgument("path is required")
    return path


async def head(request: web.Request) -> web.Response:
    path = _path(request)
    async with _svc(request).root(request.match_info["id"]) as root:
        t = await asyncio.to_thread(Target, root, path)
        try:
            doc = t.stat_doc()
        finally:
            t.close()
    return web.Response(status=200, headers={STAT_HEADER: stat_header(doc),
                                             "Content-Type": "application/x-tar"})


async def get(request: web.Request) -> web.StreamResponse:
    path = _path(request)
    async with _svc(request).root(request.match_info["id"]) as root:
        t = await asyncio.to_thread(Target, root, path)
        try:
            resp = web.StreamResponse(status=200, headers={
                STAT_HEADER: stat_header(t.stat_doc()), "Content-Type": "application/x-tar"})
            await resp.prepare(request)
            loop = asyncio.get_running_loop()

            def run() -> None:
                with io.BufferedWriter(_LoopWriter(resp, loop), 1 << 20) as out:
                    t.write_tar(out)

            try:
                await asyncio.to_thread(run)
            except Exception:
                log.exception("archive of %s failed", path)
                if request.transport is not None:
                    request.transport.close()
                return resp
        finally:
            t.close()
    await resp.write_eof()
    return resp


async def put(request: web.Request) -> web.Response:
    path = _path(request)
    q = request.query
    svc = _svc(request)
    async with svc.root(request.match_info["id"], write=True) as root:
        await consume_body(request, lambda body: svc.extract(
            root, path, body,
            no_overwrite_dir_non_dir=query_bool(q.get("noOverwriteDirNonDir")),
            copy_uid_gid=query_bool(q.get("copyUIDGID"))))
        return web.Response(status=200)


def register(r) -> None:
    r.add("HEAD", "/containers/{id}/archive", head)
    r.add("GET", "/containers/{id}/archive", get)
    r.add("PUT", "/containers/{id}/archive", put)
