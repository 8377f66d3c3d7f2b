"""``docker save`` / ``docker load``: image archives in the formats engines really exchange.

``save`` writes what current Docker writes: an OCI image layout (``oci-layout``, ``index.json``,
``blobs/sha256/...``) and, over the same blobs, Docker's ``manifest.json`` + ``repositories``.
Layers are written uncompressed (their digest is their diffID), so every reader accepts them.

``load`` reads that, the older Docker layout (``<id>/layer.tar``, ``<id>.json``), podman's and
skopeo's docker-archive and oci-archive. The archive is read once, as a stream: each file is
hashed into the content store as it passes; the manifests come last in every writer's layout,
so they are interpreted at the end. Nothing is named or recorded before every layer of every
image has been unpacked and checked against its config's diffIDs; on any error, the blobs and
layers this load added are removed again.
"""

from __future__ import annotations

import hashlib
import json
import os
import posixpath
import tarfile
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any, BinaryIO

from .. import digest as _digest
from .. import reference as _reference
from ..archive import (
    BUF,
    decompress_stream,
    iter_members,
    member_parts,
    open_tar_stream,
    sniff_compression,
)
from ..errors import DockyardError, InvalidArgument, NotFound, UnsafeArchive
from .fsopt import WRITEBACK_EVERY, start_writeback
from .layer import MEDIA_LAYER_GZIP, MEDIA_LAYER_TAR, MEDIA_LAYER_ZSTD, unpack_blob
from .store import MEDIA_OCI_CONFIG, MEDIA_OCI_MANIFEST, Image, ImageStore, _canonical_json

MEDIA_OCI_INDEX = "application/vnd.oci.image.index.v1+json"
MEDIA_DOCKER_LIST = "application/vnd.docker.distribution.manifest.list.v2+json"
ANNOT_REF_NAME = "org.opencontainers.image.ref.name"
ANNOT_CONTAINERD_NAME = "io.containerd.image.name"

_SMALL = 1 << 20  # files up to this size stay in memory (configs, manifests, json)
_MEM_BUDGET = 64 << 20
_MAX_JSON = 16 << 20
_UNCOMPRESSED = (MEDIA_LAYER_TAR, "application/vnd.docker.image.rootfs.diff.tar")


# -- save ----------------------------------------------------------------------------------------


@dataclass
class _SaveImage:
    image: Image
    tags: list[_reference.Reference]


def _select(store: ImageStore, names: Iterable[str]) -> list[_SaveImage]:
    """Docker's rules: a name with a tag saves that tag, a bare repository every tag of it,
    an ID the image without names."""
    out: dict[str, _SaveImage] = {}
    for name in names:
        img = store.get(name)
        entry = out.setdefault(img.id, _SaveImage(img, []))
        try:
            ref = _reference.parse(name.strip(), default_tag=False)
        except InvalidArgument:
            continue  # an ID
        if ref.digest:
            continue
        if ref.tag:
            if store._resolve_ref(ref) != img.id:
                continue
            wanted = [ref]
        else:
            wanted = [r for r in store.references(img.id) if not r.digest and r.name == ref.name]
            if not wanted and store._resolve_ref(ref.with_default_tag()) == img.id:
                wanted = [ref.with_default_tag()]
        for r in wanted:
            if all(r.full_string() != t.full_string() for t in entry.tags):
                entry.tags.append(r)
    return list(out.values())


