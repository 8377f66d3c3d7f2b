"""``docker push``: each blob is checked (HEAD), else mounted from another repository of the
same registry, else uploaded (monolithic PUT, or PATCH chunks for large blobs); the manifest
goes last, and its digest is pinned in the image's RepoDigests."""

from __future__ import annotations

import http.client
import json
import threading
import time
import urllib.parse
from concurrent.futures import ThreadPoolExecutor
from typing import BinaryIO

from .. import digest as _digest
from .. import reference as _reference
from ..errors import Conflict, DockyardError, InvalidArgument, NotFound, Unavailable
from ..image.store import Image, ImageStore
from . import manifest as _m
from .auth import AuthConfig
from .blobs import Cancelled
from .options import RegistryOptions
from .progress import Progress, short
from .sources import BlobSources
from .transport import Session, registry_error

UPLOAD_ATTEMPTS = 3


class _Body:
    """Upload body: ``limit`` bytes of a file, with progress and cancellation."""

    def __init__(self, f: BinaryIO, limit: int, on_bytes, cancel: threading.Event):
        self.f = f
        self.left = limit
        self.on_bytes = on_bytes
        self.cancel = cancel

    def read(self, n: int = -1) -> bytes:
        if self.cancel.is_set():
            raise Cancelled("push cancelled")
        if self.left <= 0:
            return b""
        n = self.left if n is None or n < 0 else min(n, self.left)
        data = self.f.read(n)
        self.left -= len(data)
        if data:
            self.on_bytes(len(data))
        return data


