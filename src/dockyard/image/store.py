"""The local image store: image records and names in SQLite, configs and manifests in the
content store, layers in the snapshotter.

Names follow Docker: a reference (``busybox`` = ``docker.io/library/busybox:latest``) points at
one image ID (the config digest); deleting walks Docker's rules for untag vs delete, and a blob
or layer goes only when no remaining image needs it.
"""

from __future__ import annotations

import calendar
import json
import os
import platform as _platform
import re
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any, BinaryIO

from .. import digest as _digest
from .. import reference as _reference
from ..archive import write_tar
from ..errors import Conflict, DockyardError, InvalidArgument, NotFound
from ..store.content import ContentStore
from ..store.meta import MetaDB
from ..store.snapshot import Snapshotter
from ..util import rfc3339_nano
from .changes import apply_changes
from .commitlayer import layer_from_upper
from .fsopt import mark_topdir
from .layer import LayerInfo, add_layer, check_media_type, unpack_blob

MEDIA_OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
MEDIA_OCI_CONFIG = "application/vnd.oci.image.config.v1+json"
MEDIA_DOCKER_MANIFEST = "application/vnd.docker.distribution.manifest.v2+json"
MEDIA_DOCKER_CONFIG = "application/vnd.docker.container.image.v1+json"

_HEX64 = re.compile(r"^[a-f0-9]{64}$")
_HEXPREFIX = re.compile(r"^[a-f0-9]{1,64}$")

SCHEMA = [
    """CREATE TABLE images (
        id TEXT PRIMARY KEY,
        config TEXT NOT NULL,
        manifest_digest TEXT,
        parent TEXT NOT NULL DEFAULT '',
        created TEXT NOT NULL,
        added REAL NOT NULL,
        size INTEGER NOT NULL)""",
    """CREATE TABLE image_layers (
        image_id TEXT NOT NULL REFERENCES images(id) ON DELETE CASCADE,
        idx INTEGER NOT NULL,
        diff_id TEXT NOT NULL,
        chain_id TEXT NOT NULL,
        blob TEXT,
        blob_size INTEGER,
        media_type TEXT,
        PRIMARY KEY (image_id, idx))""",
    "CREATE INDEX image_layers_chain ON image_layers(chain_id)",
    "CREATE INDEX image_layers_blob ON image_layers(blob)",
    """CREATE TABLE image_refs (
        ref TEXT PRIMARY KEY,
        repo TEXT NOT NULL,
        kind TEXT NOT NULL,
        image_id TEXT NOT NULL REFERENCES images(id) ON DELETE CASCADE,
        added REAL NOT NULL)""",
    "CREATE INDEX image_refs_image ON image_refs(image_id)",
    "CREATE TABLE layer_diff_sizes (diff_id TEXT PRIMARY KEY, size INTEGER NOT NULL)",
]


@dataclass
class Image:
    id: str
    config: dict
    manifest_digest: str | None
    diff_ids: list[str]
    chain_ids: list[str]
    size: int
    created: str
    repo_tags: list[str] = field(default_factory=list)
    repo_digests: list[str] = field(default_factory=list)
    parent: str = ""
    layers: list[dict] = field(default_factory=list)  # blob descriptors, bottom first

    @property
    def top_chain_id(self) -> str | None:
        return self.chain_ids[-1] if self.chain_ids else None

    @property
    def short_id(self) -> str:
        return self.id.split(":", 1)[1][:12]

    @property
    def container_config(self) -> dict:
        return self.config.get("config") or {}

    @property
    def os(self) -> str:
        return self.config.get("os", "linux")

    @property
    def architecture(self) -> str:
        return self.config.get("architecture", "")


# in_use(image_id) answers falsy, truthy, or (container_id, running)
InUse = Callable[[str], Any]


def _no_use(_image_id: str) -> bool:
    return False


def host_platform() -> tuple[str, str, str]:
    machine = _platform.machine().lower()
    arch, variant = {
        "x86_64": ("amd64", ""), "amd64": ("amd64", ""), "aarch64": ("arm64", ""),
        "arm64": ("arm64", ""), "armv7l": ("arm", "v7"), "armv6l": ("arm", "v6"),
        "i686": ("386", ""), "i386": ("386", ""), "ppc64le": ("ppc64le", ""),
        "s390x": ("s390x", ""), "riscv64": ("riscv64", ""),
    }.get(machine, (machine, ""))
    return "linux", arch, variant


def parse_platform(value: str | None) -> tuple[str, str, str]:
    if not value:
        return host_platform()
    parts = value.strip().lower().split("/")
    if not 1 <= len(parts) <= 3 or not all(re.fullmatch(r"[a-z0-9_.-]+", p) for p in parts):
        raise InvalidArgument(f"invalid platform: {value!r}")
    os_name = parts[0]
    if os_name != "linux":
        raise InvalidArgument(f"unsupported os {os_name}")
    arch = parts[1] if len(parts) > 1 else host_platform()[1]
    arch = {"x86_64": "amd64", "aarch64": "arm64"}.get(arch, arch)
    variant = parts[2] if len(parts) > 2 else ""
    return os_name, arch, variant


def _canonical_json(obj: Any) -> bytes:
    return json.dumps(obj, separators=(",", ":"), sort_keys=True).encode()