class _TarOut:
    """Minimal streaming tar writer: fixed metadata, so the same images give the same bytes."""

    def __init__(self, out: BinaryIO, mtime: int):
        self._tf = tarfile.open(fileobj=out, mode="w|", format=tarfile.PAX_FORMAT, bufsize=BUF)
        self._mtime = mtime
        self._dirs: set[str] = set()
        self.names: set[str] = set()

    def _info(self, name: str, size: int = 0, kind: bytes = tarfile.REGTYPE) -> tarfile.TarInfo:
        ti = tarfile.TarInfo(name)
        ti.size, ti.type, ti.mtime = size, kind, self._mtime
        ti.mode = 0o755 if kind == tarfile.DIRTYPE else 0o644
        return ti

    def _parents(self, name: str) -> None:
        parts = name.split("/")[:-1]
        for i in range(1, len(parts) + 1):
            d = "/".join(parts[:i])
            if d not in self._dirs:
                self._dirs.add(d)
                self._tf.addfile(self._info(d + "/", kind=tarfile.DIRTYPE))

    def add_bytes(self, name: str, data: bytes) -> None:
        import io

        self._parents(name)
        self.names.add(name)
        self._tf.addfile(self._info(name, len(data)), io.BytesIO(data))

    def add_stream(self, name: str, size: int, src: BinaryIO) -> None:
        self._parents(name)
        self.names.add(name)
        self._tf.addfile(self._info(name, size), src)

    def close(self) -> None:
        self._tf.close()


def _blob_name(dgst: str) -> str:
    algo, hexpart = _digest.parse(dgst)
    return f"blobs/{algo}/{hexpart}"


def _write_layer(store: ImageStore, tar: _TarOut, blob: dict, diff_id: str) -> None:
    """Write one layer as its uncompressed tar, named by its diffID."""
    name = _blob_name(diff_id)
    if name in tar.names:
        return
    content = store.content
    if blob["mediaType"] in _UNCOMPRESSED and blob["digest"] == diff_id:
        with content.open(blob["digest"]) as f:
            tar.add_stream(name, content.size(blob["digest"]), f)
        return
    size = store.diff_size(diff_id)
    if size is not None:
        with content.open(blob["digest"]) as f:
            src = decompress_stream(f)
            try:
                tar.add_stream(name, size, src)
            finally:
                src.close()
        return
    # size unknown (layer made before sizes were recorded): spool it once, then remember
    fd, tmp = content.temp_file(prefix="save-")
    try:
        with os.fdopen(fd, "w+b") as spool, content.open(blob["digest"]) as f:
            src = decompress_stream(f)
            try:
                while chunk := src.read(BUF):
                    spool.write(chunk)
            finally:
                src.close()
            size = spool.tell()
            spool.seek(0)
            tar.add_stream(name, size, spool)
        store.record_diff_size(diff_id, size)
    finally:
        try:
            os.unlink(tmp)
        except FileNotFoundError:
            pass


def save(store: ImageStore, names: list[str], out: BinaryIO) -> None:
    """Write the archive of ``names`` to ``out`` (see the module docstring)."""
    selected = _select(store, names)
    tar = _TarOut(out, 0)
    docker_manifest: list[dict] = []
    repositories: dict[str, dict[str, str]] = {}
    index: list[dict] = []
    for sel in selected:
        img = sel.image
        if len(img.layers) != len(img.diff_ids):
            raise NotFound(f"image {img.id} has no layer blobs to save")
        for blob, diff_id in zip(img.layers, img.diff_ids, strict=True):
            _write_layer(store, tar, blob, diff_id)
        config_bytes = store.config_bytes(img)
        if _blob_name(img.id) not in tar.names:
            tar.add_bytes(_blob_name(img.id), config_bytes)
        manifest = _canonical_json({
            "schemaVersion": 2,
            "mediaType": MEDIA_OCI_MANIFEST,
            "config": {"mediaType": MEDIA_OCI_CONFIG, "digest": img.id,
                       "size": len(config_bytes)},
            "layers": [{"mediaType": MEDIA_LAYER_TAR, "digest": d,
                        "size": _saved_size(store, b, d)}
                       for b, d in zip(img.layers, img.diff_ids, strict=True)],
        })
        mdigest = _digest.of_bytes(manifest)
        if _blob_name(mdigest) not in tar.names:
            tar.add_bytes(_blob_name(mdigest), manifest)
        desc = {"mediaType": MEDIA_OCI_MANIFEST, "digest": mdigest, "size": len(manifest)}
        if not sel.tags:
            index.append(desc)
        for ref in sel.tags:
            index.append({**desc, "annotations": {
                ANNOT_CONTAINERD_NAME: ref.full_string(), ANNOT_REF_NAME: ref.tag or "latest"}})
            repositories.setdefault(ref.familiar_name, {})[ref.tag or "latest"] = \
                img.diff_ids[-1][7:] if img.diff_ids else img.id[7:]
        docker_manifest.append({
            "Config": _blob_name(img.id),
            "RepoTags": [r.familiar_string() for r in sel.tags] or None,
            "Layers": [_blob_name(d) for d in img.diff_ids],
        })
    tar.add_bytes("index.json", _canonical_json(
        {"schemaVersion": 2, "mediaType": MEDIA_OCI_INDEX, "manifests": index}))
    tar.add_bytes("manifest.json", json.dumps(docker_manifest, separators=(",", ":")).encode())
    tar.add_bytes("oci-layout", b'{"imageLayoutVersion":"1.0.0"}')
    if repositories:
        tar.add_bytes("repositories", json.dumps(repositories, separators=(",", ":")).encode())
    tar.close()


def _saved_size(store: ImageStore, blob: dict, diff_id: str) -> int:
    if blob["mediaType"] in _UNCOMPRESSED and blob["digest"] == diff_id:
        return store.content.size(blob["digest"])
    size = store.diff_size(diff_id)
    if size is None:
        raise NotFound(f"layer {diff_id}: uncompressed size unknown")
    return size


# -- load ----------------------------------------------------------------------------------------


@dataclass
class _File:
    data: bytes | None = None   # small files
    digest: str = ""            # sha256 of the content (for every file)
    size: int = 0


@dataclass
class _Archive:
    files: dict[str, _File] = field(default_factory=dict)
    links: dict[str, str] = field(default_factory=dict)  # archive path -> archive path
    new_blobs: list[str] = field(default_factory=list)
    mem: int = 0


def _clean(name: str, what: str = "entry") -> str:
    return "/".join(member_parts(name, what, "image archive"))


class _HashingReader:
    def __init__(self, buffered, offset: int, size: int, name: str):
        buffered.seek(offset)
        self._src = buffered
        self._left = size
        self._name = name
        self.hash = hashlib.sha256()

    def read(self, n: int = -1) -> bytes:
        if self._left <= 0:
            return b""
        n = self._left if n is None or n < 0 else min(n, self._left)
        data = self._src.read(min(n, BUF * 4))
        if not data:
            raise InvalidArgument(f"archive ends inside {self._name!r}")
        self._left -= len(data)
        self.hash.update(data)
        return data


def _read_archive(store: ImageStore, fileobj: BinaryIO, arc: _Archive) -> None:
    tf, buffered = open_tar_stream(decompress_stream(fileobj))
    content = store.content
    seen = 0
    for m in iter_members(tf, "image archive"):
        seen += 1
        name = _clean(m.name)
        if m.isdir() or not name:
            continue
        if m.issym() or m.islnk():
            target = m.linkname
            if m.issym():
                if target.startswith("/"):
                    raise UnsafeArchive(f"symlink {m.name!r} -> {target!r} leaves the archive")
                target = posixpath.normpath(posixpath.join(posixpath.dirname(name), target))
                if target == ".." or target.startswith("../"):
                    raise UnsafeArchive(f"symlink {m.name!r} -> {m.linkname!r} leaves the "
                                        "archive")
            arc.links[name] = _clean(target, "link target")
            continue
        if not m.isreg():
            raise UnsafeArchive(f"unexpected entry type in image archive: {m.name!r}")
        if m.size <= _SMALL and arc.mem + m.size <= _MEM_BUDGET:
            reader = _HashingReader(buffered, m.offset_data, m.size, m.name)
            data = reader.read(m.size) if m.size else b""
            while len(data) < m.size:
                data += reader.read(m.size - len(data))
            arc.mem += m.size
            arc.files[name] = _File(data, f"sha256:{reader.hash.hexdigest()}", m.size)
        else:
            reader = _HashingReader(buffered, m.offset_data, m.size, m.name)
            fd, tmp = content.temp_file(prefix="load-")
            try:
                with os.fdopen(fd, "wb") as f:
                    synced = 0
                    while chunk := reader.read(BUF * 4):
                        f.write(chunk)
                        if f.tell() - synced >= WRITEBACK_EVERY:
                            f.flush()
                            start_writeback(f.fileno(), synced, f.tell() - synced)
                            synced = f.tell()
                dgst = f"sha256:{reader.hash.hexdigest()}"
                _check_blob_name(name, dgst)
                if not content.has(dgst):
                    content.adopt(tmp, dgst)
                    arc.new_blobs.append(dgst)
            finally:
                try:
                    os.unlink(tmp)
                except FileNotFoundError:
                    pass
            arc.files[name] = _File(None, dgst, m.size)
            continue
        _check_blob_name(name, arc.files[name].digest)
    if not seen:
        raise InvalidArgument("empty image archive")