class Pusher:
    def __init__(self, options: RegistryOptions, images: ImageStore, sources: BlobSources,
                 progress: Progress, cancel: threading.Event | None = None):
        self.options = options
        self.images = images
        self.content = images.content
        self.sources = sources
        self.progress = progress
        self.cancel = cancel or threading.Event()

    def push(self, name: str, tag: str | None, auth: AuthConfig) -> list[dict]:
        ref = _reference.parse(name, default_tag=False)
        if ref.digest:
            raise InvalidArgument("cannot push a digest reference")
        if tag and ref.tag and tag != ref.tag:
            raise InvalidArgument(f"invalid reference format: {name}:{tag}")
        tag = tag or ref.tag
        tags = [tag] if tag else self._local_tags(ref)
        if not tags:
            raise NotFound(f"An image does not exist locally with the tag: {ref.familiar_name}")
        try:
            images = [(t, self.images.get(f"{ref.name}:{t}")) for t in tags]
        except NotFound:
            raise NotFound("An image does not exist locally with the tag: "
                           f"{ref.familiar_name}") from None
        self.progress.status(f"The push refers to repository [{ref.name}]")
        ep = self.options.endpoints(ref.domain, push=True)[-1]
        session = Session(self.options, ep, ref.path, auth, ("pull", "push"))
        try:
            session.ping()
            return [self._push_image(session, ref, t, img) for t, img in images]
        finally:
            session.close()

    def _local_tags(self, ref: _reference.Reference) -> list[str]:
        rows = self.images.meta.query(
            "SELECT ref FROM image_refs WHERE repo=? AND kind='tag' ORDER BY ref", (ref.name,))
        return [r["ref"].rsplit(":", 1)[1] for r in rows]

    # -- one image ------------------------------------------------------------------------------

    def _manifest(self, img: Image) -> tuple[bytes, str]:
        raw = self.images.manifest(img)
        if raw is None:
            if len(img.layers) != len(img.diff_ids):
                raise NotFound(f"image {img.short_id} has no layer blobs to push")
            doc = {"schemaVersion": 2, "mediaType": _m.OCI_MANIFEST,
                   "config": {"mediaType": _m.OCI_CONFIG, "digest": img.id,
                              "size": len(self.images.config_bytes(img))},
                   "layers": img.layers}
            raw = json.dumps(doc, separators=(",", ":")).encode()
        doc = json.loads(raw)
        return raw, doc.get("mediaType") or _m.OCI_MANIFEST

    def _push_image(self, session: Session, ref: _reference.Reference, tag: str,
                    img: Image) -> dict:
        raw, media_type = self._manifest(img)
        doc = json.loads(raw)
        layers = doc.get("layers") or []
        if len(img.diff_ids) != len(layers):
            raise InvalidArgument(f"image {img.short_id}: manifest and config disagree on "
                                  "the number of layers")
        ids = [short(d) for d in img.diff_ids]
        local = [self._local_blob(d, diff_id, chain_id, ref, tag)
                 for d, diff_id, chain_id in zip(layers, img.diff_ids, img.chain_ids,
                                                 strict=True)]
        if local != layers:  # other compressed blobs of the same layers: a new manifest
            doc = dict(doc, layers=local)
            raw = json.dumps(doc, separators=(",", ":")).encode()
            layers = local
        for lid in reversed(ids):
            self.progress.status("Preparing", lid)
        limit = self.options.max_concurrent_uploads
        for n, lid in enumerate(reversed(ids)):
            if n >= limit:
                self.progress.status("Waiting", lid)
        with ThreadPoolExecutor(max_workers=limit, thread_name_prefix="push") as pool:
            futs = [pool.submit(self._layer, session, ref, d, lid)
                    for d, lid in reversed(list(zip(layers, ids, strict=True)))]
            try:
                for f in futs:
                    f.result()
            except BaseException:
                self.cancel.set()
                for f in futs:
                    try:
                        f.result()
                    except BaseException:  # noqa: BLE001 - the first error is reported
                        pass
                raise
        self._blob(session, ref, doc["config"], None)
        resp = session.request("PUT", f"/v2/{ref.path}/manifests/{tag}",
                               {"Content-Type": media_type}, raw)
        body = resp.read(1 << 16)
        if resp.status not in (200, 201, 202):
            raise registry_error(resp.status, "PUT", resp.url, body)
        dg = _digest.of_bytes(raw)
        self.sources.add([d["digest"] for d in layers] + [doc["config"]["digest"]],
                         ref.domain, ref.path)
        try:
            self.images.add_repo_digest(img.id, ref.name, dg)
        except (Conflict, DockyardError):
            pass
        self.progress.status(f"{tag}: digest: {dg} size: {len(raw)}")
        aux = {"Tag": tag, "Digest": dg, "Size": len(raw)}
        self.progress.aux(aux)
        return aux

    def _local_blob(self, desc: dict, diff_id: str, chain_id: str,
                    ref: _reference.Reference, tag: str) -> dict:
        """The layer's blob in the content store: the manifest's, another blob of the same
        diffID, or (once, remembered) a fresh compression of the unpacked layer."""
        if self.content.has(desc["digest"]):
            return desc
        for other in self.sources.blobs_for(diff_id):
            if self.content.has(other["digest"]):
                return other
        made = compress_layer(self.content, self.images.snapshots, chain_id, diff_id)
        if made is None:
            raise NotFound(f"layer {desc['digest']} of {ref.familiar_name}:{tag} is not in "
                           "the content store")
        self.sources.remember_blob(diff_id, made)
        return made

    def _layer(self, session: Session, ref: _reference.Reference, desc: dict, lid: str) -> None:
        how = self._blob(session, ref, desc, lid)
        if how == "exists":
            self.progress.status("Layer already exists", lid)
        elif how.startswith("mounted:"):
            self.progress.status(f"Mounted from {how[8:]}", lid)
        else:
            self.progress.status("Pushed", lid)

    # -- blobs ----------------------------------------------------------------------------------

    def _blob(self, session: Session, ref: _reference.Reference, desc: dict,
              lid: str | None) -> str:
        dg, size = desc["digest"], int(desc["size"])
        resp = session.request("HEAD", f"/v2/{ref.path}/blobs/{dg}")
        resp.read()
        if resp.status == 200:
            return "exists"
        if resp.status not in (404,):
            raise registry_error(resp.status, "HEAD", resp.url, b"")
        location = None
        for src in self.sources.repos(dg, ref.domain, ref.path):
            q = urllib.parse.urlencode({"mount": dg, "from": src})
            r = session.request("POST", f"/v2/{ref.path}/blobs/uploads/?{q}",
                                {"Content-Length": "0"}, b"",
                                scope=session.scope([f"repository:{src}:pull"]))
            r.read(1 << 16)
            if r.status == 201:
                return "mounted:" + src
            if r.status == 202:
                location = self._location(session, r)
                break
        for attempt in range(UPLOAD_ATTEMPTS):
            if location is None:
                r = session.request("POST", f"/v2/{ref.path}/blobs/uploads/",
                                    {"Content-Length": "0"}, b"")
                body = r.read(1 << 16)
                if r.status != 202:
                    raise registry_error(r.status, "POST", r.url, body)
                location = self._location(session, r)
            try:
                self._upload(session, location, dg, size, lid)
                return "pushed"
            except (Unavailable, OSError, http.client.HTTPException):
                if attempt == UPLOAD_ATTEMPTS - 1 or self.cancel.is_set():
                    raise
                location = None  # a broken upload: start a new session
                time.sleep(0.2 * (attempt + 1))
        raise AssertionError("unreachable")

    @staticmethod
    def _location(session: Session, resp) -> str:
        loc = resp.headers.get("Location", "")
        if not loc:
            raise InvalidArgument("registry started an upload without a Location")
        url = urllib.parse.urljoin(resp.url, loc)
        u = urllib.parse.urlsplit(url)
        if u.netloc == session.endpoint.host and u.scheme == session.endpoint.scheme:
            return u.path + ("?" + u.query if u.query else "")
        return url

    @staticmethod
    def _with_digest(location: str, dg: str) -> str:
        return location + ("&" if "?" in location else "?") + urllib.parse.urlencode(
            {"digest": dg})

    def _upload(self, session: Session, location: str, dg: str, size: int,
                lid: str | None) -> None:
        sent = [0]

        def on_bytes(n: int) -> None:
            sent[0] += n
            if lid:
                self.progress.bytes(lid, "Pushing", sent[0], size)

        chunk = self.options.chunk_size
        with self.content.open(dg) as f:
            if size <= chunk:
                r = session.request("PUT", self._with_digest(location, dg),
                                    {"Content-Type": "application/octet-stream",
                                     "Content-Length": str(size)},
                                    _Body(f, size, on_bytes, self.cancel))
                body = r.read(1 << 16)
                if r.status != 201:
                    raise registry_error(r.status, "PUT", r.url, body)
                return
            off = 0
            while off < size:
                n = min(chunk, size - off)
                r = session.request("PATCH", location,
                                    {"Content-Type": "application/octet-stream",
                                     "Content-Length": str(n),
                                     "Content-Range": f"{off}-{off + n - 1}"},
                                    _Body(f, n, on_bytes, self.cancel))
                body = r.read(1 << 16)
                if r.status != 202:
                    raise registry_error(r.status, "PATCH", r.url, body)
                location = self._location(session, r)
                off += n
            r = session.request("PUT", self._with_digest(location, dg),
                                {"Content-Length": "0"}, b"")
            body = r.read(1 << 16)
            if r.status != 201:
                raise registry_error(r.status, "PUT", r.url, body)



