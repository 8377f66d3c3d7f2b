"""HTTP face of the registry (aiohttp): routing, auth checks, headers, error bodies.

Names may contain slashes, so one catch-all route is split by regular expressions, longest
suffix first, the way the spec's endpoint table reads.
"""

from __future__ import annotations

import asyncio
import json
import logging
import re
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any
from urllib.parse import urlencode

from aiohttp import ClientPayloadError, web

from ..errors import DockyardError
from . import manifests as mf
from .auth import Authorizer, Scope, TokenAuthorizer, parse_scope
from .errors import RegistryError, from_base
from .service import Registry, check_digest, check_name, is_digest_ref
from .uploads import BATCH

log = logging.getLogger("dockyard.registry")

API_HEADER = ("Docker-Distribution-API-Version", "registry/2.0")
_ROUTES = [
    ("tags", re.compile(r"^/v2/(?P<name>.+)/tags/list$")),
    ("manifest", re.compile(r"^/v2/(?P<name>.+)/manifests/(?P<ref>[^/]+)$")),
    ("uploads", re.compile(r"^/v2/(?P<name>.+)/blobs/uploads/?$")),
    ("upload", re.compile(r"^/v2/(?P<name>.+)/blobs/uploads/(?P<uuid>[^/]+)$")),
    ("blob", re.compile(r"^/v2/(?P<name>.+)/blobs/(?P<digest>[^/]+)$")),
    ("referrers", re.compile(r"^/v2/(?P<name>.+)/referrers/(?P<digest>[^/]+)$")),
]
MAX_PAGE = 10_000
_RANGE_RE = re.compile(r"^(?:bytes[= ])?(\d+)-(\d+)$")
_ALLOWED = {
    "base": ("GET", "HEAD"), "catalog": ("GET",), "tags": ("GET",),
    "manifest": ("GET", "HEAD", "PUT", "DELETE"), "uploads": ("POST",),
    "upload": ("GET", "PATCH", "PUT", "DELETE"), "blob": ("GET", "HEAD", "DELETE"),
    "referrers": ("GET",),
}


def _error_response(err: RegistryError, method: str) -> web.Response:
    headers = {"Content-Type": "application/json", **err.headers}
    body = None if method == "HEAD" else json.dumps(err.body()).encode()
    return web.Response(status=err.status, body=body, headers=headers)


def _needed(kind: str, method: str, name: str | None) -> list[Scope]:
    if kind == "base":
        return []
    if kind == "catalog":
        return [Scope("registry", "catalog", ("*",))]
    assert name is not None
    if method in ("GET", "HEAD"):
        acts: tuple[str, ...] = ("pull",)
    elif method == "DELETE" and kind in ("manifest", "blob"):
        acts = ("delete",)
    else:
        acts = ("pull", "push")
    return [Scope("repository", name, acts)]


def _page_args(request: web.Request) -> tuple[str | None, int | None]:
    last = request.query.get("last")
    n_raw = request.query.get("n")
    n = None
    if n_raw is not None:
        try:
            n = int(n_raw)
        except ValueError:
            raise RegistryError("PAGINATION_NUMBER_INVALID") from None
        if n < 0:
            raise RegistryError("PAGINATION_NUMBER_INVALID")
        n = min(n, MAX_PAGE)  # the spec lets a registry return fewer than asked
    return last, n


def _paginate(items: list[str], n: int | None, path: str, last_key: str) -> tuple[list[str], dict[str, str]]:
    """``items`` was fetched with n+1 so we know whether a next page exists."""
    if n == 0:
        return [], {}
    if n is None or len(items) <= n:
        return items, {}
    items = items[:n]
    link = f'<{path}?{urlencode({"last": items[-1], "n": n})}>; rel="next"'
    return items, {"Link": link}


class BlobFileResponse(web.FileResponse):
    """FileResponse that can copy instead of ``sendfile``.

    Measured on loopback: with several transfers in flight, ``sendfile`` wins (the server's CPU
    is the limit); a lone transfer to a slow reader (skopeo hashing and writing) finishes
    sooner when the server copies, because the reader then copies cache-hot data. So the
    server uses ``sendfile`` whenever another blob GET is running and copies otherwise.
    """

    def __init__(self, path: str, transfers: list[int], **kwargs: Any):
        super().__init__(path, **kwargs)
        self._transfers = transfers  # one shared cell: blob bodies being sent right now

    async def _sendfile(self, request: web.BaseRequest, fobj: Any, offset: int,
                        count: int) -> Any:
        self._transfers[0] += 1
        try:
            if self._transfers[0] > 1:
                return await super()._sendfile(request, fobj, offset, count)
            writer = await web.StreamResponse.prepare(self, request)
            assert writer is not None
            await self._sendfile_fallback(writer, fobj, offset, count)
            await web.StreamResponse.write_eof(self)
            return writer
        finally:
            self._transfers[0] -= 1