def _check_blob_name(name: str, dgst: str) -> None:
    if name.startswith("blobs/sha256/") and name.count("/") == 2:
        if name[len("blobs/sha256/"):] != dgst[7:]:
            raise UnsafeArchive(f"archive entry {name!r} does not match its digest "
                                f"(content is {dgst})")


def _lookup(arc: _Archive, path: str) -> _File:
    path = _clean(path, "archive reference")
    for _ in range(16):
        if path in arc.files:
            return arc.files[path]
        if path not in arc.links:
            raise InvalidArgument(f"invalid image archive: {path!r} is missing")
        path = arc.links[path]
    raise UnsafeArchive(f"invalid image archive: link loop at {path!r}")


def _json(arc: _Archive, store: ImageStore, f: _File, what: str) -> Any:
    data = _bytes(store, f, what)
    try:
        return json.loads(data)
    except (ValueError, UnicodeDecodeError):
        raise InvalidArgument(f"invalid image archive: {what} is not valid JSON") from None


def _bytes(store: ImageStore, f: _File, what: str) -> bytes:
    if f.data is not None:
        return f.data
    if f.size > _MAX_JSON:
        raise InvalidArgument(f"invalid image archive: {what} is too large")
    return store.content.read(f.digest)


@dataclass
class _Plan:
    config: bytes
    manifest: bytes
    layers: list[dict]   # descriptors in the content store
    tags: list[str]


def _layer_descriptor(store: ImageStore, arc: _Archive, f: _File, name: str) -> dict:
    """Put a layer file in the content store (if small, it is still in memory) and describe it
    by its actual compression."""
    if f.data is not None:
        if not store.content.has(f.digest):
            store.content.write_bytes(f.data)
            arc.new_blobs.append(f.digest)
        head = f.data[:6]
    else:
        with store.content.open(f.digest) as fh:
            head = fh.read(6)
    kind = sniff_compression(head)
    media = {"gzip": MEDIA_LAYER_GZIP, "zstd": MEDIA_LAYER_ZSTD, "none": MEDIA_LAYER_TAR}.get(kind)
    if media is None:
        raise InvalidArgument(f"layer {name!r}: unsupported compression {kind}")
    return {"mediaType": media, "digest": f.digest, "size": f.size}


def _plans_docker(store: ImageStore, arc: _Archive, entries: Any,
                  oci_manifests: dict[str, bytes]) -> list[_Plan]:
    if not isinstance(entries, list):
        raise InvalidArgument("invalid image archive: manifest.json is not a list")
    plans = []
    for e in entries:
        if not isinstance(e, dict) or not isinstance(e.get("Config"), str) \
                or not isinstance(e.get("Layers"), list):
            raise InvalidArgument("invalid image archive: bad manifest.json entry")
        config = _bytes(store, _lookup(arc, e["Config"]), e["Config"])
        config_digest = _digest.of_bytes(config)
        layers = []
        for p in e["Layers"]:
            if not isinstance(p, str):
                raise InvalidArgument("invalid image archive: bad layer path")
            layers.append(_layer_descriptor(store, arc, _lookup(arc, p), p))
        manifest = oci_manifests.get(config_digest)
        if manifest is None or [d["digest"] for d in json.loads(manifest)["layers"]] \
                != [d["digest"] for d in layers]:
            manifest = _build_manifest(config, config_digest, layers)
        tags = e.get("RepoTags") or []
        if not isinstance(tags, list) or not all(isinstance(t, str) for t in tags):
            raise InvalidArgument("invalid image archive: bad RepoTags")
        plans.append(_Plan(config, manifest, layers, tags))
    return plans


