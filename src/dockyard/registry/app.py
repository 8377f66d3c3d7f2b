"""HTTP face of the registry (on ``httpd``): routing, auth checks, headers, error bodies.

Names may contain slashes, so one catch-all route is split by regular expressions, longest
suffix first, the way the spec's endpoint table reads.
"""

from __future__ import annotations

import asyncio
import json
import logging
import re
from collections.abc import AsyncIterator
from typing import Any
from urllib.parse import urlencode

from ..errors import DockyardError
from . import manifests as mf
from .auth import Authorizer, Scope, TokenAuthorizer, parse_scope
from .errors import RegistryError, from_base
from .httpd import FileResponse, ProtocolError, Query, Request, Response, StreamResponse
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
MAX_FORM = 64 << 10  # a token request's form
_RANGE_RE = re.compile(r"^(?:bytes[= ])?(\d+)-(\d+)$")
_ALLOWED = {
    "base": ("GET", "HEAD"), "catalog": ("GET",), "tags": ("GET",),
    "manifest": ("GET", "HEAD", "PUT", "DELETE"), "uploads": ("POST",),
    "upload": ("GET", "PATCH", "PUT", "DELETE"), "blob": ("GET", "HEAD", "DELETE"),
    "referrers": ("GET",),
}


def _error_response(err: RegistryError, method: str) -> Response:
    headers = {"Content-Type": "application/json", **err.headers}
    body = json.dumps(err.body()).encode()
    return Response(err.status, body, headers)  # HEAD: the server sends the length, no body


def json_response(data: Any, headers: dict[str, str] | None = None,
                  status: int = 200) -> Response:
    h = {"Content-Type": "application/json; charset=utf-8"}
    if headers:
        h.update(headers)
    return Response(status, json.dumps(data).encode(), h)


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


def _page_args(request: Request) -> tuple[str | None, int | None]:
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