class ImageStore:
    def __init__(self, content: ContentStore, meta: MetaDB, snapshots: Snapshotter):
        self.content = content
        self.meta = meta
        self.snapshots = snapshots
        self._lock = threading.RLock()  # serialises name/record changes with blob GC
        # Other owners of layers and blobs that no image references (the build cache):
        # each returns (chainIDs, blob digests) that garbage collection must keep.
        self.pins: list[Callable[[], tuple[set[str], set[str]]]] = []
        meta.migrate("images", SCHEMA)
        # layers and container roots are built in the snapshotter's tmp/: spread them over
        # block groups (see image.fsopt)
        mark_topdir(os.path.join(snapshots.root, "tmp"))

    # -- reading -------------------------------------------------------------------------------

    def _load(self, image_id: str) -> Image:
        row = self.meta.query_one("SELECT * FROM images WHERE id=?", (image_id,))
        if row is None:
            raise NotFound(f"No such image: {image_id}")
        layers = self.meta.query(
            "SELECT diff_id, chain_id, blob, blob_size, media_type FROM image_layers"
            " WHERE image_id=? ORDER BY idx", (image_id,))
        refs = self.meta.query(
            "SELECT ref, kind FROM image_refs WHERE image_id=? ORDER BY added, ref", (image_id,))
        tags, digests = [], []
        for r in refs:
            fam = _reference.parse(r["ref"], default_tag=False).familiar_string()
            (tags if r["kind"] == "tag" else digests).append(fam)
        return Image(
            id=row["id"], config=json.loads(row["config"]),
            manifest_digest=row["manifest_digest"],
            diff_ids=[r["diff_id"] for r in layers], chain_ids=[r["chain_id"] for r in layers],
            size=row["size"], created=row["created"], repo_tags=tags, repo_digests=digests,
            parent=row["parent"],
            layers=[{"mediaType": r["media_type"], "digest": r["blob"], "size": r["blob_size"]}
                    for r in layers if r["blob"]])

    def list(self) -> list[Image]:
        rows = self.meta.query("SELECT id FROM images ORDER BY created DESC, id")
        out = []
        for r in rows:
            try:
                out.append(self._load(r["id"]))
            except NotFound:  # deleted meanwhile
                continue
        return out

    def exists(self, name_or_id: str) -> bool:
        try:
            self.get(name_or_id)
            return True
        except (NotFound, InvalidArgument):
            return False

    def get(self, name_or_id: str) -> Image:
        return self._load(self._resolve(name_or_id))

    def _resolve(self, value: str) -> str:
        """Names first, then IDs and ID prefixes, as Docker does."""
        if not isinstance(value, str) or not value:
            raise NotFound("No such image: ")
        v = value.strip()
        bare = v[len("sha256:"):] if v.startswith("sha256:") else v
        if _HEX64.match(bare):
            if self.meta.query_one("SELECT 1 FROM images WHERE id=?", ("sha256:" + bare,)):
                return "sha256:" + bare
            raise NotFound(f"No such image: {value}")
        if not v.startswith("sha256:"):
            try:
                ref = _reference.parse(v)
            except InvalidArgument:
                ref = None
            if ref is not None:
                image_id = self._resolve_ref(ref)
                if image_id:
                    return image_id
        if _HEXPREFIX.match(bare):
            rows = self.meta.query("SELECT id FROM images WHERE id >= ? AND id < ? LIMIT 2",
                                   ("sha256:" + bare, "sha256:" + bare + "g"))
            if len(rows) == 1:
                return rows[0]["id"]
            if len(rows) > 1:
                raise InvalidArgument(f"multiple IDs found with provided prefix: {value}")
        raise NotFound(f"No such image: {value}")

    def _resolve_ref(self, ref: _reference.Reference) -> str | None:
        if ref.digest:
            row = self.meta.query_one("SELECT image_id FROM image_refs WHERE ref=?",
                                      (f"{ref.name}@{ref.digest}",))
            if row:
                return row["image_id"]
            # an image pulled by tag is also reachable by its manifest digest
            row = self.meta.query_one(
                "SELECT i.id FROM images i JOIN image_refs r ON r.image_id = i.id"
                " WHERE i.manifest_digest=? AND r.repo=? LIMIT 1", (ref.digest, ref.name))
            return row["id"] if row else None
        row = self.meta.query_one("SELECT image_id FROM image_refs WHERE ref=?",
                                  (ref.full_string(),))
        return row["image_id"] if row else None

    def references(self, image_id: str) -> list[_reference.Reference]:
        rows = self.meta.query("SELECT ref FROM image_refs WHERE image_id=? ORDER BY added, ref",
                               (image_id,))
        return [_reference.parse(r["ref"], default_tag=False) for r in rows]

    def children(self, image_id: str) -> list[str]:
        return [r["id"] for r in self.meta.query("SELECT id FROM images WHERE parent=?",
                                                 (image_id,))]

    def manifest(self, image: Image) -> bytes | None:
        if image.manifest_digest and self.content.has(image.manifest_digest):
            return self.content.read(image.manifest_digest)
        return None

    def config_bytes(self, image: Image) -> bytes:
        return self.content.read(image.id)

    def history(self, name_or_id: str) -> list[dict]:
        """``GET /images/{name}/history``: newest first, one row per history entry, the layer
        size on entries that made a layer, the image ID (and tags) on the top row only."""
        img = self.get(name_or_id)
        hist = img.config.get("history") or [{"created": img.created}]
        sizes = [self.snapshots.layer_size(c) if self.snapshots.has_layer(c) else 0
                 for c in img.chain_ids]
        rows, li = [], 0
        for h in hist:
            size = 0
            if not h.get("empty_layer") and li < len(sizes):
                size, li = sizes[li], li + 1
            rows.append({"Id": "<missing>", "Created": _unix(h.get("created", "")),
                         "CreatedBy": h.get("created_by", ""), "Tags": None, "Size": size,
                         "Comment": h.get("comment", "")})
        # as Docker: rows that end a local parent image (commit, build) show its ID and tags
        cur: Image | None = img
        seen: set[str] = set()
        while cur is not None and cur.id not in seen:
            seen.add(cur.id)
            n = len(cur.config.get("history") or [None])
            if 0 < n <= len(rows) and rows[n - 1]["Id"] == "<missing>":
                rows[n - 1]["Id"] = cur.id
                rows[n - 1]["Tags"] = list(cur.repo_tags) or None
            try:
                cur = self._load(cur.parent) if cur.parent else None
            except NotFound:
                cur = None
        rows.reverse()
        rows[0]["Id"] = img.id
        rows[0]["Tags"] = list(img.repo_tags) or None
        return rows

    # -- names ---------------------------------------------------------------------------------

    @staticmethod
    def parse_tag(repo: str, tag: str | None = None) -> _reference.Reference:
        """Validate a repository (+ tag) the way ``docker tag`` does."""
        if not repo:
            raise InvalidArgument("repository name must have at least one component")
        if _HEX64.match(repo):
            raise InvalidArgument(f"invalid repository name ({repo}), cannot specify 64-byte "
                                  "hexadecimal strings")
        ref = _reference.parse(repo, default_tag=False)
        if ref.digest:
            raise InvalidArgument("refusing to create a tag with a digest reference")
        if tag:
            if ref.tag:
                raise InvalidArgument(f"invalid reference format: {repo}:{tag}")
            if not _reference.is_valid_tag(tag):
                raise InvalidArgument(f"invalid tag format: {tag!r}")
            ref = ref.with_tag(tag)
        return ref.with_default_tag()

    def tag(self, name_or_id: str, repo: str, tag: str | None = None) -> None:
        ref = self.parse_tag(repo, tag)
        with self._lock:
            image_id = self._resolve(name_or_id)
            self._set_ref(ref, image_id)

    def _set_ref(self, ref: _reference.Reference, image_id: str) -> None:
        kind = "digest" if ref.digest else "tag"
        key = f"{ref.name}@{ref.digest}" if ref.digest else ref.full_string()
        with self.meta.transaction() as c:
            old = c.execute("SELECT image_id FROM image_refs WHERE ref=?", (key,)).fetchone()
            if old and old["image_id"] == image_id:
                return
            c.execute("INSERT INTO image_refs(ref, repo, kind, image_id, added) VALUES(?,?,?,?,?)"
                      " ON CONFLICT(ref) DO UPDATE SET image_id=excluded.image_id,"
                      " added=excluded.added", (key, ref.name, kind, image_id, time.time()))

    def add_repo_digest(self, image_id: str, name: str, manifest_digest: str) -> None:
        ref = _reference.parse(name, default_tag=False)
        self._set_ref(_reference.Reference(ref.domain, ref.path, None, manifest_digest), image_id)

    def untag(self, ref: str) -> bool:
        r = _reference.parse(ref)
        key = f"{r.name}@{r.digest}" if r.digest else r.full_string()
        return self.meta.execute("DELETE FROM image_refs WHERE ref=?", (key,)) > 0

    # -- creating ------------------------------------------------------------------------------

    def add_layer(self, fileobj: BinaryIO, parent_chain_id: str | None = None) -> LayerInfo:
        """Compress, store and unpack one layer tar (any compression); see image.layer."""
        info = add_layer(self.content, self.snapshots, fileobj, parent_chain_id)
        self.record_diff_size(info.diff_id, info.diff_size)
        return info

    def record_diff_size(self, diff_id: str, size: int) -> None:
        """Remember a layer's uncompressed tar size: ``save`` writes it as a tar member
        whose header needs the size before the (decompressed) bytes."""
        if size > 0:
            self.meta.execute("INSERT OR IGNORE INTO layer_diff_sizes VALUES(?, ?)",
                              (diff_id, size))

    def diff_size(self, diff_id: str) -> int | None:
        row = self.meta.query_one("SELECT size FROM layer_diff_sizes WHERE diff_id=?",
                                  (diff_id,))
        return int(row["size"]) if row else None

    def layer_from_dir(self, path: str, parent_chain_id: str | None = None) -> LayerInfo:
        """Make a layer from a directory tree, e.g. a container's overlay upper dir (whiteouts
        become ``.wh.`` entries; entries sorted, gzip mtime 0: same tree, same digest)."""
        rfd, wfd = os.pipe()
        errors: list[BaseException] = []

        def produce() -> None:
            try:
                with os.fdopen(wfd, "wb", buffering=1 << 20) as out:
                    write_tar(path, out)
            except BrokenPipeError:
                pass  # the consumer failed first and says why
            except BaseException as e:  # noqa: BLE001 - reported by the consumer side
                errors.append(e)

        t = threading.Thread(target=produce, name="layer-tar", daemon=True)
        t.start()
        try:
            with os.fdopen(rfd, "rb", buffering=1 << 20) as src:
                info = self.add_layer(src, parent_chain_id)
        finally:
            t.join()
        if errors:
            raise errors[0]
        return info

    def commit(self, upper_dir: str, base: Image | None, container_config: dict,
               repo_tag: str | None = None, changes: list[str] | None = None,
               comment: str = "", author: str = "", created_by: str = "",
               extra: dict | None = None) -> Image:
        """``docker commit``: a new image = base image + one layer from ``upper_dir``.

        An unchanged container adds no layer, only a history entry marked ``empty_layer``
        (as Docker does). ``extra`` adds top-level config keys (``container``, ...)."""
        if repo_tag:
            self.parse_tag(repo_tag)
        cfg_inner = apply_changes(container_config, changes)
        empty = base is not None and not os.listdir(upper_dir)
        layer = None
        if not empty:
            layer = layer_from_upper(self.content, self.snapshots, upper_dir,
                                     base.top_chain_id if base else None)
            self.record_diff_size(layer.diff_id, layer.diff_size)
        now = rfc3339_nano()
        config: dict[str, Any] = json.loads(json.dumps(base.config)) if base else {}
        if not base:
            os_name, arch, variant = host_platform()
            config.update({"architecture": arch, "os": os_name})
        entry: dict[str, Any] = {"created": now, "created_by": created_by}
        if author:
            entry["author"] = author
            config["author"] = author
        if comment:
            entry["comment"] = comment
        if empty:
            entry["empty_layer"] = True
        config.update(extra or {})
        config.update({"config": cfg_inner, "created": now, "comment": comment})
        config["history"] = list(config.get("history") or []) + [entry]
        layers = (self._layer_infos(base) if base else []) + ([layer] if layer else [])
        return self.create_image(config, layers, repo_tag, parent=base.id if base else "")

    def _layer_infos(self, img: Image) -> list[LayerInfo]:
        if len(img.layers) != len(img.diff_ids):
            raise NotFound(f"image {img.id} has no layer blobs to build on")
        return [LayerInfo(d, b["digest"], b["size"], b["mediaType"], c,
                          self.snapshots.layer_size(c))
                for d, c, b in zip(img.diff_ids, img.chain_ids, img.layers, strict=True)]

    def create_image(self, config: dict, layers: list[LayerInfo], repo_tag: str | None = None,
                     parent: str = "") -> Image:
        """Write config + OCI manifest for layers made by ``add_layer``, record and tag it."""
        config = dict(config)
        config["rootfs"] = {"type": "layers", "diff_ids": [li.diff_id for li in layers]}
        config_bytes = _canonical_json(config)
        config_digest = self.content.write_bytes(config_bytes)
        manifest = {
            "schemaVersion": 2,
            "mediaType": MEDIA_OCI_MANIFEST,
            "config": {"mediaType": MEDIA_OCI_CONFIG, "digest": config_digest,
                       "size": len(config_bytes)},
            "layers": [li.descriptor() for li in layers],
        }
        manifest_bytes = _canonical_json(manifest)
        return self.put_image(config_bytes, manifest_bytes,
                              repo_tags=[repo_tag] if repo_tag else [], parent=parent)

    def put_image(self, config_bytes: bytes, manifest_bytes: bytes | None,
                  repo_tags: Iterable[str] = (), repo_digests: Iterable[str] = (),
                  parent: str = "") -> Image:
        """Record an image whose config/layer blobs are in (or go to) the content store.

        Used by pull and load too: layers are unpacked (once per chainID) and checked against
        the config's diffIDs. ``repo_digests`` are ``name@sha256:...`` strings.
        """
        tags = [self.parse_tag(t) for t in repo_tags]
        try:
            config = json.loads(config_bytes)
        except ValueError:
            raise InvalidArgument("invalid image config: not JSON") from None
        if not isinstance(config, dict):
            raise InvalidArgument("invalid image config: not an object")
        rootfs = config.get("rootfs") or {}
        diff_ids = rootfs.get("diff_ids") or []
        if not isinstance(diff_ids, list) or not all(_digest.is_valid(d) for d in diff_ids):
            raise InvalidArgument("invalid image config: bad rootfs.diff_ids")
        image_id = self.content.write_bytes(config_bytes)
        manifest_digest = None
        blobs: list[dict] = []
        if manifest_bytes is not None:
            manifest_digest = self.content.write_bytes(manifest_bytes)
            try:
                manifest = json.loads(manifest_bytes)
                blobs = list(manifest["layers"])
                if manifest["config"]["digest"] != image_id:
                    raise InvalidArgument("manifest does not reference this config")
            except (ValueError, KeyError, TypeError):
                raise InvalidArgument("invalid image manifest") from None
            if len(blobs) != len(diff_ids):
                raise InvalidArgument(f"manifest has {len(blobs)} layers, config has "
                                      f"{len(diff_ids)} diffIDs")
            for b in blobs:
                check_media_type(b.get("mediaType", ""))
        chain_ids = _digest.chain_ids(diff_ids)
        created = config.get("created") or rfc3339_nano(0)
        for _attempt in range(3):
            self._unpack(diff_ids, chain_ids, blobs)
            with self._lock:  # a concurrent delete may remove a shared layer meanwhile
                if not all(self.snapshots.has_layer(c) for c in chain_ids):
                    continue
                size = sum(self.snapshots.layer_size(c) for c in chain_ids)
                self._record(image_id, config, manifest_digest, parent, created, size,
                             diff_ids, chain_ids, blobs, tags, repo_digests)
                return self._load(image_id)
        raise Conflict(f"image {image_id}: layers were removed while it was being created")

    def _unpack(self, diff_ids: list[str], chain_ids: list[str], blobs: list[dict]) -> None:
        for i, chain_id in enumerate(chain_ids):
            if self.snapshots.has_layer(chain_id):
                continue
            if not blobs:
                raise NotFound(f"layer {diff_ids[i]} is not available")
            unpack_blob(self.content, self.snapshots, blobs[i]["digest"], diff_ids[i],
                        chain_ids[i - 1] if i else None)

    def _record(self, image_id, config, manifest_digest, parent, created, size, diff_ids,
                chain_ids, blobs, tags, repo_digests) -> None:
        with self.meta.transaction() as c:
            c.execute(
                "INSERT INTO images(id, config, manifest_digest, parent, created, added, size)"
                " VALUES(?,?,?,?,?,?,?) ON CONFLICT(id) DO UPDATE SET"
                " manifest_digest=COALESCE(excluded.manifest_digest, images.manifest_digest)",
                (image_id, json.dumps(config), manifest_digest, parent or "", created,
                 time.time(), size))
            c.execute("DELETE FROM image_layers WHERE image_id=?", (image_id,))
            for i, (d, ch) in enumerate(zip(diff_ids, chain_ids, strict=True)):
                b = blobs[i] if blobs else {}
                c.execute("INSERT INTO image_layers VALUES(?,?,?,?,?,?,?)",
                          (image_id, i, d, ch, b.get("digest"), b.get("size"),
                           b.get("mediaType")))
            for ref in tags:
                self._set_ref(ref, image_id)
            for rd in repo_digests:
                name, _, dg = rd.partition("@")
                self.add_repo_digest(image_id, name, dg)

    def import_rootfs(self, fileobj: BinaryIO, repo_tag: str | None = None,
                      changes: list[str] | None = None, message: str = "",
                      platform: str | None = None, src: str = "-") -> Image:
        """``docker import``: one layer from a rootfs tar, config from ``changes``."""
        if repo_tag:
            self.parse_tag(repo_tag)  # refuse a bad name before reading the body
        os_name, arch, variant = parse_platform(platform)
        container_config = apply_changes({}, changes)
        layer = self.add_layer(fileobj, None)
        now = rfc3339_nano()
        comment = message or f"Imported from {src}"
        config: dict[str, Any] = {"architecture": arch, "os": os_name}
        if variant:
            config["variant"] = variant
        config.update({
            "config": container_config,
            "created": now,
            "comment": comment,
            "history": [{"created": now, "comment": comment}],
        })
        return self.create_image(config, [layer], repo_tag)

    # -- deleting ------------------------------------------------------------------------------

    def delete(self, name_or_id: str, force: bool = False, in_use: InUse = _no_use
               ) -> list[dict]:
        """``DELETE /images/{name}`` with Docker's rules; returns the Untagged/Deleted records."""
        with self._lock:
            image_id = self._resolve(name_or_id)
            records: list[dict] = []
            refs = self.references(image_id)
            by_id = self._is_id_reference(name_or_id, image_id)
            usage = _usage(in_use, image_id)
            if not by_id:
                ref = _reference.parse(name_or_id.strip())
                if not force and _single_reference(refs) and usage[0]:
                    raise Conflict(
                        f"conflict: unable to remove repository reference \"{name_or_id}\" "
                        f"(must force) - container{_ctr(usage[1])} is using its referenced "
                        f"image {image_id[7:19]}")
                self._drop_ref(ref, image_id)
                records.append({"Untagged": ref.familiar_string()})
                refs = self.references(image_id)
                if not ref.digest and not any(not r.digest and r.name == ref.name for r in refs):
                    for r in [r for r in refs if r.digest and r.name == ref.name]:
                        self._drop_ref(r, image_id)
                        records.append({"Untagged": r.familiar_string()})
                    refs = self.references(image_id)
                if refs:
                    return records
            elif _single_reference(refs):
                self._check_conflicts(image_id, force, usage, soft_refs=False)
                for r in refs:
                    self._drop_ref(r, image_id)
                    records.append({"Untagged": r.familiar_string()})
            try:
                self._check_conflicts(image_id, force, usage, soft_refs=True)
            except Conflict:
                if not by_id and usage[0]:
                    return records  # untagged; a container keeps the (now dangling) image
                raise
            for r in self.references(image_id):
                self._drop_ref(r, image_id)
                records.append({"Untagged": r.familiar_string()})
            records.append({"Deleted": image_id})
            records.extend({"Deleted": c} for c in self._remove_image(image_id))
            return records

    @staticmethod
    def _is_id_reference(value: str, image_id: str) -> bool:
        """moby's isImageIDPrefix: the argument is (a prefix of) the image ID."""
        v = value.strip()
        return image_id.startswith(v) or image_id[7:].startswith(v)

    def _drop_ref(self, ref: _reference.Reference, image_id: str) -> None:
        key = f"{ref.name}@{ref.digest}" if ref.digest else ref.full_string()
        self.meta.execute("DELETE FROM image_refs WHERE ref=? AND image_id=?", (key, image_id))

    def _check_conflicts(self, image_id: str, force: bool, usage: tuple[bool, str, bool],
                         soft_refs: bool) -> None:
        short = image_id[7:19]
        used, ctr, running = usage
        if used and running:
            raise Conflict(f"conflict: unable to delete {short} (cannot be forced) - image is "
                           f"being used by running container{_ctr(ctr)}")
        if self.children(image_id):
            raise Conflict(f"conflict: unable to delete {short} (cannot be forced) - image has "
                           "dependent child images")
        if force:
            return
        if soft_refs and self.references(image_id):
            raise Conflict(f"conflict: unable to delete {short} (must be forced) - image is "
                           "referenced in multiple repositories")
        if used:
            raise Conflict(f"conflict: unable to delete {short} (must be forced) - image is "
                           f"being used by stopped container{_ctr(ctr)}")

    def _pinned(self) -> tuple[set[str], set[str]]:
        chains: set[str] = set()
        blobs: set[str] = set()
        for pin in self.pins:
            c, b = pin()
            chains |= c
            blobs |= b
        return chains, blobs

    def _remove_image(self, image_id: str) -> list[str]:
        """Drop the record, then every blob and layer no other image (or pin) needs."""
        img = self._load(image_id)
        pinned_chains, pinned_blobs = self._pinned()
        with self.meta.transaction() as c:
            c.execute("DELETE FROM image_refs WHERE image_id=?", (image_id,))
            c.execute("DELETE FROM image_layers WHERE image_id=?", (image_id,))
            c.execute("DELETE FROM images WHERE id=?", (image_id,))
        blobs = [image_id] + ([img.manifest_digest] if img.manifest_digest else [])
        blobs += [b["digest"] for b in img.layers]
        for b in blobs:
            still = self.meta.query_one(
                "SELECT 1 FROM images WHERE id=? OR manifest_digest=?"
                " UNION SELECT 1 FROM image_layers WHERE blob=? LIMIT 1", (b, b, b))
            if not still and b not in pinned_blobs and self.content.has(b):
                self.content.delete(b)
        removed = []
        for chain_id in reversed(img.chain_ids):
            if chain_id in pinned_chains or self.meta.query_one(
                    "SELECT 1 FROM image_layers WHERE chain_id=? LIMIT 1", (chain_id,)):
                break
            try:
                self.snapshots.remove_layer(chain_id)
            except Conflict:
                break  # a container (force-deleted image) still stands on it
            removed.append(chain_id)
        return removed

    def reconcile(self) -> None:
        """Daemon start: drop half-written ingests and layers, re-unpack layers an image needs
        but that vanished (from its blobs), and remove layers nothing needs."""
        self.content.clean_ingests()
        self.snapshots.clean_tmp()
        for img in self.list():
            missing = [c for c in img.chain_ids if not self.snapshots.has_layer(c)]
            if missing and len(img.layers) == len(img.diff_ids):
                try:
                    self._unpack(img.diff_ids, img.chain_ids, img.layers)
                except DockyardError:
                    pass  # stays broken; running it gives a clear error
        self.prune_layers()

    def prune_layers(self) -> list[str]:
        """Remove layers no image references and nothing stands on (after force deletes)."""
        removed: list[str] = []
        with self._lock:
            wanted = {r["chain_id"] for r in self.meta.query(
                "SELECT DISTINCT chain_id FROM image_layers")} | self._pinned()[0]
            progress = True
            while progress:
                progress = False
                for chain_id in self.snapshots.layers():
                    if chain_id in wanted or chain_id in removed:
                        continue
                    try:
                        self.snapshots.remove_layer(chain_id)
                    except Conflict:
                        continue
                    removed.append(chain_id)
                    progress = True
        return removed


def _unix(rfc3339: str) -> int:
    if not rfc3339 or rfc3339.startswith("0001"):
        return 0
    try:
        return calendar.timegm(time.strptime(rfc3339[:19], "%Y-%m-%dT%H:%M:%S"))
    except ValueError:
        return 0


def _ctr(container_id: str) -> str:
    return f" {container_id[:12]}" if container_id else ""


def _usage(in_use: InUse, image_id: str) -> tuple[bool, str, bool]:
    try:
        u = in_use(image_id)
    except DockyardError:
        u = None
    if not u:
        return False, "", False
    if isinstance(u, tuple):
        return True, str(u[0]), bool(u[1]) if len(u) > 1 else False
    if isinstance(u, str):
        return True, u, False
    return True, "", False


def _single_reference(refs: list[_reference.Reference]) -> bool:
    """One tag (plus digests of that same repository), as moby's isSingleReference."""
    if len(refs) <= 1:
        return len(refs) == 1
    tags = [r for r in refs if not r.digest]
    digest_repos = {r.name for r in refs if r.digest}
    if len(tags) > 1:
        return False
    single = tags[0] if tags else refs[0]
    return len(digest_repos) == 1 and single.name in digest_repos