def _build_manifest(config: bytes, config_digest: str, layers: list[dict]) -> bytes:
    return _canonical_json({
        "schemaVersion": 2, "mediaType": MEDIA_OCI_MANIFEST,
        "config": {"mediaType": MEDIA_OCI_CONFIG, "digest": config_digest, "size": len(config)},
        "layers": layers,
    })


def _oci_manifests(store: ImageStore, arc: _Archive, platform: tuple[str, str, str]
                   ) -> list[tuple[bytes, list[str]]]:
    """(manifest bytes, names) for each image of the OCI layout's index.json."""
    index = _json(arc, store, _lookup(arc, "index.json"), "index.json")
    if not isinstance(index, dict) or not isinstance(index.get("manifests"), list):
        raise InvalidArgument("invalid image archive: bad index.json")
    out: dict[str, tuple[bytes, list[str]]] = {}
    for desc in index["manifests"]:
        for mbytes in _resolve_desc(store, arc, desc, platform, 0):
            names = _names(desc)
            prev = out.setdefault(_digest.of_bytes(mbytes), (mbytes, []))
            prev[1].extend(n for n in names if n not in prev[1])
    return list(out.values())


def _resolve_desc(store, arc, desc, platform, depth) -> list[bytes]:
    if depth > 4 or not isinstance(desc, dict) or not _digest.is_valid(str(desc.get("digest"))):
        raise InvalidArgument("invalid image archive: bad descriptor in index")
    data = _bytes(store, _lookup(arc, _blob_name(desc["digest"])), desc["digest"])
    if _digest.of_bytes(data) != desc["digest"]:
        raise UnsafeArchive(f"blob {desc['digest']} does not match its digest")
    try:
        doc = json.loads(data)
    except ValueError:
        raise InvalidArgument(f"invalid image archive: {desc['digest']} is not JSON") from None
    media = doc.get("mediaType") or desc.get("mediaType")
    if media in (MEDIA_OCI_INDEX, MEDIA_DOCKER_LIST) or "manifests" in doc:
        chosen = _pick_platform(doc.get("manifests") or [], platform)
        return _resolve_desc(store, arc, chosen, platform, depth + 1)
    return [data]


def _pick_platform(manifests: list, platform: tuple[str, str, str]) -> dict:
    os_name, arch, _variant = platform
    for d in manifests:
        p = d.get("platform") or {} if isinstance(d, dict) else {}
        if p.get("os") == os_name and p.get("architecture") == arch:
            return d
    raise NotFound(f"no image for platform {os_name}/{arch} in the archive's index")


def _names(desc: dict) -> list[str]:
    ann = desc.get("annotations") or {}
    name = ann.get(ANNOT_CONTAINERD_NAME) or ""
    if not name:
        ref = ann.get(ANNOT_REF_NAME) or ""
        if ":" in ref or "/" in ref:  # a bare "latest" names no repository
            name = ref
    if not name:
        return []
    try:
        return [_reference.parse(name).familiar_string()]
    except InvalidArgument:
        return []


def _plans_oci(store: ImageStore, arc: _Archive, platform) -> list[_Plan]:
    plans = []
    for mbytes, names in _oci_manifests(store, arc, platform):
        try:
            m = json.loads(mbytes)
            config_digest = m["config"]["digest"]
            descs = list(m["layers"])
        except (ValueError, KeyError, TypeError):
            raise InvalidArgument("invalid image archive: bad OCI manifest") from None
        config = _bytes(store, _lookup(arc, _blob_name(config_digest)), config_digest)
        layers = []
        for d in descs:
            f = _lookup(arc, _blob_name(d["digest"]))
            if f.digest != d["digest"]:
                raise UnsafeArchive(f"blob {d['digest']} does not match its digest")
            real = _layer_descriptor(store, arc, f, d["digest"])
            layers.append({**real, "mediaType": d.get("mediaType") or real["mediaType"]})
        plans.append(_Plan(config, mbytes, layers, names))
    return plans