class RegistryApp:
    def __init__(self, registry: Registry, authorizer: Authorizer | None = None):
        self._transfers = [0]
        self.registry = registry
        self.auth = authorizer or Authorizer()

    async def handle(self, request: Request) -> Response:
        """The one entry point the HTTP server calls; never raises."""
        try:
            resp = await self._route(request)
        except RegistryError as e:
            resp = _error_response(e, request.method)
        except DockyardError as e:
            resp = _error_response(from_base(e), request.method)
        except ProtocolError as e:
            # broken framing or an oversized body: answer, and the server closes the connection
            request.body_failed = True
            code = "PAYLOAD_TOO_LARGE" if e.status == 413 else "BLOB_UPLOAD_INVALID"
            resp = _error_response(RegistryError(code, str(e), status=e.status), request.method)
        except ConnectionError:
            # the client went away mid-body: nothing to answer, nothing worth a traceback
            log.info("client disconnected during %s %s", request.method, request.path)
            request.body_failed = True
            resp = _error_response(RegistryError("BLOB_UPLOAD_INVALID", "incomplete body"),
                                   request.method)
        except Exception:
            log.exception("internal error on %s %s", request.method, request.path)
            resp = _error_response(
                RegistryError("UNSUPPORTED", "internal server error", status=500),
                request.method)
        resp.headers[API_HEADER[0]] = API_HEADER[1]
        return resp

    async def _route(self, request: Request) -> Response:
        path = request.path
        if path == "/token" and isinstance(self.auth, TokenAuthorizer):
            if request.method not in ("GET", "POST"):
                raise RegistryError("UNSUPPORTED", f"method {request.method} not allowed")
            return await self._token(request)
        if path != "/v2" and not path.startswith("/v2/"):
            raise RegistryError("NAME_UNKNOWN", "no such endpoint", status=404)
        return await self._dispatch(request)

    # -- dispatch ----------------------------------------------------------------------------------

    async def _dispatch(self, request: Request) -> Response:
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

    async def _authorize(self, request: Request, needed: list[Scope]) -> str | None:
        if type(self.auth) is Authorizer:
            return None
        base = f"{request.scheme}://{request.host}"
        return await asyncio.to_thread(
            self.auth.check, request.header("Authorization"), needed, base)

    async def _token(self, request: Request) -> Response:
        assert isinstance(self.auth, TokenAuthorizer)
        form: dict[str, str] | None = None
        scopes_raw = request.query.getall("scope")
        if request.method == "POST":
            ctype = (request.header("Content-Type") or "").split(";", 1)[0].strip().lower()
            if ctype != "application/x-www-form-urlencoded":
                raise RegistryError("UNSUPPORTED", "token requests are form-encoded", status=400)
            data = Query((await request.read(MAX_FORM)).decode("utf-8", "replace"))
            form = {}
            for k, v in data.items():
                form.setdefault(k, v)
            scopes_raw = data.getall("scope") or scopes_raw
        scopes = [s for raw in scopes_raw for part in raw.split(" ")
                  if (s := parse_scope(part)) is not None]
        auth = self.auth
        res = await asyncio.to_thread(auth.issue, request.header("Authorization"), scopes,
                                      form)
        return json_response(res)

    def _check_writable(self) -> None:
        self.registry.check_writable()

    # -- base, catalog, tags, referrers ------------------------------------------------------------

    async def _base(self, request: Request) -> Response:
        return json_response({})

    async def _catalog(self, request: Request) -> Response:
        last, n = _page_args(request)
        items = self.registry.catalog(last, None if n is None else n + 1)
        items, headers = _paginate(items, n, "/v2/_catalog", "last")
        return json_response({"repositories": items}, headers=headers)

    async def _tags(self, request: Request, name: str) -> Response:
        last, n = _page_args(request)
        items = self.registry.tags(name, last, None if n is None else n + 1)
        items, headers = _paginate(items, n, f"/v2/{name}/tags/list", "last")
        return json_response({"name": name, "tags": items}, headers=headers)

    async def _referrers(self, request: Request, name: str, digest: str) -> Response:
        check_digest(digest)
        art = request.query.get("artifactType")
        descs = self.registry.referrers(name, digest, art)
        headers = {"Content-Type": mf.OCI_INDEX}
        if art is not None:
            headers["OCI-Filters-Applied"] = "artifactType"
        body = {"schemaVersion": 2, "mediaType": mf.OCI_INDEX, "manifests": descs}
        return Response(body=json.dumps(body).encode(), headers=headers)

    # -- blobs ---------------------------------------------------------------------------------------

    async def _blob_head(self, request: Request, name: str, digest: str) -> Response:
        check_digest(digest)
        size = self.registry.blob_size(name, digest)
        return Response(status=200, headers={
            "Content-Length": str(size), "Docker-Content-Digest": digest,
            "Content-Type": "application/octet-stream", "Accept-Ranges": "bytes",
            "ETag": f'"{digest}"'})

    async def _blob_get(self, request: Request, name: str, digest: str) -> Response:
        check_digest(digest)
        size = self.registry.blob_size(name, digest)
        headers = {"Docker-Content-Digest": digest, "Content-Type": "application/octet-stream",
                   "ETag": f'"{digest}"', "Cache-Control": "max-age=31536000"}
        local = self.registry.blob_local_path(digest)
        if local is not None:
            return FileResponse(local, headers)
        f = await asyncio.to_thread(self.registry.open_blob, digest)

        async def stream() -> AsyncIterator[bytes]:
            try:
                while chunk := await asyncio.to_thread(f.read, BATCH):
                    yield chunk
            finally:
                f.close()

        return StreamResponse(stream(), size, headers)

    async def _blob_delete(self, request: Request, name: str, digest: str) -> Response:
        check_digest(digest)
        self.registry.delete_blob(name, digest)
        return Response(status=202, headers={"Docker-Content-Digest": digest,
                                                 "Content-Length": "0"})

    # -- uploads ---------------------------------------------------------------------------------------

    @staticmethod
    def _body(request: Request) -> AsyncIterator[bytes]:
        return request.iter_body()

    @staticmethod
    def _length(request: Request) -> int | None:
        return request.content_length

    def _created(self, name: str, digest: str) -> Response:
        return Response(status=201, headers={
            "Location": f"/v2/{name}/blobs/{digest}", "Docker-Content-Digest": digest,
            "Content-Length": "0"})

    def _upload_headers(self, name: str, sid: str, offset: int) -> dict[str, str]:
        return {"Location": f"/v2/{name}/blobs/uploads/{sid}",
                "Range": f"0-{max(offset - 1, 0)}", "Docker-Upload-UUID": sid,
                "Content-Length": "0"}

    async def _uploads(self, request: Request, name: str) -> Response:
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
        return Response(status=202, headers=self._upload_headers(name, s.id, 0))

    async def _upload_get(self, request: Request, name: str, uuid: str) -> Response:
        s = self.registry.get_upload(name, uuid)
        offset = self.registry.uploads.offset(s)
        return Response(status=204, headers=self._upload_headers(name, uuid, offset))

    def _content_range(self, request: Request) -> int | None:
        raw = request.header("Content-Range")
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

    async def _upload_patch(self, request: Request, name: str, uuid: str) -> Response:
        self._check_writable()
        s = self.registry.get_upload(name, uuid)
        start = self._content_range(request)
        async with s.lock:
            offset = await self.registry.uploads.append(
                s, self._body(request), start, self._length(request))
        return Response(status=202, headers=self._upload_headers(name, uuid, offset))

    async def _upload_put(self, request: Request, name: str, uuid: str) -> Response:
        self._check_writable()
        s = self.registry.get_upload(name, uuid)
        dg = request.query.get("digest")
        if dg is None:
            raise RegistryError("DIGEST_INVALID", "digest parameter is required")
        check_digest(dg)
        start = self._content_range(request)
        async with s.lock:
            if request.has_body or start is not None:
                await self.registry.uploads.append(s, self._body(request), start,
                                                   self._length(request))
            await self.registry.finish_upload(s, dg)
        return self._created(name, dg)

    async def _upload_delete(self, request: Request, name: str, uuid: str) -> Response:
        self._check_writable()
        s = self.registry.get_upload(name, uuid)
        self.registry.uploads.delete(s)
        return Response(status=204, headers={"Content-Length": "0"})

    # -- manifests -------------------------------------------------------------------------------------

    def _manifest_headers(self, m: Any) -> dict[str, str]:
        return {"Content-Type": m.media_type, "Docker-Content-Digest": m.digest,
                "ETag": f'"{m.digest}"'}

    def _negotiate(self, request: Request, media_type: str, reference: str) -> None:
        accept = ",".join(request.getall("Accept"))
        if not accept or media_type not in mf.INDEX_TYPES or is_digest_ref(reference):
            return
        types = {a.split(";", 1)[0].strip() for a in accept.split(",")}
        if media_type in types or "*/*" in types or "application/*" in types:
            return
        raise RegistryError("MANIFEST_UNKNOWN",
                            f"{media_type} found, but the Accept header does not allow it")

    async def _manifest_head(self, request: Request, name: str, ref: str) -> Response:
        m = self.registry.get_manifest(name, ref)
        self._negotiate(request, m.media_type, ref)
        headers = self._manifest_headers(m)
        headers["Content-Length"] = str(len(m.body))
        return Response(status=200, headers=headers)

    async def _manifest_get(self, request: Request, name: str, ref: str) -> Response:
        m = self.registry.get_manifest(name, ref)
        self._negotiate(request, m.media_type, ref)
        return Response(body=m.body, headers=self._manifest_headers(m))

    async def _manifest_put(self, request: Request, name: str, ref: str) -> Response:
        self._check_writable()
        if request.content_length is not None and request.content_length > mf.MAX_MANIFEST_SIZE:
            raise RegistryError("PAYLOAD_TOO_LARGE", "manifest is larger than 4 MiB")
        body = bytearray()
        async for chunk in request.iter_body():
            body += chunk
            if len(body) > mf.MAX_MANIFEST_SIZE:
                raise RegistryError("PAYLOAD_TOO_LARGE", "manifest is larger than 4 MiB")
        dg, subject = await asyncio.to_thread(
            self.registry.put_manifest, name, ref, bytes(body),
            request.header("Content-Type"))
        headers = {"Location": f"/v2/{name}/manifests/{dg}",
                   "Docker-Content-Digest": dg, "Content-Length": "0"}
        if subject:
            headers["OCI-Subject"] = subject
        return Response(status=201, headers=headers)

    async def _manifest_delete(self, request: Request, name: str, ref: str) -> Response:
        self.registry.delete_manifest(name, ref)
        return Response(status=202, headers={"Content-Length": "0"})
