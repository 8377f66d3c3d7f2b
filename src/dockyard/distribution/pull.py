"""``docker pull``: resolve a reference (auth, mirrors, platform from an index), fetch the
config, then the layers in parallel (one download per digest across concurrent pulls, present
layers skipped), commit them in order and record the image with its pinned RepoDigest."""

from __future__ import annotations

import json
import threading
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

from .. import digest as _digest
from .. import reference as _reference
from ..errors import (
    DigestMismatch,
    DockyardError,
    Forbidden,
    InvalidArgument,
    NotFound,
    Unauthorized,
)
from ..image.store import Image, ImageStore, parse_platform
from ..store.snapshot import StagedLayer
from . import manifest as _m
from .auth import AuthConfig
from .blobs import Cancelled, download_and_unpack, unpack_local
from .options import RegistryOptions
from .progress import Progress, short
from .sources import BlobSources
from .transport import Session, registry_error

_flights: dict[str, threading.Event] = {}
_flights_lock = threading.Lock()


@dataclass
class Resolved:
    session: Session
    top: _m.Manifest       # what the reference names (maybe an index)
    manifest: _m.Manifest  # the platform's image manifest
    config_raw: bytes


class Puller:
    def __init__(self, options: RegistryOptions, images: ImageStore, sources: BlobSources,
                 progress: Progress, cancel: threading.Event | None = None):
        self.options = options
        self.images = images
        self.content = images.content
        self.snapshots = images.snapshots
        self.sources = sources
        self.progress = progress
        self.cancel = cancel or threading.Event()

    # -- public ---------------------------------------------------------------------------------

    def pull(self, ref: _reference.Reference, auth: AuthConfig, platform: str | None = None,
             all_tags: bool = False) -> list[Image]:
        if all_tags:
            return self._pull_all(ref, auth, platform)
        ref = ref.with_default_tag()
        return [self.pull_one(ref, auth, platform)]

    def pull_one(self, ref: _reference.Reference, auth: AuthConfig,
                 platform: str | None = None) -> Image:
        want = parse_platform(platform)
        res = self.resolve(ref, auth, want, platform is not None)
        self.progress.status(f"Pulling from {ref.path}", ref.tag or ref.digest, layer=False)
        try:
            img, changed = self._fetch(ref, res)
        finally:
            res.session.close()
        self.progress.status(f"Digest: {res.top.digest}")
        shown = ref.familiar_string()
        self.progress.status(f"Status: Downloaded newer image for {shown}" if changed
                             else f"Status: Image is up to date for {shown}")
        return img

    # -- resolving ------------------------------------------------------------------------------

    def _sessions(self, ref: _reference.Reference, auth: AuthConfig):
        for ep in self.options.endpoints(ref.domain):
            yield Session(self.options, ep, ref.path, auth, ("pull",))

    def _origin(self, ref: _reference.Reference, auth: AuthConfig) -> Session:
        """The registry itself, not a mirror (tag lists and descriptors must be current)."""
        return Session(self.options, self.options.endpoints(ref.domain)[-1], ref.path, auth,
                       ("pull",))

    def resolve(self, ref: _reference.Reference, auth: AuthConfig,
                want: tuple[str, str, str], explicit_platform: bool) -> Resolved:
        """Mirrors first; a mirror that fails or lacks the image hands over to the next."""
        last: DockyardError | None = None
        for session in self._sessions(ref, auth):
            try:
                session.ping()
                top = self._manifest(session, ref, ref.digest or ref.tag or "latest")
                break
            except DockyardError as e:  # a mirror that fails hands over to the next
                session.close()
                last = e
                if not session.endpoint.mirror:
                    raise
        else:  # pragma: no cover - the registry itself is always the last endpoint
            raise last or NotFound(f"manifest for {ref.familiar_string()} not found")
        man = top
        if top.is_index:
            desc = _m.select(top, want)
            man = self._manifest(session, ref, desc["digest"])
            if man.is_index:
                raise InvalidArgument(f"manifest list {desc['digest']} nests another index")
        config_raw = self._blob_bytes(session, ref, man.config, _m.MAX_CONFIG)
        if explicit_platform and not top.is_index:
            self._check_platform(ref, config_raw, want)
        return Resolved(session, top, man, config_raw)

    def _manifest(self, session: Session, ref: _reference.Reference, what: str) -> _m.Manifest:
        path = f"/v2/{ref.path}/manifests/{what}"
        resp = session.request("GET", path, {"Accept": _m.ACCEPT})
        if resp.status != 200:
            body = resp.read(1 << 16)
            err = registry_error(resp.status, "GET", resp.url, body)
            raise self._friendly(err, ref, session)
        raw = resp.read(_m.MAX_MANIFEST)
        if what.startswith("sha256:") and _digest.of_bytes(raw) != what:
            raise DigestMismatch(f"manifest verification failed for digest {what}")
        return _m.parse(raw, resp.headers.get("Content-Type"), ref.familiar_string())

    @staticmethod
    def _friendly(err: DockyardError, ref: _reference.Reference, session: Session
                  ) -> DockyardError:
        """docker's texts: "manifest for X not found: …", "pull access denied for X, …"."""
        text = getattr(err, "text", str(err))
        if isinstance(err, NotFound):
            e: DockyardError = NotFound(f"manifest for {ref.familiar_string()} not found: {text}")
        elif isinstance(err, Unauthorized | Forbidden) and session.challenge is not None and \
                session.challenge.scheme == "bearer":
            e = Forbidden(f"pull access denied for {ref.familiar_name}, repository does not "
                          f"exist or may require 'docker login': {text}")
        else:
            return err
        return e

    def _blob_bytes(self, session: Session, ref: _reference.Reference, desc: dict,
                    limit: int) -> bytes:
        dg = desc["digest"]
        if self.content.has(dg):
            return self.content.read(dg)
        if int(desc["size"]) > limit:
            raise InvalidArgument(f"image config {dg} is larger than {limit} bytes")
        resp = session.request("GET", f"/v2/{ref.path}/blobs/{dg}")
        if resp.status != 200:
            body = resp.read(1 << 16)
            raise registry_error(resp.status, "GET", resp.url, body)
        raw = resp.read(limit)
        if _digest.of_bytes(raw) != dg:
            raise DigestMismatch(f"error pulling image configuration: image config "
                                 f"verification failed for digest {dg}")
        return raw

    @staticmethod
    def _check_platform(ref: _reference.Reference, config_raw: bytes,
                        want: tuple[str, str, str]) -> None:
        try:
            cfg = json.loads(config_raw)
        except ValueError:
            raise InvalidArgument("invalid image config: not JSON") from None
        have = (cfg.get("os", ""), cfg.get("architecture", ""), cfg.get("variant", ""))
        if have[:2] != want[:2] or (want[2] and have[2] and want[2] != have[2]):
            raise NotFound(
                f"image with reference {ref.familiar_string()} was found but does not match "
                f"the specified platform: wanted {_m.platform_string(*want)}, actual: "
                f"{_m.platform_string(*have)}")

    # -- layers ---------------------------------------------------------------------------------

    def _fetch(self, ref: _reference.Reference, res: Resolved) -> tuple[Image, bool]:
        try:
            cfg = json.loads(res.config_raw)
            diff_ids = list(cfg["rootfs"]["diff_ids"])
        except (ValueError, KeyError, TypeError):
            raise InvalidArgument("invalid image config: no rootfs.diff_ids") from None
        layers = res.manifest.layers
        if len(diff_ids) != len(layers) or not all(_digest.is_valid(d) for d in diff_ids):
            raise InvalidArgument(f"image config has {len(diff_ids)} diffIDs, the manifest "
                                  f"{len(layers)} layers")
        chain_ids = _digest.chain_ids(diff_ids)
        image_id = res.manifest.config["digest"]
        before = self._current(ref)
        todo = [i for i, c in enumerate(chain_ids) if not self.snapshots.has_layer(c)]
        for i, d in enumerate(layers):
            if i not in todo:
                self.progress.status("Already exists", short(d["digest"]))
        for i in todo:
            self.progress.status("Pulling fs layer", short(layers[i]["digest"]))
        limit = self.options.max_concurrent_downloads
        for n, i in enumerate(todo):
            if n >= limit:
                self.progress.status("Waiting", short(layers[i]["digest"]))
        staged: list[StagedLayer] = []
        with ThreadPoolExecutor(max_workers=limit, thread_name_prefix="pull") as pool:
            futures = {i: pool.submit(self._layer, res.session, layers[i], diff_ids[i],
                                      chain_ids[i - 1] if i else None, chain_ids[i])
                       for i in todo}
            try:
                for i in todo:
                    s, tar_size = futures[i].result()
                    lid = short(layers[i]["digest"])
                    size = int(layers[i]["size"])
                    if tar_size:
                        self.progress.bytes(lid, "Extracting", size, size, force=True)
                        self.images.record_diff_size(diff_ids[i], tar_size)
                    if s is not None:
                        s.commit(chain_ids[i])
                    self.progress.status("Pull complete", lid)
            except BaseException:
                self.cancel.set()
                for f in futures.values():
                    try:
                        r = f.result()
                        if r[0] is not None:
                            staged.append(r[0])
                    except BaseException:  # noqa: BLE001 - the first error is reported
                        pass
                for s in staged:
                    s.abort()
                raise
        self.sources.add([d["digest"] for d in layers] + [image_id], ref.domain, ref.path)
        tags = [ref.full_string()] if ref.tag and not ref.digest else []
        img = self.images.put_image(res.config_raw, res.manifest.raw, repo_tags=tags,
                                    repo_digests=[f"{ref.name}@{res.top.digest}"])
        return img, before != (img.id, res.top.digest)

    def _current(self, ref: _reference.Reference) -> tuple[str, str] | None:
        try:
            img = self.images.get(ref.full_string())
        except (NotFound, InvalidArgument):
            return None
        digests = [d.split("@", 1)[1] for d in img.repo_digests if "@" in d]
        return (img.id, digests[0]) if digests else None

    def _layer(self, session: Session, desc: dict, diff_id: str, parent: str | None,
               chain_id: str) -> tuple[StagedLayer | None, int]:
        """Runs in a worker: one download per digest, even across concurrent pulls."""
        dg = desc["digest"]
        lid = short(dg)
        total = int(desc["size"])
        while True:
            if self.cancel.is_set():
                raise Cancelled("pull cancelled")
            if self.snapshots.has_layer(chain_id):
                return None, 0
            with _flights_lock:
                ev = _flights.get(dg)
                owner = ev is None
                if owner:
                    ev = _flights[dg] = threading.Event()
            assert ev is not None
            if not owner:
                self.progress.status("Waiting", lid)
                while not ev.wait(0.5):
                    if self.cancel.is_set():
                        raise Cancelled("pull cancelled")
                continue
            try:
                if self.content.has(dg):
                    self.progress.status("Verifying Checksum", lid)
                    self.progress.status("Download complete", lid)
                    got = unpack_local(self.content, self.snapshots, dg, diff_id, parent)
                else:
                    got = download_and_unpack(
                        self.content, self.snapshots, session, desc, diff_id, parent,
                        lambda cur: self.progress.bytes(lid, "Downloading", cur, total),
                        lambda: (self.progress.bytes(lid, "Downloading", total, total, True),
                                 self.progress.status("Verifying Checksum", lid),
                                 self.progress.status("Download complete", lid)),
                        self.cancel)
                return self._commit_early(got, parent, chain_id)
            finally:  # after the commit: a concurrent pull then finds the layer itself
                with _flights_lock:
                    _flights.pop(dg, None)
                ev.set()

    def _commit_early(self, got: tuple[StagedLayer, int], parent: str | None,
                      chain_id: str) -> tuple[StagedLayer | None, int]:
        """Publish at once when the parent is there, else leave it to the in-order loop."""
        staged, size = got
        if parent is None or self.snapshots.has_layer(parent):
            staged.commit(chain_id)
            return None, size
        return staged, size

    def describe(self, ref: _reference.Reference, auth: AuthConfig) -> dict:
        """``GET /distribution/{name}/json``: the reference's descriptor and its platforms."""
        ref = ref.with_default_tag()
        session = self._origin(ref, auth)
        try:
            session.ping()
            top = self._manifest(session, ref, ref.digest or ref.tag or "latest")
            if top.is_index:
                platforms = [{k: v for k, v in (d.get("platform") or {}).items()
                              if k in ("os", "architecture", "variant", "os.version")}
                             for d in top.doc["manifests"]]
            else:
                cfg = json.loads(self._blob_bytes(session, ref, top.config, _m.MAX_CONFIG))
                platforms = [{k: cfg[k] for k in ("architecture", "os", "variant")
                              if cfg.get(k)}]
            return {"Descriptor": {"mediaType": top.media_type, "digest": top.digest,
                                   "size": len(top.raw)},
                    "Platforms": platforms}
        finally:
            session.close()

    # -- all tags -------------------------------------------------------------------------------

    def _pull_all(self, ref: _reference.Reference, auth: AuthConfig,
                  platform: str | None) -> list[Image]:
        if ref.tag or ref.digest:
            raise InvalidArgument("tag can't be used with --all-tags/-a")
        tags = self.list_tags(ref, auth)
        if not tags:
            raise NotFound(f"no tags found for {ref.familiar_name}")
        return [self.pull_one(ref.with_tag(t), auth, platform) for t in tags]

    def list_tags(self, ref: _reference.Reference, auth: AuthConfig) -> list[str]:
        session = self._origin(ref, auth)
        try:
            session.ping()
            resp = session.request("GET", f"/v2/{ref.path}/tags/list?n=10000")
            body = resp.read(8 << 20)
            if resp.status != 200:
                raise self._friendly(registry_error(resp.status, "GET", resp.url, body), ref,
                                     session)
            try:
                tags = json.loads(body).get("tags") or []
            except (ValueError, AttributeError):
                raise InvalidArgument("invalid tag list from the registry") from None
            return sorted(t for t in tags if isinstance(t, str) and _reference.is_valid_tag(t))
        finally:
            session.close()