def load(store: ImageStore, fileobj: BinaryIO, platform: tuple[str, str, str] | None = None) -> list[str]:
    """Load every image of an archive; returns docker's "Loaded image: ..." lines."""
    from .store import host_platform

    arc = _Archive()
    created_layers: list[str] = []
    try:
        _read_archive(store, fileobj, arc)
        platform = platform or host_platform()
        has_docker = "manifest.json" in arc.files or "manifest.json" in arc.links
        has_oci = "index.json" in arc.files
        if has_docker:
            oci = {}
            if has_oci:
                for mbytes, _ in _oci_manifests(store, arc, platform):
                    try:
                        oci[json.loads(mbytes)["config"]["digest"]] = mbytes
                    except (ValueError, KeyError, TypeError):
                        continue
            plans = _plans_docker(
                store, arc, _json(arc, store, _lookup(arc, "manifest.json"), "manifest.json"),
                oci)
        elif has_oci:
            plans = _plans_oci(store, arc, platform)
        else:
            raise InvalidArgument("invalid image archive: no manifest.json or index.json "
                                  "(is this an image archive, not a filesystem tar?)")
        for p in plans:
            for t in p.tags:
                store.parse_tag(t)
        for p in plans:
            _unpack(store, p, created_layers)
        images: list[tuple[Image, list[str]]] = []
        for p in plans:
            img = store.put_image(p.config, p.manifest, repo_tags=p.tags)
            images.append((img, p.tags))
    except BaseException:
        _rollback(store, arc.new_blobs, created_layers)
        raise
    lines = []
    for img, tags in images:
        if tags:
            lines += [f"Loaded image: {_reference.parse(t).familiar_string()}" for t in tags]
        else:
            lines.append(f"Loaded image ID: {img.id}")
    return lines


def _unpack(store: ImageStore, plan: _Plan, created: list[str]) -> None:
    try:
        config = json.loads(plan.config)
        diff_ids = list(config["rootfs"]["diff_ids"])
    except (ValueError, KeyError, TypeError):
        raise InvalidArgument("invalid image archive: image config has no rootfs.diff_ids"
                              ) from None
    if len(diff_ids) != len(plan.layers) or not all(_digest.is_valid(d) for d in diff_ids):
        raise InvalidArgument(f"invalid image archive: config has {len(diff_ids)} diffIDs "
                              f"for {len(plan.layers)} layers")
    chain = _digest.chain_ids(diff_ids)
    for i, (desc, diff_id) in enumerate(zip(plan.layers, diff_ids, strict=True)):
        if store.snapshots.has_layer(chain[i]):
            continue
        if desc["mediaType"] in _UNCOMPRESSED and desc["digest"] != diff_id:
            raise InvalidArgument(f"layer {desc['digest']} does not match diffID {diff_id}")
        unpack_blob(store.content, store.snapshots, desc["digest"], diff_id,
                    chain[i - 1] if i else None)
        created.append(chain[i])
        if desc["mediaType"] in _UNCOMPRESSED:
            store.record_diff_size(diff_id, desc["size"])


def _rollback(store: ImageStore, blobs: list[str], layers: list[str]) -> None:
    """Remove what a failed load added, unless something recorded meanwhile uses it."""
    for chain_id in reversed(layers):
        if store.meta.query_one("SELECT 1 FROM image_layers WHERE chain_id=? LIMIT 1",
                                (chain_id,)):
            continue
        try:
            store.snapshots.remove_layer(chain_id)
        except DockyardError:
            pass
    for b in blobs:
        if store.meta.query_one(
                "SELECT 1 FROM images WHERE id=? OR manifest_digest=?"
                " UNION SELECT 1 FROM image_layers WHERE blob=? LIMIT 1", (b, b, b)):
            continue
        try:
            store.content.delete(b)
        except DockyardError:
            pass