class RegistryApp:
    def __init__(self, registry: Registry, authorizer: Authorizer | None = None):
        self._transfers = [0]
        self.registry = registry
        self.auth = authorizer or Authorizer()

    def build(self) -> web.Application:
        app = web.Application(middlewares=[self._errors], client_max_size=mf.MAX_MANIFEST_SIZE + 1)
        app.router.add_route("*", "/v2", self._dispatch)
        app.router.add_route("*", "/v2/{tail:.*}", self._dispatch)
        if isinstance(self.auth, TokenAuthorizer):
            app.router.add_route("GET", "/token", self._token)
            app.router.add_route("POST", "/token", self._token)
        app.on_response_prepare.append(self._api_header)
        return app

    @staticmethod
    async def _api_header(request: web.Request, response: web.StreamResponse) -> None:
        response.headers[API_HEADER[0]] = API_HEADER[1]

    @web.middleware
    async def _errors(self, request: web.Request,
                      handler: Callable[[web.Request], Awaitable[web.StreamResponse]]
                      ) -> web.StreamResponse:
        try:
            return await handler(request)
        except RegistryError as e:
            return _error_response(e, request.method)
        except DockyardError as e:
            return _error_response(from_base(e), request.method)
        except web.HTTPException:
            raise
        except (ConnectionResetError, ClientPayloadError):
            # the client went away mid-body: nothing to answer, nothing worth a traceback
            log.info("client disconnected during %s %s", request.method, request.path)
            return _error_response(RegistryError("BLOB_UPLOAD_INVALID", "incomplete body"),
                                   request.method)
        except Exception:
            log.exception("internal error on %s %s", request.method, request.path)
            err = RegistryError("UNSUPPORTED", "internal server error", status=500)
            return _error_response(err, request.method)

    # -- dispatch ----------------------------------------------------------------------------------

    async def _dispatch(self, request: web.Request) -> web.StreamResponse:
        path = request.path
        kind, m = "base", None
        if path in ("/v2", "/v2/"):
            kind = "base"
        elif path == "/v2/_catalog":
            kind = "catalog"
        else:
            for k, rx in _ROUTES:
                m = rx.match(path)
                if m:
                    kind = k
                    break
            else:
                raise RegistryError("NAME_UNKNOWN", "no such endpoint", status=404)
        if request.method not in _ALLOWED[kind]:
            raise RegistryError("UNSUPPORTED", f"method {request.method} not allowed")
        name = check_name(m.group("name")) if m else None
        await self._authorize(request, _needed(kind, request.method, name))
        handler = getattr(self, f"_{kind}_{request.method.lower()}", None)
        if handler is None:
            handler = getattr(self, f"_{kind}")
        params = {k: v for k, v in (m.groupdict() if m else {}).items()}
        return await handler(request, **params)

    async def _authorize(self, request: web.Request, needed: list[Scope]) -> str | None:
        if type(self.auth) is Authorizer:
            return None
        base = f"{request.scheme}://{request.host}"
        return await asyncio.to_thread(
            self.auth.check, request.headers.get("Authorization"), needed, base)

    async def _token(self, request: web.Request) -> web.Response:
        assert isinstance(self.auth, TokenAuthorizer)
        form: dict[str, str] | None = None
        scopes_raw = request.query.getall("scope", [])
        if request.method == "POST":
            data = await request.post()
            form = {k: str(v) for k, v in data.items()}
            scopes_raw = [str(v) for v in data.getall("scope", [])] or scopes_raw
        scopes = [s for raw in scopes_raw for part in raw.split(" ")
                  if (s := parse_scope(part)) is not None]
        auth = self.auth
        res = await asyncio.to_thread(auth.issue, request.headers.get("Authorization"), scopes,
                                      form)
        return web.json_response(res)

    def _check_writable(self) -> None:
        self.registry.check_writable()

    # -- base, catalog, tags, referrers ------------------------------------------------------------

    async def _base(self, request: web.Request) -> web.Response:
        return web.json_response({})

    async def _catalog(self, request: web.Request) -> web.Response:
        last, n = _page_args(request)
        items = self.registry.catalog(last, None if n is None else n + 1)
        items, headers = _paginate(items, n, "/v2/_catalog", "last")
        return web.json_response({"repositories": items}, headers=headers)

    async def _tags(self, request: web.Request, name: str) -> web.Response:
        last, n = _page_args(request)
        items = self.registry.tags(name, last, None if n is None else n + 1)
        items, headers = _paginate(items, n, f"/v2/{name}/tags/list", "last")
        return web.json_response({"name": name, "tags": items}, headers=headers)

    async def _referrers(self, request: web.Request, name: str, digest: str) -> web.Response:
        check_digest(digest)
        art = request.query.get("artifactType")
        descs = self.registry.referrers(name, digest, art)
        headers = {"Content-Type": mf.OCI_INDEX}
        if art is not None:
            headers["OCI-Filters-Applied"] = "artifactType"
        body = {"schemaVersion": 2, "mediaType": mf.OCI_INDEX, "manifests": descs}
        return web.Response(body=json.dumps(body).encode(), headers=headers)

    # -- blobs ---------------------------------------------------------------------------------------

    async def _blob_head(self, request: web.Request, name: str, digest: str) -> web.Response:
        check_digest(digest)
        size = self.registry.blob_size(name, digest)
        return web.Response(status=200, headers={
            "Content-Length": str(size), "Docker-Content-Digest": digest,
            "Content-Type": "application/octet-stream", "Accept-Ranges": "bytes",
            "ETag": f'"{digest}"'})

    async def _blob_get(self, request: web.Request, name: str, digest: str
                        ) -> web.StreamResponse:
        check_digest(digest)
        size = self.registry.blob_size(name, digest)
        headers = {"Docker-Content-Digest": digest, "Content-Type": "application/octet-stream",
                   "ETag": f'"{digest}"', "Cache-Control": "max-age=31536000"}
        local = self.registry.blob_local_path(digest)
        if local is not None:
            return BlobFileResponse(local, self._transfers, chunk_size=256 << 10,
                                    headers=headers)
        resp = web.StreamResponse(headers=headers)
        resp.content_length = size
        await resp.prepare(request)
        f = await asyncio.to_thread(self.registry.open_blob, digest)
        try:
            while chunk := await asyncio.to_thread(f.read, BATCH):
                await resp.write(chunk)
        finally:
            f.close()
        await resp.write_eof()
        return resp

    async def _blob_delete(self, request: web.Request, name: str, digest: str) -> web.Response:
        check_digest(digest)
        self.registry.delete_blob(name, digest)
        return web.Response(status=202, headers={"Docker-Content-Digest": digest,
                                                 "Content-Length": "0"})

    # -- uploads ---------------------------------------------------------------------------------------

    @staticmethod
    def _body(request: web.Request) -> AsyncIterator[bytes]:
        return request.content.iter_chunked(BATCH)

    @staticmethod
    def _length(request: web.Request) -> int | None:
        return request.content_length

    def _created(self, name: str, digest: str) -> web.Response:
        return web.Response(status=201, headers={
            "Location": f"/v2/{name}/blobs/{digest}", "Docker-Content-Digest": digest,
            "Content-Length": "0"})

    def _upload_headers(self, name: str, sid: str, offset: int) -> dict[str, str]:
        return {"Location": f"/v2/{name}/blobs/uploads/{sid}",
                "Range": f"0-{max(offset - 1, 0)}", "Docker-Upload-UUID": sid,
                "Content-Length": "0"}

    async def _uploads(self, request: web.Request, name: str) -> web.Response:
        self._check_writable()
        q = request.query
        mount, from_repo = q.get("mount"), q.get("from")
        if mount is not None and from_repo:
            check_digest(mount)
            check_name(from_repo)
            try:
                await self._authorize(request, [Scope("repository", from_repo, ("pull",))])
                size = self.registry.mount(name, mount, from_repo)
            except RegistryError as e:
                if e.code != "UNAUTHORIZED":
                    raise
                size = None
            if size is not None:
                return self._created(name, mount)
        dg = q.get("digest")
        if dg is not None:
            check_digest(dg)
            await self.registry.put_blob(name, dg, self._body(request), self._length(request))
            return self._created(name, dg)
        s = self.registry.start_upload(name)
        return web.Response(status=202, headers=self._upload_headers(name, s.id, 0))

    async def _upload_get(self, request: web.Request, name: str, uuid: str) -> web.Response:
        s = self.registry.get_upload(name, uuid)
        offset = self.registry.uploads.offset(s)
        return web.Response(status=204, headers=self._upload_headers(name, uuid, offset))

    def _content_range(self, request: web.Request) -> int | None:
        raw = request.headers.get("Content-Range")
        if raw is None:
            return None
        m = _RANGE_RE.match(raw.strip())
        if not m:
            raise RegistryError("RANGE_INVALID", f"malformed Content-Range {raw[:80]!r}")
        start, end = int(m.group(1)), int(m.group(2))
        length = request.content_length
        if end < start or (length is not None and end - start + 1 != length):
            raise RegistryError("RANGE_INVALID", "Content-Range does not match Content-Length")
        return start

    async def _upload_patch(self, request: web.Request, name: str, uuid: str) -> web.Response:
        self._check_writable()
        s = self.registry.get_upload(name, uuid)
        start = self._content_range(request)
        async with s.lock:
            offset = await self.registry.uploads.append(
                s, self._body(request), start, self._length(request))
        return web.Response(status=202, headers=self._upload_headers(name, uuid, offset))

    async def _upload_put(self, request: web.Request, name: str, uuid: str) -> web.Response:
        self._check_writable()
        s = self.registry.get_upload(name, uuid)
        dg = request.query.get("digest")
        if dg is None:
            raise RegistryError("DIGEST_INVALID", "digest parameter is required")
        check_digest(dg)
        start = self._content_range(request)
        async with s.lock:
            if request.can_read_body or start is not None:
                await self.registry.uploads.append(s, self._body(request), start,
                                                   self._length(request))
            await self.registry.finish_upload(s, dg)
        return self._created(name, dg)

    async def _upload_delete(self, request: web.Request, name: str, uuid: str) -> web.Response:
        self._check_writable()
        s = self.registry.get_upload(name, uuid)
        self.registry.uploads.delete(s)
        return web.Response(status=204, headers={"Content-Length": "0"})

    # -- manifests -------------------------------------------------------------------------------------

    def _manifest_headers(self, m: Any) -> dict[str, str]:
        return {"Content-Type": m.media_type, "Docker-Content-Digest": m.digest,
                "ETag": f'"{m.digest}"'}

    def _negotiate(self, request: web.Request, media_type: str, reference: str) -> None:
        accept = ",".join(request.headers.getall("Accept", []))
        if not accept or media_type not in mf.INDEX_TYPES or is_digest_ref(reference):
            return
        types = {a.split(";", 1)[0].strip() for a in accept.split(",")}
        if media_type in types or "*/*" in types or "application/*" in types:
            return
        raise RegistryError("MANIFEST_UNKNOWN",
                            f"{media_type} found, but the Accept header does not allow it")

    async def _manifest_head(self, request: web.Request, name: str, ref: str) -> web.Response:
        m = self.registry.get_manifest(name, ref)
        self._negotiate(request, m.media_type, ref)
        headers = self._manifest_headers(m)
        headers["Content-Length"] = str(len(m.body))
        return web.Response(status=200, headers=headers)

    async def _manifest_get(self, request: web.Request, name: str, ref: str) -> web.Response:
        m = self.registry.get_manifest(name, ref)
        self._negotiate(request, m.media_type, ref)
        return web.Response(body=m.body, headers=self._manifest_headers(m))

    async def _manifest_put(self, request: web.Request, name: str, ref: str) -> web.Response:
        self._check_writable()
        if request.content_length is not None and request.content_length > mf.MAX_MANIFEST_SIZE:
            raise RegistryError("PAYLOAD_TOO_LARGE", "manifest is larger than 4 MiB")
        body = bytearray()
        async for chunk in request.content.iter_chunked(1 << 16):
            body += chunk
            if len(body) > mf.MAX_MANIFEST_SIZE:
                raise RegistryError("PAYLOAD_TOO_LARGE", "manifest is larger than 4 MiB")
        dg, subject = await asyncio.to_thread(
            self.registry.put_manifest, name, ref, bytes(body),
            request.headers.get("Content-Type"))
        headers = {"Location": f"/v2/{name}/manifests/{dg}",
                   "Docker-Content-Digest": dg, "Content-Length": "0"}
        if subject:
            headers["OCI-Subject"] = subject
        return web.Response(status=201, headers=headers)

    async def _manifest_delete(self, request: web.Request, name: str, ref: str) -> web.Response:
        self.registry.delete_manifest(name, ref)
        return web.Response(status=202, headers={"Content-Length": "0"})