def compress_layer(content, snapshots, chain_id: str, diff_id: str) -> dict | None:
    """gzip an unpacked layer for a push. Only usable when re-tarring gives back the exact
    diffID the image config names (no tar-split data is kept), else None."""
    import hashlib
    import os

    from isal import igzip_threaded

    from ..archive import write_tar
    from ..image.layer import MEDIA_LAYER_GZIP

    if not snapshots.has_layer(chain_id):
        return None

    class _Sink:
        def __init__(self, f):
            self.f, self.h, self.n = f, hashlib.sha256(), 0

        def write(self, b):
            self.h.update(b)
            self.n += len(b)
            return self.f.write(b)

        def flush(self):
            self.f.flush()

    class _Tee:
        def __init__(self, gz):
            self.gz, self.h = gz, hashlib.sha256()

        def write(self, b):
            self.h.update(b)
            return self.gz.write(b)

        def flush(self):
            pass

    fd, tmp = content.temp_file(prefix="push-")
    try:
        with os.fdopen(fd, "wb") as raw:
            sink = _Sink(raw)
            gz = igzip_threaded.open(sink, "wb", compresslevel=1, threads=1)
            tee = _Tee(gz)
            try:
                write_tar(snapshots.layer_fs(chain_id), tee)  # type: ignore[arg-type]
            finally:
                gz.close()
        if f"sha256:{tee.h.hexdigest()}" != diff_id:
            os.unlink(tmp)
            return None
        digest = f"sha256:{sink.h.hexdigest()}"
        content.adopt(tmp, digest)
        return {"mediaType": MEDIA_LAYER_GZIP, "digest": digest, "size": sink.n}
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise
